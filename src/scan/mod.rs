//! `portwatch scan`: a TCP connect scan with nmap's states and reasons,
//! over tokio sockets, with per-host adaptive timeouts and a retry.

pub mod banner;
pub mod engine;
pub mod local;
pub mod ping;
pub mod ports;
pub mod resources;
pub mod targets;
pub mod timing;
