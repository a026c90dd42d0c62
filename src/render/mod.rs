//! The views of a socket list: pure functions of records. Each view takes
//! sockets one at a time and writes text to any `impl Write`; none reads
//! /proc, a resolver or a file (the inventory added everything before).

pub mod audit;
pub mod audit_prometheus;
pub mod audit_sarif;
pub mod bpf;
pub mod columns;
pub mod details;
pub mod escape;
pub mod firewall_why;
pub mod forwards;
pub mod history;
pub mod holders;
pub mod json;
pub mod kinds;
pub mod live;
pub mod lsof;
pub mod netstat;
pub mod scan;
pub mod sockopt;
pub mod ss;
pub mod summary;
pub mod text;
pub mod watch;
pub mod who;

use anyhow::Result;

use crate::model::Socket;

/// The output formats of `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ss,
    Netstat,
    Lsof,
    Json,
    JsonLines,
}

/// Consumes a socket list row by row.
pub trait View {
    fn write(&mut self, socket: &Socket) -> Result<()>;

    /// Writes what is still buffered; called once after the last socket.
    fn finish(&mut self) -> Result<()>;

    /// Writes the rows so far now, for a stream that has no last socket
    /// (`-E`); later rows keep the column widths reached so far, as ss's
    /// do. Views that cannot stream keep their rows until [`View::finish`].
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
