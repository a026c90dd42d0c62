//! `portwatch watch`: the selected sockets (listeners unless states are
//! asked for) listed every `--interval` on one thread, through the
//! kernel's state filter so that only they cross into userspace, and the
//! closes the kernel announces followed on another; what opened and closed
//! is printed as events, with owners read for the new sockets alone.
//! Stops after `--count` events or `--duration`, on SIGINT or SIGTERM, or
//! when standard output is closed: all a normal end (exit 0).

use std::io::Write;
use std::sync::atomic::AtomicBool;
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
use crate::watch::exec::{Hook, Hooks};
use crate::watch::history::{History, Retention};
use crate::watch::terminal::run_live;
use crate::watch::watcher::{Audit, Watcher};

/// The longest a stop (a signal, a closed pipe) waits to be noticed.
const STOP_CHECK: Duration = Duration::from_millis(50);

pub fn run(
    args: &WatchArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let request = request(args, os, stderr)?;
    let hook = match &args.exec {
        Some(command) => {
            Some(Hook::parse(command, args.exec_shell, args.exec_timeout).map_err(UsageError)?)
        }
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
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        let closes = sender.clone();
        let (request, stop) = (&request, &stop);
        scope.spawn(move || collector::list_every(os, request, args.interval, stop, &sender));
        scope.spawn(move || collector::follow_closes(os, request, stop, &closes));
        let outcome = Watcher::new(os, initial, receiver, audit).and_then(|watcher| {
            let feed = Feed {
                watcher,
                hooks: hook.map(|hook| Hooks::start(hook, usize::from(args.exec_jobs))),
                history,
                stop,
                stdout_closed: &|| os.env.stdout_closed(),
                deadline: args.duration.map(|d| Instant::now() + d),
                left: args.count,
                messages: Vec::new(),
            };
            show(args, os, feed, stdout, stderr)
        });
        stop.done.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome
    })
}

/// The live table on a terminal without `--format`; else event lines.
/// Messages held back are written at the end.
fn show(
    args: &WatchArgs,
    os: &Os<'_>,
    mut feed: Feed<'_, '_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let shown = match args.format {
        None if os.env.stdout_is_terminal() => {
            let initial = feed.watcher.current().cloned().collect();
            run_live(stdout, initial, args.interval, &mut |timeout| feed.next(timeout))
        }
        format => print_events(format.unwrap_or(WatchFormat::Plain), &mut feed, stdout, stderr),
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
    messages: Vec<String>,
}

impl Feed<'_, '_> {
    /// What came within `timeout` (maybe nothing); None at the end.
    fn next(&mut self, timeout: Duration) -> Result<Option<Vec<WatchEvent>>> {
        let over = self.deadline.is_some_and(|d| Instant::now() >= d);
        if self.stop.is_set() || (self.stdout_closed)() || over || self.left == Some(0) {
            return Ok(None);
        }
        let Some(mut events) = self.watcher.next(timeout)? else { return Ok(None) };
        self.messages.extend(self.watcher.take_notes().into_iter().map(|n| format!("note: {n}")));
        if let Some(left) = self.left.as_mut() {
            events.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
            *left -= events.len() as u64;
        }
        if let Some(history) = self.history.as_mut() {
            history.record(&events)?;
        }
        if let Some(hooks) = self.hooks.as_mut() {
            events.iter().for_each(|event| hooks.submit(event));
            self.messages.extend(hooks.failures().into_iter().map(|f| format!("warning: {f}")));
        }
        Ok(Some(events))
    }

    /// Lets the queued `--exec` commands end; the messages not yet shown.
    fn finish(mut self) -> Vec<String> {
        let failures = self.hooks.take().map(Hooks::finish).unwrap_or_default();
        self.messages.extend(failures.into_iter().map(|f| format!("warning: {f}")));
        self.messages
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
        for message in feed.messages.drain(..) {
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
