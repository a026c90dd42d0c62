//! `portwatch who` with lsof's `-i` and `-s` grammar, against lsof itself.
//!
//! In a network namespace of the test's own, a child process (this test
//! binary again, through `child_entry`) holds a fixed load: TCP listeners
//! on IPv4, IPv6 and dual-stack addresses, established pairs on each
//! (one an IPv4 client of the dual-stack listener), UDP sockets bound and
//! connected, on 127.0.0.1, ::1 and 10.0.0.5, and a UNIX socket. For each
//! form, `portwatch who FORM --json` (and `who -i FORM`) must select the
//! same (fd, protocol, family, local, peer, state) rows of that child as
//! `lsof -n -P -a -p CHILD -i FORM`, both run inside the namespace (lsof
//! reads the socket tables of its own namespace). Each form also states
//! how many rows it selects, so that two empty answers cannot agree.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use common::load::Load;
use common::{
    BIN, Netns, json_of, skip_unless_root, skip_unless_root_with, skip_without_tool, text,
};
use serde_json::Value;

const CHILD: &str = "PORTWATCH_WHO_LSOF_CHILD";

/// Every command a test runs is killed after this long.
const COMMAND_LIMIT: &str = "30";

/// The load, as lsof shows it (fd order):
///
/// | name | socket                                   | state  |
/// |------|------------------------------------------|--------|
/// | L1   | TCP 127.0.0.1:22                         | LISTEN |
/// | C1 A1| TCP 127.0.0.1:e1 <-> 127.0.0.1:22        | EST    |
/// | L2   | TCP 127.0.0.1:443                        | LISTEN |
/// | L3   | TCP 10.0.0.5:443                         | LISTEN |
/// | C2 A2| TCP 10.0.0.5:e2 <-> 10.0.0.5:443         | EST    |
/// | L4   | TCP6 [::1]:443                           | LISTEN |
/// | L5   | TCP6 *:8080 (dual-stack)                 | LISTEN |
/// | C3   | TCP 127.0.0.1:e3 -> 127.0.0.1:8080       | EST    |
/// | A3   | TCP6 127.0.0.1:8080 -> 127.0.0.1:e3 (mapped) | EST |
/// | L6   | TCP6 [::1]:2000                          | LISTEN |
/// | C4 A4| TCP6 [::1]:e4 <-> [::1]:2000             | EST    |
/// | U1   | UDP 127.0.0.1:53                         |        |
/// | U2   | UDP 10.0.0.5:443                         |        |
/// | U3   | UDP6 [::1]:5353 -> [::1]:53              | (connected) |
/// | U4   | UDP6 *:9999                              |        |
///
/// and a UNIX listener, which no `-i` form selects.
#[test]
#[ignore = "entry point of the child process the other tests spawn"]
fn child_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut load = Load::default();
    let ssh = load.listen("127.0.0.1:22");
    load.connect_pairs(ssh, ssh, 1);
    load.listen("127.0.0.1:443");
    let remote = load.listen("10.0.0.5:443");
    load.connect_pairs(remote, remote, 1);
    load.listen("[::1]:443");
    let dual_stack = load.listen("[::]:8080");
    load.connect_pairs("127.0.0.1:8080", dual_stack, 1);
    let high = load.listen("[::1]:2000");
    load.connect_pairs(high, high, 1);
    load.bind_udp("127.0.0.1:53");
    load.bind_udp("10.0.0.5:443");
    load.bind_udp("[::1]:5353");
    load.datagrams.last().unwrap().connect("[::1]:53").unwrap();
    load.bind_udp("[::]:9999");
    let name = UnixAddr::from_abstract_name(b"portwatch-who-lsof").unwrap();
    let unix = UnixListener::bind_addr(&name).unwrap();
    println!("PWCHILD {}", std::process::id());
    let _ = std::io::stdin().read_line(&mut String::new());
    drop((load, unix));
}

/// A namespace with 10.0.0.5 on its loopback, and the child holding the load there.
struct Fixture {
    netns: Netns,
    child: Child,
    pid: u32,
}

