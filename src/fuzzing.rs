//! Entry points for the fuzz targets (fuzz/) and their regression tests:
//! each drives one parser with arbitrary input, the way untrusted input
//! reaches it.

use std::io::Read;
use std::net::IpAddr;

use crate::filter::parse::{self, Resolver};
use crate::filter::{Extras, bytecode};
use crate::model::{IpFamily, Netid, Socket, StateSet, Transport};
use crate::names::Services;
use crate::render::View;
use crate::render::json::{JsonStyle, JsonView};
use crate::source::recording::RecordingReader;
use crate::source::{self, Extensions, Outcome, Selection};

/// Replays `bytes` as a recording of every kind, with details, into JSON:
/// once whole, and once delivered a few bytes per read, as a pipe may. Both
/// must end alike: the same rows, outcome and error.
pub fn replay(bytes: &[u8]) {
    let whole =
        replay_into_json(|selection, sink| source::list_recording(bytes, selection, None, sink));
    let trickled = replay_into_json(|selection, sink| {
        let step = 1 + bytes.len() % 7;
        RecordingReader::new(Trickle { bytes, step }).replay(selection, None, sink)
    });
    assert_eq!(whole, trickled, "reading in short pieces changed the replay");
}

/// What a replay produced: JSON lines, and the outcome or the error's text.
type Replayed = (Vec<u8>, Result<Outcome, String>);

fn replay_into_json(
    replay: impl FnOnce(&Selection, &mut source::Sink<'_>) -> anyhow::Result<Outcome>,
) -> Replayed {
    let selection = Selection {
        netids: vec![Netid::Udp, Netid::Tcp],
        families: IpFamily::ALL.to_vec(),
        optional: Vec::new(),
        states: StateSet::all(),
        categories: Vec::new(),
        extensions: Extensions::default(),
        details: true,
    };
    let mut out = Vec::new();
    let mut view = JsonView::new(&mut out, JsonStyle::Lines);
    let result = replay(&selection, &mut |socket| view.write(&socket));
    let _ = view.finish();
    drop(view);
    (out, result.map_err(|error| format!("{error:#}")))
}

/// A reader that hands out at most `step` bytes per read.
pub struct Trickle<'a> {
    pub bytes: &'a [u8],
    pub step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Resolves names without the host: fixed answers for a few names (`ssh`
/// is 22/tcp, `split` differs between TCP and UDP, `lo` is interface 1).
pub struct Offline;

impl Resolver for Offline {
    fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
        match name {
            "ssh" => vec![(Netid::Tcp, 22)],
            "split" => vec![(Netid::Tcp, 1), (Netid::Udp, 2)],
            _ => Vec::new(),
        }
    }
    fn interface_index(&self, name: &str) -> Option<u32> {
        (name == "lo").then_some(1)
    }
    fn cgroup_id(&self, path: &str) -> Option<u64> {
        path.starts_with('/').then_some(1)
    }
    fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
        if name == "localhost" { vec![IpAddr::from([127, 0, 0, 1])] } else { Vec::new() }
    }
}

/// Parses `text` as filter words, then compiles and evaluates the result.
pub fn filter(text: &str) {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let tokens = parse::tokenize(&words);
    if let Ok(Some(parsed)) = parse::parse(&tokens, &Offline) {
        let _ = bytecode::compile(&parsed.expr);
        let socket = crate::source::procnet::parse_table(
            "header\n0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n".as_bytes(),
            Transport::Tcp,
            IpFamily::Inet,
        );
        if let Ok(sockets) = socket {
            for socket in sockets {
                let socket = Socket::Inet(socket);
                let _ = parsed.expr.matches(&socket, &Extras { ephemeral_ports: (32768, 60999) });
            }
        }
    }
}

/// Feeds `text` to every text parser of host files.
pub fn proc_text(text: &str) {
    for transport in [Transport::Tcp, Transport::Udp, Transport::Raw] {
        for family in IpFamily::ALL {
            let _ = crate::source::procnet::parse_table(text.as_bytes(), transport, family);
        }
    }
    let _ = crate::owners::cgroup::placement(text);
    let _ = Services::parse(text);
    let _ = crate::source::summary::parse_text(text);
    let _ = crate::source::procunix::parse_table(text);
}

