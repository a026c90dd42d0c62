//! The evaluator: where a new connection to a listener ends in a ruleset,
//! for every source address at once. The source space is split as rules
//! match it; each part ends accepted by every base chain on its way in,
//! dropped (or rejected) by one, or `unknown` at a construct the model does
//! not know. A rate limit may match or not, so both branches are followed.

use std::net::IpAddr;

use super::ruleset::{
    Action, AddressType, Backend, Chain, ChainKind, CtState, CtStatus, Hook, Key, Match, Nat, Rule,
    RuleOrigin, Ruleset, SetContents, TableFamily, Values, VerdictMapRef,
};
use super::space::{Intervals, address_universe, address_value};

/// The kernel's jump stack is 16 deep; a deeper path is not a real one.
const MAX_DEPTH: usize = 16;
/// Rules looked at for one probe before the answer is `unknown`.
const WORK_LIMIT: usize = 4_000_000;

/// The first packet of a new connection, from a source still to be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub v4: bool,
    /// 6 for TCP, 17 for UDP.
    pub protocol: u8,
    pub destination: IpAddr,
    pub port: u16,
    /// The interface it arrives on; `None` for one the ruleset never names.
    pub interface: Option<String>,
    /// For a connection a dnat sends on through this host: the way it goes
    /// after the dnat. `None`: to a listener of this host.
    pub forwarded: Option<Forwarded>,
}

/// Where a dnat sends a connection through this host: the new destination,
/// which chains after the dnat see, and the interface it leaves by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    pub destination: IpAddr,
    pub port: u16,
    /// The route's interface; `None` for one the ruleset never names.
    pub out_interface: Option<String>,
}

/// nat chains at prerouting priorities above this one see a destination
/// the dnat (at dstnat, -100) has already rewritten.
const DSTNAT_PRIORITY: i32 = -100;

/// A rule (or a chain's policy) as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpot {
    pub backend: Backend,
    pub family: TableFamily,
    pub table: String,
    pub chain: String,
    /// `None` for the chain's policy.
    pub origin: Option<RuleOrigin>,
}

impl RuleSpot {
    pub fn rule(chain: &Chain, rule: &Rule) -> RuleSpot {
        RuleSpot { origin: Some(rule.origin.clone()), ..RuleSpot::policy(chain) }
    }

    fn policy(chain: &Chain) -> RuleSpot {
        RuleSpot {
            backend: chain.backend,
            family: chain.family,
            table: chain.table.clone(),
            chain: chain.name.clone(),
            origin: None,
        }
    }
}

/// How one path through the ruleset ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Accepted by every base chain; `rule` is the last explicit accept on
    /// the way (none when only policies accepted).
    Accepted {
        rule: Option<RuleSpot>,
    },
    Dropped {
        rule: RuleSpot,
    },
    Unknown {
        construct: String,
        rule: Option<RuleSpot>,
    },
}

/// Source addresses and how their path ended. One address may end in
/// several ways when a rate limit lies on its path.
pub type Endings = Vec<(Intervals, Ending)>;

/// One step of a traced path, for `audit --why`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub spot: RuleSpot,
    pub event: StepEvent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEvent {
    /// A base chain the packet enters: hook and priority.
    EnterBase {
        hook: Hook,
        priority: i32,
    },
    /// The rule matched and did this (a verdict, a jump, a return).
    Matched {
        action: String,
        rate_limited: bool,
    },
    /// The end of a regular chain: back to the caller.
    FellThrough,
    /// The end of a base chain: its policy.
    Policy {
        accepts: bool,
    },
    Unknown {
        construct: String,
    },
}

/// Where every source's new connection for `probe` ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub endings: Endings,
    /// Whether some sources end in more than one way (a rate limit, or a
    /// construct that may or may not match); else the endings are disjoint.
    pub branched: bool,
}

pub fn evaluate(ruleset: &Ruleset, probe: &Probe) -> Evaluation {
    evaluate_from(ruleset, probe, address_universe(probe.v4))
}

