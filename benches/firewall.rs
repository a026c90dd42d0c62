//! The firewall evaluation of issue 12 without a live firewall: an
//! `nft -j list ruleset` document generated here, with a 100,000-element
//! blocklist set and 5,000 rules over an input chain and four user chains,
//! read (`firewall::nft::read`), walked for one probe (`eval::evaluate`),
//! judged for one restricted listener (`verdict::judge`) and for 50
//! listeners as an audit judges them (one `verdict::Judge`).
//! `cargo bench --bench firewall`.
//!
//! The ruleset, in nft's text syntax (`bench/run firewall` loads the same
//! shape into a namespace):
//!
//! ```text
//! table inet filter {
//!   set blocklist { type ipv4_addr; flags interval; elements = { 30.0.0.0/24, 30.0.2.7, ... } }
//!   chain input {
//!     type filter hook input priority filter; policy drop;
//!     ip saddr @blocklist drop
//!     ct state established,related accept
//!     ... 1,000 rules, with a `jump uK` after every 250 ...
//!     tcp dport 22 accept
//!   }
//!   chain u0 { ... 1,000 rules ...; return }   (u0 to u3)
//! }
//! ```
//!
//! Rule `i` (0 to 4,999, `i` counted over every chain) is `udp dport
//! 10000+i accept` when `i % 3 == 2`, and otherwise `tcp dport P ip saddr
//! 10.X.Y.0/24 accept` with `P = 1 + i % 100` and `X.Y` spelling `i`: each
//! of the listeners' ports 1 to 50 is opened to about 33 distinct /24s
//! spread over every chain.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark's setup may panic

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use portwatch::audit::exposure::exposure;
use portwatch::firewall::eval::{self, Probe};
use portwatch::firewall::nft;
use portwatch::firewall::verdict::{self, Firewall};
use portwatch::model::audit::Exposure;
use portwatch::model::firewall::Verdict;
use portwatch::model::{InetEnd, InetSocket, IpFamily, SocketState, Transport};

/// Elements of the blocklist set.
const BLOCKLIST: u32 = 100_000;
/// Rules besides the blocklist drop, the conntrack accept, the jumps, the
/// returns and the final `tcp dport 22 accept`.
const RULES: u32 = 5_000;
/// User chains, each jumped to from the input chain.
const USER_CHAINS: u32 = 4;

/// The blocklist's element `k`: each owns 512 addresses from 30.0.0.0, the
/// even ones a /24 at its start, the odd ones a single address in it.
fn blocklist_element(k: u32) -> serde_json::Value {
    let base = u32::from(Ipv4Addr::new(30, 0, 0, 0)) + k * 512;
    if k.is_multiple_of(2) {
        serde_json::json!({"prefix": {"addr": Ipv4Addr::from(base).to_string(), "len": 24}})
    } else {
        serde_json::json!(Ipv4Addr::from(base + 7).to_string())
    }
}

/// The expressions of rule `i` (see the module's comment).
fn rule_expr(i: u32) -> serde_json::Value {
    let port = |protocol: &str, port: u32| {
        serde_json::json!({"match": {"op": "==",
            "left": {"payload": {"protocol": protocol, "field": "dport"}}, "right": port}})
    };
    if i % 3 == 2 {
        serde_json::json!([port("udp", 10_000 + i), {"accept": null}])
    } else {
        let source = format!("10.{}.{}.0", i / 256, i % 256);
        serde_json::json!([
            port("tcp", 1 + i % 100),
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": {"prefix": {"addr": source, "len": 24}}}},
            {"accept": null}
        ])
    }
}

/// The whole `nft -j list ruleset` document.
fn ruleset_json() -> String {
    use serde_json::json;
    let mut objects = vec![
        json!({"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5",
            "json_schema_version": 1}}),
        json!({"table": {"family": "inet", "name": "filter", "handle": 1}}),
        json!({"set": {"family": "inet", "name": "blocklist", "table": "filter",
            "type": "ipv4_addr", "handle": 2, "flags": ["interval"],
            "elem": (0..BLOCKLIST).map(blocklist_element).collect::<Vec<_>>()}}),
        json!({"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 3,
            "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}),
    ];
    let mut handle = 10;
    for u in 0..USER_CHAINS {
        objects.push(json!({"chain": {"family": "inet", "table": "filter",
            "name": format!("u{u}"), "handle": 4 + u}}));
    }
    let mut rule = |chain: &str, expr: serde_json::Value| {
        handle += 1;
        json!({"rule": {"family": "inet", "table": "filter", "chain": chain,
            "handle": handle, "expr": expr}})
    };
    // The rules per chain: the input chain's share, then each user chain's.
    let per_chain = RULES / (USER_CHAINS + 1);
    let mut rules = vec![
        rule(
            "input",
            json!([{"match": {"op": "==",
            "left": {"payload": {"protocol": "ip", "field": "saddr"}},
            "right": "@blocklist"}}, {"drop": null}]),
        ),
        rule(
            "input",
            json!([{"match": {"op": "in", "left": {"ct": {"key": "state"}},
            "right": ["established", "related"]}}, {"accept": null}]),
        ),
    ];
    let jump_every = per_chain / USER_CHAINS;
    for i in 0..per_chain {
        rules.push(rule("input", rule_expr(i)));
        if (i + 1) % jump_every == 0 {
            let target = format!("u{}", (i + 1) / jump_every - 1);
            rules.push(rule("input", json!([{"jump": {"target": target}}])));
        }
    }
    rules.push(rule(
        "input",
        json!([{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 22}}, {"accept": null}]),
    ));
    for u in 0..USER_CHAINS {
        let chain = format!("u{u}");
        for i in per_chain * (u + 1)..per_chain * (u + 2) {
            rules.push(rule(&chain, rule_expr(i)));
        }
        rules.push(rule(&chain, json!([{"return": null}])));
    }
    objects.extend(rules);
    json!({"nftables": objects}).to_string()
}

