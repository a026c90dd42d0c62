//! Who holds each socket: every (pid, fd) whose /proc/PID/fd link names the
//! socket's inode, found by one scan of /proc per run, and the details of
//! those processes, read only for the sockets that are shown.

pub mod cgroup;
pub mod containers;
pub mod process;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{Holder, Ownership, Process};
use crate::sys::{Environment, Files, ProcFs, UserDb};

/// One open file descriptor that refers to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Descriptor {
    pid: u32,
    fd: u32,
}

/// Sockets by inode, with their holders, and a cache of process details.
pub struct Owners<'s> {
    proc: &'s dyn ProcFs,
    user_db: &'s dyn UserDb,
    holders: HashMap<u32, Vec<Descriptor>>,
    processes: HashMap<u32, Arc<Process>>,
    users: HashMap<u32, Option<String>>,
    /// Processes whose descriptors this user may not read.
    hidden_processes: usize,
    /// /proc is mounted with hidepid and portwatch is not root: other
    /// users' processes are not even listed.
    proc_hides_pids: bool,
    /// What to read beyond each holder's usual details (`-T`, `-Z`).
    extra: process::Extra,
    /// Read each descriptor's socket context (`-z`).
    socket_contexts: bool,
    /// Where container runtimes keep their state, read the first time a
    /// holder runs in a container or proxies to one.
    runtime_files: Option<&'s dyn Files>,
    runtimes: std::sync::OnceLock<containers::Runtimes>,
    namespace_addresses: Option<containers::NamespaceAddresses<'s>>,
    namespaces: std::sync::OnceLock<Vec<(crate::model::NetnsLabel, Vec<std::net::IpAddr>)>>,
}

/// What one thread's share of the /proc scan found.
#[derive(Default)]
struct ScanPart {
    holders: Vec<(u32, Descriptor)>,
    hidden_processes: usize,
}

