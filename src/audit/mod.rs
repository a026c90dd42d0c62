//! `portwatch audit`'s judgement: the inventory's listeners, each with its
//! exposure, checked against the built-in rules. It reads no kernel and no
//! /proc of its own: it evaluates records.

pub mod baseline;
pub mod exposure;
pub mod forwards;
pub mod policy;
pub mod rules;
pub mod scan_comparison;

use std::collections::{BTreeMap, HashMap};

use crate::firewall::verdict::{self, Firewall};
use crate::model::Socket;
use crate::model::audit::{AuditReport, AuditSummary, Finding, Listener, Severity};
pub use policy::Policy;
pub use rules::OwnerView;

/// What the audit knows besides the sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub host: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub owners: OwnerView,
    /// What could not be checked, and why.
    pub limits: Vec<String>,
    /// The live ruleset, when one was read (or tried): each listener's
    /// exposure gains the firewall's verdict, and its forwards are judged.
    pub firewall: Option<Firewalls>,
    /// The addresses of the namespace audited (a forward to one of them
    /// ends on this host).
    pub own_addresses: Vec<std::net::IpAddr>,
    /// The forwards of the namespace audited (with `--all-netns`, this
    /// host's own), each with the forward path's verdict and what the
    /// input chains would do.
    pub forwards: Vec<forwards::Judged>,
    /// With `--all-netns`: each other namespace's inode and addresses, so
    /// that a forward's target listener is found.
    pub namespace_addresses: Vec<(u64, Vec<std::net::IpAddr>)>,
}

/// The rulesets listeners are judged against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firewalls {
    /// One namespace's, for every listener.
    One(Firewall),
    /// Each namespace's own (`--all-netns`), by namespace inode; a listener
    /// of a namespace not here gets no verdict.
    PerNamespace(HashMap<u64, Firewall>),
}

/// Audits the listeners among `sockets`.
pub fn audit(sockets: Vec<Socket>, context: Context) -> AuditReport {
    audit_with_policy(sockets, context, None)
}

/// Audits the listeners among `sockets`, judged by `policy` when given:
/// allowed listeners lose the port rules' findings, allowlist mode adds
/// `unapproved-listener`, rules are disabled or re-graded (see [`policy`]).
pub fn audit_with_policy(
    sockets: Vec<Socket>,
    context: Context,
    policy: Option<&Policy>,
) -> AuditReport {
    let mut listeners = exposure::listeners(sockets);
    match context.firewall {
        Some(Firewalls::One(firewall)) => {
            let judge = verdict::Judge::new(firewall);
            for listener in &mut listeners {
                listener.exposure.firewall =
                    Some(judge.judge(&listener.socket, &listener.exposure));
            }
        }
        Some(Firewalls::PerNamespace(firewalls)) => {
            let judges: HashMap<u64, verdict::Judge> = firewalls
                .into_iter()
                .map(|(inode, firewall)| (inode, verdict::Judge::new(firewall)))
                .collect();
            for listener in &mut listeners {
                let inode = listener.socket.netns.as_ref().map(|label| label.inode);
                if let Some(judge) = inode.and_then(|inode| judges.get(&inode)) {
                    listener.exposure.firewall =
                        Some(judge.judge(&listener.socket, &listener.exposure));
                }
            }
        }
        None => {}
    }
    let owners_known = context.owners.looked_up;
    let mut findings: Vec<Finding> = Vec::new();
    for listener in &listeners {
        let mut found = rules::check(listener, context.owners);
        if let Some(policy) = policy {
            policy.apply(listener, owners_known, &mut found);
        }
        findings.extend(found);
    }
    let mut forward_findings = forwards::check(
        &context.forwards,
        &listeners,
        &context.own_addresses,
        &context.namespace_addresses,
    );
    if let Some(policy) = policy {
        policy.override_rules(&mut forward_findings);
    }
    findings.extend(forward_findings);
    forwards::join(&mut listeners, &context.forwards, &context.namespace_addresses);
    sort(&mut findings);
    let summary = summarize(&listeners, &findings);
    let mut limits = context.limits;
    if let Some(policy) = policy {
        limits.extend(policy.limits(&listeners, owners_known));
    }
    AuditReport { host: context.host, time: context.time, listeners, findings, summary, limits }
}

/// The rules' findings on one socket, when it is a listener, judged by
/// `policy` when given; no firewall verdict is made.
pub fn findings_for(socket: Socket, owners: OwnerView, policy: Option<&Policy>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for listener in exposure::listeners(vec![socket]) {
        let mut found = rules::check(&listener, owners);
        if let Some(policy) = policy {
            policy.apply(&listener, owners.looked_up, &mut found);
        }
        findings.extend(found);
    }
    sort(&mut findings);
    findings
}

/// Adds what a comparison (with a baseline, with a scan) found to
/// `report`: its findings, in order with the rest, and what it could not
/// compare as limits.
pub fn add_comparison(report: &mut AuditReport, comparison: baseline::Comparison) {
    report.findings.extend(comparison.findings);
    report.limits.extend(comparison.limits);
    sort(&mut report.findings);
    report.summary = summarize(&report.listeners, &report.findings);
}

/// Most severe first; then by listener, so that two runs list alike.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (b.severity, subject_order(a), &a.rule).cmp(&(a.severity, subject_order(b), &b.rule))
    });
}

/// Listeners by their identity, then forwards by their ports.
fn subject_order(finding: &Finding) -> (Option<crate::model::ListenerKey>, Option<(u16, String)>) {
    let listener = finding.listener.as_ref().map(|listener| listener.socket.listener_key());
    let forward = finding.forward.as_ref().map(|forward| {
        let first = forward.ports.first().map_or(0, |ports| ports.first);
        (first, forward.rule.text.clone())
    });
    (listener, forward)
}

fn summarize(listeners: &[Listener], findings: &[Finding]) -> AuditSummary {
    let mut by_exposure = BTreeMap::new();
    for listener in listeners {
        *by_exposure.entry(listener.exposure.bind).or_insert(0) += 1;
    }
    let mut by_severity = BTreeMap::new();
    for finding in findings {
        *by_severity.entry(finding.severity).or_insert(0) += 1;
    }
    AuditSummary { listeners: listeners.len(), by_exposure, findings: by_severity }
}

/// Whether any finding is at or above `threshold`.
pub fn fails(report: &AuditReport, threshold: Option<Severity>) -> bool {
    threshold.is_some_and(|threshold| report.findings.iter().any(|f| f.severity >= threshold))
}
