//! `-s`: ss -s's totals, from /proc/thread-self/net/sockstat{,6} (the
//! kernel's per-protocol counters) and /proc/thread-self/net/snmp
//! (CurrEstab), for the namespace portwatch runs in.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::summary::{Counts, Summary, TcpSummary, Transports};
use crate::sys::ProcFs;

/// `LABEL: key value key value ...` lines, by label and key.
type Table = HashMap<String, HashMap<String, u64>>;

fn parse_sockstat(text: &str) -> Table {
    text.lines()
        .filter_map(|line| {
            let (label, rest) = line.split_once(':')?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            let values = words
                .chunks(2)
                .filter_map(|pair| Some((pair.first()?.to_string(), pair.get(1)?.parse().ok()?)));
            Some((label.trim().to_owned(), values.collect()))
        })
        .collect()
}

/// /proc/net/snmp's `Tcp:` header and value lines: CurrEstab.
fn current_established(snmp: &str) -> Option<u64> {
    let mut tcp_lines = snmp.lines().filter(|line| line.starts_with("Tcp:"));
    let (names, values) = (tcp_lines.next()?, tcp_lines.next()?);
    let at = names.split_whitespace().position(|name| name == "CurrEstab")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

pub fn read(proc: &dyn ProcFs) -> Result<Summary> {
    let read = |file: &str| {
        let path = Path::new("/proc/thread-self/net").join(file);
        proc.read_text(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let v4 = parse_sockstat(&read("sockstat")?);
    let v6 = parse_sockstat(&read("sockstat6").unwrap_or_default());
    let estab = current_established(&read("snmp").unwrap_or_default()).unwrap_or(0);
    Ok(summarize(&v4, &v6, estab))
}

/// Parses sockstat-like text and snmp-like text at once (for the fuzzer).
pub fn parse_text(text: &str) -> Summary {
    let table = parse_sockstat(text);
    summarize(&table, &table, current_established(text).unwrap_or(0))
}

fn summarize(v4: &Table, v6: &Table, estab: u64) -> Summary {
    let get = |table: &Table, label: &str, key: &str| {
        table.get(label).and_then(|t| t.get(key)).copied().unwrap_or(0)
    };
    let inuse = |label4: &str, label6: &str| {
        Counts::new(get(v4, label4, "inuse"), get(v6, label6, "inuse"))
    };
    let (raw, udp, tcp, frag) =
        (inuse("RAW", "RAW6"), inuse("UDP", "UDP6"), inuse("TCP", "TCP6"), inuse("FRAG", "FRAG6"));
    // ss counts TIME-WAIT sockets in its TCP total, and calls the sockets
    // allocated but not hashed (in no table) closed.
    let timewait = get(v4, "TCP", "tw");
    let allocated = get(v4, "TCP", "alloc") + timewait;
    Summary {
        total: get(v4, "sockets", "used"),
        tcp: TcpSummary {
            total: allocated,
            estab,
            closed: allocated.saturating_sub(tcp.total),
            orphaned: get(v4, "TCP", "orphan"),
            timewait,
        },
        transports: Transports { raw, udp, tcp, inet: Counts::sum(&[raw, udp, tcp]), frag },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_as_ss_derives_them() {
        let v4 = parse_sockstat(
            "sockets: used 18\nTCP: inuse 4 orphan 0 tw 3 alloc 9 mem 54\nUDP: inuse 1 mem 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
        );
        let v6 = parse_sockstat(
            "TCP6: inuse 4\nUDP6: inuse 1\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n",
        );
        let snmp = "Tcp: RtoAlgorithm RtoMin CurrEstab\nTcp: 1 200 4\n";
        let summary = summarize(&v4, &v6, current_established(snmp).unwrap());
        assert_eq!(summary.total, 18);
        assert_eq!(
            summary.tcp,
            TcpSummary { total: 12, estab: 4, closed: 4, orphaned: 0, timewait: 3 }
        );
        assert_eq!(summary.transports.tcp, Counts { total: 8, ipv4: 4, ipv6: 4 });
        assert_eq!(summary.transports.inet, Counts { total: 10, ipv4: 5, ipv6: 5 });
    }
}
