//! `portwatch watch`: the selected sockets (listeners unless states are
//! asked for) listed every `--interval` on one thread, through the
//! kernel's state filter so that only they cross into userspace, and the
//! closes the kernel announces followed on another; what opened and closed
//! is printed as events, with owners read for the new sockets alone.
//! Stops after `--count` events or `--duration`, on SIGINT or SIGTERM, or
//! when standard output is closed: all a normal end (exit 0).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::audit::policy;
use crate::cli::{WatchArgs, WatchFormat};
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Enrich, Request, Scope};
use crate::model::watch::WatchEvent;
use crate::model::{Netid, StateSet};
use crate::render::watch::{json_line, line};
use crate::sys::Os;
use crate::watch::collector::{self, Stop};
use crate::watch::exec::{Hook, HookOutput, Hooks};
use crate::watch::history::{History, Retention};
use crate::watch::terminal::run_live;
use crate::watch::watcher::{Audit, Watcher};

/// The longest a stop (a signal, a closed pipe) waits to be noticed.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Observations waiting for the watcher, at most: a listing that finds
/// the queue full is skipped (the next one carries the same news).
const OBSERVATIONS_WAITING: usize = 16;

/// Distinct messages held for the end (the live table), at most.
const MESSAGES_HELD: usize = 100;

pub fn run(
    args: &WatchArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let request = request(args, os, stderr)?;
    let live = args.format.is_none() && os.env.stdout_is_terminal();
    let hook_output = if live { HookOutput::Discard } else { HookOutput::Stderr };
    let hook = match &args.exec {
        Some(command) => Some(
            Hook::parse(command, args.exec_shell, args.exec_timeout, hook_output)
                .map_err(UsageError)?,
        ),
        None => None,
    };
    let policy = match &args.policy {
        Some(path) => Some(policy::read(path, os.files)?),
        None => None,
    };
    let audit = (args.audit || policy.is_some()).then_some(Audit { policy: policy.as_ref() });
    let retention =
        Retention { max_age: Some(args.history_max_age), max_bytes: args.history_max_size };
    let history = args.history.as_deref().map(|path| History::open(path, retention)).transpose()?;
    let signals = os.env.stop_signals().context("cannot catch SIGINT and SIGTERM")?;
    let stop = Stop { signals: &signals, done: AtomicBool::new(false) };
    let initial = inventory::snapshot(os, &request)?.sockets;
    let (sender, receiver) = mpsc::sync_channel(OBSERVATIONS_WAITING);
    std::thread::scope(|scope| {
        let _done = Done(&stop.done);
        let closes = sender.clone();
        let (request, stop) = (&request, &stop);
        scope.spawn(move || collector::list_every(os, request, args.interval, stop, &sender));
        scope.spawn(move || collector::follow_closes(os, request, stop, &closes));
        Watcher::new(os, initial, receiver, audit).and_then(|watcher| {
            let feed = Feed {
                watcher,
                hooks: hook.map(|hook| Hooks::start(hook, usize::from(args.exec_jobs))),
                history,
                stop,
                stdout_closed: &|| os.env.stdout_closed(),
                deadline: args.duration.and_then(|d| Instant::now().checked_add(d)),
                left: args.count,
                messages: Messages::new(live),
            };
            show(live, feed, args, stdout, stderr)
        })
    })
}

/// Sets `done` when dropped, so that the collectors end however the
/// watch does (a return, an error, a panic) and the scope never waits on
/// them forever.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The live table on a terminal without `--format`; else event lines.
/// Messages held back are written at the end.
fn show(
    live: bool,
    mut feed: Feed<'_, '_>,
    args: &WatchArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let shown = match live {
        true => {
            let initial = feed.watcher.current().cloned().collect();
            run_live(stdout, initial, args.interval, &mut |timeout| feed.next(timeout))
        }
        false => {
            let format = args.format.unwrap_or(WatchFormat::Plain);
            print_events(format, &mut feed, stdout, stderr)
        }
    };
    for message in feed.finish() {
        writeln!(stderr, "portwatch: {message}")?;
    }
    shown.map(|()| ExitCode::Success)
}

/// The events as they come, each already handed to `--exec` and
/// `--history`, until a stop, `--count` or `--duration`.
struct Feed<'w, 's> {
    watcher: Watcher<'w>,
    hooks: Option<Hooks>,
    history: Option<History>,
    stop: &'s Stop<'s>,
    /// Whoever reads standard output has gone (a closed pipe).
    stdout_closed: &'s dyn Fn() -> bool,
    deadline: Option<Instant>,
    left: Option<u64>,
    /// Notes and warnings for stderr, which the live table holds back
    /// until the terminal is given back.
    messages: Messages,
}

/// Messages for stderr, at most [`MESSAGES_HELD`] of them and a count of
/// the rest; held for the live table's end, each is kept once with a count
/// of its repeats.
#[derive(Default)]
struct Messages {
    held: Vec<(String, u64)>,
    beyond: u64,
    merge_repeats: bool,
}

