//! The connect scan itself: one tokio task per connect, at most
//! `parallelism` at once, paced by `--rate`, each waiting as long as its
//! host's round trips say (see [`timing`](super::timing)), and a retry for
//! every port that did not answer, so that one dropped SYN is not reported
//! `filtered`.
//!
//! One coordinating loop owns all the bookkeeping (estimates, results,
//! pacing): tasks only connect and report, so nothing is shared or locked.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::targets::Target;
use super::timing::{RttEstimate, TimeoutBounds};
use crate::model::scan::{PortState, Reason};

/// How to scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub bounds: TimeoutBounds,
    /// Tries after the first for a port that did not answer.
    pub retries: u32,
    /// Connections started per second, at most.
    pub rate: Option<u32>,
    /// The whole scan's bound; what is unfinished then is left out.
    pub max_time: Option<Duration>,
    /// Connections at once, at most.
    pub parallelism: usize,
    /// Keep closed ports one by one (`--all-states`), not only counted.
    pub keep_closed: bool,
}

/// One port's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probed {
    pub port: u16,
    pub reason: Reason,
    /// How long the answer took; None when nothing answered.
    pub rtt: Option<Duration>,
}

/// What one address answered.
#[derive(Clone, Debug)]
pub struct HostOutcome {
    pub target: Target,
    /// Every port with `keep_closed`; else all but the closed ones beyond
    /// the first [`CLOSED_KEPT`].
    pub ports: Vec<Probed>,
    pub closed: usize,
    pub latency: Option<Duration>,
}

impl HostOutcome {
    /// Some port answered (open or closed), or the network said it was
    /// not there.
    pub fn answered(&self) -> bool {
        self.closed > 0 || self.ports.iter().any(|p| p.reason.state() != PortState::Filtered)
    }
}

/// The scan's result.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    pub hosts: Vec<HostOutcome>,
    /// What the user should know about how the scan ran (fewer sockets
    /// than planned, errors the kernel gave).
    pub notes: Vec<String>,
    /// False when `max_time` cut the scan short.
    pub complete: bool,
    pub elapsed: Duration,
}

/// What one connect came back with.
pub(super) enum Attempt {
    Answered(Reason, Duration),
    TimedOut,
    /// No socket or no local port to connect from (EMFILE, ENFILE,
    /// EADDRNOTAVAIL): not an answer, try again with fewer at once.
    OutOfResources(io::Error),
    /// An error no state follows from.
    Failed(io::Error),
}

/// One connect to make.
#[derive(Clone, Copy, Debug)]
struct Job {
    host: usize,
    port: u16,
    attempt: u32,
}

/// Closed ports kept one by one without `keep_closed`: nmap's table lists
/// closed ports while there are at most 25 of them, and sums them up
/// beyond.
pub const CLOSED_KEPT: usize = 25;

/// How long a scan waits for a socket when none is left and no connect is
/// under way, before it gives up; and how long between tries meanwhile.
const STARVED_FOR: Duration = Duration::from_secs(3);
const STARVED_PAUSE: Duration = Duration::from_millis(50);

/// The fewest connections at once that a shortage of sockets leaves.
const MIN_PARALLELISM: usize = 8;

/// At most `wanted` shards, and no more than there are ports, connections
/// at once or connections per second to share out: each shard takes at
/// least one of each, and the user's bounds hold for the sum.
fn shard_count(wanted: usize, ports: usize, options: &ScanOptions) -> usize {
    let rate = options.rate.map_or(usize::MAX, |rate| rate as usize);
    wanted.min(ports).min(options.parallelism).min(rate).max(1)
}

/// Scans on `shards` threads, each with an event loop of its own and a
/// share of the ports (every `shards`-th): the kernel's work per connect
/// (socket, connect, poll, close) is most of a scan's time, and one thread
/// does it on one core. Each shard keeps its own round-trip estimates.
pub fn scan_on_threads(
    targets: Vec<Target>,
    ports: &[u16],
    options: &ScanOptions,
    shards: usize,
) -> io::Result<ScanOutcome> {
    let started = std::time::Instant::now();
    let (runtimes, shortage) = event_loops(shard_count(shards, ports.len(), options))?;
    let shards = runtimes.len();
    let shard_options = ScanOptions {
        parallelism: (options.parallelism / shards).max(1),
        rate: options.rate.map(|rate| (rate / shards as u32).max(1)),
        ..options.clone()
    };
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = runtimes
            .into_iter()
            .enumerate()
            .map(|(shard, runtime)| {
                let share: Vec<u16> = ports.iter().skip(shard).step_by(shards).copied().collect();
                let (targets, options) = (targets.clone(), &shard_options);
                scope.spawn(move || runtime.block_on(scan(targets, &share, options)))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| Err(io::Error::other("a scan thread failed")))
            })
            .collect::<io::Result<Vec<_>>>()
    })?;
    let mut outcome = merge(outcomes, started.elapsed());
    outcome.notes.extend(shortage);
    Ok(outcome)
}

