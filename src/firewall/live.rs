//! Reading the live ruleset of the calling thread's namespace through the
//! firewall's own tools: `nft -j list ruleset`; the iptables-nft save output
//! for the rules nft shows only as opaque `xt` stubs; and the legacy
//! x_tables, which the kernel applies but nft does not show.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::IpAddr;
use std::path::Path;

use super::forward_path::{ForwardJudge, Judged};
use super::ruleset::{Action, Backend, Match, Rule, Ruleset, SetContents, TableFamily};
use super::verdict::Firewall;
use super::{iptables, kernel_sets, nft};
use crate::model::firewall::Forward;
use crate::sys::Os;

/// The ruleset's forwards, each judged (see [`ForwardJudge::judge`]) for
/// the route the kernel gives its target, at the ports that stand for all
/// it takes and at the ports `also` names for it.
pub fn judged_forwards(
    os: &Os<'_>,
    ruleset: &Ruleset,
    also: &dyn Fn(&Forward) -> Vec<u16>,
) -> Vec<Judged> {
    let forwards = super::forwards::forwards(ruleset);
    if forwards.is_empty() {
        return Vec::new();
    }
    let judge = ForwardJudge::new(ruleset);
    let own = os.resolver.own_addresses();
    let targets: Vec<Option<IpAddr>> = forwards
        .iter()
        .map(|forward| forward.to.addr.as_deref().and_then(|addr| addr.parse().ok()))
        .collect();
    let routes = route_interfaces(os, targets.iter().flatten());
    forwards
        .into_iter()
        .zip(targets)
        .map(|(forward, target)| {
            let route = target.and_then(|addr| routes.get(&addr).cloned());
            let also = also(&forward);
            judge.judge(forward, route, &own, &also)
        })
        .collect()
}

/// The interface the kernel routes each of `targets` out of, asked of
/// `ip route get` in one batch; a target with no route is left out.
fn route_interfaces<'a>(
    os: &Os<'_>,
    targets: impl Iterator<Item = &'a IpAddr>,
) -> HashMap<IpAddr, String> {
    let unique: BTreeSet<&IpAddr> = targets.collect();
    if unique.is_empty() {
        return HashMap::new();
    }
    // Addresses parsed and printed again: nothing else reaches the batch.
    let batch: String = unique.iter().map(|addr| format!("route get {addr}\n")).collect();
    let Ok(output) =
        os.programs.batch_output("ip", &["-j", "-force", "-batch", "-"], batch.as_bytes())
    else {
        return HashMap::new();
    };
    let mut routes = HashMap::new();
    for line in output.split(|byte| *byte == b'\n') {
        let Ok(serde_json::Value::Array(found)) = serde_json::from_slice(line) else { continue };
        for route in &found {
            let destination = route.get("dst").and_then(|dst| dst.as_str()?.parse().ok());
            let device = route.get("dev").and_then(|dev| dev.as_str());
            if let (Some(destination), Some(device)) = (destination, device) {
                routes.insert(destination, device.to_owned());
            }
        }
    }
    routes
}

/// The ruleset, or why it could not be read.
pub fn read(os: &Os<'_>) -> Firewall {
    match read_ruleset(os) {
        Ok(ruleset) => Firewall::Read(ruleset),
        Err(why) => Firewall::Unreadable(why),
    }
}

fn read_ruleset(os: &Os<'_>) -> Result<Ruleset, String> {
    let mut ruleset = match terse_listing(os) {
        Some(ruleset) => ruleset,
        None => full_listing(os)?,
    };
    for v4 in [true, false] {
        if has_xt_stubs(&ruleset, v4) {
            let saved = saved_rules(os, v4);
            resolve_xt_stubs(&mut ruleset, saved.as_ref(), v4);
        }
    }
    ruleset.extend(legacy_tables(os)?);
    Ok(ruleset)
}

/// The ruleset from `nft -j -t list ruleset`, which leaves out named sets'
/// elements, with each set's elements read from the kernel: nft takes
/// seconds to list a 100,000-element interval set, the kernel's dump
/// milliseconds. `None` when that does not work out (a map, a key type the
/// kernel's bytes cannot be read as, no netlink): then nft lists it all.
fn terse_listing(os: &Os<'_>) -> Option<Ruleset> {
    let json = os.programs.output("nft", &["-j", "-t", "list", "ruleset"]).ok()?;
    let text = String::from_utf8_lossy(&json);
    let mut ruleset = nft::read(&text).ok()?;
    for set in nft::set_declarations(&text) {
        if set.dynamic {
            // Unknown whatever it holds: see nft::read.
            continue;
        }
        let kind = set.element?;
        let elements = os.netfilter.set_elements(&set.family, &set.table, &set.name).ok()?;
        let values = kernel_sets::values(kind, set.interval, &elements)?;
        let key = (Backend::Nftables, TableFamily::parse(&set.family), set.table, set.name);
        ruleset.sets.insert(key, SetContents::Values(values));
    }
    Some(ruleset)
}

