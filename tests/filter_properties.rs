//! Whatever the filter words, portwatch answers with rows or a one-line
//! error: the parser, the bytecode compiler and the evaluator never panic,
//! however deep or long the expression; what parses stays within the depth
//! limit, and chains of `and`/`or` evaluate as ss reads them, left to right.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::net::IpAddr;

use portwatch::filter::parse;
use portwatch::filter::{Expr, Extras, MAX_DEPTH, bytecode};
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

/// The expression evaluated term by term, without the port lists an `or`
/// keeps.
fn scanned(expr: &Expr, socket: &Socket, extras: &Extras) -> bool {
    match expr {
        Expr::And(terms) => terms.iter().all(|term| scanned(term, socket, extras)),
        Expr::Or(alternatives) => {
            alternatives.terms().iter().any(|term| scanned(term, socket, extras))
        }
        Expr::Not(inner) => !scanned(inner, socket, extras),
        Expr::Cond(_) => expr.matches(socket, extras),
    }
}

/// Compiles and evaluates a parsed expression, checking what always holds.
fn check_parsed(expr: &Expr) -> Result<(), TestCaseError> {
    prop_assert!(expr.depth() <= MAX_DEPTH);
    match bytecode::compile(expr) {
        Ok(code) => prop_assert!(code.len() >= 4 && code.len() <= bytecode::MAX_LEN),
        Err(too_long) => prop_assert!(too_long.bytes > too_long.limit),
    }
    let extras = Extras { ephemeral_ports: (32768, 60999) };
    for (local, peer) in [(22, 40000), (80, 22), (40000, 80)] {
        for v6 in [false, true] {
            let socket = socket(local, peer, v6);
            prop_assert_eq!(expr.matches(&socket, &extras), scanned(expr, &socket, &extras));
        }
    }
    Ok(())
}

fn check_error(error: &parse::FilterError, tokens: &[String]) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(!message.contains('\n'), "one line: {}", message);
    prop_assert!(error.position >= 1 && error.position <= tokens.len() + 1);
    Ok(())
}

/// Words that nest: groups, nots and junctions around a few conditions.
fn nesting_token() -> impl Strategy<Value = String> {
    let words = ["(", "(", "(", ")", ")", "not", "!", "and", "or", "sport", ":22", "dport", ":80"];
    proptest::sample::select(words.to_vec()).prop_map(str::to_owned)
}

/// `[not]... sport|dport = :PORT`, after a junction (`and`, `or`, their
/// symbols, or nothing, which is `and`).
fn chain_term() -> impl Strategy<Value = (&'static str, usize, bool, u16)> {
    let junctions = ["and", "&", "&&", "or", "|", "||", ""];
    let ports = [22u16, 80, 8080, 40000];
    (
        proptest::sample::select(junctions.to_vec()),
        0..3usize,
        any::<bool>(),
        proptest::sample::select(ports.to_vec()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_token_list_parses_or_errors(tokens in proptest::collection::vec(token(), 0..12)) {
        let tokens = parse::tokenize(&tokens);
        match parse::parse(&tokens, &Offline) {
            Ok(Some(parsed)) => check_parsed(&parsed.expr)?,
            Ok(None) => prop_assert!(tokens.is_empty()),
            Err(error) => check_error(&error, &tokens)?,
        }
    }

    #[test]
    fn chains_evaluate_left_to_right(
        first in chain_term(),
        rest in proptest::collection::vec(chain_term(), 0..40),
    ) {
        let mut words = Vec::new();
        for (index, (junction, nots, local, port)) in std::iter::once(first).chain(rest.clone()).enumerate() {
            if index > 0 && !junction.is_empty() {
                words.push(junction.to_owned());
            }
            words.extend(std::iter::repeat_n("not".to_owned(), nots));
            words.push(format!("{} = :{port}", if local { "sport" } else { "dport" }));
        }
        let tokens = parse::tokenize(&words);
        let expr = parse::parse(&tokens, &Offline).unwrap().unwrap().expr;
        check_parsed(&expr)?;
        let extras = Extras { ephemeral_ports: (32768, 60999) };
        for (local_port, peer_port) in [(22, 80), (80, 22), (8080, 40000), (1, 2), (22, 22)] {
            let socket = socket(local_port, peer_port, false);
            let mut value = false;
            for (index, (junction, nots, local, port)) in std::iter::once(first).chain(rest.clone()).enumerate() {
                let have = if local { local_port } else { peer_port };
                let term = (have == port) != (nots % 2 == 1);
                value = match (index, junction) {
                    (0, _) => term,
                    (_, "or" | "|" | "||") => value || term,
                    _ => value && term,
                };
            }
            prop_assert_eq!(expr.matches(&socket, &extras), value, "{:?} on {:?}", words, (local_port, peer_port));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn long_nesting_token_lists_parse_or_error(
        tokens in proptest::collection::vec(nesting_token(), 0..3000),
    ) {
        match parse::parse(&tokens, &Offline) {
            Ok(Some(parsed)) => check_parsed(&parsed.expr)?,
            Ok(None) => prop_assert!(tokens.is_empty()),
            Err(error) => {
                check_error(&error, &tokens)?;
                prop_assert!(error.to_string().len() < 300, "short: {}", error);
            }
        }
    }
}
