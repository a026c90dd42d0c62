//! The watch's events, from what the collectors saw: each listing diffed
//! against the sockets held, each announced close ended at once, owners
//! read for new sockets alone (one /proc scan per listing that has any),
//! and, with `--audit`, the rules' findings on each event's socket.

use std::collections::HashSet;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, Result};

use super::Tracker;
use super::collector::Observation;
use crate::audit::{self, OwnerView, Policy};
use crate::model::Socket;
use crate::model::watch::{EventKind, WatchEvent};
use crate::owners::Owners;
use crate::sys::Os;

/// Turns observations into events.
pub struct Watcher<'w> {
    os: &'w Os<'w>,
    tracker: Tracker,
    receiver: Receiver<Observation>,
    audit: Option<Audit<'w>>,
    notes: Vec<String>,
}

/// `--audit`: the policy the rules are judged by, if any.
pub struct Audit<'p> {
    pub policy: Option<&'p Policy>,
}

impl<'w> Watcher<'w> {
    /// A watcher over the sockets `initial` (owners are read for them now,
    /// so that their close names them) and what `receiver` brings.
    pub fn new(
        os: &'w Os<'w>,
        mut initial: Vec<Socket>,
        receiver: Receiver<Observation>,
        audit: Option<Audit<'w>>,
    ) -> Result<Watcher<'w>> {
        add_owners(os, &mut initial)?;
        Ok(Watcher { os, tracker: Tracker::new(initial), receiver, audit, notes: Vec::new() })
    }

    /// The sockets held now.
    pub fn current(&self) -> impl Iterator<Item = &Socket> {
        self.tracker.current()
    }

    /// Waits at most `timeout` for what the collectors saw next: its
    /// events (none when nothing changed or nothing came in time), or None
    /// when the collectors have ended.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Vec<WatchEvent>>> {
        let observation = match self.receiver.recv_timeout(timeout) {
            Ok(observation) => observation,
            Err(RecvTimeoutError::Timeout) => return Ok(Some(Vec::new())),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        };
        let time = humantime::format_rfc3339_micros(self.os.env.now()).to_string();
        let changed = match observation {
            Observation::Listing(sockets) => {
                let changes = self.tracker.update(sockets);
                let mut opened = changes.opened;
                add_owners(self.os, &mut opened)?;
                self.tracker.hold(&opened);
                let closes = changes.closed.into_iter().map(|s| (EventKind::Close, s));
                closes.chain(opened.into_iter().map(|s| (EventKind::Open, s))).collect()
            }
            Observation::Destroyed(socket) => self
                .tracker
                .announced_close(&socket)
                .map(|s| (EventKind::Close, s))
                .into_iter()
                .collect(),
            Observation::NoAnnouncements(why) => {
                self.notes.push(format!("closes are seen at the next listing only: {why}"));
                Vec::new()
            }
            Observation::Failed(error) => return Err(error),
        };
        Ok(Some(
            changed.into_iter().map(|(kind, socket)| self.event(kind, &time, socket)).collect(),
        ))
    }

    /// What the user should know about how the watch runs, once each.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn event(&self, kind: EventKind, time: &str, socket: Socket) -> WatchEvent {
        let findings = match &self.audit {
            Some(audit) => {
                let visible = socket.owners().is_some_and(|o| !o.processes.is_empty());
                // A socket found without a holder may only have closed
                // before /proc was read: not judged unowned.
                let owners = OwnerView { looked_up: true, all_visible: visible };
                audit::findings_for(socket.clone(), owners, audit.policy)
            }
            None => Vec::new(),
        };
        let mut event = WatchEvent::new(kind, time.to_owned(), socket);
        event.findings = findings.into_iter().map(Into::into).collect();
        event
    }
}

/// Reads the holders of the new sockets, in one /proc scan.
fn add_owners(os: &Os<'_>, sockets: &mut [Socket]) -> Result<()> {
    if sockets.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<u32> = sockets.iter().filter_map(Socket::inode).collect();
    let mut owners = Owners::scan_for(os.proc, os.users, os.env, Some(&wanted))
        .context("cannot scan /proc for socket owners")?
        .with_runtimes(os.files)
        .with_namespace_addresses(crate::inventory::namespace_lister(*os));
    for socket in sockets {
        socket.set_owners(Some(owners.of(socket.inode())));
    }
    Ok(())
}
