//! `portwatch watch --history FILE` and `portwatch history`, run as the
//! real binary in a network namespace of the test's own: events recorded
//! across a restart of the watch come back in order with their pids, and
//! `history` reads while a watch writes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::watch::{Watch, start_service, stop_service};
use common::{Netns, skip_unless_root};
use serde_json::Value;

/// `watch --interval 0.1 --history DB`, for a minute at most.
fn start_watch(netns: &Netns, db: &Path) -> Watch {
    let db = db.to_str().unwrap();
    Watch::start(
        netns,
        &["--interval", "0.1", "--count", "100", "--duration", "60", "--history", db],
    )
}

/// The next event printed, as (event, port, pid); the watch records a
/// poll's events before it prints them.
fn next(watch: &Watch) -> (String, u64, u64) {
    summary(&watch.next_event(Duration::from_secs(10)))
}

/// (event, port, pid of the first holder).
fn summary(event: &Value) -> (String, u64, u64) {
    let socket = &event["socket"];
    (
        event["event"].as_str().unwrap().to_owned(),
        socket["local"]["port"].as_u64().unwrap(),
        socket["processes"][0]["pid"].as_u64().unwrap_or(0),
    )
}

/// `portwatch history --json` with `args`, as (event, port, pid) and times.
fn history(db: &Path, args: &[&str]) -> (Vec<(String, u64, u64)>, Vec<String>) {
    let output = Command::new(common::BIN)
        .args(["history", "--json", "--file"])
        .arg(db)
        .args(args)
        .output()
        .expect("run portwatch history");
    common::assert_success(&output, args);
    let Value::Array(events) = common::json_of(&output.stdout) else { panic!("an array") };
    let times = events.iter().map(|event| event["time"].as_str().unwrap().to_owned()).collect();
    (events.iter().map(summary).collect(), times)
}

fn opened(port: u16, pid: u32) -> (String, u64, u64) {
    ("open".into(), port.into(), pid.into())
}

fn closed(port: u16, pid: u32) -> (String, u64, u64) {
    ("close".into(), port.into(), pid.into())
}

#[test]
fn serve_when_asked() {
    common::watch::serve_if_asked();
}

#[test]
fn events_recorded_across_a_restart_come_back_in_order_with_their_pids() {
    if skip_unless_root("events_recorded_across_a_restart_come_back_in_order_with_their_pids") {
        return;
    }
    let netns = Netns::new("history-restart");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let first_watch = start_watch(&netns, &db);
    let service = start_service(&netns, 18601);
    let first_pid = service.id();
    assert_eq!(next(&first_watch), opened(18601, first_pid));
    // Another port, which the TARGET below leaves out.
    let other = netns.within(|| TcpListener::bind("127.0.0.1:18602").unwrap());
    assert_eq!(next(&first_watch), opened(18602, std::process::id()));
    stop_service(service);
    assert_eq!(next(&first_watch), closed(18601, first_pid));
    drop(first_watch);

    let second_watch = start_watch(&netns, &db);
    let service = start_service(&netns, 18601);
    let second_pid = service.id();
    assert_eq!(next(&second_watch), opened(18601, second_pid));
    stop_service(service);
    assert_eq!(next(&second_watch), closed(18601, second_pid));
    drop(other);
    assert_eq!(next(&second_watch), closed(18602, std::process::id()));

    let (events, times) = history(&db, &[":18601"]);
    assert_eq!(
        events,
        [
            opened(18601, first_pid),
            closed(18601, first_pid),
            opened(18601, second_pid),
            closed(18601, second_pid),
        ]
    );
    assert!(times.is_sorted(), "{times:?}");
    let (all, _) = history(&db, &[]);
    assert_eq!(all.len(), 6, "{all:?}");
    let (by_pid, _) = history(&db, &[&format!("pid={second_pid}")]);
    assert_eq!(by_pid, [opened(18601, second_pid), closed(18601, second_pid)]);

    // The watch gone (no -wal, no -shm), a user who may read the file but
    // not write its directory still reads it.
    assert_eq!(second_watch.terminate().0, Some(0));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!dir.path().join("history.db-shm").exists(), "the writer tidied up");
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", common::BIN])
        .args(["history", "--json", "--file"])
        .arg(&db)
        .output()
        .expect("run setpriv");
    common::assert_success(&output, &["history as nobody"]);
    let Value::Array(seen) = common::json_of(&output.stdout) else { panic!("an array") };
    assert_eq!(seen.iter().map(summary).collect::<Vec<_>>(), all);
}

#[test]
fn history_reads_while_watch_writes() {
    if skip_unless_root("history_reads_while_watch_writes") {
        return;
    }
    let netns = Netns::new("history-concurrent");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let watch = start_watch(&netns, &db);
    let me = std::process::id();
    let mut listeners = Vec::new();
    for port in 18700..18710 {
        listeners.push(netns.within(move || TcpListener::bind(("0.0.0.0", port)).unwrap()));
        assert_eq!(next(&watch), opened(port, me));
        let (events, _) = history(&db, &["TCP"]);
        let ports: Vec<u64> = events.iter().map(|(_, port, _)| *port).collect();
        assert_eq!(ports, (18700..=u64::from(port)).collect::<Vec<_>>());
    }
    drop(listeners);
    for port in 18700..18710 {
        assert_eq!(next(&watch), closed(port, me));
    }
    let (events, _) = history(&db, &["--since", "1h"]);
    assert_eq!(events.len(), 20);
}

#[test]
fn a_missing_or_foreign_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let output =
        Command::new(common::BIN).args(["history", "--file"]).arg(&missing).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("portwatch: cannot read history ") && stderr.contains("missing.db"));
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "hello\n".repeat(100)).unwrap();
    let output =
        Command::new(common::BIN).args(["history", "--file"]).arg(&foreign).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("notes.txt is not a portwatch history"), "{stderr}");
}

#[test]
fn the_example_watch_unit_verifies() {
    if common::skip_without_tool("systemd-analyze", "the_example_watch_unit_verifies") {
        return;
    }
    let unit =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/portwatch-watch.service");
    let text = std::fs::read_to_string(unit).unwrap();
    let command =
        "ExecStart=/usr/local/bin/portwatch watch --history /var/lib/portwatch/history.db";
    assert!(text.contains(command) && text.contains("StateDirectory=portwatch"));
    // systemd-analyze checks that the command exists: this build stands in.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("portwatch-watch.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/portwatch", common::BIN)).unwrap();
    let output = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&copy).output();
    let output = output.unwrap();
    // Unknown keys are only warnings to systemd: any output is a failure.
    let said = common::text(&[output.stdout, output.stderr].concat());
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}