/// Where the new connections from `sources` end.
pub fn evaluate_from(ruleset: &Ruleset, probe: &Probe, sources: Intervals) -> Evaluation {
    let mut engine = Engine::new(ruleset, probe, None);
    let endings = engine.run(sources);
    Evaluation { endings, branched: engine.branched }
}

/// The path a connection from `source` takes, step by step (rate limits
/// taken as not yet exceeded).
pub fn trace(ruleset: &Ruleset, probe: &Probe, source: IpAddr) -> (Vec<Step>, Endings) {
    let mut steps = Vec::new();
    let endings = {
        let mut engine = Engine::new(ruleset, probe, Some(&mut steps));
        engine.run(Intervals::point(address_value(source)))
    };
    (steps, endings)
}

/// The base chains a probe crosses, in the order it meets them: ingress,
/// prerouting and input on the way to a listener; ingress, prerouting
/// (without its nat chains: the dnat is given) and forward on the way
/// through.
pub fn base_chains<'r>(ruleset: &'r Ruleset, probe: &Probe) -> Vec<&'r Chain> {
    let mut chains: Vec<&Chain> = ruleset
        .chains
        .iter()
        .filter(|chain| {
            let Some(base) = &chain.base else { return false };
            let family_fits = match chain.family {
                TableFamily::Ip => probe.v4,
                TableFamily::Ip6 => !probe.v4,
                TableFamily::Inet => true,
                TableFamily::Netdev => base.hook == Hook::Ingress,
                TableFamily::Other => false,
            };
            let device_fits = base.hook != Hook::Ingress
                || base.devices.is_empty()
                || probe.interface.as_ref().is_some_and(|name| base.devices.contains(name));
            let on_path = match probe.forwarded {
                None => base.hook.is_on_input_path(),
                Some(_) => {
                    matches!(base.hook, Hook::Ingress | Hook::Forward)
                        || (base.hook == Hook::Prerouting && base.kind != ChainKind::Nat)
                }
            };
            family_fits && device_fits && on_path
        })
        .collect();
    chains.sort_by_key(|chain| chain.base.as_ref().map(|base| (base.hook, base.priority)));
    chains
}

struct Engine<'r, 's> {
    ruleset: &'r Ruleset,
    probe: &'r Probe,
    /// The chain being walked sees the destination a dnat rewrote.
    after_dnat: bool,
    trace: Option<&'s mut Vec<Step>>,
    work: usize,
    branched: bool,
}

/// What a chain did with the sources it was given.
#[derive(Default)]
struct ChainOutcome {
    /// Accepted (for the base chain's caller to pass on), per accepting rule.
    accepted: Vec<(Intervals, Option<RuleSpot>)>,
    ended: Endings,
    /// Fell off the end or returned.
    returned: LiveSet,
}

/// The sources still on their way through a chain: a base set less what
/// left it since, kept apart (small pieces merged, large sets shared) and
/// taken out only where the sources end, so that neither taking a /24 out
/// of the 100,000 ranges a blocklist leaves nor a jump copies them all.
#[derive(Default)]
struct LiveSet {
    base: Intervals,
    removed: Intervals,
    removed_sets: Vec<Intervals>,
}

/// Small removed pieces merged before they are taken out of the base.
const REMOVED_KEPT: usize = 256;

impl LiveSet {
    fn new(base: Intervals) -> LiveSet {
        LiveSet { base, ..LiveSet::default() }
    }

    /// Empty for sure, or (when only a pass over the base could tell) not
    /// known to be: then the next rule finds nothing.
    fn is_empty(&self) -> bool {
        if self.base.is_empty() {
            return true;
        }
        if !self.removed_sets.is_empty() || self.base.ranges().len() > self.removed.ranges().len() {
            return false;
        }
        self.base.subtract(&self.removed).is_empty()
    }

