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
        let outcome = Watcher::new(os, initial, receiver, audit)
            .and_then(|watcher| print_events(args, watcher, hook, history, stop, stdout, stderr));
        stop.done.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome
    })
}

/// Prints events as they come until a stop, `--count` or `--duration`.
fn print_events(
    args: &WatchArgs,
    mut watcher: Watcher<'_>,
    hook: Option<Hook>,
    mut history: Option<History>,
    stop: &Stop<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let deadline = args.duration.map(|d| Instant::now() + d);
    let mut hooks = hook.map(|hook| Hooks::start(hook, usize::from(args.exec_jobs)));
    let mut out = std::io::BufWriter::new(stdout);
    let mut printed = 0u64;
    let outcome = loop {
        if stop.is_set() || deadline.is_some_and(|d| Instant::now() >= d) {
            break Ok(());
        }
        let events = match watcher.next(STOP_CHECK) {
            Ok(Some(events)) => events,
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        };
        for note in watcher.take_notes() {
            writeln!(stderr, "portwatch: note: {note}")?;
        }
        let left = args.count.map(|count| count - printed);
        let events: Vec<WatchEvent> =
            events.into_iter().take(left.map_or(usize::MAX, |n| n as usize)).collect();
        for event in &events {
            write_event(args.format, event, &mut out)?;
            hooks.iter_mut().for_each(|hooks| hooks.submit(event));
        }
        if let Some(Err(error)) = history.as_mut().map(|history| history.record(&events)) {
            break Err(error);
        }
        out.flush()?;
        printed += events.len() as u64;
        for failure in hooks.iter_mut().flat_map(Hooks::failures) {
            writeln!(stderr, "portwatch: warning: {failure}")?;
        }
        if args.count.is_some_and(|count| printed >= count) {
            break Ok(());
        }
    };
    for failure in hooks.into_iter().flat_map(Hooks::finish) {
        writeln!(stderr, "portwatch: warning: {failure}")?;
    }
    outcome.map(|()| ExitCode::Success)
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
