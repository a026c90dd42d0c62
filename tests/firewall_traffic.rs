//! Traffic is the judge: for each ruleset, two namespaces joined by a veth
//! pair (a server with listeners and the ruleset, a client with two source
//! addresses), and for every listener portwatch's firewall verdict is held
//! against what connections from each client address actually get.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::time::Duration;

use common::{Netns, skip_unless_root, skip_unless_root_with, skip_without_tool};
use serde_json::Value;

/// The client's sources: one in the documentation range rulesets admit,
/// one in a private range they do not.
const ADMITTED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 10);
/// The same two, in IPv6, for dual-stack listeners.
const ADMITTED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10);
const OTHER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0x10);
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Connected,
    Refused,
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
    /// TCP on `[::]` without IPV6_V6ONLY: IPv6 and IPv4 alike.
    TcpDualStack,
}

impl Proto {
    fn sources(self) -> Vec<IpAddr> {
        let v4 = [IpAddr::V4(ADMITTED), IpAddr::V4(OTHER)];
        match self {
            Proto::TcpDualStack => [v4, [IpAddr::V6(ADMITTED6), IpAddr::V6(OTHER6)]].concat(),
            _ => v4.to_vec(),
        }
    }
}

/// A server namespace and a client namespace, joined.
struct Lab {
    server: Netns,
    client: Netns,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let server = Netns::new(&format!("{test}-s"));
        let client = Netns::new(&format!("{test}-c"));
        common::join_with_veth(
            &server,
            &["192.0.2.1/24", "10.20.0.1/24", "2001:db8:2::1/64", "fd00:20::1/64"],
            &client,
            &["192.0.2.10/24", "10.20.0.10/24", "2001:db8:2::10/64", "fd00:20::10/64"],
        );
        Lab { server, client }
    }

    fn server_tool(&self, program: &str, args: &[&str], input: &str) {
        let mut child = self
            .server
            .command(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the tool");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write rules");
        let output = child.wait_with_output().expect("run the tool");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn nft(&self, rules: &str) {
        self.server_tool("nft", &["-f", "-"], rules);
    }

    fn listen(&self, listeners: &[(Proto, u16)]) -> Vec<Held> {
        let listeners = listeners.to_vec();
        self.server.within(move || {
            listeners
                .iter()
                .map(|(proto, port)| {
                    let addr = SocketAddr::from(([0, 0, 0, 0], *port));
                    // [::] is dual-stack: net.ipv6.bindv6only is 0 in a new namespace.
                    let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, *port));
                    match proto {
                        Proto::Tcp => Held::Tcp(TcpListener::bind(addr).expect("bind tcp")),
                        Proto::TcpDualStack => {
                            Held::Tcp(TcpListener::bind(any6).expect("bind [::]"))
                        }
                        Proto::Udp => Held::Udp(UdpSocket::bind(addr).expect("bind udp")),
                    }
                })
                .collect()
        })
    }

    /// `portwatch audit --json` inside the server: the firewall object of
    /// each listener, by protocol and port.
    fn verdicts(&self) -> BTreeMap<(Proto, u16), Value> {
        let output = self
            .server
            .command(env!("CARGO_BIN_EXE_portwatch"))
            .args(["audit", "--json", "--fail-on", "never"])
            .output()
            .expect("run portwatch");
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("audit JSON: {}", String::from_utf8_lossy(&output.stderr)));
        let mut verdicts = BTreeMap::new();
        for listener in report["listeners"].as_array().expect("listeners") {
            let proto = match (listener["netid"].as_str(), listener["family"].as_str()) {
                (Some("tcp"), Some("inet6")) => Proto::TcpDualStack,
                (Some("tcp"), _) => Proto::Tcp,
                _ => Proto::Udp,
            };
            let port = listener["local"]["port"].as_u64().expect("port") as u16;
            verdicts.insert((proto, port), listener["exposure"]["firewall"].clone());
        }
        verdicts
    }

    /// A new connection (TCP) or datagram (UDP) from `source` to the
    /// server's address in the same subnet.
    fn probe(&self, held: &Held, proto: Proto, port: u16, source: IpAddr) -> Outcome {
        // The server's address in the source's subnet: the same host part, 1.
        let destination = match source {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                IpAddr::V4(Ipv4Addr::new(a, b, c, 1))
            }
            IpAddr::V6(v6) => {
                let mut segments = v6.segments();
                segments[7] = 1;
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        };
        match (proto, held, source, destination) {
            (Proto::Tcp | Proto::TcpDualStack, _, _, _) => {
                self.client.within(move || tcp_connect(source, destination, port))
            }
            (Proto::Udp, Held::Udp(server), IpAddr::V4(source), IpAddr::V4(destination)) => {
                let server = server.try_clone().expect("clone");
                udp_reaches(&self.client, &server, source, destination, port)
            }
            _ => panic!("a UDP probe needs a UDP listener and IPv4"),
        }
    }
}

