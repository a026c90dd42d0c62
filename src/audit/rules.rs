//! The built-in rules: each a stable id, a default severity, a description,
//! the published checks that look for the same thing, and a check that
//! turns a listener into a finding with a concrete remedy.

use std::ops::RangeInclusive;

use crate::model::audit::{BindScope, Finding, Listener, Severity};
use crate::model::firewall::{FirewallExposure, FirewallRule, Verdict};
use crate::model::{IpFamily, Process, Transport};

/// A built-in rule.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    pub references: &'static [&'static str],
}

/// A well-known service by protocol and port range.
struct Service {
    name: &'static str,
    transport: Transport,
    ports: RangeInclusive<u16>,
}

const fn tcp(name: &'static str, low: u16, high: u16) -> Service {
    Service { name, transport: Transport::Tcp, ports: low..=high }
}

const fn udp(name: &'static str, low: u16, high: u16) -> Service {
    Service { name, transport: Transport::Udp, ports: low..=high }
}

const DATASTORES: &[Service] = &[
    tcp("MySQL/MariaDB", 3306, 3306),
    tcp("PostgreSQL", 5432, 5432),
    tcp("Redis", 6379, 6379),
    tcp("MongoDB", 27017, 27019),
    tcp("Elasticsearch/OpenSearch", 9200, 9200),
    tcp("Elasticsearch/OpenSearch transport", 9300, 9300),
    tcp("Memcached", 11211, 11211),
    udp("Memcached", 11211, 11211),
    tcp("CouchDB", 5984, 5984),
    tcp("Cassandra", 9042, 9042),
    tcp("Cassandra inter-node", 7000, 7000),
    tcp("Cassandra JMX", 7199, 7199),
    tcp("ClickHouse HTTP", 8123, 8123),
    tcp("ClickHouse", 9000, 9000),
    tcp("InfluxDB", 8086, 8086),
    tcp("ZooKeeper", 2181, 2181),
    tcp("Kafka", 9092, 9092),
    tcp("RabbitMQ", 5672, 5672),
    tcp("RabbitMQ management", 15672, 15672),
];

const DOCKER_PLAIN: &[Service] = &[tcp("Docker API without TLS", 2375, 2375)];

const CONTROL_PLANES: &[Service] = &[
    tcp("Docker API over TLS", 2376, 2376),
    tcp("etcd", 2379, 2380),
    tcp("kubelet", 10250, 10250),
    tcp("kubelet read-only", 10255, 10255),
    tcp("containerd CRI stream server", 10010, 10010),
];

const CLEARTEXT: &[Service] = &[
    tcp("telnet", 23, 23),
    tcp("rexec/rlogin/rsh", 512, 514),
    tcp("FTP", 21, 21),
    udp("TFTP", 69, 69),
];

const LEGACY: &[Service] = &[
    tcp("rpcbind", 111, 111),
    udp("rpcbind", 111, 111),
    tcp("NFS", 2049, 2049),
    udp("NFS", 2049, 2049),
    tcp("finger", 79, 79),
    udp("SNMP", 161, 161),
    tcp("X11", 6000, 6063),
    tcp("VNC", 5900, 5999),
    tcp("RDP", 3389, 3389),
    tcp("SMB over NetBIOS", 139, 139),
    tcp("SMB", 445, 445),
    udp("NetBIOS", 137, 138),
];

const MTA: &[Service] = &[tcp("SMTP", 25, 25)];

