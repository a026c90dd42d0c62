//! Network namespaces: the one `-N NAME` names (as `ss -N`), or every one
//! on the host (`--all-netns`): the named ones under /run/netns and every
//! other one a process is in (/proc/PID/ns/net), found by inode so that
//! each is listed once.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use crate::model::NetnsLabel;
use crate::sys::{Namespaces, ProcFs};

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

/// Why a namespace could not be entered, in the user's terms.
pub fn entry_error(path: &Path, error: &io::Error) -> String {
    let path = path.display();
    match error.raw_os_error() {
        Some(libc::ENOENT) => format!("no network namespace at {path} (see `ip netns list`)"),
        Some(libc::EPERM) => {
            format!("entering network namespace {path} needs root (CAP_SYS_ADMIN): {error}")
        }
        Some(libc::EINVAL) => format!("{path} is not a network namespace: {error}"),
        Some(libc::EACCES) => format!("cannot open network namespace {path}: {error}"),
        _ => format!("cannot enter network namespace {path}: {error}"),
    }
}

/// `net:[4026531840]` → 4026531840.
fn namespace_inode(link: &Path) -> Option<u64> {
    crate::owners::link_id(link, "net")
}

/// The inode of the namespace portwatch runs in.
pub fn own_inode(proc: &dyn ProcFs) -> Result<u64> {
    let own_link =
        proc.read_link(Path::new("/proc/self/ns/net")).context("cannot read /proc/self/ns/net")?;
    namespace_inode(&own_link).context("unexpected /proc/self/ns/net link")
}

/// The namespaces found besides portwatch's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The named ones by name, then the rest by inode.
    pub namespaces: Vec<Namespace>,
    /// What could not even be looked at, and why.
    pub unreadable: Vec<String>,
}

/// Every network namespace on the host but portwatch's own. A process that
/// exits meanwhile is skipped; processes whose namespace this user may not
/// read are counted in [`Discovered::unreadable`].
pub fn discover_others(
    proc: &dyn ProcFs,
    namespaces: &dyn Namespaces,
    own: u64,
) -> Result<Discovered> {
    let mut found: BTreeMap<u64, Namespace> = BTreeMap::new();
    let named = namespaces.named().with_context(|| format!("cannot list {NAMED_DIR}"))?;
    for (name, inode) in named {
        let path = Path::new(NAMED_DIR).join(&name);
        let label = NetnsLabel { inode, name: Some(name) };
        found.entry(inode).or_insert(Namespace { label, path });
    }
    let mut hidden_pids = Vec::new();
    for pid in crate::owners::list_pids(proc).context("cannot list /proc")? {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let link = match proc.read_link(&path) {
            Ok(link) => link,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                hidden_pids.push(pid);
                continue;
            }
            Err(_) => continue,
        };
        let Some(inode) = namespace_inode(&link) else { continue };
        found.entry(inode).or_insert(Namespace { label: NetnsLabel { inode, name: None }, path });
    }
    found.remove(&own);
    let mut others: Vec<Namespace> = found.into_values().collect();
    others.sort_by(|a, b| {
        let key = |n: &Namespace| (n.label.name.is_none(), n.label.name.clone(), n.label.inode);
        key(a).cmp(&key(b))
    });
    let unreadable = unreadable_processes(&hidden_pids).into_iter().collect();
    Ok(Discovered { namespaces: others, unreadable })
}

/// Names processes whose namespace link could not be read: by pid when
/// they are few, by count when many.
fn unreadable_processes(pids: &[u32]) -> Option<String> {
    let which = match pids {
        [] => return None,
        [pid] => format!("process {pid}"),
        few if few.len() <= 5 => {
            let list: Vec<String> = few.iter().map(u32::to_string).collect();
            format!("processes {}", list.join(", "))
        }
        many => format!("{} processes", many.len()),
    };
    Some(format!(
        "the network namespace of {which} could not be read (permission denied), so it may \
         hold sockets not listed here"
    ))
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

    #[test]
    fn entry_errors_name_the_cause() {
        let path = Path::new("/run/netns/x");
        let message = |errno| entry_error(path, &io::Error::from_raw_os_error(errno));
        assert!(message(libc::EPERM).contains("needs root"));
        assert!(message(libc::EINVAL).contains("is not a network namespace"));
        assert!(!message(libc::EINVAL).contains("root"));
        assert!(message(libc::ENOENT).contains("no network namespace at /run/netns/x"));
    }
}
