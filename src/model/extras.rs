//! What `--tos`, `--cgroup` and `--inet-sockopt` add to an inet socket, as
//! ss prints them. Each is `None` (and absent from JSON) unless its option
//! was given and the kernel reported it (TIME-WAIT sockets have none).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InetExtras {
    /// `--tos`: the IPv4 TOS byte (IP_TOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// `--tos`: the IPv6 traffic class (IPV6_TCLASS), inet6 sockets only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tclass: Option<u8>,
    /// `--tos`: the net_cls class id, or the socket's priority when it has
    /// none (the kernel's INET_DIAG_CLASS_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    /// `--cgroup`: the path of `cgroup_id` below the cgroup v2 mount (`/`
    /// for its root), or ss's `unreachable:ID` (hex) when it is not found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Box<str>>,
    /// `--inet-sockopt`: the kernel's inet_diag_sockopt flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inet_sockopt: Option<InetSockopt>,
}

/// struct inet_diag_sockopt: inet-level socket options, kept as ss's
/// [`WORDS`] bits (two bytes, not eleven: every socket record carries it),
/// and in JSON an object of booleans named by those words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SockoptFlags", from = "SockoptFlags")]
pub struct InetSockopt(u16);

/// The options in the kernel's order, named as ss prints them.
pub const WORDS: [&str; 11] = [
    "recverr",
    "is_icsk",
    "freebind",
    "hdrincl",
    "mc_loop",
    "transparent",
    "mc_all",
    "nodefrag",
    "bind_addr_no_port",
    "recverr_rfc4884",
    "defer_connect",
];

impl InetSockopt {
    /// The set options in ss's order and words.
    pub fn words(self) -> impl Iterator<Item = &'static str> {
        WORDS
            .into_iter()
            .enumerate()
            .filter(move |(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, w)| w)
    }

    /// Whether the option ss calls `word` is set.
    pub fn has(self, word: &str) -> bool {
        self.words().any(|set| set == word)
    }

    /// Reads the two bytes of bit fields, declared first to last from the
    /// least significant bit on little-endian machines, from the most
    /// significant on big-endian ones (as C compilers lay them out there).
    pub fn from_kernel(bytes: [u8; 2]) -> InetSockopt {
        let bytes = match cfg!(target_endian = "big") {
            true => bytes.map(u8::reverse_bits),
            false => bytes,
        };
        InetSockopt(u16::from_le_bytes(bytes) & ((1 << WORDS.len()) - 1))
    }

    /// The options named by `words` (ss's words; others are ignored).
    pub fn of(words: &[&str]) -> InetSockopt {
        let bits = WORDS.iter().enumerate().filter(|(_, w)| words.contains(w));
        InetSockopt(bits.fold(0, |mask, (bit, _)| mask | 1 << bit))
    }
}

/// The JSON form of [`InetSockopt`].
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct SockoptFlags {
    recverr: bool,
    is_icsk: bool,
    freebind: bool,
    hdrincl: bool,
    mc_loop: bool,
    transparent: bool,
    mc_all: bool,
    nodefrag: bool,
    bind_addr_no_port: bool,
    recverr_rfc4884: bool,
    defer_connect: bool,
}

impl SockoptFlags {
    fn as_array(self) -> [bool; 11] {
        [
            self.recverr,
            self.is_icsk,
            self.freebind,
            self.hdrincl,
            self.mc_loop,
            self.transparent,
            self.mc_all,
            self.nodefrag,
            self.bind_addr_no_port,
            self.recverr_rfc4884,
            self.defer_connect,
        ]
    }
}

impl From<InetSockopt> for SockoptFlags {
    fn from(options: InetSockopt) -> SockoptFlags {
        let bit = |index: usize| options.0 & (1 << index) != 0;
        SockoptFlags {
            recverr: bit(0),
            is_icsk: bit(1),
            freebind: bit(2),
            hdrincl: bit(3),
            mc_loop: bit(4),
            transparent: bit(5),
            mc_all: bit(6),
            nodefrag: bit(7),
            bind_addr_no_port: bit(8),
            recverr_rfc4884: bit(9),
            defer_connect: bit(10),
        }
    }
}

impl From<SockoptFlags> for InetSockopt {
    fn from(flags: SockoptFlags) -> InetSockopt {
        let set = flags.as_array().into_iter().enumerate().filter(|(_, set)| *set);
        InetSockopt(set.fold(0, |mask, (bit, _)| mask | 1 << bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn bit_fields_in_declaration_order() {
        // A TCP socket: is_icsk, mc_loop, mc_all (what ss shows for it).
        let tcp = InetSockopt::from_kernel([0b0101_0010, 0]);
        assert_eq!(tcp.words().collect::<Vec<_>>(), ["is_icsk", "mc_loop", "mc_all"]);
        let late = InetSockopt::from_kernel([0, 0b101]);
        assert_eq!(late.words().collect::<Vec<_>>(), ["bind_addr_no_port", "defer_connect"]);
        assert!(late.has("defer_connect") && !late.has("freebind"));
    }

    #[test]
    fn json_is_an_object_of_booleans_that_reads_back() {
        let options = InetSockopt::of(&["freebind", "mc_loop"]);
        let json = serde_json::to_value(options).unwrap();
        assert_eq!(json["freebind"], true);
        assert_eq!(json["is_icsk"], false);
        assert_eq!(json.as_object().unwrap().len(), WORDS.len());
        assert_eq!(serde_json::from_value::<InetSockopt>(json).unwrap(), options);
    }
}