/// Up to `wanted` event loops (each holds a few descriptors), each with a
/// descriptor to spare for its connects: fewer when descriptors run
/// short, with a note saying so, and an error when not even one can run.
fn event_loops(wanted: usize) -> io::Result<(Vec<tokio::runtime::Runtime>, Option<String>)> {
    let mut runtimes = Vec::with_capacity(wanted);
    let mut shortage = None;
    for _ in 0..wanted {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtimes.push(runtime),
            Err(error) if is_shortage(&error) && !runtimes.is_empty() => {
                shortage = Some(error);
                break;
            }
            Err(error) => return Err(error),
        }
    }
    while let Err(error) = spare_descriptors(runtimes.len()) {
        shortage = Some(error);
        if runtimes.len() <= 1 {
            return Err(shortage.unwrap_or_else(|| io::Error::other("no descriptor to spare")));
        }
        runtimes.pop();
    }
    let note = shortage.filter(|_| runtimes.len() < wanted).map(|error| {
        format!("{error}: the scan runs on {} thread(s), not {wanted}", runtimes.len())
    });
    Ok((runtimes, note))
}

/// Whether `count` more descriptors can be opened now.
fn spare_descriptors(count: usize) -> io::Result<()> {
    let held = (0..count).map(|_| std::fs::File::open("/dev/null")).collect::<io::Result<Vec<_>>>();
    held.map(drop)
}

