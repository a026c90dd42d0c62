//! Which socket kinds a command line selects, and in which states, as ss
//! decides it: each kind flag, `-A` word and family brings its own default
//! states; families bring their kinds and kinds their families; with no
//! kind or family at all, every kind ss knows is listed.
//!
//! Kinds a flag or word names are required: when the kernel has no diag
//! module for one, the listing fails with one line saying so. Kinds only
//! implied (by the default, `-A all`, `-A inet`, `-4`, `-6`, `-f inet`)
//! are left out silently, as ss leaves them out.

use std::io::Write;

use crate::cli::{FamilyArg, SelectionArgs};
use crate::exit::UsageError;
use crate::model::{IpFamily, Netid, SocketState, StateSet};

/// The kinds, families and default states of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kinds {
    /// In ss's display order.
    pub netids: Vec<Netid>,
    /// The inet families asked for (both when none is named).
    pub families: Vec<IpFamily>,
    /// Kinds listed only if the kernel can list them.
    pub optional: Vec<Netid>,
    /// The states `-l` or `-a` set, before state words.
    pub flagged_states: Option<StateSet>,
    /// ss's states when no `-l`, `-a` or state word says: the connected
    /// states with `-A` or with no kind at all, else those the kinds and
    /// families bring.
    pub default_states: StateSet,
}

/// An address family as ss's selection knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Inet,
    Inet6,
    Unix,
    Packet,
    Netlink,
    Vsock,
    Tipc,
    Xdp,
}

const INET_FAMILIES: [Family; 2] = [Family::Inet, Family::Inet6];

/// The kinds of the inet families (ss's INET_DBM).
const INET_KINDS: [Netid; 6] =
    [Netid::Udp, Netid::Dccp, Netid::Tcp, Netid::Mptcp, Netid::Sctp, Netid::Raw];

/// What `-A all` and the default list: every kind but TIPC.
const ALL_KINDS: [Netid; 15] = [
    Netid::Udp,
    Netid::Dccp,
    Netid::Tcp,
    Netid::Mptcp,
    Netid::Raw,
    Netid::UnixStream,
    Netid::UnixDgram,
    Netid::UnixSeqpacket,
    Netid::PacketRaw,
    Netid::PacketDgram,
    Netid::Netlink,
    Netid::Sctp,
    Netid::VsockStream,
    Netid::VsockDgram,
    Netid::Xdp,
];

/// ss's SS_CONN: every state but listening, closed, time-wait, syn-recv.
fn connected() -> StateSet {
    StateSet::ss_default()
}

fn closed() -> StateSet {
    StateSet::of(&[SocketState::Closed])
}

impl Family {
    fn kinds(self) -> &'static [Netid] {
        match self {
            Family::Inet | Family::Inet6 => &INET_KINDS,
            Family::Unix => &Netid::UNIX,
            Family::Packet => &Netid::PACKET,
            Family::Netlink => &[Netid::Netlink],
            Family::Vsock => &Netid::VSOCK,
            Family::Tipc => &[Netid::Tipc],
            Family::Xdp => &[Netid::Xdp],
        }
    }

    /// The states a family flag brings.
    fn default_states(self) -> StateSet {
        match self {
            Family::Inet | Family::Inet6 | Family::Unix | Family::Vsock => connected(),
            Family::Packet | Family::Netlink | Family::Xdp => closed(),
            Family::Tipc => tipc_states(),
        }
    }

    fn of_kind(netid: Netid) -> &'static [Family] {
        match netid {
            Netid::Tcp | Netid::Udp | Netid::Raw | Netid::Mptcp | Netid::Dccp | Netid::Sctp => {
                &INET_FAMILIES
            }
            Netid::UnixStream | Netid::UnixDgram | Netid::UnixSeqpacket => &[Family::Unix],
            Netid::PacketRaw | Netid::PacketDgram => &[Family::Packet],
            Netid::Netlink => &[Family::Netlink],
            Netid::VsockStream | Netid::VsockDgram => &[Family::Vsock],
            Netid::Tipc => &[Family::Tipc],
            Netid::Xdp => &[Family::Xdp],
        }
    }
}

