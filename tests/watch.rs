//! `portwatch watch` in a namespace of the test's own: listeners opened and
//! closed by this process (TCP and UDP, IPv4 and IPv6) and by child
//! processes (a restart with a new pid), each event checked in order with
//! its pid and process name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::watch::{Watch, start_service, stop_service};
use common::{Netns, skip_unless_root};

/// The next event, as (event, netid, address, port, pid, process name).
fn next(watch: &Watch) -> (String, String, String, u64, u64, String) {
    let event = watch.next_event(Duration::from_secs(10));
    let socket = &event["socket"];
    let process = &socket["processes"][0];
    (
        event["event"].as_str().unwrap().to_owned(),
        socket["netid"].as_str().unwrap().to_owned(),
        socket["local"]["addr"].as_str().unwrap().to_owned(),
        socket["local"]["port"].as_u64().unwrap(),
        process["pid"].as_u64().unwrap_or(0),
        process["name"].as_str().unwrap_or("").to_owned(),
    )
}

/// watch at `--interval 0.1` for a minute at most.
fn start(netns: &Netns) -> Watch {
    Watch::start(netns, &["--interval", "0.1", "--duration", "60"])
}

fn own_name() -> String {
    std::fs::read_to_string("/proc/self/comm").unwrap().trim().to_owned()
}

fn event(
    kind: &str,
    netid: &str,
    addr: &str,
    port: u16,
    pid: u32,
) -> (String, String, String, u64, u64, String) {
    (kind.into(), netid.into(), addr.into(), port.into(), pid.into(), own_name())
}

#[test]
fn opens_and_closes_arrive_in_order_with_their_owner() {
    if skip_unless_root("opens_and_closes_arrive_in_order_with_their_owner") {
        return;
    }
    let netns = Netns::new("watch-events");
    let watch = Watch::start(&netns, &["--count", "8", "--interval", "0.1"]);
    let me = std::process::id();
    let tcp4 = netns.within(|| TcpListener::bind("0.0.0.0:18080").unwrap());
    assert_eq!(next(&watch), event("open", "tcp", "0.0.0.0", 18080, me));
    let udp6 = netns.within(|| UdpSocket::bind("[::]:15353").unwrap());
    assert_eq!(next(&watch), event("open", "udp", "::", 15353, me));
    drop(tcp4);
    assert_eq!(next(&watch), event("close", "tcp", "0.0.0.0", 18080, me));
    drop(udp6);
    assert_eq!(next(&watch), event("close", "udp", "::", 15353, me));
    let tcp6 = netns.within(|| TcpListener::bind("[::1]:18443").unwrap());
    assert_eq!(next(&watch), event("open", "tcp", "::1", 18443, me));
    let udp4 = netns.within(|| UdpSocket::bind("127.0.0.1:15354").unwrap());
    assert_eq!(next(&watch), event("open", "udp", "127.0.0.1", 15354, me));
    drop((tcp6, udp4));
    // One poll sees both go: in identity order, TCP before UDP.
    assert_eq!(next(&watch), event("close", "tcp", "::1", 18443, me));
    assert_eq!(next(&watch), event("close", "udp", "127.0.0.1", 15354, me));
    assert_eq!(watch.end().0, Some(0), "--count 8 ends watch after the eighth event");
}

/// The kernel announces a close (sock_diag's destroy groups): it is an
/// event at once, not at the next listing half a minute later.
#[test]
fn a_close_is_an_event_before_the_next_listing() {
    if skip_unless_root("a_close_is_an_event_before_the_next_listing") {
        return;
    }
    let netns = Netns::new("watch-announced");
    let before = netns.within(|| TcpListener::bind("0.0.0.0:18023").unwrap());
    let watch = Watch::start(&netns, &["--interval", "30", "--duration", "60"]);
    drop(before);
    let close = watch.next_event(Duration::from_secs(3));
    assert_eq!(close["event"], "close");
    assert_eq!(close["socket"]["local"]["port"], 18023);
    assert_eq!(close["socket"]["processes"][0]["pid"], std::process::id());
}

