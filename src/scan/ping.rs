//! `scan --ping` (nmap -sn): which of the named hosts are up, without root.
//! Each address gets a TCP connect to a few common ports, where any answer
//! (accepted or refused) shows a host is there, and an ICMP echo request
//! where the kernel lets this user send one: through an echo socket when
//! `net.ipv4.ping_group_range` (which covers IPv6 too) holds the user's
//! group, else through a raw socket with CAP_NET_RAW (root), as nmap does.
//! The first answer decides; only the named addresses are contacted.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::engine::{self, Attempt};
use super::targets::Target;
use crate::model::scan::{HostReason, Reason};

/// The ports nmap connects to when it may not send raw packets (80, 443),
/// and SSH's, which most Linux servers answer on.
pub const PROBE_PORTS: [u16; 3] = [80, 443, 22];

/// How long a host has to answer when `--timeout` does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How to ping.
#[derive(Clone, Debug)]
pub struct PingOptions {
    pub ports: Vec<u16>,
    pub timeout: Duration,
    /// Sockets at once, at most; each host takes one per port and one echo.
    pub parallelism: usize,
    pub max_time: Option<Duration>,
}

/// What one address answered, if anything.
#[derive(Clone, Debug)]
pub struct Pinged {
    pub target: Target,
    pub answer: Option<HostAnswer>,
}

/// The first answer a host gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostAnswer {
    pub reason: HostReason,
    /// The TCP port that answered; None for an echo reply.
    pub port: Option<u16>,
    pub rtt: Duration,
}

/// The hosts answered, in the order named, and what the user should know.
#[derive(Clone, Debug)]
pub struct PingOutcome {
    pub hosts: Vec<Pinged>,
    pub notes: Vec<String>,
    /// False when `max_time` cut it short (the hosts not asked are left out).
    pub complete: bool,
}

pub async fn ping(targets: Vec<Target>, options: &PingOptions) -> PingOutcome {
    let mut notes = Vec::new();
    let echo = match echo_kind(&targets) {
        Ok(kind) => Some(kind),
        Err(why) => {
            notes.push(why);
            None
        }
    };
    let per_host = options.ports.len() + usize::from(echo.is_some());
    let hosts_at_once = (options.parallelism / per_host.max(1)).max(1);
    let deadline = options.max_time.map(|bound| Instant::now() + bound);
    let mut answers: Vec<Option<Option<HostAnswer>>> = vec![None; targets.len()];
    let mut running = JoinSet::new();
    let mut queue = targets.iter().map(|t| t.address).enumerate();
    let mut complete = true;
    loop {
        while running.len() < hosts_at_once {
            let Some((index, address)) = queue.next() else { break };
            let (ports, timeout) = (options.ports.clone(), options.timeout);
            running.spawn(async move { (index, ping_host(address, &ports, timeout, echo).await) });
        }
        let joined = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(joined) => joined,
                Err(_) => {
                    complete = false;
                    break;
                }
            },
            None => running.join_next().await,
        };
        let Some(joined) = joined else { break };
        if let Ok((index, answer)) = joined {
            answers[index] = Some(answer);
        }
    }
    let hosts = targets
        .into_iter()
        .zip(answers)
        .filter_map(|(target, answer)| answer.map(|answer| Pinged { target, answer }))
        .collect();
    PingOutcome { hosts, notes, complete }
}

/// Every probe of one host at once; the first answer wins and the rest are
/// dropped with the set.
async fn ping_host(
    address: IpAddr,
    ports: &[u16],
    timeout: Duration,
    echo: Option<EchoKind>,
) -> Option<HostAnswer> {
    let mut probes: JoinSet<Option<HostAnswer>> = JoinSet::new();
    for &port in ports {
        probes.spawn(async move {
            match engine::connect(SocketAddr::new(address, port), timeout).await {
                Attempt::Answered(reason @ (Reason::SynAck | Reason::ConnRefused), rtt) => {
                    let reason = match reason {
                        Reason::SynAck => HostReason::SynAck,
                        _ => HostReason::ConnRefused,
                    };
                    Some(HostAnswer { reason, port: Some(port), rtt })
                }
                _ => None,
            }
        });
    }
    if let Some(kind) = echo {
        probes.spawn(async move {
            let rtt = echo_round_trip(kind, address, timeout).await.ok().flatten()?;
            Some(HostAnswer { reason: HostReason::EchoReply, port: None, rtt })
        });
    }
    while let Some(joined) = probes.join_next().await {
        if let Ok(Some(answer)) = joined {
            return Some(answer);
        }
    }
    None
}

/// How echo requests go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EchoKind {
    /// An ICMP echo socket: the kernel sets the identifier and checksum and
    /// hands this socket its replies alone.
    Datagram,
    /// A raw ICMP socket (CAP_NET_RAW): every ICMP packet comes in, IPv4's
    /// with its IP header, and replies are told apart by identifier.
    Raw,
}

impl EchoKind {
    fn socket_type(self) -> Type {
        match self {
            EchoKind::Datagram => Type::DGRAM,
            EchoKind::Raw => Type::RAW,
        }
    }
}

