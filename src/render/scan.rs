//! A scan's views: nmap's table, nmap's grepable lines (`-oG`), and JSON
//! (an array, one object per host). Banners are untrusted and escaped.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;

use super::escape::for_terminal;
use crate::model::InetSocket;
use crate::model::scan::{Banner, HostScan, PortState, ScannedPort};

/// A state with more ports than this is summed up in "Not shown", as nmap
/// does, unless every state is asked for; open ports are always listed.
const COLLAPSE_ABOVE: usize = 25;

/// What the table and grepable views say around the hosts.
#[derive(Clone, Debug)]
pub struct ScanFrame<'a> {
    pub hosts: &'a [HostScan],
    pub elapsed: Duration,
    /// When the scan started, RFC 3339 in UTC.
    pub started: &'a str,
    pub command_line: &'a str,
    /// List every port whatever its state (`--all-states`).
    pub all_states: bool,
    /// Show the VERSION column (`--banner`).
    pub banners: bool,
    /// Show the LISTENER column (`--local`).
    pub listeners: bool,
    /// Hosts only, no ports (`--ping`): the up ones, as nmap -sn lists them.
    pub ping: bool,
}

/// nmap's normal output.
pub fn table(frame: &ScanFrame<'_>, out: &mut impl Write) -> Result<()> {
    for host in frame.hosts {
        match frame.ping {
            true if host.up => host_up_line(host, out)?,
            true => {}
            false => {
                host_table(host, frame, out)?;
                writeln!(out)?;
            }
        }
    }
    writeln!(
        out,
        "portwatch done: {} ({}) scanned in {:.2} seconds",
        addresses(frame.hosts),
        up(frame.hosts),
        frame.elapsed.as_secs_f64()
    )?;
    Ok(())
}

/// nmap -sn's two lines for a host that is up.
fn host_up_line(host: &HostScan, out: &mut impl Write) -> Result<()> {
    writeln!(out, "portwatch scan report for {}", host_label(host))?;
    let latency = host.latency_ms.map(|ms| format!(" ({:.6}s latency)", ms / 1000.0));
    writeln!(out, "Host is up{}.", latency.unwrap_or_default())?;
    Ok(())
}

fn host_table(host: &HostScan, frame: &ScanFrame<'_>, out: &mut impl Write) -> Result<()> {
    writeln!(out, "portwatch scan report for {}", host_label(host))?;
    match host.latency_ms {
        Some(ms) => writeln!(out, "Host is up ({:.6}s latency).", ms / 1000.0)?,
        None => writeln!(out, "Host seems down: no port answered.")?,
    }
    let shown = Shown::of(host, frame.all_states);
    if shown.ports.is_empty() {
        writeln!(
            out,
            "All {} scanned ports on {} are in ignored states.",
            shown.total, host.address
        )?;
    }
    if !shown.hidden.is_empty() {
        let parts: Vec<String> = shown
            .hidden
            .iter()
            .map(|(state, count)| {
                format!("{count} {} tcp ports ({})", state.as_str(), hidden_reason(*state))
            })
            .collect();
        writeln!(out, "Not shown: {}", parts.join(", "))?;
    }
    if shown.ports.is_empty() {
        return Ok(());
    }
    let mut header = vec!["PORT", "STATE", "SERVICE"];
    if frame.listeners {
        header.push("LISTENER");
    }
    if frame.banners {
        header.push("VERSION");
    }
    let header: Vec<String> = header.into_iter().map(str::to_owned).collect();
    let rows: Vec<Vec<String>> = shown.ports.iter().map(|port| row(port, frame)).collect();
    let mut widths = vec![0usize; header.len()];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for cells in std::iter::once(&header).chain(&rows) {
        write_row(out, cells, &widths)?;
    }
    Ok(())
}

fn write_row(out: &mut impl Write, cells: &[String], widths: &[usize]) -> Result<()> {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        line.push_str(&format!("{cell:<width$} "));
    }
    writeln!(out, "{}", line.trim_end())?;
    Ok(())
}

fn row(port: &ScannedPort, frame: &ScanFrame<'_>) -> Vec<String> {
    let service = match (&port.banner, frame.banners) {
        (Some(banner), true) => for_terminal(&banner.service).into_owned(),
        _ => port.service.clone().unwrap_or_else(|| "unknown".to_owned()),
    };
    let mut cells = vec![format!("{}/tcp", port.port), port.state.as_str().to_owned(), service];
    if frame.listeners {
        cells.push(listener_text(port.listener.as_deref()));
    }
    if frame.banners {
        cells.push(port.banner.as_ref().map(version_text).unwrap_or_default());
    }
    cells
}

