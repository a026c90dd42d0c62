//! Sets of numbers as sorted, disjoint, inclusive intervals: the source
//! addresses a rule matches, a port set, a 100,000-element blocklist. Set
//! operations are linear merges and membership is a binary search, so a
//! large set costs its size once, never per packet class.

use std::net::IpAddr;
use std::sync::Arc;

/// A set of `u128` values (IPv4 addresses as their 32-bit value, IPv6 as
/// 128-bit, ports and protocol numbers as themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Intervals {
    /// Sorted, disjoint, not adjacent; each `(low, high)` inclusive.
    /// Shared: a copy of a 100,000-range set is a reference count.
    ranges: Arc<Vec<(u128, u128)>>,
}

impl Intervals {
    pub fn empty() -> Intervals {
        Intervals::default()
    }

    pub fn range(low: u128, high: u128) -> Intervals {
        if low > high { Intervals::empty() } else { Intervals::of(vec![(low, high)]) }
    }

    pub fn point(value: u128) -> Intervals {
        Intervals::range(value, value)
    }

    fn of(ranges: Vec<(u128, u128)>) -> Intervals {
        Intervals { ranges: Arc::new(ranges) }
    }

    /// Builds a set from ranges in any order, overlapping or not.
    pub fn from_ranges(mut ranges: Vec<(u128, u128)>) -> Intervals {
        ranges.retain(|(low, high)| low <= high);
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        Intervals::of(merged)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn contains(&self, value: u128) -> bool {
        let after = self.ranges.partition_point(|(low, _)| *low <= value);
        after > 0 && self.ranges[after - 1].1 >= value
    }

    pub fn first(&self) -> Option<u128> {
        self.ranges.first().map(|(low, _)| *low)
    }

    /// A linear merge of the two sorted lists, joining what touches.
    pub fn union(&self, other: &Intervals) -> Intervals {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let (a, b) = (&self.ranges, &other.ranges);
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let next = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 <= y.0 => {
                    i += 1;
                    *x
                }
                (_, Some(y)) => {
                    j += 1;
                    *y
                }
                (Some(x), None) => {
                    i += 1;
                    *x
                }
                (None, None) => break,
            };
            match merged.last_mut() {
                Some(last) if next.0 <= last.1.saturating_add(1) => last.1 = last.1.max(next.1),
                _ => merged.push(next),
            }
        }
        Intervals::of(merged)
    }

    pub fn intersect(&self, other: &Intervals) -> Intervals {
        let (small, large) =
            if self.ranges.len() <= other.ranges.len() { (self, other) } else { (other, self) };
        if small.covers_span_of(large) {
            return large.clone();
        }
        if small.ranges.len() * SMALL_FACTOR < large.ranges.len() {
            return small.intersect_by_search(large);
        }
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_low, a_high) = self.ranges[i];
            let (b_low, b_high) = other.ranges[j];
            let low = a_low.max(b_low);
            let high = a_high.min(b_high);
            if low <= high {
                out.push((low, high));
            }
            if a_high < b_high { i += 1 } else { j += 1 }
        }
        Intervals::of(out)
    }

    /// Whether one of `self`'s ranges holds all of `other`.
    fn covers_span_of(&self, other: &Intervals) -> bool {
        match (other.ranges.first(), other.ranges.last()) {
            (Some((low, _)), Some((_, high))) => {
                self.ranges.iter().any(|(start, end)| start <= low && end >= high)
            }
            _ => true,
        }
    }

    /// The intersection, each of `self`'s few ranges found in `large` by
    /// binary search: a /24 against 100,000 ranges costs a few steps.
    fn intersect_by_search(&self, large: &Intervals) -> Intervals {
        let mut out = Vec::new();
        for &(low, high) in self.ranges.iter() {
            let mut at = large.ranges.partition_point(|(_, end)| *end < low);
            while let Some(&(start, end)) = large.ranges.get(at) {
                if start > high {
                    break;
                }
                out.push((start.max(low), end.min(high)));
                at += 1;
            }
        }
        Intervals::of(out)
    }

    /// Removes `other`'s values in place: one range out of many by a
    /// binary search and a splice, more in one linear pass.
    pub fn remove(&mut self, other: &Intervals) {
        if other.ranges.len() != 1 {
            *self = self.subtract(other);
            return;
        }
        for &(low, high) in other.ranges.iter().rev() {
            let first = self.ranges.partition_point(|(_, end)| *end < low);
            let last = self.ranges.partition_point(|(start, _)| *start <= high);
            if first >= last {
                continue;
            }
            let (head, tail) = (self.ranges[first].0, self.ranges[last - 1].1);
            let mut pieces = Vec::with_capacity(2);
            if head < low {
                pieces.push((head, low - 1));
            }
            if tail > high {
                pieces.push((high + 1, tail));
            }
            Arc::make_mut(&mut self.ranges).splice(first..last, pieces);
        }
    }

    /// Adds `other`'s values; taking `other` when `self` is empty.
    pub fn add(&mut self, other: Intervals) {
        if self.ranges.is_empty() {
            *self = other;
        } else if !other.ranges.is_empty() {
            *self = self.union(&other);
        }
    }

    pub fn subtract(&self, other: &Intervals) -> Intervals {
        if other.is_empty() || self.is_empty() {
            return self.clone();
        }
        if self.ranges.len() * SMALL_FACTOR < other.ranges.len() {
            // A few ranges less a large set: cut each by what a search
            // finds of the large one inside it.
            let mut remaining = self.clone();
            for &(low, high) in self.ranges.iter() {
                let inside = Intervals::range(low, high).intersect_by_search(other);
                if !inside.is_empty() {
                    remaining = remaining.subtract_merging(&inside);
                }
            }
            return remaining;
        }
        self.subtract_merging(other)
    }

    fn subtract_merging(&self, other: &Intervals) -> Intervals {
        let mut out = Vec::new();
        let mut j = 0;
        for &(low, high) in self.ranges.iter() {
            let mut start = low;
            let mut open = true;
            while j < other.ranges.len() && other.ranges[j].1 < start {
                j += 1;
            }
            let mut k = j;
            while k < other.ranges.len() && other.ranges[k].0 <= high {
                let (cut_low, cut_high) = other.ranges[k];
                if cut_low > start {
                    out.push((start, cut_low - 1));
                }
                if cut_high >= high {
                    open = false;
                    break;
                }
                start = cut_high + 1;
                k += 1;
            }
            if open {
                out.push((start, high));
            }
        }
        Intervals::of(out)
    }
}

