//! JSON (`--json`, one array) and JSON Lines (`--format jsonl`, one object
//! per line), both streamed. A row is the record itself ([`Socket`]'s serde
//! form, documented in README.md); a key never changes its meaning.

use std::io::Write;

use anyhow::Result;

use super::View;
use crate::model::Socket;

/// Whether the objects are wrapped in one array or written one per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonStyle {
    Array,
    Lines,
}

pub struct JsonView<W: Write> {
    out: W,
    style: JsonStyle,
    rows: usize,
    /// One row's text: serde writes many small pieces, `out` gets one write.
    line: Vec<u8>,
}

impl<W: Write> JsonView<W> {
    pub fn new(out: W, style: JsonStyle) -> Self {
        JsonView { out, style, rows: 0, line: Vec::with_capacity(512) }
    }
}

impl<W: Write> View for JsonView<W> {
    fn write(&mut self, socket: &Socket) -> Result<()> {
        self.line.clear();
        match (self.style, self.rows) {
            (JsonStyle::Array, 0) => self.line.extend_from_slice(b"[\n"),
            (JsonStyle::Array, _) => self.line.extend_from_slice(b",\n"),
            (JsonStyle::Lines, _) => {}
        }
        serde_json::to_writer(&mut self.line, socket)?;
        if self.style == JsonStyle::Lines {
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let end: &[u8] = match (self.style, self.rows) {
            (JsonStyle::Array, 0) => b"[]\n",
            (JsonStyle::Array, _) => b"\n]\n",
            (JsonStyle::Lines, _) => b"",
        };
        self.out.write_all(end)?;
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}