/// `0.0.0.0:22 sshd(pid=812,user=root,unit=ssh.service)`; `-` when no
/// listener here takes the port.
fn listener_text(listener: Option<&InetSocket>) -> String {
    let Some(socket) = listener else { return "-".to_owned() };
    let address = match socket.local.addr {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let mut text = format!("{address}:{}", socket.local.port);
    text.push_str(&super::holders::process_facts(socket.owners.as_ref()));
    text
}

/// The VERSION column: product and version, the detail, TLS's facts.
fn version_text(banner: &Banner) -> String {
    let mut words: Vec<String> = Vec::new();
    words.extend(banner.version.iter().map(|v| for_terminal(v).into_owned()));
    words.extend(banner.detail.iter().map(|d| format!("({})", for_terminal(d))));
    if let Some(tls) = &banner.tls {
        words.push(for_terminal(&tls.version).into_owned());
        words.extend(tls.subject.iter().map(|s| format!("subject: {}", for_terminal(s))));
        words.extend(tls.not_after.iter().map(|n| format!("expires: {}", for_terminal(n))));
    }
    if words.is_empty() {
        words.extend(
            banner.first_line.iter().map(|l| format!("\"{}\"", super::escape::for_quotes(l))),
        );
    }
    words.join(" ")
}

/// The ports listed and the states summed up instead.
struct Shown<'h> {
    ports: Vec<&'h ScannedPort>,
    hidden: Vec<(PortState, usize)>,
    total: usize,
}

impl<'h> Shown<'h> {
    fn of(host: &'h HostScan, all_states: bool) -> Self {
        let filtered = host.ports.iter().filter(|p| p.state == PortState::Filtered).count();
        let closed_listed = host.ports.iter().filter(|p| p.state == PortState::Closed).count();
        let closed = host.not_shown.closed + closed_listed;
        let total = host.ports.len() + host.not_shown.closed + host.not_shown.filtered;
        let collapse_closed = !all_states && (closed > COLLAPSE_ABOVE || host.not_shown.closed > 0);
        let collapse_filtered = !all_states && filtered + host.not_shown.filtered > COLLAPSE_ABOVE;
        let ports = host
            .ports
            .iter()
            .filter(|p| match p.state {
                PortState::Open => true,
                PortState::Closed => !collapse_closed,
                PortState::Filtered => !collapse_filtered,
            })
            .collect();
        let mut hidden = Vec::new();
        if collapse_closed && closed > 0 {
            hidden.push((PortState::Closed, closed));
        }
        if collapse_filtered {
            hidden.push((PortState::Filtered, filtered + host.not_shown.filtered));
        }
        hidden.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
        Shown { ports, hidden, total }
    }
}

fn hidden_reason(state: PortState) -> &'static str {
    match state {
        PortState::Closed => "conn-refused",
        PortState::Filtered | PortState::Open => "no-response",
    }
}

fn host_label(host: &HostScan) -> String {
    match host_name(host) {
        Some(name) => format!("{} ({})", for_terminal(name), host.address),
        None => host.address.to_string(),
    }
}

/// The host name the user gave for this address; None when it was named
/// by an address or a range.
fn host_name(host: &HostScan) -> Option<&str> {
    let numeric = host.target.contains('/')
        || host
            .target
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok();
    (!numeric).then_some(host.target.as_str())
}

fn addresses(hosts: &[HostScan]) -> String {
    match hosts.len() {
        1 => "1 IP address".to_owned(),
        n => format!("{n} IP addresses"),
    }
}

fn up(hosts: &[HostScan]) -> String {
    match hosts.iter().filter(|h| h.up).count() {
        1 => "1 host up".to_owned(),
        n => format!("{n} hosts up"),
    }
}

/// nmap's grepable output (`-oG`): a status line and a ports line per
/// host, between two comment lines.
pub fn grepable(frame: &ScanFrame<'_>, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "# portwatch {} scan initiated {} as: {}",
        env!("CARGO_PKG_VERSION"),
        frame.started,
        for_terminal(frame.command_line)
    )?;
    for host in frame.hosts {
        let name = host_name(host).map(grepable_field).unwrap_or_default();
        let status = if host.up { "Up" } else { "Down" };
        // nmap -sn lists the hosts that are up, and no ports.
        if frame.ping && !host.up {
            continue;
        }
        writeln!(out, "Host: {} ({name})\tStatus: {status}", host.address)?;
        if frame.ping {
            continue;
        }
        let shown = Shown::of(host, frame.all_states);
        let ports: Vec<String> = shown.ports.iter().map(|port| grepable_port(port)).collect();
        let mut line = format!("Host: {} ({name})\tPorts: {}", host.address, ports.join(", "));
        if let Some((state, count)) = shown.hidden.first() {
            line.push_str(&format!("\tIgnored State: {} ({count})", state.as_str()));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "# portwatch done -- {} ({}) scanned in {:.2} seconds",
        addresses(frame.hosts),
        up(frame.hosts),
        frame.elapsed.as_secs_f64()
    )?;
    Ok(())
}

/// `port/state/protocol/owner/service/rpc/version/`, nmap's port entry.
fn grepable_port(port: &ScannedPort) -> String {
    let (service, version) = match &port.banner {
        Some(banner) => (banner.service.clone(), version_text(banner)),
        None => (port.service.clone().unwrap_or_default(), String::new()),
    };
    format!(
        "{}/{}/tcp//{}//{}/",
        port.port,
        port.state.as_str(),
        grepable_field(&service),
        grepable_field(&version)
    )
}