impl Fixture {
    fn new(test: &str) -> Fixture {
        let netns = Netns::new(test);
        let added = netns.command("ip").args(["addr", "add", "10.0.0.5/32", "dev", "lo"]).status();
        assert!(added.unwrap().success(), "add 10.0.0.5 in the namespace");
        let exe = std::env::current_exe().unwrap();
        let mut child = netns
            .command(exe.to_str().unwrap())
            .args(["--ignored", "--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // libtest prints `test child_entry ... ` before the report, on its line.
            let pid = stdout.lines().map_while(Result::ok).find_map(|line| {
                line.split_once("PWCHILD ").and_then(|(_, pid)| pid.trim().parse::<u32>().ok())
            });
            let _ = sender.send(pid);
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(pid)) => Fixture { netns, child, pid },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child did not report its sockets within 30 s");
            }
        }
    }

    fn run(&self, program: &str, args: &[String]) -> Output {
        run_in(&self.netns, program, args)
    }

    /// The child's rows as lsof selects them with `args` (`-iTCP:22`, ...).
    fn lsof(&self, args: &[&str]) -> BTreeSet<Row> {
        let mut all =
            strings(&["-w", "-n", "-P", "-a", "-p", &self.pid.to_string(), "-F", "pftPTn"]);
        all.extend(strings(args));
        let output = self.run("lsof", &all);
        let stderr = text(&output.stderr);
        // lsof exits 1 when nothing matched, and also on a bad option.
        assert!(!stderr.contains("lsof:"), "lsof {all:?}: {stderr}");
        assert!(output.status.code().is_some_and(|code| code <= 1), "lsof {all:?}: {stderr}");
        lsof_rows(&text(&output.stdout))
    }

    /// The child's rows as `portwatch who ARGS --json` selects them.
    fn who(&self, args: &[&str]) -> BTreeSet<Row> {
        let mut all = strings(&["who"]);
        all.extend(strings(args));
        all.push("--json".into());
        let output = self.run(BIN, &all);
        let code = output.status.code();
        assert!(matches!(code, Some(0 | 1)), "who {all:?}: {code:?}: {}", text(&output.stderr));
        who_rows(&json_of(&output.stdout), self.pid)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

/// (fd, protocol, IP version, local, peer, TCP state), in lsof's words:
/// `TCP`, `IPv6`, `[::1]:443`, `*:8080`, `127.0.0.1:22` (an IPv4-mapped
/// address as the IPv4 address), the peer empty when unconnected. UDP
/// rows carry no state: lsof 4.95 prints none for them, later versions do.
type Row = (u32, String, String, String, String, String);

/// Reads lsof's `-F pftPTn` fields: a `p` line per process, then per file
/// `f` (fd), `t` (IPv4/IPv6), `P` (protocol), `n` (name) and `TST=` lines.
fn lsof_rows(output: &str) -> BTreeSet<Row> {
    let mut rows = BTreeSet::new();
    let mut file: Option<Row> = None;
    for line in output.lines() {
        let (field, value) = line.split_at(1.min(line.len()));
        match field {
            "f" => {
                rows.extend(file.take());
                let fd = value.parse().unwrap_or_else(|_| panic!("fd in {line}"));
                file = Some((
                    fd,
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ));
            }
            "t" | "P" | "n" | "T" => {
                let row = file.as_mut().unwrap_or_else(|| panic!("{line} before any f line"));
                match field {
                    "t" => row.2 = value.to_owned(),
                    "P" => row.1 = value.to_owned(),
                    "n" => {
                        let (local, peer) = value.split_once("->").unwrap_or((value, ""));
                        (row.3, row.4) = (local.to_owned(), peer.to_owned());
                    }
                    _ => {
                        if let Some(state) = value.strip_prefix("ST=") {
                            row.5 = state.to_owned();
                        }
                    }
                }
            }
            _ => {}
        }
    }
    rows.extend(file);
    rows.into_iter()
        .map(|mut row| {
            if row.1 == "UDP" {
                row.5.clear();
            }
            row
        })
        .collect()
}

/// The child's sockets in `who --json`'s groups, as [`Row`]s.
fn who_rows(groups: &Value, pid: u32) -> BTreeSet<Row> {
    let groups = groups.as_array().expect("who --json writes an array");
    let ours = groups.iter().filter(|group| group["process"]["pid"] == pid);
    ours.flat_map(|group| group["sockets"].as_array().unwrap())
        .map(|socket| {
            let protocol = socket["netid"].as_str().unwrap().to_ascii_uppercase();
            let version = match socket["family"].as_str().unwrap() {
                "inet" => "IPv4",
                "inet6" => "IPv6",
                other => panic!("who -i listed a {other} socket: {socket}"),
            };
            let peer = &socket["peer"];
            let connected = peer["port"] != 0;
            let state = match protocol.as_str() {
                "TCP" => lsof_state(socket["state"].as_str().unwrap()),
                _ => "",
            };
            (
                u32::try_from(socket["fd"].as_u64().unwrap()).unwrap(),
                protocol,
                version.to_owned(),
                lsof_end(&socket["local"]),
                if connected { lsof_end(peer) } else { String::new() },
                state.to_owned(),
            )
        })
        .collect()
}

/// An end as lsof -n -P prints it.
fn lsof_end(end: &Value) -> String {
    let addr: IpAddr = end["addr"].as_str().unwrap().parse().unwrap();
    let port = end["port"].as_u64().unwrap();
    match addr.to_canonical() {
        addr if addr.is_unspecified() => format!("*:{port}"),
        IpAddr::V4(addr) => format!("{addr}:{port}"),
        IpAddr::V6(addr) => format!("[{addr}]:{port}"),
    }
}

fn lsof_state(word: &str) -> &'static str {
    match word {
        "established" => "ESTABLISHED",
        "syn-sent" => "SYN_SENT",
        "syn-recv" => "SYN_RECV",
        "fin-wait-1" => "FIN_WAIT1",
        "fin-wait-2" => "FIN_WAIT2",
        "time-wait" => "TIME_WAIT",
        "closed" => "CLOSE",
        "close-wait" => "CLOSE_WAIT",
        "last-ack" => "LAST_ACK",
        "listening" => "LISTEN",
        "closing" => "CLOSING",
        other => panic!("unknown state word {other}"),
    }
}

