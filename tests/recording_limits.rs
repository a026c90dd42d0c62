//! `--from` at its limits: memory stays flat however large the recording,
//! from a file or a pipe; hostile input (endless zeros, endless text,
//! gigabytes of garbage) ends at once with one line and exit 2, within an
//! address space far smaller than what buffering it would take; an empty
//! recording is an error, not an empty listing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, fixture, portwatch, text};
use predicates::str::contains;

/// One recording of the fixture host: its UDP and TCP dumps, IPv4 and IPv6,
/// each behind portwatch's header, with one socket on port 5432.
fn fixture_recording() -> Vec<u8> {
    std::fs::read(fixture("netns-basic/portwatch.pwdump")).unwrap()
}

/// Every socket is decoded, one per copy of the fixture is printed: the
/// rows prove every dump was read, without the cost of printing them all.
const ONE_ROW_PER_COPY: [&str; 4] = ["-tanH", "sport", "=", ":5432"];

/// The copies of the fixture that make a recording of 64 MiB.
fn copies_for_64_mib() -> usize {
    (64 << 20) / fixture_recording().len()
}

/// Under an address space of 32 MiB, a 64 MiB recording could never be
/// held whole: it replays only if it is read as a stream. (A limit on
/// virtual memory, unlike a measure of resident memory, needs no tool and
/// no timing: holding the file fails at once, at any speed.)
#[test]
fn a_recording_twice_the_address_space_replays_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.pwdump");
    let copies = copies_for_64_mib();
    std::fs::write(&path, fixture_recording().repeat(copies)).unwrap();
    let script = format!(
        "ulimit -v {}; exec \"$0\" --from '{}' {}",
        32 << 10,
        path.display(),
        ONE_ROW_PER_COPY.join(" ")
    );
    let output = Command::new("bash").args(["-c", &script, BIN]).output().unwrap();
    assert!(output.status.success(), "{}: {}", output.status, text(&output.stderr));
    assert_eq!(text(&output.stdout).lines().count(), copies);
}

