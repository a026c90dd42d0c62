//! `portwatch watch`: lists the selected sockets (listeners unless states
//! are asked for) every `--interval`, through the kernel's state filter so
//! that only they cross into userspace, and prints what opened and closed
//! since the last listing, with owners read for the new sockets alone.
//! Stops after `--count` events or `--duration`, on SIGINT or SIGTERM, or
//! when standard output is closed: all a normal end (exit 0). On a
//! terminal, unless `--format` is given, it shows the listeners as a
//! full-screen table instead (`render::live`, `watch::terminal`).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
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
use crate::watch::terminal::run_live;

/// The longest a stop (a signal, a closed pipe) waits to be noticed.
const STOP_CHECK: Duration = Duration::from_millis(50);

pub fn run(
    args: &WatchArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let request = request(args, os, stderr)?;
    let stop = os.env.stop_signals().context("cannot catch SIGINT and SIGTERM")?;
    let started = Instant::now();
    // The starting listeners get their owners too, for their close.
    let mut initial = inventory::snapshot(os, &request)?.sockets;
    add_owners(os, &mut initial)?;
    if args.format.is_none() && os.env.stdout_is_terminal() {
        return live(args, os, &request, initial, started, &stop, stdout);
    }
    let format = args.format.unwrap_or(WatchFormat::Plain);
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
        next_poll = after(next_poll, args.interval);
        for event in poll(os, &request, &mut tracker)? {
            match format {
                WatchFormat::Plain => line(&event, &mut out)?,
                WatchFormat::Jsonl => json_line(&event, &mut out)?,
            }
            events += 1;
            if args.count.is_some_and(|count| events >= count) {
                out.flush()?;
                return Ok(ExitCode::Success);
            }
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}

/// The full-screen table, fed by the poll loop: the source waits at most
/// what the view allows for the next poll, and ends on a stop signal,
/// `--duration` or `--count`.
fn live(
    args: &WatchArgs,
    os: &Os<'_>,
    request: &Request,
    initial: Vec<Socket>,
    started: Instant,
    stop: &AtomicBool,
    stdout: &mut dyn Write,
) -> Result<ExitCode> {
    let deadline = args.duration.map(|d| started + d);
    let mut tracker = Tracker::new(initial.clone());
    let mut next_poll = started + args.interval;
    let mut events = 0u64;
    let mut source = |wait: Duration| -> Result<Option<Vec<WatchEvent>>> {
        let now = Instant::now();
        let counted = args.count.is_some_and(|count| events >= count);
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) || counted {
            return Ok(None);
        }
        if now < next_poll {
            std::thread::sleep(wait.min(next_poll - now));
            return Ok(Some(Vec::new()));
        }
        next_poll = after(next_poll, args.interval);
        let batch = poll(os, request, &mut tracker)?;
        events += batch.len() as u64;
        Ok(Some(batch))
    };
    run_live(stdout, initial, args.interval, &mut source)?;
    Ok(ExitCode::Success)
}

/// The poll after the one due at `due`; a poll that ran late does not
/// make the next ones hurry.
fn after(due: Instant, interval: Duration) -> Instant {
    let next = due + interval;
    match next < Instant::now() {
        true => Instant::now() + interval,
        false => next,
    }
}

/// One listing compared with the last: its closes, then its opens with
/// their owners, all at the listing's time.
fn poll(os: &Os<'_>, request: &Request, tracker: &mut Tracker) -> Result<Vec<WatchEvent>> {
    let changes = tracker.update(inventory::snapshot(os, request)?.sockets);
    let mut opened = changes.opened;
    add_owners(os, &mut opened)?;
    tracker.hold(&opened);
    let time = humantime::format_rfc3339_micros(os.env.now()).to_string();
    let closes = changes.closed.into_iter().map(|socket| (EventKind::Close, socket));
    let opens = opened.into_iter().map(|socket| (EventKind::Open, socket));
    let events = closes.chain(opens);
    Ok(events.map(|(event, socket)| WatchEvent { event, time: time.clone(), socket }).collect())
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