/// TIPC's default: established, listening and unconnected.
fn tipc_states() -> StateSet {
    StateSet::of(&[SocketState::Established, SocketState::Listening, SocketState::Closed])
}

/// The states a kind flag or `-A` word brings.
fn kind_default_states(netid: Netid) -> StateSet {
    match netid {
        Netid::Udp | Netid::Raw => StateSet::of(&[SocketState::Established]),
        Netid::UnixDgram | Netid::PacketRaw | Netid::PacketDgram | Netid::Netlink | Netid::Xdp => {
            closed()
        }
        Netid::Tipc => tipc_states(),
        Netid::Tcp
        | Netid::Mptcp
        | Netid::Dccp
        | Netid::Sctp
        | Netid::UnixStream
        | Netid::UnixSeqpacket
        | Netid::VsockStream
        | Netid::VsockDgram => connected(),
    }
}

/// The kinds an `-A` word stands for; `implied` for `all` and `inet`,
/// whose kinds are optional.
fn query_word(word: &str) -> Option<(&'static [Netid], bool)> {
    let named: &'static [Netid] = match word {
        "all" => return Some((&ALL_KINDS, true)),
        "inet" => return Some((&INET_KINDS, true)),
        "tcp" => &[Netid::Tcp],
        "mptcp" => &[Netid::Mptcp],
        "udp" => &[Netid::Udp],
        "raw" => &[Netid::Raw],
        "dccp" => &[Netid::Dccp],
        "sctp" => &[Netid::Sctp],
        "unix" => &Netid::UNIX,
        "unix_stream" | "u_str" => &[Netid::UnixStream],
        "unix_dgram" | "u_dgr" => &[Netid::UnixDgram],
        "unix_seqpacket" | "u_seq" => &[Netid::UnixSeqpacket],
        "packet" => &Netid::PACKET,
        "packet_raw" | "p_raw" => &[Netid::PacketRaw],
        "packet_dgram" | "p_dgr" => &[Netid::PacketDgram],
        "netlink" => &[Netid::Netlink],
        "vsock" => &Netid::VSOCK,
        "vsock_stream" | "v_str" => &[Netid::VsockStream],
        "vsock_dgram" | "v_dgr" => &[Netid::VsockDgram],
        "tipc" => &[Netid::Tipc],
        "xdp" => &[Netid::Xdp],
        _ => return None,
    };
    Some((named, false))
}

/// Collects kinds and families as the flags are read.
#[derive(Default)]
struct Builder {
    kinds: Vec<Netid>,
    named: Vec<Netid>,
    families: Vec<Family>,
    /// Families given by `-x`, `-0`, `-f unix` and the like: their kinds
    /// are required.
    named_families: Vec<Family>,
    states: StateSet,
    explicit: bool,
}

impl Builder {
    fn add_kind(&mut self, netid: Netid, named: bool) {
        self.explicit = true;
        self.states = self.states.union(kind_default_states(netid));
        if !self.kinds.contains(&netid) {
            self.kinds.push(netid);
        }
        if named && !self.named.contains(&netid) {
            self.named.push(netid);
        }
    }

    fn remove_kind(&mut self, netid: Netid) {
        self.explicit = true;
        self.kinds.retain(|kind| *kind != netid);
        self.named.retain(|kind| *kind != netid);
    }

    fn add_family(&mut self, family: Family) {
        self.explicit = true;
        self.states = self.states.union(family.default_states());
        if !self.families.contains(&family) {
            self.families.push(family);
        }
        if !INET_FAMILIES.contains(&family) {
            self.named_families.push(family);
        }
    }

    /// ss's merge: a kind without one of its families brings them; a
    /// family without one of its kinds brings them.
    fn merge_defaults(&mut self) {
        for netid in self.kinds.clone() {
            let families = Family::of_kind(netid);
            if !families.iter().any(|family| self.families.contains(family)) {
                self.families.extend(families);
            }
        }
        for family in self.families.clone() {
            let kinds = family.kinds();
            if !kinds.iter().any(|kind| self.kinds.contains(kind)) {
                self.kinds.extend(kinds);
                if self.named_families.contains(&family) {
                    self.named.extend(kinds);
                }
            }
        }
    }
}

