//! Baselines: the listeners of a host, with their owners, saved once
//! (`portwatch baseline save FILE`) and compared with a later audit
//! (`portwatch audit --baseline FILE`).
//!
//! Listeners are matched on [`ListenerKey`] (protocol, family, address,
//! port, interface, namespace), never on pid, descriptor, inode or cookie,
//! so restarting a service is no change. Owners are compared by what
//! survives a restart: process name, binary, user, systemd unit, container.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::rules::finding;
use crate::model::audit::{Finding, Listener};
use crate::model::{ListenerKey, NetnsKey, Process, Transport};

/// The format's version; a file of another version is refused.
pub const VERSION: u32 = 1;

/// A baseline file: `{"portwatch_baseline": 1, "host", "time", "scope",
/// "listeners": [...], "limits": [...]}`. The listeners are the audit's own
/// records (`--json`'s `listeners`), read back by the same types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The format version, [`VERSION`].
    pub portwatch_baseline: u32,
    /// The host it was saved on (the kernel's host name).
    pub host: String,
    /// When it was saved, RFC 3339 in UTC.
    pub time: String,
    /// Which namespaces it covers: `own`, `netns NAME` or `all-netns`.
    pub scope: String,
    pub listeners: Vec<Listener>,
    /// What could not be seen when it was saved (hidden owners, namespaces
    /// not entered).
    #[serde(default)]
    pub limits: Vec<String>,
}

impl Baseline {
    /// Reads a baseline from its JSON text; the error says what is wrong
    /// and where (line and column).
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("portwatch_baseline") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(VERSION.into()) => {}
            Some(other) => {
                return Err(format!(
                    "portwatch_baseline is {other}; this portwatch reads version {VERSION}"
                ));
            }
            None => {
                return Err("not a portwatch baseline (no \"portwatch_baseline\" key; \
                     write one with `portwatch baseline save FILE`)"
                    .into());
            }
        }
        serde_json::from_str(text).map_err(|e| format!("not a valid baseline: {e}"))
    }
}

/// The part of the audit a baseline is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The one namespace the audit looked at; `None` for every one
    /// (`--all-netns`).
    pub namespace: Option<NetnsKey>,
    /// The inode of portwatch's own namespace, which `--all-netns` labels
    /// by inode and a plain run does not label: both mean the same one.
    pub own_inode: Option<u64>,
}

impl Coverage {
    fn covers(&self, key: &ListenerKey) -> bool {
        self.namespace.as_ref().is_none_or(|netns| key.netns == *netns)
    }

    /// The listener's key, with the own namespace always `Own`.
    fn key(&self, listener: &Listener) -> ListenerKey {
        let mut key = listener.socket.listener_key();
        if matches!((&key.netns, self.own_inode), (NetnsKey::Inode(inode), Some(own)) if *inode == own)
        {
            key.netns = NetnsKey::Own;
        }
        key
    }
}

/// What a baseline comparison found, and what it could not compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    pub findings: Vec<Finding>,
    pub limits: Vec<String>,
}

/// What names a listener's owner across restarts: not the pid, descriptor,
/// inode or cookie, which change every time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    name: Option<String>,
    exe: Option<String>,
    user: Option<String>,
    unit: Option<String>,
    container: Option<String>,
}

impl Identity {
    fn of(process: &Process) -> Identity {
        Identity {
            name: process.name.as_ref().map(|name| name.lossy().into_owned()),
            exe: process.exe.as_ref().map(|exe| exe.lossy().into_owned()),
            user: process.user.clone().or_else(|| process.uid.map(|uid| uid.to_string())),
            unit: process.unit.clone(),
            container: process.container.as_ref().map(|c| format!("{} {}", c.runtime, c.id)),
        }
    }

    /// `python3 (/usr/bin/python3.11, user root, unit ssh.service)`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(exe) = &self.exe {
            parts.push(exe.clone());
        }
        if let Some(user) = &self.user {
            parts.push(format!("user {user}"));
        }
        if let Some(unit) = &self.unit {
            parts.push(format!("unit {unit}"));
        }
        if let Some(container) = &self.container {
            parts.push(format!("container {container}"));
        }
        let name = self.name.as_deref().unwrap_or("?");
        match parts.is_empty() {
            true => name.to_owned(),
            false => format!("{name} ({})", parts.join(", ")),
        }
    }
}