/// Reads `text` as nft's JSON and as iptables' save output (both families),
/// then judges listeners on both families, both protocols and a few ports
/// against each ruleset read: neither reader nor the evaluator may panic.
pub fn firewall(text: &str) {
    use crate::firewall::ruleset::Backend;
    use crate::firewall::{iptables, nft, verdict};
    let mut rulesets = Vec::new();
    rulesets.extend(nft::read(text).ok());
    for v4 in [true, false] {
        rulesets.extend(iptables::read(text, v4, Backend::Nftables).ok());
    }
    for ruleset in rulesets {
        let firewall = verdict::Firewall::Read(ruleset);
        for (transport, addr, port) in [
            (Transport::Tcp, "0.0.0.0", 22),
            (Transport::Udp, "0.0.0.0", 53),
            (Transport::Tcp, "::", 443),
            (Transport::Tcp, "10.0.0.5", 6379),
        ] {
            let Ok(addr) = addr.parse::<IpAddr>() else { continue };
            let family = if addr.is_ipv4() { IpFamily::Inet } else { IpFamily::Inet6 };
            let state = match transport {
                Transport::Tcp => crate::model::SocketState::Listening,
                _ => crate::model::SocketState::Closed,
            };
            let mut socket = crate::model::InetSocket::new(transport, family, state);
            socket.local = crate::model::InetEnd::new(addr, port);
            let exposure = crate::audit::exposure::exposure(&socket);
            let _ = verdict::judge(&firewall, &socket, &exposure);
            if let verdict::Firewall::Read(ruleset) = &firewall {
                let _ = crate::firewall::why::explain(ruleset, &socket, &exposure);
            }
        }
    }
}

/// Decodes `bytes` (after a first byte that picks the dump) as a reply of
/// each sock_diag family portwatch reads, then shows what decoded in ss's
/// table (every column and detail) and as JSON, and runs a few filters on
/// it: a malformed reply may be refused, never panic.
pub fn sock_diag(bytes: &[u8]) {
    use crate::render::ss::{SsLayout, SsView};
    use crate::source::netlink::SocketDecoder;
    let Some((&pick, payload)) = bytes.split_first() else { return };
    let kinds = [
        Netid::Netlink,
        Netid::PacketRaw,
        Netid::VsockStream,
        Netid::Xdp,
        Netid::Tipc,
        Netid::UnixStream,
        Netid::Mptcp,
        Netid::Tcp,
    ];
    let netid = kinds[usize::from(pick) % kinds.len()];
    let details = pick & 0x80 != 0;
    let Ok(socket) =
        (SocketDecoder { details, inet_sockopt: details }).decode_socket(netid, payload)
    else {
        return;
    };
    let layout = SsLayout {
        header: true,
        netid: true,
        state: true,
        extended: true,
        processes: true,
        category: true,
        firewall: true,
        netns: true,
        timers: true,
        memory: true,
        bpf: true,
        tipcinfo: true,
        info: true,
        oneline: pick & 0x40 != 0,
        sockopt: crate::render::sockopt::SockoptLayout {
            tos: true,
            cgroup: true,
            inet_sockopt: true,
        },
        colour: false,
        numeric: pick & 0x20 != 0,
        wide: false,
    };
    let mut out = Vec::new();
    let mut table = SsView::new(&mut out, layout);
    let _ = table.write(&socket);
    let _ = table.finish();
    let mut json = JsonView::new(Vec::new(), JsonStyle::Lines);
    let _ = json.write(&socket);
    let _ = json.finish();
    let extras = Extras { ephemeral_ports: (32768, 60999) };
    for text in ["sport = :0", "dport >= :1", "dev lo", "autobound", "not src 10.0.0.0/8"] {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        if let Ok(Some(parsed)) = parse::parse(&parse::tokenize(&words), &Offline) {
            let _ = parsed.expr.matches(&socket, &extras);
        }
    }
}
