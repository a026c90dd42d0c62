//! The inventory as a library: records that read back from JSON, views
//! rendered from records alone, listener identities across a restart, and
//! what who and record do when the kernel's answer goes wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::TcpListener;
use std::sync::Arc;

use common::fake::{FakeSystem, Fault};
use common::fixture;
use portwatch::exit::ExitCode;
use portwatch::inventory::{self, Enrich, Request, Scope};
use portwatch::model::{
    Holder, InetEnd, InetSocket, IpFamily, Netid, Ownership, Process, Socket, SocketState, Text,
    Transport, UnixEnd, UnixFamily, UnixKind, UnixSocket,
};
use portwatch::render::View;
use portwatch::render::json::{JsonStyle, JsonView};
use portwatch::render::lsof::{LsofLayout, LsofView};
use portwatch::render::netstat::{NetstatLayout, NetstatView};
use portwatch::render::ss::{SsLayout, SsView};
use portwatch::render::who::{HeldSocket, WhoGroup};
use portwatch::source::Selection;
use portwatch::sys::Os;
use serde_json::Value;

#[test]
fn a_saved_listing_reads_back_into_equal_records() {
    let text = std::fs::read_to_string(fixture("netns-basic/listing.json")).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    let records: Vec<Socket> = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&records).unwrap(), saved, "written back key for key");
    let again: Vec<Socket> =
        serde_json::from_str(&serde_json::to_string(&records).unwrap()).unwrap();
    assert_eq!(again, records, "and read again into equal records");
    let kinds = |netid: Netid| records.iter().filter(|s| s.netid() == netid).count();
    assert!(kinds(Netid::Tcp) > 0 && kinds(Netid::Udp) > 0 && kinds(Netid::UnixStream) > 0);
    assert!(records.iter().any(|s| s.as_inet().is_some_and(InetSocket::is_dual_stack)));
    assert!(records.iter().all(|s| !s.holders().is_empty() || s.state() == SocketState::TimeWait));
}

#[test]
fn a_listener_keeps_its_key_across_a_restart() {
    let os = Os::host();
    let request = Request {
        scope: Scope::Own,
        selection: Selection {
            netids: vec![Netid::Tcp],
            families: IpFamily::ALL.to_vec(),
            optional: Vec::new(),
            states: portwatch::model::StateSet::listening(),
            categories: Vec::new(),
            extensions: Default::default(),
            details: false,
        },
        filter: None,
        enrich: Enrich { owners: true, ..Enrich::default() },
    };
    let listed = |port: u16| {
        let inventory = inventory::snapshot(&os, &request).unwrap();
        let found = inventory.sockets.into_iter().filter_map(|s| match s {
            Socket::Inet(inet) if inet.local.port == port => Some(inet),
            _ => None,
        });
        found.collect::<Vec<_>>().pop().expect("the listener is listed")
    };
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = first.local_addr().unwrap().port();
    let before = listed(port);
    drop(first);
    let _second = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let after = listed(port);
    assert_ne!((before.inode, before.cookie), (after.inode, after.cookie), "a new socket");
    assert_eq!(before.listener_key(), after.listener_key(), "the same listener");
    assert_eq!(after.owners.unwrap().processes[0].process.pid, std::process::id());
}

fn holder(pid: u32, fd: u32, name: &str) -> Holder {
    let process = Process {
        pid,
        name: Some(Text::from(name)),
        argv: vec![Text::from(format!("/usr/sbin/{name}")), Text::from("-f")],
        uid: Some(0),
        user: Some("root".into()),
        ..Process::default()
    };
    Holder { socket_context: None, fd, process: Arc::new(process) }
}

/// Records built in memory: an ssh listener held by sshd, a dual-stack web
/// listener, a connected UDP socket, and a UNIX listener.
fn records() -> Vec<Socket> {
    let mut ssh = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
    ssh.send_q = 128;
    ssh.local = InetEnd { service: Some("ssh".into()), ..InetEnd::new([0, 0, 0, 0].into(), 22) };
    ssh.inode = Some(411);
    ssh.owners = Some(Ownership { processes: vec![holder(812, 3, "sshd")], owner_visible: true });
    let mut web = InetSocket::new(Transport::Tcp, IpFamily::Inet6, SocketState::Listening);
    web.local = InetEnd::new("::".parse().unwrap(), 8080);
    web.peer = InetEnd::new("::".parse().unwrap(), 0);
    web.v6only = Some(false);
    web.inode = Some(412);
    web.owners = Some(Ownership { processes: Vec::new(), owner_visible: true });
    let mut dns = InetSocket::new(Transport::Udp, IpFamily::Inet, SocketState::Established);
    dns.local = InetEnd::new([127, 0, 0, 1].into(), 40000);
    dns.peer =
        InetEnd { service: Some("domain".into()), ..InetEnd::new([127, 0, 0, 53].into(), 53) };
    dns.inode = Some(413);
    dns.owners =
        Some(Ownership { processes: vec![holder(900, 7, "resolver")], owner_visible: true });
    let unix = UnixSocket {
        details: Default::default(),
        netid: UnixKind::Stream,
        family: UnixFamily::Unix,
        state: SocketState::Listening,
        recv_q: 0,
        send_q: 4,
        local: UnixEnd { path: Some("/run/x.sock".into()), inode: Some(500) },
        peer: UnixEnd::default(),
        uid: Some(0),
        inode: Some(500),
        cookie: Some(9),
        netns: None,
        owners: Some(Ownership { processes: vec![holder(812, 4, "sshd")], owner_visible: true }),
        proc_entry: None,
    };
    vec![Socket::Unix(unix), Socket::Inet(dns), Socket::Inet(ssh), Socket::Inet(web)]
}