/// How much larger one set must be than the other for the small one's
/// ranges to be looked up in it rather than merged with it.
const SMALL_FACTOR: usize = 16;

/// Every address of a family, as a value range.
pub fn address_universe(v4: bool) -> Intervals {
    if v4 { Intervals::range(0, u128::from(u32::MAX)) } else { Intervals::range(0, u128::MAX) }
}

pub fn address_value(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The addresses of `addr/len`, or `None` when `len` is too long for the family.
pub fn prefix(addr: IpAddr, len: u8) -> Option<Intervals> {
    let bits: u32 = if addr.is_ipv4() { 32 } else { 128 };
    let len = u32::from(len);
    if len > bits {
        return None;
    }
    let value = address_value(addr);
    let host_bits = bits - len;
    let mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    let low = value & !mask;
    Some(Intervals::range(low, low | mask))
}

/// Writes a range of addresses as the fewest CIDR prefixes.
pub fn as_prefixes(set: &Intervals, v4: bool) -> Vec<String> {
    prefixes(set, v4).map(|(start, len)| format!("{}/{len}", address_text(start, v4))).collect()
}

/// The fewest CIDR prefixes covering `set`, as (first address, length),
/// lazily: a caller that shows a few need not build them all.
pub fn prefixes(set: &Intervals, v4: bool) -> impl Iterator<Item = (u128, u32)> + '_ {
    let bits: u32 = if v4 { 32 } else { 128 };
    let host_mask = move |len: u32| {
        let host_bits = bits - len;
        if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 }
    };
    set.ranges().iter().flat_map(move |&(low, high)| {
        let mut next = Some(low);
        std::iter::from_fn(move || {
            let start = next?;
            let mut len = bits;
            while len > 0 && start & host_mask(len - 1) == 0 && start | host_mask(len - 1) <= high {
                len -= 1;
            }
            let end = start | host_mask(len);
            next = if end >= high { None } else { Some(end + 1) };
            Some((start, len))
        })
    })
}