fn full_listing(os: &Os<'_>) -> Result<Ruleset, String> {
    match os.programs.output("nft", &["-j", "list", "ruleset"]) {
        Ok(json) => {
            let text = String::from_utf8_lossy(&json);
            nft::read(&text).map_err(|error| format!("cannot read nft's ruleset: {error:#}"))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err("nft is not installed, so the nftables ruleset cannot be read".into())
        }
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            Err("reading the ruleset needs CAP_NET_ADMIN (run as root)".into())
        }
        Err(error) => Err(format!("cannot list the ruleset: {error}")),
    }
}

/// The ruleset as nft alone lists it, sets' elements included: what
/// [`read`] answers, without the kernel's help (for tests that compare).
pub fn read_through_nft_only(os: &Os<'_>) -> Result<Ruleset, String> {
    full_listing(os)
}

/// What iptables-nft-save prints, read; `None` when it cannot be run.
fn saved_rules(os: &Os<'_>, v4: bool) -> Option<Ruleset> {
    let tools: &[&str] = if v4 {
        &["iptables-nft-save", "iptables-save"]
    } else {
        &["ip6tables-nft-save", "ip6tables-save"]
    };
    tools.iter().find_map(|tool| {
        let output = os.programs.output(tool, &[]).ok()?;
        iptables::read(&String::from_utf8_lossy(&output), v4, Backend::Nftables).ok()
    })
}

fn xt_construct(rule: &Rule) -> Option<&str> {
    let in_matches = rule.matches.iter().find_map(|condition| match condition {
        Match::Unknown { construct } if construct.starts_with("xt ") => Some(construct.as_str()),
        _ => None,
    });
    let in_action = match &rule.action {
        Action::Unknown(construct) if construct.starts_with("xt ") => Some(construct.as_str()),
        _ => None,
    };
    in_matches.or(in_action)
}

fn table_family(v4: bool) -> TableFamily {
    if v4 { TableFamily::Ip } else { TableFamily::Ip6 }
}

fn has_xt_stubs(ruleset: &Ruleset, v4: bool) -> bool {
    ruleset
        .chains
        .iter()
        .filter(|chain| chain.family == table_family(v4))
        .any(|chain| chain.rules.iter().any(|rule| xt_construct(rule).is_some()))
}

/// Replaces each rule with an `xt` stub by the save output's rule at the
/// same place in the same chain, when the chain's rules line up one to one;
/// otherwise the stub stays, named, and its traffic is `unknown`.
fn resolve_xt_stubs(ruleset: &mut Ruleset, saved: Option<&Ruleset>, v4: bool) {
    for chain in ruleset.chains.iter_mut().filter(|chain| chain.family == table_family(v4)) {
        let twin = saved.and_then(|saved| {
            saved.chains.iter().find(|candidate| {
                candidate.table == chain.table
                    && candidate.name == chain.name
                    && candidate.rules.len() == chain.rules.len()
            })
        });
        for (index, rule) in chain.rules.iter_mut().enumerate() {
            let Some(construct) = xt_construct(rule).map(str::to_owned) else { continue };
            match twin.and_then(|twin| twin.rules.get(index)) {
                Some(saved_rule) => {
                    rule.matches = saved_rule.matches.clone();
                    rule.action = saved_rule.action.clone();
                    rule.origin.text = saved_rule.origin.text.clone();
                }
                None => {
                    let why = match saved {
                        None => "iptables-nft-save could not be run",
                        Some(_) => "iptables-nft-save's rules do not line up with nft's",
                    };
                    rule.matches =
                        vec![Match::Unknown { construct: format!("{construct} ({why})") }];
                }
            }
        }
    }
}

/// Legacy iptables tables, when the kernel has any loaded.
fn legacy_tables(os: &Os<'_>) -> Result<Ruleset, String> {
    let mut ruleset = Ruleset::default();
    for (v4, names_file, tool) in [
        (true, "ip_tables_names", "iptables-legacy-save"),
        (false, "ip6_tables_names", "ip6tables-legacy-save"),
    ] {
        let path = Path::new("/proc/thread-self/net").join(names_file);
        let names = match os.proc.read_text(&path) {
            Ok(names) => names,
            // No x_tables module loaded: no legacy tables.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(format!(
                    "cannot tell whether legacy iptables tables exist ({}: {error})",
                    path.display()
                ));
            }
        };
        let tables: Vec<&str> = names.split_whitespace().collect();
        if tables.is_empty() {
            continue;
        }
        let listed = tables.join(", ");
        let output = os.programs.output(tool, &[]).map_err(|error| {
            format!(
                "legacy iptables tables are loaded ({listed}) but {tool} cannot read them: {error}"
            )
        })?;
        let legacy = iptables::read(&String::from_utf8_lossy(&output), v4, Backend::IptablesLegacy)
            .map_err(|error| format!("cannot read {tool}'s output: {error:#}"))?;
        ruleset.extend(legacy);
    }
    Ok(ruleset)
}