/// Every built-in rule, by id.
pub const RULES: &[Rule] = &[
    Rule {
        id: "docker-api-without-tls",
        title: "Docker API without TLS beyond loopback",
        severity: Severity::Critical,
        description: "The Docker daemon's plain TCP API (2375) gives anyone who reaches it root \
                      on the host, without authentication.",
        references: &["CIS Docker Benchmark: Docker daemon TCP socket only with TLS"],
    },
    Rule {
        id: "exposed-datastore",
        title: "Database, cache or search engine beyond loopback",
        severity: Severity::High,
        description: "Databases, caches, message brokers and search engines (MySQL, PostgreSQL, \
                      Redis, MongoDB, Elasticsearch, Memcached, CouchDB, Cassandra, ClickHouse, \
                      InfluxDB, ZooKeeper, Kafka, RabbitMQ) listen beyond loopback: they are \
                      rarely meant to be reached from the network, and several accept \
                      unauthenticated clients by default.",
        references: &["lynis DBS-1884 (Redis)", "lynis DBS-1888", "lynis DBS-1820 (MongoDB)"],
    },
    Rule {
        id: "exposed-control-plane",
        title: "Container or cluster control plane beyond loopback",
        severity: Severity::High,
        description: "The Docker API over TLS (2376), etcd (2379, 2380), the kubelet (10250, \
                      read-only 10255) or containerd's CRI stream server (10010) listen beyond \
                      loopback.",
        references: &["CIS Kubernetes Benchmark: kubelet read-only port disabled"],
    },
    Rule {
        id: "cleartext-login",
        title: "Cleartext remote login or file transfer",
        severity: Severity::High,
        description: "telnet, rsh/rlogin/rexec, FTP or TFTP listen beyond loopback: passwords \
                      and data cross the network unencrypted.",
        references: &["CIS Distribution Independent Linux: telnet, rsh and FTP servers not in use"],
    },
    Rule {
        id: "legacy-service",
        title: "Legacy or rarely needed network service",
        severity: Severity::Medium,
        description: "rpcbind, NFS, finger, SNMP, X11, VNC, RDP, SMB or NetBIOS listen beyond \
                      loopback.",
        references: &["CIS Distribution Independent Linux: special purpose services not in use"],
    },
    Rule {
        id: "nonlocal-mta",
        title: "Mail transfer agent beyond loopback",
        severity: Severity::Medium,
        description: "An MTA listens on port 25 beyond loopback; a host that only sends mail \
                      needs it on loopback alone.",
        references: &[
            "ComplianceAsCode has_nonlocal_mta",
            "CIS: mail transfer agent configured for local-only mode",
        ],
    },
    Rule {
        id: "open-without-firewall-rule",
        title: "Listener the firewall leaves open with no rule admitting it",
        severity: Severity::Medium,
        description: "A listener beyond loopback that the firewall leaves open to every source \
                      although no rule admits it: only the chains' accept policies let new \
                      connections in, so it is exposed by omission, not by decision.",
        references: &[
            "ComplianceAsCode ufw_rules_for_open_ports",
            "ComplianceAsCode iptables_rules_for_open_ports",
            "ComplianceAsCode nftables_rules_for_open_ports (nftables equivalent)",
        ],
    },
    Rule {
        id: "no-firewall",
        title: "Listener beyond loopback on a host with no firewall",
        severity: Severity::Low,
        description: "No base chain filters the way in (no firewall, or an empty ruleset): \
                      every listener beyond loopback is open to every source.",
        references: &["lynis FIRE-4590"],
    },
    Rule {
        id: "unowned-listener",
        title: "Listener no visible process holds",
        severity: Severity::Medium,
        description: "No process holds this listening socket although every process could be \
                      seen: kernel-owned (NFS, a tunnel) or held through a descriptor passed \
                      away; worth knowing what it is.",
        references: &["osquery incident-response pack: listening ports without a process"],
    },
    Rule {
        id: "deleted-binary",
        title: "Listener held by a deleted binary",
        severity: Severity::Medium,
        description: "The process that holds the listener runs a binary that has since been \
                      deleted: upgraded but not restarted, or a program that deleted itself.",
        references: &[],
    },
    Rule {
        id: "binary-in-temporary-directory",
        title: "Listener held by a program in a temporary or hidden directory",
        severity: Severity::High,
        description: "The holder's binary or working directory is under /tmp, /var/tmp, \
                      /dev/shm or a hidden directory, where services do not live and droppers \
                      do.",
        references: &[],
    },
    Rule {
        id: "unapproved-listener",
        title: "Listener the policy does not approve",
        severity: Severity::Medium,
        description: "With a policy in allowlist mode (`mode = \"allowlist\"`): a listener no \
                      allow entry of the policy approves. Only approved services should listen.",
        references: &[
            "CIS Distribution Independent Linux: ensure only approved services are listening on a network interface",
            "DISA STIG: the system must be configured to prohibit or restrict ports, protocols and services per the PPSM CAL (approved ports list)",
        ],
    },
    Rule {
        id: "dangling-forward",
        title: "Port forward to a port nothing listens on",
        severity: Severity::Medium,
        description: "A dnat or redirect sends connections to a port of this host that no \
                      socket listens on: a leftover of a removed service, and whatever starts \
                      listening there next is exposed through it.",
        references: &[],
    },
    Rule {
        id: "forward-bypasses-input-firewall",
        title: "Forwarded port the input firewall blocks but the forward path lets through",
        severity: Severity::High,
        description: "A dnat (a published container port, above all) sends connections through \
                      the forward path, which the input chains that ufw and firewalld manage \
                      never see: the port is reachable although the host's firewall blocks it.",
        references: &["Docker documentation: Docker and ufw (DOCKER-USER)"],
    },
    Rule {
        id: "forward-open-to-all",
        title: "Port forward open to every source",
        severity: Severity::Info,
        description: "A dnat (a port forward, a published container port) takes connections \
                      from every source address on every interface; most are meant for some \
                      networks only.",
        references: &[],
    },
    Rule {
        id: "no-rate-limit",
        title: "SSH, or a port the policy names, reachable without a rate limit",
        severity: Severity::Info,
        description: "The firewall admits new connections to SSH with no rate or connection \
                      limit on their way (nft `limit`, `meter`, `ct count`; iptables `recent`, \
                      `hashlimit`, `connlimit`; ufw `limit`): password guessing runs at full \
                      speed. SSH is checked always (TCP 22, or a port sshd holds); a policy's \
                      `rate_limit = [PORT, ...]` names more ports.",
        references: &["ufw limit", "CIS: ensure SSH MaxStartups is configured"],
    },
    Rule {
        id: "ssh-on-default-port",
        title: "SSH on port 22 on every address",
        severity: Severity::Info,
        description: "sshd listens on port 22 on every address. Moving the port is not \
                      security, but hardening guides ask where it stands.",
        references: &[],
    },
    Rule {
        id: "dual-stack-wildcard",
        title: "IPv6 wildcard listener that also accepts IPv4",
        severity: Severity::Info,
        description: "A `*` listener (:: without IPV6_V6ONLY) accepts IPv4 too: firewall rules \
                      for one family do not cover it.",
        references: &[],
    },
    Rule {
        id: "baseline-new",
        title: "Listener new since the baseline",
        severity: Severity::Medium,
        description: "With --baseline: a listener (protocol, address, port, interface, \
                      namespace) that the baseline does not have.",
        references: &[],
    },
    Rule {
        id: "baseline-changed",
        title: "Listener changed owner or address since the baseline",
        severity: Severity::Medium,
        description: "With --baseline: the same listener held by another program (name, \
                      binary, user, unit or container; not pid, which a restart changes), or \
                      the same program and port moved to another address.",
        references: &[],
    },
    Rule {
        id: "scan-open-but-blocked",
        title: "Open to a scan though the firewall blocks it",
        severity: Severity::High,
        description: "With --compare-scan: a scan from elsewhere found the listener open, \
                      but the firewall evaluation says new connections are blocked (or the \
                      listener is bound to loopback). Traffic takes a path the rules read do \
                      not cover: a DNAT, a published container port, another namespace's \
                      rules.",
        references: &[],
    },
    Rule {
        id: "scan-filtered-but-open",
        title: "Filtered to a scan though the firewall admits it",
        severity: Severity::Low,
        description: "With --compare-scan: the firewall evaluation says the listener is open, \
                      but a scan from elsewhere found it filtered: a filter upstream (a \
                      security group, a router) or the scanner's own rules drop it.",
        references: &[],
    },
    Rule {
        id: "baseline-gone",
        title: "Listener gone since the baseline",
        severity: Severity::Info,
        description: "With --baseline: a listener of the baseline that no longer listens.",
        references: &[],
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// What the listeners' owners could tell: whether they were looked up and
/// whether every process could be seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerView {
    pub looked_up: bool,
    pub all_visible: bool,
}

/// Every built-in finding for one listener: at most one per rule, since a
/// finding is known by its rule and listener (reports fingerprint them so).
pub fn check(listener: &Listener, owners: OwnerView) -> Vec<Finding> {
    let mut findings = Vec::new();
    let beyond_loopback = listener.exposure.bind != BindScope::Loopback;
    let socket = &listener.socket;
    let matched = beyond_loopback.then(|| port_rule(socket.netid, socket.local.port)).flatten();
    if let Some((id, service)) = matched {
        let why = format!(
            "{} ({}) listens on {}{}",
            service,
            port_text(listener),
            where_text(listener),
            holder_text(listener)
        );
        let mut found = finding(id, listener, why, port_remedy(id, listener));
        firewall_grade(&mut found, listener.exposure.firewall.as_ref());
        findings.push(found);
    }
    findings.extend(firewall_finding(listener));
    let holders = holders(listener);
    findings.extend(unlimited_ssh(listener, &holders));
    if owners.looked_up && owners.all_visible && holders.is_empty() {
        let why =
            format!("nothing visible holds {} on {}", port_text(listener), where_text(listener));
        findings.push(finding("unowned-listener", listener, why, "find what the kernel or a passed descriptor keeps open: check NFS, tunnels and socket-activated units (`systemctl list-sockets`)".into()));
    }
    let deleted: Vec<&Process> =
        holders.iter().copied().filter(|p| p.exe_deleted == Some(true)).collect();
    if !deleted.is_empty() {
        let why = deleted
            .iter()
            .map(|process| {
                format!(
                    "{} holds {} and runs a deleted binary, {}",
                    who(process),
                    port_text(listener),
                    exe_text(process)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let remedy = deleted_remedy(&deleted);
        findings.push(finding("deleted-binary", listener, why, remedy));
    }
    let misplaced: Vec<(&Process, String)> =
        holders.iter().filter_map(|p| suspicious_place(p).map(|place| (*p, place))).collect();
    if !misplaced.is_empty() {
        let why = misplaced
            .iter()
            .map(|(process, place)| {
                format!("{} holds {} and {place}", who(process), port_text(listener))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let pids: Vec<String> = misplaced.iter().map(|(p, _)| p.pid.to_string()).collect();
        let (noun, pronoun) =
            if pids.len() == 1 { ("process", "it runs") } else { ("processes", "they run") };
        let remedy = format!(
            "find out what {noun} {} {} and why {pronoun} from there; stop {} if nobody \
             installed {}",
            pids.join(", "),
            if pids.len() == 1 { "is" } else { "are" },
            if pids.len() == 1 { "it" } else { "them" },
            if pids.len() == 1 { "it" } else { "them" },
        );
        findings.push(finding("binary-in-temporary-directory", listener, why, remedy));
    }
    let socket = &listener.socket;
    if socket.netid == Transport::Tcp
        && socket.local.port == 22
        && listener.exposure.bind == BindScope::Wildcard
    {
        let why =
            format!("SSH listens on port 22 on {}{}", where_text(listener), holder_text(listener));
        findings.push(finding("ssh-on-default-port", listener, why, "nothing to fix; if you move it, change `Port` in /etc/ssh/sshd_config and the firewall together".into()));
    }
    if listener.exposure.bind == BindScope::Wildcard && listener.exposure.families.len() > 1 {
        let why = format!(
            "{} listens on `*`, IPv6 and IPv4 alike{}",
            port_text(listener),
            holder_text(listener)
        );
        findings.push(finding("dual-stack-wildcard", listener, why, "make sure the firewall covers both families (`inet` tables in nftables), or bind the service to the family it needs".into()));
    }
    findings
}

/// A port rule's finding, re-graded by what the firewall does: blocked is
/// two steps lower, restricted to private ranges three, restricted to
/// other sources one; open, rate-limited and unknown keep the severity.
pub(crate) fn firewall_grade(found: &mut Finding, firewall: Option<&FirewallExposure>) {
    let Some(firewall) = firewall else { return };
    let (steps, why) = match firewall.verdict {
        Verdict::Blocked => (2, "the firewall blocks new connections to it".to_string()),
        Verdict::Restricted if firewall.sources.iter().all(|s| is_private_prefix(s)) => (
            3,
            format!("the firewall admits only private sources ({})", firewall.sources.join(", ")),
        ),
        Verdict::Restricted => {
            (1, format!("the firewall admits only some sources ({})", firewall.sources.join(", ")))
        }
        _ => return,
    };
    let rule = firewall.rule.as_ref().map(rule_text).unwrap_or_default();
    found.severity = lower(found.severity, steps);
    found.message = format!("{}; severity lowered: {why}{rule}", found.message);
}

/// The rule a verdict names, as reports quote it (`` `text` `` with its
/// place), or nothing.
pub(crate) fn deciding_rule(firewall: &FirewallExposure) -> String {
    firewall.rule.as_ref().map(rule_text).unwrap_or_default()
}

/// `; deciding rule: inet filter input #7 `tcp dport 80 accept``.
fn rule_text(rule: &FirewallRule) -> String {
    let place = match (rule.handle, rule.line) {
        (Some(handle), _) => format!(" handle {handle}"),
        (None, Some(line)) => format!(" line {line}"),
        (None, None) => String::new(),
    };
    format!(" (rule: {} {}{place}: {})", rule.table, rule.chain, rule.text)
}

fn lower(severity: Severity, steps: usize) -> Severity {
    let index = Severity::ALL.iter().position(|s| *s == severity).unwrap_or(0);
    Severity::ALL[index.saturating_sub(steps)]
}

/// RFC 1918, shared address space, link-local, ULA and loopback.
fn is_private_prefix(prefix: &str) -> bool {
    let Some((addr, len)) = prefix.split_once('/') else { return false };
    let (Ok(addr), Ok(len)) = (addr.parse::<std::net::IpAddr>(), len.parse::<u8>()) else {
        return false;
    };
    const PRIVATE: [(&str, u8); 8] = [
        ("10.0.0.0", 8),
        ("172.16.0.0", 12),
        ("192.168.0.0", 16),
        ("100.64.0.0", 10),
        ("169.254.0.0", 16),
        ("127.0.0.0", 8),
        ("fc00::", 7),
        ("fe80::", 10),
    ];
    PRIVATE.iter().any(|(net, net_len)| {
        net.parse::<std::net::IpAddr>().is_ok_and(|net| {
            net.is_ipv4() == addr.is_ipv4() && len >= *net_len && same_prefix(net, addr, *net_len)
        })
    })
}

fn same_prefix(a: std::net::IpAddr, b: std::net::IpAddr, len: u8) -> bool {
    let bits = if a.is_ipv4() { 32 } else { 128 };
    let value = |addr| crate::firewall::space::address_value(addr);
    let shift = bits - u32::from(len);
    let (a, b) = (value(a), value(b));
    if shift >= 128 { true } else { a >> shift == b >> shift }
}

/// `no-firewall` or `open-without-firewall-rule`, for a listener beyond
/// loopback that the firewall leaves open to all by policy alone.
fn firewall_finding(listener: &Listener) -> Option<Finding> {
    let firewall = listener.exposure.firewall.as_ref()?;
    if firewall.verdict != Verdict::Open || firewall.rule.is_some() {
        return None;
    }
    let port = port_text(listener);
    let place = where_text(listener);
    if firewall.reason.as_deref() == Some(crate::firewall::verdict::NO_FIREWALL) {
        let why = format!("no firewall filters the way in, and {port} listens on {place}");
        return Some(finding("no-firewall", listener, why, "load a ruleset with an input policy of drop that admits the services meant to be reached (nftables: `table inet filter { chain input { type filter hook input priority filter; policy drop; ... } }`)".into()));
    }
    let why = format!(
        "{port} on {place} is open to every source, but only the chains' accept policies let it in{}",
        holder_text(listener)
    );
    let remedy = format!(
        "admit it with an explicit rule (`nft add rule inet filter input {} dport {} accept`, or `ufw allow {}`) and set the input policy to drop, or stop it listening beyond loopback",
        listener.socket.netid.as_str(),
        listener.socket.local.port,
        port
    );
    Some(finding("open-without-firewall-rule", listener, why, remedy))
}

/// An SSH listener (TCP 22, or held by sshd) that the firewall leaves open
/// to some or all sources with no rate limit on the way.
fn unlimited_ssh(listener: &Listener, holders: &[&Process]) -> Option<Finding> {
    let sshd = holders
        .iter()
        .any(|process| process.name.as_ref().is_some_and(|name| name.as_bytes() == b"sshd"));
    let socket = &listener.socket;
    (socket.local.port == 22 || sshd).then(|| unlimited(listener, "SSH")).flatten()
}

/// A TCP listener (`what`: SSH, or a port a policy names) that the
/// firewall leaves open to some or all sources with no rate limit on the
/// way.
pub(crate) fn unlimited(listener: &Listener, what: &str) -> Option<Finding> {
    let firewall = listener.exposure.firewall.as_ref()?;
    let socket = &listener.socket;
    let exposed = matches!(firewall.verdict, Verdict::Open | Verdict::Restricted);
    if socket.netid != Transport::Tcp || !exposed {
        return None;
    }
    let admitted_by = match &firewall.rule {
        Some(rule) => format!(", admitted by `{}`", rule_text(rule)),
        None => ", admitted by the chains' accept policies".to_owned(),
    };
    let why = format!(
        "{what} ({}) on {} takes new connections from {} with no rate limit{admitted_by}",
        port_text(listener),
        where_text(listener),
        firewall.sources.join(", ")
    );
    let port = socket.local.port;
    let remedy = format!(
        "limit new connections before the rule that admits them: `nft insert rule inet filter input tcp dport {port} ct state new limit rate over 6/minute drop`, or `ufw limit {port}/tcp`"
    );
    Some(finding(NO_RATE_LIMIT, listener, why, remedy))
}

/// The rule of a listener reachable without a rate limit.
pub const NO_RATE_LIMIT: &str = "no-rate-limit";

/// The port rule that names `port`, with the service it names: one at
/// most. Where two rules name the port (CouchDB's 5984 lies in VNC's
/// 5900-5999), the service named by the narrower range is the one meant;
/// on a tie, the rule listed first.
pub fn port_rule(transport: Transport, port: u16) -> Option<(&'static str, &'static str)> {
    port_services()
        .filter(|(_, service)| service.transport == transport && service.ports.contains(&port))
        .min_by_key(|(_, service)| service.ports.end() - service.ports.start())
        .map(|(id, service)| (id, service.name))
}

/// The ports some port rule names for `transport`, as ranges.
pub fn port_rule_ports(transport: Transport) -> impl Iterator<Item = RangeInclusive<u16>> {
    port_services()
        .filter(move |(_, service)| service.transport == transport)
        .map(|(_, service)| service.ports.clone())
}

/// Each port rule's id with each service it names.
fn port_services() -> impl Iterator<Item = (&'static str, &'static Service)> {
    const PORT_RULES: [(&str, &[Service]); 6] = [
        ("docker-api-without-tls", DOCKER_PLAIN),
        ("exposed-datastore", DATASTORES),
        ("exposed-control-plane", CONTROL_PLANES),
        ("cleartext-login", CLEARTEXT),
        ("legacy-service", LEGACY),
        ("nonlocal-mta", MTA),
    ];
    PORT_RULES.iter().flat_map(|(id, services)| services.iter().map(move |service| (*id, service)))
}

/// A finding of rule `id` about `listener`, with the rule's severity, title
/// and references.
pub(crate) fn finding(id: &str, listener: &Listener, message: String, remedy: String) -> Finding {
    Finding { listener: Some(listener.clone()), ..about(id, message, remedy) }
}

/// A finding of rule `id` about nothing yet: the caller names its subject.
pub(crate) fn about(id: &str, message: String, remedy: String) -> Finding {
    let rule = rule(id);
    Finding {
        rule: id.to_owned(),
        severity: rule.map_or(Severity::Medium, |rule| rule.severity),
        title: rule.map_or("", |rule| rule.title).to_owned(),
        message,
        remedy,
        references: rule
            .map_or(&[][..], |rule| rule.references)
            .iter()
            .map(|r| r.to_string())
            .collect(),
        listener: None,
        forward: None,
        policy_line: None,
    }
}

/// The processes that hold the listener, each once (a process may hold it
/// through several descriptors).
fn holders(listener: &Listener) -> Vec<&Process> {
    let mut processes: Vec<&Process> = Vec::new();
    let owners = listener.socket.owners.as_ref();
    for holder in owners.map(|o| o.processes.as_slice()).unwrap_or_default() {
        if !processes.iter().any(|p| p.pid == holder.process.pid) {
            processes.push(holder.process.as_ref());
        }
    }
    processes
}

/// Restart the holders onto the installed binary: by their units where
/// they have one, else by pid.
fn deleted_remedy(processes: &[&Process]) -> String {
    let mut units: Vec<&str> = processes.iter().filter_map(|p| p.unit.as_deref()).collect();
    units.dedup();
    let pids: Vec<String> =
        processes.iter().filter(|p| p.unit.is_none()).map(|p| p.pid.to_string()).collect();
    let by_pid = match pids.len() {
        0 => None,
        1 => Some(format!("restart process {} onto the installed binary", pids[0])),
        _ => Some(format!("restart processes {} onto the installed binary", pids.join(", "))),
    };
    let by_unit = (!units.is_empty()).then(|| {
        format!("restart it onto the installed binary: `systemctl restart {}`", units.join(" "))
    });
    let restart: Vec<String> = [by_unit, by_pid].into_iter().flatten().collect();
    format!("{}, or find out why its binary is gone", restart.join("; "))
}

/// `6379/tcp`.
fn port_text(listener: &Listener) -> String {
    format!("{}/{}", listener.socket.local.port, listener.socket.netid.as_str())
}

/// `0.0.0.0 (every IPv4 address)`, `:: (every IPv6 address)`, `10.0.0.5`,
/// `* (every address, IPv6 and IPv4)`; `%eth0` when bound to a device.
fn where_text(listener: &Listener) -> String {
    let addr = listener.socket.local.addr;
    let device = match &listener.socket.interface {
        Some(device) => format!("%{device}"),
        None => String::new(),
    };
    match (listener.exposure.bind, listener.exposure.families.as_slice()) {
        (BindScope::Wildcard, [_, _, ..]) => format!("*{device} (every address, IPv6 and IPv4)"),
        (BindScope::Wildcard, [IpFamily::Inet6]) => {
            format!("{addr}{device} (every IPv6 address)")
        }
        (BindScope::Wildcard, _) => format!("{addr}{device} (every IPv4 address)"),
        _ => format!("{addr}{device}"),
    }
}

/// `redis-server (pid 812, user redis, unit redis-server.service)`.
fn who(process: &Process) -> String {
    let mut parts = vec![format!("pid {}", process.pid)];
    if let Some(user) = &process.user {
        parts.push(format!("user {user}"));
    }
    if let Some(unit) = &process.unit {
        parts.push(format!("unit {unit}"));
    }
    if let Some(container) = &process.container {
        parts.push(format!("{} container {}", container.runtime, short_id(&container.id)));
    }
    format!("{} ({})", process.display_name(), parts.join(", "))
}

fn exe_text(process: &Process) -> String {
    process.exe.as_ref().map_or("an unreadable binary".into(), |exe| exe.lossy().into_owned())
}

/// `; held by redis-server (pid 812, user redis, unit redis-server.service)`,
/// and `and 3 other processes` when more hold it.
fn holder_text(listener: &Listener) -> String {
    let holders = holders(listener);
    let Some(process) = holders.first().copied() else { return String::new() };
    let others = match holders.len() - 1 {
        0 => String::new(),
        1 => " and 1 other process".into(),
        more => format!(" and {more} other processes"),
    };
    format!("; held by {}{others}", who(process))
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Where a holder runs from, when that is a temporary or hidden directory.
fn suspicious_place(process: &Process) -> Option<String> {
    let exe = process.exe.as_ref().map(|exe| exe.lossy().into_owned());
    let cwd = process.cwd.as_ref().map(|cwd| cwd.lossy().into_owned());
    if let Some(reason) = exe.as_deref().and_then(suspicion) {
        return Some(format!("runs {}, {reason}", exe.as_deref().unwrap_or_default()));
    }
    let cwd = cwd?;
    suspicion(&cwd).map(|reason| format!("works in {cwd}, {reason}"))
}

/// Why a path is a suspicious place to run from: `under /tmp`, `in a hidden
/// directory (.cache)`.
fn suspicion(path: &str) -> Option<String> {
    let temporary = ["/tmp", "/var/tmp", "/dev/shm"].into_iter().find(|dir| {
        path == *dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
    });
    if let Some(dir) = temporary {
        return Some(format!("under {dir}"));
    }
    let hidden =
        path.split('/').find(|part| part.starts_with('.') && *part != "." && *part != "..");
    hidden.map(|part| format!("in a hidden directory ({part})"))
}

/// What to do about a well-known port beyond loopback: the rule's own
/// advice where there is one, then [`bind_remedy`].
fn port_remedy(id: &str, listener: &Listener) -> String {
    let advice = match id {
        "docker-api-without-tls" => {
            "serve the Docker API on its UNIX socket only (drop `-H tcp://...:2375` from dockerd's \
             flags or `hosts` in /etc/docker/daemon.json), or on 2376 with `--tlsverify`; "
        }
        "cleartext-login" => "replace it with SSH (sftp, scp) or another encrypted protocol; ",
        _ => "",
    };
    format!("{advice}{}", bind_remedy(listener))
}

/// Stop the service, bind it to loopback, or restrict the port.
fn bind_remedy(listener: &Listener) -> String {
    let socket = &listener.socket;
    let (port, proto) = (socket.local.port, socket.netid.as_str());
    let loopback = match listener.exposure.families.as_slice() {
        [IpFamily::Inet6] => "::1",
        [_, _, ..] => "127.0.0.1 and ::1",
        _ => "127.0.0.1",
    };
    let stop = match holders(listener).first().and_then(|p| p.unit.as_deref()) {
        Some(unit) => format!("if it is not needed, `systemctl disable --now {unit}`; "),
        None => String::new(),
    };
    format!(
        "{stop}if only this host uses it, bind it to {loopback} in the service's configuration; \
         otherwise let the firewall admit only its clients and then drop the rest: \
         `nft add rule inet filter input {proto} dport {port} drop`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_named_once() {
        let mut ids: Vec<&str> = RULES.iter().map(|rule| rule.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn temporary_and_hidden_places() {
        for path in ["/tmp/x", "/var/tmp/a/b", "/dev/shm/y", "/home/u/.cache/evil", "/tmp"] {
            assert!(suspicion(path).is_some(), "{path}");
        }
        for path in ["/usr/sbin/sshd", "/tmpfoo/x", "/srv/app", "/"] {
            assert!(suspicion(path).is_none(), "{path}");
        }
    }

    fn listener(holders: Vec<(u32, Process)>) -> Listener {
        use crate::model::{Holder, InetEnd, InetSocket, Ownership, SocketState};
        use std::sync::Arc;
        let mut socket = InetSocket::new(Transport::Tcp, IpFamily::Inet, SocketState::Listening);
        socket.local = InetEnd::new("0.0.0.0".parse().unwrap(), 8080);
        let processes = holders
            .into_iter()
            .map(|(fd, process)| Holder { socket_context: None, fd, process: Arc::new(process) })
            .collect();
        socket.owners = Some(Ownership { processes, owner_visible: true });
        let exposure = crate::audit::exposure::exposure(&socket);
        Listener { socket, exposure }
    }

    fn process(pid: u32, unit: Option<&str>) -> Process {
        Process {
            pid,
            name: Some("srv".into()),
            exe: Some("/tmp/srv".into()),
            exe_deleted: Some(true),
            unit: unit.map(str::to_owned),
            ..Process::default()
        }
    }

    const SEEN: OwnerView = OwnerView { looked_up: true, all_visible: true };

    #[test]
    fn a_port_two_rules_name_is_the_narrower_services() {
        let mut couchdb = listener(Vec::new());
        couchdb.socket.local.port = 5984;
        let findings = check(&couchdb, OwnerView { looked_up: false, all_visible: false });
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["exposed-datastore"], "not VNC too");
        assert!(findings[0].message.starts_with("CouchDB (5984/tcp)"), "{}", findings[0].message);
        couchdb.socket.local.port = 5985;
        assert_eq!(
            check(&couchdb, OwnerView { looked_up: false, all_visible: false })[0].rule,
            "legacy-service"
        );
    }

    #[test]
    fn the_bind_remedy_names_the_unit_the_loopback_of_each_family_and_the_port() {
        let mut redis = listener(vec![(
            3,
            Process {
                pid: 812,
                name: Some("redis-server".into()),
                unit: Some("redis-server.service".into()),
                ..Process::default()
            },
        )]);
        redis.socket.local.port = 6379;
        let remedy = &check(&redis, SEEN)[0].remedy;
        assert_eq!(
            remedy,
            "if it is not needed, `systemctl disable --now redis-server.service`; if only this \
             host uses it, bind it to 127.0.0.1 in the service's configuration; otherwise let \
             the firewall admit only its clients and then drop the rest: `nft add rule inet \
             filter input tcp dport 6379 drop`"
        );
        redis.exposure.families = IpFamily::ALL.to_vec();
        assert!(check(&redis, SEEN)[0].remedy.contains("bind it to 127.0.0.1 and ::1 in"));
        redis.exposure.families = vec![IpFamily::Inet6];
        assert!(check(&redis, SEEN)[0].remedy.contains("bind it to ::1 in"));
    }

    #[test]
    fn a_process_with_two_descriptors_is_one_holder_and_one_finding() {
        let one = listener(vec![(3, process(7, None)), (4, process(7, None))]);
        let findings = check(&one, SEEN);
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["deleted-binary", "binary-in-temporary-directory"]);
        assert_eq!(
            findings[0].message,
            "srv (pid 7) holds 8080/tcp and runs a deleted binary, /tmp/srv"
        );
        assert_eq!(
            findings[0].remedy,
            "restart process 7 onto the installed binary, or find out why its binary is gone"
        );
        assert_eq!(findings[1].message, "srv (pid 7) holds 8080/tcp and runs /tmp/srv, under /tmp");
    }

    #[test]
    fn holders_with_units_are_restarted_by_unit() {
        let shared = listener(vec![
            (3, process(7, Some("srv.service"))),
            (3, process(8, Some("srv.service"))),
            (5, process(9, None)),
        ]);
        let findings = check(&shared, SEEN);
        assert_eq!(findings.len(), 2, "one per rule: {findings:#?}");
        assert_eq!(
            findings[0].remedy,
            "restart it onto the installed binary: `systemctl restart srv.service`; restart \
             process 9 onto the installed binary, or find out why its binary is gone"
        );
        assert_eq!(findings[0].message.matches("runs a deleted binary").count(), 3);
        assert!(findings[1].remedy.starts_with("find out what processes 7, 8, 9 are"));
    }

    #[test]
    fn port_findings_name_the_first_holder_and_count_the_rest() {
        let mut redis = listener(vec![(3, process(7, None)), (3, process(8, None))]);
        redis.socket.local.port = 6379;
        let findings = check(&redis, SEEN);
        let datastore = findings.iter().find(|f| f.rule == "exposed-datastore").unwrap();
        assert_eq!(
            datastore.message,
            "Redis (6379/tcp) listens on 0.0.0.0 (every IPv4 address); held by srv (pid 7) and \
             1 other process"
        );
    }
}