impl Messages {
    fn new(merge_repeats: bool) -> Messages {
        Messages { merge_repeats, ..Messages::default() }
    }

    fn push(&mut self, message: String) {
        let repeated = match self.merge_repeats {
            true => self.held.iter_mut().find(|(held, _)| *held == message),
            false => None,
        };
        if let Some((_, repeats)) = repeated {
            *repeats += 1;
        } else if self.held.len() < MESSAGES_HELD {
            self.held.push((message, 0));
        } else {
            self.beyond += 1;
        }
    }

    /// The lines to show, emptying what is held.
    fn take(&mut self) -> Vec<String> {
        let mut lines: Vec<String> = std::mem::take(&mut self.held)
            .into_iter()
            .map(|(message, repeats)| match repeats {
                0 => message,
                more => format!("{message} (and {more} more time(s))"),
            })
            .collect();
        if self.beyond > 0 {
            lines.push(format!("{} more message(s) not shown", std::mem::take(&mut self.beyond)));
        }
        lines
    }
}

impl Feed<'_, '_> {
    /// What came within `timeout` (maybe nothing); None at the end.
    fn next(&mut self, timeout: Duration) -> Result<Option<Vec<WatchEvent>>> {
        let over = self.deadline.is_some_and(|d| Instant::now() >= d);
        if self.stop.is_set() || (self.stdout_closed)() || over || self.left == Some(0) {
            return Ok(None);
        }
        let Some(mut events) = self.watcher.next(timeout)? else { return Ok(None) };
        for note in self.watcher.take_notes() {
            self.messages.push(format!("note: {note}"));
        }
        if let Some(left) = self.left.as_mut() {
            events.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
            *left -= events.len() as u64;
        }
        if let Some(history) = self.history.as_mut() {
            history.record(&events)?;
        }
        if let Some(hooks) = self.hooks.as_mut() {
            events.iter().for_each(|event| hooks.submit(event));
            for failure in hooks.failures() {
                self.messages.push(format!("warning: {failure}"));
            }
        }
        Ok(Some(events))
    }

    /// Stops the collectors, lets the queued `--exec` commands end; the
    /// messages not yet shown.
    fn finish(self) -> Vec<String> {
        let Feed { watcher, hooks, stop, mut messages, .. } = self;
        stop.done.store(true, Ordering::Relaxed);
        drop(watcher);
        for failure in hooks.map(Hooks::finish).unwrap_or_default() {
            messages.push(format!("warning: {failure}"));
        }
        messages.take()
    }
}

/// Event lines on standard output, messages on stderr as they come.
fn print_events(
    format: WatchFormat,
    feed: &mut Feed<'_, '_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(stdout);
    while let Some(events) = feed.next(STOP_CHECK)? {
        for event in &events {
            write_event(format, event, &mut out)?;
        }
        out.flush()?;
        for message in feed.messages.take() {
            writeln!(stderr, "portwatch: {message}")?;
        }
    }
    Ok(())
}

fn write_event(format: WatchFormat, event: &WatchEvent, out: &mut impl Write) -> Result<()> {
    match format {
        WatchFormat::Plain => line(event, out),
        WatchFormat::Jsonl => json_line(event, out),
    }
}

/// The selection, kept to TCP and UDP (the sockets a listener can be),
/// listeners unless states are asked for; owners are added to new sockets
/// only, not read at every listing.
fn request(args: &WatchArgs, os: &Os<'_>, stderr: &mut dyn Write) -> Result<Request> {
    let mut query = super::query(&args.selection, Some(StateSet::listening()), os, stderr)?;
    query.selection.netids.retain(|netid| matches!(netid, Netid::Tcp | Netid::Udp));
    if query.selection.netids.is_empty() {
        return Err(UsageError("watch follows TCP and UDP sockets (-t, -u)".into()).into());
    }
    let scope = match (&args.net, args.all_netns) {
        (Some(name), _) => Scope::Named(name.clone()),
        (None, true) => Scope::AllNamespaces,
        (None, false) => Scope::Own,
    };
    Ok(Request {
        scope,
        selection: query.selection,
        filter: query.filter,
        enrich: Enrich::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_held_are_counted_not_kept_without_bound() {
        let mut messages = Messages::new(true);
        for _ in 0..3 {
            messages.push("note: closes are seen at listings only".to_owned());
        }
        for n in 0..MESSAGES_HELD + 5 {
            messages.push(format!("warning: --exec: hook failed ({n})"));
        }
        let lines = messages.take();
        assert_eq!(lines.len(), MESSAGES_HELD + 1);
        assert_eq!(lines[0], "note: closes are seen at listings only (and 2 more time(s))");
        assert_eq!(lines[MESSAGES_HELD], "6 more message(s) not shown");
        assert!(messages.take().is_empty(), "taken once");
        let mut printed = Messages::new(false);
        printed.push("warning: --exec: sh failed".to_owned());
        printed.push("warning: --exec: sh failed".to_owned());
        assert_eq!(printed.take().len(), 2, "event lines' messages are each printed");
    }
}
