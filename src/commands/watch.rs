//! `portwatch watch`: lists the selected sockets (listeners unless states
//! are asked for) every `--interval`, through the kernel's state filter so
//! that only they cross into userspace, and prints what opened and closed
//! since the last listing, with owners read for the new sockets alone.
//! Stops after `--count` events or `--duration`, on SIGINT or SIGTERM, or
//! when standard output is closed: all a normal end (exit 0).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{WatchArgs, WatchFormat};
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::watch::{EventKind, WatchEvent};
use crate::model::{Netid, Socket, StateSet};
use crate::owners::Owners;
use crate::render::watch::{json_line, line};
use crate::sys::Os;
use crate::watch::Tracker;
use crate::watch::history::{History, Retention};

/// The longest a stop (a signal, a closed pipe) waits to be noticed.
const STOP_CHECK: Duration = Duration::from_millis(50);

pub fn run(
    args: &WatchArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let request = request(args, os, stderr)?;
    let retention =
        Retention { max_age: Some(args.history_max_age), max_bytes: args.history_max_size };
    let mut history =
        args.history.as_deref().map(|path| History::open(path, retention)).transpose()?;
    let stop = os.env.stop_signals().context("cannot catch SIGINT and SIGTERM")?;
    let started = Instant::now();
    // The starting listeners get their owners too, for their close.
    let mut initial = inventory::snapshot(os, &request)?.sockets;
    add_owners(os, &mut initial)?;
    let mut tracker = Tracker::new(initial);
    let mut out = std::io::BufWriter::new(stdout);
    let mut events = 0u64;
    let mut next_poll = started + args.interval;
    let deadline = args.duration.map(|d| started + d);
    loop {
        let stopped = || {
            stop.load(Ordering::Relaxed)
                || os.env.stdout_closed()
                || deadline.is_some_and(|d| Instant::now() >= d)
        };
        while Instant::now() < next_poll && !stopped() {
            std::thread::sleep(STOP_CHECK.min(next_poll.saturating_duration_since(Instant::now())));
        }
        if stopped() {
            break;
        }
        next_poll += args.interval;
        if next_poll < Instant::now() {
            next_poll = Instant::now() + args.interval;
        }
        let changes = tracker.update(inventory::snapshot(os, &request)?.sockets);
        let mut opened = changes.opened;
        add_owners(os, &mut opened)?;
        tracker.hold(&opened);
        let time = humantime::format_rfc3339_micros(os.env.now()).to_string();
        let stream = changes
            .closed
            .into_iter()
            .map(|socket| (EventKind::Close, socket))
            .chain(opened.into_iter().map(|socket| (EventKind::Open, socket)));
        let mut batch = Vec::new();
        for (event, socket) in stream {
            let event = WatchEvent { event, time: time.clone(), socket };
            match args.format {
                WatchFormat::Plain => line(&event, &mut out)?,
                WatchFormat::Jsonl => json_line(&event, &mut out)?,
            }
            batch.push(event);
            events += 1;
            if args.count.is_some_and(|count| events >= count) {
                history.as_mut().map(|history| history.record(&batch)).transpose()?;
                out.flush()?;
                return Ok(ExitCode::Success);
            }
        }
        history.as_mut().map(|history| history.record(&batch)).transpose()?;
        out.flush()?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// The selection, kept to TCP and UDP (the sockets a listener can be),
/// listeners unless states are asked for; owners are added to new sockets
/// only, not read at every poll.
fn request(args: &WatchArgs, os: &Os<'_>, stderr: &mut dyn Write) -> Result<Request> {
    let mut query = super::query(&args.selection, Some(StateSet::listening()), os, stderr)?;
    query.selection.netids.retain(|netid| matches!(netid, Netid::Tcp | Netid::Udp));
    if query.selection.netids.is_empty() {
        return Err(UsageError("watch follows TCP and UDP sockets (-t, -u)".into()).into());
    }
    Ok(Request {
        scope: Scope::Own,
        selection: query.selection,
        filter: query.filter,
        enrich: Enrich::default(),
    })
}

/// Reads the holders of the new sockets, in one /proc scan.
fn add_owners(os: &Os<'_>, sockets: &mut [Socket]) -> Result<()> {
    if sockets.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<u32> = sockets.iter().filter_map(Socket::inode).collect();
    let mut owners = Owners::scan_for(os.proc, os.users, os.env, Some(&wanted))
        .context("cannot scan /proc for socket owners")?;
    for socket in sockets {
        socket.set_owners(Some(owners.of(socket.inode())));
    }
    Ok(())
}
