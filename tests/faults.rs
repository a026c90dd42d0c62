//! Fault tests: processes exiting while /proc is scanned, a process whose
//! name is not UTF-8, a recording of more than 200,000 sockets, and /proc
//! mounted with hidepid. (A netlink socket that fails to open is simulated
//! through the seam: tests/seam.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, json_of, json_rows, skip_unless_root, stdout_of, text};

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
    // A sandbox may hide some process's descriptors even from root (its pid
    // 1 here): portwatch then says so, the same line every time.
    let hidden = hidden_from_us();
    let expected = match hidden {
        0 => String::new(),
        1 => "portwatch: the sockets of 1 process are hidden from this user; run as root, or \
              with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every owner\n"
            .to_owned(),
        n => format!(
            "portwatch: the sockets of {n} processes are hidden from this user; run as root, \
             or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, to see every owner\n"
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..20 {
        assert!(Instant::now() < deadline, "bounded in time");
        let output = Command::new(BIN).args(["-tlnp", "--json"]).output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            expected,
            "no errors while processes come and go"
        );
        let rows = json_of(&output.stdout);
        let rows = rows.as_array().unwrap();
        let ours = rows
            .iter()
            .find(|r| r["local"]["port"] == port && r["local"]["addr"] == "127.0.0.1")
            .expect("our listener is listed");
        assert_eq!(ours["processes"][0]["pid"], std::process::id(), "and attributed to us");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
}

/// A child process, killed and reaped when the test ends, pass or fail.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Any process on the host may have a name that is not UTF-8 (exec through
/// a symlink so named sets it): the host-wide views the other tests read,
/// through `common`'s helpers, must still let them find their own rows.
/// What portwatch prints for such a name is not checked here.
#[test]
fn a_process_named_in_invalid_utf8_breaks_no_host_wide_view() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(OsStr::from_bytes(b"pw-\xff\xfe-comm"));
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| Path::new(p).exists());
    std::os::unix::fs::symlink(sleep.expect("sleep(1)"), &link).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The listener becomes the child's stdin; the Command, and with it our
    // descriptor, is gone once it has spawned.
    let child = Command::new(&link)
        .arg0("sleep")
        .arg("600")
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .spawn()
        .unwrap();
    let child = Reaped(child);
    let pid = child.0.id();
    // Until the child has exec'd, it carries this test thread's name.
    let deadline = Instant::now() + Duration::from_secs(5);
    let comm = loop {
        let comm = std::fs::read(format!("/proc/{pid}/comm")).unwrap();
        if std::str::from_utf8(&comm).is_err() || Instant::now() > deadline {
            break comm;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(std::str::from_utf8(&comm).is_err(), "the comm is not UTF-8: {comm:?}");

    let rows = json_rows(&["-tanp", "--json"]);
    let ours = rows
        .iter()
        .find(|r| r["local"]["port"] == port && r["local"]["addr"] == "127.0.0.1")
        .expect("our listener in JSON");
    assert_eq!(ours["processes"][0]["pid"], pid);
    let ours_on = |table: &str| table.lines().any(|l| l.contains(&format!(":{port} ")));
    let table = stdout_of(&["-tanp"]);
    assert!(ours_on(&table), "our listener in the table: {table}");
    assert!(table.contains(&format!("pid={pid},")), "{table}");
    let lsof = stdout_of(&["-tan", "--format", "lsof"]);
    assert!(lsof.lines().any(|l| l.contains(&pid.to_string()) && l.contains(&format!(":{port} "))));
    let who = Command::new(BIN).args(["who", &format!(":{port}")]).output().unwrap();
    assert_eq!(who.status.code(), Some(0), "{}", text(&who.stderr));
    assert!(text(&who.stdout).lines().nth(1).is_some_and(|l| l.starts_with(&pid.to_string())));
    let who = Command::new(BIN).args(["who", &format!("pid={pid}"), "--json"]).output().unwrap();
    assert_eq!(who.status.code(), Some(0), "{}", text(&who.stderr));
    assert_eq!(json_of(&who.stdout)[0]["process"]["pid"], pid);
    // ss prints the name's bytes as they are, as tests comparing with it read.
    let ss = Command::new("ss").args(["-tanpH"]).output().unwrap();
    assert!(std::str::from_utf8(&ss.stdout).is_err(), "ss printed the name's bytes");
    assert!(ours_on(&text(&ss.stdout)), "our listener in ss's table");
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
    let rows = json_of(&output.stdout);
    let ours = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["local"]["port"] == port && r["local"]["addr"] == "127.0.0.1")
        .expect("the socket is still listed");
    assert_eq!(ours["processes"], serde_json::json!([]));
    assert_eq!(ours["owner_visible"], false);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("portwatch: /proc is mounted with hidepid"), "{stderr}");
}

/// Processes whose descriptors this test cannot read (none for root on an
/// ordinary host).
fn hidden_from_us() -> usize {
    let pids = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok());
    pids.filter(|pid| {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"));
        let denied = |error: &std::io::Error| error.kind() == std::io::ErrorKind::PermissionDenied;
        match fds {
            Err(error) => denied(&error),
            Ok(mut fds) => fds
                .next()
                .and_then(Result::ok)
                .is_some_and(|fd| std::fs::read_link(fd.path()).is_err_and(|error| denied(&error))),
        }
    })
    .count()
}
