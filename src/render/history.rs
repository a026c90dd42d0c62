//! `history`'s views: a table of the recorded events, one row each, or
//! a JSON array of them. Process names are untrusted and escaped.

use std::io::Write;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};

use super::holders::process_facts;
use super::watch::local_text;
use crate::model::watch::WatchEvent;
use crate::render::escape::for_terminal;

/// `TIME EVENT PROTO ADDRESS PROCESS`, a row per event; nothing when
/// there is none.
pub fn write_table(events: &[WatchEvent], out: &mut impl Write) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(["TIME", "EVENT", "PROTO", "ADDRESS", "PROCESS"]);
    for event in events {
        let (proto, address) = match event.socket.as_inet() {
            Some(inet) => (inet.netid.as_str(), local_text(inet)),
            None => (event.socket.netid_label(), "-".to_owned()),
        };
        let process = process_facts(event.socket.owners());
        table.add_row([
            for_terminal(&event.time).into_owned(),
            event.event.as_str().to_owned(),
            proto.to_owned(),
            address,
            process.trim_start().to_owned(),
        ]);
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim())?;
    }
    Ok(())
}

/// The events as one JSON array, each as `watch --format jsonl` writes it.
pub fn write_json(events: &[WatchEvent], out: &mut impl Write) -> Result<()> {
    serde_json::to_writer(&mut *out, events)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::process::Ownership;
    use crate::model::watch::EventKind;
    use crate::model::{Holder, InetSocket, IpFamily, Process, Socket, SocketState, Transport};

    fn event(name: &str) -> WatchEvent {
        let mut inet = InetSocket::new(Transport::Udp, IpFamily::Inet, SocketState::Closed);
        inet.local.port = 5353;
        let process = Process { pid: 7, name: Some(name.into()), ..Process::default() };
        let holder = Holder { fd: 4, process: Arc::new(process), socket_context: None };
        let mut socket = Socket::Inet(inet);
        socket.set_owners(Some(Ownership { processes: vec![holder], owner_visible: true }));
        WatchEvent::new(EventKind::Close, "2026-12-05T14:20:01.123456Z".into(), socket)
    }

    #[test]
    fn a_row_per_event_with_names_escaped() {
        let mut out = Vec::new();
        write_table(&[event("avahi\u{1b}[2J")], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["TIME", "EVENT", "PROTO", "ADDRESS", "PROCESS"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "2026-12-05T14:20:01.123456Z",
                "close",
                "udp",
                "0.0.0.0:5353",
                "avahi\\u{1b}[2J(pid=7)"
            ]
        );
    }

    #[test]
    fn a_time_from_a_tampered_file_is_escaped_too() {
        let mut tampered = event("avahi");
        tampered.time = "2026\u{1b}]0;owned\u{7}".into();
        let mut out = Vec::new();
        write_table(&[tampered], &mut out).unwrap();
        assert!(!out.contains(&0x1b), "{}", String::from_utf8_lossy(&out));
    }

    #[test]
    fn json_reads_back_as_the_events() {
        let events = vec![event("avahi"), event("mdns")];
        let mut out = Vec::new();
        write_json(&events, &mut out).unwrap();
        assert_eq!(serde_json::from_slice::<Vec<WatchEvent>>(&out).unwrap(), events);
        let mut out = Vec::new();
        write_table(&[], &mut out).unwrap();
        assert!(out.is_empty());
    }
}