/// Reads the kind flags, `-A` words and families. Unlike ss, where `-A`
/// drops the kinds flagged before it (`ss -t -A udp` lists UDP alone),
/// flags add to `-A` wherever they stand.
pub fn kinds(args: &SelectionArgs) -> Result<Kinds, UsageError> {
    let flagged_states = if args.all {
        Some(StateSet::all())
    } else if args.listening {
        Some(StateSet::listening())
    } else {
        None
    };
    let mut builder = Builder { explicit: !args.query.is_empty(), ..Builder::default() };
    for word in &args.query {
        let (enable, name) = match word.strip_prefix('!') {
            Some(name) => (false, name),
            None => (true, word.as_str()),
        };
        let (netids, implied) = query_word(name).ok_or_else(|| {
            UsageError(format!(
                "-A: unknown socket table '{}' (all, inet, tcp, mptcp, udp, raw, unix, \
                 unix_stream, unix_dgram, unix_seqpacket, packet, packet_raw, packet_dgram, \
                 netlink, dccp, sctp, vsock, vsock_stream, vsock_dgram, tipc, xdp)",
                crate::render::escape::for_terminal(word)
            ))
        })?;
        for &netid in netids {
            match enable {
                true => builder.add_kind(netid, !implied),
                false => builder.remove_kind(netid),
            }
        }
    }
    let kind_flags = [
        (args.dccp, Netid::Dccp),
        (args.tcp, Netid::Tcp),
        (args.sctp, Netid::Sctp),
        (args.udp, Netid::Udp),
        (args.raw, Netid::Raw),
        (args.mptcp, Netid::Mptcp),
    ];
    for (_, netid) in kind_flags.into_iter().filter(|(given, _)| *given) {
        builder.add_kind(netid, true);
    }
    for family in family_flags(args) {
        builder.add_family(family);
    }
    let default_states = match (builder.explicit, args.query.is_empty()) {
        (true, true) => builder.states,
        (true, false) => connected(),
        (false, _) => {
            for netid in ALL_KINDS {
                builder.add_kind(netid, false);
            }
            connected()
        }
    };
    builder.merge_defaults();
    let families = IpFamily::ALL
        .into_iter()
        .filter(|family| {
            builder.families.contains(&match family {
                IpFamily::Inet => Family::Inet,
                IpFamily::Inet6 => Family::Inet6,
            })
        })
        .collect();
    let netids: Vec<Netid> =
        Netid::SS_ORDER.into_iter().filter(|netid| builder.kinds.contains(netid)).collect();
    let optional = netids.iter().copied().filter(|netid| !builder.named.contains(netid)).collect();
    Ok(Kinds { netids, families, optional, flagged_states, default_states })
}

/// The families of `-4`, `-6`, `-x`, `-0`, `--vsock`, `--tipc`, `--xdp`
/// and `-f`.
fn family_flags(args: &SelectionArgs) -> Vec<Family> {
    let flags = [
        (args.unix, Family::Unix),
        (args.vsock, Family::Vsock),
        (args.tipc, Family::Tipc),
        (args.ipv4, Family::Inet),
        (args.ipv6, Family::Inet6),
        (args.packet, Family::Packet),
        (args.xdp, Family::Xdp),
    ];
    let mut families: Vec<Family> =
        flags.into_iter().filter(|(given, _)| *given).map(|(_, family)| family).collect();
    families.extend(args.family.iter().filter_map(|family| match family {
        FamilyArg::Inet => Some(Family::Inet),
        FamilyArg::Inet6 => Some(Family::Inet6),
        FamilyArg::Link => Some(Family::Packet),
        FamilyArg::Unix => Some(Family::Unix),
        FamilyArg::Netlink => Some(Family::Netlink),
        FamilyArg::Vsock => Some(Family::Vsock),
        FamilyArg::Tipc => Some(Family::Tipc),
        FamilyArg::Xdp => Some(Family::Xdp),
        FamilyArg::Help => None,
    }));
    families
}

