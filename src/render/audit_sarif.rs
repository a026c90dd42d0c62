//! The audit as SARIF 2.1.0, in the shape GitHub code scanning ingests:
//! every built-in rule in `tool.driver.rules` with its security severity,
//! one result per finding with a location GitHub can show (the policy
//! file's line when one matters, else a stable relative pseudo-path naming
//! the host and the listener), a fingerprint stable across runs, and one
//! automation id per host.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::audit::rules::{RULES, Rule};
use crate::model::audit::{AuditReport, Finding, Severity};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key of the fingerprint in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "portwatchListener/v1";

/// What the report does not carry: the tool's version and the policy file
/// the findings' `policy_line` points into.
pub struct SarifContext<'a> {
    pub version: &'a str,
    /// The tool's home page (`tool.driver.informationUri`), when known.
    pub information_uri: Option<&'a str>,
    pub policy: Option<&'a Path>,
}

pub fn write_sarif(
    out: &mut dyn Write,
    report: &AuditReport,
    context: &SarifContext,
) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document(report, context))?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

pub fn document(report: &AuditReport, context: &SarifContext) -> Value {
    let rules: Vec<Value> = RULES.iter().map(rule).collect();
    let results: Vec<Value> = report.findings.iter().map(|f| result(report, f, context)).collect();
    let notifications: Vec<Value> = report
        .limits
        .iter()
        .map(|limit| json!({"level": "warning", "message": {"text": sentence(limit)}}))
        .collect();
    let mut document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "portwatch",
                    "version": context.version,
                    "semanticVersion": context.version,
                    "rules": rules,
                }
            },
            "automationDetails": {"id": format!("portwatch/{}/", segment(&report.host))},
            "invocations": [{
                "executionSuccessful": true,
                "endTimeUtc": report.time,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    });
    if let Some(uri) = context.information_uri.filter(|uri| !uri.is_empty()) {
        document["runs"][0]["tool"]["driver"]["informationUri"] = json!(uri);
    }
    document
}

/// GitHub's scale: critical 9.0 and up, high 7.0–8.9, medium 4.0–6.9, low
/// below (it has no info level).
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn rule(rule: &Rule) -> Value {
    let mut help = rule.description.to_owned();
    let mut markdown = rule.description.to_owned();
    if !rule.references.is_empty() {
        help.push_str(" References: ");
        help.push_str(&rule.references.join("; "));
        help.push('.');
        markdown.push_str("\n\nReferences:\n");
        for reference in rule.references {
            markdown.push_str(&format!("\n- {reference}"));
        }
    }
    json!({
        "id": rule.id,
        "name": pascal_case(rule.id),
        "shortDescription": {"text": sentence(rule.title)},
        "fullDescription": {"text": sentence(rule.description)},
        "help": {"text": help, "markdown": markdown},
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": {
            "security-severity": security_severity(rule.severity),
            "tags": ["security", "network"],
            "precision": "high",
            "problem.severity": problem_severity(rule.severity),
        },
    })
}

fn problem_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "recommendation",
    }
}

fn result(report: &AuditReport, finding: &Finding, context: &SarifContext) -> Value {
    let location = match (context.policy, finding.policy_line) {
        (Some(policy), Some(line)) => physical(&file_uri(policy), line.max(1)),
        _ => physical(&pseudo_path(&report.host, finding), 1),
    };
    let place = finding.place();
    let bind = match &finding.listener {
        Some(listener) => listener.exposure.bind.as_str(),
        None => "forward",
    };
    let mut value = json!({
        "ruleId": finding.rule,
        "level": level(finding.severity),
        "message": {"text": format!("{} Fix: {}", sentence(&finding.message), sentence(&finding.remedy))},
        "locations": [{
            "physicalLocation": location,
            "message": {"text": format!(
                "{} {} port {} in network namespace {}",
                place.proto,
                place.addr,
                place.port,
                netns(finding),
            )},
        }],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(&report.host, finding)},
        "properties": {
            "severity": finding.severity.as_str(),
            "proto": place.proto,
            "address": place.addr,
            "port": place.port,
            "netns": netns(finding),
            "bind": bind,
        },
    });
    if rule_index(&finding.rule).is_some() {
        value["ruleIndex"] = json!(rule_index(&finding.rule));
    }
    value
}

fn rule_index(id: &str) -> Option<usize> {
    RULES.iter().position(|rule| rule.id == id)
}

fn physical(uri: &str, line: usize) -> Value {
    json!({
        "artifactLocation": {"uri": uri},
        "region": {"startLine": line},
    })
}

/// The namespace a finding's listener lives in: its name, its inode, or
/// `current` (the one portwatch ran in).
pub fn netns(finding: &Finding) -> String {
    finding.place().netns.unwrap_or_else(|| "current".into())
}

/// `hosts/HOST/NETNS/tcp/0.0.0.0/6379`: relative (GitHub shows only
/// relative paths or file URIs), one per listener, the same on every run.
pub fn pseudo_path(host: &str, finding: &Finding) -> String {
    let place = finding.place();
    let kind = if finding.forward.is_some() { "forwards/" } else { "" };
    format!(
        "hosts/{}/{}/{kind}{}/{}/{}",
        segment(host),
        segment(&netns(finding)),
        segment(&place.proto),
        segment(&place.addr),
        place.port,
    )
}

