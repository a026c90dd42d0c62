//! Socket-destroy events (`-E`, as ss -E): the kernel broadcasts an
//! inet_diag message for each TCP or UDP socket it destroys to the
//! sock_diag multicast groups a listener subscribed to. Each message is
//! decoded as a dump's reply is, with the protocol taken from the message
//! itself (INET_DIAG_PROTOCOL).
//!
//! As ss does, the selection's protocols and families choose the groups,
//! the filter expression is run here on each socket, and the state words
//! are not applied: every destroyed socket is in the CLOSE state.

use std::time::Duration;

use anyhow::{Context, Result};

use super::netlink::{self, DiagError, Messages, RECV_BUFFER_LEN, Reply, SocketDecoder};
use super::{Outcome, Selection, Sink, SocketFilter};
use crate::model::{IpFamily, Netid, Socket};
use crate::sys::Os;

/// How long one wait for an event lasts before `stop` is asked again.
const TICK: Duration = Duration::from_millis(200);

/// The kernel's SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET_UDP_DESTROY,
/// SKNLGRP_INET6_TCP_DESTROY and SKNLGRP_INET6_UDP_DESTROY.
const DESTROY_GROUPS: [(Netid, IpFamily, u32); 4] = [
    (Netid::Tcp, IpFamily::Inet, 1),
    (Netid::Udp, IpFamily::Inet, 2),
    (Netid::Tcp, IpFamily::Inet6, 3),
    (Netid::Udp, IpFamily::Inet6, 4),
];

/// The multicast groups (as bind(2)'s `nl_groups` mask) that carry the
/// destroy events of the selected protocols and families; 0 when the
/// selection has neither TCP nor UDP.
pub fn destroy_groups(selection: &Selection) -> u32 {
    DESTROY_GROUPS
        .iter()
        .filter(|(netid, family, _)| {
            selection.netids.contains(netid) && selection.families.contains(family)
        })
        .fold(0, |mask, (_, _, group)| mask | 1 << (group - 1))
}

/// What a follower is told besides the sockets.
pub struct Follow<'a> {
    /// Asked at least every 200 ms: whether to stop.
    pub stop: &'a mut dyn FnMut() -> bool,
    /// Called after each event the kernel sent, whether or not its socket
    /// was selected (ss prints what it has at each event, so its header
    /// comes with the first event even when the filter drops it).
    pub after_event: &'a mut dyn FnMut() -> Result<()>,
}

/// Hands each selected socket the kernel destroys to `sink`, as it is
/// destroyed, until `follow.stop` says so.
pub fn follow(
    os: &Os<'_>,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    follow: &mut Follow<'_>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    let groups = destroy_groups(selection);
    if groups == 0 {
        anyhow::bail!("socket events (-E) are sent for TCP and UDP sockets only");
    }
    let mut events = os
        .sock_diag
        .subscribe(groups)
        .map_err(DiagError::Open)
        .context("cannot follow socket events")?;
    let decoder = selection.decoder();
    let mut buffer = vec![0u8; RECV_BUFFER_LEN];
    let mut outcome = Outcome::default();
    while !(follow.stop)() {
        let received = match events.recv(&mut buffer, TICK) {
            Ok(received) => received,
            // The kernel drops broadcasts a slow reader has no room for.
            Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                outcome.undecodable += 1;
                continue;
            }
            Err(error) => return Err(DiagError::Io(error)).context("cannot receive socket events"),
        };
        let Some(len) = received else { continue };
        if len > buffer.len() {
            outcome.undecodable += 1;
            continue;
        }
        for message in Messages::new(&buffer[..len]) {
            let Ok(message) = message else {
                outcome.undecodable += 1;
                break;
            };
            if let Reply::Socket(payload) = message.reply {
                outcome.received += 1;
                match decode(&decoder, payload) {
                    Some(socket) if wanted(selection, filter, &socket) => sink(socket)?,
                    Some(_) => {}
                    None => outcome.undecodable += 1,
                }
                (follow.after_event)()?;
            }
        }
    }
    Ok(outcome)
}

fn decode(decoder: &SocketDecoder, payload: &[u8]) -> Option<Socket> {
    let netid = netlink::inet_netid(payload)?;
    decoder.decode(netid, payload).ok().map(Socket::Inet)
}

/// ss's test for an event: the family, then the filter expression; states
/// are not looked at.
fn wanted(selection: &Selection, filter: Option<&SocketFilter>, socket: &Socket) -> bool {
    let Socket::Inet(inet) = socket else { return false };
    selection.families.contains(&inet.family)
        && selection.netids.contains(&socket.netid())
        && selection.wants_category(socket)
        && SocketFilter::matches(filter, socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StateSet;
    use crate::source::Extensions;

    fn selection(netids: &[Netid], families: &[IpFamily]) -> Selection {
        Selection {
            netids: netids.to_vec(),
            families: families.to_vec(),
            optional: Vec::new(),
            states: StateSet::all(),
            categories: Vec::new(),
            extensions: Extensions::default(),
            details: false,
        }
    }

    #[test]
    fn groups_follow_protocols_and_families() {
        let both = [IpFamily::Inet, IpFamily::Inet6];
        assert_eq!(destroy_groups(&selection(&[Netid::Udp, Netid::Tcp], &both)), 0b1111);
        assert_eq!(destroy_groups(&selection(&[Netid::Tcp], &both)), 0b0101);
        assert_eq!(destroy_groups(&selection(&[Netid::Udp], &[IpFamily::Inet6])), 0b1000);
        assert_eq!(destroy_groups(&selection(&Netid::UNIX, &both)), 0);
    }
}
