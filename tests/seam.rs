//! The kernel's failure modes, fed through the `System` seam: netlink
//! refused, a DONE carrying an error, a rejected request, a truncated read,
//! an interrupted dump, and a reader that goes away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{self, Write};

use common::fake::{FakeSystem, Fault};
use common::{fixture, json_row_set};
use portwatch::exit::ExitCode;
use serde_json::Value;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ENOENT: i32 = 2;
const EPERM: i32 = 1;
const EINVAL: i32 = 22;
const EBUSY: i32 = 16;

struct Run {
    code: ExitCode,
    stdout: String,
    stderr: String,
}

fn run(system: &FakeSystem, args: &[&str]) -> Run {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("portwatch").chain(args.iter().copied()).map(Into::into);
    let code = portwatch::run(argv, &system.os(), &mut stdout, &mut stderr);
    Run {
        code,
        stdout: String::from_utf8(stdout).expect("utf-8"),
        stderr: String::from_utf8(stderr).expect("utf-8"),
    }
}

fn host() -> FakeSystem {
    FakeSystem::from_fixture_dir(&fixture("netns-basic"))
}

fn rows(text: &str) -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(text).expect("a JSON array")
}

#[test]
fn the_fake_kernel_serves_the_recorded_dump() {
    let result = run(&host(), &["-tuan", "--json"]);
    assert_eq!(result.code, ExitCode::Success, "{}", result.stderr);
    assert_eq!(result.stderr, "");
    let listed = rows(&result.stdout);
    assert_eq!(listed.len(), 14);
    assert!(listed.iter().all(|row| row["cookie"].is_u64()));
    let replayed = common::json_rows(&[
        "--from",
        fixture("netns-basic/portwatch.pwdump").to_str().unwrap(),
        "-tuan",
        "--json",
    ]);
    assert_eq!(json_row_set(&listed), json_row_set(&replayed));
}

#[test]
fn netlink_refused_falls_back_to_proc_net_with_one_notice() {
    let refused = host().with_fault(Fault::RefuseOpen(EPERM), None);
    let result = run(&refused, &["-tuan", "--json"]);
    assert_eq!(result.code, ExitCode::Success);
    assert_eq!(result.stderr.lines().count(), 1, "one notice: {}", result.stderr);
    assert!(result.stderr.contains("reading /proc/net"), "{}", result.stderr);
    assert!(result.stderr.contains("Operation not permitted"), "{}", result.stderr);
    let fallback = rows(&result.stdout);
    assert!(fallback.iter().all(|row| row["cookie"].is_null() && row["v6only"].is_null()));
    let netlink = rows(&run(&host(), &["-tuan", "--json"]).stdout);
    assert_eq!(json_row_set(&fallback), json_row_set(&netlink), "the same sockets either way");
}

