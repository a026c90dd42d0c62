//! `list --forwards` against real rulesets in namespaces this test makes:
//! a client, a router that forwards with dnat (written with nft, or with
//! iptables-nft as Docker writes it), and a server behind it. Traffic from
//! the client is the judge of what each forward takes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{Netns, join_named, skip_unless_root_with};
use serde_json::Value;

/// client (10.77.1.2) -- eth0/router/eth1 -- server (10.77.2.2)
struct Lab {
    client: Netns,
    router: Netns,
    server: Netns,
}

const ROUTER: &str = "10.77.1.1";
const SERVER: &str = "10.77.2.2";

impl Lab {
    fn new(test: &str) -> Lab {
        let lab = Lab {
            client: Netns::new(&format!("{test}-c")),
            router: Netns::new(&format!("{test}-r")),
            server: Netns::new(&format!("{test}-s")),
        };
        join_named(
            ("eth0", &lab.router, &["10.77.1.1/24"]),
            ("eth0", &lab.client, &["10.77.1.2/24"]),
        );
        join_named(
            ("eth1", &lab.router, &["10.77.2.1/24"]),
            ("eth0", &lab.server, &["10.77.2.2/24"]),
        );
        let run = |netns: &Netns, args: &[&str]| {
            let status = netns.command(args[0]).args(&args[1..]).status().unwrap();
            assert!(status.success(), "{args:?}");
        };
        run(&lab.client, &["ip", "route", "add", "default", "via", ROUTER]);
        run(&lab.server, &["ip", "route", "add", "default", "via", "10.77.2.1"]);
        run(&lab.router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        lab
    }

    /// A listener on the server, on `port`.
    fn serve(&self, port: u16) -> TcpListener {
        let listener =
            self.server.within(move || TcpListener::bind((SERVER, port)).expect("bind on server"));
        listener.set_nonblocking(true).unwrap();
        listener
    }

    /// Whether a connection from the client to the router's `port` reaches
    /// `listener` on the server.
    fn reaches(&self, port: u16, listener: &TcpListener) -> bool {
        let address: SocketAddr = format!("{ROUTER}:{port}").parse().unwrap();
        let connected = self.client.within(move || {
            TcpStream::connect_timeout(&address, Duration::from_secs(2)).map(|_stream| ())
        });
        std::thread::sleep(Duration::from_millis(100));
        let accepted = match listener.accept() {
            Ok((_, peer)) => {
                assert_eq!(peer.ip().to_string(), "10.77.1.2", "the client's own address arrives");
                true
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => false,
            Err(error) => panic!("accept: {error}"),
        };
        assert_eq!(connected.is_ok(), accepted, "connected {connected:?}, accepted {accepted}");
        accepted
    }

    fn forwards(&self) -> Vec<Value> {
        let output = self
            .router
            .command(common::BIN)
            .args(["list", "--forwards", "--json"])
            .output()
            .unwrap();
        common::assert_success(&output, &["list", "--forwards", "--json"]);
        common::json_of(&output.stdout).as_array().unwrap().clone()
    }
}

/// The forward of external `port`.
fn forward_of(forwards: &[Value], port: u64) -> &Value {
    forwards
        .iter()
        .find(|forward| forward["ports"][0]["first"] == port)
        .unwrap_or_else(|| panic!("no forward of {port} in {forwards:#?}"))
}

fn target(forward: &Value) -> (String, u64) {
    let to = &forward["to"];
    (to["addr"].as_str().unwrap().to_owned(), to["ports"]["first"].as_u64().unwrap())
}

#[test]
fn an_nft_dnat_is_listed_with_both_ends_and_its_source_restriction_holds() {
    if skip_unless_root_with(
        "an_nft_dnat_is_listed_with_both_ends_and_its_source_restriction_holds",
        &["nft"],
    ) {
        return;
    }
    let lab = Lab::new("fwd-nft");
    lab.router.load_ruleset(
        "table ip nat {
           chain prerouting {
             type nat hook prerouting priority dstnat; policy accept;
             tcp dport 18080 dnat to 10.77.2.2:8080
             ip saddr 10.77.9.0/24 tcp dport 18081 dnat to 10.77.2.2:8081
           }
         }",
    );
    let open = lab.serve(8080);
    let restricted = lab.serve(8081);
    let forwards = lab.forwards();
    let everyone = forward_of(&forwards, 18080);
    assert_eq!(target(everyone), (SERVER.to_owned(), 8080));
    assert_eq!(everyone["sources"], serde_json::json!(["0.0.0.0/0"]));
    assert_eq!(
        (everyone["proto"].as_str(), everyone["kind"].as_str()),
        (Some("tcp"), Some("dnat"))
    );
    assert_eq!(everyone["rule"]["table"], "ip nat");
    assert!(lab.reaches(18080, &open), "the forward takes the client's connection");

    let some = forward_of(&forwards, 18081);
    assert_eq!(target(some), (SERVER.to_owned(), 8081));
    assert_eq!(some["sources"], serde_json::json!(["10.77.9.0/24"]));
    assert!(!lab.reaches(18081, &restricted), "the client is not among its sources");

    let table = lab.router.command(common::BIN).args(["list", "--forwards"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let line = table.lines().find(|line| line.contains("*:18080")).expect("a line for 18080");
    assert!(line.contains("10.77.2.2:8080"), "{table}");
}

#[test]
fn a_docker_style_dnat_bypasses_the_input_policy_until_docker_user_drops_it() {
    if skip_unless_root_with(
        "a_docker_style_dnat_bypasses_the_input_policy_until_docker_user_drops_it",
        &["iptables-nft", "nft"],
    ) {
        return;
    }
    let lab = Lab::new("fwd-ipt");
    let iptables = |args: &str| {
        let mut command = lab.router.command("iptables-nft");
        let status = command.args(args.split_whitespace()).status().unwrap();
        assert!(status.success(), "iptables-nft {args}");
    };
    iptables("-t nat -N DOCKER");
    iptables("-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER");
    iptables(
        "-t nat -A DOCKER ! -i eth1 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.77.2.2:8080",
    );
    let listener = lab.serve(8080);
    let forwards = lab.forwards();
    let published = forward_of(&forwards, 18080);
    assert_eq!(target(published), (SERVER.to_owned(), 8080), "read from the save output");
    assert_eq!(published["interfaces"], serde_json::json!(["!eth1"]));
    assert_eq!(published["only_local_addresses"], true);
    assert_eq!(published["rule"]["chain"], "DOCKER");
    assert!(lab.reaches(18080, &listener));

    // ufw's default (input policy drop) does not guard it: a bypass; the
    // remedy Docker documents, a DOCKER-USER rule, does.
    iptables("-P INPUT DROP");
    iptables("-N DOCKER-USER");
    iptables("-A FORWARD -j DOCKER-USER");
    assert!(lab.reaches(18080, &listener), "the input policy does not see it");
    let bypass = finding("forward-bypasses-input-firewall", "high", 18080);
    assert!(forward_findings(&lab).contains(&bypass));
    iptables("-I DOCKER-USER -p tcp -m conntrack --ctorigdstport 18080 -j DROP");
    assert!(!lab.reaches(18080, &listener), "the DOCKER-USER rule blocks it");
    assert!(!forward_findings(&lab).contains(&bypass));
    assert_eq!(forward_of(&lab.forwards(), 18080)["firewall"]["verdict"], "blocked");
}

#[test]
fn a_ruleset_that_cannot_be_read_is_a_one_line_error() {
    if common::is_root() {
        // Root reads any ruleset; the error is for other users.
        let output = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", common::BIN])
            .args(["list", "--forwards"])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("portwatch: cannot list forwards: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let output =
        Command::new(common::BIN).args(["list", "--forwards", "--format", "lsof"]).output();
    let output = output.unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr, "portwatch: --forwards is a table or JSON, not --format lsof\n");
}

/// `portwatch audit --json` in the router: (rule, severity, forward's
/// first port) of each finding about a forward.
fn forward_findings(lab: &Lab) -> Vec<(String, String, u64)> {
    forward_findings_with(lab, &[])
}

/// [`forward_findings`] with `extra` arguments to the audit.
fn forward_findings_with(lab: &Lab, extra: &[&str]) -> Vec<(String, String, u64)> {
    let output = lab
        .router
        .command(common::BIN)
        .args(["audit", "--json", "--fail-on", "never"])
        .args(extra)
        .output()
        .unwrap();
    let report = common::json_of(&output.stdout);
    let mut found: Vec<(String, String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding.get("forward").is_some())
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap().to_owned(),
                finding["severity"].as_str().unwrap().to_owned(),
                finding["forward"]["ports"][0]["first"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

fn finding(rule: &str, severity: &str, port: u64) -> (String, String, u64) {
    (rule.to_owned(), severity.to_owned(), port)
}

/// A router whose input policy drops (as ufw's default deny does) and
/// whose forward chain lets everything through, with four forwards.
const UFW_LIKE_ROUTER: &str = "
    table inet filter {
      chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iifname \"lo\" accept
      }
      chain forward {
        type filter hook forward priority filter; policy accept;
      }
    }
    table ip nat {
      chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        tcp dport 16379 dnat to 10.77.2.2:6379
        tcp dport 18080 dnat to 10.77.2.2:8080
        tcp dport 19999 dnat to 10.77.1.1:9999
        ip saddr 10.77.9.0/24 tcp dport 18081 dnat to 10.77.2.2:8081
      }
    }";

#[test]
fn the_audit_judges_forwards_through_the_forward_path() {
    if skip_unless_root_with("the_audit_judges_forwards_through_the_forward_path", &["nft"]) {
        return;
    }
    let lab = Lab::new("fwd-audit");
    lab.router.load_ruleset(UFW_LIKE_ROUTER);
    let redis = lab.serve(6379);
    let web = lab.serve(8080);
    assert_eq!(
        forward_findings(&lab),
        [
            finding("dangling-forward", "medium", 19999),
            finding("exposed-datastore", "high", 16379),
            finding("forward-bypasses-input-firewall", "high", 16379),
            finding("forward-bypasses-input-firewall", "high", 18080),
            // Its forward takes 10.77.9.0/24 only: private sources, three
            // severities lower, as for a listener.
            finding("forward-bypasses-input-firewall", "info", 18081),
            finding("forward-open-to-all", "info", 16379),
            finding("forward-open-to-all", "info", 18080),
        ],
        "19999 dangles (the router's own address, where nothing listens) and its connections \
         meet the input policy; 18081 is not open to all"
    );
    // A policy's rule overrides hold for the findings about forwards too.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[rules.forward-open-to-all]\ndisabled = true\n[rules.dangling-forward]\nseverity = \"low\"\n",
    )
    .unwrap();
    let graded = forward_findings_with(&lab, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(
        graded,
        [
            finding("dangling-forward", "low", 19999),
            finding("exposed-datastore", "high", 16379),
            finding("forward-bypasses-input-firewall", "high", 16379),
            finding("forward-bypasses-input-firewall", "high", 18080),
            finding("forward-bypasses-input-firewall", "info", 18081),
        ]
    );
    // Traffic is the judge: the input policy drops, yet both forwards reach.
    assert!(lab.reaches(16379, &redis));
    assert!(lab.reaches(18080, &web));
    let forwards = lab.forwards();
    assert_eq!(forward_of(&forwards, 18080)["firewall"]["verdict"], "open");
    let restricted = &forward_of(&forwards, 18081)["firewall"];
    assert_eq!(restricted["verdict"], "restricted", "{restricted}");
    assert_eq!(restricted["sources"], serde_json::json!(["10.77.9.0/24"]));
    assert_eq!(forward_of(&forwards, 19999)["firewall"]["verdict"], "blocked");

    // The remedy: drop the forwarded port where forwarded connections pass.
    lab.router.load_ruleset(&UFW_LIKE_ROUTER.replace(
        "policy accept;\n      }\n    }\n    table ip nat",
        "policy accept;\n        meta l4proto tcp ct original proto-dst 18080 drop\n      }\n    }\n    table ip nat",
    ));
    assert!(!lab.reaches(18080, &web), "the remedy blocks it");
    let after = forward_findings(&lab);
    assert!(
        !after.contains(&finding("forward-bypasses-input-firewall", "high", 18080)),
        "{after:?}"
    );
    assert!(after.contains(&finding("forward-bypasses-input-firewall", "high", 16379)));
    assert_eq!(forward_of(&lab.forwards(), 18080)["firewall"]["verdict"], "blocked");
}

/// A listener on the router's `port` held by a process whose command line
/// is docker-proxy's (argv[0] `/usr/sbin/docker-proxy` and its flags),
/// running until dropped.
struct FakeProxy(std::process::Child);

impl FakeProxy {
    fn start(router: &Netns, port: u16, target: &str, target_port: u16) -> FakeProxy {
        let listen = format!(
            "import socket,sys; s=socket.socket(); s.bind(('0.0.0.0',{port})); s.listen(); \
             print('ready', flush=True); sys.stdin.read()"
        );
        let command = format!(
            "exec -a /usr/sbin/docker-proxy /usr/bin/python3 -c \"{listen}\" -proto tcp -host-ip 0.0.0.0 \
             -host-port {port} -container-ip {target} -container-port {target_port}"
        );
        let mut child = router
            .command("bash")
            .args(["-c", &command])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        let stdout = child.stdout.as_mut().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready");
        FakeProxy(child)
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_userland_proxy_is_attributed_to_the_namespace_it_forwards_to() {
    if skip_unless_root_with(
        "a_userland_proxy_is_attributed_to_the_namespace_it_forwards_to",
        &["/usr/bin/python3"],
    ) {
        return;
    }
    let lab = Lab::new("fwd-proxy");
    // An address no other test's namespace holds: the target must be
    // the one namespace that has it.
    let target = "10.78.95.2";
    let mut add = lab.server.command("ip");
    assert!(add.args(["addr", "add", "10.78.95.2/32", "dev", "lo"]).status().unwrap().success());
    let _proxy = FakeProxy::start(&lab.router, 18095, target, 8080);
    let output =
        lab.router.command(common::BIN).args(["list", "-tlnp", "--json"]).output().unwrap();
    common::assert_success(&output, &["list", "-tlnp", "--json"]);
    let rows = common::json_of(&output.stdout);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["local"]["port"] == 18095)
        .expect("the proxy's listener");
    let serves = &row["processes"][0]["serves"];
    assert_eq!(serves["runtime"], "netns", "{row:#}");
    assert_eq!(serves["name"], lab.server.name.as_str(), "the namespace holding {target}");
    let table = lab.router.command(common::BIN).args(["list", "-tlnp"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains(&format!("serves=netns:{}", lab.server.name)), "{table}");
}

#[test]
fn every_port_a_forward_takes_is_judged_not_its_first_alone() {
    if skip_unless_root_with("every_port_a_forward_takes_is_judged_not_its_first_alone", &["nft"]) {
        return;
    }
    let lab = Lab::new("fwd-ports");
    lab.router.load_ruleset(
        "table inet filter {
           chain forward {
             type filter hook forward priority filter; policy drop;
             ct state established,related accept
             tcp dport { 3306, 6379 } accept
           }
         }
         table ip nat {
           chain prerouting {
             type nat hook prerouting priority dstnat; policy accept;
             tcp dport { 80, 6379 } dnat to 10.77.2.2
             tcp dport 3000-3400 dnat to 10.77.2.2
           }
         }",
    );
    let web = lab.serve(80);
    let redis = lab.serve(6379);
    let mysql = lab.serve(3306);
    assert!(!lab.reaches(80, &web), "the forward chain drops 80");
    assert!(lab.reaches(6379, &redis));
    assert!(lab.reaches(3306, &mysql));
    let forwards = lab.forwards();
    assert_eq!(forward_of(&forwards, 80)["firewall"]["verdict"], "open", "6379 is open");
    assert_eq!(forward_of(&forwards, 3000)["firewall"]["verdict"], "open", "3306 is open");
    let findings = forward_findings(&lab);
    for port in [80, 3000] {
        assert!(
            findings.contains(&finding("exposed-datastore", "high", port)),
            "the forward of {port}: {findings:?}"
        );
    }
}

#[test]
fn all_netns_joins_a_forward_to_the_listener_it_sends_to() {
    if skip_unless_root_with("all_netns_joins_a_forward_to_the_listener_it_sends_to", &["nft"]) {
        return;
    }
    let lab = Lab::new("fwd-join");
    // An address no other test's namespace holds: a forward is joined to
    // the one namespace that has its target.
    let target = "10.78.96.2";
    let mut add = lab.server.command("ip");
    assert!(add.args(["addr", "add", "10.78.96.2/32", "dev", "lo"]).status().unwrap().success());
    lab.router.load_ruleset(&UFW_LIKE_ROUTER.replace("10.77.2.2:8080", "10.78.96.2:8080"));
    let _web = lab.server.within(move || TcpListener::bind((target, 8080)).expect("bind"));
    let output = lab
        .router
        .command(common::BIN)
        .args(["audit", "--all-netns", "--json", "--fail-on", "never"])
        .output()
        .unwrap();
    let report = common::json_of(&output.stdout);
    let served = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|listener| {
            listener["netns"]["name"] == lab.server.name.as_str()
                && listener["local"]["port"] == 8080
        })
        .expect("the server's listener");
    let forwards = served["exposure"]["forwards"].as_array().expect("joined forwards");
    let ports: Vec<&Value> = forwards.iter().map(|forward| &forward["ports"][0]["first"]).collect();
    assert_eq!(ports, [18080], "{served:#}");
    assert_eq!(forwards[0]["firewall"]["verdict"], "open");
}

#[test]
fn rules_before_the_dnat_see_the_destination_the_forward_takes() {
    let test = "rules_before_the_dnat_see_the_destination_the_forward_takes";
    if skip_unless_root_with(test, &["nft"]) {
        return;
    }
    let lab = Lab::new("fwd-predst");
    lab.router.load_ruleset(
        "table ip guard {
           chain early {
             type filter hook prerouting priority -150; policy accept;
             ip daddr 10.77.1.1 tcp dport 18080 drop
           }
         }
         table ip nat {
           chain prerouting {
             type nat hook prerouting priority dstnat; policy accept;
             ip daddr 10.77.1.1 tcp dport 18080 dnat to 10.77.2.2:8080
           }
         }",
    );
    let web = lab.serve(8080);
    assert!(!lab.reaches(18080, &web), "dropped before the dnat");
    let forward = forward_of(&lab.forwards(), 18080).clone();
    assert_eq!(forward["destinations"], serde_json::json!(["10.77.1.1/32"]));
    assert_eq!(forward["firewall"]["verdict"], "blocked", "{forward:#}");
}
