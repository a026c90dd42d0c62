//! A fake host behind every OS seam: it answers sock_diag requests from a
//! recorded dump and /proc/net from recorded tables, with faults on demand.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use portwatch::sys::{
    DiagTransport, Environment, Files, Namespaces, Netfilter, Os, ProcFs, Programs, Resolver,
    SetElement, SockDiag, UserDb,
};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_MULTI: u16 = 2;
const NLM_F_DUMP_INTR: u16 = 16;
const MAGIC: &[u8; 8] = b"PWSDIAG\x01";

/// What goes wrong, and for which dumps (by IP protocol number; `None` = all).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Opening the netlink socket fails with this errno.
    RefuseOpen(i32),
    /// The dump ends with NLMSG_DONE carrying -errno after `after` sockets.
    DoneError { errno: i32, after: usize },
    /// The request is answered with NLMSG_ERROR -errno.
    Rejected(i32),
    /// The first datagram is larger than the receive buffer.
    Truncated,
    /// Every message carries NLM_F_DUMP_INTR.
    Interrupted,
}

#[derive(Clone)]
pub struct FakeSystem {
    /// Messages of each recorded dump, by (protocol, family).
    dumps: HashMap<(u8, u8), Vec<Vec<u8>>>,
    files: HashMap<PathBuf, String>,
    fault: Option<(Fault, Option<u8>)>,
    /// Directory listings (`/proc`, `/proc/PID/fd`), or the error they give.
    dirs: HashMap<PathBuf, Result<Vec<OsString>, io::ErrorKind>>,
    links: HashMap<PathBuf, PathBuf>,
    /// What each program prints, by its command line; absent = not installed.
    programs: HashMap<String, Result<Vec<u8>, io::ErrorKind>>,
}

impl FakeSystem {
    /// A host whose kernel answers with the dumps of a portwatch recording
    /// and whose /proc/net tables are the recorded `proc-net-*` files.
    pub fn from_fixture_dir(dir: &Path) -> FakeSystem {
        let recording = std::fs::read(dir.join("portwatch.pwdump")).expect("read recording");
        let mut files = HashMap::new();
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let text = std::fs::read_to_string(dir.join(format!("proc-net-{table}")))
                .expect("read /proc/net fixture");
            files.insert(PathBuf::from(format!("/proc/thread-self/net/{table}")), text);
        }
        files.insert(PathBuf::from("/etc/services"), "ssh 22/tcp\ndomain 53/udp\n".into());
        let raw_header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        for table in ["raw", "raw6"] {
            files
                .insert(PathBuf::from(format!("/proc/thread-self/net/{table}")), raw_header.into());
        }
        FakeSystem {
            dumps: split_recording(&recording),
            files,
            fault: None,
            dirs: HashMap::from([(PathBuf::from("/proc"), Ok(Vec::new()))]),
            links: HashMap::new(),
            programs: HashMap::new(),
        }
    }

    /// Injects `fault` into the dumps of `protocol` (6 TCP, 17 UDP), or all.
    pub fn with_fault(mut self, fault: Fault, protocol: Option<u8>) -> FakeSystem {
        self.fault = Some((fault, protocol));
        self
    }

    /// A file of the fake /proc (or /etc) holding `text`.
    pub fn with_file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(PathBuf::from(path), text.to_owned());
        self
    }

    /// `command` (program and arguments, space-separated) prints `output`,
    /// or fails with `error`.
    pub fn with_program(mut self, command: &str, output: Result<&str, io::ErrorKind>) -> Self {
        self.programs.insert(command.to_owned(), output.map(|text| text.as_bytes().to_vec()));
        self
    }

    /// Every seam answered by this fake host.
    pub fn os(&self) -> Os<'_> {
        Os {
            sock_diag: self,
            proc: self,
            users: self,
            resolver: self,
            env: self,
            namespaces: self,
            files: self,
            programs: self,
            netfilter: self,
        }
    }
}

/// A /proc of processes built up by the tests.
impl FakeSystem {
    /// Adds process `pid` named `name`, whose descriptors link to `fds`
    /// (`(fd, "socket:[INODE]")`); a descriptor whose link is `None` closed
    /// between the listing and the readlink.
    pub fn with_process(mut self, pid: u32, name: &str, fds: &[(u32, Option<&str>)]) -> Self {
        self.add_pid(pid);
        let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
        let names = fds.iter().map(|(fd, _)| OsString::from(fd.to_string())).collect();
        self.dirs.insert(fd_dir.clone(), Ok(names));
        for (fd, target) in fds {
            if let Some(target) = target {
                self.links.insert(fd_dir.join(fd.to_string()), PathBuf::from(target));
            }
        }
        self.files.insert(PathBuf::from(format!("/proc/{pid}/comm")), format!("{name}\n"));
        self.files
            .insert(PathBuf::from(format!("/proc/{pid}/cmdline")), format!("{name}\0--flag\0"));
        self
    }

