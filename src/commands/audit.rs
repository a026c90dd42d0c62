//! `portwatch audit`: the listeners of the host (a namespace, every one, or
//! a recording), with their owners, judged by the rules; a table or JSON;
//! exit 1 when a finding reaches --fail-on.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::audit::{self, Context, OwnerView, Policy, policy};
use crate::cli::{AuditArgs, AuditFormatArg, ColorArg};
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::audit::Severity;
use crate::model::{IpFamily, Netid, StateSet};
use crate::render::audit::{write_json, write_table};
use crate::source::Selection;
use crate::sys::Os;

pub fn run(
    args: &AuditArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let threshold = fail_on(&args.fail_on)?;
    let policy = match &args.policy {
        Some(path) => Some(read_policy(path, os)?),
        None => None,
    };
    let live = args.from.is_none();
    let request = Request {
        scope: scope(args),
        selection: Selection {
            netids: vec![Netid::Udp, Netid::Tcp],
            families: IpFamily::ALL.to_vec(),
            states: StateSet::listening(),
            categories: Vec::new(),
            extensions: Default::default(),
            details: false,
        },
        filter: None,
        enrich: Enrich { owners: live, services: true, ..Enrich::default() },
    };
    let inventory = inventory::snapshot(os, &request)?;
    let outcome = &inventory.outcome;
    let mut limits: Vec<String> = outcome.unlisted_namespaces.clone();
    if let Some(hint) = &outcome.owner_hint {
        limits.push(format!("owners: {hint}; owner rules judged only the visible holders"));
    }
    if !live {
        limits.push(
            "owners: a recording has no processes, so the owner rules (unowned listener, deleted \
             binary, temporary directory) were not checked"
                .into(),
        );
    }
    if outcome.source.interrupted || outcome.source.undecodable > 0 {
        limits.push("the kernel's dump was incomplete: listeners may be missing".into());
    }
    let context = Context {
        host: host_name(os),
        time: humantime::format_rfc3339_seconds(os.env.now()).to_string(),
        owners: OwnerView { looked_up: live, all_visible: outcome.owner_hint.is_none() },
        limits,
    };
    let report = audit::audit_with_policy(inventory.sockets, context, policy.as_ref());
    if args.init_policy {
        stdout.write_all(policy::init_policy(&report).as_bytes())?;
        stdout.flush()?;
        for notice in &outcome.source.notices {
            writeln!(stderr, "portwatch: {notice}")?;
        }
        return Ok(ExitCode::Success);
    }
    match (args.json, args.format) {
        (true, _) | (false, Some(AuditFormatArg::Json)) => write_json(stdout, &report)?,
        (false, Some(AuditFormatArg::Table) | None) => {
            write_table(stdout, &report, colour(args.color, os))?;
        }
    }
    for notice in &outcome.source.notices {
        writeln!(stderr, "portwatch: {notice}")?;
    }
    Ok(match (audit::fails(&report, threshold), report.limits.is_empty()) {
        (true, _) => ExitCode::NothingFound,
        (false, true) => ExitCode::Success,
        (false, false) => ExitCode::Incomplete,
    })
}

/// `--policy FILE`, read through the Files seam and checked; a mistake in it
/// is `FILE:LINE:COLUMN: problem`.
fn read_policy(path: &Path, os: &Os<'_>) -> Result<Policy> {
    let name = path.display().to_string();
    let text = os
        .files
        .read_text(path, policy::SIZE_LIMIT)
        .map_err(|error| anyhow::anyhow!("{name}: cannot read the policy: {error}"))?;
    Ok(Policy::parse(&text, &name)?)
}

/// `--fail-on`: a severity, or `never`.
fn fail_on(word: &str) -> Result<Option<Severity>, UsageError> {
    match word {
        "never" => Ok(None),
        word => Severity::parse(word).map(Some).ok_or_else(|| {
            UsageError(format!(
                "--fail-on: unknown severity '{word}' (info, low, medium, high, critical, never)"
            ))
        }),
    }
}

fn scope(args: &AuditArgs) -> Scope {
    match (&args.from, &args.net) {
        (Some(path), _) => Scope::Recording(path.clone()),
        (None, Some(name)) => Scope::Named(name.clone()),
        (None, None) if args.all_netns => Scope::AllNamespaces,
        (None, None) => Scope::Own,
    }
}

/// The kernel's host name (the UTS namespace's).
fn host_name(os: &Os<'_>) -> String {
    let name = os.proc.read_text(Path::new("/proc/sys/kernel/hostname")).unwrap_or_default();
    match name.trim() {
        "" => "localhost".into(),
        name => name.to_owned(),
    }
}

fn colour(when: ColorArg, os: &Os<'_>) -> bool {
    match when {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            os.env.stdout_is_terminal() && os.env.env_var("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}