/// Both spellings of a form, `who TCP:22` and `who -iTCP:22`, select what
/// `lsof -iTCP:22` selects, and that is `rows` rows. `lsof_args` starts
/// with the `-i` option; the rest (`-sTCP:LISTEN`) is passed as it is.
fn agrees_with_lsof(fixture: &Fixture, lsof_args: &[&str], rows: usize) {
    let lsof = fixture.lsof(lsof_args);
    assert_eq!(lsof.len(), rows, "lsof {lsof_args:?} selects {rows} rows: {lsof:#?}");
    let with_option = fixture.who(lsof_args);
    assert_eq!(with_option, lsof, "who {lsof_args:?}");
    let address = lsof_args[0].strip_prefix("-i").unwrap();
    if !address.is_empty() && !address.bytes().all(|b| b.is_ascii_digit()) {
        let mut positional = vec![address];
        positional.extend(&lsof_args[1..]);
        assert_eq!(fixture.who(&positional), lsof, "who {positional:?}");
    }
}

fn fixture(test: &str) -> Option<Fixture> {
    if skip_unless_root(test) || skip_without_tool("lsof", test) {
        return None;
    }
    Some(Fixture::new(test))
}

#[test]
fn who_tcp_22_is_lsof_i_tcp_22_either_end() {
    let Some(fixture) = fixture("who_tcp_22") else { return };
    // The listener, the connection's server side, and its client, whose
    // peer is port 22.
    agrees_with_lsof(&fixture, &["-iTCP:22"], 3);
}

#[test]
fn who_at_host_and_port_is_lsof_i_at_10_0_0_5_443() {
    let Some(fixture) = fixture("who_at_host") else { return };
    // L3, C2 (to 10.0.0.5:443), A2 and the UDP socket; not 127.0.0.1:443.
    agrees_with_lsof(&fixture, &["-i@10.0.0.5:443"], 4);
}

