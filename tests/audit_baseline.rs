//! `portwatch baseline save` and `portwatch audit --baseline`, live in
//! network namespaces of the tests' own: new, gone, changed owner, changed
//! address, and a restart that is no change; the file read back by the
//! library's types; bad files refused with one line and exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{BIN, Netns, json_of, skip_unless_root};
use portwatch::audit::baseline::Baseline;
use portwatch::model::audit::AuditReport;
use serde_json::Value;

/// Listens on ADDR:PORT (TCP), says `ready`, and sleeps.
const LISTEN: &str = r#"use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 5, ReuseAddr => 1) or die "listen: $!"; $| = 1; print "ready\n"; sleep 600;"#;

const PERL: &str = "/usr/bin/perl";

/// A copy of perl under another name: another program (comm and binary).
fn other_program() -> &'static Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("pwother");
        std::fs::copy(PERL, &copy).unwrap();
        copy
    })
}

/// A listener held by `program` inside `netns`, ended on drop.
struct Server {
    child: Child,
}

impl Server {
    fn start(netns: &Netns, program: &Path, addr: &str, port: u16) -> Server {
        let mut command = netns.command(program.to_str().unwrap());
        command.args(["-e", LISTEN, addr, &port.to_string()]);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // A copy just written may be busy (ETXTBSY) while another test's
        // fork still holds its descriptor: try again.
        let mut child = None;
        for _ in 0..50 {
            match command.spawn() {
                Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                result => {
                    child = Some(result.unwrap());
                    break;
                }
            }
        }
        let mut child = child.expect("spawn the listener");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "{program:?} did not listen on {addr}:{port}");
        Server { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.end();
    }
}

fn baseline_file(netns: &Netns) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.baseline.json", netns.name))
}

fn save(netns: &Netns) -> PathBuf {
    let file = baseline_file(netns);
    let output = Command::new(BIN)
        .args(["baseline", "save", "-N", &netns.name])
        .arg(&file)
        .output()
        .unwrap();
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 3)),
        "baseline save exited {code:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    file
}

/// The audit's baseline findings, as JSON values.
fn baseline_findings(netns: &Netns, file: &Path) -> Vec<Value> {
    let output = Command::new(BIN)
        .args(["audit", "-N", &netns.name, "--json", "--fail-on", "never", "--baseline"])
        .arg(file)
        .output()
        .unwrap();
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 3)),
        "audit exited {code:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json_of(&output.stdout);
    let findings = report["findings"].as_array().unwrap().clone();
    findings.into_iter().filter(|f| f["rule"].as_str().unwrap().starts_with("baseline-")).collect()
}

fn port(finding: &Value) -> u64 {
    finding["listener"]["local"]["port"].as_u64().unwrap()
}

fn pids(finding: &Value) -> Vec<u64> {
    let processes = finding["listener"]["processes"].as_array().unwrap();
    processes.iter().map(|p| p["pid"].as_u64().unwrap()).collect()
}

fn summary(findings: &[Value]) -> Vec<(String, String, u64)> {
    let mut rows: Vec<(String, String, u64)> = findings
        .iter()
        .map(|f| {
            (f["rule"].as_str().unwrap().into(), f["severity"].as_str().unwrap().into(), port(f))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_new_listener_is_baseline_new_and_a_stopped_one_baseline_gone() {
    if skip_unless_root("a_new_listener_is_baseline_new_and_a_stopped_one_baseline_gone") {
        return;
    }
    let netns = Netns::new("bl-newgone");
    let _kept = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7001);
    let stopped = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7002);
    let stopped_pid = stopped.pid();
    let file = save(&netns);
    stopped.stop();
    let _new = Server::start(&netns, Path::new(PERL), "0.0.0.0", 7003);
    let findings = baseline_findings(&netns, &file);
    assert_eq!(
        summary(&findings),
        [
            ("baseline-gone".into(), "info".into(), 7002),
            ("baseline-new".into(), "medium".into(), 7003)
        ],
        "{findings:#?}"
    );
    let gone = findings.iter().find(|f| f["rule"] == "baseline-gone").unwrap();
    assert_eq!(
        pids(gone),
        [u64::from(stopped_pid)],
        "the gone finding shows the baseline's record"
    );
    assert!(gone["message"].as_str().unwrap().contains("is gone"), "{gone}");
    let new = findings.iter().find(|f| f["rule"] == "baseline-new").unwrap();
    let message = new["message"].as_str().unwrap();
    assert!(message.contains("tcp 0.0.0.0:7003") && message.contains("perl"), "{message}");
    assert!(new["remedy"].as_str().unwrap().contains("portwatch baseline save"), "{new}");
}

#[test]
fn the_same_port_held_by_another_program_is_a_changed_owner() {
    if skip_unless_root("the_same_port_held_by_another_program_is_a_changed_owner") {
        return;
    }
    let netns = Netns::new("bl-owner");
    let before = Server::start(&netns, Path::new(PERL), "0.0.0.0", 7001);
    let file = save(&netns);
    before.stop();
    let _after = Server::start(&netns, other_program(), "0.0.0.0", 7001);
    let findings = baseline_findings(&netns, &file);
    assert_eq!(
        summary(&findings),
        [("baseline-changed".into(), "medium".into(), 7001)],
        "{findings:#?}"
    );
    let message = findings[0]["message"].as_str().unwrap();
    assert!(message.contains("changed owner"), "{message}");
    assert!(message.contains("was perl") && message.contains("now pwother"), "{message}");
}

#[test]
fn the_same_program_moved_to_another_address_is_a_changed_address() {
    if skip_unless_root("the_same_program_moved_to_another_address_is_a_changed_address") {
        return;
    }
    let netns = Netns::new("bl-moved");
    let before = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7001);
    let file = save(&netns);
    before.stop();
    let _after = Server::start(&netns, Path::new(PERL), "0.0.0.0", 7001);
    let findings = baseline_findings(&netns, &file);
    assert_eq!(
        summary(&findings),
        [("baseline-changed".into(), "medium".into(), 7001)],
        "one changed finding, not a gone and a new: {findings:#?}"
    );
    let message = findings[0]["message"].as_str().unwrap();
    assert!(message.contains("from 127.0.0.1 to 0.0.0.0"), "{message}");
    assert_eq!(findings[0]["listener"]["local"]["addr"], "0.0.0.0", "the finding is about now");
}