/// Who holds the listeners of one key: `None` when that is unknown (owners
/// not looked up, or hidden by permissions); an empty set when nothing held
/// them although every process could be seen.
type Owners = Option<BTreeSet<Identity>>;

/// The listeners that share one key (SO_REUSEPORT, forked servers).
struct Group<'a> {
    listeners: Vec<&'a Listener>,
}

impl Group<'_> {
    fn first(&self) -> &Listener {
        self.listeners[0]
    }

    /// ` [pid 812, 813]`: who to look at now (not part of the identity).
    fn pids(&self) -> String {
        let pids: BTreeSet<u32> = self
            .listeners
            .iter()
            .filter_map(|listener| listener.socket.owners.as_ref())
            .flat_map(|ownership| ownership.processes.iter().map(|h| h.process.pid))
            .collect();
        match pids.is_empty() {
            true => String::new(),
            false => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!(" [pid {}]", pids.join(", "))
            }
        }
    }

    fn owners(&self) -> Owners {
        let mut identities = BTreeSet::new();
        for listener in &self.listeners {
            let ownership = listener.socket.owners.as_ref()?;
            if ownership.processes.is_empty() && !ownership.owner_visible {
                return None;
            }
            identities.extend(ownership.processes.iter().map(|h| Identity::of(&h.process)));
        }
        Some(identities)
    }
}

fn groups<'a>(
    listeners: impl Iterator<Item = &'a Listener>,
    coverage: &Coverage,
) -> BTreeMap<ListenerKey, Group<'a>> {
    let mut groups: BTreeMap<ListenerKey, Group<'a>> = BTreeMap::new();
    for listener in listeners {
        groups
            .entry(coverage.key(listener))
            .or_insert_with(|| Group { listeners: Vec::new() })
            .listeners
            .push(listener);
    }
    groups
}

