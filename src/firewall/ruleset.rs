//! The one rule model both readers produce (nft's JSON and iptables' save
//! format) and the evaluator runs over. It keeps what decides whether a new
//! connection reaches a listener; anything else a rule does that could
//! matter is kept by name as [`Match::Unknown`] or [`Action::Unknown`], so
//! that the answer for the traffic it touches becomes `unknown`, never a
//! guess.

use std::collections::HashMap;

use super::space::Intervals;

/// Which packets a table sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFamily {
    Ip,
    Ip6,
    Inet,
    /// Per device, at ingress; sees both IP families.
    Netdev,
    /// arp and bridge tables: not on a listener's path.
    Other,
}

impl TableFamily {
    pub fn parse(word: &str) -> TableFamily {
        match word {
            "ip" => TableFamily::Ip,
            "ip6" => TableFamily::Ip6,
            "inet" => TableFamily::Inet,
            "netdev" => TableFamily::Netdev,
            _ => TableFamily::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TableFamily::Ip => "ip",
            TableFamily::Ip6 => "ip6",
            TableFamily::Inet => "inet",
            TableFamily::Netdev => "netdev",
            TableFamily::Other => "other",
        }
    }
}

/// Where a ruleset came from: nftables (rules written by nft or by
/// iptables-nft) or the legacy x_tables, which nft does not show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    Nftables,
    IptablesLegacy,
}

/// A hook on a packet's way in, in the order a packet meets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Ingress,
    Prerouting,
    Input,
    /// Packets routed through this host (to a container, after DNAT).
    Forward,
    /// Packets this host sends, its own connections included.
    Output,
    /// postrouting: not on the way to a listener.
    Other,
}

impl Hook {
    /// Whether a new connection to a listener of this host crosses it.
    pub fn is_on_input_path(self) -> bool {
        matches!(self, Hook::Ingress | Hook::Prerouting | Hook::Input)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Other => "other",
        }
    }

    pub fn parse(word: &str) -> Hook {
        match word {
            "ingress" => Hook::Ingress,
            "prerouting" | "PREROUTING" => Hook::Prerouting,
            "input" | "INPUT" => Hook::Input,
            "forward" | "FORWARD" => Hook::Forward,
            "output" | "OUTPUT" => Hook::Output,
            _ => Hook::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainKind {
    Filter,
    Nat,
    Route,
}

/// A base chain's place on a hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseChain {
    pub hook: Hook,
    pub priority: i32,
    pub kind: ChainKind,
    /// The verdict at the end of the chain: accept or drop.
    pub policy_accepts: bool,
    /// netdev ingress chains: the devices they are attached to.
    pub devices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub backend: Backend,
    pub family: TableFamily,
    pub table: String,
    pub name: String,
    /// `None` for a regular chain, reached only by jump or goto.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

/// Where a rule is, to name it in a report: nft's handle, or the line of
/// the save output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleOrigin {
    pub handle: Option<u64>,
    pub line: Option<usize>,
    /// The rule as its tool prints it (nft syntax, or the `-A` line).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// All must match (a conjunction), in order.
    pub matches: Vec<Match>,
    pub action: Action,
    pub origin: RuleOrigin,
}

/// What a match looks at in a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// The input interface's name (`iif`, `iifname`, `-i`).
    InInterface,
    /// The output interface (`oif`, `oifname`, `-o`): none on the input path.
    OutInterface,
    /// `ip saddr` (v4 true) or `ip6 saddr`; an IPv4 key never matches an
    /// IPv6 packet, negated or not.
    SourceAddress {
        v4: bool,
    },
    DestinationAddress {
        v4: bool,
    },
    /// The layer 4 protocol number (`meta l4proto`, `ip protocol`, `-p`).
    Protocol,
    /// `meta nfproto`: 2 for IPv4, 10 for IPv6.
    NfProto,
    /// A transport port; `protocol` is 6 or 17 for `tcp dport`/`udp dport`
    /// (which match only that protocol) and `None` for `th dport`.
    SourcePort {
        protocol: Option<u8>,
    },
    DestinationPort {
        protocol: Option<u8>,
    },
    /// The destination port the connection was opened for, before any
    /// dnat (`ct original proto-dst`, `-m conntrack --ctorigdstport`).
    OriginalDestinationPort,
    /// Conntrack state as [`CtState`] bits.
    CtState,
    /// Conntrack status as [`CtStatus`] bits.
    CtStatus,
    /// The destination address's type (`fib daddr type`, `-m addrtype
    /// --dst-type`) as [`AddressType`] bits.
    DestinationType,
}