/// The kind of echo socket this user may open for every address family
/// among the targets; the reason for a note when neither.
fn echo_kind(targets: &[Target]) -> Result<EchoKind, String> {
    let families: Vec<(Domain, Protocol)> = [
        (targets.iter().any(|t| t.address.is_ipv4()), Domain::IPV4, Protocol::ICMPV4),
        (targets.iter().any(|t| t.address.is_ipv6()), Domain::IPV6, Protocol::ICMPV6),
    ]
    .into_iter()
    .filter(|(wanted, _, _)| *wanted)
    .map(|(_, domain, protocol)| (domain, protocol))
    .collect();
    let opens = |kind: EchoKind| {
        families.iter().all(|&(domain, protocol)| {
            Socket::new(domain, kind.socket_type().cloexec(), Some(protocol)).is_ok()
        })
    };
    [EchoKind::Datagram, EchoKind::Raw].into_iter().find(|&kind| opens(kind)).ok_or_else(|| {
        "no ICMP echo: net.ipv4.ping_group_range leaves out this user's group and raw \
         sockets need CAP_NET_RAW; hosts were asked by TCP connect only"
            .to_owned()
    })
}

/// Identifiers for raw echo requests, one per request in this process.
static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(0);

/// Sends an echo request, and a second one halfway through the timeout if
/// nothing came back; the round trip of the first reply.
async fn echo_round_trip(
    kind: EchoKind,
    address: IpAddr,
    timeout: Duration,
) -> io::Result<Option<Duration>> {
    let (domain, protocol, request, reply) = match address {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8, 0),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let socket = Socket::new(domain, kind.socket_type().nonblocking().cloexec(), Some(protocol))?;
    // Connected, the socket takes packets from this address alone.
    socket.connect(&SockAddr::from(SocketAddr::new(address, 0)))?;
    let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    let identifier = NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u16);
    let started = Instant::now();
    let mut buffer = [0u8; 1500];
    for sequence in 1u16..=2 {
        let mut message = [request, 0, 0, 0, 0, 0, 0, 0, b'p', b'w'];
        message[4..6].copy_from_slice(&identifier.to_be_bytes());
        message[6..8].copy_from_slice(&sequence.to_be_bytes());
        // The kernel sums ICMPv6 (over its pseudo-header) and echo
        // sockets' requests; a raw IPv4 request carries its own.
        if kind == EchoKind::Raw && address.is_ipv4() {
            let sum = internet_checksum(&message);
            message[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        socket.send(&message).await?;
        let wait_until = started + timeout.mul_f64(f64::from(sequence) / 2.0);
        loop {
            match tokio::time::timeout_at(wait_until, socket.recv(&mut buffer)).await {
                Err(_) => break,
                Ok(Err(_unreachable)) => return Ok(None),
                Ok(Ok(length)) => {
                    let received = buffer.get(..length).unwrap_or_default();
                    if is_reply(kind, address, received, reply, identifier) {
                        return Ok(Some(started.elapsed()));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// Whether a packet read from an echo socket is the reply to our request:
/// a raw socket sees every ICMP packet from the address (others' pings
/// too), with IPv4's header in front.
fn is_reply(kind: EchoKind, address: IpAddr, packet: &[u8], reply: u8, identifier: u16) -> bool {
    let message = match (kind, address) {
        (EchoKind::Raw, IpAddr::V4(_)) => {
            let header = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            packet.get(header..).unwrap_or_default()
        }
        _ => packet,
    };
    if message.len() < 8 || message[0] != reply {
        return false;
    }
    kind == EchoKind::Datagram || message[4..6] == identifier.to_be_bytes()
}

/// RFC 1071's ones'-complement sum.
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn an_accepted_connect_names_its_port() {
        let listener = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = ping_host(LOOPBACK, &[port], Duration::from_secs(1), None).await;
        assert_eq!(answer.map(|a| (a.reason, a.port)), Some((HostReason::SynAck, Some(port))));
    }

    #[tokio::test]
    async fn a_refused_connect_shows_the_host_is_up() {
        let port = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap().local_addr().unwrap().port();
        let answer = ping_host(LOOPBACK, &[port], Duration::from_secs(1), None).await;
        assert_eq!(answer.map(|a| (a.reason, a.port)), Some((HostReason::ConnRefused, Some(port))));
    }

    #[tokio::test]
    async fn every_named_host_is_reported_in_order() {
        let targets: Vec<Target> = ["127.0.0.1", "127.0.0.2"]
            .iter()
            .map(|a| Target { name: (*a).into(), address: a.parse().unwrap() })
            .collect();
        let options = PingOptions {
            ports: vec![1],
            timeout: Duration::from_secs(1),
            parallelism: 1,
            max_time: None,
        };
        let outcome = ping(targets.clone(), &options).await;
        assert!(outcome.complete);
        let named: Vec<_> = outcome.hosts.iter().map(|h| h.target.clone()).collect();
        assert_eq!(named, targets);
        assert!(outcome.hosts.iter().all(|h| h.answer.is_some()));
    }

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // An echo request with identifier 1 and sequence 1, no payload.
        assert_eq!(internet_checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
        assert_eq!(internet_checksum(&[0xff]), 0x00ff);
    }

    #[test]
    fn a_raw_socket_keeps_only_our_reply() {
        let v4 = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let mut packet = vec![0x45u8];
        packet.extend([0u8; 19]);
        packet.extend([0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(is_reply(EchoKind::Raw, v4, &packet, 0, 0x1234));
        assert!(!is_reply(EchoKind::Raw, v4, &packet, 0, 0x1235));
        assert!(!is_reply(EchoKind::Raw, v4, &packet[..24], 0, 0x1234));
        assert!(!is_reply(EchoKind::Raw, v4, &[0x4f], 0, 0x1234));
        assert!(is_reply(EchoKind::Datagram, v4, &packet[20..], 0, 0));
    }
}
