//! Raw sockets (`-w`, `-A raw`), read from /proc as ss does on kernels
//! without raw_diag: the test opens its own, in a namespace of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::os::fd::OwnedFd;

use common::{Netns, skip_unless_root};
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
use serde_json::Value;

fn raw_sockets() -> Vec<OwnedFd> {
    let icmp =
        socket(AddressFamily::Inet, SockType::Raw, SockFlag::empty(), SockProtocol::Icmp).unwrap();
    let icmp6 =
        socket(AddressFamily::Inet6, SockType::Raw, SockFlag::empty(), SockProtocol::IcmpV6)
            .unwrap();
    vec![icmp, icmp6]
}

#[test]
fn raw_sockets_with_protocols_names_and_owners() {
    if skip_unless_root("raw_sockets_with_protocols_names_and_owners") {
        return;
    }
    let netns = Netns::new("raw");
    let _sockets = netns.within(raw_sockets);
    let run = |program: &str, args: &[&str]| {
        let output = netns.command(program).args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let words = |text: &str| -> Vec<Vec<String>> {
        text.lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
    };
    let ours = run(common::BIN, &["-wa"]);
    let theirs = run("ss", &["-wa"]);
    assert_eq!(words(&ours), words(&theirs), "portwatch -wa vs ss -wa:\n{ours}");

    let output = netns.command(common::BIN).args(["-wanp", "--json"]).output().unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_family = |family: &str| rows.iter().find(|r| r["family"] == family).unwrap();
    let (v4, v6) = (by_family("inet"), by_family("inet6"));
    assert_eq!((v4["netid"].as_str(), v4["local"]["port"].as_u64()), (Some("raw"), Some(1)));
    assert_eq!(v4["local"]["service"], "icmp");
    assert_eq!(v6["local"]["port"], 58);
    assert_eq!(v4["processes"][0]["pid"], std::process::id());
    let query = run(common::BIN, &["-A", "raw", "-anH"]);
    assert_eq!(query.lines().count(), 2);
    let mixed = run(common::BIN, &["-A", "inet", "-an"]);
    assert!(mixed.starts_with("Netid"), "{mixed}");
    let refused = netns.command(common::BIN).args(["-A", "packets"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "a word ss does not know either");
}
