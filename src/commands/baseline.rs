//! `portwatch baseline save FILE`: the listeners with their owners, as the
//! audit sees them, written atomically as JSON for `audit --baseline FILE`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow};

use crate::audit::baseline::{self, Baseline, Coverage};
use crate::audit::exposure;
use crate::cli::{BaselineAction, BaselineArgs};
use crate::exit::ExitCode;
use crate::inventory::{self, Scope};
use crate::model::NetnsKey;
use crate::model::audit::Listener;
use crate::sys::Os;

/// A baseline file larger than this is refused (a host with 100,000
/// listeners writes about 100 MiB).
pub const BASELINE_FILE_LIMIT: u64 = 256 << 20;

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
    let request = super::audit::listeners_request(scope, true);
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
        host: super::audit::host_name(os),
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

/// Reads a baseline; the error names the file and the problem.
pub fn load(path: &Path, os: &Os<'_>) -> Result<Baseline> {
    let text = os
        .files
        .read_text(path, BASELINE_FILE_LIMIT)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    Baseline::parse(&text).map_err(|problem| anyhow!("baseline {}: {problem}", path.display()))
}

/// What of a baseline an audit of `scope` can compare: one namespace's
/// listeners, or every one's.
pub fn coverage(scope: &Scope, now: &[Listener], own_inode: Option<u64>) -> Coverage {
    let namespace = match scope {
        Scope::Own | Scope::Recording(_) => Some(NetnsKey::Own),
        Scope::Named(name) if !name.contains('/') => Some(NetnsKey::Named(name.clone())),
        // A path: the namespace it names, as its listeners are labelled.
        Scope::Named(_) => now.first().map(|listener| listener.socket.listener_key().netns),
        Scope::AllNamespaces => None,
    };
    Coverage { namespace, own_inode }
}