impl<'s> Owners<'s> {
    /// Scans /proc/*/fd once, on as many threads as there are cores (at most
    /// 4: the scan is bound by system calls into procfs).
    pub fn scan(
        proc: &'s dyn ProcFs,
        user_db: &'s dyn UserDb,
        env: &dyn Environment,
    ) -> io::Result<Owners<'s>> {
        Owners::scan_for(proc, user_db, env, None)
    }

    /// Scans /proc/*/fd once, keeping only the holders of `wanted` sockets
    /// when given (an audit wants its listeners' owners, not every
    /// connection's). Threads take processes one at a time, so a few
    /// processes with most of the descriptors do not leave a thread idle.
    pub fn scan_for(
        proc: &'s dyn ProcFs,
        user_db: &'s dyn UserDb,
        env: &dyn Environment,
        wanted: Option<&HashSet<u32>>,
    ) -> io::Result<Owners<'s>> {
        let pids = list_pids(proc)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let next = AtomicUsize::new(0);
        let parts: Vec<ScanPart> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| scan_part(proc, &pids, &next, wanted)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
        });
        let mut holders: HashMap<u32, Vec<Descriptor>> = HashMap::new();
        let mut hidden_processes = 0;
        for part in parts {
            hidden_processes += part.hidden_processes;
            for (inode, holder) in part.holders {
                holders.entry(inode).or_default().push(holder);
            }
        }
        for descriptors in holders.values_mut().filter(|d| d.len() > 1) {
            descriptors.sort_unstable_by_key(|d| (d.pid, d.fd));
        }
        Ok(Owners {
            proc,
            user_db,
            holders,
            processes: HashMap::new(),
            users: HashMap::new(),
            hidden_processes,
            proc_hides_pids: env.effective_uid() != 0 && proc_mounted_with_hidepid(proc),
            extra: process::Extra::default(),
            socket_contexts: false,
            runtime_files: None,
            runtimes: std::sync::OnceLock::new(),
            namespace_addresses: None,
            namespaces: std::sync::OnceLock::new(),
        })
    }

    /// Reads each holder's threads (`-T`), once per process, with its details.
    pub fn with_threads(self, threads: bool) -> Self {
        Owners { extra: process::Extra { threads, ..self.extra }, ..self }
    }

    /// Reads each holder's SELinux context (`-Z`) and, with `sockets`, each
    /// descriptor's socket context (`-z`).
    pub fn with_contexts(self, contexts: bool, sockets: bool) -> Self {
        let extra = process::Extra { context: contexts || sockets, ..self.extra };
        Owners { extra, socket_contexts: sockets, ..self }
    }

    /// Names holders' containers, and the containers userland proxies
    /// serve, from the runtimes' files.
    pub fn with_runtimes(self, files: &'s dyn Files) -> Self {
        Owners { runtime_files: Some(files), ..self }
    }

    /// Where a proxy's target no runtime names is looked for: the host's
    /// network namespaces and their addresses, listed the first time one
    /// is needed.
    pub fn with_namespace_addresses(self, list: containers::NamespaceAddresses<'s>) -> Self {
        Owners { namespace_addresses: Some(list), ..self }
    }

    /// Whether every process's descriptors could be read.
    pub fn all_visible(&self) -> bool {
        self.hidden_processes == 0 && !self.proc_hides_pids
    }

    /// Who holds the socket with this inode: every (process, fd), in pid
    /// order, each process's details read once per run.
    pub fn of(&mut self, inode: Option<u32>) -> Ownership {
        let descriptors = inode.and_then(|inode| self.holders.get(&inode));
        let descriptors: Vec<Descriptor> = descriptors.cloned().unwrap_or_default();
        let processes: Vec<Holder> = descriptors
            .iter()
            .map(|descriptor| Holder {
                socket_context: self
                    .socket_contexts
                    .then(|| process::socket_context(self.proc, descriptor.pid, descriptor.fd)),
                fd: descriptor.fd,
                process: self.process(descriptor.pid),
            })
            .collect();
        let owner_visible = !processes.is_empty() || self.all_visible();
        Ownership { processes, owner_visible }
    }

    fn process(&mut self, pid: u32) -> Arc<Process> {
        if let Some(process) = self.processes.get(&pid) {
            return process.clone();
        }
        let (user_db, users) = (self.user_db, &mut self.users);
        let mut user_name =
            |uid: u32| users.entry(uid).or_insert_with(|| user_db.user_name(uid)).clone();
        let mut process = process::read(self.proc, pid, self.extra, &mut user_name);
        if let Some(files) = self.runtime_files
            && containers::concerns(&process)
        {
            let runtimes = self.runtimes.get_or_init(|| containers::Runtimes::read(files));
            runtimes.describe(&mut process, &self.namespaces, self.namespace_addresses.as_ref());
        }
        let process = Arc::new(process);
        self.processes.insert(pid, process.clone());
        process
    }

    /// The hint to print once when owners were hidden from this user.
    pub fn hidden_hint(&self) -> Option<String> {
        if self.proc_hides_pids {
            return Some(
                "/proc is mounted with hidepid, which hides other users' processes; run as \
                 root to see every owner"
                    .into(),
            );
        }
        let count = self.hidden_processes;
        let processes = if count == 1 { "process" } else { "processes" };
        (count > 0).then(|| {
            format!(
                "the sockets of {count} {processes} are hidden from this user; run as \
                 root, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every owner"
            )
        })
    }
}

/// Whether SELinux is enabled, as libselinux's is_selinux_enabled tells
/// (what ss's `-Z` and `-z` require): selinuxfs is mounted and a policy is
/// loaded (a process's context is then not the bare `kernel`).
pub fn selinux_enabled(proc: &dyn ProcFs) -> bool {
    let mounts = proc.read_text(Path::new("/proc/mounts")).unwrap_or_default();
    let mounted = mounts.lines().any(|line| line.split_whitespace().nth(2) == Some("selinuxfs"));
    let own = proc.read_bytes(Path::new("/proc/self/attr/current")).unwrap_or_default();
    let own = String::from_utf8_lossy(&own);
    let own = own.trim_end_matches(['\0', '\n']);
    mounted && !own.is_empty() && own != "kernel"
}