enum Held {
    Tcp(#[allow(dead_code)] TcpListener),
    Udp(UdpSocket),
}

fn tcp_connect(source: IpAddr, destination: IpAddr, port: u16) -> Outcome {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, bind, connect, getsockopt, socket,
        sockopt,
    };
    let family = if source.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let socket = socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK, None).expect("socket");
    let source = SockaddrStorage::from(SocketAddr::new(source, 0));
    bind(socket.as_raw_fd(), &source).expect("bind the source");
    let target = SockaddrStorage::from(SocketAddr::new(destination, port));
    match connect(socket.as_raw_fd(), &target) {
        Ok(()) => return Outcome::Connected,
        Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(_) => return Outcome::Refused,
    }
    let mut fds =
        [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&socket), nix::poll::PollFlags::POLLOUT)];
    let timeout =
        nix::poll::PollTimeout::try_from(PROBE_TIMEOUT.as_millis() as u32).expect("timeout");
    match nix::poll::poll(&mut fds, timeout) {
        Ok(0) => Outcome::TimedOut,
        Ok(_) => match getsockopt(&socket, sockopt::SocketError) {
            Ok(0) => Outcome::Connected,
            _ => Outcome::Refused,
        },
        Err(error) => panic!("poll: {error}"),
    }
}

fn udp_reaches(
    client: &Netns,
    server: &UdpSocket,
    source: Ipv4Addr,
    destination: Ipv4Addr,
    port: u16,
) -> Outcome {
    let payload = format!("probe from {source}");
    let sent = payload.clone();
    client.within(move || {
        let socket = UdpSocket::bind((source, 0)).expect("bind the source");
        socket.send_to(sent.as_bytes(), (destination, port)).expect("send");
    });
    server.set_read_timeout(Some(PROBE_TIMEOUT)).expect("timeout");
    let mut buf = [0u8; 64];
    loop {
        match server.recv_from(&mut buf) {
            Ok((n, from)) if from.ip() == IpAddr::V4(source) && &buf[..n] == payload.as_bytes() => {
                return Outcome::Connected;
            }
            Ok(_) => continue,
            Err(_) => return Outcome::TimedOut,
        }
    }
}

/// Whether a prefix list (`192.0.2.0/24`, `::/0`) holds `addr`.
fn admits(sources: &Value, addr: IpAddr) -> bool {
    let value = |addr: IpAddr| match addr {
        IpAddr::V4(v4) => (32, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (128, u128::from(v6)),
    };
    let (bits, wanted) = value(addr);
    sources.as_array().into_iter().flatten().filter_map(Value::as_str).any(|prefix| {
        let Some((net, len)) = prefix.split_once('/') else { return false };
        let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
            return false;
        };
        let (net_bits, net) = value(net);
        let shift = bits - len.min(bits);
        net_bits == bits && (shift == 128 || net >> shift == wanted >> shift)
    })
}

/// What the verdict promises a connection from `source` gets.
fn promised(firewall: &Value, source: IpAddr) -> Option<bool> {
    match firewall["verdict"].as_str().expect("a verdict") {
        // A rate limit lets the first connection of each source through;
        // a_rate_limited_ssh_accept_is_open_rate_limited sees it bite.
        "open" | "open-rate-limited" => Some(true),
        "blocked" | "local-only" => Some(false),
        "restricted" => Some(admits(&firewall["sources"], source)),
        // What traffic gets is the evaluator's blind spot: nothing to hold.
        "unknown" => None,
        other => panic!("unexpected verdict {other}"),
    }
}

