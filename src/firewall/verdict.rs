//! From where each source's connection ends to one answer per listener:
//! open, open-rate-limited, restricted, blocked, local-only or unknown,
//! with the sources it is open to and the rule that decides.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use super::eval::{self, Ending, Endings, Evaluation, Probe, RuleSpot};
use super::ruleset::{Action, Key, Match, Ruleset, SetContents, Values, VerdictMapRef};
use super::space::{Intervals, address_text, address_universe, as_prefixes};
use crate::model::audit::{BindScope, Exposure};
use crate::model::firewall::{FirewallExposure, FirewallRule, Verdict};
use crate::model::{InetSocket, IpFamily, Transport};

/// The reason an open listener gives when nothing filters the way in.
pub const NO_FIREWALL: &str = "no firewall: no chain filters the way in";
/// The reason when only accept policies let a connection in.
pub const POLICY_ACCEPTS: &str = "no rule admits it: the policies accept";

/// Source prefixes listed before the rest is counted.
const SOURCES_SHOWN: usize = 16;
/// Interfaces and destinations evaluated apart, each at most.
const CLASSES_LIMIT: usize = 16;

/// The firewall as far as it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firewall {
    Read(Ruleset),
    /// Not read, and why (no root, no nft, a legacy table unreadable).
    Unreadable(String),
}

/// The answer for one source region of one arrival class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Region {
    sources: Intervals,
    kind: Verdict,
    rule: Option<RuleSpot>,
    construct: Option<String>,
}

/// How a listener fares: `local-only` without evaluation when bound to
/// loopback; otherwise each family it accepts, combined.
/// One listener's answer; [`Judge`] answers many.
pub fn judge(firewall: &Firewall, socket: &InetSocket, exposure: &Exposure) -> FirewallExposure {
    Judge::new(firewall.clone()).judge(socket, exposure)
}

/// Judges many listeners against one firewall, walking each distinct probe
/// once: listeners on ports no rule tells apart (most of them, behind a
/// default drop) share one walk, and the interfaces and destinations the
/// ruleset names are gathered once.
pub struct Judge {
    firewall: Firewall,
    interfaces: Vec<Option<String>>,
    /// Where the ruleset's destination-port matches start and end; `None`
    /// when one cannot be known (then every port is walked on its own).
    port_bounds: Option<Vec<u128>>,
    destinations: RefCell<HashMap<(bool, u8), Vec<Destination>>>,
    /// Answers kept, not the walks' regions: a blocklist's walk holds
    /// megabytes, its answer a few strings.
    answers: RefCell<HashMap<AnswerKey, FirewallExposure>>,
}

/// What a family's answer depends on: the port only by the part of the
/// port space it falls in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AnswerKey {
    v4: bool,
    protocol: u8,
    destinations: Vec<Destination>,
    port: PortKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PortKey {
    Class(usize),
    Exact(u16),
}

impl Judge {
    pub fn new(firewall: Firewall) -> Judge {
        let (interfaces, port_bounds) = match &firewall {
            Firewall::Read(ruleset) => (interface_classes(ruleset), port_bounds(ruleset)),
            Firewall::Unreadable(_) => (Vec::new(), None),
        };
        Judge {
            firewall,
            interfaces,
            port_bounds,
            destinations: RefCell::default(),
            answers: RefCell::default(),
        }
    }

    pub fn firewall(&self) -> &Firewall {
        &self.firewall
    }