/// Compares the audit's listeners (`now`) with a baseline's, within what
/// the audit covered: new, gone, changed owner, and moved (the same owner
/// and port on another address, one finding instead of a gone and a new).
pub fn compare(
    baseline: &Baseline,
    file: &str,
    now: &[Listener],
    coverage: &Coverage,
) -> Comparison {
    let mut comparison = Comparison::default();
    let before = groups(baseline.listeners.iter(), coverage);
    let outside = before.keys().filter(|key| !coverage.covers(key)).count();
    if outside > 0 {
        comparison.limits.push(format!(
            "baseline: {outside} listener(s) of {file} are in namespaces this audit did not \
             look at (the baseline's scope is {}), and were not compared",
            baseline.scope
        ));
    }
    for limit in &baseline.limits {
        comparison.limits.push(format!("baseline: when {file} was saved: {limit}"));
    }
    let before: BTreeMap<&ListenerKey, &Group<'_>> =
        before.iter().filter(|(key, _)| coverage.covers(key)).collect();
    let after = groups(now.iter(), coverage);
    let since = format!("since the baseline {file} ({}, host {})", baseline.time, baseline.host);
    let mut unknown_owners = 0;
    for (key, then) in &before {
        let Some(current) = after.get(*key) else { continue };
        match (then.owners(), current.owners()) {
            (Some(was), Some(is)) if was != is => {
                let message = format!(
                    "{key} changed owner {since}: was {}, now {}{}",
                    describe_all(&was),
                    describe_all(&is),
                    current.pids()
                );
                let remedy = format!(
                    "if the new holder is meant to serve it, accept the change by saving a new \
                     baseline (`portwatch baseline save {file}`); otherwise find out what \
                     replaced it (`portwatch who {}`) and stop it",
                    who_listens(key)
                );
                comparison.findings.push(finding(
                    "baseline-changed",
                    current.first(),
                    message,
                    remedy,
                ));
            }
            (Some(_), Some(_)) => {}
            _ => unknown_owners += 1,
        }
    }
    if unknown_owners > 0 {
        comparison.limits.push(format!(
            "baseline: the owners of {unknown_owners} listener(s) were unknown then or now, so \
             a change of owner could not be checked for them"
        ));
    }
    let gone: Vec<(&ListenerKey, &Group<'_>)> = before
        .iter()
        .filter(|(key, _)| !after.contains_key(**key))
        .map(|(k, g)| (*k, *g))
        .collect();
    let new: Vec<(&ListenerKey, &Group<'_>)> =
        after.iter().filter(|(key, _)| !before.contains_key(key)).collect();
    let (moves, gone, new) = moves(gone, new);
    for ((old_key, old), (new_key, group)) in moves {
        let message = format!(
            "{}{} moved {}/{} from {} to {}{} {since}",
            group.owners().map_or_else(String::new, |o| describe_all(&o)),
            group.pids(),
            old_key.port,
            old_key.netid.as_str(),
            place(old_key),
            place(new_key),
            exposure_change(old.first(), group.first()),
        );
        let remedy = format!(
            "if it is meant to listen there, accept the change by saving a new baseline \
             (`portwatch baseline save {file}`); otherwise bind it back to {} in its \
             configuration",
            place(old_key)
        );
        comparison.findings.push(finding("baseline-changed", group.first(), message, remedy));
    }
    for (key, group) in new {
        let holder = group.owners().map_or_else(
            || String::from(" (owner unknown)"),
            |owners| match owners.is_empty() {
                true => " (no visible process holds it)".into(),
                false => format!(", held by {}{}", describe_all(&owners), group.pids()),
            },
        );
        let message = format!("{key} is new {since}{holder}");
        let remedy = format!(
            "if it is expected, accept it by saving a new baseline (`portwatch baseline save \
             {file}`); otherwise find out what opened it (`portwatch who {}`) and stop it",
            who_listens(key)
        );
        comparison.findings.push(finding("baseline-new", group.first(), message, remedy));
    }
    for (key, group) in gone {
        let holder = group
            .owners()
            .filter(|owners| !owners.is_empty())
            .map_or_else(String::new, |owners| format!("; {} held it", describe_all(&owners)));
        let message = format!("{key} is gone {since}{holder}");
        let unit = group.owners().and_then(|owners| owners.iter().find_map(|o| o.unit.clone()));
        let check = match unit {
            Some(unit) => format!("`systemctl status {unit}`"),
            None => "the service that held it".into(),
        };
        let remedy = format!(
            "if it was stopped on purpose, accept it by saving a new baseline (`portwatch \
             baseline save {file}`); otherwise check {check}"
        );
        comparison.findings.push(finding("baseline-gone", group.first(), message, remedy));
    }
    comparison
}

type Entry<'k, 'g> = (&'k ListenerKey, &'k Group<'g>);

/// Pairs gone listeners with new ones of the same protocol, port,
/// namespace and (known, non-empty) owners: those moved to another address.
/// A partner of the same family is preferred. Returns the pairs, and what
/// is left gone and new.
fn moves<'k, 'g>(
    gone: Vec<Entry<'k, 'g>>,
    new: Vec<Entry<'k, 'g>>,
) -> (Vec<(Entry<'k, 'g>, Entry<'k, 'g>)>, Vec<Entry<'k, 'g>>, Vec<Entry<'k, 'g>>) {
    // New listeners by protocol, port, namespace and owners, each once.
    let mut candidates: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for (at, (key, group)) in new.iter().enumerate() {
        if let Some(owners) = group.owners().filter(|owners| !owners.is_empty()) {
            candidates
                .entry((key.netid, key.port, key.netns.clone(), owners))
                .or_default()
                .push(at);
        }
    }
    let mut taken = vec![false; new.len()];
    let mut paired: Vec<Option<usize>> = vec![None; gone.len()];
    for same_family in [true, false] {
        for (g, (key, group)) in gone.iter().enumerate() {
            if paired[g].is_some() {
                continue;
            }
            let Some(owners) = group.owners().filter(|owners| !owners.is_empty()) else {
                continue;
            };
            let Some(list) = candidates.get(&(key.netid, key.port, key.netns.clone(), owners))
            else {
                continue;
            };
            let partner = list
                .iter()
                .copied()
                .find(|&n| !taken[n] && (!same_family || new[n].0.family == key.family));
            if let Some(n) = partner {
                taken[n] = true;
                paired[g] = Some(n);
            }
        }
    }
    let mut moves = Vec::new();
    let mut left_gone = Vec::new();
    for (entry, partner) in gone.into_iter().zip(paired) {
        match partner {
            Some(n) => moves.push((entry, new[n])),
            None => left_gone.push(entry),
        }
    }
    let left_new = new.into_iter().zip(taken).filter(|(_, taken)| !taken).map(|(e, _)| e).collect();
    (moves, left_gone, left_new)
}

fn describe_all(owners: &BTreeSet<Identity>) -> String {
    match owners.is_empty() {
        true => "no visible process".into(),
        false => owners.iter().map(Identity::describe).collect::<Vec<_>>().join(" and "),
    }
}

/// `127.0.0.1`, `[::]`, `10.0.0.5%eth0`.
fn place(key: &ListenerKey) -> String {
    let mut text = match key.addr {
        std::net::IpAddr::V6(addr) => format!("[{addr}]"),
        std::net::IpAddr::V4(addr) => addr.to_string(),
    };
    if let Some(interface) = &key.interface {
        let _ = write!(text, "%{interface}");
    }
    text
}

/// ` (exposure loopback → wildcard)`, when the move changed it.
fn exposure_change(before: &Listener, after: &Listener) -> String {
    let (was, is) = (before.exposure.bind, after.exposure.bind);
    match was == is {
        true => String::new(),
        false => format!(" (exposure {} to {})", was.as_str(), is.as_str()),
    }
}

/// The `who` words that find a listener's holder alone (`who :PORT` also
/// finds clients whose peer is that port, as lsof does).
fn who_listens(key: &ListenerKey) -> String {
    match key.netid {
        Transport::Tcp => format!("TCP:{} -sTCP:LISTEN", key.port),
        Transport::Udp => format!("UDP:{}", key.port),
        _ => format!(":{}", key.port),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::exposure;
    use crate::model::{
        Holder, InetEnd, InetSocket, IpFamily, NetnsLabel, Ownership, SocketState, Transport,
    };

    fn process(pid: u32, name: &str, unit: &str) -> Process {
        Process {
            pid,
            name: Some(name.as_bytes().to_vec().into()),
            exe: Some(format!("/usr/sbin/{name}").into_bytes().into()),
            user: Some("root".into()),
            unit: Some(unit.into()),
            ..Process::default()
        }
    }

    fn listener(
        addr: &str,
        port: u16,
        netns: Option<NetnsLabel>,
        owner: Option<Process>,
    ) -> Listener {
        let addr: std::net::IpAddr = addr.parse().unwrap();
        let family = if addr.is_ipv4() { IpFamily::Inet } else { IpFamily::Inet6 };
        let mut socket = InetSocket::new(Transport::Tcp, family, SocketState::Listening);
        socket.local = InetEnd::new(addr, port);
        socket.v6only = (family == IpFamily::Inet6).then_some(true);
        socket.netns = netns.map(Arc::new);
        socket.owners = owner.map(|process| Ownership {
            processes: vec![Holder { socket_context: None, fd: 3, process: Arc::new(process) }],
            owner_visible: true,
        });
        let exposure = exposure::exposure(&socket);
        Listener { socket, exposure }
    }

    fn baseline(listeners: Vec<Listener>) -> Baseline {
        Baseline {
            portwatch_baseline: VERSION,
            host: "h".into(),
            time: "2026-01-01T00:00:00Z".into(),
            scope: "own".into(),
            listeners,
            limits: Vec::new(),
        }
    }

    const OWN: Coverage = Coverage { namespace: Some(NetnsKey::Own), own_inode: None };

    fn rules(comparison: &Comparison) -> Vec<(&str, String)> {
        let findings = comparison.findings.iter();
        findings.map(|f| (f.rule.as_str(), f.place().addr)).collect()
    }

    #[test]
    fn a_restart_is_no_change_and_another_unit_is() {
        let before = baseline(vec![listener("0.0.0.0", 80, None, Some(process(1, "nginx", "a")))]);
        let restarted = [listener("0.0.0.0", 80, None, Some(process(2, "nginx", "a")))];
        assert_eq!(compare(&before, "f", &restarted, &OWN), Comparison::default());
        let other_unit = [listener("0.0.0.0", 80, None, Some(process(2, "nginx", "b")))];
        let comparison = compare(&before, "f", &other_unit, &OWN);
        assert_eq!(rules(&comparison), [("baseline-changed", "0.0.0.0".into())]);
        assert!(comparison.findings[0].message.contains("unit a"), "{comparison:?}");
        assert!(comparison.findings[0].message.contains("[pid 2]"), "{comparison:?}");
    }

    #[test]
    fn unknown_owners_are_a_limit_not_a_change() {
        let before = baseline(vec![listener("0.0.0.0", 80, None, None)]);
        let now = [listener("0.0.0.0", 80, None, Some(process(2, "nginx", "a")))];
        let comparison = compare(&before, "f", &now, &OWN);
        assert!(comparison.findings.is_empty(), "{comparison:?}");
        assert_eq!(comparison.limits.len(), 1, "{comparison:?}");
    }

    #[test]
    fn a_dual_stack_move_pairs_each_family_with_its_own() {
        let owner = || Some(process(1, "redis", "redis.service"));
        let before = baseline(vec![
            listener("127.0.0.1", 6379, None, owner()),
            listener("::1", 6379, None, owner()),
        ]);
        let now = [listener("::", 6379, None, owner()), listener("0.0.0.0", 6379, None, owner())];
        let comparison = compare(&before, "f", &now, &OWN);
        let messages: Vec<&str> = comparison.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("from 127.0.0.1 to 0.0.0.0")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("from [::1] to [::]")), "{messages:?}");
        // The same family first: ::1 moved to ::, and 0.0.0.0 is new.
        let before = baseline(vec![listener("::1", 6379, None, owner())]);
        let comparison = compare(&before, "f", &now, &OWN);
        let mut found = rules(&comparison);
        found.sort();
        assert_eq!(found, [("baseline-changed", "::".into()), ("baseline-new", "0.0.0.0".into())]);
        // Another program on the new address is a gone and a new, not a move.
        let stranger = [listener("0.0.0.0", 6379, None, Some(process(9, "nc", "x")))];
        let before = baseline(vec![listener("127.0.0.1", 6379, None, owner())]);
        let comparison = compare(&before, "f", &stranger, &OWN);
        let mut found = rules(&comparison);
        found.sort();
        assert_eq!(
            found,
            [("baseline-gone", "127.0.0.1".into()), ("baseline-new", "0.0.0.0".into())]
        );
    }

    #[test]
    fn namespaces_the_audit_did_not_look_at_are_a_limit() {
        let blue = || Some(NetnsLabel { inode: 7, name: Some("blue".into()) });
        let owner = || Some(process(1, "sshd", "ssh.service"));
        let before = baseline(vec![
            listener("0.0.0.0", 22, None, owner()),
            listener("0.0.0.0", 22, blue(), owner()),
        ]);
        let comparison = compare(&before, "f", &[listener("0.0.0.0", 22, None, owner())], &OWN);
        assert!(comparison.findings.is_empty(), "{comparison:?}");
        assert_eq!(comparison.limits.len(), 1, "{comparison:?}");
        // --all-netns labels the own namespace by inode: still the same one.
        let own = || Some(NetnsLabel { inode: 5, name: None });
        let now =
            [listener("0.0.0.0", 22, own(), owner()), listener("0.0.0.0", 22, blue(), owner())];
        let all = Coverage { namespace: None, own_inode: Some(5) };
        assert_eq!(compare(&before, "f", &now, &all), Comparison::default());
        let comparison = compare(&before, "f", &now[..1], &all);
        assert_eq!(rules(&comparison), [("baseline-gone", "0.0.0.0".into())]);
    }
}
