//! JSON (`--json`, one array) and JSON Lines (`--format jsonl`, one object
//! per line), both streamed. The schema is documented in README.md and
//! only ever grows: a key never changes its meaning.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;
use serde::Serialize;

use super::SocketWriter;
use crate::model::{Endpoint, Family, Netid, Socket};
use crate::names::{HostNames, Services};
use crate::state::SocketState;

#[derive(Serialize)]
struct JsonSocket<'a> {
    netid: Netid,
    family: Family,
    state: SocketState,
    recv_q: u32,
    send_q: u32,
    local: JsonEndpoint<'a>,
    peer: JsonEndpoint<'a>,
    uid: Option<u32>,
    inode: Option<u32>,
    cookie: Option<u64>,
    interface: Option<&'a str>,
    v6only: Option<bool>,
}

#[derive(Serialize)]
struct JsonEndpoint<'a> {
    addr: IpAddr,
    port: u16,
    /// The /etc/services name of the port, or null.
    service: Option<&'a str>,
    /// With `-r` only: the resolver's name for the address, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Option<String>>,
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
    services: Services,
    hosts: Option<HostNames<'s>>,
    rows: usize,
}

impl<'s, W: Write> JsonWriter<'s, W> {
    pub fn new(out: W, style: JsonStyle, services: Services, hosts: Option<HostNames<'s>>) -> Self {
        JsonWriter {
            out,
            style,
            services,
            hosts,
            rows: 0,
        }
    }

    fn host(&mut self, addr: IpAddr) -> Option<Option<String>> {
        self.hosts
            .as_mut()
            .map(|hosts| hosts.name(addr).map(str::to_owned))
    }
}

fn json_endpoint<'a>(
    services: &'a Services,
    netid: Netid,
    endpoint: &Endpoint,
    host: Option<Option<String>>,
) -> JsonEndpoint<'a> {
    let service = match endpoint.port {
        0 => None,
        port => services.name(netid, port),
    };
    JsonEndpoint {
        addr: endpoint.addr,
        port: endpoint.port,
        service,
        host,
    }
}

impl<W: Write> SocketWriter for JsonWriter<'_, W> {
    fn write_socket(&mut self, socket: &Socket) -> Result<()> {
        let local_host = self.host(socket.local.addr);
        let peer_host = self.host(socket.peer.addr);
        let row = JsonSocket {
            netid: socket.netid,
            family: socket.family,
            state: socket.state,
            recv_q: socket.recv_q,
            send_q: socket.send_q,
            local: json_endpoint(&self.services, socket.netid, &socket.local, local_host),
            peer: json_endpoint(&self.services, socket.netid, &socket.peer, peer_host),
            uid: socket.uid,
            inode: socket.inode,
            cookie: socket.cookie,
            interface: socket.interface.as_deref(),
            v6only: socket.v6only,
        };
        match (self.style, self.rows) {
            (JsonStyle::Array, 0) => self.out.write_all(b"[\n")?,
            (JsonStyle::Array, _) => self.out.write_all(b",\n")?,
            (JsonStyle::Lines, _) => {}
        }
        serde_json::to_writer(&mut self.out, &row)?;
        if self.style == JsonStyle::Lines {
            self.out.write_all(b"\n")?;
        }
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
