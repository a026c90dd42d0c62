//! Inputs that must not hurt portwatch: mistyped commands, oversized filter
//! files, namespaces that are not there or not enterable, options that
//! record cannot keep, and UNIX sockets that have no port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use common::{BIN, Netns, portwatch, skip_unless_root};
use serde_json::Value;

fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("portwatch: "), "{stderr}");
    stderr
}

#[test]
fn a_mistyped_command_is_named_as_one_not_as_a_filter() {
    let output = portwatch().arg("lsit").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = one_error_line(&output);
    assert!(stderr.contains("unknown command 'lsit'; did you mean `list`?"), "{stderr}");
    assert!(!stderr.contains("filter"), "{stderr}");
    let output = portwatch().arg("frobnicate").output().unwrap();
    assert!(one_error_line(&output).contains("unknown command 'frobnicate'"));
    // State words and filters still start the free arguments.
    for args in [
        &["-tnH", "sport", "=", ":1"][..],
        &["-tnH", "state", "listening"],
        &["-tnH", "not", "sport", ":1"],
    ] {
        portwatch().args(args).assert().success();
    }
}

#[test]
fn a_filter_file_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.filter");
    let line = "sport = :1 or\n";
    let text = line.repeat((17 << 20) / line.len()) + "sport = :2\n";
    std::fs::write(&file, text).unwrap();
    let output = portwatch().args(["-tn", "-F", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = one_error_line(&output);
    assert!(stderr.contains("cannot read filter file") && stderr.contains("limit"), "{stderr}");
}

#[test]
fn namespace_errors_name_the_real_cause() {
    let output = portwatch().args(["-N", "/etc/passwd", "-tln"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = one_error_line(&output);
    assert!(stderr.contains("/etc/passwd is not a network namespace"), "{stderr}");
    assert!(!stderr.contains("root"), "EINVAL is not a permission problem: {stderr}");
    let output = portwatch().args(["-N", "pw-no-such-namespace", "-tln"]).output().unwrap();
    let stderr = one_error_line(&output);
    assert!(stderr.contains("no network namespace at /run/netns/pw-no-such-namespace"), "{stderr}");
}

#[test]
fn record_refuses_what_it_cannot_record_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.pwdump");
    let path = file.to_str().unwrap();
    for args in [
        &["record", path, "-O"][..],
        &["record", path, "--category", "well-known"],
        &["record", path, "-x"],
        &["-D", path, "-p"],
        &["-D", path, "--json"],
        &["record", path, "sport", "=", ":nonsense-port"],
    ] {
        let output = portwatch().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!file.exists(), "{args:?} left {path} behind");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file is left");
    // What it can record, it records: -m and -i ask the kernel for more.
    portwatch().args(["record", path, "-tmi"]).assert().success();
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
}

#[test]
fn who_port_zero_never_matches_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("s")).unwrap();
    let output = portwatch().args(["who", ":0", "--json"]).output().unwrap();
    let groups: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let unix = groups
        .iter()
        .flat_map(|group| group["sockets"].as_array().unwrap())
        .filter(|socket| socket["family"] == "unix")
        .count();
    assert_eq!(unix, 0, "a UNIX socket has no port 0: {groups:?}");
}

#[test]
fn every_namespace_without_root_lists_its_own_and_names_the_rest() {
    if skip_unless_root("every_namespace_without_root_lists_its_own_and_names_the_rest") {
        return;
    }
    let netns = Netns::new("unpriv");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("portwatch");
    std::fs::copy(BIN, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["--all-netns", "-tln", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "incomplete: {output:?}");
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        rows.iter().any(|row| row["local"]["port"] == port),
        "its own namespace is listed without root"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let line = stderr
        .lines()
        .find(|line| line.contains(&netns.name))
        .unwrap_or_else(|| panic!("{} is not named: {stderr}", netns.name));
    assert!(line.contains("was not listed") && line.contains("needs root"), "{line}");
}
