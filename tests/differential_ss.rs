//! portwatch against the real `ss` on a load of several hundred sockets in a
//! network namespace of the test's own, so nothing else interferes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream, UdpSocket};

use common::load::Load;
use common::{Netns, json_row_set, skip_unless_root, ss_rows};
use serde_json::Value;

/// Sockets in every state a test can hold steady: listeners (v4, v6-only,
/// dual-stack), established pairs (v4, v6, v4 through a dual-stack
/// listener), unaccepted connections, FIN-WAIT-2/CLOSE-WAIT pairs,
/// TIME-WAIT, and bound and connected UDP.
fn build_load() -> Load {
    let mut load = Load::default();
    let listen = |load: &mut Load, addr, count| -> Vec<SocketAddr> {
        (0..count).map(|_| load.listen(addr)).collect()
    };
    let v4 = listen(&mut load, "127.0.0.1:0", 20);
    let v6 = listen(&mut load, "[::1]:0", 10);
    let dual = listen(&mut load, "[::]:0", 5);
    let _idle = (listen(&mut load, "0.0.0.0:0", 5), listen(&mut load, "[::]:0", 5));
    for listener in v4.iter().chain(&v6) {
        load.connect_pairs(*listener, *listener, 5);
    }
    for listener in &dual {
        // Over IPv4 to a dual-stack listener: IPv4-mapped addresses.
        load.connect_pairs(SocketAddr::from(([127, 0, 0, 1], listener.port())), *listener, 5);
    }
    for listener in &v4[..10] {
        load.half_close_pairs(*listener, 2);
        load.time_wait(*listener, 2);
        // Connected but never accepted.
        load.streams.push(TcpStream::connect(listener).unwrap());
    }
    for addr in ["127.0.0.1:0", "[::1]:0", "0.0.0.0:0", "[::]:0"] {
        for _ in 0..10 {
            load.bind_udp(addr);
        }
    }
    let target = load.datagrams[0].local_addr().unwrap();
    for _ in 0..10 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(target).unwrap();
        load.datagrams.push(socket);
    }
    load.settle()
}

#[test]
fn rows_equal_ss_rows_in_a_namespace() {
    if skip_unless_root("rows_equal_ss_rows_in_a_namespace") {
        return;
    }
    let netns = Netns::new("diff");
    let load = netns.within(build_load);
    assert!(load.socket_count() > 400, "{} sockets", load.socket_count());

    let output = netns.command(common::BIN).args(["list", "-tuanHe", "--json"]).output().unwrap();
    common::assert_success(&output, &["list", "-tuanHe", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let ss = netns.command("ss").arg("-tuanHe").output().unwrap();
    assert!(ss.status.success());
    let ss_text = String::from_utf8(ss.stdout).unwrap();

    let ours = json_row_set(&rows);
    let theirs = ss_rows(&ss_text);
    assert_eq!(rows.len(), ss_text.lines().count(), "as many rows as ss");
    assert_eq!(ours.len(), rows.len(), "no row listed twice");
    let missing: BTreeSet<_> = theirs.difference(&ours).collect();
    let extra: BTreeSet<_> = ours.difference(&theirs).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:#?}\nextra {extra:#?}");

    let states: BTreeSet<&str> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
    let expected = ["close-wait", "closed", "established", "fin-wait-2", "listening", "time-wait"];
    assert_eq!(states, expected.into_iter().collect(), "the load covers these states");
    drop(load);
}

#[test]
fn tables_equal_ss_tables_in_a_namespace() {
    if skip_unless_root("tables_equal_ss_tables_in_a_namespace") {
        return;
    }
    let netns = Netns::new("table");
    let _load = netns.within(build_load);
    for args in [&["-tuan"][..], &["-tln"], &["-uan"], &["-tn", "state", "established"], &["-ta"]] {
        let ours = netns.command(common::BIN).args(args).output().unwrap();
        let theirs = netns.command("ss").args(args).output().unwrap();
        let words = |bytes: &[u8]| -> Vec<Vec<String>> {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .collect()
        };
        let ss_words = words(&theirs.stdout);
        assert_eq!(words(&ours.stdout), ss_words, "portwatch {args:?} vs ss {args:?}");
    }
}
