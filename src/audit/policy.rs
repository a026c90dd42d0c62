//! `portwatch audit --policy FILE`: what the site approves. A TOML file
//! with allow entries (each matching listeners on any combination of
//! protocol, port or range, bind scope, address or CIDR, process, binary,
//! user, systemd unit, container and namespace), rule overrides (disable a
//! rule, change its severity) and a mode: `report` (the built-in rules
//! only) or `allowlist` (also every listener no entry allows).
//!
//! An allowed listener gets no findings from the port rules and from
//! `unowned-listener`; the owner rules (`deleted-binary`,
//! `binary-in-temporary-directory`) still judge its holders: an entry
//! approves a service, not a stale or dropped binary. Entries that name
//! owners approve nothing where the owners are unknown (a recording, holders
//! hidden from this user); the report's limits say so.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::model::audit::{AuditReport, BindScope, Finding, Listener, Severity};
use crate::model::{Process, Transport};

use super::rules;

/// Largest policy file read.
pub const SIZE_LIMIT: u64 = 4 << 20;

/// The rule allowlist mode adds.
pub const UNAPPROVED: &str = "unapproved-listener";

/// The rules an allow entry silences for the listeners it approves: the
/// port rules, and `unowned-listener` (an approved kernel listener, such as
/// NFS, needs no holder). Rules not named here (the owner rules, and any
/// added later) still apply to allowed listeners.
pub const SILENCED_BY_ALLOW: &[&str] = &[
    "docker-api-without-tls",
    "exposed-datastore",
    "exposed-control-plane",
    "cleartext-login",
    "legacy-service",
    "nonlocal-mta",
    "ssh-on-default-port",
    "dual-stack-wildcard",
    "unowned-listener",
];

/// `report`: only the built-in rules; `allowlist`: also every listener no
/// allow entry approves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Report,
    Allowlist,
}

/// A checked policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The file it came from, as given on the command line.
    pub file: String,
    pub mode: Mode,
    /// The line of `mode = ...`, if the file sets it.
    pub mode_line: Option<usize>,
    /// Overrides by rule id.
    pub rules: BTreeMap<String, RuleOverride>,
    pub allow: Vec<Allow>,
    /// `rate_limit = [2222, "8000-8100"]`: TCP ports that, like SSH, must
    /// meet a rate limit when exposed.
    pub rate_limit: Vec<RangeInclusive<u16>>,
}

/// `[rules.ID]`: disable a rule, or change its severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleOverride {
    pub disabled: bool,
    pub severity: Option<Severity>,
    /// The line of `severity = ...`, else of the table's header.
    pub line: usize,
}

/// `[[allow]]`: listeners the site approves. Every key given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// The line of its `[[allow]]` header.
    pub line: usize,
    pub comment: Option<String>,
    pub protocol: Option<Transport>,
    pub port: Option<RangeInclusive<u16>>,
    pub bind: Option<BindScope>,
    pub address: Option<Cidr>,
    pub process: Option<String>,
    pub exe: Option<String>,
    pub user: Option<String>,
    pub unit: Option<String>,
    pub container: Option<String>,
    pub namespace: Option<String>,
}

/// An address, or a network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// A policy that could not be used: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    mode: Option<Spanned<Mode>>,
    #[serde(default)]
    rules: BTreeMap<Spanned<String>, Spanned<RawRule>>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    #[serde(default)]
    rate_limit: Vec<PortRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    severity: Option<Spanned<Severity>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    comment: Option<String>,
    protocol: Option<Protocol>,
    port: Option<PortRange>,
    bind: Option<BindScope>,
    address: Option<Cidr>,
    process: Option<String>,
    exe: Option<String>,
    user: Option<String>,
    unit: Option<String>,
    container: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Protocol {
    Tcp,
    Udp,
}

struct PortRange(RangeInclusive<u16>);