/// A script for --exec that writes its arguments and the PORTWATCH_*
/// variables (but the JSON) to the file named by its first argument.
fn recording_script(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("record-event");
    std::fs::write(
        &script,
        "#!/bin/sh\nout=$1; shift\n{ printf 'ARG=%s\\n' \"$@\"; env | grep '^PORTWATCH_' | grep -v '^PORTWATCH_JSON=' | sort; } > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

#[test]
fn audit_and_exec_see_a_redis_port_open_on_every_address() {
    if skip_unless_root("audit_and_exec_see_a_redis_port_open_on_every_address") {
        return;
    }
    let netns = Netns::new("watch-audit");
    let dir = tempfile::tempdir().unwrap();
    let script = recording_script(dir.path());
    let out = dir.path().join("event.env");
    // $HOME stays as written: no shell runs the command.
    let command = format!("{} {} '$HOME and words'", script.display(), out.display());
    let watch =
        Watch::start(&netns, &["--interval", "0.1", "--count", "1", "--audit", "--exec", &command]);
    let redis = netns.within(|| TcpListener::bind("0.0.0.0:6379").unwrap());
    let open = watch.next_event(Duration::from_secs(10));
    assert_eq!(open["event"], "open");
    let findings = open["findings"].as_array().expect("findings on the event");
    assert!(
        findings.iter().any(|f| f["rule"] == "exposed-datastore" && f["severity"] == "high"),
        "{findings:?}"
    );
    let (status, stderr) = watch.end();
    assert_eq!(status, Some(0), "{stderr}");
    drop(redis);
    let recorded = std::fs::read_to_string(&out).expect("the script ran before watch ended");
    let me = std::process::id();
    for expected in [
        "ARG=$HOME and words".to_owned(),
        "PORTWATCH_EVENT=open".to_owned(),
        "PORTWATCH_PROTO=tcp".to_owned(),
        "PORTWATCH_FAMILY=4".to_owned(),
        "PORTWATCH_ADDR=0.0.0.0".to_owned(),
        "PORTWATCH_PORT=6379".to_owned(),
        format!("PORTWATCH_PID={me}"),
        format!("PORTWATCH_COMM={}", own_name()),
        "PORTWATCH_SEVERITY=high".to_owned(),
    ] {
        assert!(recorded.lines().any(|line| line == expected), "{expected} in:\n{recorded}");
    }
    // The rules found, comma-separated: this test's binary may also be in
    // a temporary directory (a clone under /tmp), which is a finding too.
    let findings = recorded.lines().find_map(|line| line.strip_prefix("PORTWATCH_FINDINGS="));
    let rules: Vec<&str> = findings.expect("PORTWATCH_FINDINGS").split(',').collect();
    assert!(rules.contains(&"exposed-datastore"), "{rules:?}");
}

#[test]
fn a_failing_exec_is_reported_and_the_watch_goes_on() {
    if skip_unless_root("a_failing_exec_is_reported_and_the_watch_goes_on") {
        return;
    }
    let netns = Netns::new("watch-execfail");
    let watch =
        Watch::start(&netns, &["--interval", "0.1", "--count", "2", "--exec", "sh -c 'exit 3'"]);
    let first = netns.within(|| TcpListener::bind("127.0.0.1:18090").unwrap());
    assert_eq!(watch.next_event(Duration::from_secs(10))["event"], "open");
    drop(first);
    assert_eq!(watch.next_event(Duration::from_secs(10))["event"], "close");
    let (status, stderr) = watch.end();
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stderr.matches("--exec: sh failed (exit status: 3)").count(), 2, "{stderr}");
}

#[test]
fn a_listener_present_at_the_start_closes_with_its_owner() {
    if skip_unless_root("a_listener_present_at_the_start_closes_with_its_owner") {
        return;
    }
    let netns = Netns::new("watch-start");
    let before = netns.within(|| TcpListener::bind("0.0.0.0:18022").unwrap());
    let watch = start(&netns);
    drop(before);
    assert_eq!(next(&watch), event("close", "tcp", "0.0.0.0", 18022, std::process::id()));
}

#[test]
fn a_listener_that_lives_300_ms_is_seen_at_interval_0_1() {
    if skip_unless_root("a_listener_that_lives_300_ms_is_seen_at_interval_0_1") {
        return;
    }
    let netns = Netns::new("watch-brief");
    let watch = start(&netns);
    let me = std::process::id();
    let brief = netns.within(|| TcpListener::bind("0.0.0.0:18300").unwrap());
    std::thread::sleep(Duration::from_millis(300));
    drop(brief);
    assert_eq!(next(&watch), event("open", "tcp", "0.0.0.0", 18300, me));
    assert_eq!(next(&watch), event("close", "tcp", "0.0.0.0", 18300, me));
}

#[test]
fn serve_when_asked() {
    common::watch::serve_if_asked();
}

#[test]
fn a_restart_is_a_close_and_an_open_of_the_same_listener() {
    if skip_unless_root("a_restart_is_a_close_and_an_open_of_the_same_listener") {
        return;
    }
    let netns = Netns::new("watch-restart");
    let watch = start(&netns);
    let first = start_service(&netns, 18081);
    let (kind, netid, addr, port, first_pid, name) = next(&watch);
    assert_eq!(
        (kind.as_str(), netid.as_str(), addr.as_str(), port),
        ("open", "tcp", "0.0.0.0", 18081)
    );
    assert_eq!((first_pid, name.as_str()), (u64::from(first.id()), own_name().as_str()));
    stop_service(first);
    let second = start_service(&netns, 18081);
    let close = next(&watch);
    let open = next(&watch);
    assert_eq!((close.0.as_str(), close.3, close.4), ("close", 18081, first_pid));
    assert_eq!((open.0.as_str(), open.3, open.4), ("open", 18081, u64::from(second.id())));
    stop_service(second);
}
