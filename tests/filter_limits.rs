//! Filters of any depth or length get rows or a one-line usage error, never
//! a stack overflow, and in bounded time: the binary on the recorded
//! fixture with `--from`, the filter in a file (`-F`), as a generated
//! allow-list would come. Live, as root: the longest filter the kernel
//! takes is filtered there, one op longer in userspace, with the same rows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::load::Load;
use common::{BIN, Netns, skip_unless_root};
use serde_json::Value;

/// Generous for a debug build on a busy two-core host; release timings
/// are far lower (see the report of the change).
const TIME_BOUND: Duration = Duration::from_secs(10);

fn recording() -> PathBuf {
    common::fixture("netns-basic").join("portwatch.pwdump")
}

/// Runs portwatch on the recording's TCP sockets with `args`, checking the
/// time bound.
fn replay(args: &[&str]) -> Output {
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["-tan", "--from"])
        .arg(recording())
        .args(args)
        .output()
        .expect("run portwatch");
    let took = started.elapsed();
    assert!(took < TIME_BOUND, "portwatch {args:?} took {took:?}");
    output
}

/// Runs portwatch with `filter` written to a file and given with `-F`.
fn replay_with_filter_file(filter: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filter");
    std::fs::write(&path, filter).unwrap();
    let mut all = vec!["-F", path.to_str().unwrap()];
    all.extend_from_slice(args);
    replay(&all)
}

