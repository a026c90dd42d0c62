//! The audit's views: a table grouped by severity with a one-line summary,
//! or the report as one JSON document.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;

use super::escape;
use super::text::push_ss_address;
use crate::model::audit::{AuditReport, BindScope, Finding, Severity};

pub fn write_json(out: &mut dyn Write, report: &AuditReport) -> Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Critical and high red, medium yellow, low and info plain.
fn colour_of(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Critical | Severity::High => Some("31"),
        Severity::Medium => Some("33"),
        Severity::Low | Severity::Info => None,
    }
}

pub fn write_table(out: &mut dyn Write, report: &AuditReport, colour: bool) -> Result<()> {
    for severity in Severity::ALL.into_iter().rev() {
        let findings: Vec<&Finding> =
            report.findings.iter().filter(|f| f.severity == severity).collect();
        if findings.is_empty() {
            continue;
        }
        let heading = severity.as_str().to_ascii_uppercase();
        match colour_of(severity).filter(|_| colour) {
            Some(code) => writeln!(out, "\x1b[{code}m{heading}\x1b[0m")?,
            None => writeln!(out, "{heading}")?,
        }
        for finding in findings {
            let line = format!("  {} {}", finding.rule, subject(finding));
            writeln!(out, "{}", line.trim_end())?;
            writeln!(out, "    {}", escape::for_terminal(&finding.message))?;
            writeln!(out, "    fix: {}", escape::for_terminal(&finding.remedy))?;
        }
    }
    writeln!(out, "{}", summary_line(report))?;
    for limit in &report.limits {
        writeln!(out, "limit: {}", escape::for_terminal(limit))?;
    }
    out.flush()?;
    Ok(())
}

/// `tcp 0.0.0.0:6379 netns=blue` for a listener; `forward tcp *:6380 ->
/// 10.0.0.3:6379` for a forward.
fn subject(finding: &Finding) -> String {
    if let Some(forward) = &finding.forward {
        let ports: Vec<String> = forward.ports.iter().map(ToString::to_string).collect();
        let to_port = forward.to.ports.map_or_else(|| "=".to_owned(), |ports| ports.to_string());
        let to = forward.to.addr.clone().unwrap_or_else(|| "this-host".to_owned());
        let place = finding.place();
        return format!(
            "forward {} {}:{} -> {to}:{to_port}",
            place.proto,
            place.addr,
            ports.join(",")
        );
    }
    let Some(listener) = &finding.listener else { return String::new() };
    let socket = &listener.socket;
    let mut address = String::new();
    push_ss_address(&mut address, socket, &socket.local, true);
    let netns = match finding.place().netns {
        Some(name) => format!(" netns={}", escape::for_terminal(&name)),
        None => String::new(),
    };
    format!("{} {address}{}{netns}", socket.netid.as_str(), socket.local.port)
}

/// `12 listeners (3 loopback, 1 address, 8 wildcard); findings: 1 high, 2 info`.
fn summary_line(report: &AuditReport) -> String {
    let summary = &report.summary;
    let mut line = format!("{} listeners (", summary.listeners);
    let scopes: Vec<String> = BindScope::ALL
        .iter()
        .map(|scope| format!("{} {}", summary.by_exposure.get(scope).unwrap_or(&0), scope.as_str()))
        .collect();
    line.push_str(&scopes.join(", "));
    line.push_str("); findings: ");
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| summary.findings.get(s).map(|n| format!("{n} {}", s.as_str())))
        .collect();
    match counts.is_empty() {
        true => line.push_str("none"),
        false => {
            let _ = write!(line, "{}", counts.join(", "));
        }
    }
    line
}