    /// How a listener fares: `local-only` without evaluation when bound to
    /// loopback; otherwise each family it accepts, combined.
    pub fn judge(&self, socket: &InetSocket, exposure: &Exposure) -> FirewallExposure {
        if exposure.bind == BindScope::Loopback {
            return FirewallExposure {
                verdict: Verdict::LocalOnly,
                reason: Some("bound to loopback".into()),
                ..unknown(String::new())
            };
        }
        let ruleset = match &self.firewall {
            Firewall::Read(ruleset) => ruleset,
            Firewall::Unreadable(why) => return unknown(why.clone()),
        };
        let protocol = match socket.netid {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Raw => return unknown("raw sockets are not evaluated".into()),
            // An MPTCP connection's subflows are TCP on the wire.
            Transport::Mptcp => 6,
            Transport::Dccp => 33,
            Transport::Sctp => 132,
        };
        let bound = match socket.local.addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let answers: Vec<FirewallExposure> = exposure
            .families
            .iter()
            .map(|family| {
                let v4 = *family == IpFamily::Inet;
                let destinations = match exposure.bind {
                    BindScope::Address => vec![Destination { addr: bound, named: true }],
                    _ => self
                        .destinations
                        .borrow_mut()
                        .entry((v4, protocol))
                        .or_insert_with(|| destination_classes(ruleset, v4, protocol))
                        .clone(),
                };
                self.family_answer(ruleset, v4, protocol, socket.local.port, &destinations)
            })
            .collect();
        combine(answers)
    }

    /// Every arrival class (interface, destination) of one family, walked.
    fn family_answer(
        &self,
        ruleset: &Ruleset,
        v4: bool,
        protocol: u8,
        port: u16,
        destinations: &[Destination],
    ) -> FirewallExposure {
        if !ruleset.has_input_path() {
            return FirewallExposure {
                verdict: Verdict::Open,
                sources: as_prefixes(&address_universe(v4), v4),
                reason: Some(NO_FIREWALL.into()),
                ..unknown(String::new())
            };
        }
        if self.interfaces.len() > CLASSES_LIMIT || destinations.len() > CLASSES_LIMIT {
            return unknown(format!(
                "more than {CLASSES_LIMIT} interfaces or destination addresses to tell apart"
            ));
        }
        let port_key = match &self.port_bounds {
            Some(bounds) => PortKey::Class(bounds.partition_point(|b| *b <= u128::from(port))),
            None => PortKey::Exact(port),
        };
        let key = AnswerKey { v4, protocol, destinations: destinations.to_vec(), port: port_key };
        if let Some(answer) = self.answers.borrow().get(&key) {
            return answer.clone();
        }
        let mut classes: Vec<Class> = Vec::new();
        for interface in &self.interfaces {
            for destination in destinations {
                let probe = Probe {
                    v4,
                    protocol,
                    destination: destination.addr,
                    port,
                    interface: interface.clone(),
                    forwarded: None,
                };
                let regions = classify(eval::evaluate(ruleset, &probe));
                classes.push(Class {
                    interface: interface.clone(),
                    destination: *destination,
                    regions,
                });
            }
        }
        let answer = summarize(&classes, v4);
        self.answers.borrow_mut().insert(key, answer.clone());
        answer
    }
}

