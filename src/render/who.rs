//! `who`'s views: a table of (process, socket) lines, or JSON with one
//! object per process and its sockets.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use super::text::{
    bracketed_address, netstat_proto, process_label, ss_state, unix_path, user_label,
};
use crate::model::{Process, Socket};

/// The sockets one process holds, or (`process: None`) that no visible
/// process holds.
#[derive(Clone, Debug, Serialize)]
pub struct WhoGroup {
    pub process: Option<Arc<Process>>,
    /// False when permissions may hide this group's owner.
    pub owner_visible: bool,
    pub sockets: Vec<HeldSocket>,
}

/// A socket, with the descriptor its group's process holds it by.
#[derive(Clone, Debug, Serialize)]
pub struct HeldSocket {
    pub fd: Option<u32>,
    #[serde(flatten)]
    pub socket: Socket,
}

pub fn write_json(out: &mut dyn Write, groups: &[WhoGroup]) -> Result<()> {
    serde_json::to_writer(&mut *out, groups)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// `numeric`: port numbers, not service names; `wide`: command lines.
pub fn write_table(
    out: &mut dyn Write,
    groups: &[WhoGroup],
    numeric: bool,
    wide: bool,
) -> Result<()> {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(["PID", "USER", "COMMAND", "FD", "PROTO", "STATE", "LOCAL", "PEER"]);
    for group in groups {
        let (pid, user, command) = match (&group.process, group.owner_visible) {
            (Some(p), _) => (p.pid.to_string(), user_label(p), process_label(p, wide)),
            (None, false) => ("-".into(), "-".into(), "(not visible)".into()),
            (None, true) => ("-".into(), "-".into(), "(no process)".into()),
        };
        for held in &group.sockets {
            let socket = &held.socket;
            let (local, peer) = ends(socket, numeric);
            table.add_row([
                pid.clone(),
                user.clone(),
                command.clone(),
                held.fd.map_or_else(|| "-".into(), |fd| fd.to_string()),
                netstat_proto(socket).to_owned(),
                ss_state(socket.state()).to_owned(),
                local,
                peer,
            ]);
        }
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim())?;
    }
    out.flush()?;
    Ok(())
}

fn ends(socket: &Socket, numeric: bool) -> (String, String) {
    match socket {
        Socket::Inet(inet) => {
            (bracketed_address(&inet.local, numeric), bracketed_address(&inet.peer, numeric))
        }
        Socket::Unix(unix) => {
            let peer = unix.peer.inode.map_or("*".to_owned(), |inode| inode.to_string());
            (unix_path(unix.local.path.as_deref()).into_owned(), peer)
        }
        other => {
            let mut cells = Vec::new();
            super::kinds::push_local_and_peer(other, numeric, &mut |cell| cells.push(cell));
            let peer = cells.split_off(cells.len().min(2));
            (cells.concat(), peer.concat())
        }
    }
}