#[test]
fn restarting_the_same_program_is_no_change() {
    if skip_unless_root("restarting_the_same_program_is_no_change") {
        return;
    }
    let netns = Netns::new("bl-restart");
    let before = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7001);
    let old_pid = before.pid();
    let file = save(&netns);
    before.stop();
    let after = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7001);
    assert_ne!(after.pid(), old_pid);
    let saved: Baseline = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let holder = &saved.listeners[0].socket.owners.as_ref().unwrap().processes[0];
    assert_eq!(holder.process.pid, old_pid, "the baseline holds the old process");
    let findings = baseline_findings(&netns, &file);
    assert!(findings.is_empty(), "a restart is no change: {findings:#?}");
}

#[test]
fn a_saved_baseline_reads_back_into_the_audits_records() {
    if skip_unless_root("a_saved_baseline_reads_back_into_the_audits_records") {
        return;
    }
    let netns = Netns::new("bl-roundtrip");
    let _tcp = Server::start(&netns, Path::new(PERL), "127.0.0.1", 7001);
    let _wide = Server::start(&netns, other_program(), "0.0.0.0", 7002);
    let file = save(&netns);
    let text = std::fs::read_to_string(&file).unwrap();
    let saved = Baseline::parse(&text).unwrap();
    assert_eq!(saved.portwatch_baseline, 1);
    assert_eq!(saved.scope, format!("netns {}", netns.name));
    assert_eq!(saved.listeners.len(), 2, "{text}");
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&saved).unwrap(), written, "nothing lost on the way back");
    let output = Command::new(BIN)
        .args(["audit", "-N", &netns.name, "--json", "--fail-on", "never"])
        .output()
        .unwrap();
    let report: AuditReport = serde_json::from_slice(&output.stdout).unwrap();
    // A baseline records listeners, not what the firewall says of them.
    let without_ids = |listeners: &[portwatch::model::audit::Listener]| {
        let mut listeners = listeners.to_vec();
        listeners.iter_mut().for_each(|listener| listener.exposure.firewall = None);
        listeners.sort_by_key(|l| l.socket.listener_key());
        listeners
    };
    assert_eq!(
        without_ids(&saved.listeners),
        without_ids(&report.listeners),
        "the audit's records"
    );
}

#[test]
fn a_bad_baseline_names_the_file_and_the_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("not-json.json", "{\"portwatch_baseline\": 1, \"host\": ", "not JSON"),
        ("other.json", "{\"hosts\": []}", "not a portwatch baseline"),
        ("version.json", "{\"portwatch_baseline\": 7}", "portwatch_baseline is 7"),
        (
            "listeners.json",
            "{\"portwatch_baseline\": 1, \"host\": \"h\", \"time\": \"t\", \"scope\": \"own\", \
             \"listeners\": [{\"netid\": \"tcp\"}]}",
            "not a valid baseline",
        ),
    ];
    for (name, text, problem) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let output = Command::new(BIN)
            .args(["audit", "--fail-on", "never", "--baseline"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{name} names the file: {stderr}");
        assert!(stderr.contains(problem), "{name}: {problem}: {stderr}");
        assert!(output.stdout.is_empty(), "{name}: no report");
    }
    let missing = dir.path().join("missing.json");
    let output = Command::new(BIN).args(["audit", "--baseline"]).arg(&missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read baseline") && stderr.contains("missing.json"), "{stderr}");
}