/// `table inet filter` with one input chain of this policy and these rules.
fn input_chain(policy: &str, rules: &[&str]) -> String {
    format!(
        "table inet filter {{\n  chain input {{\n    type filter hook input priority filter; policy {policy};\n    {}\n  }}\n}}\n",
        rules.join("\n    ")
    )
}

/// Loads nothing itself: `load` does, then every listener's verdict must
/// be the expected one, and every promise must hold for both sources.
fn judge(test: &str, listeners: &[(Proto, u16, &str)], load: impl FnOnce(&Lab)) {
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let lab = Lab::new(test);
    load(&lab);
    let wanted: Vec<(Proto, u16)> =
        listeners.iter().map(|(proto, port, _)| (*proto, *port)).collect();
    let held = lab.listen(&wanted);
    let verdicts = lab.verdicts();
    for ((proto, port, expected), held) in listeners.iter().zip(&held) {
        let firewall =
            verdicts.get(&(*proto, *port)).unwrap_or_else(|| panic!("{port} not listed"));
        assert_eq!(firewall["verdict"], *expected, "{test}: {proto:?} {port}: {firewall}");
        for source in proto.sources() {
            let Some(open) = promised(firewall, source) else { continue };
            let outcome = lab.probe(held, *proto, *port, source);
            assert_eq!(
                outcome == Outcome::Connected,
                open,
                "{test}: {proto:?} {port} from {source}: verdict {firewall}, traffic {outcome:?}"
            );
        }
    }
}

#[test]
fn accept_all() {
    judge("fw-accept", &[(Proto::Tcp, 8080, "open"), (Proto::Udp, 5353, "open")], |lab| {
        lab.nft(&input_chain("accept", &[]));
    });
}

#[test]
fn no_ruleset_at_all_is_open() {
    judge("fw-none", &[(Proto::Tcp, 8080, "open")], |_| {});
}

const DEFAULT_DROP: &str = "table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif lo accept
    tcp dport 80 accept
    udp dport 53 accept
    tcp dport 23 reject with tcp reset
    tcp dport 5432 ip saddr 192.0.2.0/24 accept
  }
}";

#[test]
fn native_default_drop_with_allowed_and_restricted_ports() {
    judge(
        "fw-drop",
        &[
            (Proto::Tcp, 80, "open"),
            (Proto::Udp, 53, "open"),
            (Proto::Tcp, 23, "blocked"),
            (Proto::Tcp, 6379, "blocked"),
            (Proto::Udp, 5353, "blocked"),
            (Proto::Tcp, 5432, "restricted"),
        ],
        |lab| lab.nft(DEFAULT_DROP),
    );
}

#[test]
fn a_jump_into_a_user_chain_that_returns() {
    judge("fw-jump", &[(Proto::Tcp, 6000, "restricted"), (Proto::Tcp, 6001, "blocked")], |lab| {
        lab.nft(
            "table ip filter {
              chain checks {
                ip saddr 192.0.2.10 return
                tcp dport 6000 drop
              }
              chain input {
                type filter hook input priority 0; policy drop;
                jump checks
                tcp dport 6000 accept
              }
            }",
        )
    });
}

#[test]
fn two_base_chains_on_input_where_the_second_drops() {
    judge("fw-two", &[(Proto::Tcp, 443, "blocked"), (Proto::Tcp, 444, "open")], |lab| {
        lab.nft(
            "table ip first {
               chain in0 {
                 type filter hook input priority -10; policy accept;
                 tcp dport 443 accept
                 tcp dport 444 accept
               }
             }
             table ip second {
               chain in2 {
                 type filter hook input priority 10; policy accept;
                 tcp dport 443 drop
               }
             }",
        )
    });
}

