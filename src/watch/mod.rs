//! `portwatch watch`: what changed between two listings. The [`Tracker`]
//! holds the sockets of the last poll, each under its listener identity
//! ([`ListenerKey`]: namespace, protocol, address, port, interface) and the
//! kernel's cookie (or the inode), so a service restarted on the same port
//! is the close of one socket and the open of another with the same
//! identity, and SO_REUSEPORT siblings are told apart.
//!
//! A close the kernel announces (a sock_diag destroy event) ends its socket
//! at once; its cookie is remembered, so that a poll taken just before the
//! close and read just after it does not open the socket again.

pub mod collector;
pub mod exec;
pub mod history;
pub mod terminal;
pub mod watcher;

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::model::Instance;
use crate::model::Socket;

/// Cookies of announced closes kept: far more than the closes one poll can
/// straddle, and bounded on a host that closes sockets all day.
const CLOSED_COOKIES_KEPT: usize = 65_536;

/// The sockets seen at the last poll.
#[derive(Debug, Default)]
pub struct Tracker {
    held: BTreeMap<Instance, Socket>,
    announced: HashSet<u64>,
    announced_order: VecDeque<u64>,
}

/// What one poll changed: the sockets gone (as they were when they opened)
/// and the new ones (without owners yet), each in identity order.
#[derive(Debug, Default)]
pub struct Changes {
    pub closed: Vec<Socket>,
    pub opened: Vec<Socket>,
}

impl Tracker {
    /// A tracker holding `sockets`: the state the first changes are
    /// measured against.
    pub fn new(sockets: Vec<Socket>) -> Tracker {
        Tracker { held: sockets.into_iter().filter_map(keyed).collect(), ..Tracker::default() }
    }

    /// The sockets held now, in identity order.
    pub fn current(&self) -> impl Iterator<Item = &Socket> {
        self.held.values()
    }

    /// Takes a new poll's sockets; returns what changed since the last.
    pub fn update(&mut self, sockets: Vec<Socket>) -> Changes {
        let mut now: BTreeMap<Instance, Socket> = sockets
            .into_iter()
            .filter_map(keyed)
            .filter(|((_, instance), _)| !self.announced.contains(instance))
            .collect();
        let mut changes = Changes::default();
        let gone: Vec<Instance> =
            self.held.keys().filter(|instance| !now.contains_key(*instance)).cloned().collect();
        for instance in gone {
            changes.closed.extend(self.held.remove(&instance));
        }
        let new: Vec<Instance> =
            now.keys().filter(|instance| !self.held.contains_key(*instance)).cloned().collect();
        for instance in new {
            changes.opened.extend(now.remove(&instance));
        }
        changes
    }

    /// Ends the held socket the kernel announced the close of (by its
    /// cookie); the socket as it was held, or None when it was not held
    /// (not selected, or opened and closed between two polls).
    pub fn announced_close(&mut self, destroyed: &Socket) -> Option<Socket> {
        let cookie = destroyed.as_inet()?.cookie?;
        if self.announced_order.len() >= CLOSED_COOKIES_KEPT {
            if let Some(oldest) = self.announced_order.pop_front() {
                self.announced.remove(&oldest);
            }
        }
        if self.announced.insert(cookie) {
            self.announced_order.push_back(cookie);
        }
        let instance = self.held.keys().find(|(_, instance)| *instance == cookie)?.clone();
        self.held.remove(&instance)
    }

    /// Keeps the opened sockets, now with their owners, for their close.
    pub fn hold(&mut self, opened: &[Socket]) {
        self.held.extend(opened.iter().cloned().filter_map(keyed));
    }
}

fn keyed(socket: Socket) -> Option<(Instance, Socket)> {
    Some((socket.instance()?, socket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InetSocket, IpFamily, SocketState, Transport};

    fn listener(port: u16, cookie: u64) -> Socket {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
        socket.local.port = port;
        socket.cookie = Some(cookie);
        Socket::Inet(socket)
    }

    fn ports(sockets: &[Socket]) -> Vec<(u16, Option<u64>)> {
        sockets.iter().filter_map(Socket::as_inet).map(|s| (s.local.port, s.cookie)).collect()
    }

    #[test]
    fn listeners_present_at_the_start_are_no_event() {
        let mut tracker = Tracker::new(vec![listener(22, 1)]);
        let changes = tracker.update(vec![listener(22, 1)]);
        assert!(changes.opened.is_empty() && changes.closed.is_empty());
    }

    #[test]
    fn a_restart_on_the_same_port_is_a_close_and_an_open() {
        let mut tracker = Tracker::new(vec![listener(8080, 1)]);
        let changes = tracker.update(vec![listener(8080, 2), listener(9090, 3)]);
        assert_eq!(ports(&changes.closed), [(8080, Some(1))]);
        assert_eq!(ports(&changes.opened), [(8080, Some(2)), (9090, Some(3))]);
        tracker.hold(&changes.opened);
        let changes = tracker.update(vec![listener(9090, 3)]);
        assert_eq!(ports(&changes.closed), [(8080, Some(2))]);
        assert!(changes.opened.is_empty());
        let changes = tracker.update(Vec::new());
        assert_eq!(ports(&changes.closed), [(9090, Some(3))]);
    }

    #[test]
    fn an_announced_close_ends_the_socket_and_a_late_poll_does_not_reopen_it() {
        let mut tracker = Tracker::new(vec![listener(8080, 1), listener(9090, 2)]);
        let closed = tracker.announced_close(&listener(8080, 1));
        assert_eq!(ports(closed.as_slice()), [(8080, Some(1))]);
        assert!(tracker.announced_close(&listener(7070, 5)).is_none());
        let changes = tracker.update(vec![listener(8080, 1), listener(9090, 2)]);
        assert!(changes.opened.is_empty() && changes.closed.is_empty(), "{changes:?}");
        assert_eq!(tracker.current().count(), 1);
    }
}
