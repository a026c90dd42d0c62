//! A named set's elements as the kernel holds them (bytes in network order,
//! interval sets as start and end markers) into the rule model's values.

use super::nft::ElementKind;
use super::ruleset::Values;
use super::space::Intervals;
use crate::sys::SetElement;

/// The set's values; `None` when an element's bytes do not fit its type.
pub fn values(kind: ElementKind, interval: bool, elements: &[SetElement]) -> Option<Values> {
    let width = match kind {
        ElementKind::Names => return names(interval, elements),
        ElementKind::Address { v4: true } => 4,
        ElementKind::Address { v4: false } => 16,
        ElementKind::Port => 2,
        ElementKind::Protocol => 1,
    };
    let number = |bytes: &[u8]| {
        (bytes.len() == width).then(|| bytes.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b)))
    };
    let top = if width == 16 { u128::MAX } else { (1u128 << (8 * width)) - 1 };
    let mut ranges: Vec<(u128, u128)> = Vec::new();
    let mut markers: Vec<(u128, bool)> = Vec::new();
    for element in elements {
        let key = number(&element.key)?;
        match &element.key_end {
            Some(end) => ranges.push((key, number(end)?)),
            None if interval => markers.push((key, element.interval_end)),
            None => ranges.push((key, key)),
        }
    }
    ranges.extend(intervals(markers, top));
    Some(Values::Numbers(Intervals::from_ranges(ranges)))
}

/// An interval set's markers: a range starts at a start marker and ends
/// just before the next end marker (or at the top of the key space).
fn intervals(mut markers: Vec<(u128, bool)>, top: u128) -> Vec<(u128, u128)> {
    // Ends sort before starts at the same value: [a, b] then [b+1, c].
    markers.sort_unstable_by_key(|(value, is_end)| (*value, !*is_end));
    let mut ranges = Vec::new();
    let mut open: Option<u128> = None;
    for (value, is_end) in markers {
        match (is_end, open) {
            (false, None) => open = Some(value),
            (true, Some(start)) => {
                if value > start {
                    ranges.push((start, value - 1));
                }
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        ranges.push((start, top));
    }
    ranges
}

fn names(interval: bool, elements: &[SetElement]) -> Option<Values> {
    if interval {
        return None;
    }
    let names = elements
        .iter()
        .map(|element| {
            let end = element.key.iter().position(|b| *b == 0).unwrap_or(element.key.len());
            String::from_utf8(element.key[..end].to_vec()).ok()
        })
        .collect::<Option<Vec<String>>>()?;
    Some(Values::Names(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(key: &[u8], interval_end: bool) -> SetElement {
        SetElement { key: key.to_vec(), key_end: None, interval_end }
    }

    #[test]
    fn interval_markers_become_ranges() {
        let elements = [
            marker(&[192, 0, 3, 0], true),
            marker(&[192, 0, 2, 0], false),
            marker(&[10, 0, 0, 1], false),
            marker(&[10, 0, 0, 2], true),
            marker(&[0, 0, 0, 0], true),
            marker(&[224, 0, 0, 0], false),
        ];
        let Some(Values::Numbers(set)) = values(ElementKind::Address { v4: true }, true, &elements)
        else {
            panic!("numbers")
        };
        let text = crate::firewall::space::as_prefixes(&set, true);
        assert_eq!(text, ["10.0.0.1/32", "192.0.2.0/24", "224.0.0.0/3"]);
    }

    #[test]
    fn points_names_and_misfits() {
        let ports = [marker(&[0, 22], false), marker(&[0x1f, 0x90], false)];
        let Some(Values::Numbers(set)) = values(ElementKind::Port, false, &ports) else {
            panic!("numbers")
        };
        assert_eq!(set.ranges(), [(22, 22), (8080, 8080)]);
        let mut eth0 = b"eth0".to_vec();
        eth0.resize(16, 0);
        assert_eq!(
            values(ElementKind::Names, false, &[marker(&eth0, false)]),
            Some(Values::Names(vec!["eth0".into()]))
        );
        assert_eq!(values(ElementKind::Port, false, &[marker(&[1, 2, 3], false)]), None);
    }
}