#[test]
fn a_named_set_and_verdict_maps() {
    judge(
        "fw-sets",
        &[
            (Proto::Tcp, 5001, "open"),
            (Proto::Tcp, 5002, "restricted"),
            (Proto::Tcp, 5003, "blocked"),
            (Proto::Tcp, 5004, "open"),
            (Proto::Tcp, 5005, "blocked"),
        ],
        |lab| {
            lab.nft(
                "table inet filter {
                  set admitted { type ipv4_addr; flags interval; elements = { 192.0.2.0/28 } }
                  map ports { type inet_service : verdict; elements = { 5004 : accept } }
                  chain only_admitted {
                    ip saddr @admitted accept
                    drop
                  }
                  chain input {
                    type filter hook input priority filter; policy drop;
                    ct state established,related accept
                    tcp dport vmap { 5001 : accept, 5002 : jump only_admitted, 5003 : drop }
                    tcp dport vmap @ports
                  }
                }",
            )
        },
    );
}

#[test]
fn iptables_nft_with_conntrack_and_multiport() {
    judge(
        "fw-iptnft",
        &[
            (Proto::Tcp, 7100, "open"),
            (Proto::Tcp, 7101, "open"),
            (Proto::Tcp, 7102, "restricted"),
            (Proto::Tcp, 7103, "blocked"),
        ],
        |lab| {
            lab.server_tool(
                "iptables-nft-restore",
                &[],
                "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m multiport --dports 7100,7101 -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 7102 -j ACCEPT
COMMIT
",
            )
        },
    );
}

#[test]
fn a_real_ufw_ruleset() {
    // ufw's own rules (from `ufw enable` with allow 80, allow 22 from
    // 192.0.2.0/24, limit 2222, deny 23), as iptables-nft-save printed them.
    let rules =
        std::fs::read_to_string(common::fixture("firewall/ufw.iptables-save")).expect("fixture");
    judge(
        "fw-ufw",
        &[
            (Proto::Tcp, 80, "open"),
            (Proto::Tcp, 22, "restricted"),
            (Proto::Tcp, 23, "blocked"),
            (Proto::Tcp, 8080, "blocked"),
            (Proto::Tcp, 2222, "open-rate-limited"),
        ],
        |lab| {
            if skip_without_tool("iptables-nft-restore", "fw-ufw") {
                return;
            }
            lab.server_tool("iptables-nft-restore", &[], &rules)
        },
    );
}

#[test]
fn a_legacy_iptables_rule_beside_nft_rules() {
    if skip_without_tool("iptables-legacy", "fw-legacy") {
        return;
    }
    judge("fw-legacy", &[(Proto::Tcp, 8080, "open"), (Proto::Tcp, 8081, "blocked")], |lab| {
        lab.nft(&input_chain("drop", &["tcp dport { 8080, 8081 } accept"]));
        lab.server_tool(
            "iptables-legacy-restore",
            &["--noflush"],
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 8081 -j DROP\nCOMMIT\n",
        );
    });
}

#[test]
fn a_construct_the_evaluator_does_not_model_is_unknown_and_named() {
    if skip_unless_root_with("fw-unknown", &["nft"]) {
        return;
    }
    judge("fw-unknown", &[(Proto::Tcp, 9100, "unknown"), (Proto::Tcp, 9101, "blocked")], |lab| {
        lab.nft(&input_chain("drop", &["tcp dport 9100 meta mark 0x2a accept"]))
    });
    let lab = Lab::new("fw-unknown-named");
    lab.nft(&input_chain("drop", &["tcp dport 9100 meta mark 0x2a accept"]));
    let _held = lab.listen(&[(Proto::Tcp, 9100)]);
    let firewall = &lab.verdicts()[&(Proto::Tcp, 9100)];
    assert_eq!(firewall["reason"], "meta mark", "{firewall}");
    assert_eq!(firewall["rule"]["chain"], "input", "{firewall}");
}

/// `limit rate 3/minute burst 5`: the first connections get through, the
/// ones beyond the burst time out; both ways, it is exposure.
#[test]
fn a_rate_limited_ssh_accept_is_open_rate_limited() {
    let test = "fw-limit";
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let lab = Lab::new(test);
    lab.nft(&input_chain(
        "drop",
        &[
            "ct state established,related accept",
            "tcp dport 22 ct state new limit rate 3/minute burst 5 packets accept",
        ],
    ));
    let held = lab.listen(&[(Proto::Tcp, 22)]);
    assert_eq!(lab.verdicts()[&(Proto::Tcp, 22)]["verdict"], "open-rate-limited");
    let outcomes: Vec<Outcome> =
        (0..8).map(|_| lab.probe(&held[0], Proto::Tcp, 22, IpAddr::V4(OTHER))).collect();
    assert_eq!(outcomes[0], Outcome::Connected, "{outcomes:?}");
    assert!(outcomes.contains(&Outcome::TimedOut), "the limit never bit: {outcomes:?}");
}