/// Every IPv6 TCP socket, A3 included: the dual-stack listener's IPv4
/// client, whose socket is IPv6 with IPv4-mapped ends. lsof 4.95 on Linux
/// is of two minds about it: its manual and `-i6` say IPv6, its address
/// matching (`-i6TCP`, `-i4TCP`) says IPv4. portwatch keeps to the first.
#[test]
fn who_6tcp_is_lsof_i_6tcp_with_mapped_sockets_as_ipv6() {
    let Some(fixture) = fixture("who_6tcp") else { return };
    let tcp = |rows: BTreeSet<Row>| -> BTreeSet<Row> {
        rows.into_iter().filter(|row| row.1 == "TCP").collect()
    };
    let ipv6_tcp = tcp(fixture.lsof(&["-i6"]));
    assert_eq!(ipv6_tcp.len(), 6, "{ipv6_tcp:#?}");
    for spelling in [&["6TCP"][..], &["-i6TCP"]] {
        assert_eq!(fixture.who(spelling), ipv6_tcp, "who {spelling:?}");
    }
    let lsof = fixture.lsof(&["-i6TCP"]);
    let mapped: Vec<&Row> = ipv6_tcp.difference(&lsof).collect();
    assert_eq!(mapped.len(), 1, "only A3 differs: {mapped:?}");
    assert!(mapped[0].3 == "127.0.0.1:8080" && mapped[0].2 == "IPv6", "{mapped:?}");
    // And the other way round for 4TCP.
    let ipv4_tcp = tcp(fixture.lsof(&["-i4"]));
    assert_eq!(fixture.who(&["4TCP"]), ipv4_tcp);
    let lsof = fixture.lsof(&["-i4TCP"]);
    assert_eq!(lsof.difference(&ipv4_tcp).count(), 1, "lsof's -i4TCP adds A3: {lsof:#?}");
}

#[test]
fn who_port_range_is_lsof_i_1_1024() {
    let Some(fixture) = fixture("who_range") else { return };
    // Ports 22, 53 and 443 at either end: U3 by its peer, [::1]:53.
    agrees_with_lsof(&fixture, &["-i:1-1024"], 11);
}

#[test]
fn who_tcp_listeners_are_lsof_itcp_stcp_listen() {
    let Some(fixture) = fixture("who_listen") else { return };
    agrees_with_lsof(&fixture, &["-iTCP", "-sTCP:LISTEN"], 6);
    agrees_with_lsof(&fixture, &["-iTCP", "-s", "TCP:LISTEN"], 6);
}

#[test]
fn more_forms_and_state_lists_agree_with_lsof() {
    let Some(fixture) = fixture("who_more") else { return };
    for (args, rows) in [
        (&["-i"][..], 18),
        (&["-i4"], 10),
        (&["-i6"], 8),
        (&["-iUDP"], 4),
        (&["-i4UDP"], 2),
        (&["-i@127.0.0.1"], 7),
        (&["-i@[::1]"], 5),
        (&["-i@[::ffff:127.0.0.1]:8080"], 2),
        (&["-iTCP@127.0.0.1:1-100,443"], 4),
        (&["-itcp:22,"], 3),
        (&["-i:domain"], 2),
        (&["-i:1-domain"], 5),
        (&["-iUDP:1-1024,9999"], 4),
        (&["-i", "-sTCP:^LISTEN"], 12),
        // lsof on Linux judges UDP by the kernel's state: U3 is ESTABLISHED.
        (&["-i", "-sTCP:LISTEN,ESTABLISHED"], 15),
        (&["-i", "-sTCP:LISTEN", "-sTCP:ESTABLISHED"], 15),
        (&["-i", "-sTCP:CLOSE"], 3),
        (&["-i", "-stcp:listen,^ESTABLISHED"], 6),
        (&["-i6", "-sTCP:^ESTABLISHED,^LISTEN"], 1),
    ] {
        agrees_with_lsof(&fixture, args, rows);
    }
    // Several -i addresses: any of them.
    let lsof = fixture.lsof(&["-iTCP:22", "-iUDP:53"]);
    assert_eq!(lsof.len(), 5, "{lsof:#?}");
    assert_eq!(fixture.who(&["-iTCP:22", "-iUDP:53"]), lsof);
    // A host name, resolved by both through the system's resolver.
    assert_eq!(fixture.who(&["@localhost"]), fixture.lsof(&["-i@localhost"]));
}

