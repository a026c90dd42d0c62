//! `portwatch scan` against nmap, in namespaces of the test's own: a target
//! namespace with listeners and an nftables ruleset, a scanner namespace
//! joined to it by a veth pair. nmap's `-sT` is the oracle for every state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Output;

use common::{Netns, skip_unless_root, skip_without_tool, text};
use serde_json::Value;

const TARGET: &str = "10.77.0.1";
const TARGET6: &str = "fd77::1";

/// Ports the target listens on, and what its ruleset does to others.
const LISTENING: [u16; 4] = [2222, 8080, 9104, 9200];
const CLOSED: u16 = 9001;
const DROPPED: u16 = 9100;
const REJECTED: u16 = 9101;
const PROHIBITED: u16 = 9102;
const RESET: u16 = 9103;
/// Listening, but behind a drop.
const DROPPED_LISTENER: u16 = 9104;
/// Listening; its first SYN is dropped, later ones pass.
const FIRST_SYN_DROPPED: u16 = 9200;

const RULESET: &str = "table inet scan {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 9100 drop
    tcp dport 9101 reject
    tcp dport 9102 reject with icmpx type admin-prohibited
    tcp dport 9103 reject with tcp reset
    tcp dport 9104 drop
    tcp dport 9200 tcp flags syn quota until 100 bytes counter drop
  }
}
";

/// A target namespace holding listeners behind [`RULESET`], and a scanner
/// namespace to scan it from.
struct Lab {
    target: Netns,
    scanner: Netns,
    _listeners: Vec<TcpListener>,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let target = Netns::new(&format!("{test}-t"));
        let scanner = Netns::new(&format!("{test}-s"));
        common::join_with_veth(
            &target,
            &[&format!("{TARGET}/24"), &format!("{TARGET6}/64")],
            &scanner,
            &["10.77.0.2/24", "fd77::2/64"],
        );
        target.load_ruleset(RULESET);
        let listeners = target.within(|| {
            LISTENING
                .iter()
                .map(|&port| TcpListener::bind(SocketAddr::from(([0u16; 8], port))).unwrap())
                .collect()
        });
        Lab { target, scanner, _listeners: listeners }
    }

    fn portwatch(&self, args: &[&str]) -> Output {
        self.scanner.command(common::BIN).args(args).output().expect("run portwatch")
    }

    /// nmap's state and reason per port, from its XML.
    fn nmap(&self, args: &[&str]) -> BTreeMap<u16, (String, String)> {
        let output = self
            .scanner
            .command("nmap")
            .args(["-sT", "-Pn", "-n", "-oX", "-"])
            .args(args)
            .output()
            .expect("run nmap");
        assert!(output.status.success(), "nmap: {}", text(&output.stderr));
        nmap_ports(&text(&output.stdout))
    }
}

impl Lab {
    /// What the kernel answers a connect from the scanner given 3 s.
    fn connect_answer(&self, target: &str, port: u16) -> (String, String) {
        let address = SocketAddr::new(target.parse().unwrap(), port);
        let result = self.scanner.within(move || {
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(3))
                .map(drop)
                .map_err(|e| e.raw_os_error())
        });
        let (state, reason) = match result {
            Ok(()) => ("open", "syn-ack"),
            Err(Some(libc::ECONNREFUSED)) => ("closed", "conn-refused"),
            Err(Some(libc::EACCES)) => ("filtered", "admin-prohibited"),
            Err(Some(libc::EHOSTUNREACH)) => ("filtered", "host-unreach"),
            Err(_) => ("filtered", "no-response"),
        };
        (state.to_owned(), reason.to_owned())
    }
}

/// `<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"`
fn nmap_ports(xml: &str) -> BTreeMap<u16, (String, String)> {
    let attribute = |element: &str, name: &str| -> String {
        let start = element.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
        element[start..].split('"').next().unwrap().to_owned()
    };
    xml.split("<port ")
        .skip(1)
        .map(|element| {
            let state = element.split("<state ").nth(1).expect("a state");
            let port = attribute(element, "portid").parse().unwrap();
            (port, (attribute(state, "state"), attribute(state, "reason")))
        })
        .collect()
}

/// portwatch's state and reason per port, from its JSON.
fn portwatch_ports(output: &Output, address: &str) -> BTreeMap<u16, (String, String)> {
    assert!(output.status.success(), "portwatch: {}", text(&output.stderr));
    let hosts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {hosts:#}"));
    host["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let port = p["port"].as_u64().unwrap() as u16;
            (
                port,
                (p["state"].as_str().unwrap().to_owned(), p["reason"].as_str().unwrap().to_owned()),
            )
        })
        .collect()
}

fn available(test: &str) -> bool {
    !(skip_unless_root(test) || skip_without_tool("nmap", test) || skip_without_tool("nft", test))
}