/// Whether /proc is mounted with `hidepid=1|2` (or `noaccess`, `invisible`).
fn proc_mounted_with_hidepid(proc: &dyn ProcFs) -> bool {
    let mounts = proc.read_text(Path::new("/proc/self/mounts")).unwrap_or_default();
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
pub(crate) fn list_pids(proc: &dyn ProcFs) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = proc
        .list_dir(Path::new("/proc"))?
        .iter()
        .filter_map(|name| name.to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Reads the descriptors of `pids`. Processes that exit or close descriptors
/// meanwhile are skipped quietly; unreadable ones are counted as hidden.
fn scan_part(
    proc: &dyn ProcFs,
    pids: &[u32],
    next: &AtomicUsize,
    wanted: Option<&HashSet<u32>>,
) -> ScanPart {
    let mut part = ScanPart::default();
    while let Some(&pid) = pids.get(next.fetch_add(1, Ordering::Relaxed)) {
        let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
        let fds = match proc.list_dir(&fd_dir) {
            Ok(fds) => fds,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                part.hidden_processes += 1;
                continue;
            }
            Err(_) => continue,
        };
        let mut fds: Vec<u32> = fds.iter().filter_map(|fd| fd.to_str()?.parse().ok()).collect();
        fds.sort_unstable();
        let mut unreadable = false;
        for fd in fds {
            let target = match proc.read_link(&fd_dir.join(fd.to_string())) {
                Ok(target) => target,
                Err(error) => {
                    // Gone meanwhile is normal; refused means this process is hidden.
                    unreadable |= error.kind() == io::ErrorKind::PermissionDenied;
                    continue;
                }
            };
            let inode = socket_inode(&target).filter(|i| wanted.is_none_or(|w| w.contains(i)));
            if let Some(inode) = inode {
                part.holders.push((inode, Descriptor { pid, fd }));
            }
        }
        if unreadable {
            part.hidden_processes += 1;
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

    /// /proc with just these files.
    struct Files(Vec<(&'static str, &'static str)>);

    impl ProcFs for Files {
        fn read_text(&self, path: &Path) -> io::Result<String> {
            let found = self.0.iter().find(|(name, _)| Path::new(name) == path);
            found.map(|(_, text)| text.to_string()).ok_or(io::ErrorKind::NotFound.into())
        }
        fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.read_text(path).map(String::into_bytes)
        }
        fn list_dir(&self, _: &Path) -> io::Result<Vec<std::ffi::OsString>> {
            Ok(Vec::new())
        }
        fn read_link(&self, _: &Path) -> io::Result<PathBuf> {
            Err(io::ErrorKind::NotFound.into())
        }
    }

    #[test]
    fn selinux_is_enabled_with_selinuxfs_and_a_policy() {
        const MOUNTS: &str = "proc /proc proc rw 0 0\nselinuxfs /sys/fs/selinux selinuxfs rw 0 0\n";
        let enforcing = Files(vec![
            ("/proc/mounts", MOUNTS),
            ("/proc/self/attr/current", "unconfined_u:unconfined_r:unconfined_t:s0\0"),
        ]);
        assert!(selinux_enabled(&enforcing));
        let no_policy =
            Files(vec![("/proc/mounts", MOUNTS), ("/proc/self/attr/current", "kernel\0")]);
        assert!(!selinux_enabled(&no_policy));
        let apparmor = Files(vec![
            ("/proc/mounts", "proc /proc proc rw 0 0\n"),
            ("/proc/self/attr/current", "unconfined\n"),
        ]);
        assert!(!selinux_enabled(&apparmor), "another LSM's context is not SELinux");
    }

    #[test]
    fn socket_links_give_inodes() {
        assert_eq!(socket_inode(Path::new("socket:[12345]")), Some(12345));
        assert_eq!(socket_inode(Path::new("pipe:[12345]")), None);
        assert_eq!(socket_inode(Path::new("/dev/null")), None);
        assert_eq!(socket_inode(Path::new("socket:[x]")), None);
    }
}