#[test]
fn a_process_with_a_state_list_is_lsof_a_p_i_s() {
    let Some(fixture) = fixture("who_pid_state") else { return };
    let lsof = fixture.lsof(&["-i", "-sTCP:LISTEN"]);
    assert_eq!(lsof.len(), 6);
    // An inclusion list keeps TCP and UDP sockets only: not the UNIX listener.
    assert_eq!(fixture.who(&[&format!("pid={}", fixture.pid), "-sTCP:LISTEN"]), lsof);
    // -s alone judges every TCP and UDP socket, as with a bare -i.
    assert_eq!(fixture.who(&["-sTCP:LISTEN"]), lsof);
    // With -i, the words after it are the filter expression: of lsof's
    // rows for TCP port 443, those whose local port it is (not C2).
    let filtered = fixture.who(&["-iTCP:443", "sport = :443"]);
    let local_443: BTreeSet<Row> =
        fixture.lsof(&["-iTCP:443"]).into_iter().filter(|row| row.3.ends_with(":443")).collect();
    assert_eq!(filtered.len(), 4, "L2, L3, A2, L4: {filtered:#?}");
    assert_eq!(filtered, local_443);
}

/// `program args` inside `netns`, killed after [`COMMAND_LIMIT`].
fn run_in(netns: &Netns, program: &str, args: &[String]) -> Output {
    let mut command = netns.command("timeout");
    command.args(["-s", "KILL", COMMAND_LIMIT, program]).args(args);
    command.output().unwrap()
}

