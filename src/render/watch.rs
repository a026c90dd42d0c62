//! `watch`'s event views: one plain line per event, or one JSON object per
//! line (`--format jsonl`). Process names are untrusted and escaped.

use std::io::Write;

use anyhow::Result;

use super::escape::for_terminal;
use crate::model::InetSocket;
use crate::model::watch::WatchEvent;

/// `2026-12-05T14:20:01.123456Z open  tcp 0.0.0.0:8080 python3(pid=812,user=root)`
pub fn line(event: &WatchEvent, out: &mut impl Write) -> Result<()> {
    let Some(socket) = event.socket.as_inet() else { return Ok(()) };
    writeln!(
        out,
        "{} {:<5} {} {}{}",
        event.time,
        event.event.as_str(),
        socket.netid.as_str(),
        local_text(socket),
        super::holders::process_facts(event.socket.owners())
    )?;
    Ok(())
}

pub fn json_line(event: &WatchEvent, out: &mut impl Write) -> Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    writeln!(out)?;
    Ok(())
}

/// `[::]:22`, `127.0.0.1:53%lo`, with the namespace in front when it has
/// a label (`blue/0.0.0.0:80`).
pub fn local_text(socket: &InetSocket) -> String {
    let address = match socket.local.addr {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let mut text = format!("{address}:{}", socket.local.port);
    if let Some(interface) = &socket.interface {
        text.push_str(&format!("%{}", for_terminal(interface)));
    }
    if let Some(netns) = socket.netns.as_deref() {
        let label = netns
            .name
            .as_deref()
            .map_or_else(|| netns.inode.to_string(), |n| for_terminal(n).into_owned());
        text = format!("{label}/{text}");
    }
    text
}
