//! Network namespaces: listing inside a named one (`-N NAME`, as `ss -N`),
//! or inside every one on the host (`--all-netns`): the named ones under
//! /run/netns and every other one a process is in (/proc/PID/ns/net),
//! found by inode so that each is listed once.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub use crate::model::NetnsLabel;
use crate::sys::System;
use anyhow::{Context, Result};

pub const NAMED_DIR: &str = "/run/netns";

/// A namespace and a path through which to enter it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub label: NetnsLabel,
    pub path: PathBuf,
}

/// The file to enter for `-N NAME`: /run/netns/NAME, or NAME if it is a path.
pub fn named_path(name: &str) -> PathBuf {
    if name.contains('/') { PathBuf::from(name) } else { Path::new(NAMED_DIR).join(name) }
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &Path) -> Result<()> {
    let file = File::open(path)
        .with_context(|| format!("cannot open network namespace {}", path.display()))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("cannot enter network namespace {} (root needed)", path.display()))
}

/// Runs `work` on a thread inside `namespace`, so that the sockets it opens
/// (a sock_diag socket) and /proc/thread-self/net are that namespace's.
pub fn within<T: Send>(
    namespace: &Namespace,
    work: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(&namespace.path)?;
                work()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!("the thread for {} panicked", namespace.path.display()))
            })
    })
}

/// `net:[4026531840]` → 4026531840.
fn namespace_inode(link: &Path) -> Option<u64> {
    crate::owners::link_id(link, "net")
}

/// Every network namespace on the host: this process's own first, then the
/// named ones by name, then the rest by inode.
pub fn discover(system: &dyn System) -> Result<Vec<Namespace>> {
    let own_link = system
        .read_link(Path::new("/proc/self/ns/net"))
        .context("cannot read /proc/self/ns/net")?;
    let own = namespace_inode(&own_link).context("unexpected /proc/self/ns/net link")?;
    let mut found: BTreeMap<u64, Namespace> = BTreeMap::new();
    for name in system.list_dir(Path::new(NAMED_DIR)).unwrap_or_default() {
        let Some(name) = name.to_str() else { continue };
        let path = Path::new(NAMED_DIR).join(name);
        if let Ok(inode) = system.file_inode(&path) {
            let label = NetnsLabel { inode, name: Some(name.to_owned()) };
            found.entry(inode).or_insert(Namespace { label, path });
        }
    }
    for pid in crate::owners::list_pids(system).context("cannot list /proc")? {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        // Processes that exit, or whose links this user may not read, are skipped.
        let Some(inode) = system.read_link(&path).ok().and_then(|link| namespace_inode(&link))
        else {
            continue;
        };
        found.entry(inode).or_insert(Namespace { label: NetnsLabel { inode, name: None }, path });
    }
    let own_namespace = found.remove(&own).unwrap_or_else(|| Namespace {
        label: NetnsLabel { inode: own, name: None },
        path: PathBuf::from("/proc/self/ns/net"),
    });
    let mut rest: Vec<Namespace> = found.into_values().collect();
    rest.sort_by(|a, b| {
        (a.label.name.is_none(), &a.label.name, a.label.inode).cmp(&(
            b.label.name.is_none(),
            &b.label.name,
            b.label.inode,
        ))
    });
    Ok(std::iter::once(own_namespace).chain(rest).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_names() {
        assert_eq!(namespace_inode(Path::new("net:[4026531840]")), Some(4026531840));
        assert_eq!(namespace_inode(Path::new("mnt:[4026531840]")), None);
        assert_eq!(named_path("blue"), PathBuf::from("/run/netns/blue"));
        assert_eq!(named_path("/proc/1/ns/net"), PathBuf::from("/proc/1/ns/net"));
    }
}
