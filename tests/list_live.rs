//! `portwatch list` against the running kernel: each test opens its own
//! sockets on 127.0.0.1 and ::1 and asserts only on those.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::{json_rows, stdout_of};
use serde_json::Value;

/// The sockets one test opened, with their ports and inodes.
struct Load {
    tcp4_listener: TcpListener,
    tcp6_listener: TcpListener,
    tcp4_client: TcpStream,
    tcp4_server: TcpStream,
    _tcp6_client: TcpStream,
    /// Connected to `tcp6_listener` but never accepted.
    tcp6_pending: TcpStream,
    udp4_bound: UdpSocket,
    udp6_connected: UdpSocket,
    udp6_peer: UdpSocket,
}

const UNREAD: usize = 5;

impl Load {
    fn open() -> Load {
        let tcp4_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp6_listener = TcpListener::bind("[::1]:0").unwrap();
        let tcp4_client = TcpStream::connect(tcp4_listener.local_addr().unwrap()).unwrap();
        let (tcp4_server, _) = tcp4_listener.accept().unwrap();
        (&tcp4_client).write_all(&[b'x'; UNREAD]).unwrap();
        let tcp6_client = TcpStream::connect(tcp6_listener.local_addr().unwrap()).unwrap();
        let tcp6_pending = TcpStream::connect(tcp6_listener.local_addr().unwrap()).unwrap();
        let udp4_bound = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp6_peer = UdpSocket::bind("[::1]:0").unwrap();
        let udp6_connected = UdpSocket::bind("[::1]:0").unwrap();
        udp6_connected.connect(udp6_peer.local_addr().unwrap()).unwrap();
        let load = Load {
            tcp4_listener,
            tcp6_listener,
            tcp4_client,
            tcp4_server,
            _tcp6_client: tcp6_client,
            tcp6_pending,
            udp4_bound,
            udp6_connected,
            udp6_peer,
        };
        load.wait_for_unread_data();
        load
    }

    /// The kernel queues the client's bytes at the server asynchronously.
    fn wait_for_unread_data(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; UNREAD];
        while self.tcp4_server.peek(&mut buf).unwrap_or(0) < UNREAD {
            assert!(Instant::now() < deadline, "data never arrived");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn port(addr: SocketAddr) -> u64 {
    u64::from(addr.port())
}

fn inode(socket: &impl AsRawFd) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).unwrap().ino()
}

/// The rows bound to `local` (and with peer port `peer`, when given). The
/// address counts too: a port number alone may be another test's on another
/// address.
fn find<'a>(
    rows: &'a [Value],
    netid: &str,
    local: SocketAddr,
    peer: Option<u64>,
) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["netid"] == netid && r["local"]["port"] == u64::from(local.port()))
        .filter(|r| r["local"]["addr"] == local.ip().to_string())
        .filter(|r| peer.is_none_or(|p| r["peer"]["port"] == p))
        .collect()
}

fn one<'a>(rows: &'a [Value], netid: &str, local: SocketAddr, peer: Option<u64>) -> &'a Value {
    let found = find(rows, netid, local, peer);
    assert_eq!(found.len(), 1, "{netid} {local}->{peer:?}: {found:?}");
    found[0]
}

/// The table lines that mention `addr_port` as their local address.
fn table_lines<'a>(table: &'a str, addr_port: &str) -> Vec<&'a str> {
    table.lines().filter(|line| line.split_whitespace().any(|f| f == addr_port)).collect()
}