impl Policy {
    /// Reads a policy from `text`, the contents of `file`.
    pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
        let error = |span: Option<std::ops::Range<usize>>, message: &str| {
            let (line, column) = position(text, span.map_or(0, |span| span.start));
            PolicyError {
                file: file.to_owned(),
                line,
                column,
                message: message.split('\n').map(str::trim).collect::<Vec<_>>().join(" "),
            }
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().replacen("unknown field", "unknown key", 1);
            error(e.span(), &message)
        })?;
        let line_of = |offset: usize| position(text, offset).0;
        let mut rules = BTreeMap::new();
        for (id, table) in raw.rules {
            if rules::rule(id.get_ref()).is_none() {
                let known: Vec<&str> = rules::RULES.iter().map(|rule| rule.id).collect();
                return Err(error(
                    Some(id.span()),
                    &format!("unknown rule '{}' (known: {})", id.get_ref(), known.join(", ")),
                ));
            }
            let line = table
                .get_ref()
                .severity
                .as_ref()
                .map_or(line_of(id.span().start), |s| line_of(s.span().start));
            let table = table.into_inner();
            let severity = table.severity.map(Spanned::into_inner);
            rules
                .insert(id.into_inner(), RuleOverride { disabled: table.disabled, severity, line });
        }
        let mut allow = Vec::new();
        for entry in raw.allow {
            let line = header_line(text, entry.span().start);
            let raw = entry.into_inner();
            let entry = Allow {
                line,
                comment: raw.comment,
                protocol: raw.protocol.map(|p| match p {
                    Protocol::Tcp => Transport::Tcp,
                    Protocol::Udp => Transport::Udp,
                }),
                port: raw.port.map(|p| p.0),
                bind: raw.bind,
                address: raw.address,
                process: raw.process,
                exe: raw.exe,
                user: raw.user,
                unit: raw.unit,
                container: raw.container,
                namespace: raw.namespace,
            };
            if entry == (Allow { line, comment: entry.comment.clone(), ..Allow::default() }) {
                return Err(PolicyError {
                    file: file.to_owned(),
                    line,
                    column: 1,
                    message: "an allow entry needs a key besides `comment` (protocol, port, \
                              bind, address, process, exe, user, unit, container, namespace); \
                              one with none would allow every listener"
                        .into(),
                });
            }
            allow.push(entry);
        }
        Ok(Policy {
            file: file.to_owned(),
            mode: raw.mode.as_ref().map_or(Mode::Report, |m| *m.get_ref()),
            mode_line: raw.mode.map(|m| line_of(m.span().start)),
            rules,
            allow,
            rate_limit: raw.rate_limit.into_iter().map(|ports| ports.0).collect(),
        })
    }

    /// The first allow entry that approves `listener`, with the entries
    /// that might have but name owners nobody could see.
    pub fn approval(&self, listener: &Listener, owners_known: bool) -> Approval<'_> {
        let owners_known =
            owners_known && listener.socket.owners.as_ref().is_some_and(|o| o.owner_visible);
        let mut unchecked = Vec::new();
        for entry in &self.allow {
            if !entry.matches_socket(listener) {
                continue;
            }
            if !entry.names_owner() {
                return Approval { entry: Some(entry), unchecked };
            }
            if !owners_known {
                unchecked.push(entry);
                continue;
            }
            if holders(listener).iter().any(|process| entry.matches_process(process)) {
                return Approval { entry: Some(entry), unchecked };
            }
        }
        Approval { entry: None, unchecked }
    }

    /// Applies the policy to one listener's findings: silences what its
    /// allow entry covers, adds `unapproved-listener` in allowlist mode,
    /// drops disabled rules and re-grades overridden ones.
    pub fn apply(&self, listener: &Listener, owners_known: bool, findings: &mut Vec<Finding>) {
        let port = listener.socket.local.port;
        let limited = findings.iter().any(|finding| finding.rule == rules::NO_RATE_LIMIT);
        if !limited && self.rate_limit.iter().any(|ports| ports.contains(&port)) {
            findings.extend(rules::unlimited(listener, "a port the policy names"));
        }
        let approval = self.approval(listener, owners_known);
        match approval.entry {
            Some(entry) => {
                findings.retain(|f| !SILENCED_BY_ALLOW.contains(&f.rule.as_str()));
                for finding in findings.iter_mut() {
                    finding.message.push_str(&format!("; allowed by {}", entry.describe(self)));
                    finding.policy_line = Some(entry.line);
                }
            }
            None if self.mode == Mode::Allowlist => {
                findings.push(self.unapproved(listener, &approval));
            }
            None => {}
        }
        self.override_rules(findings);
    }

    /// Drops the findings of disabled rules and re-grades overridden ones:
    /// a listener's, or a forward's, which no allow entry covers.
    pub fn override_rules(&self, findings: &mut Vec<Finding>) {
        findings.retain(|f| !self.rules.get(&f.rule).is_some_and(|o| o.disabled));
        for finding in findings.iter_mut() {
            let Some(severity) =
                self.rules.get(&finding.rule).and_then(|o| o.severity.map(|s| (s, o.line)))
            else {
                continue;
            };
            let (severity, line) = severity;
            if severity != finding.severity {
                finding.message.push_str(&format!(
                    "; severity {} by {} line {line} (built-in: {})",
                    severity.as_str(),
                    self.file,
                    finding.severity.as_str()
                ));
            }
            finding.severity = severity;
            finding.policy_line = Some(line);
        }
    }

    fn unapproved(&self, listener: &Listener, approval: &Approval<'_>) -> Finding {
        let socket = &listener.socket;
        let mut message = format!(
            "{} {}: no allow entry of {} approves it (allowlist mode, line {})",
            socket.netid.as_str(),
            endpoint_text(listener),
            self.file,
            self.mode_line.unwrap_or(1)
        );
        if !approval.unchecked.is_empty() {
            let lines: Vec<String> =
                approval.unchecked.iter().map(|e| e.line.to_string()).collect();
            message.push_str(&format!(
                " (the entries on lines {} name owners, which this audit could not see)",
                lines.join(", ")
            ));
        }
        message.push_str(&holder_text(listener));
        let stop = match holders(listener).first().and_then(|p| p.unit.as_deref()) {
            Some(unit) => format!("`systemctl disable --now {unit}`"),
            None => "stop the service that holds it".to_owned(),
        };
        let remedy = format!(
            "if it is needed, add an [[allow]] entry for it to {} (`portwatch audit \
             --init-policy` prints one per listener); otherwise {stop}",
            self.file
        );
        Finding {
            policy_line: self.mode_line,
            ..rules::finding(UNAPPROVED, listener, message, remedy)
        }
    }

    /// The report's limits the policy adds: entries naming owners that
    /// could not be checked, each with how many listeners it then did not
    /// approve.
    pub fn limits(&self, listeners: &[Listener], owners_known: bool) -> Vec<String> {
        let mut skipped: BTreeMap<usize, usize> = BTreeMap::new();
        for listener in listeners {
            let approval = self.approval(listener, owners_known);
            if approval.entry.is_none() {
                for entry in approval.unchecked {
                    *skipped.entry(entry.line).or_insert(0) += 1;
                }
            }
        }
        skipped
            .into_iter()
            .map(|(line, count)| {
                format!(
                    "policy: the allow entry on {} line {line} names owners (process, exe, user, \
                     unit or container), which this audit could not see; it approved none of \
                     the {count} listener(s) its other keys match",
                    self.file
                )
            })
            .collect()
    }
}

