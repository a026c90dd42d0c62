//! Whatever the filter words, portwatch answers with rows or a one-line
//! error: the parser, the bytecode compiler and the evaluator never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::net::IpAddr;

use portwatch::filter::parse;
use portwatch::filter::{Extras, bytecode};
use portwatch::fuzzing::Offline;
use portwatch::model::{InetEnd, InetSocket, IpFamily, Socket, SocketState, Transport};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    let words = [
        "sport",
        "dport",
        "src",
        "dst",
        "dev",
        "fwmark",
        "cgroup",
        "autobound",
        "and",
        "&",
        "&&",
        "or",
        "|",
        "||",
        "not",
        "!",
        "(",
        ")",
        "=",
        "==",
        "eq",
        "!=",
        "ne",
        "neq",
        "<",
        "lt",
        "<=",
        "le",
        "leq",
        ">",
        "gt",
        ">=",
        "ge",
        "geq",
        ":22",
        "22",
        ":ssh",
        ":domain",
        ":odd",
        "*",
        "*:22",
        "127.0.0.1",
        "10.0.0.0/8",
        "193.233.7/24",
        "[::1]",
        "[::1]:22",
        "[fe80::/10]",
        "::1",
        "lo",
        "0x10/0xff",
        "/system.slice",
        "localhost",
        "",
        "(sport",
        ":80)",
        "99999",
        "1.2.3.4.5",
        "[",
        "]",
        ":",
    ];
    prop_oneof![proptest::sample::select(words.to_vec()).prop_map(str::to_owned), "[ -~]{0,12}",]
}

fn socket(local_port: u16, peer_port: u16, v6: bool) -> Socket {
    let (local, peer): (IpAddr, IpAddr) = if v6 {
        ("::ffff:10.0.0.1".parse().unwrap(), "::1".parse().unwrap())
    } else {
        ("10.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap())
    };
    let family = if v6 { IpFamily::Inet6 } else { IpFamily::Inet };
    Socket::Inet(InetSocket {
        local: InetEnd::new(local, local_port),
        peer: InetEnd::new(peer, peer_port),
        uid: Some(0),
        inode: Some(1),
        cookie: Some(1),
        interface_index: Some(1),
        mark: Some(0x10),
        cgroup_id: Some(42),
        v6only: Some(false),
        ..InetSocket::new(Transport::Tcp, family, SocketState::Established)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_token_list_parses_or_errors(tokens in proptest::collection::vec(token(), 0..12)) {
        let tokens = parse::tokenize(&tokens);
        match parse::parse(&tokens, &Offline) {
            Ok(Some(parsed)) => {
                let _ = bytecode::compile(&parsed.expr);
                let extras = Extras { ephemeral_ports: (32768, 60999) };
                for v6 in [false, true] {
                    let _ = parsed.expr.matches(&socket(22, 40000, v6), &extras);
                }
            }
            Ok(None) => prop_assert!(tokens.is_empty()),
            Err(error) => {
                let message = error.to_string();
                prop_assert!(!message.contains('\n'), "one line: {message}");
                prop_assert!(error.position >= 1 && error.position <= tokens.len() + 1);
            }
        }
    }
}
