//! The forwards a ruleset makes: every dnat and redirect on the prerouting
//! and output hooks, reached from a base chain through jumps, gotos and
//! verdict maps, with what its path asks of a connection (protocol, ports,
//! destination, sources, interfaces) and where it sends it. A rule earlier
//! on the path that returns or accepts some connections is not taken into
//! account: a forward may take less than it says, never more than its
//! rule's own conditions.

use std::collections::HashMap;

use super::eval::RuleSpot;
use super::ruleset::{
    Action, AddressType, Chain, Hook, Key, Match, Nat, NatMapRef, NatTarget, NatTo, Rule, Ruleset,
    SetContents, TableFamily, Values, VerdictMapRef,
};
use super::space::{Intervals, address_universe, as_prefixes};
use super::verdict::firewall_rule;
use crate::model::firewall::{Forward, ForwardTarget, PortRange};

/// The kernel's jump stack is 16 deep.
const MAX_DEPTH: usize = 16;
/// Rules looked at in all, so that chains jumping to each other many ways
/// cannot make the walk explode.
const WORK_LIMIT: usize = 1_000_000;
/// Forwards kept in all: more than any real host has (a kube-proxy node
/// with thousands of services has a few per service).
const MAX_FORWARDS: usize = 100_000;

/// The forwards of `ruleset`, in ruleset order; one per destination of a
/// NAT map, and one per hook merged into one with both hooks.
pub fn forwards(ruleset: &Ruleset) -> Vec<Forward> {
    let mut walk = Walk { ruleset, found: Vec::new(), seen: HashMap::new(), work: 0 };
    for chain in &ruleset.chains {
        let Some(base) = &chain.base else { continue };
        if matches!(base.hook, Hook::Prerouting | Hook::Output)
            && chain.family != TableFamily::Other
        {
            walk.chain(chain, base.hook, &[], 0);
        }
    }
    walk.found
}

struct Walk<'r> {
    ruleset: &'r Ruleset,
    /// The forwards found, each once: one reached on both hooks, or by
    /// several paths alike, is kept with its hooks merged.
    found: Vec<Forward>,
    /// The index in `found` of each forward, keyed without its hooks.
    seen: HashMap<Forward, usize>,
    work: usize,
}

impl Walk<'_> {
    fn keep(&mut self, forward: Forward) {
        if self.found.len() >= MAX_FORWARDS {
            return;
        }
        let key = Forward { hooks: Vec::new(), ..forward.clone() };
        match self.seen.get(&key) {
            Some(&index) => {
                let hooks = &mut self.found[index].hooks;
                for hook in forward.hooks {
                    if !hooks.contains(&hook) {
                        hooks.push(hook);
                    }
                }
            }
            None => {
                self.seen.insert(key, self.found.len());
                self.found.push(forward);
            }
        }
    }
}

impl<'r> Walk<'r> {
    /// The rules of `chain`, entered on `hook` with the conditions of the
    /// path so far.
    fn chain(&mut self, chain: &'r Chain, hook: Hook, path: &[Match], depth: usize) {
        for rule in &chain.rules {
            self.work += 1;
            if self.work > WORK_LIMIT {
                return;
            }
            let mut conditions = path.to_vec();
            conditions.extend(rule.matches.iter().cloned());
            match &rule.action {
                Action::Nat(nat) if nat.forwards() => {
                    self.nat(chain, rule, nat, hook, &conditions);
                }
                Action::Jump(target) | Action::Goto(target) => {
                    self.call(chain, target, hook, &conditions, depth);
                }
                Action::VerdictMap { key, map } => {
                    for (values, action) in self.verdicts(chain, map) {
                        let (Action::Jump(target) | Action::Goto(target)) = action else {
                            continue;
                        };
                        let mut entry = conditions.clone();
                        entry.push(Match::Is { key: *key, negated: false, values: values.clone() });
                        self.call(chain, target, hook, &entry, depth);
                    }
                }
                _ => {}
            }
        }
    }