#[test]
fn a_dual_stack_listener_behind_rules_for_one_family() {
    // ICMPv6 is admitted, as every IPv6 firewall must: without neighbour
    // discovery no IPv6 connection gets anywhere, which is a property of
    // the link, not of the listener's path.
    judge(
        "fw-dual",
        &[
            (Proto::TcpDualStack, 8443, "restricted"),
            (Proto::TcpDualStack, 8444, "open"),
            (Proto::TcpDualStack, 8445, "restricted"),
        ],
        |lab| {
            lab.nft(
                "table ip v4only {
                  chain input {
                    type filter hook input priority 0; policy accept;
                    tcp dport 8443 drop
                  }
                }
                table inet both {
                  chain input {
                    type filter hook input priority 10; policy drop;
                    ct state established,related accept
                    meta l4proto ipv6-icmp accept
                    tcp dport { 8443, 8444 } accept
                    ip6 saddr 2001:db8:2::/64 tcp dport 8445 accept
                  }
                }",
            )
        },
    );
}

/// `list --show-firewall`: a Firewall column for listeners, `-` for the
/// rest, and the same object under the JSON key `firewall`.
#[test]
fn list_shows_the_firewall_verdict() {
    let test = "fw-list";
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let lab = Lab::new(test);
    lab.nft(DEFAULT_DROP);
    let _held = lab.listen(&[(Proto::Tcp, 80), (Proto::Tcp, 6379), (Proto::Tcp, 5432)]);
    let run = |args: &[&str]| {
        let output =
            lab.server.command(env!("CARGO_BIN_EXE_portwatch")).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let table = run(&["-tln", "--show-firewall"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().ends_with("Peer Address:Port Firewall  Process"), "{table}");
    let verdicts: BTreeMap<String, String> = lines
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[3].to_string(), words[words.len() - 1].to_string())
        })
        .collect();
    assert_eq!(verdicts["0.0.0.0:80"], "open", "{table}");
    assert_eq!(verdicts["0.0.0.0:6379"], "blocked", "{table}");
    assert_eq!(verdicts["0.0.0.0:5432"], "restricted", "{table}");
    let rows: Vec<Value> =
        serde_json::from_str(&run(&["-tan", "--show-firewall", "--json"])).unwrap();
    let restricted = rows.iter().find(|row| row["local"]["port"] == 5432).unwrap();
    assert_eq!(restricted["firewall"]["sources"], serde_json::json!(["192.0.2.0/24"]));
    assert_eq!(
        restricted["firewall"]["rule"]["text"],
        "tcp dport 5432 ip saddr 192.0.2.0/24 accept"
    );
    let without = run(&["-tln", "--json"]);
    assert!(!without.contains("firewall"), "only when asked: {without}");
}

