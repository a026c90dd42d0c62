//! A `watch` event, as `--format jsonl` writes it: a socket appeared or
//! went, when, and the socket with its owners (`list --json`'s record),
//! with the audit's findings on it under `--audit`.

use serde::{Deserialize, Serialize};

use super::Socket;
use super::audit::{Finding, Severity};

/// Whether the socket appeared or went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Open,
    Close,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Close => "close",
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub event: EventKind,
    /// When portwatch saw it, RFC 3339 in UTC with microseconds.
    pub time: String,
    /// The socket; a close carries what was known when it opened (its
    /// owners among it), since the holder may be gone.
    pub socket: Socket,
    /// With `--audit`: what the rules found on the socket when it opened
    /// (a close repeats them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<EventFinding>,
}

impl WatchEvent {
    /// An event without findings.
    pub fn new(event: EventKind, time: String, socket: Socket) -> WatchEvent {
        WatchEvent { event, time, socket, findings: Vec::new() }
    }

    /// The most severe finding's severity.
    pub fn severity(&self) -> Option<Severity> {
        self.findings.iter().map(|finding| finding.severity).max()
    }
}

/// One audit finding on an event's socket: the audit report's finding
/// without the listener, which is the event's socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFinding {
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub remedy: String,
}

impl From<Finding> for EventFinding {
    fn from(finding: Finding) -> EventFinding {
        let Finding { rule, severity, title, message, remedy, .. } = finding;
        EventFinding { rule, severity, title, message, remedy }
    }
}
