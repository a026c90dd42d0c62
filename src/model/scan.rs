//! What a TCP connect scan found, as `scan --json` writes it and
//! `audit --compare-scan` reads it back: per host, per port, nmap's state
//! with the reason for it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::InetSocket;

/// nmap's states for a connect scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// The connection was accepted.
    Open,
    /// Refused: a RST (or an ICMP port unreachable, which the kernel also
    /// reports as a refusal).
    Closed,
    /// No answer before the timeout, or an ICMP unreachable other than
    /// "port unreachable".
    Filtered,
}

impl PortState {
    pub const ALL: [PortState; 3] = [PortState::Open, PortState::Closed, PortState::Filtered];

    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// Why a port has its state, in nmap's `--reason` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The handshake completed.
    SynAck,
    /// ECONNREFUSED.
    ConnRefused,
    /// No answer to the first try nor to the retry.
    NoResponse,
    /// ICMP host unreachable (EHOSTUNREACH), which is also what an
    /// `admin-prohibited` reject gives a connect scan.
    HostUnreach,
    /// ICMP network unreachable (ENETUNREACH).
    NetUnreach,
    /// A local rule refused to send (EACCES, EPERM: an OUTPUT drop or
    /// reject on this host).
    AdminProhibited,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
        }
    }

    pub fn state(self) -> PortState {
        match self {
            Reason::SynAck => PortState::Open,
            Reason::ConnRefused => PortState::Closed,
            Reason::NoResponse
            | Reason::HostUnreach
            | Reason::NetUnreach
            | Reason::AdminProhibited => PortState::Filtered,
        }
    }
}

/// Why a host is up or down (`scan --ping`), in nmap's `--reason` words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostReason {
    /// An ICMP echo reply.
    EchoReply,
    /// A connect to one of the probe ports was accepted.
    SynAck,
    /// A connect to one of the probe ports was refused: a host sent the RST.
    ConnRefused,
    /// Nothing answered before the timeout.
    NoResponse,
}

/// The transport scanned; only TCP for now (a connect scan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanProto {
    #[default]
    Tcp,
}

/// One scanned port of one host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScannedPort {
    pub port: u16,
    pub proto: ScanProto,
    pub state: PortState,
    pub reason: Reason,
    /// The service usually on this port (IANA's name), not what answered:
    /// see `banner` for that.
    pub service: Option<String>,
    /// The connect's round trip (open, closed), null when nothing answered.
    pub rtt_ms: Option<f64>,
    /// What the service said (`--banner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<Banner>,
    /// With `--local`: this host's listener that takes connections to the
    /// port, with its owners (`list --json`'s record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<Box<InetSocket>>,
}

/// A service named by its answer (`--banner`), not by its port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Banner {
    /// `ssh`, `http`, `smtp`, `ftp`, `pop3`, `imap`, `redis`, `mysql`,
    /// `postgresql`, `tls`, or `unknown` when it answered something else.
    pub service: String,
    /// Product and version as the service states them (`OpenSSH_9.2p1`,
    /// `nginx/1.22.1`, a MySQL server version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// More about the answer: HTTP's status line, Redis's "authentication
    /// required", PostgreSQL's SSL answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The TLS handshake's outcome, when the port spoke TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// The first line the service sent (raw; escaped when printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line: Option<String>,
}

/// What a TLS handshake (certificate not verified) showed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The certificate's subject, as RFC 4514 writes it (`CN=example`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The certificate's notAfter, RFC 3339 in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

/// One scanned address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostScan {
    /// The target as the user named it (a host name, an address, a CIDR).
    pub target: String,
    pub address: IpAddr,
    /// The host answered on some port (open or closed).
    pub up: bool,
    /// The smallest round trip measured, null when nothing answered.
    pub latency_ms: Option<f64>,
    /// With `--ping`: why the host is up or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<HostReason>,
    /// With `--ping`: the TCP port whose answer showed the host up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_port: Option<u16>,
    /// Every port scanned with `--all-states`; else the open and filtered
    /// ones.
    pub ports: Vec<ScannedPort>,
    /// How many ports of each state are not in `ports`.
    pub not_shown: NotShown,
}

/// Counts of the ports left out of a host's list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotShown {
    pub closed: usize,
    pub filtered: usize,
}
