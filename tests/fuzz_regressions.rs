//! Every input the fuzzers (fuzz/) ever crashed on, kept in fuzz/regressions/
//! and replayed through the same entry points: none may panic again.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    files("fuzz/regressions", target)
}

fn files(under: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(under).join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap_or_default(),
            )
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn replay_regressions() {
    for (name, bytes) in inputs("replay") {
        eprintln!("replay {name}");
        portwatch::fuzzing::replay(&bytes);
    }
}

#[test]
fn filter_regressions() {
    for (name, bytes) in inputs("filter") {
        eprintln!("filter {name}");
        portwatch::fuzzing::filter(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn proc_text_regressions() {
    for (name, bytes) in inputs("proc_text") {
        eprintln!("proc_text {name}");
        portwatch::fuzzing::proc_text(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn firewall_regressions() {
    for (name, bytes) in inputs("firewall") {
        eprintln!("firewall {name}");
        portwatch::fuzzing::firewall(&String::from_utf8_lossy(&bytes));
    }
}

/// Short of a fuzzer run: every prefix of the sock_diag target's seeds
/// (well-formed replies of each family), and their bytes flipped one at a
/// time, through every decoder.
#[test]
fn sock_diag_survives_cut_and_flipped_replies() {
    for (_, seed) in files("fuzz/seeds", "sock_diag") {
        for pick in 0..=255u8 {
            let mut bytes = seed.clone();
            bytes[0] = pick;
            for len in 0..bytes.len() {
                portwatch::fuzzing::sock_diag(&bytes[..len]);
            }
        }
        for at in 1..seed.len() {
            let mut flipped = seed.clone();
            flipped[at] ^= 0xff;
            portwatch::fuzzing::sock_diag(&flipped);
        }
    }
}
