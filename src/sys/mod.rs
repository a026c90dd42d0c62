//! The seams through which portwatch reaches the operating system, one per
//! capability, so that tests can substitute recorded or deliberately broken
//! input for any one of them (see [`Os`]). Nothing else in the crate calls
//! the OS for these things.

mod host;
mod nftables;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use host::Host;

/// A datagram transport speaking to the kernel's NETLINK_SOCK_DIAG.
pub trait DiagTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()>;

    /// Receives one datagram into `buf` and returns its full length, which is
    /// larger than `buf.len()` when the datagram did not fit (it is then lost).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// A sock_diag socket subscribed to the kernel's socket-destroy broadcasts
/// (`-E`).
pub trait DiagEvents {
    /// Waits at most `timeout` for the next datagram and receives it into
    /// `buf`, returning its full length (larger than `buf.len()` when it did
    /// not fit); `None` when none came in time or a signal cut the wait short.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
}

/// Kernel sockets: sock_diag netlink, in the calling thread's namespace.
pub trait SockDiag: Sync {
    fn open(&self) -> io::Result<Box<dyn DiagTransport>>;

    /// A socket subscribed to the sock_diag multicast groups in `groups`
    /// (bit N-1 for group N, as bind(2)'s `nl_groups`).
    fn subscribe(&self, groups: u32) -> io::Result<Box<dyn DiagEvents>> {
        let _ = groups;
        Err(io::Error::new(io::ErrorKind::Unsupported, "no socket events here"))
    }
}

/// /proc: the process table, descriptors, per-namespace /proc/net tables,
/// kernel settings under /proc/sys, mounts.
pub trait ProcFs: Sync {
    fn read_text(&self, path: &Path) -> io::Result<String>;
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;

    /// The SELinux label (`security.selinux`) of what `path` leads to.
    fn security_context(&self, path: &Path) -> io::Result<String> {
        let _ = path;
        Err(io::Error::new(io::ErrorKind::Unsupported, "no security labels here"))
    }
}

/// The system's user database (NSS, so LDAP users work too).
pub trait UserDb: Sync {
    fn user_name(&self, uid: u32) -> Option<String>;
}

/// Names and numbers: hosts through the system resolver, interfaces, cgroups.
pub trait Resolver: Sync {
    fn host_addresses(&self, name: &str) -> Vec<IpAddr>;
    /// The host name for an address (`-r`); `None` when it has none.
    fn host_name(&self, addr: IpAddr) -> Option<String>;
    fn interface_index(&self, name: &str) -> Option<u32>;
    fn interface_name(&self, index: u32) -> Option<String>;
    /// The id (inode) of a cgroup v2 directory, by path below the mount.
    fn cgroup_id(&self, path: &str) -> Option<u64>;

    /// Every directory of the first cgroup v2 mount in /proc/mounts (the
    /// one ss reads), as (id, path below the mount, `/` for its root);
    /// empty when there is no such mount.
    fn cgroup_directories(&self) -> Vec<(u64, String)> {
        Vec::new()
    }

    /// The addresses of this namespace's interfaces that are up
    /// (`scan --local`).
    fn own_addresses(&self) -> Vec<IpAddr> {
        Vec::new()
    }
}

/// The terminal and the environment portwatch runs in.
pub trait Environment: Sync {
    fn stdout_is_terminal(&self) -> bool;
    fn env_var(&self, name: &str) -> Option<String>;
    fn effective_uid(&self) -> u32;
    /// The wall clock (an audit's time stamp).
    fn now(&self) -> std::time::SystemTime;

    /// A flag that SIGINT and SIGTERM set from now on, instead of ending
    /// the process (a second one of them still ends it), for a command that
    /// runs until stopped (`-E`).
    fn stop_signals(&self) -> io::Result<Arc<AtomicBool>> {
        Ok(Arc::new(AtomicBool::new(false)))
    }