    /// Adds a process whose descriptors cannot be listed, with this error.
    pub fn with_unreadable_process(mut self, pid: u32, error: io::ErrorKind) -> Self {
        self.add_pid(pid);
        self.dirs.insert(PathBuf::from(format!("/proc/{pid}/fd")), Err(error));
        self
    }

    fn add_pid(&mut self, pid: u32) {
        if let Some(Ok(pids)) = self.dirs.get_mut(Path::new("/proc")) {
            pids.push(OsString::from(pid.to_string()));
        }
    }
}

/// Splits a portwatch recording (every dump with its header) into messages.
fn split_recording(mut bytes: &[u8]) -> HashMap<(u8, u8), Vec<Vec<u8>>> {
    let mut dumps = HashMap::new();
    while !bytes.is_empty() {
        assert!(bytes.starts_with(MAGIC), "the fixture has a header before every dump");
        let key = (bytes[8], bytes[9]);
        bytes = &bytes[16..];
        let mut messages = Vec::new();
        loop {
            let len = u32::from_ne_bytes(bytes[..4].try_into().expect("length")) as usize;
            let message_type = u16::from_ne_bytes([bytes[4], bytes[5]]);
            messages.push(bytes[..len].to_vec());
            bytes = &bytes[len.next_multiple_of(4)..];
            if message_type == NLMSG_DONE {
                break;
            }
        }
        dumps.insert(key, messages);
    }
    dumps
}

fn control_message(message_type: u16, flags: u16, code: i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let payload_len = if message_type == NLMSG_ERROR { 4 + 16 } else { 4 };
    bytes.extend_from_slice(&((16 + payload_len) as u32).to_ne_bytes());
    bytes.extend_from_slice(&message_type.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&code.to_ne_bytes());
    bytes.resize(16 + payload_len, 0);
    bytes
}

impl SockDiag for FakeSystem {
    fn open(&self) -> io::Result<Box<dyn DiagTransport>> {
        if let Some((Fault::RefuseOpen(errno), _)) = &self.fault {
            return Err(io::Error::from_raw_os_error(*errno));
        }
        Ok(Box::new(FakeTransport { host: self.clone(), queue: VecDeque::new() }))
    }
}

impl FakeSystem {
    fn file(&self, path: &Path) -> io::Result<String> {
        self.files.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

impl ProcFs for FakeSystem {
    fn read_text(&self, path: &Path) -> io::Result<String> {
        self.file(path)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.file(path).map(String::into_bytes)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        match self.dirs.get(path) {
            Some(Ok(names)) => Ok(names.clone()),
            Some(Err(kind)) => Err(io::Error::from(*kind)),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.links.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

impl UserDb for FakeSystem {
    fn user_name(&self, uid: u32) -> Option<String> {
        (uid == 0).then(|| "root".to_string())
    }
}

impl Resolver for FakeSystem {
    fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
        match name {
            "localhost" => vec![IpAddr::from([127, 0, 0, 1])],
            _ => Vec::new(),
        }
    }

    fn host_name(&self, addr: IpAddr) -> Option<String> {
        addr.is_loopback().then(|| "localhost".to_string())
    }

    fn interface_index(&self, name: &str) -> Option<u32> {
        (name == "lo").then_some(1)
    }

    fn interface_name(&self, index: u32) -> Option<String> {
        (index == 1).then(|| "lo".to_string())
    }

    fn cgroup_id(&self, _: &str) -> Option<u64> {
        None
    }
}

impl Environment for FakeSystem {
    fn stdout_is_terminal(&self) -> bool {
        false
    }

    fn env_var(&self, _: &str) -> Option<String> {
        None
    }

    fn effective_uid(&self) -> u32 {
        0
    }

    /// 2026-11-22T10:00:00Z, always.
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_341_600)
    }
}

/// No namespaces but the one the fake host runs in.
impl Namespaces for FakeSystem {
    fn named(&self) -> io::Result<Vec<(String, u64)>> {
        Ok(Vec::new())
    }

    fn run_inside(&self, _: &Path, _: &mut (dyn FnMut() + Send)) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc_eperm()))
    }

    fn enter(&self, _: &Path) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc_eperm()))
    }
}

