//! `--format netstat` for UNIX sockets against the real `netstat` (net-tools):
//! each test opens its own UNIX sockets (paths in a temporary directory, an
//! abstract name of its own), in a network namespace of its own when root
//! (elsewhere in portwatch's), and compares only those sockets' lines.
//! Under CI a missing netstat fails; elsewhere the tests say why they skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{BIN, Netns, is_root};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket, socketpair,
};

/// The tests hand descriptors to a child: one test at a time, so that no
/// process another test starts meanwhile inherits them.
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether netstat is here; under CI its absence is a failure.
fn netstat_available(test: &str) -> bool {
    if Command::new("netstat").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} compares with netstat, which CI must have: install net-tools (scripts/test does)"
    );
    eprintln!("skipping {test}: netstat (net-tools) is not installed");
    false
}

/// Where the test's sockets live: a namespace of the test's own (root), or
/// the one the test runs in, where other sockets are simply not looked at.
enum Place {
    Netns(Netns),
    Here,
}

impl Place {
    fn new(test: &str) -> Place {
        if is_root() {
            Place::Netns(Netns::new(test))
        } else {
            eprintln!("{test}: not root, so in portwatch's own network namespace");
            Place::Here
        }
    }

    fn build<T: Send + 'static>(&self, build: impl FnOnce() -> T + Send + 'static) -> T {
        match self {
            Place::Netns(netns) => netns.within(build),
            Place::Here => build(),
        }
    }

    /// netstat's output, run in the place.
    fn netstat(&self, args: &[&str]) -> String {
        let mut command = match self {
            Place::Netns(netns) => netns.command("netstat"),
            Place::Here => Command::new("netstat"),
        };
        let output = command.args(args).output().expect("run netstat");
        assert!(output.status.success(), "netstat {args:?}: {output:?}");
        String::from_utf8(output.stdout).expect("utf-8 from netstat")
    }

    /// portwatch's output with `--format netstat`, listing the place.
    fn portwatch(&self, args: &[&str]) -> String {
        let mut command = Command::new(BIN);
        if let Place::Netns(netns) = self {
            command.args(["-N", &netns.name]);
        }
        let output = command.args(args).args(["--format", "netstat"]).output().expect("portwatch");
        common::assert_success(&output, args);
        String::from_utf8(output.stdout).expect("utf-8 from portwatch")
    }
}

/// The test's UNIX sockets, held by a `sleep` child only (its name reads
/// the same in netstat, which prints argv[0], and portwatch, which prints
/// comm), by inode with what each is.
struct Load {
    _dir: tempfile::TempDir,
    /// The abstract name of the seqpacket listener (without `@`).
    name: String,
    sockets: BTreeMap<u64, &'static str>,
    holder: Child,
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn inode(fd: &OwnedFd) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap().ino()
}

/// A listening stream socket, a connected stream pair (client and accepted
/// end), bound, unbound and connected datagram sockets, a datagram pair, a
/// seqpacket listener on an abstract name, a seqpacket pair and an unbound
/// seqpacket socket.
fn open_sockets(dir: std::path::PathBuf, name: String) -> Vec<(OwnedFd, &'static str)> {
    let listener = UnixListener::bind(dir.join("listen.sock")).unwrap();
    let client = UnixStream::connect(dir.join("listen.sock")).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let bound = UnixDatagram::bind(dir.join("dgram.sock")).unwrap();
    let unbound = UnixDatagram::unbound().unwrap();
    let target = UnixDatagram::bind_addr(
        &SocketAddr::from_abstract_name(format!("{name}-dgram").as_bytes()).unwrap(),
    )
    .unwrap();
    let connected = UnixDatagram::unbound().unwrap();
    connected.connect_addr(&target.local_addr().unwrap()).unwrap();
    let (dgram_a, dgram_b) = UnixDatagram::pair().unwrap();
    let seq = || socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None);
    let seq_listener = seq().unwrap();
    bind(seq_listener.as_raw_fd(), &UnixAddr::new_abstract(name.as_bytes()).unwrap()).unwrap();
    listen(&seq_listener, Backlog::new(4).unwrap()).unwrap();
    let (seq_a, seq_b) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
    let seq_unbound = seq().unwrap();
    vec![
        (listener.into(), "listening stream"),
        (client.into(), "connected stream client"),
        (accepted.into(), "accepted stream"),
        (bound.into(), "bound datagram"),
        (unbound.into(), "unbound datagram"),
        (target.into(), "abstract datagram connected to"),
        (connected.into(), "connected datagram"),
        (dgram_a.into(), "datagram pair a"),
        (dgram_b.into(), "datagram pair b"),
        (seq_listener, "abstract seqpacket listener"),
        (seq_a, "seqpacket pair a"),
        (seq_b, "seqpacket pair b"),
        (seq_unbound, "unbound seqpacket"),
    ]
}

