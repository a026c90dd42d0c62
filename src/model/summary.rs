//! ss -s's figures: socket totals per transport and family.

use serde::{Deserialize, Serialize};

/// ss -s's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Sockets in use, of every kind ("sockets: used").
    pub total: u64,
    pub tcp: TcpSummary,
    pub transports: Transports,
}

/// ss's `TCP:` line. `total` (allocated TCP sockets) and `orphaned` are
/// counted by the kernel for the whole host, not per namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSummary {
    pub total: u64,
    pub estab: u64,
    pub closed: u64,
    pub orphaned: u64,
    pub timewait: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transports {
    pub raw: Counts,
    pub udp: Counts,
    pub tcp: Counts,
    pub inet: Counts,
    pub frag: Counts,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub ipv4: u64,
    pub ipv6: u64,
}

impl Counts {
    pub fn new(ipv4: u64, ipv6: u64) -> Counts {
        Counts { total: ipv4 + ipv6, ipv4, ipv6 }
    }

    pub fn sum(all: &[Counts]) -> Counts {
        Counts::new(all.iter().map(|c| c.ipv4).sum(), all.iter().map(|c| c.ipv6).sum())
    }
}