/// `-f help`: the families and the kinds each lists.
pub fn write_family_help(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "FAMILY := {{inet|inet6|link|unix|netlink|vsock|tipc|xdp|help}}")?;
    for (family, kinds) in [
        ("inet", "IPv4 TCP, UDP, raw, MPTCP, DCCP and SCTP sockets (as -4)"),
        ("inet6", "IPv6 TCP, UDP, raw, MPTCP, DCCP and SCTP sockets (as -6)"),
        ("link", "packet sockets: p_raw, p_dgr (as -0)"),
        ("unix", "UNIX sockets: u_str, u_dgr, u_seq (as -x)"),
        ("netlink", "netlink sockets: nl"),
        ("vsock", "vsock sockets: v_str, v_dgr (as --vsock)"),
        ("tipc", "TIPC sockets (as --tipc)"),
        ("xdp", "XDP sockets (as --xdp)"),
        ("help", "this list"),
    ] {
        writeln!(out, "  {family:<8} {kinds}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SocketState::*;

    fn kinds_of(args: SelectionArgs) -> Kinds {
        kinds(&args).unwrap()
    }

    #[test]
    fn no_kind_lists_every_kind_ss_knows_in_connected_states() {
        let chosen = kinds_of(SelectionArgs::default());
        assert_eq!(chosen.netids.len(), 15, "{:?}", chosen.netids);
        assert!(!chosen.netids.contains(&Netid::Tipc), "ss's `all` leaves TIPC out");
        assert_eq!(chosen.netids[0], Netid::Netlink);
        assert_eq!(chosen.optional, chosen.netids, "nothing named, nothing required");
        assert_eq!((chosen.flagged_states, chosen.default_states), (None, connected()));
    }

    #[test]
    fn each_kind_brings_its_own_states() {
        let udp = kinds_of(SelectionArgs { udp: true, ..Default::default() });
        assert_eq!(udp.netids, [Netid::Udp]);
        assert_eq!(udp.default_states, StateSet::of(&[Established]));
        assert!(udp.optional.is_empty());
        let packet = kinds_of(SelectionArgs { packet: true, ..Default::default() });
        assert_eq!(packet.netids, [Netid::PacketRaw, Netid::PacketDgram]);
        assert_eq!(packet.default_states, closed());
        let netlink =
            kinds_of(SelectionArgs { family: vec![FamilyArg::Netlink], ..Default::default() });
        assert_eq!(netlink.netids, [Netid::Netlink]);
        assert_eq!(netlink.flagged_states, None);
    }

    #[test]
    fn a_query_starts_from_connected_states_and_negation_removes() {
        let query = |words: &[&str]| SelectionArgs {
            query: words.iter().map(|word| word.to_string()).collect(),
            ..Default::default()
        };
        let netlink = kinds_of(query(&["netlink"]));
        assert_eq!(netlink.default_states, connected(), "ss -A netlink shows nothing");
        let all_but_udp = kinds_of(query(&["all", "!udp"]));
        assert!(!all_but_udp.netids.contains(&Netid::Udp));
        assert!(all_but_udp.netids.contains(&Netid::Tcp));
        assert!(kinds_of(query(&["!tcp"])).netids.is_empty());
        let sctp = kinds_of(query(&["inet", "sctp"]));
        assert!(!sctp.optional.contains(&Netid::Sctp) && sctp.optional.contains(&Netid::Dccp));
        assert!(kinds(&query(&["bogus"])).is_err());
    }

    #[test]
    fn families_and_kinds_bring_each_other() {
        let v4 = kinds_of(SelectionArgs { ipv4: true, ..Default::default() });
        assert_eq!(v4.families, [IpFamily::Inet]);
        assert_eq!(
            v4.netids,
            [Netid::Raw, Netid::Udp, Netid::Tcp, Netid::Dccp, Netid::Sctp, Netid::Mptcp]
        );
        assert_eq!(v4.optional, v4.netids, "-4 names no kind");
        let tcp_unix = kinds_of(SelectionArgs { tcp: true, unix: true, ..Default::default() });
        assert_eq!(tcp_unix.families, IpFamily::ALL);
        assert_eq!(tcp_unix.netids.len(), 4);
        assert!(tcp_unix.optional.is_empty(), "-x names the UNIX kinds");
        let stream_only = kinds_of(SelectionArgs {
            unix: true,
            query: vec!["u_str".into()],
            ..Default::default()
        });
        assert_eq!(stream_only.netids, [Netid::UnixStream]);
    }
}
