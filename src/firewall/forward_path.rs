//! What the ruleset does to a connection a forward takes: it never meets
//! the input chains (ufw's, firewalld's), but prerouting's filter chains
//! and the forward chains (Docker's DOCKER-USER and DOCKER among them),
//! which see the dnat's destination. And, for comparison, what the input
//! chains would do to a connection for the same port of this host.
//!
//! A forward of many ports is judged at the ports that stand for them all:
//! the first of each range and every port where one of the ruleset's port
//! matches begins or ends, and at the ports the caller asks about.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::eval::{self, Forwarded, Probe};
use super::ruleset::{ChainKind, Ruleset};
use super::space::{self, Intervals, address_universe};
use super::verdict::{
    Class, Destination, classify, destination_classes, interface_classes, port_bounds, summarize,
    unknown,
};
use crate::model::firewall::{FirewallExposure, Forward, Verdict};

/// Ports judged per forward at most.
const MAX_PORTS_JUDGED: usize = 64;

/// A forward with the firewall's answer at each port judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The forward; its `firewall` is the most exposed of `answers`.
    pub forward: Forward,
    pub answers: Vec<PortAnswer>,
}

/// What the firewall does to a forward's connections for one of its ports,
/// and what the input chains would do to them were they not forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortAnswer {
    /// The port the connections arrive for.
    pub port: u16,
    pub through: FirewallExposure,
    pub input: FirewallExposure,
}

/// Judges forwards against one ruleset: the forward path as it is, and
/// the input path without the nat chains (what the input rules would do
/// to a connection were it not forwarded, or once a forward has brought
/// it to this host).
pub struct ForwardJudge<'r> {
    with_nat: Path<'r>,
    without_nat: Path<'r>,
    /// Where the ruleset's port matches begin and end (a match of 80-89
    /// gives 80 and 90): ports between two of them fare alike.
    port_edges: BTreeSet<u16>,
}

/// One ruleset with what every probe of it needs, read once.
struct Path<'r> {
    ruleset: Cow<'r, Ruleset>,
    interfaces: Vec<Option<String>>,
    destinations: RefCell<HashMap<(bool, u8), Option<Destination>>>,
}

impl<'r> Path<'r> {
    fn new(ruleset: Cow<'r, Ruleset>) -> Path<'r> {
        let interfaces = interface_classes(&ruleset);
        Path { ruleset, interfaces, destinations: RefCell::new(HashMap::new()) }
    }

    /// The destination a probe stands at: one no rule names, if any.
    fn destination(&self, v4: bool, protocol: u8) -> Option<Destination> {
        *self.destinations.borrow_mut().entry((v4, protocol)).or_insert_with(|| {
            let destinations = destination_classes(&self.ruleset, v4, protocol);
            destinations
                .iter()
                .find(|destination| !destination.named)
                .or(destinations.first())
                .copied()
        })
    }
}

impl<'r> ForwardJudge<'r> {
    pub fn new(ruleset: &'r Ruleset) -> ForwardJudge<'r> {
        let chains = ruleset
            .chains
            .iter()
            .filter(|chain| chain.base.as_ref().is_none_or(|base| base.kind != ChainKind::Nat))
            .cloned()
            .collect();
        let without_nat = Ruleset { chains, sets: ruleset.sets.clone() };
        ForwardJudge {
            with_nat: Path::new(Cow::Borrowed(ruleset)),
            without_nat: Path::new(Cow::Owned(without_nat)),
            // Unreadable port matches leave the first ports and `also`.
            port_edges: port_bounds(ruleset)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|bound| u16::try_from(bound).ok())
                .collect(),
        }
    }

