//! `portwatch record FILE` (and `list -D FILE`): save the kernel's raw
//! sock_diag replies, for `list --from FILE`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::cli::SelectionArgs;
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::{Netid, StateSet};
use crate::sys::Os;

/// Records every state unless the selection names some, so that a replay
/// can answer any state query. The file appears only once it is complete.
pub fn run(
    path: &Path,
    selection: &SelectionArgs,
    os: &Os<'_>,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    refuse_display_options(selection)?;
    let mut query = super::query(selection, Some(StateSet::all()), os, stderr)?;
    // With no kind named, what can be recorded: TCP and UDP.
    let kinds = &mut query.selection;
    kinds.netids.retain(|n| !kinds.optional.contains(n) || matches!(n, Netid::Tcp | Netid::Udp));
    let request = Request {
        scope: Scope::Own,
        selection: query.selection,
        filter: query.filter,
        enrich: Enrich::default(),
    };
    let mut outcome = None;
    os.files.write_atomically(path, &mut |out| {
        outcome = Some(inventory::record(os, &request, out)?);
        Ok(())
    })?;
    match outcome {
        Some(outcome) => super::report(&outcome, stderr),
        None => Err(anyhow::anyhow!("nothing was recorded to {}", path.display())),
    }
}

/// Options that only change how a listing looks are not recorded: refusing
/// them says so instead of silently dropping them.
fn refuse_display_options(selection: &SelectionArgs) -> Result<(), UsageError> {
    let shown_only = [(selection.oneline, "-O"), (!selection.category.is_empty(), "--category")];
    match shown_only.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(UsageError(format!(
            "record: {flag} changes only how a listing looks, not what is recorded; \
             give it to `list --from FILE` instead"
        ))),
        None => Ok(()),
    }
}