/// A field of a grepable line: no separator of the format inside it.
fn grepable_field(text: &str) -> String {
    for_terminal(text).replace('/', "|").replace(',', ";").replace('\t', " ")
}

/// JSON: an array of host objects (the model's serde form), with closed
/// ports only counted unless every state is asked for.
pub fn json(hosts: &[HostScan], all_states: bool, out: &mut impl Write) -> Result<()> {
    let shown: Vec<HostScan> = hosts
        .iter()
        .map(|host| {
            let mut host = host.clone();
            if !all_states {
                let before = host.ports.len();
                host.ports.retain(|port| port.state != PortState::Closed);
                host.not_shown.closed += before - host.ports.len();
            }
            host
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &shown)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scan::{NotShown, Reason, ScanProto};

    fn port(number: u16, state: PortState, reason: Reason) -> ScannedPort {
        ScannedPort {
            port: number,
            proto: ScanProto::Tcp,
            state,
            reason,
            service: Some("ssh".into()),
            rtt_ms: Some(0.05),
            banner: None,
            listener: None,
        }
    }

    fn host() -> HostScan {
        HostScan {
            target: "localhost".into(),
            address: "127.0.0.1".parse().unwrap(),
            up: true,
            latency_ms: Some(0.05),
            reason: None,
            answered_port: None,
            ports: vec![
                port(22, PortState::Open, Reason::SynAck),
                port(81, PortState::Filtered, Reason::NoResponse),
            ],
            not_shown: NotShown { closed: 998, filtered: 0 },
        }
    }

    fn frame(hosts: &[HostScan]) -> ScanFrame<'_> {
        ScanFrame {
            hosts,
            elapsed: Duration::from_millis(50),
            started: "2026-12-05T09:40:00Z",
            command_line: "portwatch scan localhost",
            all_states: false,
            banners: false,
            listeners: false,
            ping: false,
        }
    }

    #[test]
    fn the_table_is_nmaps() {
        let hosts = [host()];
        let mut out = Vec::new();
        table(&frame(&hosts), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "portwatch scan report for localhost (127.0.0.1)\n\
             Host is up (0.000050s latency).\n\
             Not shown: 998 closed tcp ports (conn-refused)\n\
             PORT   STATE    SERVICE\n\
             22/tcp open     ssh\n\
             81/tcp filtered ssh\n\
             \n\
             portwatch done: 1 IP address (1 host up) scanned in 0.05 seconds\n"
        );
    }

    #[test]
    fn grepable_lines_are_nmaps() {
        let hosts = [host()];
        let mut out = Vec::new();
        grepable(&frame(&hosts), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "Host: 127.0.0.1 (localhost)\tStatus: Up");
        assert_eq!(
            lines[2],
            "Host: 127.0.0.1 (localhost)\tPorts: 22/open/tcp//ssh///, 81/filtered/tcp//ssh///\tIgnored State: closed (998)"
        );
        assert!(lines[3].starts_with("# portwatch done -- 1 IP address (1 host up)"));
    }

    #[test]
    fn many_filtered_ports_are_summed_up_and_banners_escaped() {
        let mut host = host();
        host.not_shown = NotShown { closed: 0, filtered: 0 };
        host.ports = (1..=30).map(|n| port(n, PortState::Filtered, Reason::NoResponse)).collect();
        host.ports.push(ScannedPort {
            banner: Some(Banner {
                service: "ssh".into(),
                first_line: Some("SSH-2.0-x\u{1b}[31m".into()),
                ..Banner::default()
            }),
            ..port(2222, PortState::Open, Reason::SynAck)
        });
        let hosts = [host];
        let mut out = Vec::new();
        table(&ScanFrame { banners: true, ..frame(&hosts) }, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Not shown: 30 filtered tcp ports (no-response)\n"), "{text}");
        assert!(text.contains("2222/tcp open  ssh     \"SSH-2.0-x\\u{1b}[31m\"\n"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn ping_lists_the_hosts_up_as_nmap_sn_does() {
        let down = HostScan {
            address: "127.0.0.9".parse().unwrap(),
            target: "127.0.0.9".into(),
            up: false,
            latency_ms: None,
            reason: Some(crate::model::scan::HostReason::NoResponse),
            ports: Vec::new(),
            ..host()
        };
        let up = HostScan {
            ports: Vec::new(),
            reason: Some(crate::model::scan::HostReason::EchoReply),
            ..host()
        };
        let hosts = [up, down];
        let frame = ScanFrame { ping: true, ..frame(&hosts) };
        let mut out = Vec::new();
        table(&frame, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "portwatch scan report for localhost (127.0.0.1)\n\
             Host is up (0.000050s latency).\n\
             portwatch done: 2 IP addresses (1 host up) scanned in 0.05 seconds\n"
        );
        let mut out = Vec::new();
        grepable(&frame, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "Host: 127.0.0.1 (localhost)\tStatus: Up");
        assert!(lines[2].starts_with("# portwatch done -- 2 IP addresses (1 host up)"), "{text}");
    }
}