pub fn address_text(value: u128, v4: bool) -> String {
    if v4 {
        std::net::Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)).to_string()
    } else {
        std::net::Ipv6Addr::from(value).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u128, u128)]) -> Intervals {
        Intervals::from_ranges(ranges.to_vec())
    }

    #[test]
    fn merging_and_membership() {
        let s = set(&[(5, 9), (1, 3), (4, 4), (20, 30)]);
        assert_eq!(s.ranges(), [(1, 9), (20, 30)]);
        assert!(s.contains(1) && s.contains(9) && s.contains(25));
        assert!(!s.contains(0) && !s.contains(10) && !s.contains(31));
    }

    #[test]
    fn intersect_and_subtract() {
        let a = set(&[(0, 10), (20, 30)]);
        let b = set(&[(5, 25)]);
        assert_eq!(a.intersect(&b).ranges(), [(5, 10), (20, 25)]);
        assert_eq!(a.subtract(&b).ranges(), [(0, 4), (26, 30)]);
        assert_eq!(b.subtract(&a).ranges(), [(11, 19)]);
        assert_eq!(a.subtract(&set(&[(0, u128::MAX)])), Intervals::empty());
        assert_eq!(
            set(&[(0, u128::MAX)]).subtract(&set(&[(u128::MAX, u128::MAX)])).ranges(),
            [(0, u128::MAX - 1)]
        );
    }

    #[test]
    fn the_search_paths_agree_with_the_merges() {
        let large = Intervals::from_ranges((0..1000u128).map(|i| (i * 10, i * 10 + 4)).collect());
        for small in [set(&[(3, 27)]), set(&[(0, 0), (995, 1200), (9990, 20000)]), set(&[])] {
            let merged: Vec<(u128, u128)> = {
                let (mut i, mut j, mut out) = (0, 0, Vec::new());
                let (a, b) = (large.ranges(), small.ranges());
                while i < a.len() && j < b.len() {
                    let (low, high) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
                    if low <= high {
                        out.push((low, high));
                    }
                    if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
                }
                out
            };
            assert_eq!(large.intersect(&small).ranges(), merged.as_slice());
            assert_eq!(small.intersect(&large).ranges(), merged.as_slice());
            let mut removed = large.clone();
            removed.remove(&small);
            assert_eq!(removed, large.subtract(&small));
        }
        let mut empty = Intervals::empty();
        empty.add(set(&[(1, 2)]));
        empty.add(set(&[(3, 9)]));
        assert_eq!(empty.ranges(), [(1, 9)]);
    }

    #[test]
    fn prefixes_both_ways() {
        let net = prefix("192.0.2.0".parse().unwrap(), 24).unwrap();
        assert_eq!(as_prefixes(&net, true), ["192.0.2.0/24"]);
        let everything = address_universe(true);
        assert_eq!(as_prefixes(&everything, true), ["0.0.0.0/0"]);
        assert_eq!(as_prefixes(&address_universe(false), false), ["::/0"]);
        let rest = everything.subtract(&net);
        assert_eq!(as_prefixes(&rest, true).len(), 24);
        assert_eq!(as_prefixes(&Intervals::range(10, 12), true), ["0.0.0.10/31", "0.0.0.12/32"]);
        assert!(prefix("10.0.0.0".parse().unwrap(), 33).is_none());
    }
}
