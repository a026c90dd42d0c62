//! Corners where portwatch answers as ss (iproute2 6.1) does, and the two
//! where it deliberately does not, each against ss itself in a network
//! namespace of the test's own with the test's own sockets: `-r` on
//! IPv4-mapped addresses, `-s` with a selection (the totals, then the
//! table), `-4 -6` together, and an IPv4 prefix tested against IPv6
//! sockets. Tables are compared below their header line, whose layout is
//! ss's business elsewhere (tests/differential_ss.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;

use common::load::Load;
use common::{BIN, Netns, skip_unless_root, skip_without_tool};

/// A dual-stack listener with an IPv4 client (the server's ends are
/// `::ffff:127.0.0.1`) and an IPv6 one, an IPv4 listener on the wildcard
/// with a client, and UDP bound on 127.0.0.1 and ::1.
fn dual_stack_load(netns: &Netns) -> Load {
    netns.within(|| {
        let mut load = Load::default();
        let dual = load.listen("[::]:7000");
        load.connect_pairs("127.0.0.1:7000", dual, 2);
        load.connect_pairs("[::1]:7000", dual, 1);
        let v4 = load.listen("0.0.0.0:7001");
        load.connect_pairs("127.0.0.1:7001", v4, 1);
        load.bind_udp("127.0.0.1:7002");
        load.bind_udp("[::1]:7003");
        load.settle()
    })
}

fn skip(test: &str) -> bool {
    skip_unless_root(test) || skip_without_tool("ss", test)
}

/// `program ARGS` inside the namespace: its stdout, after checking it ran.
fn output_in(netns: &Netns, program: &str, args: &[&str]) -> String {
    let output = netns.command(program).args(args).output().expect(program);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The lines below the header, without trailing blanks.
fn below_header(text: &str) -> String {
    text.lines().skip(1).map(|line| format!("{}\n", line.trim_end())).collect()
}

/// Each row as its words, which no column width or header changes.
fn rows(text: &str) -> BTreeSet<Vec<String>> {
    text.lines().map(|line| line.split_whitespace().map(str::to_owned).collect()).collect()
}

fn rows_in(netns: &Netns, program: &str, args: &[&str]) -> BTreeSet<Vec<String>> {
    rows(&output_in(netns, program, args))
}

#[test]
fn resolve_names_ipv4_mapped_addresses_as_ss_does() {
    const TEST: &str = "resolve_names_ipv4_mapped_addresses_as_ss_does";
    if skip(TEST) {
        return;
    }
    let netns = Netns::new("resolve");
    let _load = dual_stack_load(&netns);
    for args in [&["-tanr"][..], &["-tar"], &["-tnr"], &["-tuanr"], &["-tnr", "sport = :7000"]] {
        let portwatch = output_in(&netns, BIN, args);
        let ss = output_in(&netns, "ss", args);
        assert_eq!(below_header(&portwatch), below_header(&ss), "portwatch {args:?} differs");
    }
    // The two accepted ends of the IPv4 clients, named from /etc/hosts's
    // 127.0.0.1, as ss names them.
    let resolved = output_in(&netns, BIN, &["-tnr", "sport = :7000"]);
    let named = resolved.lines().filter(|line| line.contains("localhost:7000")).count();
    assert_eq!(named, 2, "{resolved}");
    assert!(!resolved.contains("::ffff:"), "{resolved}");
    let numeric = output_in(&netns, BIN, &["-tn", "sport = :7000"]);
    assert_eq!(numeric.matches("[::ffff:127.0.0.1]:7000").count(), 2, "{numeric}");
}

/// ss -s's text with the counts the kernel keeps for the whole host (the
/// sockets in use; TCP's allocated, closed and orphaned), which other
/// processes change between two runs, masked; established and TIME-WAIT,
/// counted in the namespace, stay.
fn masked_summary(lines: &[&str]) -> String {
    let mut masked = String::new();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim_end();
        let line = match index {
            0 => mask_numbers(line, &[0]),
            1 => mask_numbers(line, &[0, 2, 3]),
            _ => line.to_owned(),
        };
        masked.push_str(&line);
        masked.push('\n');
    }
    masked
}

/// `line` with its `which`th numbers (counted from 0) as `#`.
fn mask_numbers(line: &str, which: &[usize]) -> String {
    let mut out = String::new();
    let (mut number, mut in_number) = (0, false);
    for c in line.chars() {
        match (c.is_ascii_digit(), in_number) {
            (true, false) => {
                in_number = true;
                if which.contains(&number) {
                    out.push('#');
                }
            }
            (false, true) => {
                in_number = false;
                number += 1;
            }
            _ => {}
        }
        if !(c.is_ascii_digit() && which.contains(&number)) {
            out.push(c);
        }
    }
    out
}

/// ss -s's text ends with its FRAG line and an empty one.
const SUMMARY_LINES: usize = 10;