fn port_list(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

#[test]
fn states_and_reasons_are_nmaps() {
    if !available("states_and_reasons_are_nmaps") {
        return;
    }
    let lab = Lab::new("scanstates");
    let ports = [2222, 8080, CLOSED, DROPPED, REJECTED, PROHIBITED, RESET, DROPPED_LISTENER];
    let list = port_list(&ports);
    for target in [TARGET, TARGET6] {
        let ours = portwatch_ports(
            &lab.portwatch(&["scan", "--json", "--all-states", "-p", &list, target]),
            target,
        );
        let family = if target == TARGET6 { "-6" } else { "-4" };
        let mut theirs = lab.nmap(&[family, "-p", &list, target]);
        if target == TARGET6 {
            // Linux ends a connect on an ICMPv6 unreachable only for the
            // retransmitted SYN (a second later), so nmap's answer for the
            // rejects depends on its timing: the judge there is a plain
            // connect given time.
            for port in [REJECTED, PROHIBITED] {
                theirs.insert(port, lab.connect_answer(target, port));
            }
        }
        assert_eq!(ours, theirs, "{target}: portwatch (left) and nmap -sT (right)");
        assert_eq!(ours[&DROPPED].0, "filtered");
        assert_eq!(ours[&2222].0, "open");
    }
}

#[test]
fn a_dropped_first_syn_is_still_found_open() {
    if !available("a_dropped_first_syn_is_still_found_open") {
        return;
    }
    let lab = Lab::new("scansyn");
    // Other ports first, so that the round trip is known and the timeout
    // short when the dropped SYN's connect waits.
    let ports = port_list(&[2222, 8080, CLOSED, FIRST_SYN_DROPPED]);
    let ours = portwatch_ports(&lab.portwatch(&["scan", "--json", "-p", &ports, TARGET]), TARGET);
    assert_eq!(ours[&FIRST_SYN_DROPPED], ("open".to_owned(), "syn-ack".to_owned()));
    let counter =
        lab.target.command("nft").args(["list", "table", "inet", "scan"]).output().unwrap();
    assert!(
        text(&counter.stdout).contains("counter packets 1 "),
        "the rule dropped one SYN: {}",
        text(&counter.stdout)
    );
}

#[test]
fn the_table_and_grepable_lines_follow_nmap() {
    if !available("the_table_and_grepable_lines_follow_nmap") {
        return;
    }
    let lab = Lab::new("scanviews");
    let ports = port_list(&[2222, 8080, CLOSED, REJECTED]);
    let table = lab.portwatch(&["scan", "-p", &ports, TARGET]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(
        table.starts_with(&format!("portwatch scan report for {TARGET}\nHost is up (")),
        "{table}"
    );
    assert!(table.contains("PORT     STATE  SERVICE\n2222/tcp open   "), "{table}");
    assert!(table.contains("\n9001/tcp closed "), "{table}");
    assert!(table.contains("portwatch done: 1 IP address (1 host up) scanned in "), "{table}");
    let grepable = lab.portwatch(&["scan", "-oG", "-", "-p", &ports, TARGET]);
    let grepable = text(&grepable.stdout);
    let theirs = lab
        .scanner
        .command("nmap")
        .args(["-sT", "-Pn", "-n", "-oG", "-", "-p", &ports, TARGET])
        .output()
        .unwrap();
    let ports_line = |text: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains("\tPorts: ")).expect("a Ports line").to_owned();
        let ports = line.split("\tPorts: ").nth(1).unwrap().split('\t').next().unwrap();
        // The service names come from different tables (IANA's, nmap's).
        ports
            .split(", ")
            .map(|entry| entry.split('/').take(3).collect::<Vec<_>>().join("/"))
            .collect()
    };
    assert_eq!(ports_line(&grepable), ports_line(&text(&theirs.stdout)));
    assert!(grepable.contains(&format!("Host: {TARGET} ()\tStatus: Up\n")), "{grepable}");
}

/// Names are resolved in a namespace with no way out, so that the test
/// sends no query beyond the host.
#[test]
fn an_unresolvable_host_is_a_one_line_error() {
    if skip_unless_root("an_unresolvable_host_is_a_one_line_error") {
        return;
    }
    let isolated = Netns::new("scanname");
    let output = isolated.command(common::BIN).args(["scan", "nowhere.invalid"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stderr), "portwatch: cannot resolve host 'nowhere.invalid'\n");
}