    /// Whether standard output is a pipe or terminal whose other end went
    /// away, so that a command waiting for input can end before it writes.
    fn stdout_closed(&self) -> bool {
        false
    }
}

/// Network namespaces: the named ones, and running work inside one.
pub trait Namespaces: Sync {
    /// The namespaces under /run/netns, by name, with their inodes.
    fn named(&self) -> io::Result<Vec<(String, u64)>>;

    /// Runs `work` on a thread that has entered the namespace at `path`, so
    /// that the sockets it opens and /proc/thread-self/net are that
    /// namespace's.
    fn run_inside(&self, path: &Path, work: &mut (dyn FnMut() + Send)) -> io::Result<()>;

    /// Moves the calling thread into the namespace at `path` (`-N`).
    fn enter(&self, path: &Path) -> io::Result<()>;
}

/// Ordinary files: configuration (/etc/services, filter files) and
/// recordings. `-` names standard input for [`Files::open_read`].
pub trait Files: Sync {
    /// Reads a whole text file; more than `limit` bytes is an error.
    fn read_text(&self, path: &Path, limit: u64) -> io::Result<String>;

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>>;

    /// The names in a directory (container runtimes' state).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let _ = path;
        Err(io::Error::new(io::ErrorKind::Unsupported, "no directories here"))
    }

    /// Writes `path` through a temporary file beside it, renamed into place
    /// only once `write` succeeds, so no partial file is ever left there.
    fn write_atomically(
        &self,
        path: &Path,
        write: &mut dyn FnMut(&mut dyn Write) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
}

/// The firewall's own tools (nft, iptables-save), run as child processes in
/// the calling thread's network namespace.
pub trait Programs: Sync {
    /// `program`'s standard output. A program that is not installed is
    /// `NotFound`; one that needs privileges is `PermissionDenied`; any
    /// other failure is an error naming its exit status and first line.
    fn output(&self, program: &str, args: &[&str]) -> io::Result<Vec<u8>>;

    /// `program`'s standard output with `input` on its standard input,
    /// whatever its exit status: for a batch (`ip -force -batch -`) whose
    /// failed commands leave their lines out. A program that is not
    /// installed, or cannot be run, is an error.
    fn batch_output(&self, program: &str, args: &[&str], input: &[u8]) -> io::Result<Vec<u8>>;
}

/// One element of an nftables set as the kernel holds it: the key's bytes
/// (network order), the end of its range where the set stores one, and
/// whether it closes the previous interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetElement {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    pub interval_end: bool,
}

/// nftables over netlink, in the calling thread's namespace: what `nft`
/// itself is slow to list.
pub trait Netfilter: Sync {
    /// The elements of the named set of table `table` of nft family
    /// `family` (`inet`, `ip`, ...).
    fn set_elements(&self, family: &str, table: &str, set: &str) -> io::Result<Vec<SetElement>>;
}

/// Every seam, as one value to hand around. Each part may come from a
/// different implementation (a test fakes /proc and keeps the real rest).
#[derive(Clone, Copy)]
pub struct Os<'a> {
    pub sock_diag: &'a dyn SockDiag,
    pub proc: &'a dyn ProcFs,
    pub users: &'a dyn UserDb,
    pub resolver: &'a dyn Resolver,
    pub env: &'a dyn Environment,
    pub namespaces: &'a dyn Namespaces,
    pub files: &'a dyn Files,
    pub programs: &'a dyn Programs,
    pub netfilter: &'a dyn Netfilter,
}

impl Os<'static> {
    /// The real host, for every seam.
    pub fn host() -> Os<'static> {
        static HOST: Host = Host;
        Os {
            sock_diag: &HOST,
            proc: &HOST,
            users: &HOST,
            resolver: &HOST,
            env: &HOST,
            namespaces: &HOST,
            files: &HOST,
            programs: &HOST,
            netfilter: &HOST,
        }
    }
}
