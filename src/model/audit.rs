//! What an audit reports: listeners with their exposure, findings, a
//! summary and the limits of what could be checked. Plain serde types, as
//! the JSON report writes them and a later run may read them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::firewall::{FirewallExposure, Forward};
use super::{InetSocket, IpFamily};

/// How bad a finding is, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(word: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|severity| severity.as_str() == word)
    }
}

/// Where a listener is bound, which says who could reach it before any
/// firewall: only this host, some of its addresses, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindScope {
    /// 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104.
    Loopback,
    /// Specific addresses that are not loopback.
    Address,
    /// Every address (0.0.0.0, ::).
    Wildcard,
}

impl BindScope {
    pub const ALL: [BindScope; 3] = [BindScope::Loopback, BindScope::Address, BindScope::Wildcard];

    pub fn as_str(self) -> &'static str {
        match self {
            BindScope::Loopback => "loopback",
            BindScope::Address => "address",
            BindScope::Wildcard => "wildcard",
        }
    }
}

/// Who can reach a listener: by its bind address, and through the firewall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    pub bind: BindScope,
    /// The families it accepts: both for a dual-stack `*` listener.
    pub families: Vec<IpFamily>,
    /// What the live ruleset does to a new connection; absent when no
    /// ruleset was evaluated (a recording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<FirewallExposure>,
    /// With `--all-netns`: the host's forwards that send connections to
    /// this listener (a published container port, seen from inside the
    /// container), each with the forward path's verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

/// A listening TCP or bound UDP socket, with its exposure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    #[serde(flatten)]
    pub socket: InetSocket,
    pub exposure: Exposure,
}

/// One thing an audit found wrong (or worth knowing) about a listener or
/// a port forward: exactly one of `listener` and `forward` is present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's stable id, such as `exposed-datastore`.
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// Why this listener is a finding, in words about it.
    pub message: String,
    /// What to do, built from what is known (unit, bind, port).
    pub remedy: String,
    /// Published checks of the same thing (CIS, ComplianceAsCode, lynis).
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Listener>,
    /// A forward of this host's ports (a dnat, a redirect) the finding is
    /// about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<Forward>,
    /// The policy file's line that matters for this finding, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_line: Option<usize>,
}

/// Counts for the report's one-line summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    pub listeners: usize,
    /// Listeners by bind scope (a dual-stack wildcard counts once here).
    pub by_exposure: BTreeMap<BindScope, usize>,
    pub findings: BTreeMap<Severity, usize>,
}

/// The whole audit of one host (or namespace, or recording).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub host: String,
    /// When the audit ran, RFC 3339 in UTC.
    pub time: String,
    pub listeners: Vec<Listener>,
    pub findings: Vec<Finding>,
    pub summary: AuditSummary,
    /// What could not be checked, and why (owners hidden, namespaces not
    /// entered, owner rules on a recording).
    pub limits: Vec<String>,
}

/// Where a finding is, as reports name it: a listener's protocol, address,
/// port and namespace, or a forward's protocol, first destination and
/// first port (in the namespace audited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub proto: String,
    pub addr: String,
    pub port: u16,
    /// The namespace's name, or its inode; `None` for the one audited.
    pub netns: Option<String>,
}

impl Finding {
    pub fn place(&self) -> Place {
        if let Some(listener) = &self.listener {
            let socket = &listener.socket;
            let netns = socket.netns.as_deref().map(|label| match &label.name {
                Some(name) => name.clone(),
                None => label.inode.to_string(),
            });
            return Place {
                proto: socket.netid.as_str().to_owned(),
                addr: socket.local.addr.to_string(),
                port: socket.local.port,
                netns,
            };
        }
        let forward = self.forward.as_ref();
        Place {
            proto: forward.and_then(|f| f.proto.clone()).unwrap_or_else(|| "any".to_owned()),
            addr: forward
                .and_then(|f| f.destinations.first().cloned())
                .unwrap_or_else(|| "*".to_owned()),
            port: forward.and_then(|f| f.ports.first()).map_or(0, |ports| ports.first),
            netns: None,
        }
    }
}
