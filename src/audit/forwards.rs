//! The audit's judgement of port forwards (dnat, redirect): a forward to a
//! sensitive port is that port's exposure, graded by what the forward path
//! of the firewall lets through; a forward to a port of this host that
//! nothing listens on dangles; a forward that takes every source is worth
//! tightening; and a forward the input rules would block but the forward
//! path lets through bypasses the host's firewall (ufw and Docker).

use std::net::IpAddr;

use super::rules::{about, deciding_rule, firewall_grade, port_rule};
use crate::model::Transport;
use crate::model::audit::{BindScope, Finding, Listener};
use crate::model::firewall::{FirewallExposure, Forward, Verdict};

/// A forward, and what the input chains would do to a connection for its
/// port were it not forwarded (when the ruleset was evaluated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub forward: Forward,
    pub input: Option<FirewallExposure>,
}

/// With `--all-netns`: hands each listener the forwards that send to it,
/// a listener of a namespace holding a forward's target address on its
/// target port (`namespaces`: each namespace's inode and addresses).
pub fn join(listeners: &mut [Listener], forwards: &[Judged], namespaces: &[(u64, Vec<IpAddr>)]) {
    for listener in listeners {
        let socket = &listener.socket;
        let Some(inode) = socket.netns.as_ref().map(|label| label.inode) else { continue };
        let Some((_, addresses)) = namespaces.iter().find(|(candidate, _)| *candidate == inode)
        else {
            continue;
        };
        let sending: Vec<Forward> = forwards
            .iter()
            .map(|judged| &judged.forward)
            .filter(|forward| {
                let target = forward.to.addr.as_deref().and_then(|addr| addr.parse().ok());
                target.is_some_and(|addr: IpAddr| {
                    addresses.contains(&addr)
                        && target_port(forward) == Some(socket.local.port)
                        && transport(forward) == socket.netid
                        && (listener.exposure.bind == BindScope::Wildcard
                            || socket.local.addr == addr)
                })
            })
            .cloned()
            .collect();
        listener.exposure.forwards = sending;
    }
}

/// The findings about `forwards`, given the `listeners` (those of the
/// `others` namespaces, with `--all-netns`, are not this host's) and this
/// namespace's own addresses.
pub fn check(
    forwards: &[Judged],
    listeners: &[Listener],
    own: &[IpAddr],
    others: &[(u64, Vec<IpAddr>)],
) -> Vec<Finding> {
    let elsewhere = |listener: &&Listener| {
        let inode = listener.socket.netns.as_ref().map(|label| label.inode);
        inode.is_some_and(|inode| others.iter().any(|(other, _)| *other == inode))
    };
    let listeners: Vec<Listener> =
        listeners.iter().filter(|listener| !elsewhere(listener)).cloned().collect();
    let listeners = listeners.as_slice();
    let mut findings = Vec::new();
    for judged in forwards {
        let forward = &judged.forward;
        findings.extend(sensitive_target(forward));
        findings.extend(dangling(forward, listeners, own));
        findings.extend(open_to_all(forward));
        findings.extend(bypass(forward, judged.input.as_ref()));
    }
    findings
}

/// Blocked on the way in, let through on the way through: the published
/// port ufw does not guard.
fn bypass(forward: &Forward, input: Option<&FirewallExposure>) -> Option<Finding> {
    let input = input.filter(|input| input.verdict == Verdict::Blocked)?;
    let through = forward.firewall.as_ref()?;
    if !matches!(through.verdict, Verdict::Open | Verdict::OpenRateLimited | Verdict::Restricted) {
        return None;
    }
    let (from, to) = describe(forward);
    let port = forward.ports.first().map_or(0, |ports| ports.first);
    let why = format!(
        "this host's input rules block {from} ({}), but the forward to {to} takes it through the \
         forward path, which lets it in from {}{}: the input firewall (ufw, firewalld) never sees \
         these connections",
        input.rule.as_ref().map_or_else(|| "policy".to_owned(), |rule| rule.text.clone()),
        through.sources.join(", "),
        deciding_rule(through),
    );
    let proto = forward.proto.as_deref().unwrap_or("tcp");
    let remedy = format!(
        "block it where forwarded connections pass: for Docker, `iptables -I DOCKER-USER -p \
         {proto} -m conntrack --ctorigdstport {port} -j DROP` (then accept the sources meant to \
         reach it before that rule), or publish the port on 127.0.0.1 only; for nftables, a drop \
         in a forward-hook chain (`meta l4proto {proto} ct original proto-dst {port} drop`)"
    );
    let mut found = with(forward, about("forward-bypasses-input-firewall", why, remedy));
    firewall_grade(&mut found, Some(through));
    Some(found)
}