    /// `forward` judged at the ports that stand for all it takes, and at
    /// `also` (ports the caller cares about); its `firewall` becomes the
    /// most exposed answer. `out_interface` is the route to its target,
    /// where known; `own` are this host's addresses.
    pub fn judge(
        &self,
        mut forward: Forward,
        out_interface: Option<String>,
        own: &[IpAddr],
        also: &[u16],
    ) -> Judged {
        let answers: Vec<PortAnswer> = self
            .ports_to_judge(&forward, also)
            .into_iter()
            .map(|port| PortAnswer {
                port,
                through: self.through(&forward, port, out_interface.clone(), own),
                input: self.input(&forward, port),
            })
            .collect();
        let most_exposed = answers.iter().max_by_key(|answer| answer.through.verdict);
        forward.firewall = Some(match most_exposed {
            Some(answer) => answer.through.clone(),
            None => unknown("a forward without a port".into()),
        });
        Judged { forward, answers }
    }

    /// `also`'s ports within the forward's, the first port of each of its
    /// ranges, and each port edge within them: at most
    /// [`MAX_PORTS_JUDGED`], in that order.
    fn ports_to_judge(&self, forward: &Forward, also: &[u16]) -> Vec<u16> {
        let takes = |port: &u16| forward.ports.iter().any(|range| range.contains(*port));
        let mut ports: Vec<u16> = also.iter().copied().filter(takes).collect();
        ports.extend(forward.ports.iter().map(|range| range.first));
        for range in &forward.ports {
            ports.extend(self.port_edges.range(range.first..=range.last));
        }
        let mut seen = BTreeSet::new();
        ports.retain(|port| seen.insert(*port));
        ports.truncate(MAX_PORTS_JUDGED);
        ports
    }

    /// The answer for the connections `forward` takes for `port`: through
    /// the forward path, leaving by `out_interface`; or, for a target on
    /// this host (a redirect, one of `own` addresses), the input path to
    /// the target port.
    fn through(
        &self,
        forward: &Forward,
        port: u16,
        out_interface: Option<String>,
        own: &[IpAddr],
    ) -> FirewallExposure {
        let (v4, protocol) = basics(forward);
        if !forward.hooks.iter().any(|hook| hook == "prerouting") {
            return FirewallExposure {
                verdict: Verdict::LocalOnly,
                reason: Some("it takes this host's own connections only (the output hook)".into()),
                ..unknown(String::new())
            };
        }
        if takes_loopback_only(forward) {
            return FirewallExposure {
                verdict: Verdict::LocalOnly,
                reason: Some("it takes connections to a loopback address only".into()),
                ..unknown(String::new())
            };
        }
        let target_port = forward.to.ports.map_or(port, |ports| ports.first);
        let target = forward.to.addr.as_deref().map(str::parse::<IpAddr>);
        let target = match (target, forward.kind.as_str()) {
            (None, "redirect") => None,
            (Some(Ok(addr)), _) => Some(addr),
            _ => return unknown("the forward's destination was not read".into()),
        };
        match target {
            Some(addr) if !addr.is_loopback() && !own.contains(&addr) => {
                let forwarded = Forwarded { destination: addr, port: target_port, out_interface };
                probe(&self.with_nat, forward, v4, protocol, port, Some(forwarded))
            }
            _ => probe(&self.without_nat, forward, v4, protocol, target_port, None),
        }
    }

