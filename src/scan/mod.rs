//! `portwatch scan`: a TCP connect scan with nmap's states and reasons,
//! over tokio sockets, with per-host adaptive timeouts and a retry.

pub mod engine;
pub mod targets;
pub mod timing;
