//! What the ruleset does to a connection a forward takes: it never meets
//! the input chains (ufw's, firewalld's), but prerouting's filter chains
//! and the forward chains (Docker's DOCKER-USER and DOCKER among them),
//! which see the dnat's destination. And, for comparison, what the input
//! chains would do to a connection for the same port of this host.

use std::net::IpAddr;

use super::eval::{self, Forwarded, Probe};
use super::ruleset::{ChainKind, Ruleset};
use super::space::{self, Intervals, address_universe};
use super::verdict::{Class, classify, destination_classes, interface_classes, summarize, unknown};
use crate::model::firewall::{FirewallExposure, Forward, Verdict};

/// Judges forwards against one ruleset: the forward path as it is, and
/// the input path without the nat chains (what the input rules would do
/// to a connection were it not forwarded, or once a forward has brought
/// it to this host).
pub struct ForwardJudge<'r> {
    ruleset: &'r Ruleset,
    without_nat: Ruleset,
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
        ForwardJudge { ruleset, without_nat }
    }

    /// The answer for the connections `forward` takes: through the forward
    /// path, leaving by `out_interface` (the route to its target, where
    /// known); or, for a target on this host (a redirect, one of `own`
    /// addresses), the input path to the target port.
    pub fn forward(
        &self,
        forward: &Forward,
        out_interface: Option<String>,
        own: &[IpAddr],
    ) -> FirewallExposure {
        let Some((v4, protocol, port)) = basics(forward) else {
            return unknown("a forward without a port".into());
        };
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
                judge(self.ruleset, forward, v4, protocol, port, Some(forwarded))
            }
            _ => judge(&self.without_nat, forward, v4, protocol, target_port, None),
        }
    }

    /// What the input chains would do to a new connection for the
    /// forward's first port on this host, were it not forwarded.
    pub fn input(&self, forward: &Forward) -> FirewallExposure {
        match basics(forward) {
            Some((v4, protocol, port)) => {
                judge(&self.without_nat, forward, v4, protocol, port, None)
            }
            None => unknown("a forward without a port".into()),
        }
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

fn basics(forward: &Forward) -> Option<(bool, u8, u16)> {
    let protocol = match forward.proto.as_deref() {
        Some("udp") => 17,
        Some("sctp") => 132,
        _ => 6,
    };
    let port = forward.ports.first()?.first;
    Some((forward.family == "inet", protocol, port))
}

fn judge(
    ruleset: &Ruleset,
    forward: &Forward,
    v4: bool,
    protocol: u8,
    port: u16,
    forwarded: Option<Forwarded>,
) -> FirewallExposure {
    let destinations = destination_classes(ruleset, v4, protocol);
    let Some(destination) =
        destinations.iter().find(|destination| !destination.named).or(destinations.first())
    else {
        return unknown("no destination address to judge".into());
    };
    let classes: Vec<Class> = interface_classes(ruleset)
        .into_iter()
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
            let sources = sources(forward, v4);
            let regions = classify(eval::evaluate_from(ruleset, &probe, sources));
            Class { interface, destination: *destination, regions }
        })
        .collect();
    if classes.is_empty() {
        return unknown("the forward takes no interface the ruleset names".into());
    }
    summarize(&classes, v4)
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