/// The totals (masked) and, below them, the table without its header
/// (when it has one).
fn summary_and_table(text: &str, header: bool) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= SUMMARY_LINES, "no summary: {text}");
    let (summary, table) = lines.split_at(SUMMARY_LINES);
    assert!(summary[8].starts_with("FRAG") && summary[9].is_empty(), "{text}");
    let table = table.iter().skip(usize::from(header));
    (masked_summary(summary), table.map(|line| format!("{}\n", line.trim_end())).collect())
}

#[test]
fn summary_with_a_selection_is_followed_by_the_table_as_in_ss() {
    const TEST: &str = "summary_with_a_selection_is_followed_by_the_table_as_in_ss";
    if skip(TEST) {
        return;
    }
    let netns = Netns::new("summary");
    let _load = dual_stack_load(&netns);
    let with_table: &[&[&str]] = &[
        &["-ts"],
        &["-s", "-t"],
        &["-tns"],
        &["-s", "-tn", "state", "established"],
        &["-s", "-tua"],
        &["-s", "-6", "-tn"],
        &["-s", "-A", "tcp"],
        &["-s", "-f", "inet"],
        &["-s", "-tn", "sport", "=", ":7000"],
        &["-s", "state", "established"],
    ];
    for args in with_table {
        let portwatch = output_in(&netns, BIN, args);
        let ss = output_in(&netns, "ss", args);
        let (summary, table) = summary_and_table(&portwatch, true);
        let (their_summary, their_table) = summary_and_table(&ss, true);
        assert_eq!(summary, their_summary, "portwatch {args:?}: the totals differ");
        assert_eq!(table, their_table, "portwatch {args:?}: the table differs");
        assert!(!table.is_empty(), "portwatch {args:?} lists the test's sockets: {portwatch}");
    }
    // Without a header, as rows of words (-H's column widths are compared
    // with ss's in tests/differential_ss.rs).
    let args = ["-sH", "-tun"];
    let (portwatch, ss) = (output_in(&netns, BIN, &args), output_in(&netns, "ss", &args));
    let (summary, table) = summary_and_table(&portwatch, false);
    let (their_summary, their_table) = summary_and_table(&ss, false);
    assert_eq!(summary, their_summary, "portwatch {args:?}: the totals differ");
    assert_eq!(rows(&table), rows(&their_table), "portwatch {args:?}: the rows differ");
    assert_eq!(rows(&table).len(), 8, "{portwatch}");
    for args in [&["-s"][..], &["-sa"], &["-sln"], &["-s", "-e", "-p"]] {
        let portwatch = output_in(&netns, BIN, args);
        let ss = output_in(&netns, "ss", args);
        assert_eq!(portwatch.lines().count(), SUMMARY_LINES, "the totals alone: {portwatch}");
        let (summary, _) = summary_and_table(&portwatch, false);
        assert_eq!(summary, summary_and_table(&ss, false).0, "portwatch {args:?}");
        assert_eq!(ss.lines().count(), SUMMARY_LINES, "ss {args:?}: {ss}");
    }
    // A filter file selects as a filter does (ss prints the totals alone).
    let dir = tempfile::tempdir().unwrap();
    let filter = dir.path().join("filter");
    std::fs::write(&filter, "sport = :7001\n").unwrap();
    let args = ["-s", "-F", filter.to_str().unwrap()];
    let (_, table) = summary_and_table(&output_in(&netns, BIN, &args), true);
    assert_eq!(table.lines().count(), 1, "the accepted end on 7001: {table}");
    assert_eq!(output_in(&netns, "ss", &args).lines().count(), SUMMARY_LINES, "ss: the totals");
    // JSON: one document, the totals, whatever the selection.
    for args in [&["-s", "--json"][..], &["-ts", "--json"], &["-s", "--json", "state", "listening"]]
    {
        let json: serde_json::Value = serde_json::from_str(&output_in(&netns, BIN, args))
            .unwrap_or_else(|e| panic!("portwatch {args:?}: not one JSON document: {e}"));
        assert!(json["transports"]["tcp"]["total"].as_u64() >= Some(9), "{args:?}: {json}");
    }
}

#[test]
fn both_families_list_both_where_ss_lists_the_last() {
    const TEST: &str = "both_families_list_both_where_ss_lists_the_last";
    if skip(TEST) {
        return;
    }
    let netns = Netns::new("families");
    let _load = dual_stack_load(&netns);
    let everything = rows_in(&netns, BIN, &["-tuanH"]);
    let v4 = rows_in(&netns, BIN, &["-tuanH", "-4"]);
    let v6 = rows_in(&netns, BIN, &["-tuanH", "-6"]);
    assert_eq!(v4, rows_in(&netns, "ss", &["-tuanH", "-4"]), "-4 alone as ss");
    assert_eq!(v6, rows_in(&netns, "ss", &["-tuanH", "-6"]), "-6 alone as ss");
    assert!(!v4.is_empty() && !v6.is_empty() && v4.is_disjoint(&v6));
    let both: BTreeSet<Vec<String>> = v4.union(&v6).cloned().collect();
    assert_eq!(both, everything, "every socket here is IPv4 or IPv6");
    for (args, ss_lists) in [
        (&["-tuanH", "-4", "-6"][..], &v6),
        (&["-tuanH", "-6", "-4"], &v4),
        (&["-tuanH", "-f", "inet", "-f", "inet6"], &v6),
        (&["-tuanH", "-f", "inet6", "-f", "inet"], &v4),
    ] {
        // portwatch's answer: both families, whatever their order.
        assert_eq!(rows_in(&netns, BIN, args), both, "portwatch {args:?}");
        // ss's: the family given last.
        assert_eq!(&rows_in(&netns, "ss", args), ss_lists, "ss {args:?}");
    }
}

