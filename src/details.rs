//! What `-o`, `-m` and `-i` add to a socket: its timer, its memory
//! (skmeminfo) and TCP's own view (tcp_info, congestion control), as plain
//! numbers with their units in the names.

use serde::Serialize;

/// The extended detail of one socket, present only when asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<Timer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skmem: Option<SkMem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_info: Option<TcpInfo>,
}

/// A TCP timer (`-o`), as inet_diag reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// `on` (retransmit), `keepalive`, `timewait`, `persist` (zero window probe).
    pub name: &'static str,
    pub expires_ms: u32,
    /// Retransmissions (`on`) or unanswered probes (others).
    pub retrans: u8,
}

impl Timer {
    /// From inet_diag_msg's idiag_timer, idiag_expires and idiag_retrans;
    /// `None` when no timer runs.
    pub fn from_kernel(code: u8, expires_ms: u32, retrans: u8) -> Option<Timer> {
        let name = match code {
            0 => return None,
            1 => "on",
            2 => "keepalive",
            3 => "timewait",
            4 => "persist",
            _ => "unknown",
        };
        Some(Timer { name, expires_ms, retrans })
    }

    /// `timer:(keepalive,59min,0)` as ss prints it.
    pub fn ss_text(&self) -> String {
        format!("timer:({},{},{})", self.name, duration_text(self.expires_ms), self.retrans)
    }
}

/// ss's short durations: `59min`, `9min41sec`, `4.500ms`, `200ms`.
pub fn duration_text(ms: u32) -> String {
    let minutes = ms / 60_000;
    let mut seconds = ms / 1000 % 60;
    let mut millis = ms % 1000;
    let mut text = String::new();
    if minutes > 0 {
        text.push_str(&format!("{minutes}min"));
        millis = 0;
        if minutes > 9 {
            seconds = 0;
        }
    }
    if seconds > 0 {
        if seconds > 9 {
            millis = 0;
        }
        text.push_str(&format!("{seconds}{}", if millis > 0 { "." } else { "sec" }));
    }
    if millis > 0 {
        text.push_str(&format!("{millis:03}ms"));
    }
    text
}

/// Socket memory (`-m`, SK_MEMINFO), in bytes but for `drops`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

impl SkMem {
    /// `skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)` as ss prints it.
    pub fn ss_text(&self) -> String {
        format!(
            "skmem:(r{},rb{},t{},tb{},f{},w{},o{},bl{},d{})",
            self.rmem_alloc_bytes,
            self.rcvbuf_bytes,
            self.wmem_alloc_bytes,
            self.sndbuf_bytes,
            self.fwd_alloc_bytes,
            self.wmem_queued_bytes,
            self.optmem_bytes,
            self.backlog_bytes,
            self.drops
        )
    }
}

/// TCP's view of a connection (`-i`, struct tcp_info).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpInfo {
    pub congestion: Option<String>,
    pub timestamps: bool,
    pub sack: bool,
    pub ecn: bool,
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
    pub delivery_rate_bps: u64,
    pub delivery_rate_app_limited: bool,
    pub delivered: u32,
    pub busy_time_us: u64,
    pub unacked: u32,
    pub retrans: u32,
    pub total_retrans: u32,
    pub lost: u32,
    pub sacked: u32,
    pub reordering: u32,
    pub rcv_rtt_us: u32,
    pub rcv_space_bytes: u32,
    pub rcv_ssthresh_bytes: u32,
    pub notsent_bytes: u32,
    pub last_send_ms: u32,
    pub last_recv_ms: u32,
    pub last_ack_ms: u32,
    pub snd_wnd_bytes: u32,
}

/// The kernel's TCP_INFINITE_SSTHRESH.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPI_OPT_ECN: u8 = 8;

