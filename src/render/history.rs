//! `history`'s views: a table of the recorded events, one row each, or
//! a JSON array of them. Process names are untrusted and escaped.

use std::io::Write;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};

use super::holders::process_facts;
use super::watch::local_text;
use crate::model::watch::WatchEvent;

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
            event.time.clone(),
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
