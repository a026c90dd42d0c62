//! The real host behind every seam.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;

use super::{
    DiagEvents, DiagTransport, Environment, Files, Namespaces, Netfilter, ProcFs, Programs,
    Resolver, SetElement, SockDiag, UserDb,
};

/// The running system.
pub struct Host;

impl SockDiag for Host {
    fn open(&self) -> io::Result<Box<dyn DiagTransport>> {
        Ok(Box::new(NetlinkTransport::open()?))
    }

    fn subscribe(&self, groups: u32) -> io::Result<Box<dyn DiagEvents>> {
        Ok(Box::new(NetlinkEvents::subscribe(groups)?))
    }
}

impl ProcFs for Host {
    fn read_text(&self, path: &Path) -> io::Result<String> {
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

    fn security_context(&self, path: &Path) -> io::Result<String> {
        // SELinux contexts are short; 4 KiB is what libselinux starts with.
        let mut buffer = vec![0u8; 4096];
        let len = rustix::fs::getxattr(path, "security.selinux", &mut buffer[..])?;
        buffer.truncate(len);
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

impl UserDb for Host {
    fn user_name(&self, uid: u32) -> Option<String> {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
        Some(user.name)
    }
}

impl Resolver for Host {
    fn own_addresses(&self) -> Vec<IpAddr> {
        use nix::net::if_::InterfaceFlags;
        let Ok(interfaces) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
        let mut addresses: Vec<IpAddr> = interfaces
            .filter(|interface| interface.flags.contains(InterfaceFlags::IFF_UP))
            .filter_map(|interface| {
                let address = interface.address?;
                match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                    (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
                    (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
                    _ => None,
                }
            })
            .collect();
        addresses.sort();
        addresses.dedup();
        addresses
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

    fn host_name(&self, addr: IpAddr) -> Option<String> {
        let name = dns_lookup::lookup_addr(&addr).ok()?;
        // getnameinfo answers the numeric form when no name is known.
        (name != addr.to_string()).then_some(name)
    }

    fn interface_index(&self, name: &str) -> Option<u32> {
        nix::net::if_::if_nametoindex(name).ok()
    }

    fn interface_name(&self, index: u32) -> Option<String> {
        let name = nix::net::if_::if_indextoname(index).ok()?;
        Some(name.to_string_lossy().into_owned())
    }

    fn cgroup_id(&self, path: &str) -> Option<u64> {
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

    fn cgroup_directories(&self) -> Vec<(u64, String)> {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let first = mounts.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| fields.get(1).copied()).flatten()
        });
        first.map(|mount| Host::walk_cgroup_mount(Path::new(mount))).unwrap_or_default()
    }
}

impl Host {
    /// Walks a cgroup2 mount without following mounts below it (as ss's
    /// nftw with FTW_MOUNT), with a stack of its own, not recursion.
    fn walk_cgroup_mount(mount: &Path) -> Vec<(u64, String)> {
        let Ok(root) = std::fs::symlink_metadata(mount) else { return Vec::new() };
        let mut found = vec![(root.ino(), "/".to_owned())];
        let mut pending = vec![mount.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let Ok(metadata) = entry.metadata() else { continue };
                if !metadata.is_dir() || metadata.dev() != root.dev() {
                    continue;
                }
                let path = entry.path();
                if let Ok(below) = path.strip_prefix(mount) {
                    found.push((metadata.ino(), format!("/{}", below.to_string_lossy())));
                }
                pending.push(path);
            }
        }
        found
    }
}

impl Environment for Host {
    fn stdout_is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        io::stdout().is_terminal()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn effective_uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    fn stop_signals(&self) -> io::Result<Arc<AtomicBool>> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag as it was before this
            // signal: the second signal ends the process (exit 1).
            signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())?;
            signal_hook::flag::register(signal, stop.clone())?;
        }
        Ok(stop)
    }

    fn stdout_closed(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let stdout = io::stdout();
        // POLLERR and POLLHUP are reported whatever is asked for.
        let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
            && fds[0]
                .revents()
                .is_some_and(|events| events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
    }
}

impl Netfilter for Host {
    fn set_elements(&self, family: &str, table: &str, set: &str) -> io::Result<Vec<SetElement>> {
        super::nftables::set_elements(family, table, set)
    }
}

