//! Which ports to scan: nmap's `-p` syntax, and the ports nmap scans by
//! default (`--top-ports 100` and `1000`), with IANA's service names.
//! Where the data comes from, and its licences: the headers of the files
//! under `data/`.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

const TOP_PORTS: &str = include_str!("data/top-ports.txt");
const IANA_SERVICES: &str = include_str!("data/iana-tcp-services.txt");

/// A PORTS argument or a `--top-ports` count portwatch cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortsError(String);

fn error(message: String) -> PortsError {
    PortsError(message)
}

/// Parses nmap's `-p` syntax for a TCP connect scan: `22`, `22,80`,
/// `8000-8100`, `-100`, `60000-`, `-` (every port), service names, and a
/// `T:` prefix. Sorted, each port once.
pub fn parse_ports(spec: &str) -> Result<Vec<u16>, PortsError> {
    let shown = crate::render::escape::for_terminal(spec);
    if spec.is_empty() {
        return Err(error("-p: no ports given".into()));
    }
    let mut ports = BTreeSet::new();
    for item in spec.split(',') {
        let item = strip_protocol(item, &shown)?;
        if item.is_empty() {
            return Err(error(format!("-p {shown}: an empty item between commas")));
        }
        let (first, last) = item_range(item, &shown)?;
        ports.extend(first..=last);
    }
    Ok(ports.into_iter().collect())
}

/// Drops a `T:` prefix; refuses nmap's other protocols.
fn strip_protocol<'a>(item: &'a str, shown: &str) -> Result<&'a str, PortsError> {
    match item.split_once(':') {
        None => Ok(item),
        Some(("T" | "t", rest)) => Ok(rest),
        Some(("U" | "u", _)) => Err(error(format!(
            "-p {shown}: UDP ports (U:) cannot be scanned: portwatch scan is a TCP connect scan"
        ))),
        Some(("S" | "s" | "P" | "p", _)) => Err(error(format!(
            "-p {shown}: SCTP (S:) and IP protocol (P:) scans are not what a TCP connect scan does"
        ))),
        Some(_) => Err(error(format!("-p {shown}: unknown protocol prefix"))),
    }
}

/// One item: a port, a range (either end may be left out), or a name.
fn item_range(item: &str, shown: &str) -> Result<(u16, u16), PortsError> {
    if item.contains('*') || item.contains('?') {
        return Err(error(format!("-p {shown}: wildcards in service names are not taken")));
    }
    match item.split_once('-') {
        Some((first, last)) => {
            let first = if first.is_empty() { 1 } else { port_number(first, shown)? };
            let last = if last.is_empty() { u16::MAX } else { port_number(last, shown)? };
            if first > last {
                return Err(error(format!("-p {shown}: the range {first}-{last} runs backwards")));
            }
            Ok((first, last))
        }
        None if item.bytes().all(|b| b.is_ascii_digit()) => {
            let port = port_number(item, shown)?;
            Ok((port, port))
        }
        None => port_of_service(item).map(|port| (port, port)).ok_or_else(|| {
            error(format!(
                "-p {shown}: '{}' is neither a port number nor a TCP service name",
                crate::render::escape::for_terminal(item)
            ))
        }),
    }
}

fn port_number(text: &str, shown: &str) -> Result<u16, PortsError> {
    let number: u32 = match text.bytes().all(|b| b.is_ascii_digit()) && text.len() <= 6 {
        true => text.parse().map_err(|_| error(format!("-p {shown}: '{text}' is not a port")))?,
        false => {
            return Err(error(format!(
                "-p {shown}: '{}' is not a port number",
                crate::render::escape::for_terminal(text)
            )));
        }
    };
    match number {
        0 => Err(error(format!("-p {shown}: port 0 cannot be connected to"))),
        1..=65535 => Ok(number as u16),
        _ => Err(error(format!("-p {shown}: {number} is beyond the last port, 65535"))),
    }
}

/// The ports nmap scans with `--top-ports count`, sorted; portwatch ships
/// the sets for 100 and 1000 only (nmap's full ranking is under the Nmap
/// license).
pub fn top_ports(count: usize) -> Result<Vec<u16>, PortsError> {
    let line = TOP_PORTS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.split_once(' ').filter(|(n, _)| n.parse() == Ok(count)));
    match line {
        Some((_, list)) => parse_ports(list),
        None => Err(error(format!(
            "--top-ports {count}: portwatch ships nmap's top 100 and top 1000 port sets only; \
             name other ports with -p"
        ))),
    }
}