/// Which entry approves a listener, if any.
#[derive(Debug)]
pub struct Approval<'a> {
    pub entry: Option<&'a Allow>,
    /// Entries whose socket keys match but whose owner keys could not be
    /// checked.
    pub unchecked: Vec<&'a Allow>,
}

impl Allow {
    fn names_owner(&self) -> bool {
        self.process.is_some()
            || self.exe.is_some()
            || self.user.is_some()
            || self.unit.is_some()
            || self.container.is_some()
    }

    fn matches_socket(&self, listener: &Listener) -> bool {
        let socket = &listener.socket;
        self.protocol.is_none_or(|p| p == socket.netid)
            && self.port.as_ref().is_none_or(|ports| ports.contains(&socket.local.port))
            && self.bind.is_none_or(|bind| bind == listener.exposure.bind)
            && self.address.is_none_or(|cidr| cidr.contains(socket.local.addr))
            && self.namespace.as_deref().is_none_or(|wanted| {
                socket.netns.as_deref().is_some_and(|label| {
                    label.name.as_deref() == Some(wanted) || label.inode.to_string() == wanted
                })
            })
    }

    fn matches_process(&self, process: &Process) -> bool {
        self.process.as_deref().is_none_or(|name| process.is_named(name))
            && self
                .exe
                .as_deref()
                .is_none_or(|exe| process.exe.as_ref().is_some_and(|e| *e == *exe))
            && self.user.as_deref().is_none_or(|user| {
                process.user.as_deref() == Some(user)
                    || process.uid.is_some_and(|uid| uid.to_string() == user)
            })
            && self.unit.as_deref().is_none_or(|unit| process.unit.as_deref() == Some(unit))
            && self.container.as_deref().is_none_or(|prefix| {
                process
                    .container
                    .as_ref()
                    .is_some_and(|c| c.id.starts_with(prefix) || c.name.as_deref() == Some(prefix))
            })
    }

