//! JSON (`--json`, one array) and JSON Lines (`--format jsonl`, one object
//! per line), both streamed. The schema is documented in README.md and
//! only ever grows: a key never changes its meaning.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;
use serde::Serialize;

use super::{Lookups, SocketWriter};
use crate::details::Details;
use crate::model::{Endpoint, Family, Netid, NetnsLabel, PortCategory, Socket};
use crate::names::{HostNames, Services};
use crate::owners::cgroup::Container;
use crate::owners::process::ProcessInfo;
use crate::state::SocketState;

#[derive(Serialize)]
pub struct JsonSocket<'a> {
    netid: Netid,
    family: Family,
    state: SocketState,
    recv_q: u32,
    send_q: u32,
    local: JsonEnd<'a>,
    peer: JsonEnd<'a>,
    uid: Option<u32>,
    inode: Option<u32>,
    cookie: Option<u64>,
    interface: Option<&'a str>,
    v6only: Option<bool>,
    /// With `--all-netns` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<&'a NetnsLabel>,
    /// `timer`, `skmem`, `tcp_info`, with `-o`, `-m`, `-i`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    /// With `-p` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<Vec<JsonProcess<'a>>>,
    /// With `-p` only: false when permissions may have hidden the holders.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_visible: Option<bool>,
}

/// An inet endpoint, or a UNIX socket's name or peer.
#[derive(Serialize)]
#[serde(untagged)]
pub enum JsonEnd<'a> {
    Inet(JsonEndpoint<'a>),
    /// `{"path": "/run/x.sock" | "@abstract" | null, "inode": N | null}`.
    Unix {
        path: Option<&'a str>,
        inode: Option<u32>,
    },
}

#[derive(Serialize)]
pub struct JsonEndpoint<'a> {
    addr: IpAddr,
    port: u16,
    /// The /etc/services name of the port, or null.
    service: Option<&'a str>,
    /// The port's IANA range, or null for port 0.
    category: Option<PortCategory>,
    /// With `-r` only: the resolver's name for the address, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Option<String>>,
}

/// A process; with `fd`, one holder of a socket.
#[derive(Serialize)]
pub struct JsonProcess<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<u32>,
    name: Option<&'a str>,
    cmdline: String,
    argv: &'a [String],
    exe: Option<&'a str>,
    exe_deleted: Option<bool>,
    uid: Option<u32>,
    user: Option<&'a str>,
    unit: Option<&'a str>,
    container: Option<&'a Container>,
}

impl<'a> JsonProcess<'a> {
    pub fn new(process: &'a ProcessInfo, fd: Option<u32>) -> Self {
        JsonProcess {
            pid: process.pid,
            fd,
            name: process.name.as_deref(),
            cmdline: process.cmdline(),
            argv: &process.argv,
            exe: process.exe.as_deref(),
            exe_deleted: process.exe_deleted,
            uid: process.uid,
            user: process.user.as_deref(),
            unit: process.unit.as_deref(),
            container: process.container.as_ref(),
        }
    }
}

/// Whether the objects are wrapped in one array or written one per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonStyle {
    Array,
    Lines,
}

pub struct JsonWriter<'s, W: Write> {
    out: W,
    style: JsonStyle,
    lookups: Lookups<'s>,
    rows: usize,
    /// One row's text: serde writes many small pieces, `out` gets one write.
    line: Vec<u8>,
}

impl<'s, W: Write> JsonWriter<'s, W> {
    /// JSON always names services, whatever `-n` says.
    pub fn new(out: W, style: JsonStyle, mut lookups: Lookups<'s>, services: Services) -> Self {
        lookups.services = Some(services);
        JsonWriter { out, style, lookups, rows: 0, line: Vec::with_capacity(512) }
    }
}

/// A socket's JSON object without its holders.
pub fn socket_object<'a>(
    socket: &'a Socket,
    services: Option<&'a Services>,
    mut hosts: Option<&mut HostNames<'_>>,
) -> JsonSocket<'a> {
    let mut host = |addr: IpAddr| hosts.as_mut().map(|h| h.name(addr).map(str::to_owned));
    let (local_host, peer_host) = (host(socket.local.addr), host(socket.peer.addr));
    JsonSocket {
        netid: socket.netid,
        family: socket.family,
        state: socket.state,
        recv_q: socket.recv_q,
        send_q: socket.send_q,
        local: match socket.unix.as_deref() {
            Some(unix) => JsonEnd::Unix { path: unix.name.as_deref(), inode: socket.inode },
            None => JsonEnd::Inet(json_endpoint(services, socket.netid, &socket.local, local_host)),
        },
        peer: match socket.unix.as_deref() {
            Some(unix) => JsonEnd::Unix { path: None, inode: unix.peer_inode },
            None => JsonEnd::Inet(json_endpoint(services, socket.netid, &socket.peer, peer_host)),
        },
        uid: socket.uid,
        inode: socket.inode,
        cookie: socket.cookie,
        interface: socket.interface.as_deref(),
        v6only: socket.v6only,
        netns: socket.netns.as_deref(),
        details: socket.details.as_deref(),
        processes: None,
        owner_visible: None,
    }
}

fn json_endpoint<'a>(
    services: Option<&'a Services>,
    netid: Netid,
    endpoint: &Endpoint,
    host: Option<Option<String>>,
) -> JsonEndpoint<'a> {
    let service = match endpoint.port {
        0 => None,
        port => services.and_then(|s| s.name(netid, port)),
    };
    let category = PortCategory::of(endpoint.port);
    JsonEndpoint { addr: endpoint.addr, port: endpoint.port, service, category, host }
}

impl<W: Write> SocketWriter for JsonWriter<'_, W> {
    fn write_socket(&mut self, socket: &Socket) -> Result<()> {
        if let Some(owners) = self.lookups.owners.as_mut() {
            owners.load(socket.inode);
        }
        let lookups = &mut self.lookups;
        let mut row = socket_object(socket, lookups.services.as_ref(), lookups.hosts.as_mut());
        if let Some(owners) = lookups.owners.as_ref() {
            let holders = owners.owners(socket.inode);
            row.processes = Some(holders.map(|(p, fd)| JsonProcess::new(p, Some(fd))).collect());
            row.owner_visible = Some(owners.owner_visible(socket.inode));
        }
        self.line.clear();
        match (self.style, self.rows) {
            (JsonStyle::Array, 0) => self.line.extend_from_slice(b"[\n"),
            (JsonStyle::Array, _) => self.line.extend_from_slice(b",\n"),
            (JsonStyle::Lines, _) => {}
        }
        serde_json::to_writer(&mut self.line, &row)?;
        if self.style == JsonStyle::Lines {
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let end: &[u8] = match (self.style, self.rows) {
            (JsonStyle::Array, 0) => b"[]\n",
            (JsonStyle::Array, _) => b"\n]\n",
            (JsonStyle::Lines, _) => b"",
        };
        self.out.write_all(end)?;
        self.out.flush()?;
        Ok(())
    }
}
