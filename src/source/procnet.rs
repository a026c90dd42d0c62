//! The fallback source: /proc/thread-self/net/{tcp,tcp6,udp,udp6} (the
//! calling thread's namespace, as /proc/net is the main thread's), read
//! when sock_diag netlink is unavailable. /proc has no cookie and no v6only.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use procfs::net::{TcpNetEntries, UdpNetEntries};
use procfs::{ExplicitSystemInfo, FromBufReadSI};

use crate::model::{InetEnd, InetSocket, IpFamily, SocketState, StateSet, Transport};
use crate::sys::ProcFs;

/// The /proc/net table of an inet kind, for TCP, UDP and raw sockets.
pub fn table_path(transport: Transport, family: IpFamily) -> Option<&'static Path> {
    Some(Path::new(match (transport, family) {
        (Transport::Tcp, IpFamily::Inet) => "/proc/thread-self/net/tcp",
        (Transport::Tcp, IpFamily::Inet6) => "/proc/thread-self/net/tcp6",
        (Transport::Udp, IpFamily::Inet) => "/proc/thread-self/net/udp",
        (Transport::Udp, IpFamily::Inet6) => "/proc/thread-self/net/udp6",
        (Transport::Raw, IpFamily::Inet) => "/proc/thread-self/net/raw",
        (Transport::Raw, IpFamily::Inet6) => "/proc/thread-self/net/raw6",
        (Transport::Mptcp | Transport::Dccp | Transport::Sctp, _) => return None,
    }))
}

/// Reads one /proc/net table and keeps the sockets in `states`.
pub fn read_table(
    proc: &dyn ProcFs,
    transport: Transport,
    family: IpFamily,
    states: StateSet,
) -> Result<Vec<InetSocket>> {
    let path = table_path(transport, family)
        .with_context(|| format!("{} sockets have no /proc/net table", transport.as_str()))?;
    let text = proc.read_text(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sockets = parse_table(text.as_bytes(), transport, family)
        .with_context(|| format!("cannot parse {}", path.display()))?;
    Ok(sockets.into_iter().filter(|s| states.contains(s.state)).collect())
}

/// Parses the text of a /proc/net table.
pub fn parse_table(
    text: impl BufRead,
    transport: Transport,
    family: IpFamily,
) -> Result<Vec<InetSocket>> {
    let info = ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    };
    let entries: Vec<Entry> = match transport {
        Transport::Tcp | Transport::Mptcp => TcpNetEntries::from_buf_read(text, &info)?
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
        Transport::Udp | Transport::Raw | Transport::Dccp | Transport::Sctp => {
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
    Ok(entries.into_iter().filter_map(|entry| entry.into_socket(transport, family)).collect())
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
    fn into_socket(self, transport: Transport, family: IpFamily) -> Option<InetSocket> {
        let state = SocketState::from_kernel(self.state)?;
        Some(InetSocket {
            recv_q: self.queues.0,
            send_q: self.queues.1,
            local: InetEnd::new(self.local.ip(), self.local.port()),
            peer: InetEnd::new(self.peer.ip(), self.peer.port()),
            uid: (state != SocketState::TimeWait).then_some(self.uid),
            inode: u32::try_from(self.inode).ok().filter(|i| *i != 0),
            ..InetSocket::new(transport, family, state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in ["header\n0: zz:1 00000000:0000 0A", "header\n0: 0100007F:0016", "header\n0:"] {
            assert!(
                parse_table(text.as_bytes(), Transport::Tcp, IpFamily::Inet).is_err(),
                "{text}"
            );
        }
        assert!(
            parse_table("header only\n".as_bytes(), Transport::Udp, IpFamily::Inet6)
                .unwrap()
                .is_empty()
        );
    }
}