    /// `part` (out of the base, less what was removed) leaves.
    fn remove(&mut self, part: &Intervals) {
        if part.ranges().len() > 64 {
            self.removed_sets.push(part.clone());
        } else if self.removed.ranges().len() < REMOVED_KEPT {
            self.removed = self.removed.union(part);
        } else {
            self.settle();
            self.base.remove(part);
        }
    }

    fn settle(&mut self) {
        self.base = self.to_intervals();
        self.removed = Intervals::empty();
        self.removed_sets.clear();
    }

    fn take(&mut self) -> Intervals {
        self.settle();
        std::mem::take(&mut self.base)
    }

    fn to_intervals(&self) -> Intervals {
        self.without_removed(self.base.clone())
    }

    /// Joins `other`: taken whole when this one is empty (a jump's
    /// returns), settled and merged otherwise.
    fn add_set(&mut self, mut other: LiveSet) {
        if other.base.is_empty() {
            return;
        }
        if self.base.is_empty() {
            *self = other;
            return;
        }
        self.settle();
        self.base.add(other.take());
    }

    /// `part`, computed from the base, less what was removed since.
    fn without_removed(&self, mut part: Intervals) -> Intervals {
        part.remove(&self.removed);
        for set in &self.removed_sets {
            part = part.subtract(set);
        }
        part
    }
}

/// How one match splits the sources it sees.
struct Part {
    matched: Intervals,
    unknown: Option<String>,
}

/// How a rule's matches split the sources it sees.
struct Split {
    /// The sources matched; `None` for every live one (no source match).
    matched: Option<Intervals>,
    /// The matched part may also not match (a rate limit).
    rate_limited: bool,
    unknown: Option<String>,
}

impl<'r, 's> Engine<'r, 's> {
    fn new(ruleset: &'r Ruleset, probe: &'r Probe, trace: Option<&'s mut Vec<Step>>) -> Self {
        Engine { ruleset, probe, after_dnat: false, trace, work: 0, branched: false }
    }

    fn run(&mut self, sources: Intervals) -> Endings {
        let mut ended: Endings = Vec::new();
        let mut passing: Vec<(Intervals, Option<RuleSpot>)> = vec![(sources, None)];
        for chain in base_chains(self.ruleset, self.probe) {
            let Some(base) = &chain.base else { continue };
            self.after_dnat = self.probe.forwarded.is_some()
                && (base.hook == Hook::Forward
                    || (base.hook == Hook::Prerouting && base.priority > DSTNAT_PRIORITY));
            self.step(
                RuleSpot::policy(chain),
                StepEvent::EnterBase { hook: base.hook, priority: base.priority },
            );
            let mut next: Vec<(Intervals, Option<RuleSpot>)> = Vec::new();
            for (sources, earlier_accept) in passing {
                let mut outcome = self.chain(chain, LiveSet::new(sources), 0);
                ended.extend(outcome.ended);
                for (accepted, rule) in outcome.accepted {
                    next.push((accepted, rule.or_else(|| earlier_accept.clone())));
                }
                let returned = outcome.returned.take();
                if !returned.is_empty() {
                    self.step(
                        RuleSpot::policy(chain),
                        StepEvent::Policy { accepts: base.policy_accepts },
                    );
                    if base.policy_accepts {
                        next.push((returned, earlier_accept.clone()));
                    } else {
                        ended.push((returned, Ending::Dropped { rule: RuleSpot::policy(chain) }));
                    }
                }
            }
            passing = merge_by_rule(next);
        }
        ended.extend(
            passing.into_iter().map(|(sources, rule)| (sources, Ending::Accepted { rule })),
        );
        ended.retain(|(sources, _)| !sources.is_empty());
        ended
    }

