//! `audit --why`: a listener's firewall verdict, then each traced path of a
//! new connection through the chains, rule by rule, to where it is decided.

use std::io::Write;

use anyhow::Result;

use super::escape::for_terminal;
use crate::firewall::eval::{Step, StepEvent};
use crate::firewall::why::{Explanation, Path};
use crate::model::IpFamily;
use crate::model::firewall::FirewallExposure;

/// `title` names the listener (`6379/tcp on 0.0.0.0`); `firewall` is its
/// verdict.
pub fn write_why(
    out: &mut dyn Write,
    title: &str,
    firewall: &FirewallExposure,
    explanation: &Explanation,
) -> Result<()> {
    writeln!(out, "{}: {}", for_terminal(title), firewall.verdict.as_str())?;
    if !firewall.sources.is_empty() {
        writeln!(out, "  open to: {}", firewall.sources.join(", "))?;
    }
    if !firewall.interfaces.is_empty() {
        writeln!(out, "  on interfaces: {}", for_terminal(&firewall.interfaces.join(", ")))?;
    }
    if let Some(rule) = &firewall.rule {
        let place = match (rule.handle, rule.line) {
            (Some(handle), _) => format!(" #{handle}"),
            (None, Some(line)) => format!(" line {line}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "  deciding rule: {} {}{place}: {}",
            for_terminal(&rule.table),
            for_terminal(&rule.chain),
            for_terminal(&rule.text)
        )?;
    }
    if let Some(reason) = &firewall.reason {
        writeln!(out, "  why: {}", for_terminal(reason))?;
    }
    for path in &explanation.paths {
        write_path(out, path)?;
    }
    if explanation.untraced > 0 {
        writeln!(
            out,
            "\n  ({} more source regions end the same ways; not traced)",
            explanation.untraced
        )?;
    }
    out.flush()?;
    Ok(())
}

fn write_path(out: &mut dyn Write, path: &Path) -> Result<()> {
    let family = match path.family {
        IpFamily::Inet => "IPv4",
        IpFamily::Inet6 => "IPv6",
    };
    let interface = match &path.interface {
        Some(name) => format!("on {}", for_terminal(name)),
        None => "on any other interface".into(),
    };
    let destination = match path.destination {
        Some(addr) => addr.to_string(),
        None => "any local address".into(),
    };
    writeln!(
        out,
        "\n  {family} from {} (traced: {}) {interface}, to {destination}: {}",
        path.sources.join(", "),
        path.source,
        path.verdict.as_str()
    )?;
    if path.steps.is_empty() {
        writeln!(out, "    no chain filters the way in: accepted")?;
    }
    for step in &path.steps {
        write_step(out, step)?;
    }
    Ok(())
}

fn write_step(out: &mut dyn Write, step: &Step) -> Result<()> {
    let spot = &step.spot;
    let chain = format!(
        "{} {} {}",
        spot.family.as_str(),
        for_terminal(&spot.table),
        for_terminal(&spot.chain)
    );
    let rule = spot.origin.as_ref().map(|origin| {
        let place = match (origin.handle, origin.line) {
            (Some(handle), _) => format!("#{handle}"),
            (None, Some(line)) => format!("line {line}"),
            _ => "rule".into(),
        };
        format!("{place} {}", for_terminal(&origin.text))
    });
    let rule = rule.unwrap_or_default();
    match &step.event {
        StepEvent::EnterBase { hook, priority } => {
            let hook = hook.as_str();
            writeln!(out, "    {chain} (hook {hook}, priority {priority})")?
        }
        StepEvent::Matched { action, rate_limited } => {
            let limit = if *rate_limited {
                " (while under its limit; beyond it, the next rule)"
            } else {
                ""
            };
            writeln!(out, "      {rule}  => {}{limit}", for_terminal(action))?
        }
        StepEvent::FellThrough => writeln!(out, "      end of {chain}: back to the caller")?,
        StepEvent::Policy { accepts } => {
            let verdict = if *accepts { "accept" } else { "drop" };
            writeln!(out, "      policy {verdict}  => {verdict}")?
        }
        StepEvent::Unknown { construct } => {
            writeln!(out, "      {rule}  => unknown: {}", for_terminal(construct))?
        }
    }
    Ok(())
}
