//! A lean aligned-column writer for long socket lists: cells are appended
//! to one text arena (no per-cell allocation) and written, padded to each
//! column's widest cell so far. Like ss, it writes in batches (see
//! [`ColumnTable::flush_if_large`]), so memory stays bounded on hosts with
//! hundreds of thousands of sockets; a later batch may widen a column.
//! Lines never end in spaces.

use std::fmt::Write as _;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A column: how its cells align, and the text that separates it from the
/// column before (ss glues an address to its port with no gap).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub align: Align,
    pub gap: &'static str,
    /// The SGR colour for a cell's text (`--color`), if any.
    pub paint: Option<fn(&str) -> Option<&'static str>>,
    /// The narrowest the column may be (ss prints queues at least six wide).
    pub min_width: usize,
}

impl Column {
    pub const fn left(gap: &'static str) -> Column {
        Column { align: Align::Left, gap, paint: None, min_width: 0 }
    }

    pub const fn right(gap: &'static str) -> Column {
        Column { align: Align::Right, gap, paint: None, min_width: 0 }
    }

    pub const fn at_least(self, min_width: usize) -> Column {
        Column { min_width, ..self }
    }

    pub fn painted(self, paint: fn(&str) -> Option<&'static str>) -> Column {
        Column { paint: Some(paint), ..self }
    }
}

pub struct ColumnTable {
    columns: Vec<Column>,
    text: String,
    /// Byte length of each cell, row after row: cells are short, so u32
    /// keeps this index at half the size of offsets.
    cell_lens: Vec<u32>,
    widths: Vec<usize>,
}

impl ColumnTable {
    pub fn new(columns: Vec<Column>) -> Self {
        let widths = columns.iter().map(|column| column.min_width).collect();
        ColumnTable { columns, text: String::new(), cell_lens: Vec::new(), widths }
    }

    /// Appends the next cell, filled by `fill`; rows fill left to right.
    pub fn push_with(&mut self, fill: impl FnOnce(&mut String)) {
        let start = self.text.len();
        fill(&mut self.text);
        self.finish_cell(start);
    }

    pub fn push(&mut self, text: &str) {
        self.push_with(|arena| arena.push_str(text));
    }

    pub fn push_display(&mut self, value: impl std::fmt::Display) {
        // Writing into a String cannot fail.
        self.push_with(|arena| {
            let _ = write!(arena, "{value}");
        });
    }

    fn finish_cell(&mut self, start: usize) {
        let width = display_width(&self.text[start..]);
        let column = self.cell_lens.len() % self.columns.len();
        self.widths[column] = self.widths[column].max(width);
        let len = self.text.len() - start;
        self.cell_lens.push(u32::try_from(len).unwrap_or(u32::MAX));
    }

    /// Writes the rows buffered so far once they hold more than a few
    /// megabytes, keeping the column widths for the rows still to come.
    pub fn flush_if_large(&mut self, out: &mut dyn Write) -> io::Result<()> {
        const BATCH_BYTES: usize = 4 << 20;
        let buffered = self.text.len() + self.cell_lens.len() * std::mem::size_of::<u32>();
        if buffered < BATCH_BYTES || !self.cell_lens.len().is_multiple_of(self.columns.len()) {
            return Ok(());
        }
        self.write_to(out)?;
        self.text.clear();
        self.cell_lens.clear();
        Ok(())
    }

    /// Writes the rows buffered so far and forgets them, keeping the column
    /// widths for the rows still to come.
    pub fn write_pending(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.write_to(out)?;
        self.text.clear();
        self.cell_lens.clear();
        Ok(())
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut line = String::new();
        let mut start = 0;
        for (index, &len) in self.cell_lens.iter().enumerate() {
            let column_index = index % self.columns.len();
            let column = self.columns[column_index];
            let end = start + len as usize;
            let cell = &self.text[start..end];
            start = end;
            if column_index > 0 {
                line.push_str(column.gap);
            }
            let padding = self.widths[column_index] - display_width(cell);
            let colour = column.paint.and_then(|paint| paint(cell));
            let push_cell = |line: &mut String| match colour {
                Some(code) => {
                    line.push_str("\x1b[");
                    line.push_str(code);
                    line.push('m');
                    line.push_str(cell);
                    line.push_str("\x1b[0m");
                }
                None => line.push_str(cell),
            };
            let last = column_index + 1 == self.columns.len();
            match column.align {
                // A line never ends in blanks: the last cell goes unpadded.
                Align::Left if last => push_cell(&mut line),
                Align::Left => {
                    push_cell(&mut line);
                    line.extend(std::iter::repeat_n(' ', padding));
                }
                Align::Right => {
                    line.extend(std::iter::repeat_n(' ', padding));
                    push_cell(&mut line);
                }
            }
            if last {
                write_row(out, &mut line)?;
            }
        }
        Ok(())
    }
}

/// Writes a row without trailing spaces on any of its lines (a row has a
/// second line only with ss's `-m`/`-i`), then empties it for the next.
fn write_row(out: &mut dyn Write, line: &mut String) -> io::Result<()> {
    if line.as_bytes().contains(&b'\n') {
        for physical in line.split('\n') {
            out.write_all(physical.trim_end_matches([' ', '\t']).as_bytes())?;
            out.write_all(b"\n")?;
        }
    } else {
        line.truncate(line.trim_end_matches([' ', '\t']).len());
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    line.clear();
    Ok(())
}

/// The width a cell takes in its column: its first line's, as a last-column
/// cell may go on below its row (ss's `-i` line).
fn display_width(cell: &str) -> usize {
    let bytes = cell.as_bytes();
    let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    if bytes[..end].is_ascii() { end } else { cell[..end].chars().count() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_never_ends_a_line_with_spaces() {
        let (left, right, glued) = (Column::left(" "), Column::right(" "), Column::left(""));
        let mut table = ColumnTable::new(vec![left, right, glued, left]);
        for cell in ["State", "Local:", "Port", ""] {
            table.push(cell);
        }
        for cell in ["ESTAB", "127.0.0.1:", "22", "ino:5"] {
            table.push(cell);
        }
        let mut out = Vec::new();
        table.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "State     Local:Port\nESTAB 127.0.0.1:22   ino:5\n"
        );
    }

    #[test]
    fn a_column_keeps_its_minimum_width() {
        let mut table = ColumnTable::new(vec![Column::left("").at_least(6), Column::left(" ")]);
        for cell in ["0", "x", "12", "y"] {
            table.push(cell);
        }
        let mut out = Vec::new();
        table.write_to(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "0      x\n12     y\n");
    }

    #[test]
    fn large_tables_are_written_in_batches_with_their_widths() {
        let mut table = ColumnTable::new(vec![Column::left(""), Column::left(" ")]);
        let mut out = Vec::new();
        let big = "x".repeat(3 << 20);
        for (first, second) in [("a", big.as_str()), ("bbb", big.as_str()), ("c", "end")] {
            table.push(first);
            table.push(second);
            table.flush_if_large(&mut out).unwrap();
        }
        assert!(!out.is_empty(), "the first rows went out before the table ended");
        table.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let starts: Vec<&str> = text.lines().map(|l| &l[..4]).collect();
        assert_eq!(starts, ["a   ", "bbb ", "c   "], "widths carry over to later batches");
    }
}