/// Listeners on 0.0.0.0, ports 1 to 49 (22 among them), and a dual-stack
/// one on [::]:22: 50 in all, with their exposure.
fn listeners() -> Vec<(InetSocket, Exposure)> {
    let socket = |family, addr: IpAddr, port| {
        let mut socket = InetSocket::new(Transport::Tcp, family, SocketState::Listening);
        socket.local = InetEnd::new(addr, port);
        let exposure = exposure(&socket);
        (socket, exposure)
    };
    let mut listeners: Vec<_> =
        (1..50).map(|port| socket(IpFamily::Inet, Ipv4Addr::UNSPECIFIED.into(), port)).collect();
    listeners.push(socket(IpFamily::Inet6, Ipv6Addr::UNSPECIFIED.into(), 22));
    listeners
}

fn read(c: &mut Criterion) {
    let json = ruleset_json();
    let mut group = c.benchmark_group("firewall");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("nft::read, 100k-element set, 5k rules", |b| {
        b.iter(|| nft::read(black_box(&json)).expect("read"))
    });
    group.finish();
}

/// A new TCP connection to port 22 from anywhere, through the whole ruleset.
fn probe() -> Probe {
    Probe {
        v4: true,
        protocol: 6,
        destination: Ipv4Addr::new(192, 0, 2, 1).into(),
        port: 22,
        interface: None,
        forwarded: None,
    }
}

fn judge(c: &mut Criterion) {
    let ruleset = nft::read(&ruleset_json()).expect("read");
    let firewall = Firewall::Read(ruleset.clone());
    let listeners = listeners();
    let mut group = c.benchmark_group("firewall");
    group.sample_size(10);
    group.bench_function("eval::evaluate, tcp port 22", |b| {
        b.iter(|| eval::evaluate(black_box(&ruleset), &probe()).endings.len())
    });
    // 0.0.0.0:1 is accepted only from its 10.X.Y.0/24s, and the policy
    // drops the rest: `restricted`.
    let (socket, exposure) = &listeners[0];
    assert_eq!(verdict::judge(&firewall, socket, exposure).verdict, Verdict::Restricted);
    group.bench_function("judge 0.0.0.0:1", |b| {
        b.iter(|| verdict::judge(black_box(&firewall), socket, exposure).verdict)
    });
    group.finish();
    // Checked once, outside the timed loop. Port 22 on 0.0.0.0: the
    // blocklist drops its 100,000 ranges (50,000 /24s and 50,000 single
    // addresses, about 12.8 million addresses, 0.3% of IPv4), the rules
    // before the last accept 22 from a few /24s of 10.0.0.0/8 anyway, and
    // `tcp dport 22 accept` takes every other source: open to more than
    // half the space, so `open` (as for a host open to all but a
    // blocklist). [::]:22 is open in IPv6 too (the blocklist and the
    // `ip saddr` rules are IPv4 only), so `open`.
    let verdict_of = |index: usize| {
        let (socket, exposure) = &listeners[index];
        verdict::judge(&firewall, socket, exposure).verdict
    };
    assert_eq!(verdict_of(21), Verdict::Open, "0.0.0.0:22");
    assert_eq!(verdict_of(49), Verdict::Open, "[::]:22");
    let mut group = c.benchmark_group("firewall");
    group.sample_size(10);
    group.throughput(Throughput::Elements(listeners.len() as u64));
    group.bench_function("judge 50 listeners", |b| {
        // The audit hands its firewall to one Judge; the copy each round
        // needs is made outside the timing.
        b.iter_batched(
            || firewall.clone(),
            |firewall| {
                let judge = verdict::Judge::new(firewall);
                listeners
                    .iter()
                    .map(|(socket, exposure)| judge.judge(socket, exposure))
                    .filter(|answer| answer.verdict == Verdict::Open)
                    .count()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, read, judge);
criterion_main!(benches);
