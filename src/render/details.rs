//! ss's text for `-o`, `-m` and `-i`: `timer:(keepalive,59min,0)`,
//! `skmem:(r0,rb131072,...)` and tcp_info's `ts sack cubic wscale:7,7 ...`.

use std::fmt::Write as _;

use super::escape;
use crate::model::details::{MptcpInfo, MptcpSubflow, SkMem, TcpInfo, Timer};

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

/// Appends ss's -i words for `info`, each after a space: `ts sack cubic
/// wscale:7,7 rto:204 rtt:0.041/0.023 mss:...`. The option words (`ts`,
/// `sack`, `ecn`, ...) come only with `-o` or `-e`, as in ss; rates in
/// ss's short form (`1.23Mbps`) unless `numeric`.
pub fn push_tcp_info(cell: &mut String, info: &TcpInfo, style: TcpInfoStyle) {
    let mut word = |text: std::fmt::Arguments<'_>| {
        cell.push(' ');
        let _ = cell.write_fmt(text);
    };
    let ms = |us: u32| c_g(f64::from(us) / 1000.0, 6);
    let bw = |bits_per_sec: f64| bandwidth(bits_per_sec, style.numeric);
    if style.options {
        for (on, name) in [
            (info.timestamps, "ts"),
            (info.sack, "sack"),
            (info.ecn, "ecn"),
            (info.ecn_seen, "ecnseen"),
            (info.fastopen, "fastopen"),
        ] {
            if on {
                word(format_args!("{name}"));
            }
        }
    }
    if let Some(congestion) = &info.congestion {
        word(format_args!("{}", escape::for_terminal(congestion)));
    }
    if let (Some(snd), Some(rcv)) = (info.snd_wscale, info.rcv_wscale) {
        word(format_args!("wscale:{snd},{rcv}"));
    }
    // The kernel's initial RTO (3 s) is not shown.
    if info.rto_us != 0 && info.rto_us != 3_000_000 {
        word(format_args!("rto:{}", ms(info.rto_us)));
    }
    nonzero(&mut word, "backoff:", info.backoff.into());
    if info.rtt_us != 0 {
        word(format_args!("rtt:{}/{}", ms(info.rtt_us), ms(info.rttvar_us)));
    }
    if info.ato_us != 0 {
        word(format_args!("ato:{}", ms(info.ato_us)));
    }
    for (name, value) in [
        ("mss:", info.snd_mss_bytes),
        ("pmtu:", info.pmtu_bytes),
        ("rcvmss:", info.rcv_mss_bytes),
        ("advmss:", info.advmss_bytes),
        ("cwnd:", info.snd_cwnd_segments),
        // ss shows ssthresh only below 0xFFFF, its own "not yet set" mark.
        (
            "ssthresh:",
            info.snd_ssthresh_segments.filter(|&segments| segments < 0xffff).unwrap_or(0),
        ),
    ] {
        nonzero(&mut word, name, value.into());
    }
    for (name, value) in [
        ("bytes_sent:", info.bytes_sent),
        ("bytes_retrans:", info.bytes_retrans),
        ("bytes_acked:", info.bytes_acked),
        ("bytes_received:", info.bytes_received),
        ("segs_out:", info.segs_out.into()),
        ("segs_in:", info.segs_in.into()),
        ("data_segs_out:", info.data_segs_out.into()),
        ("data_segs_in:", info.data_segs_in.into()),
    ] {
        nonzero(&mut word, name, value);
    }
    if let Some(dctcp) = &info.dctcp {
        match dctcp.enabled {
            true => word(format_args!(
                "dctcp:(ce_state:{},alpha:{},ab_ecn:{},ab_tot:{})",
                dctcp.ce_state, dctcp.alpha, dctcp.ab_ecn, dctcp.ab_tot
            )),
            false => word(format_args!("dctcp:fallback_mode")),
        }
    }
    if let Some(bbr) = &info.bbr {
        let mut text = format!(
            "bbr:(bw:{}bps,mrtt:{}",
            bw(bbr.bw_bytes_per_sec as f64 * 8.0),
            ms(bbr.min_rtt_us)
        );
        for (name, gain) in [("pacing_gain", bbr.pacing_gain), ("cwnd_gain", bbr.cwnd_gain)] {
            if gain != 0 {
                let _ = write!(text, ",{name}:{}", c_g(f64::from(gain) / 256.0, 6));
            }
        }
        word(format_args!("{text})"));
    }
    if info.send_rate_bps != 0 {
        word(format_args!("send {}bps", bw(info.send_rate_bps as f64)));
    }
    nonzero(&mut word, "lastsnd:", info.last_send_ms.into());
    nonzero(&mut word, "lastrcv:", info.last_recv_ms.into());
    nonzero(&mut word, "lastack:", info.last_ack_ms.into());
    if info.pacing_rate_bps != 0 {
        let max = info.max_pacing_rate_bps.map(|max| format!("/{}bps", bw(max as f64)));
        word(format_args!(
            "pacing_rate {}bps{}",
            bw(info.pacing_rate_bps as f64),
            max.unwrap_or_default()
        ));
    }
    if info.delivery_rate_bps != 0 {
        word(format_args!("delivery_rate {}bps", bw(info.delivery_rate_bps as f64)));
    }
    nonzero(&mut word, "delivered:", info.delivered.into());
    nonzero(&mut word, "delivered_ce:", info.delivered_ce.into());
    if info.delivery_rate_app_limited {
        word(format_args!("app_limited"));
    }
    if info.busy_time_us != 0 {
        word(format_args!("busy:{}ms", info.busy_time_us / 1000));
        let busy = info.busy_time_us as f64;
        for (name, limited) in
            [("rwnd_limited", info.rwnd_limited_us), ("sndbuf_limited", info.sndbuf_limited_us)]
        {
            if limited != 0 {
                let share = 100.0 * limited as f64 / busy;
                word(format_args!("{name}:{}ms({share:.1}%)", limited / 1000));
            }
        }
    }
    nonzero(&mut word, "unacked:", info.unacked.into());
    if info.retrans != 0 || info.total_retrans != 0 {
        word(format_args!("retrans:{}/{}", info.retrans, info.total_retrans));
    }
    nonzero(&mut word, "lost:", info.lost.into());
    if !style.listening {
        nonzero(&mut word, "sacked:", info.sacked.into());
    }
    nonzero(&mut word, "dsack_dups:", info.dsack_dups.into());
    nonzero(&mut word, "fackets:", info.fackets.into());
    if info.reordering != 3 {
        word(format_args!("reordering:{}", info.reordering));
    }
    nonzero(&mut word, "reord_seen:", info.reord_seen.into());
    if info.rcv_rtt_us != 0 {
        word(format_args!("rcv_rtt:{}", ms(info.rcv_rtt_us)));
    }
    nonzero(&mut word, "rcv_space:", info.rcv_space_bytes.into());
    nonzero(&mut word, "rcv_ssthresh:", info.rcv_ssthresh_bytes.into());
    nonzero(&mut word, "notsent:", info.notsent_bytes.into());
    if info.min_rtt_us != 0 && info.min_rtt_us != u32::MAX {
        word(format_args!("minrtt:{}", ms(info.min_rtt_us)));
    }
    nonzero(&mut word, "rcv_ooopack:", info.rcv_ooopack.into());
    nonzero(&mut word, "snd_wnd:", info.snd_wnd_bytes.into());
    if let Some(ulp) = &info.ulp {
        word(format_args!("tcp-ulp-{}", escape::for_terminal(ulp)));
    }
    if let Some(subflow) = &info.mptcp_subflow {
        push_mptcp_subflow(cell, subflow);
    }
}

