//! What the firewall does to a new connection to a listener, as reports
//! write it: a verdict, the sources it is open to, and the deciding rule.

use serde::{Deserialize, Serialize};

/// The firewall's answer for a listener, most exposed last but for
/// `unknown`, which never counts as protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Bound to loopback: nothing beyond the host reaches it, whatever the
    /// firewall says.
    LocalOnly,
    /// Every new connection from beyond the host is dropped or rejected.
    Blocked,
    /// Open to some sources or interfaces only.
    Restricted,
    /// What decides depends on a construct the evaluator does not model.
    Unknown,
    /// Open, but through a rate or connection limit.
    OpenRateLimited,
    /// Open to (nearly) every source.
    Open,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::LocalOnly,
        Verdict::Blocked,
        Verdict::Restricted,
        Verdict::Unknown,
        Verdict::OpenRateLimited,
        Verdict::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::LocalOnly => "local-only",
            Verdict::Blocked => "blocked",
            Verdict::Restricted => "restricted",
            Verdict::Unknown => "unknown",
            Verdict::OpenRateLimited => "open-rate-limited",
            Verdict::Open => "open",
        }
    }
}

/// A rule of the live ruleset, or a chain's policy (no handle, no line).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FirewallRule {
    /// `nftables` or `iptables-legacy`.
    pub backend: String,
    /// The table with its family, as nft names it: `inet filter`.
    pub table: String,
    pub chain: String,
    /// nft's rule handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// The line of iptables' save output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The rule as its tool prints it, or `policy drop` / `policy accept`.
    pub text: String,
}

/// A listener's exposure through the firewall.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FirewallExposure {
    pub verdict: Verdict,
    /// The source prefixes a new connection is accepted from (`0.0.0.0/0`
    /// and `::/0` when open to all); empty when blocked.
    pub sources: Vec<String>,
    /// The interfaces it is open on, when that depends on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// The local addresses it is open on, when only rules naming some
    /// destination addresses admit it (a multicast group, one address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// The rule that decides for most of the source space: the accept when
    /// open, the drop when blocked, the construct's rule when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<FirewallRule>,
    /// Why: the construct that makes it unknown, the limit, the rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A port of this host that NAT sends elsewhere (dnat, redirect): a port
/// forward or a published container port, as `list --forwards` and the
/// audit report it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Forward {
    /// `dnat` or `redirect`.
    pub kind: String,
    /// Whose connections it takes: `prerouting` (arriving ones), `output`
    /// (this host's own), or both.
    pub hooks: Vec<String>,
    /// `inet` or `inet6`.
    pub family: String,
    /// `tcp`, `udp`, or null for any protocol.
    pub proto: Option<String>,
    /// The destination ports it takes, as ranges.
    pub ports: Vec<PortRange>,
    /// The destination addresses it takes, as prefixes (`!` before one
    /// it leaves out); empty for any.
    pub destinations: Vec<String>,
    /// Only connections to this host's own addresses (`fib daddr type
    /// local`, `-m addrtype --dst-type LOCAL`), as Docker writes it.
    pub only_local_addresses: bool,
    /// The source prefixes it takes (`0.0.0.0/0` for all; `!` before one
    /// it leaves out).
    pub sources: Vec<String>,
    /// The interfaces it takes connections on (`eth0`), or is kept off
    /// (`!docker0`); empty for all.
    pub interfaces: Vec<String>,
    pub to: ForwardTarget,
    /// The container that holds the target address, when a runtime's files
    /// say (Docker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<super::Container>,
    /// Conditions of its path not read into the fields above (a conntrack
    /// match, a rate limit, an unknown construct): the forward takes less
    /// than the fields say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// The dnat or redirect rule.
    pub rule: FirewallRule,
    /// What the firewall does to the connections it takes on their way
    /// through this host (prerouting's filter chains, then forward), when
    /// the ruleset was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<FirewallExposure>,
}

/// Where a forward sends a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForwardTarget {
    /// The new destination; null for redirect (this host) and for a rule
    /// whose destination could not be read (see `rule`).
    pub addr: Option<String>,
    /// The new port range; null when the port is kept.
    pub ports: Option<PortRange>,
}

/// Ports `first` to `last`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.first == self.last {
            true => write!(f, "{}", self.first),
            false => write!(f, "{}-{}", self.first, self.last),
        }
    }
}
