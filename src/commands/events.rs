//! `list -E`: the sockets the kernel destroys, printed as they go, in ss's
//! table or as JSON Lines, until SIGINT, SIGTERM or a closed pipe.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Request};
use crate::render::{Format, View};
use crate::source::events::Follow;
use crate::sys::Os;

/// The format events are printed in: a stream has no end to close a JSON
/// array at, so `--json` gives JSON Lines.
pub fn format(asked: Format) -> Result<Format, UsageError> {
    match asked {
        Format::Ss | Format::JsonLines => Ok(asked),
        Format::Json => Ok(Format::JsonLines),
        Format::Netstat | Format::Lsof => Err(UsageError(
            "-E prints ss's table or JSON Lines (--json, --format jsonl), not --format netstat or lsof"
                .into(),
        )),
    }
}

/// Prints each destroyed socket as one row until stopped, writing what it
/// has after each event, as ss does: the header comes with the first event
/// (no event, no header), its widths those of the header and that event's
/// row if it has one.
pub fn follow(
    os: &Os<'_>,
    request: &Request,
    view: &mut dyn View,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let stop = os.env.stop_signals().context("cannot catch SIGINT and SIGTERM")?;
    let view = RefCell::new(view);
    let mut events = 0usize;
    let mut follow = Follow {
        stop: &mut || stop.load(Ordering::Relaxed) || os.env.stdout_closed(),
        after_event: &mut || {
            events += 1;
            view.borrow_mut().flush()
        },
    };
    let outcome = inventory::follow(os, request, &mut follow, &mut |socket| {
        view.borrow_mut().write(&socket)
    })?;
    if events > 0 {
        view.borrow_mut().finish()?;
    }
    if outcome.source.undecodable > 0 {
        writeln!(
            stderr,
            "portwatch: warning: {} socket events were lost or could not be decoded",
            outcome.source.undecodable
        )?;
    }
    Ok(if outcome.is_complete() { ExitCode::Success } else { ExitCode::Incomplete })
}