/// Where the ruleset's destination-port matches (literal, named sets,
/// verdict maps) start and end: two ports between the same bounds meet
/// every rule alike. `None` when a port match's values cannot be read.
pub(super) fn port_bounds(ruleset: &Ruleset) -> Option<Vec<u128>> {
    let mut bounds: Vec<u128> = Vec::new();
    for chain in &ruleset.chains {
        let set = |name: &String| {
            ruleset.sets.get(&(chain.backend, chain.family, chain.table.clone(), name.clone()))
        };
        let mut add = |values: &Values| -> Option<()> {
            let numbers = match values {
                Values::Numbers(numbers) => numbers,
                Values::Set(name) => match set(name)? {
                    SetContents::Values(Values::Numbers(numbers)) => numbers,
                    _ => return None,
                },
                Values::Names(_) => return None,
            };
            for (low, high) in numbers.ranges() {
                bounds.push(*low);
                bounds.push(high.saturating_add(1));
            }
            Some(())
        };
        for rule in &chain.rules {
            for condition in &rule.matches {
                let port_key = |key: &Key| {
                    matches!(key, Key::DestinationPort { .. } | Key::OriginalDestinationPort)
                };
                if let Match::Is { key, values, .. } = condition
                    && port_key(key)
                {
                    add(values)?;
                }
            }
            if let Action::VerdictMap { key: Key::DestinationPort { .. }, map } = &rule.action {
                let entries = match map {
                    VerdictMapRef::Literal(entries) => entries,
                    VerdictMapRef::Named(name) => match set(name)? {
                        SetContents::Verdicts(entries) => entries,
                        _ => return None,
                    },
                };
                for (values, _) in entries {
                    add(values)?;
                }
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    Some(bounds)
}

pub(super) fn unknown(reason: String) -> FirewallExposure {
    FirewallExposure {
        verdict: Verdict::Unknown,
        sources: Vec::new(),
        interfaces: Vec::new(),
        destinations: Vec::new(),
        rule: None,
        reason: Some(reason),
    }
}

/// A dual-stack listener's families, as one answer: the same verdict for
/// both is that verdict; open in one family only is `restricted` (to that
/// family's sources); `unknown` in either is unknown. The deciding rule is
/// the most exposed family's.
fn combine(answers: Vec<FirewallExposure>) -> FirewallExposure {
    let mut answers = answers.into_iter();
    let Some(mut combined) = answers.next() else {
        return unknown("the listener accepts no family".into());
    };
    for answer in answers {
        let sources = [combined.sources.clone(), answer.sources.clone()].concat();
        let mut interfaces = [combined.interfaces.clone(), answer.interfaces.clone()].concat();
        interfaces.sort();
        interfaces.dedup();
        let verdicts = (combined.verdict, answer.verdict);
        let verdict = match verdicts {
            (a, b) if a == b => a,
            (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
            (
                Verdict::Open | Verdict::OpenRateLimited,
                Verdict::Open | Verdict::OpenRateLimited,
            ) => Verdict::OpenRateLimited,
            (a, b) if is_reachable(a) || is_reachable(b) => Verdict::Restricted,
            (a, b) => a.max(b),
        };
        let keep_answer = match verdict {
            Verdict::Unknown => {
                answer.verdict == Verdict::Unknown && combined.verdict != Verdict::Unknown
            }
            _ => answer.verdict > combined.verdict,
        };
        if keep_answer {
            combined = answer;
        }
        combined.verdict = verdict;
        combined.sources = sources;
        combined.interfaces = interfaces;
    }
    combined
}

fn is_reachable(verdict: Verdict) -> bool {
    matches!(verdict, Verdict::Open | Verdict::OpenRateLimited | Verdict::Restricted)
}

/// The packets of one interface and one destination, by source region.
pub(super) struct Class {
    pub(super) interface: Option<String>,
    pub(super) destination: Destination,
    pub(super) regions: Vec<Region>,
}

/// A local destination address a new connection may come for; `named` when
/// a rule names it (else it stands for every address no rule names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    pub addr: IpAddr,
    pub named: bool,
}

fn is_open(kind: Verdict) -> bool {
    matches!(kind, Verdict::Open | Verdict::OpenRateLimited)
}

/// The sources of the open regions (a union is a linear merge, and a
/// lone region is shared, not copied).
fn open_in<'a>(regions: impl IntoIterator<Item = &'a Region>) -> Intervals {
    regions
        .into_iter()
        .filter(|region| is_open(region.kind))
        .fold(Intervals::empty(), |open, region| open.union(&region.sources))
}

pub(super) fn summarize(classes: &[Class], v4: bool) -> FirewallExposure {
    let all: Vec<&Region> = classes.iter().flat_map(|class| class.regions.iter()).collect();
    if let Some(region) = largest(&all, |kind| kind == Verdict::Unknown) {
        return FirewallExposure {
            rule: region.rule.as_ref().map(firewall_rule),
            ..unknown(region.construct.clone().unwrap_or_else(|| "an unmodelled construct".into()))
        };
    }
    let open_sources = open_in(all.iter().copied());
    let Some(deciding_open) = largest(&all, is_open) else {
        let blocker = largest(&all, |kind| kind == Verdict::Blocked);
        return FirewallExposure {
            verdict: Verdict::Blocked,
            rule: blocker.and_then(|region| region.rule.as_ref()).map(firewall_rule),
            reason: None,
            ..unknown(String::new())
        };
    };
    let universe = address_universe(v4);
    // A destination a rule names may not be an address of this host (a
    // container's, behind DNAT): when the addresses no rule names are open,
    // the listener is open, whatever rules say of some other destination.
    let unnamed: Vec<&Class> = classes.iter().filter(|class| !class.destination.named).collect();
    let judged: Vec<&Class> = if unnamed.is_empty() { classes.iter().collect() } else { unnamed };
    let open_everywhere =
        judged.iter().all(|class| covers_half(&open_in(class.regions.iter()), v4));
    let limited = all.iter().any(|region| region.kind == Verdict::OpenRateLimited);
    let rule = deciding_open.rule.as_ref().map(firewall_rule);
    if open_everywhere {
        let verdict = if limited { Verdict::OpenRateLimited } else { Verdict::Open };
        let sources = if universe.subtract(&open_sources).is_empty() {
            as_prefixes(&universe, v4)
        } else {
            shown(&open_sources, v4)
        };
        let reason = match (&rule, limited) {
            (None, _) => Some(POLICY_ACCEPTS.into()),
            (Some(_), true) => Some("a rate or connection limit decides beyond a rate".into()),
            (Some(_), false) => None,
        };
        return FirewallExposure {
            verdict,
            sources,
            interfaces: Vec::new(),
            destinations: Vec::new(),
            rule,
            reason,
        };
    }
    let open_classes: Vec<&Class> =
        classes.iter().filter(|class| !open_in(class.regions.iter()).is_empty()).collect();
    let mut interfaces: Vec<String> = open_classes
        .iter()
        .map(|class| class.interface.clone().unwrap_or_else(|| "*".into()))
        .collect();
    interfaces.sort();
    interfaces.dedup();
    let mut all_interfaces: Vec<&Option<String>> =
        classes.iter().map(|class| &class.interface).collect();
    all_interfaces.dedup();
    if interfaces.len() >= all_interfaces.len() {
        interfaces.clear();
    }
    let mut destinations: Vec<String> = Vec::new();
    let several_destinations =
        classes.iter().any(|class| class.destination != classes[0].destination);
    if several_destinations && open_classes.iter().all(|class| class.destination.named) {
        destinations =
            open_classes.iter().map(|class| class.destination.addr.to_string()).collect();
        destinations.sort();
        destinations.dedup();
    }
    FirewallExposure {
        verdict: Verdict::Restricted,
        sources: shown(&open_sources, v4),
        interfaces,
        destinations,
        rule,
        reason: limited.then(|| "a rate or connection limit applies to the open part".into()),
    }
}

fn shown(set: &Intervals, v4: bool) -> Vec<String> {
    let mut all = super::space::prefixes(set, v4);
    let mut prefixes: Vec<String> = all
        .by_ref()
        .take(SOURCES_SHOWN)
        .map(|(start, len)| format!("{}/{len}", address_text(start, v4)))
        .collect();
    if all.next().is_some() {
        // Counting what is left would cost a pass over a blocklist's gaps.
        prefixes.push(format!("and more: {} address ranges in all", set.ranges().len()));
    }
    prefixes
}

/// Whether `set` holds at least half of the family's addresses: open to
/// all but a blocklist is open.
fn covers_half(set: &Intervals, v4: bool) -> bool {
    let size: u128 = set.ranges().iter().map(|(low, high)| (high - low) / 2 + 1).sum();
    let half_universe = if v4 { 1u128 << 31 } else { 1u128 << 127 };
    size >= half_universe / 2
}

fn largest<'a>(regions: &[&'a Region], wanted: impl Fn(Verdict) -> bool) -> Option<&'a Region> {
    regions
        .iter()
        .filter(|region| wanted(region.kind))
        .max_by_key(|region| region.sources.ranges().iter().map(|(l, h)| (h - l) / 2).sum::<u128>())
        .copied()
}