    fn call(&mut self, from: &Chain, target: &str, hook: Hook, path: &[Match], depth: usize) {
        if depth >= MAX_DEPTH {
            return;
        }
        let callee = self.ruleset.chains.iter().find(|candidate| {
            candidate.backend == from.backend
                && candidate.family == from.family
                && candidate.table == from.table
                && candidate.name == target
        });
        if let Some(callee) = callee {
            self.chain(callee, hook, path, depth + 1);
        }
    }

    fn verdicts(&self, chain: &Chain, map: &'r VerdictMapRef) -> Vec<&'r (Values, Action)> {
        match map {
            VerdictMapRef::Literal(entries) => entries.iter().collect(),
            VerdictMapRef::Named(name) => match self.set(chain, name) {
                Some(SetContents::Verdicts(entries)) => entries.iter().collect(),
                _ => Vec::new(),
            },
        }
    }

    fn set(&self, chain: &Chain, name: &str) -> Option<&'r SetContents> {
        self.ruleset.sets.get(&(chain.backend, chain.family, chain.table.clone(), name.to_owned()))
    }

    /// One forward per family the rule can apply to and per destination.
    fn nat(&mut self, chain: &Chain, rule: &Rule, nat: &Nat, hook: Hook, conditions: &[Match]) {
        let spot = RuleSpot::rule(chain, rule);
        let destinations: Vec<(Option<Match>, Option<NatTarget>)> = match &nat.to {
            NatTo::Unread => vec![(None, None)],
            NatTo::One(target) => vec![(None, Some(*target))],
            NatTo::Map { key, map } => {
                let entries: Vec<(Values, NatTarget)> = match map {
                    NatMapRef::Literal(entries) => entries.clone(),
                    NatMapRef::Named(name) => match self.set(chain, name) {
                        Some(SetContents::NatTargets(entries)) => entries.clone(),
                        _ => Vec::new(),
                    },
                };
                entries
                    .into_iter()
                    .map(|(values, target)| {
                        (Some(Match::Is { key: *key, negated: false, values }), Some(target))
                    })
                    .collect()
            }
        };
        for (entry, target) in destinations {
            let mut all = conditions.to_vec();
            all.extend(entry);
            for v4 in families(chain.family, target.as_ref(), &all) {
                let reading = Reading::of(self, chain, &all, v4);
                if reading.impossible {
                    continue;
                }
                self.keep(reading.forward(nat, target, hook, v4, &spot));
            }
        }
    }
}

/// The IP families a NAT rule in a `family` table applies to.
fn families(family: TableFamily, target: Option<&NatTarget>, conditions: &[Match]) -> Vec<bool> {
    match family {
        TableFamily::Ip => return vec![true],
        TableFamily::Ip6 => return vec![false],
        _ => {}
    }
    if let Some(addr) = target.and_then(|target| target.addr) {
        return vec![addr.is_ipv4()];
    }
    let mut v4 = true;
    let mut v6 = true;
    for condition in conditions {
        let Match::Is { key, negated, values } = condition else { continue };
        match key {
            // An address match, negated or not, matches its own family's
            // packets only.
            Key::SourceAddress { v4: is_v4 } | Key::DestinationAddress { v4: is_v4 } => {
                (v4, v6) = (v4 && *is_v4, v6 && !*is_v4);
            }
            Key::NfProto => {
                let Values::Numbers(numbers) = values else { continue };
                let (has_v4, has_v6) = (numbers.contains(2), numbers.contains(10));
                (v4, v6) = (v4 && has_v4 != *negated, v6 && has_v6 != *negated);
            }
            _ => {}
        }
    }
    [(v4, true), (v6, false)].into_iter().filter(|(on, _)| *on).map(|(_, v4)| v4).collect()
}

/// What a path's conditions say of the connections a forward takes.
struct Reading {
    protocols: Intervals,
    ports: Intervals,
    sources: Intervals,
    destinations: Option<Intervals>,
    local_only: bool,
    interfaces: Vec<String>,
    conditions: Vec<String>,
    /// The conditions contradict each other (or the family): no forward.
    impossible: bool,
}

