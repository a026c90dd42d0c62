//! What the ruleset does to a connection a forward takes: it never meets
//! the input chains (ufw's, firewalld's), but prerouting's filter chains
//! and the forward chains (Docker's DOCKER-USER and DOCKER among them),
//! which see the dnat's destination. And, for comparison, what the input
//! chains would do to a connection for the same port of this host.

use std::net::IpAddr;

use super::eval::{self, Forwarded, Probe};
use super::ruleset::Ruleset;
use super::verdict::{Class, classify, destination_classes, interface_classes, summarize, unknown};
use crate::model::firewall::{FirewallExposure, Forward};

/// The forward path's answer for the connections `forward` takes, leaving
/// by `out_interface` (the route to its target, where known).
pub fn judge_forward(
    ruleset: &Ruleset,
    forward: &Forward,
    out_interface: Option<String>,
) -> FirewallExposure {
    let Some((v4, protocol, port)) = basics(forward) else {
        return unknown("a forward without a port".into());
    };
    if forward.kind == "redirect" {
        return unknown("a redirect ends on this host: its listener's verdict applies".into());
    }
    let Some(target) = forward.to.addr.as_deref().and_then(|addr| addr.parse::<IpAddr>().ok())
    else {
        return unknown("the forward's destination was not read".into());
    };
    let forwarded = Forwarded {
        destination: target,
        port: forward.to.ports.map_or(port, |ports| ports.first),
        out_interface,
    };
    judge(ruleset, forward, v4, protocol, port, Some(forwarded))
}

/// What the input chains would do to a new connection for the forward's
/// first port on this host, from the interfaces the forward takes.
pub fn judge_input(ruleset: &Ruleset, forward: &Forward) -> FirewallExposure {
    match basics(forward) {
        Some((v4, protocol, port)) => judge(ruleset, forward, v4, protocol, port, None),
        None => unknown("a forward without a port".into()),
    }
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
            let regions = classify(eval::evaluate(ruleset, &probe));
            Class { interface, destination: *destination, regions }
        })
        .collect();
    if classes.is_empty() {
        return unknown("the forward takes no interface the ruleset names".into());
    }
    summarize(&classes, v4)
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