impl TcpInfo {
    pub fn from_kernel(
        info: &netlink_packet_sock_diag::inet::nlas::TcpInfo,
        congestion: Option<String>,
    ) -> TcpInfo {
        let has = |option: u8| info.options & option != 0;
        let wscale = has(TCPI_OPT_WSCALE);
        TcpInfo {
            congestion,
            timestamps: has(TCPI_OPT_TIMESTAMPS),
            sack: has(TCPI_OPT_SACK),
            ecn: has(TCPI_OPT_ECN),
            snd_wscale: wscale.then_some(info.wscale & 0x0f),
            rcv_wscale: wscale.then_some(info.wscale >> 4),
            rto_us: info.rto,
            ato_us: info.ato,
            backoff: info.backoff,
            rtt_us: info.rtt,
            rttvar_us: info.rttvar,
            min_rtt_us: info.min_rtt,
            snd_mss_bytes: info.snd_mss,
            rcv_mss_bytes: info.rcv_mss,
            advmss_bytes: info.advmss,
            pmtu_bytes: info.pmtu,
            snd_cwnd_segments: info.snd_cwnd,
            snd_ssthresh_segments: (info.snd_ssthresh < INFINITE_SSTHRESH)
                .then_some(info.snd_ssthresh),
            bytes_sent: info.bytes_sent,
            bytes_retrans: info.bytes_retrans,
            bytes_acked: info.bytes_acked,
            bytes_received: info.bytes_received,
            segs_out: info.segs_out,
            segs_in: info.segs_in,
            data_segs_out: info.data_segs_out,
            data_segs_in: info.data_segs_in,
            send_rate_bps: match info.rtt {
                0 => 0,
                // Rounded as ss rounds its floating-point figure.
                rtt => {
                    let bits = f64::from(info.snd_cwnd) * f64::from(info.snd_mss) * 8_000_000.0;
                    (bits / f64::from(rtt)).round() as u64
                }
            },
            pacing_rate_bps: info.pacing_rate.saturating_mul(8),
            delivery_rate_bps: info.delivery_rate.saturating_mul(8),
            delivery_rate_app_limited: info.delivery_rate_app_limited & 1 != 0,
            delivered: info.delivered,
            busy_time_us: info.busy_time,
            unacked: info.unacked,
            retrans: info.retrans,
            total_retrans: info.total_retrans,
            lost: info.lost,
            sacked: info.sacked,
            reordering: info.reordering,
            rcv_rtt_us: info.rcv_rtt,
            rcv_space_bytes: info.rcv_space,
            rcv_ssthresh_bytes: info.rcv_ssthresh,
            notsent_bytes: info.notsent_bytes,
            last_send_ms: info.last_data_sent,
            last_recv_ms: info.last_data_recv,
            last_ack_ms: info.last_ack_recv,
            snd_wnd_bytes: info.snd_wnd,
        }
    }

