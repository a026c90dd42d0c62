//! `portwatch baseline save FILE`: the listeners with their owners, as the
//! audit sees them, written atomically as JSON for `audit --baseline FILE`.

use std::io::Write;

use anyhow::{Context, Result};

use crate::audit::baseline::{self, Baseline};
use crate::audit::exposure;
use crate::cli::{BaselineAction, BaselineArgs};
use crate::exit::ExitCode;
use crate::inventory::{self, Scope};
use crate::sys::Os;

pub fn run(args: &BaselineArgs, os: &Os<'_>, stderr: &mut dyn Write) -> Result<ExitCode> {
    match args.action {
        BaselineAction::Save => save(args, os, stderr),
    }
}

fn save(args: &BaselineArgs, os: &Os<'_>, stderr: &mut dyn Write) -> Result<ExitCode> {
    let (scope, scope_text) = match (&args.net, args.all_netns) {
        (Some(name), _) => (Scope::Named(name.clone()), format!("netns {name}")),
        (None, true) => (Scope::AllNamespaces, "all-netns".to_owned()),
        (None, false) => (Scope::Own, "own".to_owned()),
    };
    let request = super::listeners::request(scope, true);
    let inventory = inventory::snapshot(os, &request)?;
    let outcome = &inventory.outcome;
    let mut limits = outcome.unlisted_namespaces.clone();
    if let Some(hint) = &outcome.owner_hint {
        limits.push(format!("owners: {hint}"));
    }
    if outcome.source.interrupted || outcome.source.undecodable > 0 {
        limits.push("the kernel's dump was incomplete: listeners may be missing".into());
    }
    let record = Baseline {
        portwatch_baseline: baseline::VERSION,
        host: super::listeners::host_name(os),
        time: humantime::format_rfc3339_seconds(os.env.now()).to_string(),
        scope: scope_text,
        listeners: exposure::listeners(inventory.sockets),
        limits,
    };
    os.files
        .write_atomically(&args.file, &mut |out| {
            serde_json::to_writer_pretty(&mut *out, &record)?;
            writeln!(out)?;
            Ok(())
        })
        .with_context(|| format!("cannot write baseline {}", args.file.display()))?;
    super::report(outcome, stderr)
}