    fn step(&mut self, spot: RuleSpot, event: StepEvent) {
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.push(Step { spot, event });
        }
    }

    fn chain(&mut self, chain: &'r Chain, sources: LiveSet, depth: usize) -> ChainOutcome {
        let mut outcome = ChainOutcome::default();
        let mut live = sources;
        for rule in &chain.rules {
            if live.is_empty() {
                break;
            }
            self.work += 1;
            if self.work > WORK_LIMIT {
                outcome.ended.push((
                    live.take(),
                    Ending::Unknown {
                        construct: "a ruleset too large to evaluate".into(),
                        rule: Some(RuleSpot::rule(chain, rule)),
                    },
                ));
                return outcome;
            }
            if rule.action == Action::Continue {
                continue;
            }
            let split = self.split(chain, rule, &live);
            if split.matched.as_ref().is_some_and(Intervals::is_empty) {
                continue;
            }
            let spot = RuleSpot::rule(chain, rule);
            self.branched |= split.rate_limited || split.unknown.is_some();
            // A trace follows one path: the limit not yet exceeded.
            let leaves = split.unknown.is_none() && (!split.rate_limited || self.trace.is_some());
            let mut matched = match (split.matched, leaves) {
                (Some(part), true) => {
                    live.remove(&part);
                    LiveSet::new(part)
                }
                (Some(part), false) => LiveSet::new(part),
                // Every live source matched and goes: moved, not copied.
                (None, true) => std::mem::take(&mut live),
                (None, false) => LiveSet::new(live.to_intervals()),
            };
            if matched.is_empty() {
                continue;
            }
            if let Some(construct) = split.unknown {
                self.step(spot.clone(), StepEvent::Unknown { construct: construct.clone() });
                let sources = matched.take();
                outcome.ended.push((sources, Ending::Unknown { construct, rule: Some(spot) }));
                continue;
            }
            self.step(
                spot.clone(),
                StepEvent::Matched {
                    action: action_word(&rule.action),
                    rate_limited: split.rate_limited,
                },
            );
            let continued = self.act(chain, &rule.action, spot, matched, depth, &mut outcome);
            live.add_set(continued);
        }
        if !live.is_empty() && chain.base.is_none() {
            self.step(RuleSpot::policy(chain), StepEvent::FellThrough);
        }
        outcome.returned.add_set(live);
        outcome
    }

    /// Applies a verdict to `sources`; answers the sources that go on with
    /// the next rule of this chain.
    fn act(
        &mut self,
        chain: &'r Chain,
        action: &Action,
        spot: RuleSpot,
        mut sources: LiveSet,
        depth: usize,
        outcome: &mut ChainOutcome,
    ) -> LiveSet {
        match action {
            Action::Continue => return sources,
            Action::Accept => outcome.accepted.push((sources.take(), Some(spot))),
            Action::Drop | Action::Reject => {
                outcome.ended.push((sources.take(), Ending::Dropped { rule: spot }))
            }
            Action::Return => outcome.returned.add_set(sources),
            Action::Jump(target) | Action::Goto(target) => {
                let is_jump = matches!(action, Action::Jump(_));
                let returned = self.call(chain, target, spot, sources, depth, outcome);
                if is_jump {
                    return returned;
                }
                outcome.returned.add_set(returned);
            }
            Action::Nat(nat) if nat.kind == "snat" || nat.kind == "masquerade" => {
                outcome.accepted.push((sources.take(), None))
            }
            Action::Nat(Nat { kind, .. }) => outcome.ended.push((
                sources.take(),
                Ending::Unknown {
                    construct: format!("{kind} (a port forward; forwards are not evaluated)"),
                    rule: Some(spot),
                },
            )),
            Action::VerdictMap { key, map } => {
                let sources = sources.take();
                let continued = self.verdict_map(chain, *key, map, spot, sources, depth, outcome);
                return LiveSet::new(continued);
            }
            Action::Unknown(construct) => outcome.ended.push((
                sources.take(),
                Ending::Unknown { construct: construct.clone(), rule: Some(spot) },
            )),
        }
        LiveSet::default()
    }

    /// A jump or goto into `target`; answers what the target returned.
    fn call(
        &mut self,
        chain: &'r Chain,
        target: &str,
        spot: RuleSpot,
        mut sources: LiveSet,
        depth: usize,
        outcome: &mut ChainOutcome,
    ) -> LiveSet {
        let callee = self.ruleset.chains.iter().find(|candidate| {
            candidate.backend == chain.backend
                && candidate.family == chain.family
                && candidate.table == chain.table
                && candidate.name == target
        });
        let construct = match callee {
            None => format!("a jump to the missing chain {target}"),
            Some(_) if depth + 1 >= MAX_DEPTH => {
                format!("jumps nested deeper than {MAX_DEPTH}")
            }
            Some(callee) => {
                let inner = self.chain(callee, sources, depth + 1);
                outcome.accepted.extend(inner.accepted);
                outcome.ended.extend(inner.ended);
                return inner.returned;
            }
        };
        outcome.ended.push((sources.take(), Ending::Unknown { construct, rule: Some(spot) }));
        LiveSet::default()
    }

    #[allow(clippy::too_many_arguments)]
    fn verdict_map(
        &mut self,
        chain: &'r Chain,
        key: Key,
        map: &VerdictMapRef,
        spot: RuleSpot,
        sources: Intervals,
        depth: usize,
        outcome: &mut ChainOutcome,
    ) -> Intervals {
        let entries = match map {
            VerdictMapRef::Literal(entries) => Ok(entries),
            VerdictMapRef::Named(name) => match self.set(chain, name) {
                Some(SetContents::Verdicts(entries)) => Ok(entries),
                Some(SetContents::Unknown(why)) => Err(format!("verdict map @{name}: {why}")),
                Some(SetContents::Values(_) | SetContents::NatTargets(_)) => {
                    Err(format!("@{name} used as a verdict map"))
                }
                None => Err(format!("the missing verdict map @{name}")),
            },
        };
        let entries = match entries {
            Ok(entries) => entries,
            Err(construct) => {
                outcome.ended.push((sources, Ending::Unknown { construct, rule: Some(spot) }));
                return Intervals::empty();
            }
        };
        let mut rest = sources;
        let mut continued = Intervals::empty();
        for (values, action) in entries {
            if rest.is_empty() {
                break;
            }
            let element = Match::Is { key, negated: false, values: values.clone() };
            let split = self.split_one(chain, &element, &rest);
            if let Some(construct) = split.unknown {
                outcome.ended.push((rest, Ending::Unknown { construct, rule: Some(spot) }));
                return continued;
            }
            if split.matched.is_empty() {
                continue;
            }
            rest = rest.subtract(&split.matched);
            let matched = LiveSet::new(split.matched);
            let mut went_on = self.act(chain, action, spot.clone(), matched, depth, outcome);
            continued.add(went_on.take());
        }
        continued.union(&rest)
    }

    /// Which of `live` a rule matches. The matches that do not look at the
    /// source address are decided first and without touching `live`, which
    /// behind a blocklist holds 100,000 ranges: a rule for another port
    /// costs nothing, and never becomes unknown for a construct it holds.
    fn split(&self, chain: &Chain, rule: &Rule, live: &LiveSet) -> Split {
        let mut rate_limited = false;
        let mut unknown = None;
        let mut by_source: Vec<&Match> = Vec::new();
        let never = Split { matched: Some(Intervals::empty()), rate_limited: false, unknown: None };
        for condition in &rule.matches {
            match condition {
                Match::Is { key: Key::SourceAddress { v4 }, .. } if *v4 == self.probe.v4 => {
                    by_source.push(condition)
                }
                Match::Is { .. } => {
                    // Any one source stands for all: the answer is the same.
                    let part = self.split_one(chain, condition, &Intervals::point(0));
                    if part.matched.is_empty() {
                        return never;
                    }
                    unknown = unknown.or(part.unknown);
                }
                Match::RateLimit { .. } => rate_limited = true,
                Match::Unknown { construct } => unknown = unknown.or(Some(construct.clone())),
            }
        }
        if by_source.is_empty() {
            return Split { matched: None, rate_limited, unknown };
        }
        let mut matched: Option<Intervals> = None;
        for condition in by_source {
            let part = self.split_one(chain, condition, matched.as_ref().unwrap_or(&live.base));
            if part.matched.is_empty() {
                return never;
            }
            matched = Some(part.matched);
            unknown = unknown.or(part.unknown);
        }
        Split { matched: matched.map(|part| live.without_removed(part)), rate_limited, unknown }
    }

    /// Which of `live` one match takes: a rate limit or an unknown
    /// construct takes all of it (and says so).
    fn split_one(&self, chain: &Chain, condition: &Match, live: &Intervals) -> Part {
        let plain = |matched| Part { matched, unknown: None };
        let unknown = |construct: String| Part { matched: live.clone(), unknown: Some(construct) };
        match condition {
            Match::RateLimit { .. } => plain(live.clone()),
            Match::Unknown { construct } => unknown(construct.clone()),
            Match::Is { key, negated, values } => {
                let values = match values {
                    Values::Set(name) => match self.set(chain, name) {
                        Some(SetContents::Values(values)) => values,
                        Some(SetContents::Unknown(why)) => {
                            return unknown(format!("set @{name}: {why}"));
                        }
                        _ => return unknown(format!("the missing set @{name}")),
                    },
                    values => values,
                };
                match self.test(*key, *negated, values, live) {
                    Test::Sources(matched) => plain(matched),
                    Test::Holds(true) => plain(live.clone()),
                    Test::Holds(false) => plain(Intervals::empty()),
                    Test::Unknown(construct) => unknown(construct),
                }
            }
        }
    }

    /// The destination the current chain sees: the dnat's, after it.
    fn destination(&self) -> IpAddr {
        match &self.probe.forwarded {
            Some(forwarded) if self.after_dnat => forwarded.destination,
            _ => self.probe.destination,
        }
    }

    fn port(&self) -> u16 {
        match &self.probe.forwarded {
            Some(forwarded) if self.after_dnat => forwarded.port,
            _ => self.probe.port,
        }
    }

    fn set(&self, chain: &Chain, name: &str) -> Option<&'r SetContents> {
        self.ruleset.sets.get(&(chain.backend, chain.family, chain.table.clone(), name.to_owned()))
    }

    fn test(&self, key: Key, negated: bool, values: &Values, live: &Intervals) -> Test {
        let probe = self.probe;
        let numbers = |values: &Values| match values {
            Values::Numbers(numbers) => Some(numbers.clone()),
            _ => None,
        };
        let holds = |hit: bool| Test::Holds(hit != negated);
        let number_hit = |value: u128| match numbers(values) {
            Some(set) => holds(set.contains(value)),
            None => Test::Unknown(format!("{key:?} compared with names")),
        };
        match key {
            Key::SourceAddress { v4 } if v4 != probe.v4 => Test::Holds(false),
            Key::DestinationAddress { v4 } if v4 != probe.v4 => Test::Holds(false),
            Key::SourceAddress { .. } => match numbers(values) {
                Some(set) if negated => Test::Sources(live.subtract(&set)),
                Some(set) => Test::Sources(live.intersect(&set)),
                None => Test::Unknown("an address compared with names".into()),
            },
            Key::DestinationAddress { .. } => number_hit(address_value(self.destination())),
            Key::InInterface => match values {
                Values::Names(names) => holds(
                    names.iter().any(|name| interface_matches(name, probe.interface.as_deref())),
                ),
                _ => Test::Unknown("an interface compared with numbers".into()),
            },
            // No output interface is known before routing to a local socket.
            Key::OutInterface => match (&probe.forwarded, values) {
                (Some(forwarded), Values::Names(names)) if self.after_dnat => holds(
                    names
                        .iter()
                        .any(|name| interface_matches(name, forwarded.out_interface.as_deref())),
                ),
                (Some(_), Values::Names(_)) => Test::Holds(false),
                (Some(_), _) => Test::Unknown("an interface compared with numbers".into()),
                (None, _) => Test::Holds(false),
            },
            Key::Protocol => number_hit(u128::from(probe.protocol)),
            Key::NfProto => number_hit(if probe.v4 { 2 } else { 10 }),
            Key::DestinationPort { protocol } | Key::SourcePort { protocol }
                if protocol.is_some_and(|p| p != probe.protocol) =>
            {
                Test::Holds(false)
            }
            Key::DestinationPort { .. } => number_hit(u128::from(self.port())),
            Key::OriginalDestinationPort => number_hit(u128::from(probe.port)),
            Key::SourcePort { .. } => match numbers(values) {
                Some(set) if set.intersect(&Intervals::range(1, 65535)).is_empty() => {
                    Test::Holds(negated)
                }
                Some(set) if Intervals::range(1, 65535).subtract(&set).is_empty() => {
                    Test::Holds(!negated)
                }
                _ => Test::Unknown("a source port match".into()),
            },
            Key::CtState => bits_hit(values, CtState::NEW, negated),
            Key::CtStatus => {
                let status = if self.after_dnat { CtStatus::DNAT } else { 0 };
                bits_hit(values, status, negated)
            }
            Key::DestinationType => {
                let kind = match self.after_dnat {
                    true => AddressType::UNICAST,
                    false => destination_type(probe.destination),
                };
                bits_hit(values, kind, negated)
            }
        }
    }
}