/// The kernel's record of the most memory a process has had resident.
fn peak_resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 64 MiB through a pipe: once it is all written, and portwatch waits for
/// more, the most memory it ever had resident is read from /proc. It must
/// stay far below the size of what went through.
#[test]
fn a_recording_streamed_through_a_pipe_keeps_memory_flat() {
    let copies = copies_for_64_mib();
    let mut child = Command::new(BIN)
        .args(["--from", "-"])
        .args(ONE_ROW_PER_COPY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let rows = std::thread::spawn(move || stdout.lines().map_while(Result::ok).count());
    let mut stdin = child.stdin.take().unwrap();
    let chunk = fixture_recording().repeat(512);
    for _ in 0..copies / 512 {
        stdin.write_all(&chunk).unwrap();
    }
    let rest = copies % 512;
    stdin.write_all(&fixture_recording().repeat(rest)).unwrap();
    stdin.flush().unwrap();
    let peak_kib = peak_resident_kib(child.id());
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_eq!(rows.join().unwrap(), copies);
    assert!(peak_kib < 32 << 10, "{peak_kib} KiB resident for 64 MiB of input");
}

/// More than the slowest machine should need for any of these inputs: the
/// failures it catches read until memory runs out, or forever.
const QUICKLY: Duration = Duration::from_secs(3);

/// Runs `script` in bash, `$0` being portwatch, under an address space of
/// about 2 GB and a hard stop after 20 seconds.
fn run_hostile(script: &str) -> (Output, Duration) {
    let script = format!("ulimit -v 2000000; {script}");
    let started = Instant::now();
    let output = Command::new("bash").args(["-c", &script, BIN]).output().unwrap();
    (output, started.elapsed())
}

/// Exit 2, quickly, with one line on stderr that says portwatch and gives
/// `reason`; no panic. (Within the limit, a reader that buffers would also
/// end with one line, "out of memory", after reading gigabytes: the reason
/// tells them apart.)
fn assert_refused_quickly(script: &str, reason: &str) {
    let (output, elapsed) = run_hostile(script);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{script}: {}: {stderr}", output.status);
    assert!(elapsed < QUICKLY, "{script}: took {elapsed:?}");
    assert_eq!(stderr.lines().count(), 1, "{script}: {stderr}");
    assert!(stderr.starts_with("portwatch: ") && stderr.ends_with('\n'), "{script}: {stderr}");
    assert!(!stderr.contains("panicked"), "{script}: {stderr}");
    assert!(stderr.contains(reason), "{script}: {stderr}");
}

#[test]
fn endless_zeros_end_at_once() {
    let reason = "the message at byte 0 claims 0 bytes, less than its own 16-byte header";
    assert_refused_quickly("exec timeout -s KILL 20 \"$0\" --from /dev/zero", reason);
    assert_refused_quickly("timeout -s KILL 20 \"$0\" --from - < /dev/zero", reason);
}

#[test]
fn endless_text_on_standard_input_ends_at_once() {
    assert_refused_quickly(
        "yes | timeout -s KILL 20 \"$0\" --from -",
        "cannot replay standard input: the message at byte 0 claims 175704697 bytes",
    );
    // A valid TCP/IPv4 dump header, then zeros without end.
    let header = r"printf 'PWSDIAG\001\006\002\000\000\000\000\000\000'";
    assert_refused_quickly(
        &format!("{{ {header}; cat /dev/zero; }} | timeout -s KILL 20 \"$0\" --from - -tuan"),
        "the message at byte 16 claims 0 bytes",
    );
}

/// Random bytes, deterministic: xorshift64.
fn garbage(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_ne_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// 1.5 GiB: 1 MiB of garbage, then a hole, which costs no disk and reads
/// as zeros. It fits the address space, so only the reason and the time
/// tell a reader that holds it all (seconds, and 1.5 GiB resident) from
/// one that looks at its first message.
#[test]
fn a_huge_file_of_garbage_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage");
    let file = std::fs::File::create(&path).unwrap();
    (&file).write_all(&garbage(1 << 20)).unwrap();
    file.set_len(3 << 29).unwrap();
    assert_refused_quickly(
        &format!("exec timeout -s KILL 20 \"$0\" --from '{}'", path.display()),
        "the message at byte 0 claims 200494509 bytes, more than any sock_diag message",
    );
}

/// Right after a valid dump: a length no message can have is named with
/// its offset, before anything is buffered for it.
#[test]
fn an_impossible_length_after_a_valid_dump_is_named_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.pwdump");
    let mut bytes = fixture_recording();
    let at = bytes.len();
    bytes.extend_from_slice(&u32::MAX.to_ne_bytes());
    bytes.extend_from_slice(&garbage(1 << 20));
    std::fs::write(&path, bytes).unwrap();
    portwatch().args(["--from", path.to_str().unwrap()]).assert().code(2).stderr(contains(
        format!(
            "the message at byte {at} claims 4294967295 bytes, more than any sock_diag message"
        ),
    ));
}

#[test]
fn an_empty_recording_is_an_error_not_an_empty_listing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pwdump");
    std::fs::write(&empty, b"").unwrap();
    for from in [empty.to_str().unwrap(), "/dev/null"] {
        portwatch().args(["-tuan", "--from", from]).assert().code(2).stdout("").stderr(format!(
            "portwatch: cannot replay {from}: it holds no sock_diag dump (0 bytes)\n"
        ));
    }
    portwatch()
        .args(["--from", "-", "--json"])
        .write_stdin("")
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("cannot replay standard input: it holds no sock_diag dump"));
}

#[test]
fn standard_input_replays_like_the_file() {
    let path = fixture("netns-basic/portwatch.pwdump");
    let from_file = portwatch().args(["-tuan", "--json", "--from"]).arg(&path).output().unwrap();
    assert!(from_file.status.success());
    portwatch()
        .args(["-tuan", "--json", "--from", "-"])
        .write_stdin(fixture_recording())
        .assert()
        .success()
        .stdout(text(&from_file.stdout));
    let bytes = fixture_recording();
    portwatch()
        .args(["--from", "-"])
        .write_stdin(&bytes[..bytes.len() - 30])
        .assert()
        .code(2)
        .stderr(contains("cannot replay standard input: the recording ends inside the message"));
}