    /// `policy.toml line 12 ("public web server")`.
    fn describe(&self, policy: &Policy) -> String {
        match &self.comment {
            Some(comment) => format!("{} line {} ({comment:?})", policy.file, self.line),
            None => format!("{} line {}", policy.file, self.line),
        }
    }
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match (self.addr, addr) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            _ => addr,
        };
        match (self.addr, addr) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }

    fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || {
            format!("bad address '{text}': expected an IP address or CIDR (10.0.0.0/8, fd00::/8)")
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let most = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= most => prefix,
                _ => {
                    return Err(format!(
                        "bad address '{text}': the prefix length must be 0 to {most}"
                    ));
                }
            },
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(text.trim()).map_err(de::Error::custom)
    }
}

impl PortRange {
    fn parse(text: &str) -> Result<PortRange, String> {
        let port = |word: &str| -> Result<u16, String> {
            word.trim().parse::<u16>().map_err(|_| {
                format!("bad port range '{text}': expected a port (443) or a range (8000-8100) of 0 to 65535")
            })
        };
        let (low, high) = match text.split_once('-') {
            Some((low, high)) => (port(low)?, port(high)?),
            None => {
                let port = port(text)?;
                (port, port)
            }
        };
        if low > high {
            return Err(format!("bad port range '{text}': {low} is above {high}"));
        }
        Ok(PortRange(low..=high))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PortRange, D::Error> {
        struct Ports;
        impl Visitor<'_> for Ports {
            type Value = PortRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port (443) or a range (\"8000-8100\")")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<PortRange, E> {
                PortRange::parse(&value.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<PortRange, E> {
                PortRange::parse(&value.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<PortRange, E> {
                PortRange::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Ports)
    }
}

/// 1-based line and column (in characters) of a byte offset.
/// Reads and parses the policy file at `path`.
pub fn read(path: &std::path::Path, files: &dyn crate::sys::Files) -> anyhow::Result<Policy> {
    let name = path.display().to_string();
    let text = files
        .read_text(path, SIZE_LIMIT)
        .map_err(|error| anyhow::anyhow!("{name}: cannot read the policy: {error}"))?;
    Ok(Policy::parse(&text, &name)?)
}

pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |at| at + 1);
    (line, before[start..].chars().count() + 1)
}

/// The line of the `[[allow]]` header before a table's body at `offset`
/// (the line of `offset` itself for an inline table).
fn header_line(text: &str, offset: usize) -> usize {
    let (line, _) = position(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    (1..=line.min(lines.len()))
        .rev()
        .find(|&at| lines[at - 1].trim_start().starts_with("[["))
        .unwrap_or(line)
}

fn holders(listener: &Listener) -> Vec<&Process> {
    let owners = listener.socket.owners.as_ref();
    owners
        .map(|o| o.processes.iter().map(|holder| holder.process.as_ref()).collect())
        .unwrap_or_default()
}

/// `; held by nginx (pid 812, user www-data, unit nginx.service)`.
fn holder_text(listener: &Listener) -> String {
    let Some(process) = holders(listener).first().copied() else { return String::new() };
    let mut parts = vec![format!("pid {}", process.pid)];
    if let Some(user) = &process.user {
        parts.push(format!("user {user}"));
    }
    if let Some(unit) = &process.unit {
        parts.push(format!("unit {unit}"));
    }
    format!("; held by {} ({})", process.display_name(), parts.join(", "))
}

/// What `--init-policy` prints: a commented policy in allowlist mode with
/// one allow entry per listener of `report` (listeners alike in every key,
/// such as sshd on 0.0.0.0 and [::], share one), for the user to prune.
pub fn init_policy(report: &AuditReport) -> String {
    let mut entries: Vec<(EntryKeys, Vec<String>)> = Vec::new();
    for listener in &report.listeners {
        let keys = entry_keys(listener);
        let seen = format!("{} {}", listener.socket.netid.as_str(), endpoint_text(listener));
        match entries.iter_mut().find(|(k, _)| *k == keys) {
            Some((_, listeners)) => listeners.push(seen),
            None => entries.push((keys, vec![seen])),
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "# portwatch audit policy, written by `portwatch audit --init-policy`\n\
         # on {} at {}.\n\
         # It allows every listener seen then, one [[allow]] entry each: delete the\n\
         # entries of services that should not listen, narrow the others, then run\n\
         # `portwatch audit --policy FILE`. Reference: README, \"portwatch audit\".\n",
        comment_safe(&report.host),
        comment_safe(&report.time)
    ));
    for limit in &report.limits {
        out.push_str(&format!("#\n# limit: {}\n", comment_safe(limit)));
    }
    out.push_str(
        "\n# \"allowlist\": report every listener no entry allows (unapproved-listener).\n\
         # \"report\": the built-in rules only; entries then just silence port rules.\n\
         mode = \"allowlist\"\n\
         \n\
         # Disable a rule, or change its severity:\n\
         # [rules.ssh-on-default-port]\n\
         # disabled = true\n\
         # [rules.exposed-datastore]\n\
         # severity = \"critical\"\n",
    );
    for (keys, seen) in &entries {
        out.push_str("\n[[allow]]\n");
        out.push_str(&format!(
            "comment = {}\n",
            toml_string(&format!("seen: {}", seen.join(", ")))
        ));
        for (key, value) in keys {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    if entries.is_empty() {
        out.push_str("\n# Nothing listened: no [[allow]] entries.\n");
    }
    out
}

/// An entry's keys, values written as TOML: protocol, port, bind (and the
/// address when bound to one), namespace, and the first holder's process,
/// user, unit and container.
fn entry_keys(listener: &Listener) -> EntryKeys {
    let socket = &listener.socket;
    let mut keys = vec![
        ("protocol", toml_string(socket.netid.as_str())),
        ("port", socket.local.port.to_string()),
        ("bind", toml_string(listener.exposure.bind.as_str())),
    ];
    if listener.exposure.bind == BindScope::Address {
        keys.push(("address", toml_string(&socket.local.addr.to_string())));
    }
    if let Some(name) = socket.netns.as_deref().and_then(|label| label.name.as_deref()) {
        keys.push(("namespace", toml_string(name)));
    }
    if let Some(process) = holders(listener).first() {
        if let Some(name) = process.name.as_ref().and_then(|name| name.as_str()) {
            keys.push(("process", toml_string(name)));
        }
        match (&process.user, process.uid) {
            (Some(user), _) => keys.push(("user", toml_string(user))),
            (None, Some(uid)) => keys.push(("user", toml_string(&uid.to_string()))),
            (None, None) => {}
        }
        if let Some(unit) = &process.unit {
            keys.push(("unit", toml_string(unit)));
        }
        if let Some(container) = &process.container {
            let id = container.id.get(..12).unwrap_or(&container.id);
            keys.push(("container", toml_string(id)));
        }
    }
    keys
}

/// An allow entry's keys and their values, written as TOML.
type EntryKeys = Vec<(&'static str, String)>;

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Text for a `#` comment: no line breaks or other control characters.
fn comment_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `0.0.0.0:22`, `[::1]:5353`, `*:8080`.
fn endpoint_text(listener: &Listener) -> String {
    let port = listener.socket.local.port;
    match listener.socket.local.addr {
        _ if listener.exposure.families.len() > 1 => format!("*:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        Policy::parse(text, "p.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("mode = \"allowlist\"\n[[allow]]\nport = \"9000-80\"\n", "p.toml:3:8: "),
            ("[[allow]]\nprotocol = \"tcp\"\nadress = \"10.0.0.1\"\n", "p.toml:3:1: "),
            ("[rules.no-such-rule]\ndisabled = true\n", "p.toml:1:8: "),
            ("[[allow]]\naddress = \"10.0.0.0/33\"\n", "p.toml:2:11: "),
            ("[[allow]]\naddress = \"10.0.0.x\"\n", "p.toml:2:11: "),
            ("mode = \"allowlist\n", "p.toml:1:18: "),
            ("[rules.legacy-service]\nseverity = \"hgih\"\n", "p.toml:2:12: "),
            ("mode = \"strict\"\n", "p.toml:1:8: "),
            ("[[allow]]\nport = 70000\n", "p.toml:2:8: "),
            ("rate_limit = [22, \"9000-80\"]\n", "p.toml:1:19: "),
        ];
        for (text, start) in cases {
            let message = problem(text);
            assert!(message.starts_with(start), "{text:?}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn lines_of_entries_and_overrides() {
        let text = "mode = \"allowlist\"\n\n[rules.legacy-service]\ndisabled = true\n[rules.exposed-datastore]\nseverity = \"critical\"\n\n[[allow]]\ncomment = \"web\"\nport = \"8000-8100\"\n[[allow]]\nport = 22\naddress = \"10.0.0.0/8\"\n";
        let policy = Policy::parse(text, "p.toml").unwrap();
        assert_eq!(policy.mode, Mode::Allowlist);
        assert_eq!(policy.mode_line, Some(1));
        assert_eq!(policy.rules["legacy-service"].line, 3);
        assert!(policy.rules["legacy-service"].disabled);
        assert_eq!(policy.rules["exposed-datastore"].line, 6);
        assert_eq!(policy.rules["exposed-datastore"].severity, Some(Severity::Critical));
        let lines: Vec<usize> = policy.allow.iter().map(|a| a.line).collect();
        assert_eq!(lines, [8, 11]);
        assert_eq!(policy.allow[0].port, Some(8000..=8100));
        assert_eq!(policy.allow[1].port, Some(22..=22));
    }

    #[test]
    fn rate_limited_ports() {
        let policy = Policy::parse("rate_limit = [2222, \"8000-8100\"]\n", "p.toml").unwrap();
        assert_eq!(policy.rate_limit, [2222..=2222, 8000..=8100]);
    }

    #[test]
    fn cidrs() {
        let cidr = |text| Cidr::parse(text).unwrap();
        assert!(cidr("10.0.0.0/8").contains("10.1.2.3".parse().unwrap()));
        assert!(!cidr("10.0.0.0/8").contains("11.1.2.3".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(cidr("127.0.0.1").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(cidr("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(!cidr("::1").contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    fn held_listener(name: &str, user: &str, unit: &str, container: &str) -> Listener {
        use crate::model::{Container, Holder, InetEnd, InetSocket, IpFamily, Ownership};
        use crate::model::{NetnsLabel, SocketState};
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
        socket.local = InetEnd::new("10.1.2.3".parse().unwrap(), 6379);
        socket.netns =
            Some(std::sync::Arc::new(NetnsLabel { inode: 7, name: Some("blue \"ns\"".into()) }));
        let process = Process {
            pid: 42,
            name: Some(name.into()),
            uid: Some(1000),
            user: Some(user.into()),
            unit: Some(unit.into()),
            container: Some(Container {
                runtime: "docker".into(),
                id: container.into(),
                name: None,
            }),
            ..Process::default()
        };
        socket.owners = Some(Ownership {
            processes: vec![Holder {
                socket_context: None,
                fd: 3,
                process: std::sync::Arc::new(process),
            }],
            owner_visible: true,
        });
        let exposure = super::super::exposure::exposure(&socket);
        Listener { socket, exposure }
    }

    #[test]
    fn init_policy_round_trips_odd_names() {
        let listener = held_listener(
            "re\"dis\\x",
            "ü\nuser",
            "a'b.service",
            "0123456789abcdef0123456789abcdef",
        );
        let report = AuditReport {
            host: "h\nost".into(),
            time: "t".into(),
            listeners: vec![listener.clone()],
            findings: Vec::new(),
            summary: Default::default(),
            limits: vec!["line\nbreak".into()],
        };
        let text = init_policy(&report);
        let policy = Policy::parse(&text, "init.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(policy.mode, Mode::Allowlist);
        let entry = &policy.allow[0];
        assert_eq!(entry.address, Some(Cidr { addr: "10.1.2.3".parse().unwrap(), prefix: 32 }));
        assert_eq!(entry.bind, Some(BindScope::Address));
        assert_eq!(entry.namespace.as_deref(), Some("blue \"ns\""));
        assert_eq!(entry.process.as_deref(), Some("re\"dis\\x"));
        assert_eq!(entry.user.as_deref(), Some("ü\nuser"));
        assert_eq!(entry.container.as_deref(), Some("0123456789ab"));
        assert!(policy.approval(&listener, true).entry.is_some());
        let other = held_listener("redis", "ü\nuser", "a'b.service", "0123456789abcdef");
        assert!(policy.approval(&other, true).entry.is_none(), "another process");
        let approval = policy.approval(&listener, false);
        assert!(approval.entry.is_none(), "owners unknown: fails closed");
        assert_eq!(approval.unchecked.len(), 1);
    }
}