enum Test {
    Sources(Intervals),
    Holds(bool),
    Unknown(String),
}

fn bits_hit(values: &Values, packet_bits: u128, negated: bool) -> Test {
    match values {
        Values::Numbers(set) => {
            let wanted = set.ranges().iter().fold(0u128, |all, (low, high)| {
                // Bit values are stored as points; a range of them is rare.
                if low == high { all | low } else { all | low | high }
            });
            Test::Holds((wanted & packet_bits != 0) != negated)
        }
        _ => Test::Unknown("state bits compared with names".into()),
    }
}

/// nft's `eth*` and iptables' `eth+` are prefixes; `None` is an interface
/// no rule names, which only a bare wildcard matches.
pub fn interface_matches(pattern: &str, interface: Option<&str>) -> bool {
    let prefix = pattern.strip_suffix('*').or_else(|| pattern.strip_suffix('+'));
    match (prefix, interface) {
        (Some(prefix), Some(name)) => name.starts_with(prefix),
        (Some(prefix), None) => prefix.is_empty(),
        (None, Some(name)) => name == pattern,
        (None, None) => false,
    }
}

fn destination_type(destination: IpAddr) -> u128 {
    match destination {
        IpAddr::V4(v4) if v4.is_broadcast() => AddressType::BROADCAST,
        addr if addr.is_multicast() => AddressType::MULTICAST,
        _ => AddressType::LOCAL,
    }
}