pub fn firewall_rule(spot: &RuleSpot) -> FirewallRule {
    let backend = match spot.backend {
        super::ruleset::Backend::Nftables => "nftables",
        super::ruleset::Backend::IptablesLegacy => "iptables-legacy",
    };
    FirewallRule {
        backend: backend.into(),
        table: format!("{} {}", spot.family.as_str(), spot.table),
        chain: spot.chain.clone(),
        handle: spot.origin.as_ref().and_then(|origin| origin.handle),
        line: spot.origin.as_ref().and_then(|origin| origin.line),
        // A policy decides only when it drops: an accepting one is no rule.
        text: spot
            .origin
            .as_ref()
            .map_or_else(|| "policy drop".into(), |origin| origin.text.clone()),
    }
}

/// The source regions of one probe's endings, with their verdicts.
pub fn regions(evaluation: Evaluation) -> Vec<(Intervals, Verdict)> {
    classify(evaluation).into_iter().map(|region| (region.sources, region.kind)).collect()
}

/// How one part of the source space ends: a verdict, and the ending whose
/// rule (or construct) decides it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Decision {
    kind: Verdict,
    by: usize,
}

/// Splits the source space by how its paths end: one region per verdict
/// and deciding rule, adjacent or not. One sweep over the endings' ranges,
/// so a 100,000-range blocklist costs its size, not its square.
pub(super) fn classify(evaluation: Evaluation) -> Vec<Region> {
    if !evaluation.branched {
        return disjoint_regions(evaluation.endings);
    }
    let endings = &evaluation.endings;
    let events = merged_events(endings);
    let mut active = vec![0u32; endings.len()];
    let mut groups: Vec<(Decision, Vec<(u128, u128)>)> = Vec::new();
    let mut at = 0;
    while at < events.len() {
        let point = events[at].0;
        while at < events.len() && events[at].0 == point {
            let (_, starts, index) = events[at];
            if starts {
                active[index] += 1
            } else {
                active[index] -= 1
            }
            at += 1;
        }
        let end = events.get(at).map_or(u128::MAX, |(next, _, _)| next - 1);
        let Some(decision) = decide(&active, endings) else { continue };
        match groups.iter_mut().find(|(seen, _)| same_outcome(endings, *seen, decision)) {
            Some((_, ranges)) => match ranges.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(point) => last.1 = end,
                _ => ranges.push((point, end)),
            },
            None => groups.push((decision, vec![(point, end)])),
        }
    }
    groups
        .into_iter()
        .map(|(decision, ranges)| {
            let (rule, construct) = match &endings[decision.by].1 {
                Ending::Accepted { rule } => (rule.clone(), None),
                Ending::Dropped { rule } => (Some(rule.clone()), None),
                Ending::Unknown { construct, rule } => (rule.clone(), Some(construct.clone())),
            };
            Region { sources: Intervals::from_ranges(ranges), kind: decision.kind, rule, construct }
        })
        .collect()
}