    /// ss's -i text: `ts sack cubic wscale:7,7 rto:204 rtt:0.041/0.023 mss:...`.
    pub fn ss_text(&self) -> String {
        let ms = |us: u32| f64::from(us) / 1000.0;
        let mut words: Vec<String> = Vec::new();
        let mut flag = |on: bool, word: &str| {
            if on {
                words.push(word.to_owned());
            }
        };
        flag(self.timestamps, "ts");
        flag(self.sack, "sack");
        flag(self.ecn, "ecn");
        let mut push = |word: String| words.push(word);
        if let Some(congestion) = &self.congestion {
            push(congestion.clone());
        }
        if let (Some(snd), Some(rcv)) = (self.snd_wscale, self.rcv_wscale) {
            push(format!("wscale:{snd},{rcv}"));
        }
        let mut numbers: Vec<(&str, String, bool)> = vec![
            ("rto:", ms(self.rto_us).to_string(), self.rto_us > 0),
            ("backoff:", self.backoff.to_string(), self.backoff > 0),
            ("rtt:", format!("{}/{}", ms(self.rtt_us), ms(self.rttvar_us)), self.rtt_us > 0),
            ("ato:", ms(self.ato_us).to_string(), self.ato_us > 0),
            ("mss:", self.snd_mss_bytes.to_string(), self.snd_mss_bytes > 0),
            ("pmtu:", self.pmtu_bytes.to_string(), self.pmtu_bytes > 0),
            ("rcvmss:", self.rcv_mss_bytes.to_string(), self.rcv_mss_bytes > 0),
            ("advmss:", self.advmss_bytes.to_string(), self.advmss_bytes > 0),
            ("cwnd:", self.snd_cwnd_segments.to_string(), self.snd_cwnd_segments > 0),
        ];
        if let Some(ssthresh) = self.snd_ssthresh_segments {
            numbers.push(("ssthresh:", ssthresh.to_string(), true));
        }
        numbers.extend([
            ("bytes_sent:", self.bytes_sent.to_string(), self.bytes_sent > 0),
            ("bytes_retrans:", self.bytes_retrans.to_string(), self.bytes_retrans > 0),
            ("bytes_acked:", self.bytes_acked.to_string(), self.bytes_acked > 0),
            ("bytes_received:", self.bytes_received.to_string(), self.bytes_received > 0),
            ("segs_out:", self.segs_out.to_string(), self.segs_out > 0),
            ("segs_in:", self.segs_in.to_string(), self.segs_in > 0),
            ("data_segs_out:", self.data_segs_out.to_string(), self.data_segs_out > 0),
            ("data_segs_in:", self.data_segs_in.to_string(), self.data_segs_in > 0),
            ("send ", format!("{}bps", self.send_rate_bps), self.send_rate_bps > 0),
            ("lastsnd:", self.last_send_ms.to_string(), self.last_send_ms > 0),
            ("lastrcv:", self.last_recv_ms.to_string(), self.last_recv_ms > 0),
            ("lastack:", self.last_ack_ms.to_string(), self.last_ack_ms > 0),
            ("pacing_rate ", format!("{}bps", self.pacing_rate_bps), self.pacing_rate_bps > 0),
            (
                "delivery_rate ",
                format!("{}bps", self.delivery_rate_bps),
                self.delivery_rate_bps > 0,
            ),
            ("delivered:", self.delivered.to_string(), self.delivered > 0),
        ]);
        for (name, value, shown) in numbers {
            if shown {
                push(format!("{name}{value}"));
            }
        }
        if self.delivery_rate_app_limited {
            push("app_limited".into());
        }
        for (name, value, shown) in [
            ("busy:", format!("{}ms", self.busy_time_us / 1000), self.busy_time_us > 0),
            ("unacked:", self.unacked.to_string(), self.unacked > 0),
            (
                "retrans:",
                format!("{}/{}", self.retrans, self.total_retrans),
                self.retrans > 0 || self.total_retrans > 0,
            ),
            ("lost:", self.lost.to_string(), self.lost > 0),
            ("sacked:", self.sacked.to_string(), self.sacked > 0),
            ("reordering:", self.reordering.to_string(), self.reordering != 3),
            ("rcv_rtt:", ms(self.rcv_rtt_us).to_string(), self.rcv_rtt_us > 0),
            ("rcv_space:", self.rcv_space_bytes.to_string(), self.rcv_space_bytes > 0),
            ("rcv_ssthresh:", self.rcv_ssthresh_bytes.to_string(), self.rcv_ssthresh_bytes > 0),
            ("notsent:", self.notsent_bytes.to_string(), self.notsent_bytes > 0),
            ("minrtt:", ms(self.min_rtt_us).to_string(), self.min_rtt_us > 0),
            ("snd_wnd:", self.snd_wnd_bytes.to_string(), self.snd_wnd_bytes > 0),
        ] {
            if shown {
                push(format!("{name}{value}"));
            }
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_in_ss() {
        assert_eq!(duration_text(3_540_000), "59min");
        assert_eq!(duration_text(581_000), "9min41sec");
        assert_eq!(duration_text(59_000), "59sec");
        assert_eq!(duration_text(4_500), "4.500ms");
        assert_eq!(duration_text(200), "200ms");
        assert_eq!(duration_text(0), "");
    }

    #[test]
    fn timers() {
        assert_eq!(Timer::from_kernel(0, 5, 0), None);
        let keepalive = Timer::from_kernel(2, 3_540_000, 0).unwrap();
        assert_eq!(keepalive.ss_text(), "timer:(keepalive,59min,0)");
        assert_eq!(Timer::from_kernel(3, 59_000, 0).unwrap().ss_text(), "timer:(timewait,59sec,0)");
    }
}
