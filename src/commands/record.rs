//! `portwatch record FILE` (and `list -D FILE`): save raw sock_diag replies.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{RecordArgs, SelectionArgs};
use crate::exit::ExitCode;
use crate::source;
use crate::state::StateSet;
use crate::sys::System;

pub fn run(args: &RecordArgs, system: &dyn System, stderr: &mut dyn Write) -> Result<ExitCode> {
    record_to_path(&args.file, &args.selection, system, stderr)
}

/// Records every state unless the selection names some, so that a replay
/// can answer any state query.
pub fn record_to_path(
    path: &Path,
    selection: &SelectionArgs,
    system: &dyn System,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let query = super::query(selection, StateSet::all(), system, stderr)?;
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let outcome = source::record(system, &query.selection, query.filter.as_ref(), &mut out)?;
    out.flush().with_context(|| format!("cannot write {}", path.display()))?;
    super::list::report(outcome, stderr)
}