/// Conntrack state bits; a new connection's first packet is `NEW`.
pub struct CtState;

impl CtState {
    pub const INVALID: u128 = 1;
    pub const ESTABLISHED: u128 = 2;
    pub const RELATED: u128 = 4;
    pub const NEW: u128 = 8;
    pub const UNTRACKED: u128 = 64;

    pub fn parse(word: &str) -> Option<u128> {
        match word.to_ascii_lowercase().as_str() {
            "invalid" => Some(Self::INVALID),
            "established" => Some(Self::ESTABLISHED),
            "related" => Some(Self::RELATED),
            "new" => Some(Self::NEW),
            "untracked" => Some(Self::UNTRACKED),
            _ => None,
        }
    }
}

/// Conntrack status bits that matter here; a direct connection has none.
pub struct CtStatus;

impl CtStatus {
    pub const SNAT: u128 = 16;
    pub const DNAT: u128 = 32;

    pub fn parse(word: &str) -> Option<u128> {
        match word {
            "expected" => Some(1),
            "seen-reply" => Some(2),
            "assured" => Some(4),
            "confirmed" => Some(8),
            "snat" => Some(Self::SNAT),
            "dnat" => Some(Self::DNAT),
            "dying" => Some(512),
            _ => None,
        }
    }
}

/// Address types (`fib daddr type`, `addrtype`) as bits.
pub struct AddressType;

impl AddressType {
    pub const UNICAST: u128 = 1;
    pub const LOCAL: u128 = 2;
    pub const BROADCAST: u128 = 4;
    pub const ANYCAST: u128 = 8;
    pub const MULTICAST: u128 = 16;
    pub const BLACKHOLE: u128 = 32;
    pub const UNREACHABLE: u128 = 64;
    pub const PROHIBIT: u128 = 128;
    pub const OTHER: u128 = 256;

    pub fn parse(word: &str) -> Option<u128> {
        match word.to_ascii_lowercase().as_str() {
            "unicast" => Some(Self::UNICAST),
            "local" => Some(Self::LOCAL),
            "broadcast" => Some(Self::BROADCAST),
            "anycast" => Some(Self::ANYCAST),
            "multicast" => Some(Self::MULTICAST),
            "blackhole" => Some(Self::BLACKHOLE),
            "unreachable" => Some(Self::UNREACHABLE),
            "prohibit" => Some(Self::PROHIBIT),
            "unspec" | "throw" | "nat" | "xresolve" => Some(Self::OTHER),
            _ => None,
        }
    }
}

/// The values a match compares with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Values {
    /// Numbers: addresses, ports, protocol numbers, or state/type bits
    /// (for bit keys, a match is any bit in common).
    Numbers(Intervals),
    /// Interface names; a name ending in `*` (nft) or `+` (iptables) is a
    /// prefix.
    Names(Vec<String>),
    /// A named set of the same table, resolved through [`Ruleset::sets`].
    Set(String),
}

/// One condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// `key` is (or, negated, is not) among `values`.
    Is { key: Key, negated: bool, values: Values },
    /// A rate or count limit (`limit`, `meter`, `ct count`, iptables
    /// `limit`, `hashlimit`, `recent --update/--rcheck`, `connlimit`): it
    /// may match or not, depending on traffic the ruleset cannot know.
    RateLimit { what: String },
    /// A construct the evaluator does not model, by name (`xt conntrack
    /// without a save line`, `socket`, `osf`, `raw payload`).
    Unknown { construct: String },
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// No verdict (counter, log, set updates, marks): the next rule.
    Continue,
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    /// dnat, redirect, tproxy, masquerade...: the packet is sent elsewhere
    /// (or rewritten) by NAT.
    Nat(Nat),
    /// A verdict map: the verdict for the value of `key` (a literal map or
    /// a named one).
    VerdictMap {
        key: Key,
        map: VerdictMapRef,
    },
    /// A verdict the evaluator does not model (queue, an xt target without
    /// a save line), by name.
    Unknown(String),
}