/// Endings that split the source space without overlap are its regions
/// already: those that end alike are joined, nothing is swept.
fn disjoint_regions(endings: Endings) -> Vec<Region> {
    let mut regions: Vec<Region> = Vec::new();
    for (sources, ending) in endings {
        let (kind, rule, construct) = match ending {
            Ending::Accepted { rule } => (Verdict::Open, rule, None),
            Ending::Dropped { rule } => (Verdict::Blocked, Some(rule), None),
            Ending::Unknown { construct, rule } => (Verdict::Unknown, rule, Some(construct)),
        };
        match regions.iter_mut().find(|region| {
            region.kind == kind && region.rule == rule && region.construct == construct
        }) {
            Some(region) => region.sources = region.sources.union(&sources),
            None => regions.push(Region { sources, kind, rule, construct }),
        }
    }
    regions
}

/// Every ending's range starts and ends (the value after its last), in
/// order: each ending's ranges are sorted already, so a k-way merge
/// (endings are few; ranges may be 100,000) instead of a sort.
fn merged_events(endings: &Endings) -> Vec<(u128, bool, usize)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let event = |index: usize, cursor: usize| -> Option<(u128, bool)> {
        let (low, high) = *endings[index].0.ranges().get(cursor / 2)?;
        if cursor.is_multiple_of(2) {
            Some((low, true))
        } else {
            high.checked_add(1).map(|after| (after, false))
        }
    };
    let mut heap = BinaryHeap::new();
    for index in 0..endings.len() {
        if let Some((point, starts)) = event(index, 0) {
            heap.push(Reverse((point, starts, index, 0usize)));
        }
    }
    let total: usize = endings.iter().map(|(sources, _)| sources.ranges().len() * 2).sum();
    let mut events = Vec::with_capacity(total);
    while let Some(Reverse((point, starts, index, cursor))) = heap.pop() {
        events.push((point, starts, index));
        if let Some((next, next_starts)) = event(index, cursor + 1) {
            heap.push(Reverse((next, next_starts, index, cursor + 1)));
        }
    }
    events
}

