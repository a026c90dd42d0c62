//! What `-o`, `-m` and `-i` add to a socket: its timer, its memory
//! (skmeminfo) and TCP's own view (tcp_info, congestion control), as plain
//! numbers with their units in the names.

use serde::{Deserialize, Serialize};

/// The extended detail of one socket; each part present only when asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<Timer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skmem: Option<SkMem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<Box<TcpInfo>>,
    /// Which directions were shut down (`-e`'s `<->`, `-->`, `<--`, `---`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    /// An MPTCP socket's own view (`-i`, struct mptcp_info).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mptcp_info: Option<MptcpInfo>,
}

/// struct mptcp_info, as far as ss shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MptcpInfo {
    pub subflows: u8,
    pub add_addr_signal: u8,
    pub add_addr_accepted: u8,
    pub subflows_max: u8,
    pub add_addr_signal_max: u8,
    pub add_addr_accepted_max: u8,
    /// The connection fell back to plain TCP.
    pub fallback: bool,
    pub remote_key_received: bool,
    pub token: u32,
    pub write_seq: u64,
    pub snd_una: u64,
    pub rcv_nxt: u64,
}

/// shutdown(2) on a socket: SHUT_RD stops receiving, SHUT_WR sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shutdown {
    pub receive: bool,
    pub send: bool,
}

impl Shutdown {
    /// The kernel's sk_shutdown mask: RCV_SHUTDOWN 1, SEND_SHUTDOWN 2.
    pub fn from_mask(mask: u8) -> Shutdown {
        Shutdown { receive: mask & 1 != 0, send: mask & 2 != 0 }
    }
}

/// What `-m` and `-e` add to a UNIX socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skmem: Option<SkMem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    /// The file a bound socket's path names (UNIX_DIAG_VFS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<UnixFile>,
    /// A listener's connections not yet accepted, by socket inode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_peers: Option<Vec<u32>>,
}

/// The inode and device of the file a UNIX socket is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixFile {
    pub inode: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
}

/// Which TCP timer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerName {
    /// Retransmission.
    On,
    Keepalive,
    Timewait,
    /// Zero window probe.
    Persist,
    Unknown,
}

impl TimerName {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerName::On => "on",
            TimerName::Keepalive => "keepalive",
            TimerName::Timewait => "timewait",
            TimerName::Persist => "persist",
            TimerName::Unknown => "unknown",
        }
    }
}

/// A TCP timer (`-o`), as inet_diag reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub name: TimerName,
    pub expires_ms: u32,
    /// Retransmissions (`on`) or unanswered probes (others).
    pub retrans: u8,
}

/// Socket memory (`-m`, SK_MEMINFO), in bytes but for `drops`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkMem {
    pub rmem_alloc_bytes: u32,
    pub rcvbuf_bytes: u32,
    pub wmem_alloc_bytes: u32,
    pub sndbuf_bytes: u32,
    pub fwd_alloc_bytes: u32,
    pub wmem_queued_bytes: u32,
    pub optmem_bytes: u32,
    pub backlog_bytes: u32,
    pub drops: u32,
}

/// TCP's view of a connection (`-i`, struct tcp_info).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpInfo {
    pub congestion: Option<String>,
    pub timestamps: bool,
    pub sack: bool,
    pub ecn: bool,
    #[serde(default)]
    pub ecn_seen: bool,
    /// The SYN carried data (TCP Fast Open).
    #[serde(default)]
    pub fastopen: bool,
    pub snd_wscale: Option<u8>,
    pub rcv_wscale: Option<u8>,
    pub rto_us: u32,
    pub ato_us: u32,
    pub backoff: u8,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub min_rtt_us: u32,
    pub snd_mss_bytes: u32,
    pub rcv_mss_bytes: u32,
    pub advmss_bytes: u32,
    pub pmtu_bytes: u32,
    pub snd_cwnd_segments: u32,
    /// None while still in slow start (the kernel's "infinite" threshold).
    pub snd_ssthresh_segments: Option<u32>,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub data_segs_out: u32,
    pub data_segs_in: u32,
    /// cwnd × mss / rtt, as ss's `send` (0 before an RTT sample).
    pub send_rate_bps: u64,
    pub pacing_rate_bps: u64,
    #[serde(default)]
    pub max_pacing_rate_bps: Option<u64>,
    pub delivery_rate_bps: u64,
    pub delivery_rate_app_limited: bool,
    pub delivered: u32,
    #[serde(default)]
    pub delivered_ce: u32,
    pub busy_time_us: u64,
    #[serde(default)]
    pub rwnd_limited_us: u64,
    #[serde(default)]
    pub sndbuf_limited_us: u64,
    pub unacked: u32,
    pub retrans: u32,
    pub total_retrans: u32,
    pub lost: u32,
    pub sacked: u32,
    #[serde(default)]
    pub dsack_dups: u32,
    #[serde(default)]
    pub fackets: u32,
    pub reordering: u32,
    #[serde(default)]
    pub reord_seen: u32,
    pub rcv_rtt_us: u32,
    pub rcv_space_bytes: u32,
    pub rcv_ssthresh_bytes: u32,
    pub notsent_bytes: u32,
    pub last_send_ms: u32,
    pub last_recv_ms: u32,
    pub last_ack_ms: u32,
    pub snd_wnd_bytes: u32,
    #[serde(default)]
    pub rcv_ooopack: u32,
    /// BBR's own view, when BBR drives the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbr: Option<BbrInfo>,
    /// DCTCP's own view, when DCTCP drives the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dctcp: Option<DctcpInfo>,
    /// The upper-layer protocol on the connection (`tls`, `mptcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ulp: Option<String>,
    /// For an MPTCP subflow: what the MPTCP layer says of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mptcp_subflow: Option<MptcpSubflow>,
}

/// An MPTCP subflow's state (INET_ULP_INFO_MPTCP), each part where the
/// kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MptcpSubflow {
    /// MPTCP_SUBFLOW_FLAG_* bits.
    pub flags: Option<u32>,
    pub remote_token: Option<u32>,
    pub local_token: Option<u32>,
    pub remote_id: Option<u8>,
    pub local_id: Option<u8>,
    pub map_seq: Option<u64>,
    pub map_subflow_seq: Option<u32>,
    pub ssn_offset: Option<u32>,
    pub map_data_len: Option<u32>,
}

/// struct tcp_bbr_info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BbrInfo {
    pub bw_bytes_per_sec: u64,
    pub min_rtt_us: u32,
    /// Gains in units of 1/256.
    pub pacing_gain: u32,
    pub cwnd_gain: u32,
}

/// struct tcp_dctcp_info.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DctcpInfo {
    /// False when DCTCP fell back to Reno (no ECN from the peer).
    pub enabled: bool,
    pub ce_state: u16,
    pub alpha: u32,
    pub ab_ecn: u32,
    pub ab_tot: u32,
}