impl Load {
    fn open(place: &Place) -> Load {
        let dir = tempfile::tempdir().unwrap();
        let serial = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("portwatch-netstat-unix-{}-{serial}", std::process::id());
        let (path, unique) = (dir.path().to_owned(), name.clone());
        let fds = place.build(move || open_sockets(path, unique));
        let sockets = fds.iter().map(|(fd, what)| (inode(fd), *what)).collect();
        for (fd, _) in &fds {
            fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        }
        let holder = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        drop(fds);
        Load { _dir: dir, name, sockets, holder }
    }
}

/// A UNIX row of netstat's table, read by its words: the State may be empty.
#[derive(Debug, PartialEq)]
struct UnixRow {
    refcount: String,
    flags: String,
    kind: String,
    state: String,
    line: String,
}

/// The rows of `text` for the given inodes; each may appear once.
fn rows_of(text: &str, inodes: &BTreeMap<u64, &str>) -> BTreeMap<u64, UnixRow> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"unix") {
            continue;
        }
        let close = words.iter().position(|w| *w == "]").expect("a Flags cell");
        let (kind, rest) = (words[close + 1], &words[close + 2..]);
        let (state, inode) = match rest[0].parse::<u64>() {
            Ok(inode) => ("", inode),
            Err(_) => (rest[0], rest[1].parse::<u64>().expect("an I-Node")),
        };
        if !inodes.contains_key(&inode) {
            continue;
        }
        let row = UnixRow {
            refcount: words[1].to_owned(),
            flags: words[2..=close].join(" "),
            kind: kind.to_owned(),
            state: state.to_owned(),
            line: line.trim_end().to_owned(),
        };
        assert!(rows.insert(inode, row).is_none(), "inode {inode} twice in:\n{text}");
    }
    rows
}

fn compare_rows(args: &[&str], place: &Place, load: &Load) {
    let theirs = place.netstat(args);
    let ours = place.portwatch(args);
    let (expected, actual) = (rows_of(&theirs, &load.sockets), rows_of(&ours, &load.sockets));
    for (inode, what) in &load.sockets {
        let netstat = expected.get(inode).unwrap_or_else(|| panic!("{what} in:\n{theirs}"));
        let portwatch = actual.get(inode).unwrap_or_else(|| panic!("{what} in:\n{ours}"));
        assert_eq!(portwatch.refcount, netstat.refcount, "{args:?} RefCnt of the {what}");
        assert_eq!(portwatch.flags, netstat.flags, "{args:?} Flags of the {what}");
        assert_eq!(portwatch.kind, netstat.kind, "{args:?} Type of the {what}");
        assert_eq!(portwatch.state, netstat.state, "{args:?} State of the {what}");
        assert_eq!(portwatch.line, netstat.line, "{args:?} the {what}'s line");
    }
}

#[test]
fn unix_rows_equal_netstat_rows_column_by_column() {
    if !netstat_available("unix_rows_equal_netstat_rows_column_by_column") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let place = Place::new("nsux");
    let load = Load::open(&place);
    compare_rows(&["-xa"], &place, &load);
    compare_rows(&["-a", "-A", "unix"], &place, &load);
    // The states portwatch reports, as netstat words them.
    let rows = rows_of(&place.portwatch(&["-xa"]), &load.sockets);
    let row = |what: &str| {
        let inode = load.sockets.iter().find(|(_, w)| **w == what).unwrap().0;
        &rows[inode]
    };
    let listener = row("listening stream");
    assert_eq!((listener.flags.as_str(), listener.state.as_str()), ("[ ACC ]", "LISTENING"));
    assert!(listener.line.ends_with("/listen.sock"), "{listener:?}");
    assert_eq!(row("accepted stream").state, "CONNECTED");
    assert_eq!(row("unbound datagram").state, "");
    assert_eq!(row("unbound seqpacket").state, "");
    let abstract_name = format!(" @{}", load.name);
    assert!(row("abstract seqpacket listener").line.ends_with(&abstract_name));
}

