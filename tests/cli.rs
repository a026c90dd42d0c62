//! The command line's edges: errors name the problem on their first line
//! and exit 2; `| head` ends quietly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{portwatch, shared_file};
use predicates::prelude::*;

fn first_line_contains(text: &'static str) -> impl Predicate<str> {
    predicate::function(move |stderr: &str| stderr.lines().next().unwrap_or("").contains(text))
}

#[test]
fn unknown_flag_is_named_on_the_first_line() {
    portwatch()
        .arg("--bogus")
        .assert()
        .code(2)
        .stdout("")
        .stderr(first_line_contains("unexpected argument '--bogus'"));
    portwatch().arg("-tuy").assert().code(2).stderr(first_line_contains("'-y'"));
}

#[test]
fn unknown_state_word_is_named_on_the_first_line() {
    portwatch()
        .args(["-t", "state", "listen"])
        .assert()
        .code(2)
        .stderr(first_line_contains("unknown state 'listen'"));
    portwatch()
        .args(["list", "exclude", "nope"])
        .assert()
        .code(2)
        .stderr(first_line_contains("unknown state 'nope'"));
    portwatch().args(["-t", "state"]).assert().code(2).stderr(first_line_contains("'state' needs"));
    portwatch()
        .args(["-t", "dport", "="])
        .assert()
        .code(2)
        .stderr(first_line_contains("filter: expected a port after 'dport =' at token 3"));
}

#[test]
fn conflicting_formats_exit_2() {
    portwatch()
        .args(["--json", "--format", "jsonl"])
        .assert()
        .code(2)
        .stderr(first_line_contains("cannot be used with"));
    portwatch()
        .args(["--format", "xml"])
        .assert()
        .code(2)
        .stderr(first_line_contains("invalid value 'xml'"));
    portwatch().args(["-f", "unix6"]).assert().code(2).stderr(first_line_contains("'unix6'"));
}

#[test]
fn list_is_the_default_command() {
    let Some(dump) = shared_file("interop/ss1.dump", "list_is_the_default_command") else { return };
    let dump = dump.to_str().unwrap();
    let bare = portwatch().args(["-tanH", "--from", dump]).output().unwrap();
    let list = portwatch().args(["list", "-tanH", "--from", dump]).output().unwrap();
    assert!(bare.status.success());
    assert_eq!(bare.stdout, list.stdout);
    assert_eq!(String::from_utf8(bare.stdout).unwrap().lines().count(), 7);
}

#[test]
fn no_matching_rows_is_success() {
    let Some(dump) = shared_file("interop/ss1.dump", "no_matching_rows_is_success") else { return };
    let dump = dump.to_str().unwrap();
    portwatch().args(["-uH", "--from", dump]).assert().success().stdout("");
    portwatch().args(["-u", "--from", dump, "--json"]).assert().success().stdout("[]\n");
    portwatch().args(["-u", "--from", dump, "--format", "jsonl"]).assert().success().stdout("");
}

#[test]
fn help_and_version_go_to_stdout() {
    portwatch().arg("--help").assert().success().stdout(predicate::str::contains("state"));
    portwatch().arg("-V").assert().success().stdout(predicate::str::contains("portwatch"));
}

/// A recording of one socket repeated: enough rows that the output
/// outgrows a pipe's buffer.
fn big_recording(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("big.dump");
    std::fs::write(&path, common::repeated_socket_recording(20_000)).unwrap();
    path
}

#[test]
fn piping_into_head_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let recording = big_recording(dir.path());
    for format in ["ss", "json", "jsonl"] {
        let mut child = Command::new(common::BIN)
            .args(["-ta", "--format", format, "--from", recording.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{format}: {}", output.status);
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{format}");
    }
    let shell = Command::new("sh")
        .arg("-c")
        .arg(format!("{} -ta --from {} | head -1", common::BIN, recording.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stderr), "");
    assert_eq!(String::from_utf8_lossy(&shell.stdout).lines().count(), 1);
}

#[test]
fn the_later_of_l_and_a_wins_as_in_ss() {
    let Some(dump) = shared_file("interop/ss1.dump", "the_later_of_l_and_a_wins_as_in_ss") else {
        return;
    };
    let dump = dump.to_str().unwrap();
    let rows = |flags: &str| {
        let output = portwatch().args([flags, "--from", dump]).output().unwrap();
        String::from_utf8(output.stdout).unwrap().lines().count()
    };
    assert_eq!(rows("-tlaH"), 7);
    assert_eq!(rows("-talH"), 2);
}

#[test]
fn a_filter_file_with_comments() {
    portwatch()
        .args(["-t", "-F", "/nonexistent/filter"])
        .assert()
        .code(2)
        .stderr(first_line_contains("cannot read filter file /nonexistent/filter"));
    let Some(dump) = shared_file("interop/ss1.dump", "a_filter_file_with_comments") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("filter");
    std::fs::write(&file, "# who talks to ssh\ndport = 22 # from anywhere\n\nor sport = 36266\n")
        .unwrap();
    let output = portwatch()
        .args(["-Htna", "--from", dump.to_str().unwrap(), "-F", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap().lines().count(), 2);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_without_no_color() {
    portwatch()
        .args(["--color", "sometimes"])
        .assert()
        .code(2)
        .stderr(first_line_contains("portwatch: error"));
    let Some(dump) =
        shared_file("interop/ss1.dump", "colour_only_when_asked_or_on_a_terminal_without_no_color")
    else {
        return;
    };
    let dump = dump.to_str().unwrap();
    let run =
        |args: &[&str]| String::from_utf8(portwatch().args(args).output().unwrap().stdout).unwrap();
    assert!(run(&["-tan", "--from", dump, "--color", "always"]).contains("\x1b[32mLISTEN\x1b[0m"));
    assert!(!run(&["-tan", "--from", dump, "--color", "never"]).contains('\x1b'));
    assert!(!run(&["-tan", "--from", dump]).contains('\x1b'), "a pipe is no terminal");
    let on_a_terminal = |no_color: Option<&str>| {
        let mut command = Command::new("script");
        command.args(["-qc", &format!("{} -tan --from {dump}", common::BIN), "/dev/null"]);
        command.env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        String::from_utf8(command.output().expect("script(1) from util-linux").stdout).unwrap()
    };
    assert!(on_a_terminal(None).contains("\x1b[32mLISTEN"));
    assert!(!on_a_terminal(Some("1")).contains('\x1b'), "NO_COLOR turns colour off");
}

#[test]
fn a_bad_why_target_exits_2_with_one_line() {
    for target in ["x", "0", "22/icmp", "300.1.1.1:22", "70000"] {
        let output = common::portwatch().args(["audit", "--why", target]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{target}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("portwatch: --why: '"), "{stderr}");
    }
}