/// A NAT statement: its kind (`dnat`, `redirect`, `snat`, `masquerade`,
/// `netmap`, `tproxy`) and, for dnat and redirect, where it sends a
/// connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat {
    pub kind: String,
    pub to: NatTo,
}

impl Nat {
    /// A NAT statement whose destination is not read.
    pub fn named(kind: &str) -> Nat {
        Nat { kind: kind.to_owned(), to: NatTo::Unread }
    }

    /// dnat or redirect: a connection's destination is rewritten, so a
    /// port of this host is forwarded.
    pub fn forwards(&self) -> bool {
        self.kind == "dnat" || self.kind == "redirect"
    }
}

/// Where dnat or redirect sends a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatTo {
    /// Not said (masquerade), or in a form not read: the rule text says.
    Unread,
    /// One destination.
    One(NatTarget),
    /// A destination per value of `key` (the destination port, as a rule
    /// writes `dnat to tcp dport map { 80 : 10.0.0.2 }`), from a literal
    /// map or a named one.
    Map { key: Key, map: NatMapRef },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatMapRef {
    Literal(Vec<(Values, NatTarget)>),
    Named(String),
}

/// A new destination: an address (none for redirect, which keeps the
/// packet on this host) and ports (none: the port is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTarget {
    pub addr: Option<std::net::IpAddr>,
    pub ports: Option<(u16, u16)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerdictMapRef {
    Literal(Vec<(Values, Action)>),
    Named(String),
}

/// A named set's or map's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetContents {
    Values(Values),
    /// A verdict map: each element's values and verdict.
    Verdicts(Vec<(Values, Action)>),
    /// A NAT map: each element's values and destination.
    NatTargets(Vec<(Values, NatTarget)>),
    /// A set the evaluator cannot use (concatenated keys, a dynamic set
    /// filled by the datapath), and why.
    Unknown(String),
}

/// Named sets and maps by (backend, family, table, name).
pub type SetKey = (Backend, TableFamily, String, String);

/// Every chain that could see a packet, with the named sets they use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
    pub sets: HashMap<SetKey, SetContents>,
}

impl Ruleset {
    /// Whether any base chain sits on the way into the host.
    pub fn has_input_path(&self) -> bool {
        self.chains.iter().any(|chain| {
            chain.base.as_ref().is_some_and(|base| base.hook.is_on_input_path())
                && chain.family != TableFamily::Other
        })
    }

    pub fn extend(&mut self, other: Ruleset) {
        self.chains.extend(other.chains);
        self.sets.extend(other.sets);
    }
}

/// The IP protocol number of a name as nft and iptables write it.
pub fn protocol_number(name: &str) -> Option<u8> {
    Some(match name {
        "icmp" => 1,
        "igmp" => 2,
        "ipip" | "ipencap" => 4,
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "ipv6" => 41,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// The services rulesets name most; any other name stays unknown rather
/// than depend on this host's /etc/services.
pub fn service_port(name: &str) -> Option<u16> {
    let port = match name {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "http" | "www" => 80,
        "kerberos" => 88,
        "pop3" => 110,
        "ntp" => 123,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ssn" => 139,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "submissions" => 465,
        "isakmp" => 500,
        "syslog" => 514,
        "submission" => 587,
        "ipp" => 631,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "openvpn" => 1194,
        "mysql" => 3306,
        "ms-wbt-server" => 3389,
        "postgresql" => 5432,
        "mdns" => 5353,
        "http-alt" => 8080,
        _ => return None,
    };
    Some(port)
}
