//! What `audit` and `baseline` share: the request for the listeners, the
//! host's name, and reading a baseline and what of it an audit can compare.

use std::path::Path;

use anyhow::{Context as _, Result, anyhow};

use crate::audit::baseline::{Baseline, Coverage};
use crate::inventory::{Enrich, Request, Scope};
use crate::model::audit::Listener;
use crate::model::{IpFamily, Netid, NetnsKey, StateSet};
use crate::source::Selection;
use crate::sys::Os;

/// A baseline file larger than this is refused (a host with 100,000
/// listeners writes about 100 MiB).
pub const BASELINE_FILE_LIMIT: u64 = 256 << 20;

/// The listening TCP and bound UDP sockets of `scope`, with their owners
/// when `owners` (a recording has none).
pub fn request(scope: Scope, owners: bool) -> Request {
    Request {
        scope,
        selection: Selection {
            netids: vec![Netid::Udp, Netid::Tcp],
            families: IpFamily::ALL.to_vec(),
            optional: Vec::new(),
            states: StateSet::listening(),
            categories: Vec::new(),
            extensions: Default::default(),
            details: false,
        },
        filter: None,
        enrich: Enrich { owners, services: true, ..Enrich::default() },
    }
}

/// The kernel's host name (the UTS namespace's).
pub fn host_name(os: &Os<'_>) -> String {
    let name = os.proc.read_text(Path::new("/proc/sys/kernel/hostname")).unwrap_or_default();
    match name.trim() {
        "" => "localhost".into(),
        name => name.to_owned(),
    }
}

/// Reads a baseline; the error names the file and the problem.
pub fn load(path: &Path, os: &Os<'_>) -> Result<Baseline> {
    let text = os
        .files
        .read_text(path, BASELINE_FILE_LIMIT)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    Baseline::parse(&text).map_err(|problem| anyhow!("baseline {}: {problem}", path.display()))
}

/// What of a baseline an audit of `scope` can compare: one namespace's
/// listeners, or every one's.
pub fn coverage(scope: &Scope, now: &[Listener], own_inode: Option<u64>) -> Coverage {
    let namespace = match scope {
        Scope::Own | Scope::Recording(_) => Some(NetnsKey::Own),
        Scope::Named(name) if !name.contains('/') => Some(NetnsKey::Named(name.clone())),
        // A path: the namespace it names, as its listeners are labelled.
        Scope::Named(_) => now.first().map(|listener| listener.socket.listener_key().netns),
        Scope::AllNamespaces => None,
    };
    Coverage { namespace, own_inode }
}