/// Out of descriptors, for this process or the whole system.
fn is_shortage(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// One outcome of the shards' outcomes: each host's ports together.
fn merge(outcomes: Vec<ScanOutcome>, elapsed: Duration) -> ScanOutcome {
    let mut merged: Option<ScanOutcome> = None;
    for outcome in outcomes {
        let Some(total) = merged.as_mut() else {
            merged = Some(outcome);
            continue;
        };
        for (host, part) in total.hosts.iter_mut().zip(outcome.hosts) {
            host.ports.extend(part.ports);
            host.closed += part.closed;
            host.latency = match (host.latency, part.latency) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        for note in outcome.notes {
            if !total.notes.contains(&note) {
                total.notes.push(note);
            }
        }
        total.complete &= outcome.complete;
    }
    let mut merged = merged.unwrap_or(ScanOutcome {
        hosts: Vec::new(),
        notes: Vec::new(),
        complete: true,
        elapsed,
    });
    for host in &mut merged.hosts {
        host.ports.sort_by_key(|probed| probed.port);
    }
    merged.elapsed = elapsed;
    merged
}

/// Scans every port of every target.
pub async fn scan(
    targets: Vec<Target>,
    ports: &[u16],
    options: &ScanOptions,
) -> io::Result<ScanOutcome> {
    let started = Instant::now();
    let deadline = options.max_time.map(|bound| started + bound);
    let host_count = targets.len();
    let mut run = Run::new(targets, options);
    let mut first_round =
        ports.iter().flat_map(|&port| (0..host_count).map(move |host| (host, port)));
    let mut next_job = || first_round.next().map(|(host, port)| Job { host, port, attempt: 0 });
    let mut complete = run.drive(&mut next_job, deadline).await?;
    for attempt in 1..=options.retries {
        if !complete {
            break;
        }
        let mut retries: VecDeque<Job> = run.take_unanswered(attempt).into();
        if retries.is_empty() {
            break;
        }
        complete = run.drive(&mut || retries.pop_front(), deadline).await?;
    }
    Ok(run.finish(complete, started.elapsed()))
}

/// The coordinator's state.
struct Run<'o> {
    options: &'o ScanOptions,
    hosts: Vec<HostOutcome>,
    estimates: Vec<RttEstimate>,
    /// Ports that timed out in the round just run, per host.
    unanswered: Vec<Vec<u16>>,
    parallelism: usize,
    /// A shortage of sockets was met and no connect has been answered
    /// since.
    shortage_seen: bool,
    /// The last shortage of sockets met, for the note.
    shortage: Option<String>,
    pace: Option<Pace>,
    notes: Notes,
}

impl<'o> Run<'o> {
    fn new(targets: Vec<Target>, options: &'o ScanOptions) -> Self {
        let count = targets.len();
        Run {
            options,
            hosts: targets
                .into_iter()
                .map(|target| HostOutcome { target, ports: Vec::new(), closed: 0, latency: None })
                .collect(),
            estimates: vec![RttEstimate::new(options.bounds); count],
            unanswered: vec![Vec::new(); count],
            parallelism: options.parallelism.max(1),
            shortage_seen: false,
            shortage: None,
            pace: options.rate.filter(|&rate| rate > 0).map(Pace::new),
            notes: Notes::default(),
        }
    }

    /// Runs jobs until there are none left (true) or the deadline passed
    /// (false); an error when no socket could be had for [`STARVED_FOR`]
    /// with no connect under way to give one back.
    async fn drive(
        &mut self,
        next_job: &mut dyn FnMut() -> Option<Job>,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        let mut running: JoinSet<(Job, Attempt)> = JoinSet::new();
        let mut requeued: VecDeque<Job> = VecDeque::new();
        // After a shortage, no new connect starts until one under way gives
        // its socket back, or none is left under way.
        let mut held_back = false;
        let mut starved_since: Option<Instant> = None;
        loop {
            while running.len() < self.parallelism && (!held_back || running.is_empty()) {
                let Some(job) = requeued.pop_front().or_else(&mut *next_job) else { break };
                if let Some(pace) = self.pace.as_mut() {
                    pace.wait().await;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    running.abort_all();
                    return Ok(false);
                }
                let address = SocketAddr::new(self.hosts[job.host].target.address, job.port);
                let timeout = match job.attempt {
                    0 => self.estimates[job.host].timeout(),
                    n => self.estimates[job.host].retry_timeout(n),
                };
                running.spawn(async move { (job, connect(address, timeout).await) });
            }
            let joined = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, running.join_next()).await {
                        Ok(joined) => joined,
                        Err(_) => {
                            running.abort_all();
                            return Ok(false);
                        }
                    }
                }
                None => running.join_next().await,
            };
            let Some(joined) = joined else { return Ok(true) };
            // A task only fails by panicking, which connect never does.
            let Ok((job, attempt)) = joined else { continue };
            held_back = matches!(attempt, Attempt::OutOfResources(_));
            if let Some(again) = self.record(job, attempt) {
                requeued.push_back(again);
            }
            if !held_back {
                starved_since = None;
                continue;
            }
            if !running.is_empty() {
                continue;
            }
            // Nothing under way will give a socket back: wait for one
            // freed elsewhere (a TIME_WAIT ending, another process), a while.
            let since = *starved_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= STARVED_FOR {
                running.abort_all();
                return Err(io::Error::other(format!(
                    "{}, with no connection under way to give one back",
                    self.shortage.as_deref().unwrap_or("no socket to connect with")
                )));
            }
            tokio::time::sleep(STARVED_PAUSE).await;
        }
    }

    /// Books one attempt; a job to run again when it got no answer for
    /// want of resources.
    fn record(&mut self, job: Job, attempt: Attempt) -> Option<Job> {
        match attempt {
            Attempt::Answered(reason, rtt) => {
                self.shortage_seen = false;
                self.estimates[job.host].observe(rtt);
                self.keep(job, Probed { port: job.port, reason, rtt: Some(rtt) });
                None
            }
            Attempt::TimedOut if job.attempt < self.options.retries => {
                self.unanswered[job.host].push(job.port);
                None
            }
            Attempt::TimedOut => {
                self.keep(job, Probed { port: job.port, reason: Reason::NoResponse, rtt: None });
                None
            }
            Attempt::OutOfResources(error) => {
                self.lower_parallelism(&error);
                Some(job)
            }
            Attempt::Failed(error) => {
                self.notes.add(format!("connect failed: {error}"));
                self.keep(job, Probed { port: job.port, reason: Reason::NoResponse, rtt: None });
                None
            }
        }
    }

    fn keep(&mut self, job: Job, probed: Probed) {
        let host = &mut self.hosts[job.host];
        if probed.reason.state() == PortState::Closed {
            host.closed += 1;
            if !self.options.keep_closed && host.closed > CLOSED_KEPT {
                return;
            }
        }
        host.ports.push(probed);
    }

    /// Lowers the connections at once by a quarter, once per shortage: the
    /// connects already under way when it began fail alike and are only
    /// tried again.
    fn lower_parallelism(&mut self, error: &io::Error) {
        if self.shortage_seen {
            return;
        }
        self.shortage_seen = true;
        self.shortage = Some(error.to_string());
        self.parallelism = (self.parallelism * 3 / 4).max(MIN_PARALLELISM.min(self.parallelism));
    }

    /// The ports that timed out in the round just run, as retry jobs.
    fn take_unanswered(&mut self, attempt: u32) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (host, ports) in self.unanswered.iter_mut().enumerate() {
            jobs.extend(ports.drain(..).map(|port| Job { host, port, attempt }));
        }
        jobs
    }

    fn finish(mut self, complete: bool, elapsed: Duration) -> ScanOutcome {
        for (host, estimate) in self.hosts.iter_mut().zip(&self.estimates) {
            host.latency = estimate.latency();
            host.ports.sort_by_key(|probed| probed.port);
        }
        if let Some(error) = &self.shortage {
            self.notes.add(format!(
                "{error}: fewer connections at once ({} instead of {}); every port was still \
                 scanned",
                self.parallelism,
                self.options.parallelism.max(1)
            ));
        }
        if !complete {
            self.notes.add("the scan ran out of time (--max-time): unfinished ports are left out");
        }
        ScanOutcome { hosts: self.hosts, notes: self.notes.0, complete, elapsed }
    }
}

