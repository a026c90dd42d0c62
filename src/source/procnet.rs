//! The fallback source: /proc/thread-self/net/{tcp,tcp6,udp,udp6} (the
//! calling thread's namespace, as /proc/net is the main thread's), read
//! when sock_diag netlink is unavailable. /proc has no cookie and no v6only.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use procfs::net::{TcpNetEntries, UdpNetEntries};
use procfs::{ExplicitSystemInfo, FromBufReadSI};

use crate::model::{Endpoint, Family, Netid, Socket};
use crate::state::{SocketState, StateSet};
use crate::sys::System;

/// The table of an inet kind; UNIX sockets have none read here.
pub fn table_path(netid: Netid, family: Family) -> Option<&'static Path> {
    Some(Path::new(match (netid, family) {
        (Netid::Tcp, Family::Inet) => "/proc/thread-self/net/tcp",
        (Netid::Tcp, Family::Inet6) => "/proc/thread-self/net/tcp6",
        (Netid::Udp, Family::Inet) => "/proc/thread-self/net/udp",
        (Netid::Udp, Family::Inet6) => "/proc/thread-self/net/udp6",
        (Netid::Raw, Family::Inet) => "/proc/thread-self/net/raw",
        (Netid::Raw, Family::Inet6) => "/proc/thread-self/net/raw6",
        _ => return None,
    }))
}

/// Reads one /proc/net table and keeps the sockets in `states`.
pub fn read_table(
    system: &dyn System,
    netid: Netid,
    family: Family,
    states: StateSet,
) -> Result<Vec<Socket>> {
    let path = table_path(netid, family).with_context(|| {
        format!("no /proc/net table for {} {} sockets", netid.as_str(), family.as_str())
    })?;
    let text = system.read_file(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sockets = parse_table(text.as_bytes(), netid, family)
        .with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(sockets.into_iter().filter(|s| states.contains(s.state)).collect())
}

/// Parses the text of a /proc/net table.
pub fn parse_table(text: impl BufRead, netid: Netid, family: Family) -> Result<Vec<Socket>> {
    let info = ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    };
    let entries: Vec<Entry> = match netid {
        Netid::Tcp => TcpNetEntries::from_buf_read(text, &info)?
            .0
            .into_iter()
            .map(|e| Entry {
                state: e.state as u8,
                local: e.local_address,
                peer: e.remote_address,
                queues: (e.rx_queue, e.tx_queue),
                uid: e.uid,
                inode: e.inode,
            })
            .collect(),
        // Raw sockets' lines have UDP's layout, the protocol as their port.
        Netid::Udp | Netid::Raw | Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket => {
            UdpNetEntries::from_buf_read(text, &info)?
                .0
                .into_iter()
                .map(|e| Entry {
                    state: e.state as u8,
                    local: e.local_address,
                    peer: e.remote_address,
                    queues: (e.rx_queue, e.tx_queue),
                    uid: e.uid,
                    inode: e.inode,
                })
                .collect()
        }
    };
    Ok(entries.into_iter().filter_map(|entry| entry.into_socket(netid, family)).collect())
}

/// The fields /proc/net's TCP and UDP tables share.
struct Entry {
    state: u8,
    local: SocketAddr,
    peer: SocketAddr,
    queues: (u32, u32),
    uid: u32,
    inode: u64,
}

impl Entry {
    fn into_socket(self, netid: Netid, family: Family) -> Option<Socket> {
        let state = SocketState::from_kernel(self.state)?;
        Some(Socket {
            recv_q: self.queues.0,
            send_q: self.queues.1,
            local: Endpoint { addr: self.local.ip(), port: self.local.port() },
            peer: Endpoint { addr: self.peer.ip(), port: self.peer.port() },
            uid: (state != SocketState::TimeWait).then_some(self.uid),
            inode: u32::try_from(self.inode).ok().filter(|i| *i != 0),
            ..Socket::new(netid, family, state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in ["header\n0: zz:1 00000000:0000 0A", "header\n0: 0100007F:0016", "header\n0:"] {
            assert!(parse_table(text.as_bytes(), Netid::Tcp, Family::Inet).is_err(), "{text}");
        }
        assert!(
            parse_table("header only\n".as_bytes(), Netid::Udp, Family::Inet6).unwrap().is_empty()
        );
    }
}
