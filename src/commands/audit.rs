//! `portwatch audit`: the listeners of the host (a namespace, every one, or
//! a recording), with their owners, judged by the rules; a table or JSON;
//! exit 1 when a finding reaches --fail-on.

use std::io::Write;
use std::path::Path;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::Result;

use crate::audit::{self, Context, OwnerView, Policy, policy};
use crate::cli::{AuditArgs, AuditFormatArg, ColorArg};
use crate::exit::{ExitCode, UsageError};
use crate::firewall::verdict::Firewall;
use crate::inventory::{self, Scope};
use crate::model::audit::AuditReport;
use crate::model::audit::Severity;
use crate::render::audit::{write_json, write_table};
use crate::render::audit_prometheus::{RunStats, write_prometheus};
use crate::render::audit_sarif::{SarifContext, write_sarif};
use crate::sys::Os;

pub fn run(
    args: &AuditArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let threshold = fail_on(&args.fail_on)?;
    let started = Instant::now();
    let policy = match &args.policy {
        Some(path) => Some(read_policy(path, os)?),
        None => None,
    };
    let report = match audit_report(args, os, policy.as_ref(), stderr) {
        Ok(report) => report,
        Err(error) => {
            // The textfile collector keeps showing whatever file is there:
            // a failed run replaces it with its failure, not stale counts.
            if let (Some(path), Some(AuditFormatArg::Prometheus)) = (&args.output, args.format) {
                let run = run_stats(os, started, false);
                os.files.write_atomically(path, &mut |out| write_prometheus(out, None, &run))?;
            }
            return Err(error);
        }
    };
    if args.init_policy {
        stdout.write_all(policy::init_policy(&report).as_bytes())?;
        stdout.flush()?;
        return Ok(ExitCode::Success);
    }
    let run = run_stats(os, started, true);
    match &args.output {
        Some(path) => os
            .files
            .write_atomically(path, &mut |out| write_report(out, args, os, &report, &run))?,
        None => write_report(stdout, args, os, &report, &run)?,
    }
    Ok(match (audit::fails(&report, threshold), report.limits.is_empty()) {
        (true, _) => ExitCode::NothingFound,
        (false, true) => ExitCode::Success,
        (false, false) => ExitCode::Incomplete,
    })
}

fn write_report(
    out: &mut dyn Write,
    args: &AuditArgs,
    os: &Os<'_>,
    report: &AuditReport,
    run: &RunStats,
) -> Result<()> {
    match (args.json, args.format) {
        (true, _) | (false, Some(AuditFormatArg::Json)) => write_json(out, report),
        (false, Some(AuditFormatArg::Table) | None) => {
            // A table written to a file is for reading later: no colour
            // unless asked for.
            let colour = match args.output {
                Some(_) => args.color == ColorArg::Always,
                None => super::colour(args.color, os),
            };
            write_table(out, report, colour)
        }
        (false, Some(AuditFormatArg::Sarif)) => {
            let homepage = [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")];
            let context = SarifContext {
                version: env!("CARGO_PKG_VERSION"),
                information_uri: homepage.into_iter().find(|uri| !uri.is_empty()),
                policy: args.policy.as_deref(),
            };
            write_sarif(out, report, &context)
        }
        (false, Some(AuditFormatArg::Prometheus)) => write_prometheus(out, Some(report), run),
    }
}

fn run_stats(os: &Os<'_>, started: Instant, success: bool) -> RunStats {
    let unix_time = os
        .env
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64().floor())
        .unwrap_or(0.0);
    RunStats { success, duration_seconds: started.elapsed().as_secs_f64(), unix_time }
}

/// The inventory, judged: the report, and the source's notices on stderr.
fn audit_report(
    args: &AuditArgs,
    os: &Os<'_>,
    policy: Option<&Policy>,
    stderr: &mut dyn Write,
) -> Result<AuditReport> {
    let live = args.from.is_none();
    let baseline = match &args.baseline {
        Some(path) => Some((path, super::listeners::load(path, os)?)),
        None => None,
    };
    let own_inode = crate::netns::own_inode(os.proc).ok();
    let request = super::listeners::request(scope(args), live);
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
    let firewall = firewall(&request.scope, os, &mut limits);
    let context = Context {
        host: super::listeners::host_name(os),
        time: humantime::format_rfc3339_seconds(os.env.now()).to_string(),
        owners: OwnerView { looked_up: live, all_visible: outcome.owner_hint.is_none() },
        limits,
        firewall,
    };
    let mut report = audit::audit_with_policy(inventory.sockets, context, policy);
    if let Some((path, baseline)) = &baseline {
        let coverage = super::listeners::coverage(&request.scope, &report.listeners, own_inode);
        let file = path.display().to_string();
        if baseline.host != report.host {
            writeln!(
                stderr,
                "portwatch: note: the baseline {file} was saved on host {}, this is {}; \
                 compared anyway",
                baseline.host, report.host
            )?;
        }
        let comparison = audit::baseline::compare(baseline, &file, &report.listeners, &coverage);
        audit::add_baseline(&mut report, comparison);
    }
    for notice in &outcome.source.notices {
        writeln!(stderr, "portwatch: {notice}")?;
    }
    Ok(report)
}

/// The live ruleset of the namespace audited, read after the inventory (so
/// that `-N` has entered it); what could not be read is a limit.
fn firewall(scope: &Scope, os: &Os<'_>, limits: &mut Vec<String>) -> Option<Firewall> {
    match scope {
        Scope::Recording(_) => {
            limits.push("firewall: a recording holds no ruleset, so no listener has a firewall verdict".into());
            None
        }
        Scope::AllNamespaces => {
            limits.push("firewall: not evaluated with --all-netns, since each namespace has its own ruleset (audit one with -N)".into());
            None
        }
        Scope::Own | Scope::Named(_) => {
            let firewall = crate::firewall::live::read(os);
            if let Firewall::Unreadable(why) = &firewall {
                limits.push(format!("firewall: {why}; every verdict is unknown"));
            }
            Some(firewall)
        }
    }
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
