//! ss's filter language against the real `ss`: the same expressions over
//! the same sockets, in a network namespace of the test's own with fixed
//! ports and extra addresses (10.1.2.3/8 and fd00::1/64 on lo), must give
//! the same rows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::Command;

use common::load::Load;
use common::{Netns, json_row_set, skip_unless_root, ss_rows};
use serde_json::Value;

/// Fixed ports, so that expressions can name them.
fn build_load() -> Load {
    let mut load = Load::default();
    let ssh4 = load.listen("127.0.0.1:22");
    let ssh6 = load.listen("[::1]:22");
    let http = load.listen("[::]:80");
    let https = load.listen("10.1.2.3:443");
    let alt = load.listen("[fd00::1]:8080");
    let postgres = load.listen("127.0.0.1:5432");
    load.connect_pairs(ssh4, ssh4, 5);
    load.connect_pairs(ssh6, ssh6, 3);
    load.connect_pairs("127.0.0.1:80", http, 3);
    load.connect_pairs("[::1]:80", http, 2);
    load.connect_pairs(https, https, 3);
    load.connect_pairs(alt, alt, 2);
    load.half_close_pairs(postgres, 2);
    load.time_wait(postgres, 2);
    let dns = load.bind_udp("0.0.0.0:53");
    load.bind_udp("[::1]:5353");
    load.bind_udp("[::]:443");
    let ntp = UdpSocket::bind("127.0.0.1:123").unwrap();
    ntp.connect(("127.0.0.1", dns.port())).unwrap();
    load.datagrams.push(ntp);
    load.settle()
}

/// Every operator and its aliases, precedence and grouping, prefixes v4
/// and v6, mapped addresses, service names, devices, autobound, and state
/// words before an expression.
const EXPRESSIONS: &[&str] = &[
    "sport = :22",
    "sport == 22",
    "sport eq :ssh",
    "sport :22",
    "sport 22",
    "dport = :22",
    "dport != :22",
    "dport ne :ssh",
    "dport neq 22",
    "sport > :1024",
    "sport gt 1024",
    "sport < :1024",
    "sport lt 1024",
    "sport >= :443",
    "sport ge 443",
    "sport geq 443",
    "sport <= :443",
    "sport le :https",
    "sport leq 443",
    "dport >= :80 and dport <= :443",
    "dport > 79 and dport < 444",
    "src 127.0.0.1",
    "src = 127.0.0.1",
    "src == 127.0.0.1",
    "src eq 127.0.0.1",
    "src 127.0.0.0/8",
    "src 127/8",
    "src 127.0/16",
    "src 10.0.0.0/8",
    "src 10.1.2/24",
    "dst 127.0.0.1:22",
    "dst 127.0.0.1:ssh",
    "src [::1]",
    "src [::1]:22",
    "src [fd00::/64]",
    "src [fd00::1]:8080",
    "dst [::1]:*",
    "src *:22",
    "src *:*",
    "src *",
    "dst 10.1.2.3",
    "src 127.0.0.1 and dport = :80",
    "dst 127.0.0.1:80",
    "src [::ffff:127.0.0.1]",
    "src [::ffff:127.0.0.0/120]",
    "sport = :22 or sport = :80",
    "sport = :22 || dport = :22",
    "sport = :22 | dport = :22",
    "sport = :22 and dport = :22",
    "sport = :22 && src 127.0.0.1",
    "sport = :22 & src [::1]",
    "sport = :22 src 127.0.0.1",
    "not sport = :22",
    "! sport = :22",
    "not ( sport = :22 or dport = :22 )",
    "! ( src 127.0.0.1 and sport = :22 )",
    "sport = :22 or dport = :22 and src 127.0.0.1",
    "sport = :22 or ( dport = :22 and src 127.0.0.1 )",
    "( sport = :22 or sport = :80 ) and not src 127.0.0.1",
    "( sport = :22 or sport = :80 ) and ! ( dst [::1] )",
    "not not sport = :22",
    "dev = lo",
    "dev != lo",
    "dev = 1",
    "autobound",
    "not autobound",
    "dport = :https",
    "sport = :http-alt",
    "sport = :domain",
    "sport = :postgresql",
    "sport = :postgres",
    "fwmark = 0",
    "fwmark = 0x0/0x0",
    "fwmark != 0x1",
    "state established dport = :22",
    "state listening sport = :80",
    "exclude listening src 127.0.0.1",
    "state time-wait dport = :5432",
    "state fin-wait-2 state close-wait sport = :5432 or dport = :5432",
    "state connected ( dport = :22 or dport = :http )",
];