fn libc_eperm() -> i32 {
    1
}

/// Files are the fake's own; nothing is written.
impl Files for FakeSystem {
    fn read_text(&self, path: &Path, _: u64) -> io::Result<String> {
        self.file(path)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(io::Cursor::new(self.file(path)?.into_bytes())))
    }

    fn write_atomically(
        &self,
        _: &Path,
        write: &mut dyn FnMut(&mut dyn Write) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        write(&mut io::sink())
    }
}

struct FakeTransport {
    host: FakeSystem,
    queue: VecDeque<Vec<u8>>,
}

impl FakeTransport {
    fn answer(&self, protocol: u8, family: u8) -> Vec<Vec<u8>> {
        // A kind nothing was recorded for (UNIX sockets, say) has no sockets.
        let empty = vec![control_message(NLMSG_DONE, NLM_F_MULTI, 0)];
        let mut messages = self.host.dumps.get(&(protocol, family)).cloned().unwrap_or(empty);
        let fault = match &self.host.fault {
            Some((fault, None)) => Some(fault),
            Some((fault, Some(p))) if *p == protocol => Some(fault),
            _ => None,
        };
        match fault {
            Some(Fault::DoneError { errno, after }) => {
                messages.truncate(*after);
                messages.push(control_message(NLMSG_DONE, NLM_F_MULTI, -errno));
            }
            Some(Fault::Rejected(errno)) => {
                messages = vec![control_message(NLMSG_ERROR, 0, -errno)]
            }
            Some(Fault::Interrupted) => {
                for message in &mut messages {
                    let flags = u16::from_ne_bytes([message[6], message[7]]) | NLM_F_DUMP_INTR;
                    message[6..8].copy_from_slice(&flags.to_ne_bytes());
                }
            }
            _ => {}
        }
        messages
    }
}

impl DiagTransport for FakeTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        const TCPDIAG_GETSOCK: u16 = 18;
        let message_type = u16::from_ne_bytes([request[4], request[5]]);
        let (family, protocol) = (request[16], request[17]);
        let messages = match message_type {
            // One TCP dump of both families: IPv4's sockets, then IPv6's.
            TCPDIAG_GETSOCK => {
                let mut both = self.answer(6, 2);
                both.pop();
                both.extend(self.answer(6, 10));
                both
            }
            _ => self.answer(protocol, family),
        };
        // Three messages to a datagram, as a kernel packs several.
        for chunk in messages.chunks(3) {
            self.queue.push_back(chunk.concat());
        }
        let protocol = if message_type == TCPDIAG_GETSOCK { 6 } else { protocol };
        if let Some((Fault::Truncated, scope)) = &self.host.fault {
            if scope.is_none_or(|p| p == protocol) {
                if let Some(first) = self.queue.front_mut() {
                    first.resize(200_000, 0);
                }
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let datagram =
            self.queue.pop_front().ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))?;
        let len = datagram.len().min(buf.len());
        buf[..len].copy_from_slice(&datagram[..len]);
        Ok(datagram.len())
    }
}

impl Programs for FakeSystem {
    fn output(&self, program: &str, args: &[&str]) -> io::Result<Vec<u8>> {
        let command = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>();
        match self.programs.get(&command.join(" ")) {
            Some(Ok(output)) => Ok(output.clone()),
            Some(Err(kind)) => Err(io::Error::new(*kind, format!("{program} failed"))),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// The output given for the command line followed by its input's
    /// lines joined by `; `: `ip -j -force -batch - route get 10.0.0.1`.
    fn batch_output(&self, program: &str, args: &[&str], input: &[u8]) -> io::Result<Vec<u8>> {
        let input = String::from_utf8_lossy(input);
        let lines: Vec<&str> = input.lines().collect();
        let mut command = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>();
        let joined = lines.join("; ");
        command.push(&joined);
        match self.programs.get(&command.join(" ")) {
            Some(Ok(output)) => Ok(output.clone()),
            Some(Err(kind)) => Err(io::Error::new(*kind, format!("{program} failed"))),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }
}

/// The fake kernel has no nftables: portwatch lists sets through `nft`.
impl Netfilter for FakeSystem {
    fn set_elements(&self, _: &str, _: &str, _: &str) -> io::Result<Vec<SetElement>> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}
