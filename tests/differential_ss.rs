//! portwatch against the real `ss` on a load of several hundred sockets in a
//! network namespace of the test's own, so nothing else interferes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{Netns, json_row_set, skip_unless_root, ss_rows};
use serde_json::Value;

/// Sockets in every state a test can hold steady: listeners (v4, v6-only,
/// dual-stack), established pairs (v4, v6, v4 through a dual-stack
/// listener), unaccepted connections, FIN-WAIT-2/CLOSE-WAIT pairs,
/// TIME-WAIT, and bound and connected UDP.
#[derive(Default)]
struct Load {
    listeners: Vec<TcpListener>,
    streams: Vec<TcpStream>,
    datagrams: Vec<UdpSocket>,
}

impl Load {
    fn build() -> Load {
        let mut load = Load::default();
        let v4 = load.listen("127.0.0.1:0", 20);
        let v6 = load.listen("[::1]:0", 10);
        let dual = load.listen("[::]:0", 5);
        let _idle = (load.listen("0.0.0.0:0", 5), load.listen("[::]:0", 5));
        for target in [&v4, &v6, &dual] {
            for listener in target {
                load.connect_pairs(listener, 5);
            }
        }
        for listener in &v4[..10] {
            load.half_close_pairs(listener, 2);
            load.time_wait(listener, 2);
            // Connected but never accepted.
            load.streams.push(TcpStream::connect(listener).unwrap());
        }
        for addr in ["127.0.0.1:0", "[::1]:0", "0.0.0.0:0", "[::]:0"] {
            for _ in 0..10 {
                load.datagrams.push(UdpSocket::bind(addr).unwrap());
            }
        }
        for _ in 0..10 {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.connect(load.datagrams[0].local_addr().unwrap()).unwrap();
            load.datagrams.push(socket);
        }
        // Let FIN-WAIT and TIME-WAIT transitions settle before anyone looks.
        std::thread::sleep(Duration::from_millis(200));
        load
    }

    fn listen(&mut self, addr: &str, count: usize) -> Vec<SocketAddr> {
        (0..count)
            .map(|_| {
                let listener = TcpListener::bind(addr).unwrap();
                let local = listener.local_addr().unwrap();
                self.listeners.push(listener);
                local
            })
            .collect()
    }

    fn accept_from(&self, target: &SocketAddr) -> TcpStream {
        let listener = self.listeners.iter().find(|l| l.local_addr().unwrap() == *target).unwrap();
        listener.accept().unwrap().0
    }

    fn connect_pairs(&mut self, target: &SocketAddr, count: usize) {
        let connect_to = match target {
            // A dual-stack listener: connect over IPv4 for mapped addresses.
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], target.port()))
            }
            _ => *target,
        };
        for _ in 0..count {
            let mut client = TcpStream::connect(connect_to).unwrap();
            client.write_all(b"hello").unwrap();
            let server = self.accept_from(target);
            self.streams.extend([client, server]);
        }
    }

    fn half_close_pairs(&mut self, target: &SocketAddr, count: usize) {
        for _ in 0..count {
            let client = TcpStream::connect(target).unwrap();
            let server = self.accept_from(target);
            client.shutdown(Shutdown::Write).unwrap();
            self.streams.extend([client, server]);
        }
    }

    fn time_wait(&mut self, target: &SocketAddr, count: usize) {
        for _ in 0..count {
            let client = TcpStream::connect(target).unwrap();
            let server = self.accept_from(target);
            drop(client);
            std::thread::sleep(Duration::from_millis(5));
            drop(server);
        }
    }

    fn socket_count(&self) -> usize {
        self.listeners.len() + self.streams.len() + self.datagrams.len()
    }
}

#[test]
fn rows_equal_ss_rows_in_a_namespace() {
    if skip_unless_root("rows_equal_ss_rows_in_a_namespace") {
        return;
    }
    let netns = Netns::new("diff");
    let load = netns.within(Load::build);
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
    let _load = netns.within(Load::build);
    for args in [&["-tuan"][..], &["-tln"], &["-uan"], &["-tn", "state", "established"], &["-ta"]] {
        let ours = netns.command(common::BIN).args(args).output().unwrap();
        let theirs = netns.command("ss").args(args).output().unwrap();
        let words = |bytes: &[u8]| -> Vec<Vec<String>> {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(|l| l.split_whitespace().map(str::to_owned).collect())
                .collect()
        };
        let mut ss_words = words(&theirs.stdout);
        // ss always titles a Process column, empty without -p, and may glue
        // it to the title before ("Address:PortProcess").
        if let Some(header) = ss_words.first_mut() {
            let last = header.pop().unwrap_or_default();
            let kept = last.strip_suffix("Process").unwrap_or(&last);
            if !kept.is_empty() {
                header.push(kept.to_owned());
            }
        }
        assert_eq!(words(&ours.stdout), ss_words, "portwatch {args:?} vs ss {args:?}");
    }
}