fn action_word(action: &Action) -> String {
    match action {
        Action::Continue => "continue".into(),
        Action::Accept => "accept".into(),
        Action::Drop => "drop".into(),
        Action::Reject => "reject".into(),
        Action::Jump(target) => format!("jump {target}"),
        Action::Goto(target) => format!("goto {target}"),
        Action::Return => "return".into(),
        Action::Nat(nat) => nat.kind.clone(),
        Action::VerdictMap { .. } => "verdict map".into(),
        Action::Unknown(construct) => construct.clone(),
    }
}

fn merge_by_rule(pieces: Vec<(Intervals, Option<RuleSpot>)>) -> Vec<(Intervals, Option<RuleSpot>)> {
    let mut merged: Vec<(Intervals, Option<RuleSpot>)> = Vec::new();
    for (sources, rule) in pieces {
        if sources.is_empty() {
            continue;
        }
        match merged.iter_mut().find(|(_, existing)| *existing == rule) {
            Some((existing, _)) => *existing = existing.union(&sources),
            None => merged.push((sources, rule)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::ruleset::{BaseChain, ChainKind};
    use crate::firewall::space::prefix;

    fn chain(name: &str, base: bool, rules: Vec<(Vec<Match>, Action)>) -> Chain {
        Chain {
            backend: Backend::Nftables,
            family: TableFamily::Inet,
            table: "t".into(),
            name: name.into(),
            base: base.then(|| BaseChain {
                hook: Hook::Input,
                priority: 0,
                kind: ChainKind::Filter,
                policy_accepts: false,
                devices: Vec::new(),
            }),
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(handle, (matches, action))| Rule {
                    matches,
                    action,
                    origin: RuleOrigin { handle: Some(handle as u64), ..RuleOrigin::default() },
                })
                .collect(),
        }
    }

    fn probe() -> Probe {
        Probe {
            v4: true,
            protocol: 6,
            destination: "10.0.0.1".parse().unwrap(),
            port: 22,
            interface: None,
            forwarded: None,
        }
    }

    fn source(text: &str, len: u8) -> Match {
        let set = prefix(text.parse().unwrap(), len).unwrap();
        Match::Is {
            key: Key::SourceAddress { v4: true },
            negated: false,
            values: Values::Numbers(set),
        }
    }

    fn kinds(endings: &Endings) -> Vec<&'static str> {
        endings
            .iter()
            .map(|(_, ending)| match ending {
                Ending::Accepted { .. } => "accepted",
                Ending::Dropped { .. } => "dropped",
                Ending::Unknown { .. } => "unknown",
            })
            .collect()
    }

    #[test]
    fn a_jump_loop_ends_unknown_at_the_kernels_depth() {
        let ruleset = Ruleset {
            chains: vec![
                chain("input", true, vec![(vec![], Action::Jump("a".into()))]),
                chain("a", false, vec![(vec![], Action::Jump("a".into()))]),
            ],
            ..Ruleset::default()
        };
        let endings = evaluate(&ruleset, &probe()).endings;
        assert_eq!(kinds(&endings), ["unknown"]);
        let Ending::Unknown { construct, .. } = &endings[0].1 else { unreachable!() };
        assert_eq!(construct, "jumps nested deeper than 16");
    }

    #[test]
    fn goto_does_not_come_back_but_jump_does() {
        let tail = vec![(vec![source("10.0.0.0", 8)], Action::Accept)];
        let ruleset = |action: Action| Ruleset {
            chains: vec![
                chain("input", true, vec![(vec![], action), (vec![], Action::Accept)]),
                chain("tail", false, tail.clone()),
            ],
            ..Ruleset::default()
        };
        let jumped = evaluate(&ruleset(Action::Jump("tail".into())), &probe()).endings;
        assert_eq!(
            kinds(&jumped),
            ["accepted", "accepted"],
            "10/8 by tail, the rest back in input"
        );
        let went = evaluate(&ruleset(Action::Goto("tail".into())), &probe()).endings;
        let mut went = kinds(&went);
        went.sort();
        assert_eq!(went, ["accepted", "dropped"], "the rest falls to the policy");
    }

    #[test]
    fn a_rate_limited_accept_leaves_both_endings_for_the_same_sources() {
        let limit = Match::RateLimit { what: "limit rate 3/minute".into() };
        let ruleset = Ruleset {
            chains: vec![chain("input", true, vec![(vec![limit], Action::Accept)])],
            ..Ruleset::default()
        };
        let endings = evaluate(&ruleset, &probe()).endings;
        let mut found = kinds(&endings);
        found.sort();
        assert_eq!(found, ["accepted", "dropped"]);
        assert_eq!(endings[0].0, endings[1].0, "every source, both ways");
    }

    #[test]
    fn an_unknown_construct_on_another_port_does_not_matter() {
        let other_port = Match::Is {
            key: Key::DestinationPort { protocol: Some(6) },
            negated: false,
            values: Values::Numbers(Intervals::point(80)),
        };
        let unknown = Match::Unknown { construct: "meta mark".into() };
        let ruleset = Ruleset {
            chains: vec![chain("input", true, vec![(vec![unknown, other_port], Action::Accept)])],
            ..Ruleset::default()
        };
        assert_eq!(kinds(&evaluate(&ruleset, &probe()).endings), ["dropped"]);
    }
}
