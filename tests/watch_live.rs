//! `portwatch watch`'s full-screen table on a real terminal: tmux runs it
//! in a namespace of the test's own, on a server of the test's own (`-L`),
//! and the screen is read back with its escape sequences (`capture-pane
//! -e`) to see how rows are styled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Netns, skip_unless_root, skip_without_tool};

/// How long the screen may take to show a change: a poll in a debug build
/// on a loaded machine reads /proc for the new socket's owner.
const SCREEN_WAIT: Duration = Duration::from_secs(15);

/// `portwatch watch --interval 0.1` in a detached 120x30 tmux session,
/// under a shell that writes its exit status to a file (tmux itself may
/// see the pane close before it learns the status, and then never shows
/// it).
struct Pane {
    server: String,
    status_file: tempfile::NamedTempFile,
}

impl Pane {
    fn start(netns: &Netns, test: &str) -> Pane {
        let pane = Pane {
            server: format!("pw-{test}-{}", std::process::id()),
            status_file: tempfile::NamedTempFile::new().unwrap(),
        };
        let command = format!(
            "ip netns exec {} {} watch --interval 0.1; echo $? > {}",
            netns.name,
            common::BIN,
            pane.status_file.path().display()
        );
        // The pane is kept in the command that starts it, so no exit comes first.
        let size = ["-x", "120", "-y", "30"];
        let start = ["-f", "/dev/null", "new-session", "-d", "-s", "pw"];
        let keep = [";", "set-option", "-t", "pw", "remain-on-exit", "on"];
        pane.run(&[&start[..], &size, &[command.as_str()], &keep].concat());
        pane
    }

    /// portwatch's pid: the child of the pane's shell.
    fn portwatch_pid(&self) -> i32 {
        let shell = self.format("#{pane_pid}");
        let children = format!("/proc/{shell}/task/{shell}/children");
        let text = std::fs::read_to_string(children).expect("the pane's shell");
        text.split_whitespace().next().expect("portwatch under the shell").parse().unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let output =
            Command::new("tmux").args(["-L", &self.server]).args(args).output().expect("tmux");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "tmux {args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "pw"])
    }

    /// Waits for the screen to satisfy `ready`, at most [`SCREEN_WAIT`].
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} within {SCREEN_WAIT:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `keys` (tmux key names, or text with `-l`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "pw"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "pw", format]).trim().to_owned()
    }

    /// Waits for portwatch to end; its exit status.
    fn exit_status(&self) -> String {
        let status = || std::fs::read_to_string(self.status_file.path()).unwrap_or_default();
        self.wait_for("end of portwatch", |_| status().ends_with('\n'));
        status().trim().to_owned()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.server, "kill-server"]).status();
    }
}

/// The character attributes in force where `needle` starts on a screen
/// captured with `-e`, where each SGR sequence changes what the ones
/// before it set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Attributes {
    bold: bool,
    dim: bool,
    green: bool,
}

fn attributes_at(screen: &str, needle: &str) -> Attributes {
    let end = screen.find(needle).unwrap_or_else(|| panic!("no {needle:?} on\n{screen}"));
    let mut attributes = Attributes::default();
    let mut rest = &screen[..end];
    while let Some(start) = rest.find("\x1b[") {
        let sequence = &rest[start + 2..];
        let Some(last) = sequence.find(|c: char| c.is_ascii_alphabetic()) else { break };
        if sequence[last..].starts_with('m') {
            attributes.apply(&sequence[..last]);
        }
        rest = &sequence[last + 1..];
    }
    attributes
}

impl Attributes {
    fn apply(&mut self, parameters: &str) {
        let codes: Vec<&str> = parameters.split(';').collect();
        let mut index = 0;
        while index < codes.len() {
            match codes[index] {
                "" | "0" => *self = Attributes::default(),
                "1" => self.bold = true,
                "2" => self.dim = true,
                "22" => (self.bold, self.dim) = (false, false),
                "32" | "92" => self.green = true,
                "30" | "31" | "33" | "34" | "35" | "36" | "37" | "39" => self.green = false,
                "38" if codes.get(index + 1) == Some(&"5") => {
                    self.green = matches!(codes.get(index + 2), Some(&"2" | &"10"));
                    index += 2;
                }
                "38" if codes.get(index + 1) == Some(&"2") => {
                    self.green = false;
                    index += 4;
                }
                _ => {}
            }
            index += 1;
        }
    }
}

fn plain(screen: &str) -> String {
    let mut text = String::new();
    let mut rest = screen;
    while let Some(start) = rest.find("\x1b[") {
        text.push_str(&rest[..start]);
        let sequence = &rest[start + 2..];
        let last = sequence.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(sequence.len());
        rest = sequence.get(last + 1..).unwrap_or("");
    }
    text.push_str(rest);
    text
}

fn skip(test: &str) -> bool {
    skip_unless_root(test) || skip_without_tool("tmux", test)
}

#[test]
fn a_new_listener_is_highlighted_the_filter_narrows_and_q_restores_the_screen() {
    let test = "live-table";
    if skip(test) {
        return;
    }
    let netns = Netns::new(test);
    let pane = Pane::start(&netns, test);
    pane.wait_for("header", |screen| plain(screen).contains("portwatch watch |"));
    assert_eq!(pane.format("#{alternate_on}"), "1");
    let _http = netns.within(|| TcpListener::bind("0.0.0.0:18080").unwrap());
    let screen = pane.wait_for("row for :18080", |s| plain(s).contains("0.0.0.0:18080"));
    assert_eq!(
        attributes_at(&screen, "0.0.0.0:18080"),
        Attributes { bold: true, dim: false, green: true },
        "the new row is bold green:\n{screen}"
    );
    let _https = netns.within(|| TcpListener::bind("127.0.0.1:18443").unwrap());
    pane.wait_for("row for :18443", |s| plain(s).contains("127.0.0.1:18443"));
    pane.keys(&["/"]);
    pane.keys(&["-l", "18443"]);
    let screen = pane.wait_for("filtered rows", |s| !plain(s).contains("0.0.0.0:18080"));
    assert!(plain(&screen).contains("127.0.0.1:18443"), "{screen}");
    pane.keys(&["Enter"]);
    pane.keys(&["q"]);
    assert_eq!(pane.exit_status(), "0");
    assert_eq!(pane.format("#{alternate_on}"), "0", "the alternate screen is left");
}

#[test]
fn sigterm_ends_the_live_table_and_restores_the_screen() {
    let test = "live-sigterm";
    if skip(test) {
        return;
    }
    let netns = Netns::new(test);
    let pane = Pane::start(&netns, test);
    pane.wait_for("header", |screen| plain(screen).contains("portwatch watch |"));
    let pid = pane.portwatch_pid();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM)
        .expect("SIGTERM");
    assert_eq!(pane.exit_status(), "0");
    assert_eq!(pane.format("#{alternate_on}"), "0", "the alternate screen is left");
}