/// Whether two decisions name the same verdict, rule and construct.
fn same_outcome(endings: &Endings, a: Decision, b: Decision) -> bool {
    let deciding = |decision: Decision| match &endings[decision.by].1 {
        Ending::Accepted { rule } => (rule.as_ref(), None),
        Ending::Dropped { rule } => (Some(rule), None),
        Ending::Unknown { construct, rule } => (rule.as_ref(), Some(construct)),
    };
    a.kind == b.kind && (a.by == b.by || deciding(a) == deciding(b))
}

/// The verdict where `active` endings apply: unknown if any is, open if
/// all accept, open-rate-limited if some accept and some drop (the
/// branches of a rate limit), blocked if all drop.
fn decide(active: &[u32], endings: &Endings) -> Option<Decision> {
    let present = || active.iter().enumerate().filter(|(_, n)| **n > 0).map(|(index, _)| index);
    let of_kind = |wanted: fn(&Ending) -> bool| present().find(|index| wanted(&endings[*index].1));
    if let Some(by) = of_kind(|ending| matches!(ending, Ending::Unknown { .. })) {
        return Some(Decision { kind: Verdict::Unknown, by });
    }
    let accepted = of_kind(|ending| matches!(ending, Ending::Accepted { .. }));
    let dropped = of_kind(|ending| matches!(ending, Ending::Dropped { .. }));
    match (accepted, dropped) {
        (Some(by), None) => Some(Decision { kind: Verdict::Open, by }),
        (Some(by), Some(_)) => Some(Decision { kind: Verdict::OpenRateLimited, by }),
        (None, Some(by)) => Some(Decision { kind: Verdict::Blocked, by }),
        (None, None) => None,
    }
}

/// The interfaces the ruleset tells apart (by name or prefix), and `None`
/// for every other; loopback is local traffic, not exposure.
pub fn interface_classes(ruleset: &Ruleset) -> Vec<Option<String>> {
    let mut names: Vec<String> = Vec::new();
    let add = |names: &mut Vec<String>, values: &Values| {
        if let Values::Names(found) = values {
            names.extend(found.iter().cloned());
        }
    };
    for chain in &ruleset.chains {
        if let Some(base) = &chain.base {
            names.extend(base.devices.iter().cloned());
        }
        for rule in &chain.rules {
            for condition in &rule.matches {
                if let Match::Is { key: Key::InInterface, values, .. } = condition {
                    add(&mut names, values);
                }
            }
            if let Action::VerdictMap {
                key: Key::InInterface,
                map: VerdictMapRef::Literal(entries),
            } = &rule.action
            {
                entries.iter().for_each(|(values, _)| add(&mut names, values));
            }
        }
    }
    for contents in ruleset.sets.values() {
        match contents {
            SetContents::Values(values) => add(&mut names, values),
            SetContents::Verdicts(entries) => {
                entries.iter().for_each(|(values, _)| add(&mut names, values))
            }
            SetContents::NatTargets(entries) => {
                entries.iter().for_each(|(values, _)| add(&mut names, values))
            }
            SetContents::Unknown(_) => {}
        }
    }
    names.retain(|name| {
        let prefix = name.trim_end_matches(['*', '+']);
        !prefix.is_empty() && !eval::interface_matches(name, Some("lo")) && name != "lo"
    });
    names.sort();
    names.dedup();
    let mut classes: Vec<Option<String>> = names.into_iter().map(Some).collect();
    classes.push(None);
    classes
}