/// `audit --why`: each listener's verdict, then the traced paths, rule by
/// rule; with no listener on the port, the path one would get.
#[test]
fn why_traces_the_path_rule_by_rule() {
    let test = "fw-why";
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let lab = Lab::new(test);
    lab.nft(DEFAULT_DROP);
    let _held = lab.listen(&[(Proto::Tcp, 5432)]);
    let why = |target: &str| {
        let output = lab
            .server
            .command(env!("CARGO_BIN_EXE_portwatch"))
            .args(["audit", "--why", target])
            .output()
            .unwrap();
        assert!(output.status.success(), "{target}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let text = why("5432/tcp");
    assert!(text.starts_with("5432/tcp on 0.0.0.0"), "{text}");
    assert!(text.contains(": restricted\n  open to: 192.0.2.0/24\n"), "{text}");
    assert!(text.contains("IPv4 from 192.0.2.0/24 (traced: 192.0.2.0)"), "{text}");
    assert!(text.contains("tcp dport 5432 ip saddr 192.0.2.0/24 accept  => accept"), "{text}");
    assert!(text.contains("      policy drop  => drop"), "the others end at the policy: {text}");
    let nothing = why("23");
    assert!(nothing.starts_with("nothing listens on 23;"), "{nothing}");
    assert!(nothing.contains("reject with tcp reset  => reject"), "{nothing}");
}

/// Named sets' elements read from the kernel (the fast way, beside nft's
/// terse listing) are what nft lists itself, for every key type read so:
/// IPv4 and IPv6 intervals from the bottom to the top of the space, port
/// intervals and points, protocols, interface names; and a map, which the
/// kernel reader leaves to nft.
#[test]
fn kernel_set_elements_are_what_nft_lists() {
    let test = "fw-sets-kernel";
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let lab = Lab::new(test);
    let sets = "table inet filter {
      set v4 { type ipv4_addr; flags interval; elements = { 0.0.0.0/8, 10.0.0.1, 192.0.2.0/24, 198.51.100.7-198.51.100.9, 240.0.0.0-255.255.255.255 } }
      set v4plain { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.3 } }
      set v6 { type ipv6_addr; flags interval; elements = { ::/8, 2001:db8::/32, fe80::1, ff00::/8 } }
      set ports { type inet_service; flags interval; elements = { 22, 8000-8080, 65535 } }
      set ports2 { type inet_service; elements = { 80, 443 } }
      set protos { type inet_proto; elements = { tcp, udp } }
      set names { type ifname; elements = { \"eth0\", \"wg0\" } }
      chain input {
        type filter hook input priority filter; policy drop;
        ip saddr @v4 drop
      }
    }
    ";
    lab.nft(sets);
    let read = || {
        lab.server.within(move || {
            let os = portwatch::sys::Os::host();
            let fast = match portwatch::firewall::live::read(&os) {
                portwatch::firewall::verdict::Firewall::Read(ruleset) => ruleset,
                other => panic!("{other:?}"),
            };
            let slow = portwatch::firewall::live::read_through_nft_only(&os).unwrap();
            (fast, slow)
        })
    };
    let (mut fast, mut slow) = read();
    // A hash set of names lists in no particular order.
    for sets in [&mut fast.sets, &mut slow.sets] {
        for contents in sets.values_mut() {
            if let portwatch::firewall::ruleset::SetContents::Values(
                portwatch::firewall::ruleset::Values::Names(names),
            ) = contents
            {
                names.sort();
            }
        }
    }
    assert_eq!(fast.sets.len(), 7);
    assert_eq!(fast.sets, slow.sets, "the kernel's elements are nft's");
    assert_eq!(fast.chains, slow.chains);
    lab.nft("table inet filter {\n  map verdicts { type inet_service : verdict; elements = { 22 : accept } }\n}\n");
    let (fast, slow) = read();
    assert_eq!(fast.sets, slow.sets, "with a map, nft lists it all");
}

/// `audit --all-netns`: each namespace's listeners are judged by that
/// namespace's own ruleset.
#[test]
fn every_namespace_is_judged_by_its_own_ruleset() {
    let test = "fw-allns";
    if skip_unless_root(test) || skip_without_tool("nft", test) {
        return;
    }
    let open = Netns::new("fw-allns-open");
    let closed = Netns::new("fw-allns-closed");
    open.load_ruleset(&input_chain("drop", &["tcp dport 7000 accept"]));
    closed.load_ruleset(&input_chain("drop", &["tcp dport 22 accept"]));
    let bind = |netns: &Netns| {
        netns.within(|| TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], 7000))).unwrap())
    };
    let (_a, _b) = (bind(&open), bind(&closed));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .args(["audit", "--all-netns", "--json", "--fail-on", "never"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let verdict = |netns: &Netns| {
        let listeners = report["listeners"].as_array().unwrap();
        let listener = listeners
            .iter()
            .find(|l| l["netns"]["name"] == netns.name.as_str() && l["local"]["port"] == 7000)
            .unwrap_or_else(|| panic!("{} not listed: {report:#}", netns.name));
        listener["exposure"]["firewall"]["verdict"].clone()
    };
    assert_eq!(verdict(&open), "open", "{report:#}");
    assert_eq!(verdict(&closed), "blocked", "{report:#}");
}