/// An MPTCP subflow's words, as ss prints them after `tcp-ulp-mptcp`:
/// `flags:Mec token:0000(id:0)/4b50ad90(id:0) seq:... sfseq:0 ssnoff:... maplen:0`.
fn push_mptcp_subflow(cell: &mut String, subflow: &MptcpSubflow) {
    const FLAG_LETTERS: [(u32, char); 9] = [
        (1 << 0, 'M'),
        (1 << 1, 'm'),
        (1 << 2, 'J'),
        (1 << 3, 'j'),
        (1 << 4, 'B'),
        (1 << 5, 'b'),
        (1 << 6, 'e'),
        (1 << 7, 'c'),
        (1 << 8, 'v'),
    ];
    if let Some(flags) = subflow.flags.filter(|flags| *flags != 0) {
        cell.push_str(" flags:");
        cell.extend(FLAG_LETTERS.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, c)| *c));
    }
    if let (Some(remote), Some(local), Some(remote_id), Some(local_id)) =
        (subflow.remote_token, subflow.local_token, subflow.remote_id, subflow.local_id)
    {
        let _ = write!(cell, " token:{remote:04x}(id:{remote_id})/{local:04x}(id:{local_id})");
    }
    if let Some(seq) = subflow.map_seq {
        let _ = write!(cell, " seq:{seq:x}");
    }
    for (name, value) in [
        ("sfseq", subflow.map_subflow_seq),
        ("ssnoff", subflow.ssn_offset),
        ("maplen", subflow.map_data_len),
    ] {
        if let Some(value) = value {
            let _ = write!(cell, " {name}:{value:x}");
        }
    }
}

