//! `list --forwards`: the port forwards of the ruleset, as a table (one
//! line each) or JSON.

use std::io::Write;

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets};

use super::escape::for_terminal;
use super::text::container_label;
use crate::model::firewall::Forward;

pub fn write_table(forwards: &[Forward], out: &mut impl Write) -> Result<()> {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(["Proto", "Local", "Sources", "Interfaces", "Forward", "Firewall", "Rule"]);
    for forward in forwards {
        table.add_row([
            forward.proto.clone().unwrap_or_else(|| "any".to_owned()),
            local(forward),
            list_or(&forward.sources, "*"),
            for_terminal(&list_or(&forward.interfaces, "*")).into_owned(),
            target(forward),
            forward.firewall.as_ref().map_or("-", |firewall| firewall.verdict.as_str()).to_owned(),
            rule(forward),
        ]);
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim())?;
    }
    Ok(())
}

pub fn write_json(forwards: &[Forward], out: &mut impl Write) -> Result<()> {
    serde_json::to_writer(&mut *out, forwards)?;
    writeln!(out)?;
    Ok(())
}

pub fn write_json_lines(forwards: &[Forward], out: &mut impl Write) -> Result<()> {
    for forward in forwards {
        serde_json::to_writer(&mut *out, forward)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `ADDRESSES:PORTS`, the addresses `*` for any (`local` for this host's
/// own), as ss writes a local address.
fn local(forward: &Forward) -> String {
    let ports: Vec<String> = forward.ports.iter().map(ToString::to_string).collect();
    let ports = match ports.as_slice() {
        [all] if all == "0-65535" => "*".to_owned(),
        _ => ports.join(","),
    };
    let mut addresses = forward.destinations.join(",");
    if forward.only_local_addresses {
        addresses = match addresses.is_empty() {
            true => "local".to_owned(),
            false => format!("local&{addresses}"),
        };
    }
    if addresses.is_empty() {
        addresses = "*".to_owned();
    }
    format!("{addresses}:{ports}")
}

fn target(forward: &Forward) -> String {
    let port = forward.to.ports.map(|ports| ports.to_string()).unwrap_or_else(|| "=".to_owned());
    let target = match (&forward.to.addr, forward.kind.as_str()) {
        (Some(addr), _) if addr.contains(':') => format!("[{addr}]:{port}"),
        (Some(addr), _) => format!("{addr}:{port}"),
        (None, "redirect") => format!("this-host:{port}"),
        (None, _) => "?".to_owned(),
    };
    match &forward.container {
        Some(container) => format!("{target} ({})", container_label(container)),
        None => target,
    }
}

/// The rule's place and text, escaped: rule comments are anyone's text.
fn rule(forward: &Forward) -> String {
    let rule = &forward.rule;
    let place = match (rule.handle, rule.line) {
        (Some(handle), _) => format!("{} {} #{handle}", rule.table, rule.chain),
        (None, Some(line)) => format!("{} {} line {line}", rule.table, rule.chain),
        _ => format!("{} {}", rule.table, rule.chain),
    };
    for_terminal(&format!("{place}: {}", rule.text)).into_owned()
}

fn list_or(items: &[String], none: &str) -> String {
    match items.is_empty() {
        true => none.to_owned(),
        false => items.join(","),
    }
}