/// For a wildcard listener: one local destination address per part of the
/// address space the ruleset's destination matches tell apart.
pub fn destination_classes(ruleset: &Ruleset, v4: bool, protocol: u8) -> Vec<Destination> {
    let mut mentioned: Vec<Intervals> = Vec::new();
    for chain in &ruleset.chains {
        for rule in &chain.rules {
            for condition in &rule.matches {
                let Match::Is { key: Key::DestinationAddress { v4: key_v4 }, values, .. } =
                    condition
                else {
                    continue;
                };
                if *key_v4 != v4 {
                    continue;
                }
                let set = match values {
                    Values::Numbers(set) => Some(set.clone()),
                    Values::Set(name) => match ruleset.sets.get(&(
                        chain.backend,
                        chain.family,
                        chain.table.clone(),
                        name.clone(),
                    )) {
                        Some(SetContents::Values(Values::Numbers(set))) => Some(set.clone()),
                        _ => None,
                    },
                    Values::Names(_) => None,
                };
                mentioned.extend(set);
            }
        }
    }
    // Remote traffic never arrives for a loopback address, nor TCP for a
    // multicast or broadcast one.
    let mut excluded = Intervals::empty();
    for (text, len) in [("127.0.0.0", 8u8), ("::1", 128), ("::ffff:127.0.0.0", 104)] {
        if let Ok(addr) = text.parse::<IpAddr>()
            && addr.is_ipv4() == v4
            && let Some(net) = super::space::prefix(addr, len)
        {
            excluded = excluded.union(&net);
        }
    }
    if protocol == 6 {
        let multicast = if v4 { ("224.0.0.0", 3) } else { ("ff00::", 8) };
        if let Ok(addr) = multicast.0.parse::<IpAddr>()
            && let Some(net) = super::space::prefix(addr, multicast.1)
        {
            excluded = excluded.union(&net);
        }
    }
    let universe = address_universe(v4).subtract(&excluded);
    let mut points: Vec<u128> = Vec::new();
    let mut everywhere_else = universe.clone();
    for set in &mentioned {
        let inside = set.intersect(&universe);
        points.extend(inside.first());
        everywhere_else = everywhere_else.subtract(&inside);
    }
    // A representative for every address no rule names: a public unicast
    // one where there is such, rather than 0.0.0.0 or ::.
    let public = if v4 {
        Intervals::range(address_value_of("1.0.0.0"), address_value_of("223.255.255.255"))
    } else {
        super::space::prefix(IpAddr::V6(std::net::Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0)), 3)
            .unwrap_or_default()
    };
    let public_else = everywhere_else.intersect(&public);
    points.sort_unstable();
    points.dedup();
    let unnamed = public_else.first().or_else(|| everywhere_else.first());
    let named = points.into_iter().map(|value| (value, true));
    named
        .chain(unnamed.map(|value| (value, false)))
        .filter_map(|(value, named)| {
            let addr = address_text(value, v4).parse::<IpAddr>().ok()?;
            Some(Destination { addr, named })
        })
        .collect()
}

fn address_value_of(text: &str) -> u128 {
    text.parse::<IpAddr>().map_or(0, super::space::address_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_the_space() {
        assert!(covers_half(&address_universe(true), true));
        assert!(!covers_half(&Intervals::range(0, 1 << 20), true));
        assert!(covers_half(&Intervals::range(0, u128::MAX / 2), false));
    }

    #[test]
    fn an_address_value_reads_back() {
        use super::super::space::address_value;
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_text(address_value(addr), true), "192.0.2.7");
    }
}
