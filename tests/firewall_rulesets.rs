//! The firewall truth on recorded rulesets (fixtures/firewall: native nft,
//! iptables-nft, a real ufw, firewalld-style, Docker 20 and 29), read through a
//! fake host's tools: each listener's verdict, sources and deciding rule,
//! the xt stubs resolved from iptables-nft-save by position, legacy tables,
//! and what an unreadable firewall gives. No root, no namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io;
use std::net::IpAddr;

use common::fake::FakeSystem;
use common::fixture;
use portwatch::audit::exposure::exposure;
use portwatch::firewall::live;
use portwatch::firewall::verdict::{Firewall, judge};
use portwatch::model::firewall::{FirewallExposure, Verdict};
use portwatch::model::{InetEnd, InetSocket, IpFamily, SocketState, Transport};

fn recorded(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("firewall/{name}"))).unwrap()
}

fn host() -> FakeSystem {
    FakeSystem::from_fixture_dir(&fixture("netns-basic"))
}

/// The firewall of a host whose `nft -j list ruleset` prints `json`.
fn nft_host(json: &str) -> FakeSystem {
    host().with_program("nft -j list ruleset", Ok(json))
}

fn listener(transport: Transport, addr: &str, port: u16) -> InetSocket {
    let addr: IpAddr = addr.parse().unwrap();
    let family = if addr.is_ipv4() { IpFamily::Inet } else { IpFamily::Inet6 };
    let state = match transport {
        Transport::Tcp => SocketState::Listening,
        _ => SocketState::Closed,
    };
    let mut socket = InetSocket::new(transport, family, state);
    socket.local = InetEnd::new(addr, port);
    if !addr.is_ipv4() {
        socket.v6only = Some(false);
    }
    socket
}

fn verdict_of(
    firewall: &Firewall,
    transport: Transport,
    addr: &str,
    port: u16,
) -> FirewallExposure {
    let socket = listener(transport, addr, port);
    judge(firewall, &socket, &exposure(&socket))
}

fn tcp(firewall: &Firewall, port: u16) -> FirewallExposure {
    verdict_of(firewall, Transport::Tcp, "0.0.0.0", port)
}

#[test]
fn native_nft_input_policy() {
    let fake = nft_host(&recorded("a.json"));
    let firewall = live::read(&fake.os());
    let open = tcp(&firewall, 80);
    assert_eq!(open.verdict, Verdict::Open);
    assert_eq!(open.sources, ["0.0.0.0/0"]);
    let rule = open.rule.unwrap();
    assert_eq!(
        (rule.table.as_str(), rule.chain.as_str(), rule.handle),
        ("inet filter", "input", Some(7))
    );
    assert_eq!(rule.text, "tcp dport 80 accept");

    let limited = tcp(&firewall, 22);
    assert_eq!(limited.verdict, Verdict::OpenRateLimited, "{limited:?}");
    assert_eq!(tcp(&firewall, 2222).verdict, Verdict::OpenRateLimited, "a meter is a limit");

    let restricted = tcp(&firewall, 443);
    assert_eq!(restricted.verdict, Verdict::Restricted);
    assert_eq!(restricted.sources, ["192.0.2.0/24"], "the named set's elements");
    assert_eq!(restricted.rule.unwrap().handle, Some(9));

    let rejected = tcp(&firewall, 23);
    assert_eq!(rejected.verdict, Verdict::Blocked);
    assert_eq!(rejected.rule.unwrap().handle, Some(13));
    let dropped = tcp(&firewall, 6379);
    assert_eq!(dropped.verdict, Verdict::Blocked);
    assert_eq!(dropped.rule.unwrap().text, "policy drop");

    let dns = verdict_of(&firewall, Transport::Udp, "0.0.0.0", 53);
    assert_eq!(dns.verdict, Verdict::Open, "accepted in the chain jumped to");
    assert_eq!(dns.rule.unwrap().chain, "extra");
    assert_eq!(verdict_of(&firewall, Transport::Udp, "0.0.0.0", 54).verdict, Verdict::Blocked);

    let local = verdict_of(&firewall, Transport::Tcp, "127.0.0.1", 80);
    assert_eq!(local.verdict, Verdict::LocalOnly, "not evaluated");
    let dual = verdict_of(&firewall, Transport::Tcp, "::", 80);
    assert_eq!(dual.verdict, Verdict::Open, "an inet table filters both families");
    assert_eq!(dual.sources, ["0.0.0.0/0", "::/0"]);
}