/// portwatch's rows for `-tuanH FILTER` three ways: filtered by the
/// kernel, by the userspace matcher over a recording of the namespace (a
/// `--from` replay), and by the userspace matcher live, the filter made
/// too long for the kernel by 8,192 comparisons every port passes. They
/// must agree; the kernel's are returned.
fn portwatch_rows_every_way(netns: &Netns, filter: &str) -> BTreeSet<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], place: &str| {
        let output = netns.command(BIN).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "portwatch {args:?}: {stderr}");
        assert!(stderr.contains(place), "portwatch {args:?} filtered {place}: {stderr}");
        rows(&String::from_utf8_lossy(&output.stdout))
    };
    let kernel = run(&["-tuanH", "--debug-stats", filter], "filtered by the kernel");
    let recording = dir.path().join("recording");
    let recording = recording.to_str().unwrap();
    let recorded = netns.command(BIN).args(["-tua", "-D", recording]).status().unwrap();
    assert!(recorded.success(), "portwatch -D");
    let replayed =
        run(&["-tuanH", "--debug-stats", "--from", recording, filter], "in userspace (replay)");
    let long_filter = dir.path().join("filter");
    let padding = vec!["sport >= :0"; 8_192].join(" and\n");
    std::fs::write(&long_filter, format!("{padding} and ( {filter} )")).unwrap();
    let long_filter = long_filter.to_str().unwrap();
    let too_long = run(&["-tuanH", "--debug-stats", "-F", long_filter], "filtered in userspace");
    assert_eq!(replayed, kernel, "{filter}: the replay's userspace matcher and the kernel");
    assert_eq!(too_long, kernel, "{filter}: the live userspace matcher and the kernel");
    kernel
}

/// The local ends (`ADDR:PORT`) of rows (netid, state, queues, local, peer).
fn local_ends(rows: &BTreeSet<Vec<String>>) -> BTreeSet<String> {
    rows.iter().map(|row| row[4].clone()).collect()
}

fn ends(ends: &[&str]) -> BTreeSet<String> {
    ends.iter().map(|end| end.to_string()).collect()
}

#[test]
fn an_ipv4_prefix_never_matches_an_ipv6_address_where_ss_lets_it() {
    const TEST: &str = "an_ipv4_prefix_never_matches_an_ipv6_address_where_ss_lets_it";
    if skip(TEST) {
        return;
    }
    let netns = Netns::new("prefix");
    let _load = dual_stack_load(&netns);
    // The kernel's rule, portwatch's everywhere: an IPv4 prefix matches
    // IPv4 sockets and IPv4-mapped addresses only, so every IPv6 socket
    // passes `not src 0.0.0.0`, [::1] too.
    let portwatch = local_ends(&portwatch_rows_every_way(&netns, "not src 0.0.0.0"));
    let everything = local_ends(&rows_in(&netns, BIN, &["-tuanH"]));
    assert_eq!(portwatch, &everything - &ends(&["0.0.0.0:7001"]), "portwatch hides 0.0.0.0 only");
    // ss's userspace pass reads 0.0.0.0/32 against an IPv6 address's first
    // 32 bits, all zero in [::1], [::] and ::ffff:127.0.0.1: it hides them.
    let ss = local_ends(&rows_in(&netns, "ss", &["-tuanH", "not src 0.0.0.0"]));
    assert!(ss.iter().all(|end| end.starts_with("127.0.0.1:")), "ss: {ss:?}");
    assert!(ss.contains("127.0.0.1:7002"), "ss: {ss:?}");
    let v6_ends: BTreeSet<String> =
        everything.iter().filter(|end| !end.starts_with("127.0.0.1:")).cloned().collect();
    let v6_ends = &v6_ends - &ends(&["0.0.0.0:7001"]);
    for end in ["[::1]:7003", "*:7000", "[::1]:7000", "[::ffff:127.0.0.1]:7000"] {
        assert!(v6_ends.contains(end), "{end} in {v6_ends:?}");
    }
    assert_eq!(&portwatch - &ss, v6_ends, "portwatch lists the IPv6 sockets as well");
    // Where the families agree, so do the two.
    for filter in ["src 0.0.0.0", "src 127.0.0.1", "not src 127.0.0.0/8", "src [::1]"] {
        let portwatch = portwatch_rows_every_way(&netns, filter);
        assert_eq!(portwatch, rows_in(&netns, "ss", &["-tuanH", filter]), "{filter}");
    }
}
