//! A `watch` event, as `--format jsonl` writes it: a socket appeared or
//! went, when, and the socket with its owners (`list --json`'s record).

use serde::{Deserialize, Serialize};

use super::Socket;

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
}