impl Reading {
    fn of(walk: &Walk<'_>, chain: &Chain, conditions: &[Match], v4: bool) -> Reading {
        let mut reading = Reading {
            protocols: Intervals::range(0, 255),
            ports: Intervals::range(0, 65535),
            sources: address_universe(v4),
            destinations: None,
            local_only: false,
            interfaces: Vec::new(),
            conditions: Vec::new(),
            impossible: false,
        };
        for condition in conditions {
            match condition {
                Match::Is { key, negated, values } => {
                    let values = match values {
                        Values::Set(name) => match walk.set(chain, name) {
                            Some(SetContents::Values(values)) => values,
                            _ => {
                                reading.conditions.push(format!("set @{name} (not read)"));
                                continue;
                            }
                        },
                        values => values,
                    };
                    reading.read(*key, *negated, values, v4);
                }
                Match::RateLimit { what } => reading.conditions.push(what.clone()),
                Match::Unknown { construct } => reading.conditions.push(construct.clone()),
            }
        }
        reading.impossible |= reading.protocols.is_empty()
            || reading.ports.is_empty()
            || reading.sources.is_empty()
            || reading.destinations.as_ref().is_some_and(Intervals::is_empty);
        reading
    }

    fn read(&mut self, key: Key, negated: bool, values: &Values, v4: bool) {
        let restrict = |set: &mut Intervals, numbers: &Intervals| {
            *set = if negated { set.subtract(numbers) } else { set.intersect(numbers) };
        };
        match (key, values) {
            (Key::SourceAddress { v4: is_v4 } | Key::DestinationAddress { v4: is_v4 }, _)
                if is_v4 != v4 =>
            {
                self.impossible = true;
            }
            (Key::SourceAddress { .. }, Values::Numbers(numbers)) => {
                restrict(&mut self.sources, numbers)
            }
            (Key::DestinationAddress { .. }, Values::Numbers(numbers)) => {
                let destinations = self.destinations.get_or_insert_with(|| address_universe(v4));
                restrict(destinations, numbers);
            }
            (Key::Protocol, Values::Numbers(numbers)) => restrict(&mut self.protocols, numbers),
            (Key::NfProto, Values::Numbers(numbers)) => {
                let family = Intervals::point(if v4 { 2 } else { 10 });
                self.impossible |= numbers.intersect(&family).is_empty() != negated;
            }
            (Key::DestinationPort { protocol }, Values::Numbers(numbers)) => {
                if let Some(protocol) = protocol {
                    self.protocols = self.protocols.intersect(&Intervals::point(protocol.into()));
                }
                restrict(&mut self.ports, numbers);
            }
            (Key::DestinationType, Values::Numbers(numbers))
                if !negated && numbers.ranges() == [(AddressType::LOCAL, AddressType::LOCAL)] =>
            {
                self.local_only = true;
            }
            (Key::InInterface, Values::Names(names)) => {
                let mark = if negated { "!" } else { "" };
                self.interfaces.extend(names.iter().map(|name| format!("{mark}{name}")));
            }
            (key, _) => self.conditions.push(describe(key, negated)),
        }
    }

    fn forward(
        self,
        nat: &Nat,
        target: Option<NatTarget>,
        hook: Hook,
        v4: bool,
        spot: &RuleSpot,
    ) -> Forward {
        let proto = match self.protocols.ranges() {
            [(6, 6)] => Some("tcp".to_owned()),
            [(17, 17)] => Some("udp".to_owned()),
            [(132, 132)] => Some("sctp".to_owned()),
            _ => None,
        };
        let ports = self
            .ports
            .ranges()
            .iter()
            .map(|&(first, last)| PortRange { first: first as u16, last: last as u16 })
            .collect();
        let destinations = match &self.destinations {
            Some(set) => shortest(set, v4),
            None => Vec::new(),
        };
        let to = ForwardTarget {
            addr: target.and_then(|target| target.addr).map(|addr| addr.to_string()),
            ports: target
                .and_then(|target| target.ports)
                .map(|(first, last)| PortRange { first, last }),
        };
        Forward {
            kind: nat.kind.clone(),
            hooks: vec![hook.as_str().to_owned()],
            family: if v4 { "inet" } else { "inet6" }.to_owned(),
            proto,
            ports,
            destinations,
            only_local_addresses: self.local_only,
            sources: shortest(&self.sources, v4),
            interfaces: self.interfaces,
            to,
            container: None,
            conditions: self.conditions,
            rule: firewall_rule(spot),
            firewall: None,
        }
    }
}