/// Each distinct note once, in order.
#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn add(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
}

/// Spaces connection starts `1/rate` seconds apart.
struct Pace {
    interval: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate: u32) -> Self {
        Pace { interval: Duration::from_secs(1) / rate, next: Instant::now() }
    }

    async fn wait(&mut self) {
        let now = Instant::now();
        let slot = self.next.max(now);
        self.next = slot + self.interval;
        tokio::time::sleep_until(slot).await;
    }
}

/// One TCP connect, answered or not within `timeout`.
pub(super) async fn connect(address: SocketAddr, timeout: Duration) -> Attempt {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let started = Instant::now();
    let kind = Type::STREAM.nonblocking().cloexec();
    let socket = match Socket::new(Domain::for_address(address), kind, Some(Protocol::TCP)) {
        Ok(socket) => socket,
        Err(error) => return out_of_resources_or_failed(error),
    };
    let target = SockAddr::from(address);
    // On loopback and other local addresses the answer has come before
    // connect returns (the kernel runs the SYN's delivery on the way out),
    // so asking again settles most ports without a wait on the poller.
    for _ in 0..2 {
        match socket.connect(&target) {
            Ok(()) => return connected(&socket, address, started),
            Err(error) if is_pending(&error) => {}
            Err(error) => return answer_of(error, started),
        }
    }
    let stream = match tokio::net::TcpStream::from_std(std::net::TcpStream::from(socket)) {
        Ok(stream) => stream,
        Err(error) => return out_of_resources_or_failed(error),
    };
    match tokio::time::timeout(timeout, stream.writable()).await {
        Err(_) => Attempt::TimedOut,
        Ok(Err(error)) => out_of_resources_or_failed(error),
        Ok(Ok(())) => match stream.take_error() {
            Ok(Some(error)) | Err(error) => answer_of(error, started),
            Ok(None) => match stream.local_addr() {
                Ok(local) => open_unless_self(local, address, started.elapsed()),
                Err(error) => answer_of(error, started),
            },
        },
    }
}

fn is_pending(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINPROGRESS | libc::EALREADY))
}

fn connected(socket: &socket2::Socket, address: SocketAddr, started: Instant) -> Attempt {
    match socket.local_addr().ok().and_then(|local| local.as_socket()) {
        Some(local) => open_unless_self(local, address, started.elapsed()),
        None => Attempt::Answered(Reason::SynAck, started.elapsed()),
    }
}