#[test]
fn tuln_lists_own_tcp_listeners_and_bound_udp_sockets() {
    let load = Load::open();
    let rows = json_rows(&["-tuln", "--json"]);
    let l4 = load.tcp4_listener.local_addr().unwrap();
    let row = one(&rows, "tcp", l4, None);
    assert_eq!(row["state"], "listening");
    assert_eq!(row["family"], "inet");
    assert_eq!(row["local"]["addr"], "127.0.0.1");
    let any = serde_json::json!({"addr": "0.0.0.0", "port": 0, "service": null, "category": null});
    assert_eq!(row["peer"], any);
    assert_eq!(row["inode"], inode(&load.tcp4_listener));
    assert_eq!(row["uid"], u64::from(nix::unistd::geteuid().as_raw()));
    assert!(row["cookie"].is_u64());
    let l6 = load.tcp6_listener.local_addr().unwrap();
    let row = one(&rows, "tcp", l6, None);
    assert_eq!(
        (row["family"].as_str(), row["local"]["addr"].as_str()),
        (Some("inet6"), Some("::1"))
    );
    assert_eq!(row["recv_q"], 2, "one accepted-less connection and one pending: both queued");
    assert_eq!(row["v6only"], true, "binding ::1 makes a socket IPv6-only");
    let udp = one(&rows, "udp", load.udp4_bound.local_addr().unwrap(), None);
    assert_eq!(udp["state"], "closed");
    assert_eq!(udp["inode"], inode(&load.udp4_bound));
    let connected = load.udp6_connected.local_addr().unwrap();
    assert!(find(&rows, "udp", connected, None).is_empty(), "-l leaves connected UDP out");
    assert!(find(&rows, "tcp", load.tcp4_client.local_addr().unwrap(), None).is_empty());

    let table = stdout_of(&["-tuln"]);
    assert!(table.starts_with("Netid State  Recv-Q Send-Q"), "{table}");
    let line = table_lines(&table, &format!("127.0.0.1:{}", l4.port()));
    assert_eq!(line.len(), 1, "{table}");
    assert!(line[0].starts_with("tcp   LISTEN 0"), "{}", line[0]);
    let line = table_lines(&table, &format!("[::1]:{}", l6.port()));
    assert!(line[0].starts_with("tcp   LISTEN 2"), "{}", line[0]);
    let udp4 = format!("127.0.0.1:{}", load.udp4_bound.local_addr().unwrap().port());
    assert!(table_lines(&table, &udp4)[0].starts_with("udp   UNCONN 0      0"), "{table}");
    assert!(table.lines().all(|line| !line.ends_with(' ')), "no trailing spaces");
}

#[test]
fn tan_shows_both_ends_with_queues_and_inodes() {
    let load = Load::open();
    let rows = json_rows(&["-tan", "--json"]);
    let server_addr = load.tcp4_listener.local_addr().unwrap();
    let client_addr = load.tcp4_client.local_addr().unwrap();
    let (server_port, client_port) = (port(server_addr), port(client_addr));
    let server = one(&rows, "tcp", server_addr, Some(client_port));
    assert_eq!(server["state"], "established");
    assert_eq!(server["recv_q"], UNREAD as u64);
    assert_eq!(server["inode"], inode(&load.tcp4_server));
    let client = one(&rows, "tcp", client_addr, Some(server_port));
    assert_eq!(client["recv_q"], 0);
    assert_eq!(client["inode"], inode(&load.tcp4_client));
    let pending_port = port(load.tcp6_pending.local_addr().unwrap());
    let l6 = load.tcp6_listener.local_addr().unwrap();
    let unaccepted = one(&rows, "tcp", l6, Some(pending_port));
    assert_eq!(unaccepted["inode"], Value::Null, "no file holds an unaccepted socket yet");
    let accepted_side = find(&rows, "tcp", l6, None).into_iter().filter(|r| r["peer"]["port"] != 0);
    assert!(accepted_side.clone().all(|r| r["state"] == "established"));
    assert_eq!(accepted_side.count(), 2);
    assert!(rows.iter().all(|r| r["netid"] == "tcp"));

    let table = stdout_of(&["-tan"]);
    let header = table.lines().next().unwrap();
    let titles: Vec<&str> = header.split_whitespace().take(3).collect();
    assert_eq!(titles, ["State", "Recv-Q", "Send-Q"], "one protocol: no Netid column");
    let local = format!("127.0.0.1:{server_port}");
    let peer = format!("127.0.0.1:{client_port}");
    let estab = table
        .lines()
        .find(|l| l.split_whitespace().skip(3).take(2).eq([local.as_str(), peer.as_str()]))
        .expect("the server's row");
    assert!(estab.starts_with("ESTAB"), "{estab}");
    assert_eq!(estab.split_whitespace().nth(1), Some("5"), "{estab}");
}

#[test]
fn uan_shows_udp_in_every_state() {
    let load = Load::open();
    let rows = json_rows(&["-uan", "--json"]);
    let connected = load.udp6_connected.local_addr().unwrap();
    let peer = load.udp6_peer.local_addr().unwrap();
    let row = one(&rows, "udp", connected, Some(port(peer)));
    assert_eq!(row["state"], "established");
    assert_eq!(row["peer"]["addr"], "::1");
    let bound = one(&rows, "udp", load.udp4_bound.local_addr().unwrap(), None);
    assert_eq!(bound["state"], "closed");
    assert!(rows.iter().all(|r| r["netid"] == "udp"));
}

