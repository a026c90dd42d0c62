//! ss's text for `-o`, `-m` and `-i`: `timer:(keepalive,59min,0)`,
//! `skmem:(r0,rb131072,...)` and tcp_info's `ts sack cubic wscale:7,7 ...`.

use crate::model::details::{SkMem, TcpInfo, Timer};

/// `timer:(keepalive,59min,0)` as ss prints it.
pub fn timer_text(timer: &Timer) -> String {
    format!("timer:({},{},{})", timer.name.as_str(), duration_text(timer.expires_ms), timer.retrans)
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

/// `skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)` as ss prints it.
pub fn skmem_text(skmem: &SkMem) -> String {
    format!(
        "skmem:(r{},rb{},t{},tb{},f{},w{},o{},bl{},d{})",
        skmem.rmem_alloc_bytes,
        skmem.rcvbuf_bytes,
        skmem.wmem_alloc_bytes,
        skmem.sndbuf_bytes,
        skmem.fwd_alloc_bytes,
        skmem.wmem_queued_bytes,
        skmem.optmem_bytes,
        skmem.backlog_bytes,
        skmem.drops
    )
}

/// ss's -i text: `ts sack cubic wscale:7,7 rto:204 rtt:0.041/0.023 mss:...`.
pub fn tcp_info_text(info: &TcpInfo) -> String {
    let ms = |us: u32| f64::from(us) / 1000.0;
    let mut words: Vec<String> = Vec::new();
    let mut flag = |on: bool, word: &str| {
        if on {
            words.push(word.to_owned());
        }
    };
    flag(info.timestamps, "ts");
    flag(info.sack, "sack");
    flag(info.ecn, "ecn");
    let mut push = |word: String| words.push(word);
    if let Some(congestion) = &info.congestion {
        push(congestion.clone());
    }
    if let (Some(snd), Some(rcv)) = (info.snd_wscale, info.rcv_wscale) {
        push(format!("wscale:{snd},{rcv}"));
    }
    let mut numbers: Vec<(&str, String, bool)> = vec![
        ("rto:", ms(info.rto_us).to_string(), info.rto_us > 0),
        ("backoff:", info.backoff.to_string(), info.backoff > 0),
        ("rtt:", format!("{}/{}", ms(info.rtt_us), ms(info.rttvar_us)), info.rtt_us > 0),
        ("ato:", ms(info.ato_us).to_string(), info.ato_us > 0),
        ("mss:", info.snd_mss_bytes.to_string(), info.snd_mss_bytes > 0),
        ("pmtu:", info.pmtu_bytes.to_string(), info.pmtu_bytes > 0),
        ("rcvmss:", info.rcv_mss_bytes.to_string(), info.rcv_mss_bytes > 0),
        ("advmss:", info.advmss_bytes.to_string(), info.advmss_bytes > 0),
        ("cwnd:", info.snd_cwnd_segments.to_string(), info.snd_cwnd_segments > 0),
    ];
    if let Some(ssthresh) = info.snd_ssthresh_segments {
        numbers.push(("ssthresh:", ssthresh.to_string(), true));
    }
    numbers.extend([
        ("bytes_sent:", info.bytes_sent.to_string(), info.bytes_sent > 0),
        ("bytes_retrans:", info.bytes_retrans.to_string(), info.bytes_retrans > 0),
        ("bytes_acked:", info.bytes_acked.to_string(), info.bytes_acked > 0),
        ("bytes_received:", info.bytes_received.to_string(), info.bytes_received > 0),
        ("segs_out:", info.segs_out.to_string(), info.segs_out > 0),
        ("segs_in:", info.segs_in.to_string(), info.segs_in > 0),
        ("data_segs_out:", info.data_segs_out.to_string(), info.data_segs_out > 0),
        ("data_segs_in:", info.data_segs_in.to_string(), info.data_segs_in > 0),
        ("send ", format!("{}bps", info.send_rate_bps), info.send_rate_bps > 0),
        ("lastsnd:", info.last_send_ms.to_string(), info.last_send_ms > 0),
        ("lastrcv:", info.last_recv_ms.to_string(), info.last_recv_ms > 0),
        ("lastack:", info.last_ack_ms.to_string(), info.last_ack_ms > 0),
        ("pacing_rate ", format!("{}bps", info.pacing_rate_bps), info.pacing_rate_bps > 0),
        ("delivery_rate ", format!("{}bps", info.delivery_rate_bps), info.delivery_rate_bps > 0),
        ("delivered:", info.delivered.to_string(), info.delivered > 0),
    ]);
    for (name, value, shown) in numbers {
        if shown {
            push(format!("{name}{value}"));
        }
    }
    if info.delivery_rate_app_limited {
        push("app_limited".into());
    }
    for (name, value, shown) in [
        ("busy:", format!("{}ms", info.busy_time_us / 1000), info.busy_time_us > 0),
        ("unacked:", info.unacked.to_string(), info.unacked > 0),
        (
            "retrans:",
            format!("{}/{}", info.retrans, info.total_retrans),
            info.retrans > 0 || info.total_retrans > 0,
        ),
        ("lost:", info.lost.to_string(), info.lost > 0),
        ("sacked:", info.sacked.to_string(), info.sacked > 0),
        ("reordering:", info.reordering.to_string(), info.reordering != 3),
        ("rcv_rtt:", ms(info.rcv_rtt_us).to_string(), info.rcv_rtt_us > 0),
        ("rcv_space:", info.rcv_space_bytes.to_string(), info.rcv_space_bytes > 0),
        ("rcv_ssthresh:", info.rcv_ssthresh_bytes.to_string(), info.rcv_ssthresh_bytes > 0),
        ("notsent:", info.notsent_bytes.to_string(), info.notsent_bytes > 0),
        ("minrtt:", ms(info.min_rtt_us).to_string(), info.min_rtt_us > 0),
        ("snd_wnd:", info.snd_wnd_bytes.to_string(), info.snd_wnd_bytes > 0),
    ] {
        if shown {
            push(format!("{name}{value}"));
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::details::TimerName;

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
        let keepalive = Timer { name: TimerName::Keepalive, expires_ms: 3_540_000, retrans: 0 };
        assert_eq!(timer_text(&keepalive), "timer:(keepalive,59min,0)");
        let timewait = Timer { name: TimerName::Timewait, expires_ms: 59_000, retrans: 0 };
        assert_eq!(timer_text(&timewait), "timer:(timewait,59sec,0)");
    }
}