#[test]
fn fallback_applies_state_and_family_selection() {
    let refused = host().with_fault(Fault::RefuseOpen(EPERM), None);
    let result = run(&refused, &["-tln", "-4", "--json"]);
    let listed = rows(&result.stdout);
    let ports: Vec<u64> = listed.iter().map(|r| r["local"]["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [22, 5432]);
    assert!(listed.iter().all(|r| r["state"] == "listening" && r["family"] == "inet"));
}

#[test]
fn done_with_an_error_before_any_row_falls_back_for_that_protocol() {
    // As when the kernel has no udp_diag module: DONE carries -ENOENT.
    let no_udp_diag = host().with_fault(Fault::DoneError { errno: ENOENT, after: 0 }, Some(UDP));
    let result = run(&no_udp_diag, &["-tuan", "--json"]);
    assert_eq!(result.code, ExitCode::Success);
    assert_eq!(result.stderr.lines().count(), 1, "{}", result.stderr);
    assert!(result.stderr.contains("No such file or directory"), "{}", result.stderr);
    let listed = rows(&result.stdout);
    assert_eq!(listed.len(), 14);
    for row in &listed {
        let from_netlink = row["netid"] == "tcp";
        assert_eq!(row["cookie"].is_u64(), from_netlink, "{row}");
    }
}

#[test]
fn done_with_an_error_after_rows_is_a_failure() {
    let failing = host().with_fault(Fault::DoneError { errno: EBUSY, after: 2 }, Some(TCP));
    let result = run(&failing, &["-tan", "--format", "jsonl"]);
    assert_eq!(result.code, ExitCode::Error);
    assert_eq!(result.stderr.lines().count(), 1, "{}", result.stderr);
    assert!(
        result
            .stderr
            .starts_with("portwatch: sock_diag dump of tcp inet sockets failed after 2 sockets")
    );
    assert!(result.stderr.contains("Device or resource busy"), "{}", result.stderr);
    assert_eq!(result.stdout.lines().count(), 2, "the rows streamed before the error stay");
}

#[test]
fn a_rejected_request_is_reported_with_its_errno() {
    let rejecting = host().with_fault(Fault::Rejected(EINVAL), None);
    let result = run(&rejecting, &["-tan"]);
    assert_eq!(result.code, ExitCode::Success);
    assert!(
        result.stderr.contains("the kernel rejected the request: Invalid argument"),
        "{}",
        result.stderr
    );
    assert_eq!(result.stderr.lines().count(), 1);
}

#[test]
fn a_truncated_read_is_detected_not_silently_short() {
    let truncating = host().with_fault(Fault::Truncated, Some(TCP));
    let result = run(&truncating, &["-tan", "--json"]);
    assert!(result.stderr.contains("netlink reply truncated"), "{}", result.stderr);
    // The dump failed before its first row, so /proc/net answered in full.
    assert_eq!(result.code, ExitCode::Success);
    assert_eq!(rows(&result.stdout).len(), 11);
}

#[test]
fn an_interrupted_dump_warns_after_the_rows_and_exits_non_zero() {
    let interrupted = host().with_fault(Fault::Interrupted, Some(TCP));
    let result = run(&interrupted, &["-tan"]);
    assert_eq!(result.code, ExitCode::Incomplete);
    assert_eq!(result.stdout.lines().count(), 12, "header and every row still printed");
    assert!(result.stderr.contains("NLM_F_DUMP_INTR"), "{}", result.stderr);
    assert!(result.stderr.contains("missing or listed twice"), "{}", result.stderr);
}

struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    for format in ["ss", "json", "jsonl"] {
        let mut stderr = Vec::new();
        let args = ["portwatch", "-tan", "--format", format].map(Into::into);
        let code = portwatch::run(args, &host().os(), &mut ClosedPipe, &mut stderr);
        assert_eq!(code, ExitCode::Success, "{format}");
        assert!(stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&stderr));
    }
}

#[test]
fn interface_names_and_host_names_come_through_the_seam() {
    let result = run(&host(), &["-tln", "-4", "-r"]);
    assert!(result.stdout.contains("localhost%lo:5432"), "{}", result.stdout);
    let listed = rows(&run(&host(), &["-tln", "-4", "--json", "-r"]).stdout);
    assert_eq!(listed[1]["interface"], "lo");
    assert_eq!(listed[1]["local"]["host"], "localhost");
    assert!(listed[0]["local"]["host"].is_null(), "0.0.0.0 has no name");
}

#[test]
fn owners_scan_survives_exits_closes_and_permission_errors() {
    // Inode 10818 is the recorded 0.0.0.0:22 listener, 10826 its accepted peer.
    let system = host()
        .with_process(
            100,
            "sshd",
            &[(0, Some("/dev/null")), (3, Some("socket:[10818]")), (4, None)],
        )
        .with_unreadable_process(200, io::ErrorKind::PermissionDenied)
        .with_unreadable_process(300, io::ErrorKind::NotFound)
        .with_process(400, "sshd-session", &[(5, Some("socket:[10826]")), (6, Some("pipe:[1]"))]);
    let result = run(&system, &["-tanp", "--json"]);
    assert_eq!(result.code, ExitCode::Success, "{}", result.stderr);
    let listed = rows(&result.stdout);
    let owner = |port: u64, peer: u64| {
        let row = listed
            .iter()
            .find(|r| {
                r["local"]["port"] == port && r["peer"]["port"] == peer && r["family"] == "inet"
            })
            .unwrap();
        (row["processes"].clone(), row["owner_visible"].clone())
    };
    let (listener, visible) = owner(22, 0);
    assert_eq!(listener[0]["pid"], 100);
    assert_eq!(listener[0]["fd"], 3);
    assert_eq!(listener[0]["name"], "sshd");
    assert_eq!(listener[0]["argv"], serde_json::json!(["sshd", "--flag"]));
    assert_eq!(listener[0]["user"], Value::Null, "no status file: uid unknown");
    assert_eq!(visible, true);
    assert_eq!(owner(22, 41000).0[0]["pid"], 400);
    let (nobody, visible) = owner(41000, 22);
    assert_eq!(
        (nobody, visible),
        (serde_json::json!([]), Value::Bool(false)),
        "pid 200 may hold it"
    );
    let hints: Vec<&str> = result.stderr.lines().collect();
    assert_eq!(hints.len(), 1, "{}", result.stderr);
    assert!(hints[0].contains("the sockets of 1 process are hidden"), "{}", hints[0]);
}