fn render(view: &mut dyn View, sockets: &[Socket]) {
    for socket in sockets {
        view.write(socket).unwrap();
    }
    view.finish().unwrap();
}

#[test]
fn every_view_renders_from_records_alone() {
    let sockets = records();
    let mut ss = Vec::new();
    let layout = SsLayout {
        header: true,
        netid: true,
        state: true,
        extended: false,
        processes: true,
        category: false,
        firewall: false,
        netns: false,
        timers: false,
        memory: false,
        bpf: false,
        tipcinfo: false,
        info: false,
        oneline: false,
        sockopt: Default::default(),
        colour: false,
        numeric: false,
        wide: false,
    };
    render(&mut SsView::new(&mut ss, layout), &sockets);
    assert_eq!(
        String::from_utf8(ss).unwrap(),
        "\
Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port  Process
u_str LISTEN 0      4        /run/x.sock 500              * 0      users:((\"sshd\",pid=812,fd=4))
udp   ESTAB  0      0          127.0.0.1:40000   127.0.0.53:domain users:((\"resolver\",pid=900,fd=7))
tcp   LISTEN 0      128          0.0.0.0:ssh        0.0.0.0:*      users:((\"sshd\",pid=812,fd=3))
tcp   LISTEN 0      0                  *:8080             *:*
"
    );
    let mut netstat = Vec::new();
    let layout = NetstatLayout {
        header: false,
        processes: true,
        numeric: true,
        wide: true,
        inet: true,
        unix: false,
    };
    let states = portwatch::model::StateSet::all();
    render(&mut NetstatView::new(&mut netstat, layout, states).unwrap(), &sockets[1..]);
    assert_eq!(
        String::from_utf8(netstat).unwrap(),
        "\
udp        0      0 127.0.0.1:40000         127.0.0.53:53           ESTABLISHED 900//usr/sbin/resolver -f
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812//usr/sbin/sshd -f
tcp6       0      0 :::8080                 :::*                    LISTEN      -
"
    );
    let mut lsof = Vec::new();
    let layout = LsofLayout { header: true, numeric: false, wide: false };
    render(&mut LsofView::new(&mut lsof, layout), &sockets);
    assert_eq!(
        String::from_utf8(lsof).unwrap(),
        "\
COMMAND  PID USER FD TYPE DEVICE SIZE/OFF  NODE NAME
sshd     812 root 3u IPv4    411      0t0   TCP *:ssh (LISTEN)
sshd     812 root 4u unix    500      0t0 U_STR /run/x.sock type=STREAM
resolver 900 root 7u IPv4    413      0t0   UDP 127.0.0.1:40000->127.0.0.53:domain
"
    );
    let mut lines = Vec::new();
    render(&mut JsonView::new(&mut lines, JsonStyle::Lines), &sockets);
    let mut array = Vec::new();
    render(&mut JsonView::new(&mut array, JsonStyle::Array), &sockets);
    let read_back: Vec<Socket> = serde_json::from_slice(&array).unwrap();
    assert_eq!(read_back, sockets, "the JSON view writes the records themselves");
    let from_lines: Vec<Socket> = String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(from_lines, sockets);
    let group = WhoGroup {
        process: Some(sockets[2].holders()[0].process.clone()),
        owner_visible: true,
        sockets: vec![HeldSocket { fd: Some(3), socket: sockets[2].clone() }],
    };
    let mut who = Vec::new();
    portwatch::render::who::write_table(&mut who, std::slice::from_ref(&group), true, false)
        .unwrap();
    assert_eq!(
        String::from_utf8(who).unwrap(),
        "PID  USER  COMMAND  FD  PROTO  STATE   LOCAL       PEER\n812  root  sshd     3   tcp    LISTEN  0.0.0.0:22  0.0.0.0:*\n"
    );
}

fn run(os: &Os<'_>, args: &[&str]) -> (ExitCode, String) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("portwatch").chain(args.iter().copied()).map(Into::into);
    let code = portwatch::run(argv, os, &mut stdout, &mut stderr);
    (code, String::from_utf8(stderr).unwrap())
}

#[test]
fn who_says_an_incomplete_dump_cannot_prove_that_nothing_matches() {
    let host = FakeSystem::from_fixture_dir(&fixture("netns-basic"));
    let (code, stderr) = run(&host.os(), &["who", ":9"]);
    assert_eq!(code, ExitCode::NothingFound, "{stderr}");
    let interrupted = host.with_fault(Fault::Interrupted, None);
    let (code, stderr) = run(&interrupted.os(), &["who", ":9"]);
    assert_eq!(code, ExitCode::Incomplete, "{stderr}");
    assert!(stderr.contains("nothing matches ':9'"), "{stderr}");
    assert!(stderr.contains("interrupted a socket dump"), "{stderr}");
}

#[test]
fn record_leaves_no_file_when_the_kernel_fails_mid_dump() {
    const ENOMEM: i32 = 12;
    let broken = FakeSystem::from_fixture_dir(&fixture("netns-basic"))
        .with_fault(Fault::DoneError { errno: ENOMEM, after: 2 }, Some(6));
    let host = Os::host();
    // The kernel is the fake's; the files are real.
    let os = Os { files: host.files, ..broken.os() };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pwdump");
    let (code, stderr) = run(&os, &["record", path.to_str().unwrap()]);
    assert_eq!(code, ExitCode::Error, "{stderr}");
    assert!(stderr.contains("sock_diag dump of tcp"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file, whole or partial");
    let healthy = FakeSystem::from_fixture_dir(&fixture("netns-basic"));
    let (code, stderr) =
        run(&Os { files: host.files, ..healthy.os() }, &["record", path.to_str().unwrap()]);
    assert_eq!(code, ExitCode::Success, "{stderr}");
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
}
