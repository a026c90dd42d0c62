//! Fault tests: processes exiting while /proc is scanned, a recording of
//! more than 200,000 sockets, and /proc mounted with hidepid. (A netlink
//! socket that fails to open is simulated through the seam: tests/seam.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, skip_unless_root};
use serde_json::Value;

#[test]
fn owners_survive_processes_exiting_during_the_scan() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = u64::from(listener.local_addr().unwrap().port());
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut spawned = 0;
            // Short-lived processes, forked and killed while portwatch reads /proc.
            while !stop.load(Ordering::Relaxed) && spawned < 2000 {
                let mut children: Vec<_> = (0..10)
                    .filter_map(|_| {
                        Command::new("sleep").arg("0.02").stdin(Stdio::null()).spawn().ok()
                    })
                    .collect();
                spawned += children.len();
                for child in children.iter_mut().step_by(2) {
                    let _ = child.kill();
                }
                for child in &mut children {
                    let _ = child.wait();
                }
            }
            spawned
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..20 {
        assert!(Instant::now() < deadline, "bounded in time");
        let output = Command::new(BIN).args(["-tlnp", "--json"]).output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "no errors while processes come and go"
        );
        let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        let ours =
            rows.iter().find(|r| r["local"]["port"] == port).expect("our listener is listed");
        assert_eq!(ours["processes"][0]["pid"], std::process::id(), "and attributed to us");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
}

/// One socket, repeated: a recording far larger than any test host's, with
/// the NLMSG_DONE that ends it.
fn huge_recording(dir: &std::path::Path, sockets: usize) -> std::path::PathBuf {
    let path = dir.join("huge.dump");
    std::fs::write(&path, common::repeated_socket_recording(sockets)).unwrap();
    path
}

#[test]
fn a_recording_of_more_than_200000_sockets_streams_through() {
    let dir = tempfile::tempdir().unwrap();
    let recording = huge_recording(dir.path(), 200_001);
    let mut child = Command::new(BIN)
        .args(["-tan", "--format", "jsonl", "--from", recording.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).count();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines, 200_001);
    let table =
        Command::new(BIN).args(["-tanH", "--from", recording.to_str().unwrap()]).output().unwrap();
    assert!(table.status.success());
    assert_eq!(table.stdout.iter().filter(|b| **b == b'\n').count(), 200_001);
}

#[test]
fn proc_mounted_with_hidepid_hides_owners_and_says_so() {
    if skip_unless_root("proc_mounted_with_hidepid_hides_owners_and_says_so") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = u64::from(listener.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("portwatch");
    std::fs::copy(BIN, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A private mount namespace with a /proc of its own: the host's /proc is untouched.
    let script = format!(
        "mount -t proc -o hidepid=2 proc /proc && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups {} -tlnp --json",
        copy.display()
    );
    let mut output = None;
    for _ in 0..50 {
        let attempt = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
        // A concurrent fork may still hold the fresh copy open for writing.
        let busy = String::from_utf8_lossy(&attempt.stderr).contains("Text file busy");
        if !busy {
            output = Some(attempt);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = output.expect("the copy stayed busy");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let ours =
        rows.iter().find(|r| r["local"]["port"] == port).expect("the socket is still listed");
    assert_eq!(ours["processes"], serde_json::json!([]));
    assert_eq!(ours["owner_visible"], false);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("portwatch: /proc is mounted with hidepid"), "{stderr}");
}