#[test]
fn a_real_ufw_ruleset_with_its_xt_stubs_resolved_from_the_save_output() {
    let fake = nft_host(&recorded("ufw.json"))
        .with_program("iptables-nft-save", Ok(&recorded("ufw.iptables-save")));
    let firewall = live::read(&fake.os());
    assert_eq!(tcp(&firewall, 80).verdict, Verdict::Open);
    let ssh = tcp(&firewall, 22);
    assert_eq!(ssh.verdict, Verdict::Restricted);
    assert_eq!(ssh.sources, ["192.0.2.0/24"]);
    let rule = ssh.rule.unwrap();
    assert_eq!(rule.chain, "ufw-user-input");
    assert_eq!(rule.text, "ip saddr 192.0.2.0/24 tcp dport 22 counter accept", "native in nft");
    let limited = tcp(&firewall, 2222);
    assert_eq!(limited.verdict, Verdict::OpenRateLimited, "ufw limit: -m recent");
    // Reached past the `-m recent --update` rule (an xt stub in nft's
    // JSON, read from the save output) while under its limit.
    let rule = limited.rule.unwrap();
    assert_eq!(
        (rule.chain.as_str(), rule.text.as_str()),
        ("ufw-user-limit-accept", "counter accept")
    );
    assert_eq!(tcp(&firewall, 23).verdict, Verdict::Blocked);
    assert_eq!(tcp(&firewall, 8080).verdict, Verdict::Blocked, "ufw's default deny");
    let mdns = verdict_of(&firewall, Transport::Udp, "0.0.0.0", 5353);
    assert_eq!(mdns.verdict, Verdict::Restricted, "open only to the mDNS group address: {mdns:?}");
    assert_eq!(mdns.destinations, ["224.0.0.251"]);
}

#[test]
fn xt_stubs_without_the_save_output_are_unknown_and_named() {
    let fake = nft_host(&recorded("ufw.json"));
    let firewall = live::read(&fake.os());
    let answer = tcp(&firewall, 80);
    assert_eq!(answer.verdict, Verdict::Unknown, "{answer:?}");
    let reason = answer.reason.unwrap();
    assert!(
        reason.starts_with("xt ") && reason.contains("iptables-nft-save could not be run"),
        "{reason}"
    );
}

#[test]
fn xt_stubs_that_do_not_line_up_with_the_save_output_stay_unknown() {
    let save = recorded("ufw.iptables-save").replace(
        "-A ufw-before-input -i lo -j ACCEPT\n",
        "-A ufw-before-input -i lo -j ACCEPT\n-A ufw-before-input -p tcp -m tcp --dport 7 -j DROP\n",
    );
    let fake = nft_host(&recorded("ufw.json")).with_program("iptables-nft-save", Ok(&save));
    let answer = tcp(&live::read(&fake.os()), 80);
    assert_eq!(answer.verdict, Verdict::Unknown, "{answer:?}");
    assert!(answer.reason.unwrap().contains("do not line up"));
}

#[test]
fn firewalld_zones() {
    let firewall = live::read(&nft_host(&recorded("firewalld.json")).os());
    let ssh = tcp(&firewall, 22);
    assert_eq!(ssh.verdict, Verdict::Open, "{ssh:?}");
    assert_eq!(ssh.rule.unwrap().chain, "filter_IN_public_allow");
    let postgres = tcp(&firewall, 5432);
    assert_eq!(
        (postgres.verdict, postgres.sources),
        (Verdict::Restricted, vec!["192.0.2.0/24".to_string()])
    );
    let redis = tcp(&firewall, 6379);
    assert_eq!(redis.verdict, Verdict::Restricted);
    assert_eq!(redis.sources, ["198.51.100.0/24", "203.0.113.7/32"], "the allowlist set");
    let other = tcp(&firewall, 8080);
    assert_eq!(other.verdict, Verdict::Blocked, "firewalld's final reject");
    // The IPv6 prerouting rule matches on `fib saddr . mark . iif oif`,
    // which the evaluator does not model: IPv6 answers are unknown.
    let v6 = verdict_of(&firewall, Transport::Tcp, "::", 22);
    assert_eq!(v6.verdict, Verdict::Unknown, "{v6:?}");
    assert!(v6.reason.unwrap().contains("fib"), "names the construct");
}

#[test]
fn docker_29_nftables_with_a_verdict_map_and_a_port_forward() {
    let firewall = live::read(&nft_host(&recorded("docker29.json")).os());
    let forwarded = tcp(&firewall, 8080);
    assert_eq!(forwarded.verdict, Verdict::Unknown, "the DNAT sends it elsewhere: {forwarded:?}");
    assert!(forwarded.reason.unwrap().contains("dnat"));
    let plain = tcp(&firewall, 9999);
    assert_eq!(plain.verdict, Verdict::Open, "Docker filters only forwarded traffic: {plain:?}");
}

