//! What to scan: host names, IPv4 and IPv6 addresses and CIDR ranges, as
//! nmap takes them, expanded into addresses with a bound on how many.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::exit::UsageError;
use crate::sys::Resolver;

/// More addresses than this need `--yes`: a typo in a prefix length
/// (`/8` for `/24`) should not start a scan of millions of hosts.
pub const CONFIRM_ABOVE: u64 = 65_536;

/// No scan holds more addresses than this (a /12), with or without `--yes`:
/// the results of each are kept in memory.
pub const MAX_ADDRESSES: u64 = 1 << 20;

/// One address to scan, with the words that named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: IpAddr,
}

/// Expands the TARGET words into addresses, in the order given, each
/// address once.
pub fn expand(
    words: &[String],
    resolver: &dyn Resolver,
    confirmed: bool,
) -> Result<Vec<Target>, UsageError> {
    let mut total: u64 = 0;
    let mut ranges = Vec::with_capacity(words.len());
    for word in words {
        let range = parse_one(word, resolver)?;
        total = total.saturating_add(range.len());
        ranges.push((word, range));
    }
    if total > MAX_ADDRESSES {
        return Err(UsageError(format!(
            "{total} addresses is more than portwatch scans at once ({MAX_ADDRESSES}); \
             name smaller ranges"
        )));
    }
    if total > CONFIRM_ABOVE && !confirmed {
        return Err(UsageError(format!(
            "{total} addresses: more than {CONFIRM_ABOVE} needs --yes (scan only what you own or \
             may test)"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut targets = Vec::new();
    for (word, range) in ranges {
        for address in range.addresses() {
            if seen.insert(address) {
                targets.push(Target { name: word.clone(), address });
            }
        }
    }
    Ok(targets)
}

/// A run of consecutive addresses: one address, or a whole prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    V4 { first: u32, count: u64 },
    V6 { first: u128, count: u64 },
}

impl Range {
    fn len(self) -> u64 {
        match self {
            Range::V4 { count, .. } | Range::V6 { count, .. } => count,
        }
    }

    fn addresses(self) -> Box<dyn Iterator<Item = IpAddr>> {
        match self {
            Range::V4 { first, count } => Box::new(
                (0..count).map(move |i| IpAddr::V4(Ipv4Addr::from(first.wrapping_add(i as u32)))),
            ),
            Range::V6 { first, count } => Box::new(
                (0..count)
                    .map(move |i| IpAddr::V6(Ipv6Addr::from(first.wrapping_add(u128::from(i))))),
            ),
        }
    }
}

fn parse_one(word: &str, resolver: &dyn Resolver) -> Result<Range, UsageError> {
    if word.is_empty() {
        return Err(UsageError("an empty target".into()));
    }
    if let Some((address, prefix)) = word.split_once('/') {
        return parse_prefix(word, address, prefix);
    }
    let bare = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')).unwrap_or(word);
    if let Ok(address) = bare.parse::<IpAddr>() {
        return Ok(single(address));
    }
    if !is_host_name(word) {
        return Err(UsageError(format!("'{}' is not an address or a host name", escape(word))));
    }
    let addresses = resolver.host_addresses(word);
    // As nmap: the first IPv4 address a name has, else its first.
    let chosen = addresses.iter().find(|a| a.is_ipv4()).or(addresses.first());
    chosen
        .map(|&address| single(address))
        .ok_or_else(|| UsageError(format!("cannot resolve host '{word}'")))
}

fn single(address: IpAddr) -> Range {
    match address {
        IpAddr::V4(v4) => Range::V4 { first: v4.to_bits(), count: 1 },
        IpAddr::V6(v6) => Range::V6 { first: v6.to_bits(), count: 1 },
    }
}

fn parse_prefix(word: &str, address: &str, prefix: &str) -> Result<Range, UsageError> {
    let bad = || UsageError(format!("'{}' is not a CIDR range", escape(word)));
    let length: u32 = prefix.parse().map_err(|_| bad())?;
    match address.parse::<IpAddr>().map_err(|_| bad())? {
        IpAddr::V4(v4) if length <= 32 => {
            let host_bits = 32 - length;
            let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
            let count = 1u64 << host_bits;
            wide_enough(word, count)?;
            Ok(Range::V4 { first: v4.to_bits() & mask, count })
        }
        IpAddr::V6(v6) if length <= 128 => {
            let host_bits = 128 - length;
            if host_bits > 20 {
                return Err(too_wide(word));
            }
            let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
            let count = 1u64 << host_bits;
            Ok(Range::V6 { first: v6.to_bits() & mask, count })
        }
        _ => Err(UsageError(format!("'{}': the prefix length is too long", escape(word)))),
    }
}

fn wide_enough(word: &str, count: u64) -> Result<(), UsageError> {
    match count > MAX_ADDRESSES {
        true => Err(too_wide(word)),
        false => Ok(()),
    }
}

fn too_wide(word: &str) -> UsageError {
    UsageError(format!(
        "'{}' is wider than portwatch scans ({MAX_ADDRESSES} addresses at most: /12 for IPv4, \
         /108 for IPv6)",
        escape(word)
    ))
}

/// Letters, digits, `-`, `.` and `_`: what a resolver is asked about.
fn is_host_name(word: &str) -> bool {
    word.len() <= 253
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !word.starts_with('-')
}

fn escape(word: &str) -> std::borrow::Cow<'_, str> {
    crate::render::escape::for_terminal(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;

    impl Resolver for Names {
        fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
            match name {
                "dual.example" => {
                    vec!["2001:db8::1".parse().unwrap(), "192.0.2.7".parse().unwrap()]
                }
                "six.example" => vec!["2001:db8::2".parse().unwrap()],
                _ => Vec::new(),
            }
        }
        fn host_name(&self, _: IpAddr) -> Option<String> {
            None
        }
        fn interface_index(&self, _: &str) -> Option<u32> {
            None
        }
        fn interface_name(&self, _: u32) -> Option<String> {
            None
        }
        fn cgroup_id(&self, _: &str) -> Option<u64> {
            None
        }
        fn cgroup_directories(&self) -> Vec<(u64, String)> {
            Vec::new()
        }
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    fn addresses(list: &[&str]) -> Vec<String> {
        expand(&words(list), &Names, false)
            .unwrap()
            .into_iter()
            .map(|t| t.address.to_string())
            .collect()
    }

    #[test]
    fn addresses_names_and_ranges_expand_in_order() {
        assert_eq!(addresses(&["127.0.0.1", "[::1]", "::2"]), ["127.0.0.1", "::1", "::2"]);
        assert_eq!(addresses(&["dual.example", "six.example"]), ["192.0.2.7", "2001:db8::2"]);
        assert_eq!(addresses(&["10.0.0.5/30"]), ["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"]);
        assert_eq!(addresses(&["2001:db8::/127"]), ["2001:db8::", "2001:db8::1"]);
        assert_eq!(addresses(&["10.0.0.1", "10.0.0.0/31"]), ["10.0.0.1", "10.0.0.0"]);
        assert_eq!(addresses(&["0.0.0.0/16"]).len(), 65_536);
    }

    #[test]
    fn bad_targets_are_named() {
        let error = |list: &[&str], yes: bool| expand(&words(list), &Names, yes).unwrap_err().0;
        assert_eq!(error(&["nowhere.invalid"], false), "cannot resolve host 'nowhere.invalid'");
        assert!(error(&["10.0.0.0/33"], false).contains("prefix length is too long"));
        assert!(error(&["10.0.0.0/x"], false).contains("is not a CIDR range"));
        assert!(error(&["10.0.0.0/8"], true).contains("wider than portwatch scans"));
        assert!(error(&["::/64"], true).contains("wider than portwatch scans"));
        assert!(error(&["10.0.0.0/15"], false).contains("needs --yes"));
        assert!(error(&["a b"], false).contains("is not an address or a host name"));
        assert!(error(&["-x"], false).contains("is not an address or a host name"));
        assert!(error(&[""], false).contains("empty target"));
        assert_eq!(expand(&words(&["10.0.0.0/15"]), &Names, true).unwrap().len(), 131_072);
    }
}