#[test]
fn unix_rows_with_processes_equal_netstat_rows() {
    if !netstat_available("unix_rows_with_processes_equal_netstat_rows") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let place = Place::new("nsuxp");
    let load = Load::open(&place);
    compare_rows(&["-xap"], &place, &load);
    let rows = rows_of(&place.portwatch(&["-xap"]), &load.sockets);
    let program = format!("{}/sleep", load.holder.id());
    let held = |row: &UnixRow| row.line.split_whitespace().any(|word| word == program);
    assert!(rows.values().all(held), "{rows:#?}");
}

/// The titles and column headers of a netstat table, trimmed.
fn headings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.starts_with("Active ") || line.starts_with("Proto "))
        .map(str::trim_end)
        .collect()
}

#[test]
fn titles_and_headers_equal_netstat_ones() {
    if !netstat_available("titles_and_headers_equal_netstat_ones") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let place = Place::new("nsuxh");
    for args in [
        &["-xa"][..],
        &["-xl"],
        &["-x"],
        &["-xap"],
        &["-tuxa"],
        &["-tuxl"],
        &["-tuxap"],
        &["-ta", "-A", "unix"],
        &["-t"],
    ] {
        let (theirs, ours) = (place.netstat(args), place.portwatch(args));
        assert_eq!(headings(&ours), headings(&theirs), "{args:?}");
        if let Place::Netns(_) = place {
            // A new namespace has no sockets: the whole output is the headings.
            let trimmed: Vec<&str> = theirs.lines().map(str::trim_end).collect();
            assert_eq!(ours.lines().collect::<Vec<_>>(), trimmed, "{args:?}");
        }
    }
}

#[test]
fn a_mixed_listing_prints_the_inet_table_then_the_unix_table() {
    if !netstat_available("a_mixed_listing_prints_the_inet_table_then_the_unix_table") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let place = Place::new("nsuxm");
    let load = Load::open(&place);
    let tcp = place.build(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let tcp_local = tcp.local_addr().unwrap().to_string();
    let is_ours_tcp = |line: &str| line.split_whitespace().nth(3) == Some(tcp_local.as_str());
    for args in [&["-tax"][..], &["-ta", "-A", "unix"], &["-a", "-A", "inet,unix"]] {
        let (theirs, ours) = (place.netstat(args), place.portwatch(args));
        let expected = [
            "Active Internet connections (servers and established)",
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
            "Active UNIX domain sockets (servers and established)",
            "Proto RefCnt Flags       Type       State         I-Node   Path",
        ];
        assert_eq!(headings(&theirs), expected, "netstat {args:?}");
        assert_eq!(headings(&ours), expected, "portwatch {args:?}:\n{ours}");
        let lines: Vec<&str> = ours.lines().collect();
        let unix_title = lines.iter().position(|l| *l == expected[2]).unwrap();
        let tcp_row = lines.iter().position(|l| is_ours_tcp(l)).expect("the TCP listener");
        assert!(tcp_row < unix_title, "{args:?}:\n{ours}");
        assert!(lines[..unix_title].iter().all(|l| !l.starts_with("unix ")), "{args:?}:\n{ours}");
        let unix_rows = &lines[unix_title + 2..];
        assert!(unix_rows.iter().all(|l| l.starts_with("unix ")), "{args:?}:\n{ours}");
        let rows = rows_of(&unix_rows.join("\n"), &load.sockets);
        assert_eq!(rows.len(), load.sockets.len(), "{args:?}: every UNIX row after its title");
    }
    let bare = place.portwatch(&["-taxH"]);
    assert!(headings(&bare).is_empty(), "-H prints neither title nor header:\n{bare}");
    let lines: Vec<&str> = bare.lines().collect();
    let first_unix = lines.iter().position(|l| l.starts_with("unix ")).expect("UNIX rows");
    let tcp_row = lines.iter().position(|l| is_ours_tcp(l)).expect("the TCP listener");
    assert!(tcp_row < first_unix, "{bare}");
    assert_eq!(rows_of(&bare, &load.sockets).len(), load.sockets.len(), "{bare}");
}