/// `set` as its prefixes, or as the prefixes it leaves out (each after a
/// `!`) when those are fewer: `ip daddr != 127.0.0.0/8` reads back as
/// itself.
fn shortest(set: &Intervals, v4: bool) -> Vec<String> {
    let taken = as_prefixes(set, v4);
    let left_out = address_universe(v4).subtract(set);
    if left_out.is_empty() || taken.len() <= 1 {
        return taken;
    }
    let left_out = as_prefixes(&left_out, v4);
    match left_out.len() < taken.len() {
        true => left_out.into_iter().map(|prefix| format!("!{prefix}")).collect(),
        false => taken,
    }
}

/// A condition by what it looks at, for `conditions`.
fn describe(key: Key, negated: bool) -> String {
    let what = match key {
        Key::InInterface => "input interface",
        Key::OutInterface => "output interface",
        Key::SourceAddress { .. } => "source address",
        Key::DestinationAddress { .. } => "destination address",
        Key::Protocol => "protocol",
        Key::NfProto => "family",
        Key::SourcePort { .. } => "source port",
        Key::DestinationPort { .. } => "destination port",
        Key::OriginalDestinationPort => "original destination port",
        Key::CtState => "conntrack state",
        Key::CtStatus => "conntrack status",
        Key::DestinationType => "destination address type",
    };
    match negated {
        true => format!("not {what}"),
        false => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::nft;

    fn of(json: &str) -> Vec<Forward> {
        forwards(&nft::read(json).unwrap())
    }

    fn summary(forward: &Forward) -> String {
        let ports: Vec<String> = forward.ports.iter().map(ToString::to_string).collect();
        let to_port = forward.to.ports.map(|ports| format!(":{ports}")).unwrap_or_default();
        format!(
            "{} {} {}/{} dst={:?}{} src={:?} if={:?} -> {}{} {:?}",
            forward.hooks.join(","),
            forward.kind,
            forward.proto.as_deref().unwrap_or("any"),
            ports.join(","),
            forward.destinations,
            if forward.only_local_addresses { "+local" } else { "" },
            forward.sources,
            forward.interfaces,
            forward.to.addr.as_deref().unwrap_or("this-host"),
            to_port,
            forward.conditions,
        )
    }

    fn fixture(name: &str) -> Vec<String> {
        let path = format!("{}/fixtures/firewall/{name}.json", env!("CARGO_MANIFEST_DIR"));
        of(&std::fs::read_to_string(path).unwrap()).iter().map(summary).collect()
    }

    #[test]
    fn docker29_forwards_from_prerouting_and_output() {
        assert_eq!(
            fixture("docker29"),
            [
                r#"output dnat tcp/8080 dst=["!127.0.0.0/8"]+local src=["0.0.0.0/0"] if=["!docker0"] -> 172.17.0.2:80 []"#,
                r#"prerouting dnat tcp/8080 dst=[]+local src=["0.0.0.0/0"] if=["!docker0"] -> 172.17.0.2:80 []"#,
                // The output path leaves out 127.0.0.0/8, which this one asks for.
                r#"prerouting dnat tcp/5000 dst=["127.0.0.1/32"]+local src=["0.0.0.0/0"] if=["!docker0"] -> 172.17.0.3:5000 []"#,
            ]
        );
    }

    #[test]
    fn netavark_maps_ranges_and_redirects() {
        assert_eq!(
            fixture("c2"),
            [
                r#"prerouting dnat tcp/8081 dst=["10.0.0.0/8"]+local src=["0.0.0.0/0"] if=[] -> 10.88.0.4:80 []"#,
                r#"prerouting dnat tcp/9090 dst=[]+local src=["0.0.0.0/0"] if=[] -> 10.88.0.3:80 []"#,
                r#"prerouting dnat tcp/8443 dst=[]+local src=["0.0.0.0/0"] if=[] -> 10.88.0.6 []"#,
                r#"prerouting redirect tcp/7000-7010 dst=[]+local src=["0.0.0.0/0"] if=[] -> this-host:7100 []"#,
                r#"prerouting redirect tcp/7000-7010 dst=[]+local src=["::/0"] if=[] -> this-host:7100 []"#,
            ]
        );
    }

    #[test]
    fn firewalld_forward_port_through_a_goto() {
        assert_eq!(
            fixture("firewalld"),
            [r#"prerouting dnat tcp/2222 dst=[] src=["0.0.0.0/0"] if=["eth0"] -> 10.0.0.5:22 []"#]
        );
    }

    #[test]
    fn sources_and_contradictions() {
        let json = r#"{"nftables": [
            {"table": {"family": "ip", "name": "t"}},
            {"chain": {"family": "ip", "table": "t", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 4, "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
                {"dnat": {"addr": "10.0.0.53"}}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 5, "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}},
                {"dnat": {"addr": "10.0.0.9"}}]}}
        ]}"#;
        let found: Vec<String> = of(json).iter().map(summary).collect();
        assert_eq!(
            found,
            [r#"prerouting dnat udp/53 dst=[] src=["192.0.2.0/24"] if=[] -> 10.0.0.53 []"#],
            "an ip table's rule that asks for IPv6 forwards nothing"
        );
    }

    #[test]
    fn a_negated_ipv4_match_takes_no_ipv6() {
        let json = r#"{"nftables": [
            {"table": {"family": "inet", "name": "t"}},
            {"chain": {"family": "inet", "table": "t", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 4, "expr": [
                {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                {"redirect": {"port": 3128}}]}}
        ]}"#;
        let found: Vec<String> = of(json).iter().map(summary).collect();
        assert_eq!(
            found,
            [r#"prerouting redirect tcp/80 dst=[] src=["!10.0.0.0/8"] if=[] -> this-host:3128 []"#]
        );
    }

    /// Chains that each jump twice to the next, `depth` deep, the last
    /// with `rules` dnat rules: 2^depth paths to each.
    fn diamond(depth: usize, rules: usize) -> String {
        let mut items = vec![
            r#"{"table": {"family": "ip", "name": "t"}}"#.to_owned(),
            r#"{"chain": {"family": "ip", "table": "t", "name": "c0", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}"#.to_owned(),
        ];
        for level in 1..=depth {
            items.push(format!(
                r#"{{"chain": {{"family": "ip", "table": "t", "name": "c{level}"}}}}"#
            ));
        }
        let rule = |chain: usize, handle: usize, expr: String| {
            format!(
                r#"{{"rule": {{"family": "ip", "table": "t", "chain": "c{chain}", "handle": {handle}, "expr": [{expr}]}}}}"#
            )
        };
        for level in 0..depth {
            for handle in [1, 2] {
                let jump = format!(r#"{{"jump": {{"target": "c{}"}}}}"#, level + 1);
                items.push(rule(level, handle, jump));
            }
        }
        for port in 0..rules {
            let expr = format!(
                r#"{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": {}}}}}, {{"dnat": {{"addr": "10.0.0.1"}}}}"#,
                1000 + port
            );
            items.push(rule(depth, 10 + port, expr));
        }
        format!(r#"{{"nftables": [{}]}}"#, items.join(",\n"))
    }

    #[test]
    fn forwards_reached_by_many_paths_are_listed_once() {
        let found = of(&diamond(10, 50));
        assert_eq!(found.len(), 50);
        assert!(found.iter().all(|forward| forward.hooks == ["prerouting"]));
    }
}