fn stdout(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Exit 2 with one line, `portwatch: filter: ...`, of readable length.
fn assert_refused_in_one_line(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "not a usage error (a signal?): {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("portwatch: filter: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(stderr.len() < 300, "a readable line: {stderr}");
    assert!(output.stdout.is_empty());
}

/// The rows of the recording with a short filter given as words.
fn rows_with(words: &str) -> String {
    let rows = stdout(&replay(&[words]));
    assert!(rows.lines().count() > 2, "the expression selects some rows: {rows}");
    rows
}

#[test]
fn twenty_thousand_nested_parentheses_are_refused_in_one_line() {
    let deep =
        |levels: usize| format!("{}sport = :22{}\n", "( ".repeat(levels), " )".repeat(levels));
    let output = replay_with_filter_file(&deep(20_000), &[]);
    assert_refused_in_one_line(&output, "expression nested deeper than 256 levels at token 257");
    let at_the_limit = replay_with_filter_file(&deep(256), &[]);
    assert_eq!(stdout(&at_the_limit), rows_with("sport = :22"));
}

#[test]
fn fifty_thousand_nots_cancel_in_pairs() {
    let even = replay_with_filter_file(&format!("{}sport = :22\n", "not ".repeat(50_000)), &[]);
    assert_eq!(stdout(&even), rows_with("sport = :22"));
    let odd = replay_with_filter_file(&format!("{}sport = :22\n", "! ".repeat(50_001)), &[]);
    assert_eq!(stdout(&odd), rows_with("not sport = :22"));
}

/// A generated allow-list, one condition a line: the recording's ports 22
/// (local) and 8080 (peer) among 100,000 conditions on ports it lacks.
fn allow_list(conditions: usize) -> String {
    let mut list = String::new();
    for index in 0..conditions - 2 {
        let side = if index % 2 == 0 { "sport" } else { "dport" };
        list.push_str(&format!("{side} = :{} or\n", 42_000 + index % 23_000));
        if index == conditions / 2 {
            list.push_str("sport = :22 or # the real ones, in the middle and at the end\n");
        }
    }
    list.push_str("dport = :8080\n");
    list
}

#[test]
fn an_allow_list_of_a_hundred_thousand_ports_lists_what_the_short_one_does() {
    let list = allow_list(100_000);
    assert_eq!(list.matches("port = :").count(), 100_000);
    let output = replay_with_filter_file(&list, &[]);
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = stdout(&output);
    assert_eq!(rows, rows_with("sport = :22 or dport = :8080"));
    assert!(rows.lines().count() < stdout(&replay(&[])).lines().count(), "a proper subset");
}

/// Conditions on the recording's ports, joined by `junctions`.
fn chain(junctions: &[&'static str]) -> Vec<(&'static str, &'static str, u16)> {
    const TERMS: [(&str, u16); 6] = [
        ("sport", 22),
        ("dport", 22),
        ("sport", 8080),
        ("dport", 41001),
        ("sport", 5432),
        ("sport", 41000),
    ];
    let mut chain = vec![("", TERMS[0].0, TERMS[0].1)];
    for (index, junction) in junctions.iter().enumerate() {
        let (side, port) = TERMS[(index * 5 + 1) % TERMS.len()];
        chain.push((junction, side, port));
    }
    chain
}

fn chain_text(chain: &[(&str, &str, u16)]) -> String {
    let words: Vec<String> =
        chain.iter().map(|(junction, side, port)| format!("{junction} {side} = :{port}")).collect();
    words.join("\n") + "\n"
}

/// ss's reading: left to right, `and` and `or` alike.
fn fold(chain: &[(&str, &str, u16)], local: u16, peer: u16) -> bool {
    let holds = |side: &str, port: u16| if side == "sport" { local == port } else { peer == port };
    let mut value = false;
    for (junction, side, port) in chain {
        let term = holds(side, *port);
        value = match *junction {
            "and" => value && term,
            _ => value || term,
        };
    }
    value
}

/// The cookies of the rows `fold` keeps, and those portwatch lists; the
/// rows kept must be some but not all.
fn expected_and_listed(chain: &[(&str, &str, u16)]) -> (Vec<u64>, Vec<u64>) {
    let rows = |output: &Output| -> Vec<Value> { serde_json::from_str(&stdout(output)).unwrap() };
    let cookie = |row: &Value| row["cookie"].as_u64().unwrap();
    let port = |row: &Value, side: &str| row[side]["port"].as_u64().unwrap() as u16;
    let all = rows(&replay(&["--json"]));
    let expected: Vec<u64> = all
        .iter()
        .filter(|row| fold(chain, port(row, "local"), port(row, "peer")))
        .map(cookie)
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len(), "{expected:?}");
    let listed = replay_with_filter_file(&chain_text(chain), &["--json"]);
    (expected, rows(&listed).iter().map(cookie).collect())
}

#[test]
fn a_long_alternation_is_read_left_to_right_up_to_the_limit() {
    let alternating: Vec<&'static str> = (0..256).map(|i| ["and", "or"][i % 2]).collect();
    let (expected, listed) = expected_and_listed(&chain(&alternating));
    assert_eq!(listed, expected);
    // Runs of one operator are one level: 5,000 terms, 200 changes.
    let runs: Vec<&'static str> = (0..5_000).map(|i| ["and", "or"][i / 25 % 2]).collect();
    let (expected, listed) = expected_and_listed(&chain(&runs));
    assert_eq!(listed, expected);
    let too_long: Vec<&'static str> = (0..10_000).map(|i| ["or", "and"][i % 2]).collect();
    let output = replay_with_filter_file(&chain_text(&chain(&too_long)), &[]);
    assert_refused_in_one_line(&output, "expression nested deeper than 256 levels at token 1028");
}

/// Live: `portwatch list -tanH --debug-stats -F FILE` in `netns`.
fn live(netns: &Netns, dir: &Path, filter: &str) -> (String, String) {
    let path = dir.join("filter");
    std::fs::write(&path, filter).unwrap();
    let output = netns
        .command(BIN)
        .args(["list", "-tanH", "--debug-stats", "-F"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

#[test]
fn the_kernel_takes_the_longest_program_and_userspace_the_rest() {
    if skip_unless_root("the_kernel_takes_the_longest_program_and_userspace_the_rest") {
        return;
    }
    let netns = Netns::new("limits");
    let _load = netns.within(|| {
        let mut load = Load::default();
        let ssh = load.listen("127.0.0.1:22");
        let other = load.listen("127.0.0.1:2000");
        load.connect_pairs(ssh, ssh, 2);
        load.connect_pairs(other, other, 2);
        load.settle()
    });
    let dir = tempfile::tempdir().unwrap();
    let by_kernel = "filtered by the kernel";
    let in_userspace = "filtered in userspace";
    // 8,191 port comparisons of 8 bytes: 65,528 bytes, the most whole ops
    // under the 65,531-byte limit; one more is 65,536.
    let comparisons = |count: usize| {
        let mut all = vec!["sport >= :0"; count - 1];
        all.push("sport <= :2000");
        all.join(" and\n")
    };
    let (short, _) = live(&netns, dir.path(), "sport <= :2000");
    assert_eq!(short.lines().count(), 6, "the listeners and their accepted ends");
    for (count, filtered) in [(8_191, by_kernel), (8_192, in_userspace)] {
        let (rows, stderr) = live(&netns, dir.path(), &comparisons(count));
        assert_eq!(rows, short, "{count} comparisons");
        assert_eq!(stderr.lines().count(), 1, "no fallback notice: {stderr}");
        assert!(stderr.contains(filtered), "{count} comparisons: {stderr}");
    }
    // An or of n ports is 16n - 4 bytes: 4,095 fit, with jumps to its end
    // near the top of their 16 bits; 4,096 do not. (Ports outside the
    // ephemeral range, which the clients' ports are in.)
    let ports = |count: usize| {
        let mut all: Vec<String> =
            (0..count - 2).map(|i| format!("sport = :{}", 10_000 + i)).collect();
        all.insert(count / 2, "sport = :22".into());
        all.push("dport = :2000".into());
        all.join(" or\n")
    };
    let (short, _) = live(&netns, dir.path(), "sport = :22 or dport = :2000");
    assert_eq!(short.lines().count(), 5, "the listener on 22, its two accepted ends, two clients");
    for (count, filtered) in [(4_095, by_kernel), (4_096, in_userspace)] {
        let (rows, stderr) = live(&netns, dir.path(), &ports(count));
        assert_eq!(rows, short, "{count} ports");
        assert_eq!(stderr.lines().count(), 1, "no fallback notice: {stderr}");
        assert!(stderr.contains(filtered), "{count} ports: {stderr}");
    }
}
