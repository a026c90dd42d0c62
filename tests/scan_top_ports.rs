//! The shipped top ports against the installed nmap's own selection: nmap's
//! XML output names the ports a `--top-ports N` scan covers in its scaninfo
//! element. Scans loopback only. Without nmap the test says why and passes,
//! except under CI (which installs nmap), where it fails.

use std::collections::BTreeSet;
use std::process::Command;

use portwatch::scan::ports::{parse_ports, top_ports};

/// The ports nmap selects for `--top-ports count`, or None if nmap is absent.
fn nmap_top_ports(count: usize) -> Option<BTreeSet<u16>> {
    let output = match Command::new("nmap")
        .args(["-sT", "--top-ports", &count.to_string(), "-oX", "-"])
        .args(["127.0.0.1", "--max-retries", "0", "-T5"])
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("running nmap: {error}"),
    };
    assert!(output.status.success(), "nmap failed: {}", String::from_utf8_lossy(&output.stderr));
    let xml = String::from_utf8_lossy(&output.stdout);
    let scaninfo = xml
        .lines()
        .find(|line| line.trim_start().starts_with("<scaninfo "))
        .unwrap_or_else(|| panic!("no scaninfo element in nmap's XML:\n{xml}"));
    // `numservices="1000"` also ends in `services="`: the space tells them apart.
    let services = scaninfo
        .split_once(" services=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(services, _)| services)
        .unwrap_or_else(|| panic!("no services attribute in {scaninfo}"));
    // nmap writes them in its own -p syntax, which parse_ports reads.
    let ports = parse_ports(services)
        .unwrap_or_else(|error| panic!("nmap's services {services:?}: {error}"));
    Some(ports.into_iter().collect())
}

fn skip_without_nmap() {
    let reason = "nmap is not on PATH: the shipped top ports were not compared with nmap's";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{reason} (CI installs nmap, so this fails there)"
    );
    eprintln!("skipped: {reason}");
}

fn assert_same_set_as_nmap(count: usize) {
    let Some(nmap) = nmap_top_ports(count) else {
        skip_without_nmap();
        return;
    };
    let shipped: BTreeSet<u16> = top_ports(count)
        .unwrap_or_else(|error| panic!("top_ports({count}): {error}"))
        .into_iter()
        .collect();
    let only_shipped: Vec<_> = shipped.difference(&nmap).collect();
    let only_nmap: Vec<_> = nmap.difference(&shipped).collect();
    assert!(
        only_shipped.is_empty() && only_nmap.is_empty(),
        "top {count}: only in the shipped list {only_shipped:?}, only in nmap's {only_nmap:?}"
    );
}

#[test]
fn top_1000_is_nmaps_default_selection() {
    assert_same_set_as_nmap(1000);
}

#[test]
fn top_100_is_nmaps_fast_selection() {
    assert_same_set_as_nmap(100);
}
