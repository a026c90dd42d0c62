//! The audit's judgement of port forwards (dnat, redirect): a forward to a
//! sensitive port is that port's exposure, graded by what the forward path
//! of the firewall lets through; a forward to a port of this host that
//! nothing listens on dangles; a forward that takes every source is worth
//! tightening; and a forward the input rules would block but the forward
//! path lets through bypasses the host's firewall (ufw and Docker).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::rules::{about, deciding_rule, firewall_grade, port_rule, port_rule_ports};
pub use crate::firewall::forward_path::{Judged, PortAnswer};
use crate::model::Transport;
use crate::model::audit::{BindScope, Finding, Listener};
use crate::model::firewall::{FirewallExposure, Forward, Verdict};

/// The ports of `forward` worth judging for the port rules: for a forward
/// that keeps the port, the first port it takes of each range some port
/// rule names. (One that sends to a single port is judged at that port's
/// representatives anyway.)
pub fn sensitive_ports(forward: &Forward) -> Vec<u16> {
    let Some(transport) = transport(forward) else { return Vec::new() };
    if forward.to.ports.is_some() {
        return Vec::new();
    }
    port_rule_ports(transport)
        .filter_map(|service| {
            forward.ports.iter().find_map(|taken| {
                let first = (*service.start()).max(taken.first);
                (first <= (*service.end()).min(taken.last)).then_some(first)
            })
        })
        .collect()
}

/// With `--all-netns`: hands each listener the forwards that send to it,
/// a listener of the one namespace holding a forward's target address, on
/// a port the forward sends to (`namespaces`: each namespace's inode and
/// addresses). Loopback targets, and addresses several namespaces hold,
/// name no namespace.
pub fn join(listeners: &mut [Listener], forwards: &[Judged], namespaces: &[(u64, Vec<IpAddr>)]) {
    let holder = |addr: IpAddr| {
        let mut holders = namespaces.iter().filter(|(_, addresses)| addresses.contains(&addr));
        match (holders.next(), holders.next()) {
            (Some((inode, _)), None) if !addr.is_loopback() => Some(*inode),
            _ => None,
        }
    };
    for listener in listeners {
        let socket = &listener.socket;
        let Some(inode) = socket.netns.as_ref().map(|label| label.inode) else { continue };
        let sending: Vec<Forward> = forwards
            .iter()
            .map(|judged| &judged.forward)
            .filter(|forward| {
                let target = forward.to.addr.as_deref().and_then(|addr| addr.parse().ok());
                target.is_some_and(|addr: IpAddr| {
                    holder(addr) == Some(inode)
                        && sends_to_port(forward, socket.local.port)
                        && transport(forward) == Some(socket.netid)
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
        findings.extend(sensitive_targets(judged));
        findings.extend(dangling(forward, listeners, own));
        findings.extend(open_to_all(forward));
        findings.extend(bypass(judged));
    }
    findings
}

/// Blocked on the way in, let through on the way through: the published
/// port ufw does not guard. The first port judged that is.
fn bypass(judged: &Judged) -> Option<Finding> {
    let forward = &judged.forward;
    let PortAnswer { port, through, input } = judged.answers.iter().find(|answer| {
        answer.input.verdict == Verdict::Blocked
            && matches!(
                answer.through.verdict,
                Verdict::Open | Verdict::OpenRateLimited | Verdict::Restricted
            )
    })?;
    let (from, to) = describe(forward, target_port_of(forward, *port));
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
    forward.ports.first().map(|ports| target_port_of(forward, ports.first))
}

/// The port a forward sends a connection for `port` to.
fn target_port_of(forward: &Forward, port: u16) -> u16 {
    forward.to.ports.map_or(port, |ports| ports.first)
}

/// Whether `forward` sends connections to `port` (of its target).
fn sends_to_port(forward: &Forward, port: u16) -> bool {
    match forward.to.ports {
        Some(ports) => ports.contains(port),
        None => forward.ports.iter().any(|taken| taken.contains(port)),
    }
}

/// The transport of the forward's connections, as a listener's: a forward
/// of any protocol takes TCP's among them; SCTP's and others' none.
fn transport(forward: &Forward) -> Option<Transport> {
    match forward.proto.as_deref() {
        Some("udp") => Some(Transport::Udp),
        Some("tcp") | None => Some(Transport::Tcp),
        Some(_) => None,
    }
}

/// `tcp *:6380 from 0.0.0.0/0` and `10.0.0.3:6379` (the target at
/// `target_port`), for messages.
fn describe(forward: &Forward, target_port: u16) -> (String, String) {
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
    let port = target_port;
    let to = match (&forward.to.addr, &forward.container) {
        (Some(addr), Some(container)) => format!("{addr}:{port} (container {})", container.label()),
        (Some(addr), None) => format!("{addr}:{port}"),
        (None, _) => format!("this host's port {port}"),
    };
    (from, to)
}

/// The port rules' findings about the forward's target: one per rule,
/// naming each of its services among the ports judged, graded by the most
/// exposed of their answers.
fn sensitive_targets(judged: &Judged) -> Vec<Finding> {
    let forward = &judged.forward;
    let Some(transport) = transport(forward) else { return Vec::new() };
    let mut by_rule: BTreeMap<&str, Vec<(&str, u16, &FirewallExposure)>> = BTreeMap::new();
    for answer in &judged.answers {
        let port = target_port_of(forward, answer.port);
        if let Some((id, service)) = port_rule(transport, port) {
            let services = by_rule.entry(id).or_default();
            if !services.iter().any(|(_, seen, _)| *seen == port) {
                services.push((service, port, &answer.through));
            }
        }
    }
    by_rule
        .into_iter()
        .filter_map(|(id, services)| {
            let exposure =
                services.iter().map(|(_, _, exposure)| *exposure).max_by_key(|e| e.verdict)?;
            (exposure.verdict != Verdict::LocalOnly)
                .then(|| sensitive_target(forward, id, &services, exposure))
        })
        .collect()
}

fn sensitive_target(
    forward: &Forward,
    id: &str,
    services: &[(&str, u16, &FirewallExposure)],
    exposure: &FirewallExposure,
) -> Finding {
    let (_, port, _) = services[0];
    let (from, to) = describe(forward, port);
    let names: Vec<String> = match services.len() {
        1 => vec![services[0].0.to_owned()],
        _ => services.iter().map(|(service, port, _)| format!("{service} ({port})")).collect(),
    };
    let service = names.join(", ");
    let why = format!("{service} at {to} is reached through a forward of {from}");
    let remedy = format!(
        "remove the forward ({}: `{}`) or restrict it to the sources meant to reach {service}; \
         for a container, publish the port on 127.0.0.1 only (`-p 127.0.0.1:{port}:{port}`)",
        forward.rule.chain, forward.rule.text
    );
    let mut found = with(forward, about(id, why, remedy));
    firewall_grade(&mut found, Some(exposure));
    found
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
    let transport = transport(forward)?;
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
    let (from, to) = describe(forward, port);
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
    let (from, to) = describe(forward, target_port(forward)?);
    let why = format!("the forward of {from} to {to} takes every source on every interface");
    let remedy = format!(
        "restrict its sources in the rule ({}: `{}`), e.g. with `ip saddr 192.0.2.0/24`, or for \
         Docker in the DOCKER-USER chain (`iptables -I DOCKER-USER ! -s 192.0.2.0/24 -j DROP`)",
        forward.rule.chain, forward.rule.text
    );
    Some(with(forward, about("forward-open-to-all", why, remedy)))
}