fn rows_of(netns: &Netns, program: &str, args: &[&str]) -> BTreeSet<common::Row> {
    let output = netns.command(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    if program == "ss" {
        ss_rows(&text)
    } else {
        let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
        json_row_set(&rows)
    }
}

fn namespace_with_load(test: &str) -> (Netns, Load) {
    let netns = Netns::new(test);
    for extra in [&["10.1.2.3/8", "dev", "lo"][..], &["fd00::1/64", "dev", "lo", "nodad"]] {
        let status = Command::new("ip")
            .args(["-n", &netns.name, "addr", "add"])
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let load = netns.within(build_load);
    (netns, load)
}

#[test]
fn every_expression_gives_ss_rows() {
    if skip_unless_root("every_expression_gives_ss_rows") {
        return;
    }
    assert!(EXPRESSIONS.len() >= 60);
    let (netns, _load) = namespace_with_load("filter");
    let everything = rows_of(&netns, "ss", &["-tuanHe"]);
    let mut failures = Vec::new();
    let mut matched_any = 0;
    for expression in EXPRESSIONS {
        let words: Vec<&str> = expression.split_whitespace().collect();
        let mut ss_args = vec!["-tuanHe"];
        ss_args.extend(&words);
        let mut our_args = vec!["list", "-tuanHe", "--json"];
        our_args.extend(&words);
        let theirs = rows_of(&netns, "ss", &ss_args);
        let mut ours = rows_of(&netns, common::BIN, &our_args);
        if theirs.iter().any(|row| row.1.is_empty()) {
            // One state selected: ss printed no State column.
            ours = ours
                .into_iter()
                .map(|mut row| {
                    row.1.clear();
                    row
                })
                .collect();
        }
        if !theirs.is_empty() && theirs != everything {
            matched_any += 1;
        }
        if ours != theirs {
            let missing: Vec<_> = theirs.difference(&ours).collect();
            let extra: Vec<_> = ours.difference(&theirs).collect();
            failures.push(format!("{expression}: missing {missing:?}, extra {extra:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        EXPRESSIONS.len(),
        failures.join("\n")
    );
    assert!(matched_any > EXPRESSIONS.len() / 2, "most expressions select a proper subset");
}

#[test]
fn the_kernel_does_the_filtering() {
    if skip_unless_root("the_kernel_does_the_filtering") {
        return;
    }
    let (netns, _load) = namespace_with_load("bytecode");
    let output = netns
        .command(common::BIN)
        .args(["list", "-tanH", "--debug-stats", "sport = :443 and dport >= :1024"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stdout.lines().count(), 3, "the three accepted ends on 10.1.2.3:443: {stdout}");
    assert!(
        stderr.contains("3 sockets received from sock_diag (filtered by the kernel)"),
        "{stderr}"
    );
    let unfiltered =
        netns.command(common::BIN).args(["list", "-tanH", "--debug-stats"]).output().unwrap();
    let stderr = String::from_utf8(unfiltered.stderr).unwrap();
    let received: usize = stderr.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(received > 40, "without a filter the kernel sends everything: {stderr}");
}

/// ss resolves a service name for UDP and for TCP with getservbyname(3),
/// whose static result the second lookup overwrites: with both protocols
/// listed, a UDP-only name (mdns, ntp) matches nothing in ss. portwatch
/// resolves it to its port (README, "Differences from ss").
#[test]
fn udp_only_service_names_work_with_tcp_listed_too() {
    if skip_unless_root("udp_only_service_names_work_with_tcp_listed_too") {
        return;
    }
    let (netns, _load) = namespace_with_load("udpsvc");
    let ours = rows_of(
        &netns,
        common::BIN,
        &["list", "-tuanHe", "--json", "sport = :mdns or sport = :ntp"],
    );
    let ports: BTreeSet<u16> = ours.iter().map(|row| row.3).collect();
    assert_eq!(ports, BTreeSet::from([123, 5353]));
    let theirs = rows_of(&netns, "ss", &["-tuanHe", "sport = :mdns or sport = :ntp"]);
    assert!(theirs.is_empty(), "ss's behaviour changed: {theirs:?}");
    // With one protocol ss prints no Netid column: compare ports and inodes.
    let udp_only = rows_of(&netns, "ss", &["-uanHe", "sport = :mdns or sport = :ntp"]);
    let key = |rows: &BTreeSet<common::Row>| -> BTreeSet<(u16, u16, u64)> {
        rows.iter().map(|row| (row.3, row.5, row.6)).collect()
    };
    assert_eq!(key(&udp_only), key(&ours), "with -u alone ss agrees");
}

/// `-s` against `ss -s` in the namespace: exact for what the namespace
/// counts itself; the TCP total, closed and orphaned counts are host-wide
/// in the kernel and may move between the two runs (tolerance: 50).
#[test]
fn summary_matches_ss_summary() {
    if skip_unless_root("summary_matches_ss_summary") {
        return;
    }
    let (netns, _load) = namespace_with_load("summary");
    let ours = netns.command(common::BIN).args(["-s"]).output().unwrap();
    let theirs = netns.command("ss").args(["-s"]).output().unwrap();
    let lines = |bytes: &[u8]| -> Vec<String> {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    };
    let numbers = |line: &str| -> Vec<i64> {
        line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect()
    };
    let (ours, theirs) = (lines(&ours.stdout), lines(&theirs.stdout));
    assert_eq!(ours.len(), theirs.len(), "{ours:?}\n{theirs:?}");
    assert_eq!(ours[0], theirs[0], "Total");
    let (tcp, their_tcp) = (numbers(&ours[1]), numbers(&theirs[1]));
    assert!((tcp[0] - their_tcp[0]).abs() <= 50, "TCP total {tcp:?} vs {their_tcp:?}");
    assert_eq!((tcp[1], tcp[4]), (their_tcp[1], their_tcp[4]), "estab and timewait");
    assert!(tcp[1] > 0 && tcp[4] > 0, "the load has established and TIME-WAIT sockets");
    assert_eq!(ours[2..], theirs[2..], "the transport table");
    let json = netns.command(common::BIN).args(["-s", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["transports"]["udp"]["total"], numbers(&theirs[5])[0]);
    assert_eq!(json["tcp"]["estab"], their_tcp[1]);
}
