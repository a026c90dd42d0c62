//! ss -s's text for the socket totals.

use std::io::Write;

use crate::model::summary::Summary;

/// ss -s's text.
pub fn write_text(out: &mut dyn Write, summary: &Summary) -> std::io::Result<()> {
    let tcp = &summary.tcp;
    writeln!(out, "Total: {}", summary.total)?;
    writeln!(
        out,
        "TCP:   {} (estab {}, closed {}, orphaned {}, timewait {})",
        tcp.total, tcp.estab, tcp.closed, tcp.orphaned, tcp.timewait
    )?;
    writeln!(out)?;
    writeln!(out, "Transport Total     IP        IPv6")?;
    let t = &summary.transports;
    for (name, counts) in
        [("RAW", t.raw), ("UDP", t.udp), ("TCP", t.tcp), ("INET", t.inet), ("FRAG", t.frag)]
    {
        let line = format!("{name}\t  {:<9} {:<9} {:<9}", counts.total, counts.ipv4, counts.ipv6);
        writeln!(out, "{}", line.trim_end())?;
    }
    // ss ends the totals with an empty line, which parts them from the
    // table that follows when one does (`ss -ts`).
    writeln!(out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::summary::{Counts, TcpSummary, Transports};

    #[test]
    fn reads_as_ss_s() {
        let tcp = Counts { total: 8, ipv4: 4, ipv6: 4 };
        let summary = Summary {
            total: 18,
            tcp: TcpSummary { total: 12, estab: 4, closed: 4, orphaned: 0, timewait: 3 },
            transports: Transports { tcp, ..Transports::default() },
        };
        let mut text = Vec::new();
        write_text(&mut text, &summary).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("Total: 18\nTCP:   12 (estab 4, closed 4, orphaned 0, timewait 3)\n\nTransport Total     IP        IPv6\nRAW\t  0         0         0\n"), "{text}");
        assert!(text.contains("TCP\t  8         4         4\n"), "{text}");
        assert!(text.ends_with("FRAG\t  0         0         0\n\n"), "{text}");
    }
}