fn with(forward: &Forward, finding: Finding) -> Finding {
    Finding { forward: Some(forward.clone()), ..finding }
}

/// The port a forward sends to: its target's first port, or (when it keeps
/// the port) the first it takes.
fn target_port(forward: &Forward) -> Option<u16> {
    match forward.to.ports {
        Some(ports) => Some(ports.first),
        None => forward.ports.first().map(|ports| ports.first),
    }
}

fn transport(forward: &Forward) -> Transport {
    match forward.proto.as_deref() {
        Some("udp") => Transport::Udp,
        _ => Transport::Tcp,
    }
}

/// `tcp *:6380 from 0.0.0.0/0` and `10.0.0.3:6379`, for messages.
fn describe(forward: &Forward) -> (String, String) {
    let ports: Vec<String> = forward.ports.iter().map(ToString::to_string).collect();
    let addresses = match forward.destinations.is_empty() {
        true => "*".to_owned(),
        false => forward.destinations.join(","),
    };
    let from = format!(
        "{} {addresses}:{} from {}",
        forward.proto.as_deref().unwrap_or("any"),
        ports.join(","),
        forward.sources.join(", ")
    );
    let port = target_port(forward).map_or_else(|| "=".to_owned(), |port| port.to_string());
    let to = match (&forward.to.addr, &forward.container) {
        (Some(addr), Some(container)) => format!("{addr}:{port} (container {})", container.label()),
        (Some(addr), None) => format!("{addr}:{port}"),
        (None, _) => format!("this host's port {port}"),
    };
    (from, to)
}

fn sensitive_target(forward: &Forward) -> Option<Finding> {
    if forward.firewall.as_ref().is_some_and(|firewall| firewall.verdict == Verdict::LocalOnly) {
        return None;
    }
    let port = target_port(forward)?;
    let (id, service) = port_rule(transport(forward), port)?;
    let (from, to) = describe(forward);
    let why = format!("{service} at {to} is reached through a forward of {from}");
    let remedy = format!(
        "remove the forward ({}: `{}`) or restrict it to the sources meant to reach {service}; \
         for a container, publish the port on 127.0.0.1 only (`-p 127.0.0.1:{port}:{port}`)",
        forward.rule.chain, forward.rule.text
    );
    let mut found = with(forward, about(id, why, remedy));
    firewall_grade(&mut found, forward.firewall.as_ref());
    Some(found)
}

/// A forward to this host (a redirect, or a dnat to one of its addresses)
/// whose target port no listener holds. Targets elsewhere (a container, a
/// second host) are not judged here.
fn dangling(forward: &Forward, listeners: &[Listener], own: &[IpAddr]) -> Option<Finding> {
    let port = target_port(forward)?;
    let target: Option<IpAddr> = match &forward.to.addr {
        Some(addr) => Some(addr.parse().ok()?),
        None if forward.kind == "redirect" => None,
        None => return None,
    };
    if target.is_some_and(|addr| !addr.is_loopback() && !own.contains(&addr)) {
        return None;
    }
    let transport = transport(forward);
    let held = listeners.iter().any(|listener| {
        let socket = &listener.socket;
        socket.netid == transport
            && socket.local.port == port
            && (target.is_none()
                || listener.exposure.bind == BindScope::Wildcard
                || target == Some(socket.local.addr))
    });
    if held {
        return None;
    }
    let (from, to) = describe(forward);
    let why = format!("the forward of {from} sends to {to}, where nothing listens");
    let remedy = format!(
        "remove the forward if its service is gone ({}: `{}`), or start what should listen on {port}",
        forward.rule.chain, forward.rule.text
    );
    Some(with(forward, about("dangling-forward", why, remedy)))
}

fn open_to_all(forward: &Forward) -> Option<Finding> {
    let everyone = forward.sources.iter().all(|prefix| prefix == "0.0.0.0/0" || prefix == "::/0");
    let any_interface = forward.interfaces.iter().all(|name| name.starts_with('!'));
    let open = forward.firewall.as_ref().is_none_or(|firewall| {
        matches!(firewall.verdict, Verdict::Open | Verdict::OpenRateLimited | Verdict::Unknown)
    });
    if forward.kind != "dnat" || !everyone || !any_interface || !open {
        return None;
    }
    let (from, to) = describe(forward);
    let why = format!("the forward of {from} to {to} takes every source on every interface");
    let remedy = format!(
        "restrict its sources in the rule ({}: `{}`), e.g. with `ip saddr 192.0.2.0/24`, or for \
         Docker in the DOCKER-USER chain (`iptables -I DOCKER-USER ! -s 192.0.2.0/24 -j DROP`)",
        forward.rule.chain, forward.rule.text
    );
    Some(with(forward, about("forward-open-to-all", why, remedy)))
}
