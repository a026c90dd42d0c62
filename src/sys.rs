//! The one seam through which portwatch reads the operating system.
//!
//! Everything the kernel or the host says (sock_diag replies, /proc files,
//! /etc/services, interface names, reverse DNS, the user database) comes
//! through [`System`], so that tests can substitute recorded or deliberately
//! broken input.

use std::ffi::OsString;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A datagram transport speaking to the kernel's NETLINK_SOCK_DIAG.
pub trait DiagTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()>;

    /// Receives one datagram into `buf` and returns its full length, which is
    /// larger than `buf.len()` when the datagram did not fit (it is then lost).
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// What portwatch reads from the host. `Sync`, so that /proc can be scanned
/// on several threads.
pub trait System: Sync {
    /// Opens a NETLINK_SOCK_DIAG socket.
    fn sock_diag(&self) -> io::Result<Box<dyn DiagTransport>>;

    /// Reads a whole text file such as `/proc/net/tcp` or `/etc/services`.
    fn read_file(&self, path: &Path) -> io::Result<String>;

    /// Reads a whole file as bytes, such as `/proc/PID/cmdline`.
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The names in a directory, such as `/proc` or `/proc/PID/fd`.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;

    /// The target of a symbolic link, such as `/proc/PID/fd/3`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;

    /// The inode of a file, such as a namespace under /run/netns.
    fn file_inode(&self, path: &Path) -> io::Result<u64>;

    /// The index of the interface with this name.
    fn interface_index(&self, name: &str) -> Option<u32>;

    /// The id of a cgroup v2 directory (its inode), by path below the mount.
    fn cgroup_id(&self, path: &str) -> Option<u64>;

    /// The addresses of a host name, through the system resolver.
    fn host_addresses(&self, name: &str) -> Vec<IpAddr>;

    /// The login name of a uid, through the system's user database (NSS).
    fn user_name(&self, uid: u32) -> Option<String>;

    /// The effective uid portwatch runs as.
    fn effective_uid(&self) -> u32;

    /// Whether standard output is a terminal (for `--color auto`).
    fn stdout_is_terminal(&self) -> bool;

    /// An environment variable, such as NO_COLOR.
    fn env_var(&self, name: &str) -> Option<String>;

    /// The name of the interface with this index, if it exists.
    fn interface_name(&self, index: u32) -> Option<String>;

    /// The host name for an address through the system resolver (`-r`).
    fn host_name(&self, addr: IpAddr) -> Option<String>;
}

/// The real host.
pub struct HostSystem;

impl System for HostSystem {
    fn sock_diag(&self) -> io::Result<Box<dyn DiagTransport>> {
        Ok(Box::new(NetlinkTransport::open()?))
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?.map(|entry| entry.map(|e| e.file_name())).collect()
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn file_inode(&self, path: &Path) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(path)?.ino())
    }

    fn interface_index(&self, name: &str) -> Option<u32> {
        nix::net::if_::if_nametoindex(name).ok()
    }

    fn cgroup_id(&self, path: &str) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        // A later mount may hide an earlier one (the hybrid layout's
        // /sys/fs/cgroup/unified under a new /sys/fs/cgroup): last wins.
        mounts
            .lines()
            .rev()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.get(2) == Some(&"cgroup2")).then(|| fields.get(1).copied()).flatten()
            })
            .find_map(|mount| {
                let dir = Path::new(mount).join(path.trim_start_matches('/'));
                std::fs::metadata(dir).ok().filter(|m| m.is_dir()).map(|m| m.ino())
            })
    }

    fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
        use std::net::ToSocketAddrs;
        let mut addresses: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map(|all| all.map(|a| a.ip()).collect())
            .unwrap_or_default();
        addresses.dedup();
        addresses
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
        Some(user.name)
    }

    fn effective_uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn stdout_is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        io::stdout().is_terminal()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn interface_name(&self, index: u32) -> Option<String> {
        let name = nix::net::if_::if_indextoname(index).ok()?;
        Some(name.to_string_lossy().into_owned())
    }

    fn host_name(&self, addr: IpAddr) -> Option<String> {
        let name = dns_lookup::lookup_addr(&addr).ok()?;
        // getnameinfo answers the numeric form when no name is known.
        (name != addr.to_string()).then_some(name)
    }
}

/// A NETLINK_SOCK_DIAG socket from `netlink-sys`.
struct NetlinkTransport {
    socket: netlink_sys::Socket,
}

impl NetlinkTransport {
    fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(NetlinkTransport { socket })
    }
}

impl DiagTransport for NetlinkTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        let sent = self.socket.send(request, 0)?;
        if sent != request.len() {
            return Err(io::Error::other(format!(
                "netlink send wrote {sent} of {} bytes",
                request.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut window = &mut buf[..];
        // MSG_TRUNC makes the kernel return the datagram's real length, so
        // a datagram larger than the buffer is detected instead of cut short.
        self.socket.recv(&mut window, libc::MSG_TRUNC)
    }
}