/// Appends ss's -i words for an MPTCP socket: `subflows:1 remote_key
/// token:1635b79f write_seq:... snd_una:... rcv_nxt:...`.
pub fn push_mptcp_info(cell: &mut String, info: &MptcpInfo) {
    for (name, value) in [
        ("subflows", info.subflows),
        ("add_addr_signal", info.add_addr_signal),
        ("add_addr_accepted", info.add_addr_accepted),
        ("subflows_max", info.subflows_max),
        ("add_addr_signal_max", info.add_addr_signal_max),
        ("add_addr_accepted_max", info.add_addr_accepted_max),
    ] {
        if value != 0 {
            let _ = write!(cell, " {name}:{value}");
        }
    }
    if info.fallback {
        cell.push_str(" fallback");
    }
    if info.remote_key_received {
        cell.push_str(" remote_key");
    }
    if info.token != 0 {
        let _ = write!(cell, " token:{:x}", info.token);
    }
    for (name, value) in
        [("write_seq", info.write_seq), ("snd_una", info.snd_una), ("rcv_nxt", info.rcv_nxt)]
    {
        if value != 0 {
            let _ = write!(cell, " {name}:{value:x}");
        }
    }
}

/// How `-i`'s words read: which ss flags came with it, and the socket's state.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpInfoStyle {
    /// `-o` or `-e`: the TCP option words.
    pub options: bool,
    /// `-n`: rates as plain numbers.
    pub numeric: bool,
    /// A listener shows no `sacked:` (its tcp_info reuses the field).
    pub listening: bool,
}

fn nonzero(word: &mut impl FnMut(std::fmt::Arguments<'_>), name: &str, value: u64) {
    if value != 0 {
        word(format_args!("{name}{value}"));
    }
}

/// A rate as ss prints it: `%.0f` with `-n`, else three significant
/// digits and a k, M, G or T.
pub fn bandwidth(bits_per_sec: f64, numeric: bool) -> String {
    if numeric {
        return format!("{bits_per_sec:.0}");
    }
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if bits_per_sec >= scale {
            return format!("{}{suffix}", c_g(bits_per_sec / scale, 3));
        }
    }
    c_g(bits_per_sec, 6)
}

/// C's `%.<precision>g`: `precision` significant digits, trailing zeros
/// dropped, exponent form outside 1e-4 ..= 10^precision.
pub fn c_g(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value == 0.0 || !value.is_finite() {
        return if value == 0.0 { "0".into() } else { value.to_string() };
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_fraction(&format!("{value:.decimals$}")).to_owned()
}

fn trim_fraction(number: &str) -> &str {
    match number.contains('.') {
        true => number.trim_end_matches('0').trim_end_matches('.'),
        false => number,
    }
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
    fn c_g_reads_as_printf() {
        for (value, precision, printf) in [
            (0.041, 6, "0.041"),
            (204.0, 6, "204"),
            (1234.567, 6, "1234.57"),
            (0.000_012_3, 6, "1.23e-05"),
            (1_234_567.0, 6, "1.23457e+06"),
            (1.5, 3, "1.5"),
            (999.9, 3, "1e+03"),
            (12.345, 3, "12.3"),
            (0.0, 6, "0"),
        ] {
            assert_eq!(c_g(value, precision), printf, "%.{precision}g of {value}");
        }
    }

    #[test]
    fn bandwidths_read_as_in_ss() {
        assert_eq!(bandwidth(1_234_567.0, false), "1.23M");
        assert_eq!(bandwidth(1_234_567.0, true), "1234567");
        assert_eq!(bandwidth(999.0, false), "999");
        assert_eq!(bandwidth(2.5e10, false), "25G");
    }

    #[test]
    fn timers() {
        let keepalive = Timer { name: TimerName::Keepalive, expires_ms: 3_540_000, retrans: 0 };
        assert_eq!(timer_text(&keepalive), "timer:(keepalive,59min,0)");
        let timewait = Timer { name: TimerName::Timewait, expires_ms: 59_000, retrans: 0 };
        assert_eq!(timer_text(&timewait), "timer:(timewait,59sec,0)");
    }
}