#[test]
fn state_words_select_in_the_kernel_request() {
    let load = Load::open();
    let l4 = load.tcp4_listener.local_addr().unwrap();
    let client = load.tcp4_client.local_addr().unwrap();
    let udp_bound = load.udp4_bound.local_addr().unwrap();

    let established = json_rows(&["-tuan", "--json", "state", "established"]);
    assert!(established.iter().all(|r| r["state"] == "established"));
    assert_eq!(find(&established, "tcp", client, None).len(), 1);
    assert!(find(&established, "tcp", l4, Some(0)).is_empty());
    let table = stdout_of(&["-tn", "state", "established"]);
    assert!(table.starts_with("Recv-Q Send-Q"), "one state: no State column: {table}");

    let not_listening = json_rows(&["-tuan", "--json", "exclude", "listening"]);
    assert!(not_listening.iter().all(|r| r["state"] != "listening"));
    assert_eq!(find(&not_listening, "udp", udp_bound, None).len(), 1, "closed stays");
    assert_eq!(find(&not_listening, "tcp", client, None).len(), 1);

    let connected = json_rows(&["-tun", "--json", "state", "connected"]);
    assert!(connected.iter().all(|r| r["state"] != "listening" && r["state"] != "closed"));
    assert_eq!(find(&connected, "tcp", client, None).len(), 1);
    assert!(find(&connected, "udp", udp_bound, None).is_empty());

    let big = json_rows(&["-tun", "--json", "state", "big"]);
    assert_eq!(find(&big, "tcp", l4, Some(0)).len(), 1);
    assert_eq!(find(&big, "tcp", client, None).len(), 1);
    let bucket = json_rows(&["-tun", "--json", "state", "bucket"]);
    assert!(bucket.iter().all(|r| r["state"] == "time-wait" || r["state"] == "syn-recv"));
    assert!(find(&bucket, "tcp", client, None).is_empty());

    let listening_or_estab =
        json_rows(&["-tn", "--json", "state", "LISTENING", "state", "Established"]);
    assert_eq!(find(&listening_or_estab, "tcp", l4, Some(0)).len(), 1, "state words OR together");
    assert_eq!(find(&listening_or_estab, "tcp", client, None).len(), 1);
}

#[test]
fn default_states_are_ss_defaults() {
    let load = Load::open();
    let rows = json_rows(&["-tun", "--json"]);
    assert!(rows.iter().all(|r| {
        !["listening", "closed", "time-wait", "syn-recv"].contains(&r["state"].as_str().unwrap())
    }));
    assert_eq!(find(&rows, "tcp", load.tcp4_client.local_addr().unwrap(), None).len(), 1);
    let udp6 = load.udp6_connected.local_addr().unwrap();
    assert_eq!(find(&rows, "udp", udp6, None).len(), 1, "connected UDP is shown by default");
}

#[test]
fn families_select_ipv4_or_ipv6() {
    let load = Load::open();
    let l4 = load.tcp4_listener.local_addr().unwrap();
    let l6 = load.tcp6_listener.local_addr().unwrap();
    let v4 = json_rows(&["-tln", "-4", "--json"]);
    assert!(v4.iter().all(|r| r["family"] == "inet"));
    assert_eq!((find(&v4, "tcp", l4, None).len(), find(&v4, "tcp", l6, None).len()), (1, 0));
    let v6 = json_rows(&["-tln", "-f", "inet6", "--json"]);
    assert!(v6.iter().all(|r| r["family"] == "inet6"));
    assert_eq!((find(&v6, "tcp", l4, None).len(), find(&v6, "tcp", l6, None).len()), (0, 1));
}

#[test]
fn dual_stack_listener_prints_as_a_star() {
    // Any free port: bind IPv6 first, which then also covers IPv4.
    let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap();
    let port_number = listener.local_addr().unwrap().port();
    let rows = json_rows(&["-tln", "--json"]);
    let row = one(&rows, "tcp", listener.local_addr().unwrap(), None);
    assert_eq!((row["local"]["addr"].as_str(), row["v6only"].as_bool()), (Some("::"), Some(false)));
    let table = stdout_of(&["-tln"]);
    let lines = table_lines(&table, &format!("*:{port_number}"));
    assert_eq!(lines.len(), 1, "{table}");
    assert!(lines[0].trim_end().ends_with("*:*"), "{}", lines[0]);
}