fn iana_names() -> &'static HashMap<u16, &'static str> {
    static NAMES: OnceLock<HashMap<u16, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        IANA_SERVICES
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(port, name)| Some((port.parse().ok()?, name)))
            .collect()
    })
}

/// IANA's service name for a TCP port.
pub fn service_name(port: u16) -> Option<&'static str> {
    iana_names().get(&port).copied()
}

/// The TCP port of an IANA service name (the lowest, if several).
pub fn port_of_service(name: &str) -> Option<u16> {
    let name = name.to_ascii_lowercase();
    let alias = match name.as_str() {
        // IANA's registry names port 80 `www-http` (its last alias); every
        // nmap user types `http`.
        "http" | "www" => return Some(80),
        other => other,
    };
    iana_names().iter().filter(|(_, n)| n.eq_ignore_ascii_case(alias)).map(|(p, _)| *p).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nmaps_forms_are_taken() {
        assert_eq!(parse_ports("22").unwrap(), [22]);
        assert_eq!(parse_ports("80,22,80").unwrap(), [22, 80]);
        assert_eq!(parse_ports("8000-8003").unwrap(), [8000, 8001, 8002, 8003]);
        assert_eq!(parse_ports("-3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_ports("65534-").unwrap(), [65534, 65535]);
        assert_eq!(parse_ports("-").unwrap().len(), 65535);
        assert_eq!(parse_ports("T:22,443").unwrap(), [22, 443]);
        assert_eq!(parse_ports("ssh,http,https").unwrap(), [22, 80, 443]);
    }

    #[test]
    fn what_nmap_or_a_connect_scan_refuses_is_named() {
        let message = |spec: &str| parse_ports(spec).unwrap_err().to_string();
        assert_eq!(message(""), "-p: no ports given");
        assert!(message("22,,80").contains("empty item"));
        assert!(message("0").contains("port 0"));
        assert!(message("70000").contains("70000 is beyond the last port"));
        assert!(message("100-90").contains("100-90 runs backwards"));
        assert!(message("abc").contains("'abc' is neither a port number nor a TCP service name"));
        assert!(message("U:53").contains("UDP ports (U:) cannot be scanned"));
        assert!(message("S:22").contains("SCTP"));
        assert!(message("X:22").contains("unknown protocol prefix"));
        assert!(message("http*").contains("wildcards"));
        assert!(message("1-2x").contains("'2x' is not a port number"));
        assert!(message("\u{1b}[31m").contains("\\u{1b}"), "escaped");
    }

    #[test]
    fn top_ports_are_nmaps_sets() {
        let thousand = top_ports(1000).unwrap();
        assert_eq!(thousand.len(), 1000);
        assert!(thousand.windows(2).all(|w| w[0] < w[1]));
        let hundred = top_ports(100).unwrap();
        assert_eq!(hundred.len(), 100);
        assert!(hundred.iter().all(|p| thousand.contains(p)));
        for port in [21, 22, 23, 25, 80, 443, 3389] {
            assert!(hundred.contains(&port), "{port}");
        }
        assert!(top_ports(20).unwrap_err().to_string().contains("top 100 and top 1000"));
    }

    #[test]
    fn service_names_are_ianas() {
        assert_eq!(service_name(22), Some("ssh"));
        assert_eq!(service_name(8080), Some("http-alt"));
        assert_eq!(port_of_service("SSH"), Some(22));
        assert_eq!(port_of_service("http"), Some(80));
        assert_eq!(port_of_service("no-such-service"), None);
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panic(spec in ".{0,40}") {
            if let Ok(ports) = parse_ports(&spec) {
                prop_assert!(ports.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(ports.iter().all(|&p| p >= 1));
            }
        }

        #[test]
        fn ranges_hold_what_they_say(first in 1u16..=65535, length in 0u16..200) {
            let last = first.saturating_add(length);
            let ports = parse_ports(&format!("{first}-{last}")).unwrap();
            prop_assert_eq!(ports.len(), usize::from(last - first) + 1);
        }
    }
}
