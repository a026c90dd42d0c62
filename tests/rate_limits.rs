//! Rate limits on SSH: the two common recipes (nft `limit`, iptables
//! `recent`) are recognised as limits, and an SSH port admitted without
//! one is reported. Each case runs in namespaces of its own: a server
//! holding port 22 and a client joined to it by a veth pair.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{Netns, join_with_veth, skip_unless_root_with};
use serde_json::Value;

struct Lab {
    server: Netns,
    client: Netns,
    _ssh: TcpListener,
}

impl Lab {
    fn new(test: &str) -> Lab {
        let server = Netns::new(&format!("{test}-s"));
        let client = Netns::new(&format!("{test}-c"));
        join_with_veth(&server, &["10.78.0.1/24"], &client, &["10.78.0.2/24"]);
        let ssh = server.within(|| TcpListener::bind("0.0.0.0:22").expect("bind 22"));
        Lab { server, client, _ssh: ssh }
    }

    fn iptables(&self, args: &str) {
        let status = self.server.command("iptables-nft").args(args.split_whitespace()).status();
        assert!(status.unwrap().success(), "iptables-nft {args}");
    }

    /// The audit's firewall object for port 22 and its findings' rules.
    fn audit(&self) -> (Value, Vec<String>) {
        self.audit_port(22, &[])
    }

    /// The audit's firewall object for `port` and its findings' rules,
    /// with `extra` arguments.
    fn audit_port(&self, port: u16, extra: &[&str]) -> (Value, Vec<String>) {
        let output = self
            .server
            .command(common::BIN)
            .args(["audit", "--json", "--fail-on", "never"])
            .args(extra)
            .output()
            .unwrap();
        let report = common::json_of(&output.stdout);
        let listener = report["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|listener| listener["local"]["port"] == port)
            .expect("the port audited")
            .clone();
        let rules = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|finding| finding["listener"]["local"]["port"] == port)
            .map(|finding| finding["rule"].as_str().unwrap().to_owned())
            .collect();
        (listener["exposure"]["firewall"].clone(), rules)
    }

    /// How many of `attempts` quick connections from the client get in.
    fn connections_in(&self, attempts: usize) -> usize {
        let address: SocketAddr = "10.78.0.1:22".parse().unwrap();
        self.client.within(move || {
            (0..attempts)
                .filter(|_| {
                    TcpStream::connect_timeout(&address, Duration::from_millis(400)).is_ok()
                })
                .count()
        })
    }
}

#[test]
fn an_nft_limit_on_ssh_is_recognised_and_holds() {
    if skip_unless_root_with("an_nft_limit_on_ssh_is_recognised_and_holds", &["nft"]) {
        return;
    }
    let lab = Lab::new("ssh-nft-limit");
    lab.server.load_ruleset(
        "table inet filter {
           chain input {
             type filter hook input priority filter; policy drop;
             ct state established,related accept
             tcp dport 22 ct state new limit rate 3/minute burst 3 packets accept
           }
         }",
    );
    let (firewall, rules) = lab.audit();
    assert_eq!(firewall["verdict"], "open-rate-limited", "{firewall}");
    assert!(firewall["rule"]["text"].as_str().unwrap().contains("limit rate 3/minute"));
    assert!(!rules.contains(&"no-rate-limit".to_owned()), "{rules:?}");
    let admitted = lab.connections_in(6);
    assert!((1..6).contains(&admitted), "the limit lets some in, not all: {admitted} of 6");
}

#[test]
fn an_iptables_recent_recipe_on_ssh_is_recognised() {
    if skip_unless_root_with(
        "an_iptables_recent_recipe_on_ssh_is_recognised",
        &["iptables-nft", "nft"],
    ) {
        return;
    }
    let lab = Lab::new("ssh-recent");
    lab.iptables("-P INPUT DROP");
    lab.iptables("-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
    lab.iptables(
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name SSH",
    );
    lab.iptables(
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP",
    );
    lab.iptables("-A INPUT -p tcp --dport 22 -j ACCEPT");
    let (firewall, rules) = lab.audit();
    assert_eq!(firewall["verdict"], "open-rate-limited", "{firewall}");
    assert!(!rules.contains(&"no-rate-limit".to_owned()), "{rules:?}");
    let admitted = lab.connections_in(6);
    assert_eq!(admitted, 3, "recent lets three new connections in a minute through");
}

#[test]
fn ssh_admitted_without_a_limit_is_reported() {
    if skip_unless_root_with("ssh_admitted_without_a_limit_is_reported", &["nft"]) {
        return;
    }
    let lab = Lab::new("ssh-no-limit");
    lab.server.load_ruleset(
        "table inet filter {
           chain input {
             type filter hook input priority filter; policy drop;
             ct state established,related accept
             tcp dport 22 accept
           }
         }",
    );
    let (firewall, rules) = lab.audit();
    assert_eq!(firewall["verdict"], "open", "{firewall}");
    assert!(rules.contains(&"no-rate-limit".to_owned()), "{rules:?}");
    assert_eq!(lab.connections_in(6), 6, "nothing limits them");
}

#[test]
fn a_port_the_policy_names_is_held_to_the_same_check() {
    if skip_unless_root_with("a_port_the_policy_names_is_held_to_the_same_check", &["nft"]) {
        return;
    }
    let lab = Lab::new("ssh-policy-port");
    let _other = lab.server.within(|| TcpListener::bind("0.0.0.0:2222").expect("bind 2222"));
    lab.server.load_ruleset(
        "table inet filter {
           chain input {
             type filter hook input priority filter; policy drop;
             tcp dport 22 ct state new limit rate 3/minute accept
             tcp dport 2222 accept
           }
         }",
    );
    let (_, rules) = lab.audit_port(2222, &[]);
    assert!(!rules.contains(&"no-rate-limit".to_owned()), "not SSH, not named: {rules:?}");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "rate_limit = [2222, \"8000-8100\"]\n").unwrap();
    let (_, rules) = lab.audit_port(2222, &["--policy", policy.to_str().unwrap()]);
    assert!(rules.contains(&"no-rate-limit".to_owned()), "{rules:?}");
    let (_, rules) = lab.audit_port(22, &["--policy", policy.to_str().unwrap()]);
    assert!(!rules.contains(&"no-rate-limit".to_owned()), "22 has its limit: {rules:?}");
}