/// Scanning this host's own ports, a connect can meet itself (the kernel
/// picked the very port as the source): that is a closed port, not an
/// open one.
fn open_unless_self(local: SocketAddr, address: SocketAddr, rtt: Duration) -> Attempt {
    match local == address {
        true => Attempt::Answered(Reason::ConnRefused, rtt),
        false => Attempt::Answered(Reason::SynAck, rtt),
    }
}

fn answer_of(error: io::Error, started: Instant) -> Attempt {
    match reason_of(&error) {
        Some(reason) => Attempt::Answered(reason, started.elapsed()),
        None if error.raw_os_error() == Some(libc::ETIMEDOUT) => Attempt::TimedOut,
        None => out_of_resources_or_failed(error),
    }
}

/// nmap's reading of a connect's error.
fn reason_of(error: &io::Error) -> Option<Reason> {
    Some(match error.raw_os_error()? {
        libc::ECONNREFUSED => Reason::ConnRefused,
        libc::EHOSTUNREACH | libc::EHOSTDOWN => Reason::HostUnreach,
        libc::ENETUNREACH | libc::ENETDOWN => Reason::NetUnreach,
        libc::EACCES | libc::EPERM => Reason::AdminProhibited,
        _ => return None,
    })
}

fn out_of_resources_or_failed(error: io::Error) -> Attempt {
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::EADDRNOTAVAIL | libc::ENOBUFS | libc::EAGAIN) => {
            Attempt::OutOfResources(error)
        }
        _ => Attempt::Failed(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ScanOptions {
        ScanOptions {
            bounds: TimeoutBounds::default(),
            retries: 1,
            rate: None,
            max_time: None,
            parallelism: 64,
            keep_closed: true,
        }
    }

    #[test]
    fn shards_never_outnumber_the_connections_or_the_rate_they_share() {
        assert_eq!(shard_count(2, 1000, &options()), 2);
        assert_eq!(shard_count(2, 1, &options()), 1, "one port, one shard");
        let one_at_a_time = ScanOptions { parallelism: 1, ..options() };
        assert_eq!(shard_count(2, 1000, &one_at_a_time), 1, "--max-parallelism 1 holds");
        let slow = ScanOptions { rate: Some(1), ..options() };
        assert_eq!(shard_count(2, 1000, &slow), 1, "--rate 1 holds");
        assert_eq!(shard_count(0, 0, &options()), 1);
    }

    fn loopback() -> Vec<Target> {
        vec![Target { name: "127.0.0.1".into(), address: "127.0.0.1".parse().unwrap() }]
    }

    #[tokio::test(flavor = "current_thread")]
    async fn open_and_closed_ports_on_loopback() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            gone.local_addr().unwrap().port()
        };
        let outcome = scan(loopback(), &[open, closed], &options()).await.unwrap();
        assert!(outcome.complete);
        let host = &outcome.hosts[0];
        let states: Vec<_> = host.ports.iter().map(|p| (p.port, p.reason)).collect();
        let mut expected = vec![(open, Reason::SynAck), (closed, Reason::ConnRefused)];
        expected.sort();
        assert_eq!(states, expected);
        assert_eq!(host.closed, 1);
        assert!(host.latency.is_some() && host.answered());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn closed_ports_are_counted_not_kept_without_all_states() {
        let options = ScanOptions { keep_closed: false, ..options() };
        let outcome = scan(loopback(), &(1..=30).collect::<Vec<_>>(), &options).await.unwrap();
        assert_eq!(outcome.hosts[0].closed, 30);
        assert_eq!(outcome.hosts[0].ports.len(), CLOSED_KEPT);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_rate_spaces_connections() {
        let options = ScanOptions { rate: Some(50), ..options() };
        let started = std::time::Instant::now();
        let outcome = scan(loopback(), &[1, 2, 3, 4, 5, 6], &options).await.unwrap();
        assert_eq!(outcome.hosts[0].closed, 6);
        assert!(started.elapsed() >= Duration::from_millis(100), "6 starts at 50/s take 100 ms");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn max_time_leaves_the_scan_incomplete() {
        let options =
            ScanOptions { rate: Some(10), max_time: Some(Duration::from_millis(250)), ..options() };
        let outcome = scan(loopback(), &(1..=50).collect::<Vec<_>>(), &options).await.unwrap();
        assert!(!outcome.complete);
        assert!(outcome.hosts[0].closed < 50);
        assert!(outcome.notes.iter().any(|n| n.contains("--max-time")));
    }
}