/// One line on stderr, starting `portwatch: who:`, and exit 2.
fn assert_one_line_usage_error(who: &Output, args: &[&str]) -> String {
    let stderr = text(&who.stderr);
    assert_eq!(who.status.code(), Some(2), "who {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "who {args:?}: {stderr}");
    assert!(stderr.starts_with("portwatch: who: "), "who {args:?}: {stderr}");
    assert!(who.stdout.is_empty(), "who {args:?}");
    stderr
}

#[test]
fn what_lsof_rejects_is_a_one_line_error_and_exit_2() {
    if skip_unless_root_with("what_lsof_rejects", &["lsof"]) {
        return;
    }
    let netns = Netns::new("who_rejects");
    for (args, problem) in [
        (&["-i:5-1"][..], "the port range 5-1 runs backwards"),
        (&["-i:1-"], "expected a port after '1-'"),
        (&["-i:"], "expected a port or service name after ':'"),
        (&["-iTCP:"], "expected a port or service name after ':'"),
        (&["-i:22,,23"], "an empty entry in the port list"),
        (&["-i:22x"], "'22x' is not a port number"),
        (&["-i:0x16"], "'0x16' is not a port number"),
        (&["-i:nosuchservice"], "unknown service 'nosuchservice'"),
        (&["-iTCP:1-nosuchservice"], "unknown service 'nosuchservice' for tcp"),
        (&["-i:ssh-22"], "unknown service 'ssh-22'"),
        (&["-iXYZ"], "unknown protocol 'XYZ'"),
        (&["-i80"], "unknown protocol '80' (a port goes after a colon: ':80')"),
        (&["-i46TCP"], "unknown protocol '6TCP'"),
        (&["-iTCP4"], "unknown protocol 'TCP4'"),
        (&["-i@"], "expected a host name or address after '@'"),
        (&["-iTCP@"], "expected a host name or address after '@'"),
        (&["-i@::1"], "an IPv6 address goes in brackets"),
        (&["-i@[::1"], "expected ']' after the IPv6 address"),
        (&["-i@[::1]x"], "expected ':' and a port after the address"),
        (&["-i@0.0.0.0"], "the unspecified address 0.0.0.0 names no host"),
        (&["-i@[::]"], "the unspecified address :: names no host"),
        (&["-i6@127.0.0.1"], "'6' asks for IPv6, but 127.0.0.1 is an IPv4 address"),
        (&["-i4@[::1]"], "'4' asks for IPv4, but ::1 is an IPv6 address"),
        (&["-i@no-such-host.invalid"], "unknown host 'no-such-host.invalid'"),
        (&["-i", "-sTCP:BOGUS"], "unknown TCP state 'BOGUS'"),
        (&["-i", "-sTCP:FIN_WAIT_2"], "unknown TCP state 'FIN_WAIT_2'"),
        (&["-i", "-sTCP:"], "expected state names after 'TCP:'"),
        (&["-i", "-sTCP:LISTEN,,ESTABLISHED"], "an empty state name"),
        (&["-i", "-sTCP"], "expected PROTOCOL:STATES"),
        (&["-i", "-sXYZ:LISTEN"], "unknown protocol 'XYZ' (-s takes TCP)"),
        (&["-i", "-sUDP:Idle"], "lsof has no UDP state names on Linux"),
        (&["-i", "-sUDP:^Idle"], "lsof has no UDP state names on Linux"),
    ] {
        // The namespace has no route anywhere: a host name is never looked
        // up outside it.
        let pid = std::process::id().to_string();
        let lsof =
            run_in(&netns, "lsof", &strings(&[&["-w", "-a", "-p", &pid][..], args].concat()));
        let lsof_says = text(&lsof.stderr);
        assert!(
            lsof.status.code() == Some(1) && lsof_says.starts_with("lsof: "),
            "lsof rejects {args:?}: {}: {lsof_says}",
            lsof.status
        );
        let mut spellings = vec![args.to_vec()];
        // The same address typed as TARGET is refused with the same reason.
        if let Some(address) = args[0].strip_prefix("-i").filter(|a| a.contains([':', '@'])) {
            spellings.push([&[address][..], &args[1..]].concat());
        }
        for spelling in spellings {
            let who = run_in(&netns, BIN, &strings(&[&["who"][..], &spelling].concat()));
            let stderr = assert_one_line_usage_error(&who, &spelling);
            assert!(stderr.contains(problem), "who {spelling:?}: {stderr}");
        }
    }
}

/// Where lsof accepts what can only select nothing, or ignores what was
/// typed, portwatch refuses it or takes it at its word (README says so).
#[test]
fn lsofs_silent_cases_are_refused_or_taken_at_their_word() {
    let Some(fixture) = fixture("who_quirks") else { return };
    for (args, problem) in [
        // lsof takes a port above 65535 and matches nothing.
        (&["-i:65536"][..], "port 65536 is out of range (0-65535)"),
        // lsof ignores an unspecified address after a protocol.
        (&["-iTCP@0.0.0.0:22"], "the unspecified address 0.0.0.0 names no host"),
        // lsof reads `0-` as the range 0-0.
        (&["-i:0-"], "expected a port after '0-'"),
    ] {
        let pid = fixture.pid.to_string();
        let lsof = fixture
            .run("lsof", &strings(&[&["-w", "-n", "-P", "-a", "-p", &pid][..], args].concat()));
        assert!(!text(&lsof.stderr).contains("lsof:"), "lsof accepts {args:?}");
        let who = fixture.run(BIN, &strings(&[&["who"][..], args].concat()));
        let stderr = assert_one_line_usage_error(&who, args);
        assert!(stderr.contains(problem), "who {args:?}: {stderr}");
    }
    assert!(fixture.lsof(&["-i:65536"]).is_empty());
    assert_eq!(
        fixture.lsof(&["-iTCP@0.0.0.0:22"]),
        fixture.lsof(&["-iTCP:22"]),
        "lsof drops the address"
    );
    // lsof accepts CLOSED but no Linux socket is in it (lsof shows CLOSE):
    // portwatch reads it as CLOSE.
    assert!(fixture.lsof(&["-i", "-sTCP:CLOSED"]).is_empty());
    assert_eq!(fixture.who(&["-i", "-sTCP:CLOSED"]), fixture.lsof(&["-i", "-sTCP:CLOSE"]));
    // A service name stands for the ports of the protocols /etc/services
    // lists it under: ssh is TCP port 22 (lsof would take port 22 of UDP
    // too; the unit tests show that case).
    assert_eq!(fixture.who(&[":ssh"]), fixture.lsof(&["-iTCP:22"]));
}
