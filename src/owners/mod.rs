//! Who holds each socket: every (pid, fd) whose /proc/PID/fd link names the
//! socket's inode, found by one scan of /proc per run, and the details of
//! those processes, read only for the sockets that are shown.

pub mod cgroup;
pub mod process;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use process::ProcessInfo;

use crate::sys::System;

/// One open file descriptor that refers to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub fd: u32,
}

/// Sockets by inode, with their holders, and a cache of process details.
pub struct Owners<'s> {
    system: &'s dyn System,
    holders: HashMap<u32, Vec<Holder>>,
    processes: HashMap<u32, ProcessInfo>,
    users: HashMap<u32, Option<String>>,
    /// Processes whose descriptors this user may not read.
    hidden_processes: usize,
    /// /proc is mounted with hidepid and portwatch is not root: other
    /// users' processes are not even listed.
    proc_hides_pids: bool,
}

/// What one thread's share of the /proc scan found.
#[derive(Default)]
struct ScanPart {
    holders: Vec<(u32, Holder)>,
    hidden_processes: usize,
}

impl<'s> Owners<'s> {
    /// Scans /proc/*/fd once, on as many threads as there are cores (at most
    /// 4: the scan is bound by system calls into procfs).
    pub fn scan(system: &'s dyn System) -> io::Result<Owners<'s>> {
        let pids = list_pids(system)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let chunk = pids.len().div_ceil(threads).max(1);
        let parts: Vec<ScanPart> = std::thread::scope(|scope| {
            let workers: Vec<_> = pids
                .chunks(chunk)
                .map(|pids| scope.spawn(move || scan_part(system, pids)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
        });
        let mut holders: HashMap<u32, Vec<Holder>> = HashMap::new();
        let mut hidden_processes = 0;
        // Chunks are in pid order, so each socket's holders stay in pid order.
        for part in parts {
            hidden_processes += part.hidden_processes;
            for (inode, holder) in part.holders {
                holders.entry(inode).or_default().push(holder);
            }
        }
        Ok(Owners {
            system,
            holders,
            processes: HashMap::new(),
            users: HashMap::new(),
            hidden_processes,
            proc_hides_pids: system.effective_uid() != 0 && proc_mounted_with_hidepid(system),
        })
    }

    /// The holders of a socket, in pid order; empty for no inode.
    pub fn holders(&self, inode: Option<u32>) -> &[Holder] {
        inode.and_then(|inode| self.holders.get(&inode)).map_or(&[], Vec::as_slice)
    }

    /// Whether a socket's holders are known: it has some, or every
    /// process's descriptors could be read.
    pub fn owner_visible(&self, inode: Option<u32>) -> bool {
        !self.holders(inode).is_empty() || self.all_visible()
    }

    /// Whether every process's descriptors could be read.
    pub fn all_visible(&self) -> bool {
        self.hidden_processes == 0 && !self.proc_hides_pids
    }

    /// Reads the details of every process that holds this socket.
    pub fn load(&mut self, inode: Option<u32>) {
        let Some(holders) = inode.and_then(|inode| self.holders.get(&inode)) else { return };
        for holder in holders {
            if self.processes.contains_key(&holder.pid) {
                continue;
            }
            let (system, users) = (self.system, &mut self.users);
            let mut user_name =
                |uid: u32| users.entry(uid).or_insert_with(|| system.user_name(uid)).clone();
            let info = process::read(system, holder.pid, &mut user_name);
            self.processes.insert(holder.pid, info);
        }
    }

    /// The holders of a socket with their process details, once [`load`]ed.
    ///
    /// [`load`]: Owners::load
    pub fn owners(&self, inode: Option<u32>) -> impl Iterator<Item = (&ProcessInfo, u32)> {
        self.holders(inode)
            .iter()
            .filter_map(|holder| Some((self.processes.get(&holder.pid)?, holder.fd)))
    }

    /// Processes whose details were read, for views grouped by process.
    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    /// The hint to print once when owners were hidden from this user.
    pub fn hidden_hint(&self) -> Option<String> {
        if self.proc_hides_pids {
            return Some(
                "portwatch: /proc is mounted with hidepid, which hides other users' processes; run as \
                 root to see every owner"
                    .into(),
            );
        }
        let count = self.hidden_processes;
        let processes = if count == 1 { "process" } else { "processes" };
        (count > 0).then(|| {
            format!(
                "portwatch: the sockets of {count} {processes} are hidden from this user; run as \
                 root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every owner"
            )
        })
    }
}

/// Whether /proc is mounted with `hidepid=1|2` (or `noaccess`, `invisible`).
fn proc_mounted_with_hidepid(system: &dyn System) -> bool {
    let mounts = system.read_file(Path::new("/proc/self/mounts")).unwrap_or_default();
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(&"/proc"), Some(&"proc"), Some(options)) =
            (fields.get(1), fields.get(2), fields.get(3))
        else {
            return false;
        };
        options.split(',').any(|option| {
            option.strip_prefix("hidepid=").is_some_and(|value| !matches!(value, "0" | "off"))
        })
    })
}

/// The pids in /proc, ascending.
pub(crate) fn list_pids(system: &dyn System) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = system
        .list_dir(Path::new("/proc"))?
        .iter()
        .filter_map(|name| name.to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Reads the descriptors of `pids`. Processes that exit or close descriptors
/// meanwhile are skipped quietly; unreadable ones are counted as hidden.
fn scan_part(system: &dyn System, pids: &[u32]) -> ScanPart {
    let mut part = ScanPart::default();
    for &pid in pids {
        let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
        let fds = match system.list_dir(&fd_dir) {
            Ok(fds) => fds,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                part.hidden_processes += 1;
                continue;
            }
            Err(_) => continue,
        };
        let mut fds: Vec<u32> = fds.iter().filter_map(|fd| fd.to_str()?.parse().ok()).collect();
        fds.sort_unstable();
        for fd in fds {
            let Ok(target) = system.read_link(&fd_dir.join(fd.to_string())) else { continue };
            if let Some(inode) = socket_inode(&target) {
                part.holders.push((inode, Holder { pid, fd }));
            }
        }
    }
    part
}

/// `socket:[12345]` → 12345.
fn socket_inode(target: &Path) -> Option<u32> {
    link_id(target, "socket").and_then(|inode| u32::try_from(inode).ok())
}

/// The number in a /proc link to an anonymous kernel object: `KIND:[N]`
/// (`socket:[12345]`, `net:[4026531840]`).
pub(crate) fn link_id(target: &Path, kind: &str) -> Option<u64> {
    let text = target.to_str()?;
    text.strip_prefix(kind)?.strip_prefix(":[")?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_give_inodes() {
        assert_eq!(socket_inode(Path::new("socket:[12345]")), Some(12345));
        assert_eq!(socket_inode(Path::new("pipe:[12345]")), None);
        assert_eq!(socket_inode(Path::new("/dev/null")), None);
        assert_eq!(socket_inode(Path::new("socket:[x]")), None);
    }
}
