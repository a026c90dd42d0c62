//! The manual page and the shell completions, generated from the clap
//! definition: they render, load, and name every subcommand.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::stdout_of;

const SUBCOMMANDS: [&str; 5] = ["list", "record", "who", "completions", "man"];

#[test]
fn the_man_page_renders_and_names_every_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH portwatch"),
        "roff: {}",
        &page[..200.min(page.len())]
    );
    let mut man = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("man(1) is installed by scripts/test");
    man.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let rendered = man.wait_with_output().unwrap();
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let text = String::from_utf8_lossy(&rendered.stdout);
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "SUBCOMMANDS", "EXAMPLES", "EXIT STATUS"] {
        assert!(text.contains(section), "{section} missing");
    }
    for subcommand in SUBCOMMANDS {
        assert!(
            text.contains(&format!("portwatch-{subcommand}")),
            "{subcommand} missing from the man page"
        );
    }
}

#[test]
fn bash_completion_loads() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portwatch.bash");
    std::fs::write(&file, &script).unwrap();
    let output = Command::new("bash")
        .args(["-c", &format!("source {} && complete -p portwatch", file.display())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let complete = String::from_utf8(output.stdout).unwrap();
    assert!(
        complete.starts_with("complete ") && complete.trim_end().ends_with("portwatch"),
        "{complete}"
    );
    for subcommand in SUBCOMMANDS {
        assert!(script.contains(subcommand), "{subcommand} missing from the bash completion");
    }
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for subcommand in SUBCOMMANDS {
            assert!(
                script.contains(subcommand),
                "{subcommand} missing from the {shell} completion"
            );
        }
    }
    common::portwatch().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    for subcommand in SUBCOMMANDS {
        let help = stdout_of(&[subcommand, "--help"]);
        assert!(help.contains("Example"), "portwatch {subcommand} --help has no examples");
    }
    assert!(stdout_of(&["--help"]).contains("Exit status: 0 success"));
}
