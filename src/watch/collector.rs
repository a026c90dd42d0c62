//! What `watch` sees, gathered on threads of their own and sent over a
//! channel: a listing of the selected sockets every interval, and the
//! closes the kernel announces as they happen (sock_diag's destroy
//! groups), so that drawing and printing never hold up collecting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use crate::inventory::{self, Request, Scope};
use crate::model::Socket;
use crate::source::events::Follow;
use crate::sys::Os;

/// One thing seen.
#[derive(Debug)]
pub enum Observation {
    /// The selected sockets now.
    Listing(Vec<Socket>),
    /// A socket the kernel destroyed.
    Destroyed(Box<Socket>),
    /// Closes are not announced (no permission, no such kernel support):
    /// they are seen at the next listing only.
    NoAnnouncements(String),
    /// A listing failed: the watch ends with this error.
    Failed(anyhow::Error),
}

/// When the collectors stop: a signal arrived, or the consumer is done.
pub struct Stop<'a> {
    pub signals: &'a AtomicBool,
    pub done: AtomicBool,
}

impl Stop<'_> {
    pub fn is_set(&self) -> bool {
        self.signals.load(Ordering::Relaxed) || self.done.load(Ordering::Relaxed)
    }

    /// Sleeps until `until`, waking at least every `tick` to look at the
    /// stop; false when stopped.
    fn sleep_until(&self, until: Instant, tick: Duration) -> bool {
        while !self.is_set() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(tick));
        }
        false
    }
}

/// How long a stop waits to be noticed, at most.
const STOP_TICK: Duration = Duration::from_millis(50);

/// Lists the selected sockets every `interval` (the first after one
/// interval), until stopped or the receiver is gone. A listing that finds
/// the receiver behind (its queue full) is dropped: the next one carries
/// the same news.
pub fn list_every(
    os: &Os<'_>,
    request: &Request,
    interval: Duration,
    stop: &Stop<'_>,
    sender: &SyncSender<Observation>,
) {
    let mut next = Instant::now().checked_add(interval);
    while let Some(due) = next
        && stop.sleep_until(due, STOP_TICK)
    {
        let now = Instant::now();
        next = match due.checked_add(interval) {
            Some(on_time) if on_time >= now => Some(on_time),
            _ => now.checked_add(interval),
        };
        match inventory::snapshot(os, request) {
            Ok(inventory) => match sender.try_send(Observation::Listing(inventory.sockets)) {
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            },
            Err(error) => {
                let _ = sender.send(Observation::Failed(error));
                return;
            }
        }
    }
}

/// Sends each selected socket the kernel destroys, until stopped; when
/// the kernel will not announce them, says so once and returns.
pub fn follow_closes(
    os: &Os<'_>,
    request: &Request,
    stop: &Stop<'_>,
    sender: &SyncSender<Observation>,
) {
    if matches!(request.scope, Scope::AllNamespaces | Scope::Recording(_)) {
        return;
    }
    let mut follow = Follow { stop: &mut || stop.is_set(), after_event: &mut || Ok(()) };
    let mut forward = |socket: Socket| {
        sender
            .send(Observation::Destroyed(Box::new(socket)))
            .map_err(|_| anyhow::anyhow!("watch ended"))
    };
    if let Err(error) = inventory::follow(os, request, &mut follow, &mut forward) {
        if !stop.is_set() {
            let _ = sender.send(Observation::NoAnnouncements(format!("{error:#}")));
        }
    }
}