/// A relative policy path as a relative URI; an absolute one as a file URI.
fn file_uri(path: &Path) -> String {
    let text = path.to_string_lossy();
    let encoded: Vec<String> = text.split('/').map(encode).collect();
    match path.is_absolute() {
        true => format!("file://{}", encoded.join("/")),
        false => encoded.join("/"),
    }
}

/// One path segment, percent-encoded except for unreserved characters and
/// `:` (kept for IPv6 addresses, never first in a relative path here).
fn segment(text: &str) -> String {
    let out = encode(text);
    match out.as_str() {
        "" => "-".into(),
        "." | ".." => out.replace('.', "%2E"),
        _ => out,
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// FNV-1a 64 over host, namespace, protocol, address, port and rule, in
/// hex: the same listener and rule give the same value on every run.
pub fn fingerprint(host: &str, finding: &Finding) -> String {
    let place = finding.place();
    let key = format!(
        "{host}\0{}\0{}\0{}\0{}\0{}",
        netns(finding),
        place.proto,
        place.addr,
        place.port,
        finding.rule
    );
    format!("{:016x}", fnv1a64(key.as_bytes()))
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `exposed-datastore` → `ExposedDatastore`.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// SARIF asks messages to end with a period.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    match text.ends_with(['.', '!', '?']) {
        true => text.to_owned(),
        false => format!("{text}."),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv6Addr};
    use std::sync::Arc;

    use super::*;
    use crate::model::audit::{BindScope, Exposure, Listener};
    use crate::model::{InetEnd, InetSocket, IpFamily, NetnsLabel, SocketState, Transport};

    fn report(policy_line: Option<usize>, netns: Option<&str>) -> AuditReport {
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet6, SocketState::Listening);
        socket.local = InetEnd::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 6379);
        socket.netns =
            netns.map(|name| Arc::new(NetnsLabel { inode: 4026532000, name: Some(name.into()) }));
        let listener = Listener {
            socket,
            exposure: Exposure {
                bind: BindScope::Wildcard,
                families: IpFamily::ALL.to_vec(),
                firewall: None,
                forwards: Vec::new(),
            },
        };
        let finding = Finding {
            rule: "exposed-datastore".into(),
            severity: Severity::High,
            title: "t".into(),
            message: "Redis listens on every address".into(),
            remedy: "bind 127.0.0.1".into(),
            references: vec![],
            listener: Some(listener.clone()),
            forward: None,
            policy_line,
        };
        AuditReport {
            host: "db 1".into(),
            time: "2026-01-01T00:00:00Z".into(),
            listeners: vec![listener],
            findings: vec![finding],
            summary: Default::default(),
            limits: vec![],
        }
    }

    #[test]
    fn a_policy_line_is_the_location_when_a_policy_was_given() {
        let policy = Path::new("ci/portwatch.toml");
        let context = SarifContext { version: "1", information_uri: None, policy: Some(policy) };
        let sarif = document(&report(Some(7), None), &context);
        let result = &sarif["runs"][0]["results"][0];
        let physical = &result["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "ci/portwatch.toml");
        assert_eq!(physical["region"]["startLine"], 7);
        assert_eq!(result["level"], "error");
        assert_eq!(sarif["runs"][0]["automationDetails"]["id"], "portwatch/db%201/");

        // Without a line, or without a policy: the listener's pseudo-path.
        for (line, policy) in [(None, Some(policy)), (Some(7), None)] {
            let context = SarifContext { version: "1", information_uri: None, policy };
            let sarif = document(&report(line, Some("blue")), &context);
            let physical = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
            assert_eq!(physical["artifactLocation"]["uri"], "hosts/db%201/blue/tcp/::/6379");
            assert_eq!(physical["region"]["startLine"], 1);
        }
    }

    #[test]
    fn the_fingerprint_names_the_namespace() {
        let plain = report(None, None);
        let blue = report(None, Some("blue"));
        let print = |r: &AuditReport| fingerprint(&r.host, &r.findings[0]);
        assert_eq!(print(&plain), print(&report(Some(3), None)), "a policy line is no new alert");
        assert_ne!(print(&plain), print(&blue));
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn security_severity_follows_githubs_bands() {
        let band = |s: Severity| security_severity(s).parse::<f64>().unwrap();
        assert!(band(Severity::Critical) >= 9.0);
        assert!((7.0..9.0).contains(&band(Severity::High)));
        assert!((4.0..7.0).contains(&band(Severity::Medium)));
        assert!(band(Severity::Low) < 4.0 && band(Severity::Info) < band(Severity::Low));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("::"), "::");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment(""), "-");
        assert_eq!(pascal_case("exposed-datastore"), "ExposedDatastore");
        assert_eq!(file_uri(Path::new("ci/policy.toml")), "ci/policy.toml");
        assert_eq!(
            file_uri(Path::new("/etc/portwatch/p y.toml")),
            "file:///etc/portwatch/p%20y.toml"
        );
    }
}