#[test]
fn bad_targets_and_ports_are_one_line_errors() {
    for (args, message) in [
        (&["scan", "-p", "100-90", "127.0.0.1"][..], "100-90"),
        (&["scan", "-p", "U:53", "127.0.0.1"][..], "UDP"),
        (&["scan", "-p", "70000", "127.0.0.1"][..], "70000"),
        (&["scan", "10.0.0.0/8"][..], "wider than portwatch scans"),
        (&["scan", "10.0.0.0/15"][..], "needs --yes"),
        (&["scan", "-oX", "-", "127.0.0.1"][..], "only nmap's grepable output"),
    ] {
        let output = common::portwatch().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("portwatch: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn local_names_the_owner_of_each_open_port() {
    if !available("local_names_the_owner_of_each_open_port") {
        return;
    }
    let lab = Lab::new("scanlocal");
    let output =
        lab.target.command(common::BIN).args(["scan", "--local", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hosts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let host =
        hosts.as_array().unwrap().iter().find(|h| h["address"] == TARGET).expect("own address");
    let port = |number: u16| {
        host["ports"].as_array().unwrap().iter().find(|p| p["port"] == number).cloned().unwrap()
    };
    let open = port(2222);
    assert_eq!(open["state"], "open");
    let holders = open["listener"]["processes"].as_array().unwrap();
    assert!(holders.iter().any(|h| h["pid"] == std::process::id()), "{open:#}");
    let blocked = port(DROPPED_LISTENER);
    assert_eq!(blocked["state"], "filtered", "a listener the scan did not find open: {blocked:#}");
    assert_eq!(blocked["listener"]["local"]["port"], DROPPED_LISTENER);
    let table = lab.target.command(common::BIN).args(["scan", "--local"]).output().unwrap();
    let table = text(&table.stdout);
    assert!(table.contains("PORT     STATE    SERVICE       LISTENER"), "{table}");
    assert!(table.contains(&format!("pid={}", std::process::id())), "{table}");
}

#[test]
fn compare_scan_finds_where_the_scan_and_the_firewall_disagree() {
    if !available("compare_scan_finds_where_the_scan_and_the_firewall_disagree") {
        return;
    }
    let lab = Lab::new("scancmp");
    // Something between the scanner and the target drops 8080: the
    // target's own ruleset still admits it.
    lab.scanner.load_ruleset("table inet upstream {\n  chain output {\n    type filter hook output priority filter; policy accept;\n    tcp dport 8080 drop\n  }\n}\n");
    let scan = lab.portwatch(&[
        "scan",
        "--json",
        "--retries",
        "0",
        "--timeout",
        "500ms",
        "-p",
        "2222,8080,9104",
        TARGET,
    ]);
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &scan.stdout).unwrap();
    // Since the scan, 2222 is dropped here: the scan found it open.
    lab.target.load_ruleset(
        &RULESET.replace("tcp dport 9100 drop", "tcp dport 9100 drop\n    tcp dport 2222 drop"),
    );
    let path = file.path().to_str().unwrap();
    let audit = lab
        .target
        .command(common::BIN)
        .args(["audit", "--json", "--fail-on", "never", "--compare-scan", path])
        .output()
        .unwrap();
    assert!(audit.status.success() || audit.status.code() == Some(3), "{}", text(&audit.stderr));
    let report: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let findings: Vec<(String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"].as_str().unwrap().starts_with("scan-"))
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["listener"]["local"]["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [("scan-open-but-blocked".to_owned(), 2222), ("scan-filtered-but-open".to_owned(), 8080)],
        "{report:#}"
    );
    let broken = lab
        .target
        .command(common::BIN)
        .args(["audit", "--compare-scan", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(text(&broken.stderr).contains("not a portwatch scan"), "{}", text(&broken.stderr));
}

/// With far fewer descriptors than connections asked for, every port is
/// still scanned, and stderr says the scan slowed down. The ports are
/// dropped on the way out, so that every connect stays pending and holds
/// its descriptor (answered ones settle before the next is opened).
#[test]
fn running_out_of_descriptors_slows_the_scan_without_losing_ports() {
    let test = "running_out_of_descriptors_slows_the_scan_without_losing_ports";
    if skip_unless_root(test)
        || skip_without_tool("prlimit", test)
        || skip_without_tool("nft", test)
    {
        return;
    }
    let isolated = Netns::new("scanfd");
    isolated.load_ruleset(
        "table inet hold {\n  chain output {\n    type filter hook output priority filter; policy accept;\n    tcp dport 1-400 drop\n  }\n}\n",
    );
    // Descriptors this process passes on (a CI runner may hand down
    // dozens) do not count against the scan's share.
    let limit = format!("--nofile={0}:{0}", 48 + inherited_descriptors());
    let output = isolated
        .command("prlimit")
        .args([
            limit.as_str(),
            common::BIN,
            "scan",
            "--json",
            "--all-states",
            "--max-parallelism",
            "500",
        ])
        .args(["--timeout", "200ms", "--retries", "0", "-p", "1-400", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hosts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ports = hosts[0]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 400);
    assert!(ports.iter().all(|p| p["state"] == "filtered"), "every port dropped: {ports:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Too many open files") && stderr.contains("every port was still scanned"),
        "{stderr}"
    );
}

/// With no descriptor to spare even for one connect, the scan says so in
/// one line and exits 2, rather than wait for one forever.
#[test]
fn no_descriptor_to_spare_is_a_one_line_error() {
    if skip_without_tool("prlimit", "no_descriptor_to_spare_is_a_one_line_error") {
        return;
    }
    let limit = format!("--nofile={0}:{0}", 1 + inherited_descriptors());
    let output = std::process::Command::new("prlimit")
        .args([limit.as_str(), common::BIN, "scan", "-p", "1-10", "127.0.0.1"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
}

/// Open descriptors of this process without close-on-exec: a child
/// starts with them.
fn inherited_descriptors() -> usize {
    const CLOSE_ON_EXEC: u32 = 0o2000000;
    let entries = std::fs::read_dir("/proc/self/fd").unwrap();
    entries
        .filter_map(|entry| {
            let fd = entry.ok()?.file_name();
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.to_str()?)).ok()?;
            let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
            u32::from_str_radix(flags.trim(), 8).ok()
        })
        .filter(|flags| flags & CLOSE_ON_EXEC == 0)
        .count()
}

/// `scan --ping` in a namespace pair: 10.78.0.1 refuses connects, 10.78.0.3
/// drops them on the probe ports and answers only an echo, 10.78.0.9 has no
/// host. nmap -sn (as root: ARP on the veth) is the oracle for which are up.
#[test]
fn ping_finds_the_hosts_up_as_nmap_sn_does() {
    if !available("ping_finds_the_hosts_up_as_nmap_sn_does") {
        return;
    }
    let target = Netns::new("ping-t");
    let scanner = Netns::new("ping-s");
    common::join_with_veth(&target, &["10.78.0.1/24", "10.78.0.3/24"], &scanner, &["10.78.0.2/24"]);
    target.load_ruleset(
        "table inet ping {
  chain input {
    type filter hook input priority filter; policy accept;
    ip daddr 10.78.0.3 tcp dport { 22, 80, 443 } drop
  }
}
",
    );
    let named = ["10.78.0.1", "10.78.0.3", "10.78.0.9"];
    let ping = |prefix: &[&str]| {
        let mut command = scanner.command(prefix[0]);
        command.args(&prefix[1..]).args(["scan", "-sn", "--json", "--timeout", "1"]).args(named);
        let output = command.output().expect("run portwatch");
        assert!(output.status.success(), "{}", text(&output.stderr));
        let hosts: Value = serde_json::from_slice(&output.stdout).unwrap();
        let reasons: BTreeMap<String, String> = hosts
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["address"].as_str().unwrap().to_owned(),
                    h["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (reasons, text(&output.stderr))
    };

    let (as_root, _) = ping(&[common::BIN]);
    assert!(["conn-refused", "echo-reply"].contains(&as_root["10.78.0.1"].as_str()), "{as_root:?}");
    assert_eq!(as_root["10.78.0.3"], "echo-reply", "{as_root:?}");
    assert_eq!(as_root["10.78.0.9"], "no-response", "{as_root:?}");
    let up: Vec<&str> = named.into_iter().filter(|a| as_root[*a] != "no-response").collect();
    let nmap =
        scanner.command("nmap").args(["-sn", "-n", "-oG", "-"]).args(named).output().unwrap();
    let nmap_up: Vec<&str> = named
        .into_iter()
        .filter(|a| text(&nmap.stdout).contains(&format!("Host: {a} ()\tStatus: Up")))
        .collect();
    assert_eq!(up, nmap_up, "nmap -sn: {}", text(&nmap.stdout));

    // Without CAP_NET_RAW and outside ping_group_range, no echo: the TCP
    // probes still find 10.78.0.1, and a note says why 10.78.0.3 cannot be.
    let sysctl = scanner.command("sysctl").args(["-qw", "net.ipv4.ping_group_range=1 0"]).status();
    assert!(sysctl.unwrap().success());
    let (unprivileged, note) = ping(&["unshare", "--map-root-user", common::BIN]);
    assert_eq!(unprivileged["10.78.0.1"], "conn-refused", "{unprivileged:?}");
    assert_eq!(unprivileged["10.78.0.3"], "no-response", "{unprivileged:?}");
    assert!(note.contains("no ICMP echo: net.ipv4.ping_group_range"), "{note}");

    // With the user's group in ping_group_range, the echo socket does it.
    let sysctl =
        scanner.command("sysctl").args(["-qw", "net.ipv4.ping_group_range=0 2147483647"]).status();
    assert!(sysctl.unwrap().success());
    let (echo_socket, note) = ping(&["unshare", "--map-root-user", common::BIN]);
    assert_eq!(echo_socket["10.78.0.3"], "echo-reply", "{echo_socket:?}");
    assert!(!note.contains("no ICMP echo"), "{note}");
}
