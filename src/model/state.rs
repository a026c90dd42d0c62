//! TCP/UDP socket states: the kernel's numbers, ss's table labels, the
//! words ss accepts after `state` / `exclude`, and sets of states as the
//! kernel's request mask.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A socket state, numbered as the kernel numbers it (`TCP_ESTABLISHED` = 1 ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SocketState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Closed = 7,
    CloseWait = 8,
    LastAck = 9,
    Listening = 10,
    Closing = 11,
}

/// The kernel's TCP_NEW_SYN_RECV: request sockets, reported as SYN-RECV.
pub(crate) const KERNEL_NEW_SYN_RECV: u8 = 12;

impl SocketState {
    pub const ALL: [SocketState; 11] = [
        SocketState::Established,
        SocketState::SynSent,
        SocketState::SynRecv,
        SocketState::FinWait1,
        SocketState::FinWait2,
        SocketState::TimeWait,
        SocketState::Closed,
        SocketState::CloseWait,
        SocketState::LastAck,
        SocketState::Listening,
        SocketState::Closing,
    ];

    pub fn from_kernel(state: u8) -> Option<SocketState> {
        if state == KERNEL_NEW_SYN_RECV {
            return Some(SocketState::SynRecv);
        }
        SocketState::ALL.iter().copied().find(|s| *s as u8 == state)
    }

    /// The canonical state word: the JSON value and what `state WORD` accepts.
    pub fn word(self) -> &'static str {
        match self {
            SocketState::Established => "established",
            SocketState::SynSent => "syn-sent",
            SocketState::SynRecv => "syn-recv",
            SocketState::FinWait1 => "fin-wait-1",
            SocketState::FinWait2 => "fin-wait-2",
            SocketState::TimeWait => "time-wait",
            SocketState::Closed => "closed",
            SocketState::CloseWait => "close-wait",
            SocketState::LastAck => "last-ack",
            SocketState::Listening => "listening",
            SocketState::Closing => "closing",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

impl fmt::Display for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl Serialize for SocketState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl<'de> Deserialize<'de> for SocketState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        SocketState::ALL
            .into_iter()
            .find(|state| state.word() == word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown socket state '{word}'")))
    }
}

/// A set of socket states, stored as the kernel's `idiag_states` bit mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StateSet(u32);

impl StateSet {
    pub const EMPTY: StateSet = StateSet(0);

    pub fn all() -> StateSet {
        Self::of(&SocketState::ALL)
    }

    pub fn of(states: &[SocketState]) -> StateSet {
        StateSet(states.iter().fold(0, |mask, s| mask | s.bit()))
    }

    /// ss's default: every state but listening, closed, time-wait and syn-recv.
    pub fn ss_default() -> StateSet {
        Self::all().without(Self::of(&[
            SocketState::Listening,
            SocketState::Closed,
            SocketState::TimeWait,
            SocketState::SynRecv,
        ]))
    }

    /// What `-l` selects: listening TCP and unconnected (bound) UDP.
    pub fn listening() -> StateSet {
        Self::of(&[SocketState::Listening, SocketState::Closed])
    }

    pub fn union(self, other: StateSet) -> StateSet {
        StateSet(self.0 | other.0)
    }

    pub fn without(self, other: StateSet) -> StateSet {
        StateSet(self.0 & !other.0)
    }

    pub fn contains(self, state: SocketState) -> bool {
        self.0 & state.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Exactly one state selected: ss then drops its State column.
    pub fn is_single(self) -> bool {
        self.0.count_ones() == 1
    }

    /// The mask for an inet_diag request. Request sockets (NEW_SYN_RECV)
    /// are asked for along with SYN-RECV, as they are displayed as SYN-RECV.
    pub fn kernel_mask(self) -> u32 {
        if self.contains(SocketState::SynRecv) { self.0 | 1 << KERNEL_NEW_SYN_RECV } else { self.0 }
    }

    /// Parses one word accepted after `state` or `exclude`, case-insensitively:
    /// a state name, an alias, or a group.
    pub fn parse_word(word: &str) -> Option<StateSet> {
        use SocketState::*;
        let word = word.to_ascii_lowercase();
        let set = match word.as_str() {
            "syn-rcv" => Self::of(&[SynRecv]),
            "close" | "unconnected" => Self::of(&[Closed]),
            "all" => Self::all(),
            "connected" => Self::all().without(Self::of(&[Closed, Listening])),
            "synchronized" => Self::all().without(Self::of(&[Closed, Listening, SynSent])),
            "bucket" => Self::of(&[SynRecv, TimeWait]),
            "big" => Self::all().without(Self::of(&[SynRecv, TimeWait])),
            other => Self::of(&[*SocketState::ALL.iter().find(|s| s.word() == other)?]),
        };
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SocketState::*;

    #[test]
    fn every_state_word_parses_to_itself() {
        for state in SocketState::ALL {
            assert_eq!(StateSet::parse_word(state.word()), Some(StateSet::of(&[state])));
            assert_eq!(SocketState::from_kernel(state as u8), Some(state));
        }
    }

    #[test]
    fn aliases_and_case() {
        assert_eq!(StateSet::parse_word("SYN-RCV"), Some(StateSet::of(&[SynRecv])));
        assert_eq!(StateSet::parse_word("Close"), StateSet::parse_word("closed"));
        assert_eq!(StateSet::parse_word("unconnected"), StateSet::parse_word("closed"));
        assert_eq!(StateSet::parse_word("listen"), None, "ss accepts only 'listening'");
        assert_eq!(StateSet::parse_word("nonsense"), None);
    }

    #[test]
    fn groups_match_ss() {
        let connected = StateSet::parse_word("connected").unwrap();
        assert!(!connected.contains(Listening) && !connected.contains(Closed));
        assert!(connected.contains(TimeWait) && connected.contains(SynSent));
        let synchronized = StateSet::parse_word("synchronized").unwrap();
        assert!(!synchronized.contains(SynSent) && synchronized.contains(Established));
        assert_eq!(StateSet::parse_word("bucket"), Some(StateSet::of(&[SynRecv, TimeWait])));
        let big = StateSet::parse_word("big").unwrap();
        assert!(!big.contains(SynRecv) && !big.contains(TimeWait) && big.contains(Listening));
        assert_eq!(StateSet::parse_word("all"), Some(StateSet::all()));
    }

    #[test]
    fn defaults_match_ss() {
        let default = StateSet::ss_default();
        for excluded in [Listening, Closed, TimeWait, SynRecv] {
            assert!(!default.contains(excluded));
        }
        assert!(default.contains(Established) && default.contains(CloseWait));
        assert!(StateSet::listening().contains(Closed));
    }

    #[test]
    fn syn_recv_asks_for_request_sockets_too() {
        assert_eq!(StateSet::of(&[SynRecv]).kernel_mask(), (1 << 3) | (1 << 12));
        assert_eq!(StateSet::of(&[Listening]).kernel_mask(), 1 << 10);
        assert_eq!(SocketState::from_kernel(12), Some(SynRecv));
        assert_eq!(SocketState::from_kernel(0), None);
    }
}