    /// What the input chains would do to a new connection for `port` on
    /// this host, were it not forwarded.
    fn input(&self, forward: &Forward, port: u16) -> FirewallExposure {
        let (v4, protocol) = basics(forward);
        probe(&self.without_nat, forward, v4, protocol, port, None)
    }
}

/// A forward whose destinations are all loopback prefixes (Docker's `-p
/// 127.0.0.1:PORT:PORT`): nothing from beyond the host can be sent to them.
fn takes_loopback_only(forward: &Forward) -> bool {
    let loopback = |prefix: &String| {
        let (addr, len) = prefix.split_once('/').unwrap_or((prefix, "128"));
        let addr: Option<IpAddr> = addr.parse().ok();
        let len: u8 = len.parse().unwrap_or(0);
        match addr {
            Some(IpAddr::V4(v4)) => v4.is_loopback() && len >= 8,
            Some(IpAddr::V6(v6)) => v6.is_loopback() && len == 128,
            None => false,
        }
    };
    !forward.destinations.is_empty() && forward.destinations.iter().all(loopback)
}

/// The forward's family (`true` for IPv4) and protocol number; a forward
/// for any protocol is probed as TCP.
fn basics(forward: &Forward) -> (bool, u8) {
    let protocol = match forward.proto.as_deref() {
        Some("udp") => 17,
        Some("sctp") => 132,
        _ => 6,
    };
    (forward.family == "inet", protocol)
}

/// The answer of `path` for new connections to `port` (or, when
/// `forwarded`, to where the dnat sends them) from the forward's sources on
/// the interfaces it takes.
fn probe(
    path: &Path<'_>,
    forward: &Forward,
    v4: bool,
    protocol: u8,
    port: u16,
    forwarded: Option<Forwarded>,
) -> FirewallExposure {
    let destination = taken_destination(forward, v4).or_else(|| path.destination(v4, protocol));
    let Some(destination) = destination else {
        return unknown("no destination address to judge".into());
    };
    let sources = sources(forward, v4);
    let classes: Vec<Class> = path
        .interfaces
        .iter()
        .filter(|interface| takes(forward, interface.as_deref()))
        .map(|interface| {
            let probe = Probe {
                v4,
                protocol,
                destination: destination.addr,
                port,
                interface: interface.clone(),
                forwarded: forwarded.clone(),
            };
            let regions = classify(eval::evaluate_from(&path.ruleset, &probe, sources.clone()));
            Class { interface: interface.clone(), destination, regions }
        })
        .collect();
    if classes.is_empty() {
        return unknown("the forward takes no interface the ruleset names".into());
    }
    summarize(&classes, v4)
}

/// The address a forward's connections come for, when it takes some
/// destinations only (`ip daddr 10.0.0.0/8`): the first address of its
/// first prefix, which rules before the dnat see.
fn taken_destination(forward: &Forward, v4: bool) -> Option<Destination> {
    let prefix = forward.destinations.iter().find(|prefix| !prefix.starts_with('!'))?;
    let addr = prefix.split_once('/').map_or(prefix.as_str(), |(addr, _)| addr);
    let addr: IpAddr = addr.parse().ok()?;
    (addr.is_ipv4() == v4).then_some(Destination { addr, named: true })
}

/// The sources the forward takes, back from its prefixes (`!` before one
/// it leaves out).
fn sources(forward: &Forward, v4: bool) -> Intervals {
    let prefix_of = |text: &str| {
        let (addr, len) = text.split_once('/')?;
        space::prefix(addr.parse().ok()?, len.parse().ok()?)
    };
    let (left_out, taken): (Vec<&String>, Vec<&String>) =
        forward.sources.iter().partition(|text| text.starts_with('!'));
    let mut set = match taken.is_empty() {
        true => address_universe(v4),
        false => {
            let mut set = Intervals::empty();
            taken.iter().filter_map(|text| prefix_of(text)).for_each(|prefix| set.add(prefix));
            set
        }
    };
    for text in left_out {
        if let Some(prefix) = prefix_of(&text[1..]) {
            set.remove(&prefix);
        }
    }
    set
}

/// Whether the forward takes connections arriving on `interface` (`None`:
/// one the ruleset never names).
fn takes(forward: &Forward, interface: Option<&str>) -> bool {
    let (kept_off, only): (Vec<&String>, Vec<&String>) =
        forward.interfaces.iter().partition(|name| name.starts_with('!'));
    let matches = |pattern: &str| eval::interface_matches(pattern, interface);
    if kept_off.iter().any(|name| matches(&name[1..])) {
        return false;
    }
    only.is_empty() || only.iter().any(|name| matches(name))
}
