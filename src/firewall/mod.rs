//! The firewall truth: the live ruleset (nftables, iptables-nft, legacy
//! iptables) read into one rule model, and the path a new connection to a
//! listener takes through it, decided per source region.

pub mod eval;
pub mod forward_path;
pub mod forwards;
pub mod iptables;
pub mod kernel_sets;
pub mod live;
pub mod nft;
pub mod ruleset;
pub mod space;
pub mod verdict;
pub mod why;
