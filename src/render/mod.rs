//! The views of a socket list. Each writer takes sockets one at a time and
//! writes to any `impl Write`.

pub mod columns;
pub mod escape;
pub mod json;
pub mod ss;

use anyhow::Result;

use crate::model::Socket;

/// The output formats of `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ss,
    Json,
    JsonLines,
}

/// Consumes a socket list row by row.
pub trait SocketWriter {
    fn write_socket(&mut self, socket: &Socket) -> Result<()>;

    /// Writes what is still buffered; called once after the last socket.
    fn finish(&mut self) -> Result<()>;
}