#[test]
fn legacy_tables_are_read_beside_nft() {
    let legacy = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j DROP\nCOMMIT\n";
    let fake = nft_host(&recorded("a.json"))
        .with_file("/proc/thread-self/net/ip_tables_names", "filter\n")
        .with_program("iptables-legacy-save", Ok(legacy));
    let blocked = tcp(&live::read(&fake.os()), 80);
    assert_eq!(blocked.verdict, Verdict::Blocked, "nft accepts, legacy drops: {blocked:?}");
    let rule = blocked.rule.unwrap();
    assert_eq!((rule.backend.as_str(), rule.line), ("iptables-legacy", Some(5)));

    let unreadable = nft_host(&recorded("a.json"))
        .with_file("/proc/thread-self/net/ip_tables_names", "filter\n");
    match live::read(&unreadable.os()) {
        Firewall::Unreadable(why) => {
            assert!(why.starts_with("legacy iptables tables are loaded (filter)"), "{why}")
        }
        read => panic!("a legacy table that cannot be read is no answer: {read:?}"),
    }
}

#[test]
fn an_unreadable_firewall_is_unknown_with_the_reason() {
    let denied = host().with_program("nft -j list ruleset", Err(io::ErrorKind::PermissionDenied));
    let firewall = live::read(&denied.os());
    assert_eq!(
        firewall,
        Firewall::Unreadable("reading the ruleset needs CAP_NET_ADMIN (run as root)".into())
    );
    let answer = tcp(&firewall, 6379);
    assert_eq!(answer.verdict, Verdict::Unknown);
    assert_eq!(
        verdict_of(&firewall, Transport::Tcp, "127.0.0.1", 6379).verdict,
        Verdict::LocalOnly
    );
    match live::read(&host().os()) {
        Firewall::Unreadable(why) => assert!(why.starts_with("nft is not installed"), "{why}"),
        read => panic!("{read:?}"),
    }
    let garbage = nft_host("{\"not\": \"nft\"}");
    match live::read(&garbage.os()) {
        Firewall::Unreadable(why) => assert!(why.contains("nftables"), "{why}"),
        read => panic!("{read:?}"),
    }
}

#[test]
fn an_empty_ruleset_is_no_firewall() {
    let empty = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}"#;
    let answer = tcp(&live::read(&nft_host(empty).os()), 6379);
    assert_eq!(answer.verdict, Verdict::Open);
    assert_eq!(answer.reason.as_deref(), Some(portwatch::firewall::verdict::NO_FIREWALL));
}

#[test]
fn docker_20_classic_iptables_nft_forwards_with_destinations_from_the_save_output() {
    // Recorded with Debian's Docker 20.10 and `docker run -p 18080:8080 -p
    // 127.0.0.1:18081:8081`: nft's JSON hides the DNAT destinations.
    let fake = nft_host(&recorded("docker20.json"))
        .with_program("iptables-nft-save", Ok(&recorded("docker20.iptables-save")))
        .with_program(
            "ip -j -force -batch - route get 172.17.0.2",
            Ok(r#"[{"dst":"172.17.0.2","dev":"docker0"}]"#),
        );
    let Firewall::Read(ruleset) = live::read(&fake.os()) else { panic!("read") };
    let forwards = live::judged_forwards(&fake.os(), &ruleset, &|_| Vec::new());
    let arriving: Vec<String> = forwards
        .iter()
        .map(|judged| &judged.forward)
        .filter(|forward| forward.hooks.iter().any(|hook| hook == "prerouting"))
        .map(|forward| {
            let to = forward.to.ports.map(|ports| ports.first).unwrap_or(0);
            let verdict = forward.firewall.as_ref().map(|firewall| firewall.verdict.as_str());
            format!(
                "{}:{} {:?} {:?} -> {}:{to} {}",
                forward.destinations.join(","),
                forward.ports[0].first,
                forward.interfaces,
                forward.only_local_addresses,
                forward.to.addr.as_deref().unwrap_or("?"),
                verdict.unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        arriving,
        [
            r#"127.0.0.1/32:18081 ["!docker0"] true -> 172.17.0.2:8081 local-only"#,
            r#":18080 ["!docker0"] true -> 172.17.0.2:8080 open"#,
        ],
        "the published port is open through DOCKER's accept for the container, which only \
         a connection leaving by docker0 meets"
    );
}