impl Programs for Host {
    fn output(&self, program: &str, args: &[&str]) -> io::Result<Vec<u8>> {
        let output = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .env("LC_ALL", "C")
            .output()?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first_line = stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or("");
        let kind =
            if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
                io::ErrorKind::PermissionDenied
            } else {
                io::ErrorKind::Other
            };
        Err(io::Error::new(kind, format!("{program} failed ({}): {first_line}", output.status)))
    }

    fn batch_output(&self, program: &str, args: &[&str], input: &[u8]) -> io::Result<Vec<u8>> {
        let mut child = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .env("LC_ALL", "C")
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
        // Written beside the reading, so that neither pipe fills up.
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let _ = stdin.write_all(input);
            });
            Ok(child.wait_with_output()?.stdout)
        })
    }
}

const NAMED_NETNS_DIR: &str = "/run/netns";

impl Namespaces for Host {
    fn named(&self) -> io::Result<Vec<(String, u64)>> {
        let entries = match std::fs::read_dir(NAMED_NETNS_DIR) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut named = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            // An entry whose namespace is gone (a stale mount point) is skipped.
            if let Ok(metadata) = std::fs::metadata(entry.path()) {
                named.push((name, metadata.ino()));
            }
        }
        Ok(named)
    }

    fn run_inside(&self, path: &Path, work: &mut (dyn FnMut() + Send)) -> io::Result<()> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.enter(path)?;
                    work();
                    Ok(())
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the namespace's thread panicked")))
        })
    }

    fn enter(&self, path: &Path) -> io::Result<()> {
        let file = File::open(path)?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
    }
}

impl Files for Host {
    fn read_text(&self, path: &Path, limit: u64) -> io::Result<String> {
        let file = File::open(path)?;
        let mut text = String::new();
        file.take(limit + 1).read_to_string(&mut text)?;
        if text.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than the limit of {limit} bytes"),
            ));
        }
        Ok(text)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?.map(|entry| entry.map(|entry| entry.file_name())).collect()
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        if path == Path::new("-") {
            return Ok(Box::new(io::stdin()));
        }
        Ok(Box::new(File::open(path)?))
    }

    fn write_atomically(
        &self,
        path: &Path,
        write: &mut dyn FnMut(&mut dyn Write) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // Readable by others, as a file written with the usual umask would
        // be: node_exporter reads audit metrics as its own user.
        let readable = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        let file = tempfile::Builder::new()
            .prefix(".portwatch-")
            .permissions(readable)
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.as_file().sync_all()?;
        file.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// A NETLINK_SOCK_DIAG socket from `netlink-sys`.
struct NetlinkTransport {
    socket: netlink_sys::Socket,
}

/// The kernel's netlink address.
fn kernel() -> netlink_sys::SocketAddr {
    netlink_sys::SocketAddr::new(0, 0)
}

impl NetlinkTransport {
    /// Left unconnected, as ss's is: a listing of netlink sockets shows it
    /// as ss shows its own (peer `*`, not `0:0`).
    fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        Ok(NetlinkTransport { socket })
    }
}

impl DiagTransport for NetlinkTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        let sent = self.socket.send_to(request, &kernel(), 0)?;
        if sent != request.len() {
            return Err(io::Error::other(format!(
                "netlink send wrote {sent} of {} bytes",
                request.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut window = &mut buf[..];
            // MSG_TRUNC makes the kernel return the datagram's real length,
            // so a datagram larger than the buffer is detected, not cut short.
            let (length, sender) = self.socket.recv_from(&mut window, libc::MSG_TRUNC)?;
            // The socket is unconnected (see `open`), so any local process
            // could send to its port id: only the kernel's replies count.
            if sender.port_number() == 0 {
                return Ok(length);
            }
        }
    }
}

/// A NETLINK_SOCK_DIAG socket bound to multicast groups.
struct NetlinkEvents {
    socket: netlink_sys::Socket,
}

impl NetlinkEvents {
    fn subscribe(groups: u32) -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_SOCK_DIAG)?;
        socket.bind(&netlink_sys::SocketAddr::new(0, groups))?;
        Ok(NetlinkEvents { socket })
    }
}

impl DiagEvents for NetlinkEvents {
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        use nix::errno::Errno;
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) | Err(Errno::EINTR) => return Ok(None),
            Ok(_) => {}
            Err(errno) => return Err(errno.into()),
        }
        let mut window = &mut buf[..];
        match self.socket.recv_from(&mut window, libc::MSG_TRUNC | libc::MSG_DONTWAIT) {
            // Only the kernel's events count (see NetlinkTransport::recv).
            Ok((_, sender)) if sender.port_number() != 0 => Ok(None),
            Ok((len, _)) => Ok(Some(len)),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}
