//! The views of a socket list. Each writer takes sockets one at a time and
//! writes to any `impl Write`.

pub mod columns;
pub mod escape;
pub mod json;
pub mod lsof;
pub mod netstat;
pub mod ss;

use std::fmt::Write as _;

use anyhow::Result;

use crate::model::{Netid, Socket};
use crate::names::{HostNames, Services};
use crate::owners::Owners;
use crate::owners::process::ProcessInfo;

/// The output formats of `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ss,
    Netstat,
    Lsof,
    Json,
    JsonLines,
}

/// Consumes a socket list row by row.
pub trait SocketWriter {
    fn write_socket(&mut self, socket: &Socket) -> Result<()>;

    /// Writes what is still buffered; called once after the last socket.
    fn finish(&mut self) -> Result<()>;
}

/// The process name a table prints (with `wide`, the command line), escaped
/// for the terminal.
pub fn process_label(process: &ProcessInfo, wide: bool) -> String {
    let name = if wide { process.wide_name() } else { process.display_name().to_owned() };
    escape::for_terminal(&name).into_owned()
}

/// A UNIX socket's ends as text: its name (`*` when unbound) for the local
/// end, the peer's inode (`*` when none) for the other; `None` for inet.
pub fn unix_end(socket: &Socket, local: bool) -> Option<String> {
    let unix = socket.unix.as_deref()?;
    Some(match local {
        true => {
            unix.name.as_deref().map_or("*".into(), |name| escape::for_terminal(name).into_owned())
        }
        false => unix.peer_inode.map_or("*".into(), |inode| inode.to_string()),
    })
}

/// What the views look up to turn numbers into names.
pub struct Lookups<'s> {
    /// Port names; `None` with `-n` in the tables.
    pub services: Option<Services>,
    /// Host names; `Some` with `-r`.
    pub hosts: Option<HostNames<'s>>,
    /// Socket holders; `Some` with `-p` (and for the lsof view).
    pub owners: Option<Owners<'s>>,
    /// `-W`: full command lines instead of process names.
    pub wide: bool,
}

impl Lookups<'_> {
    /// A port as the tables print it: `*` for 0, else its service name
    /// unless `-n`, else the number.
    pub fn push_port(&self, out: &mut String, netid: Netid, port: u16) {
        if port == 0 {
            out.push('*');
        } else if let Some(name) = self.services.as_ref().and_then(|s| s.name(netid, port)) {
            out.push_str(name);
        } else {
            let _ = write!(out, "{port}");
        }
    }

    /// Reads the owners of `socket` (with `-p`) and returns them.
    pub fn owners_of(&mut self, socket: &Socket) -> Vec<(&ProcessInfo, u32)> {
        match self.owners.as_mut() {
            Some(owners) => {
                owners.load(socket.inode);
                owners.owners(socket.inode).collect()
            }
            None => Vec::new(),
        }
    }
}
