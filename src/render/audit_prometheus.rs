//! The audit in Prometheus' text exposition format, for node_exporter's
//! textfile collector: `portwatch_`-prefixed gauges with HELP and TYPE, no
//! timestamps (the collector refuses them).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;

use crate::audit::rules::RULES;
use crate::model::audit::{AuditReport, BindScope, Severity};
use crate::model::firewall::Verdict;

/// What the run itself measured, beside the report.
pub struct RunStats {
    /// Whether the audit ran to the end; a failed run writes only these.
    pub success: bool,
    pub duration_seconds: f64,
    /// When it ran, seconds since the Unix epoch.
    pub unix_time: f64,
}

/// The report's metrics, or (with no report: the audit failed) only the
/// run's success, duration and time, so no stale counts stay behind.
pub fn write_prometheus(
    out: &mut dyn Write,
    report: Option<&AuditReport>,
    run: &RunStats,
) -> Result<()> {
    let mut text = String::new();
    if let Some(report) = report {
        listeners(&mut text, report);
        firewall(&mut text, report);
        findings(&mut text, report);
        gauge(
            &mut text,
            "portwatch_audit_limits",
            "Things the audit could not check (owners hidden, namespaces not entered); 0 when it saw everything.",
            &[(vec![], report.limits.len() as f64)],
        );
    }
    gauge(
        &mut text,
        "portwatch_audit_success",
        "Whether the last audit ran to the end (1) or failed (0).",
        &[(vec![], if run.success { 1.0 } else { 0.0 })],
    );
    gauge(
        &mut text,
        "portwatch_audit_duration_seconds",
        "How long the last audit took, in seconds.",
        &[(vec![], run.duration_seconds)],
    );
    gauge(
        &mut text,
        "portwatch_audit_last_run_timestamp_seconds",
        "When the last audit ran, in seconds since the Unix epoch.",
        &[(vec![], run.unix_time)],
    );
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

type Sample = (Vec<(&'static str, String)>, f64);

/// Listeners by protocol, bind scope and namespace: every protocol and
/// scope of every namespace seen (the current one always), zeros included,
/// so a series drops to 0 instead of vanishing.
fn listeners(text: &mut String, report: &AuditReport) {
    let mut counts: BTreeMap<(String, &'static str, BindScope), usize> = BTreeMap::new();
    let mut namespaces: Vec<String> = vec![netns_of(None)];
    for listener in &report.listeners {
        let netns = netns_of(listener.socket.netns.as_deref());
        if !namespaces.contains(&netns) {
            namespaces.push(netns.clone());
        }
        *counts
            .entry((netns, listener.socket.netid.as_str(), listener.exposure.bind))
            .or_default() += 1;
    }
    if !report.listeners.is_empty()
        && report.listeners.iter().all(|listener| listener.socket.netns.is_some())
    {
        namespaces.retain(|name| name != "current");
    }
    namespaces.sort();
    let mut samples = Vec::new();
    for netns in &namespaces {
        for proto in ["tcp", "udp"] {
            for scope in BindScope::ALL {
                let count = counts.get(&(netns.clone(), proto, scope)).copied().unwrap_or(0);
                samples.push((
                    vec![
                        ("proto", proto.to_owned()),
                        ("exposure", scope.as_str().to_owned()),
                        ("netns", netns.clone()),
                    ],
                    count as f64,
                ));
            }
        }
    }
    gauge(
        text,
        "portwatch_listeners",
        "Listening TCP and bound UDP sockets by protocol, exposure (loopback, address, wildcard) and network namespace.",
        &samples,
    );
}

/// Listeners by protocol and the firewall's verdict, every verdict of both
/// protocols written (zeros included); absent when no ruleset was judged
/// (a recording, --all-netns), rather than zeros that would mean "none open".
fn firewall(text: &mut String, report: &AuditReport) {
    let verdicts: Vec<(&'static str, Verdict)> = report
        .listeners
        .iter()
        .filter_map(|listener| {
            let firewall = listener.exposure.firewall.as_ref()?;
            Some((listener.socket.netid.as_str(), firewall.verdict))
        })
        .collect();
    if verdicts.is_empty() {
        return;
    }
    let mut samples = Vec::new();
    for proto in ["tcp", "udp"] {
        for verdict in Verdict::ALL {
            let count = verdicts.iter().filter(|seen| **seen == (proto, verdict)).count();
            samples.push((
                vec![("proto", proto.to_owned()), ("verdict", verdict.as_str().to_owned())],
                count as f64,
            ));
        }
    }
    gauge(
        text,
        "portwatch_listeners_by_firewall",
        "Listeners by protocol and what the live firewall does to a new connection: open, open-rate-limited, restricted, blocked, local-only or unknown.",
        &samples,
    );
}

/// Findings by rule and severity, and every built-in rule that found
/// nothing at its default severity with 0, so alerts see a series drop.
fn findings(text: &mut String, report: &AuditReport) {
    let mut counts: BTreeMap<(String, Severity), usize> = BTreeMap::new();
    for finding in &report.findings {
        *counts.entry((finding.rule.clone(), finding.severity)).or_default() += 1;
    }
    for rule in RULES {
        if !report.findings.iter().any(|finding| finding.rule == rule.id) {
            counts.insert((rule.id.to_owned(), rule.severity), 0);
        }
    }
    let samples: Vec<Sample> = counts
        .into_iter()
        .map(|((rule, severity), count)| {
            (vec![("rule", rule), ("severity", severity.as_str().to_owned())], count as f64)
        })
        .collect();
    gauge(text, "portwatch_findings", "Audit findings by rule and severity.", &samples);
}

fn netns_of(label: Option<&crate::model::NetnsLabel>) -> String {
    match label {
        Some(label) => match &label.name {
            Some(name) => name.clone(),
            None => label.inode.to_string(),
        },
        None => "current".into(),
    }
}

fn gauge(text: &mut String, name: &str, help: &str, samples: &[Sample]) {
    text.push_str(&format!("# HELP {name} {}\n# TYPE {name} gauge\n", escape_help(help)));
    for (labels, value) in samples {
        text.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            text.push('{');
            text.push_str(&pairs.join(","));
            text.push('}');
        }
        text.push(' ');
        text.push_str(&number(*value));
        text.push('\n');
    }
}

fn number(value: f64) -> String {
    match value.is_finite() {
        true => format!("{value}"),
        false if value.is_nan() => "NaN".into(),
        false if value > 0.0 => "+Inf".into(),
        false => "-Inf".into(),
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            ch => out.push(ch),
        }
    }
    out
}

/// HELP text: backslash and line feed escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    }

    #[test]
    fn namespaces_are_labels_escaped_and_every_series_is_written() {
        use std::net::{IpAddr, Ipv4Addr};
        use std::sync::Arc;

        use crate::model::audit::{Exposure, Listener};
        use crate::model::{InetEnd, InetSocket, IpFamily, NetnsLabel, SocketState, Transport};

        let mut socket = InetSocket::new(Transport::Udp, IpFamily::Inet, SocketState::Closed);
        socket.local = InetEnd::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);
        socket.netns = Some(Arc::new(NetnsLabel { inode: 1, name: Some("a\"b".into()) }));
        let listener = Listener {
            socket,
            exposure: Exposure {
                bind: BindScope::Loopback,
                families: vec![IpFamily::Inet],
                firewall: None,
                forwards: Vec::new(),
            },
        };
        let report = AuditReport {
            host: "h".into(),
            time: "t".into(),
            listeners: vec![listener],
            findings: vec![],
            summary: Default::default(),
            limits: vec![],
        };
        let run = RunStats { success: true, duration_seconds: 0.5, unix_time: 2.0 };
        let mut out = Vec::new();
        write_prometheus(&mut out, Some(&report), &run).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "portwatch_listeners{proto=\"udp\",exposure=\"loopback\",netns=\"a\\\"b\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("portwatch_listeners{").count(), 6, "{text}");
        assert!(!text.contains("netns=\"current\""), "{text}");
        assert_eq!(text.matches("portwatch_findings{").count(), RULES.len(), "{text}");
        assert!(text.contains("portwatch_audit_limits 0\n"), "{text}");
        assert!(!text.contains("portwatch_listeners_by_firewall"), "no ruleset judged: {text}");

        let mut judged = report.clone();
        judged.listeners[0].exposure.firewall = Some(crate::model::firewall::FirewallExposure {
            verdict: Verdict::OpenRateLimited,
            sources: vec![],
            interfaces: vec![],
            destinations: vec![],
            rule: None,
            reason: None,
        });
        let mut out = Vec::new();
        write_prometheus(&mut out, Some(&judged), &run).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "portwatch_listeners_by_firewall{proto=\"udp\",verdict=\"open-rate-limited\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("portwatch_listeners_by_firewall{").count(), 12, "{text}");
    }

    #[test]
    fn a_failed_run_writes_only_the_run_metrics() {
        let mut out = Vec::new();
        let run = RunStats { success: false, duration_seconds: 0.25, unix_time: 1.0e9 };
        write_prometheus(&mut out, None, &run).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("portwatch_audit_success 0\n"), "{text}");
        assert!(text.contains("portwatch_audit_duration_seconds 0.25\n"), "{text}");
        assert!(text.contains("portwatch_audit_last_run_timestamp_seconds 1000000000\n"), "{text}");
        assert!(!text.contains("portwatch_findings"), "{text}");
    }
}