#[test]
fn jsonl_streams_one_object_per_line() {
    let load = Load::open();
    let text = stdout_of(&["-tuan", "--format", "jsonl"]);
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let l4 = load.tcp4_listener.local_addr().unwrap();
    assert_eq!(one(&rows, "tcp", l4, Some(0))["state"], "listening");
}

#[test]
fn no_header_gives_one_line_per_socket() {
    let load = Load::open();
    let l4 = load.tcp4_listener.local_addr().unwrap();
    let table = stdout_of(&["-tlnH"]);
    assert!(!table.contains("Local Address"));
    assert_eq!(table_lines(&table, &format!("127.0.0.1:{}", l4.port())).len(), 1);
    let json = json_rows(&["-tln", "--json"]);
    let listeners = json.iter().filter(|r| r["state"] == "listening").count();
    let counted = stdout_of(&["-tnH", "state", "listening"]).lines().count();
    // Other processes may open or close listeners between the two runs.
    assert!(counted.abs_diff(listeners) <= 2, "{counted} lines, {listeners} rows");
}

#[test]
fn kill_closes_the_filtered_connection_and_the_peer_sees_the_reset() {
    if common::skip_unless_root("kill_closes_the_filtered_connection_and_the_peer_sees_the_reset") {
        return;
    }
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let bystander = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
    let (_bystander_server, _) = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();
    let filter = format!("dport = :{server_port} and sport = :{client_port}");
    let closed = stdout_of(&["-tnH", "-K", &filter]);
    let lines: Vec<&str> = closed.lines().collect();
    assert_eq!(lines.len(), 1, "exactly the filtered socket is closed and listed: {closed}");
    assert!(lines[0].contains(&format!("127.0.0.1:{client_port}")), "{closed}");
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let error = server.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    let still_there = json_rows(&[
        "-tn",
        "--json",
        &format!("sport = :{}", bystander.local_addr().unwrap().port()),
    ]);
    assert_eq!(still_there.len(), 1, "the other connection is untouched");
    common::portwatch().args(["-tn", "-K"]).assert().code(2);
}

#[test]
fn a_kernel_filter_lists_ipv4_then_ipv6_as_ss_does() {
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = v4.local_addr().unwrap().port();
    let _v6 = TcpListener::bind(("::1", port)).unwrap();
    let client_v6 = TcpStream::connect(("::1", port)).unwrap();
    let client_v4 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let filter = format!("sport = :{port} or dport = :{port}");
    let ours = stdout_of(&["-tanH", &filter]);
    let ss = std::process::Command::new("ss").args(["-tanH", &filter]).output().unwrap();
    let ss = String::from_utf8(ss.stdout).unwrap();
    let words = |text: &str| -> Vec<Vec<String>> {
        text.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
    };
    assert_eq!(words(&ours), words(&ss), "same rows, same order:\n{ours}\n{ss}");
    let families: Vec<bool> = ours.lines().map(|line| line.contains('[')).collect();
    assert!(families.windows(2).all(|w| w[0] <= w[1]), "IPv4 rows first: {ours}");
    assert_eq!(families.iter().filter(|v6| **v6).count(), 3, "{ours}");
    drop((client_v4, client_v6));
}

#[test]
fn listeners_are_listed_without_asking_the_kernel_for_closed_tcp_sockets() {
    // A bound TCP socket that neither listens nor connects is in no table a
    // dump walks: -l's CLOSE state never matches TCP, for ss as for portwatch.
    let bound = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
    let any = nix::sys::socket::SockaddrIn::new(127, 0, 0, 1, 0);
    nix::sys::socket::bind(bound.as_raw_fd(), &any).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = stdout_of(&["-tanH", "state", "closed"]);
    let ss = std::process::Command::new("ss").args(["-tanH", "state", "closed"]).output().unwrap();
    assert_eq!(closed, String::from_utf8(ss.stdout).unwrap());
    assert_eq!(closed, "", "no TCP socket is ever listed as closed");
    let rows = json_rows(&["-tln", "--json"]);
    assert_eq!(one(&rows, "tcp", listener.local_addr().unwrap(), None)["state"], "listening");
}
