//! /proc/thread-self/net/unix (the calling thread's namespace): what it
//! says of UNIX sockets that sock_diag does not, the reference count, flags
//! and socket-file state that netstat's UNIX table shows, by inode.
//!
//! Its lines read `Num: RefCount Protocol Flags Type St Inode [Path]`, all
//! hexadecimal but the inode. Lines that do not read so (the header, a
//! truncated or garbled line) are skipped.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::model::UnixProcEntry;
use crate::sys::ProcFs;

pub const TABLE_PATH: &str = "/proc/thread-self/net/unix";

/// Reads the table of the calling thread's namespace.
pub fn read_table(proc: &dyn ProcFs) -> Result<HashMap<u32, UnixProcEntry>> {
    let path = Path::new(TABLE_PATH);
    let text = proc.read_text(path).with_context(|| format!("cannot read {TABLE_PATH}"))?;
    Ok(parse_table(&text))
}

/// The entries of a /proc/net/unix text by inode. Sockets without an inode
/// (0: a connection not accepted yet) cannot be told apart and are left out.
pub fn parse_table(text: &str) -> HashMap<u32, UnixProcEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(u32, UnixProcEntry)> {
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?.strip_suffix(':')?;
    u64::from_str_radix(slot, 16).ok()?;
    let mut hex = || fields.next().and_then(|field| u32::from_str_radix(field, 16).ok());
    let refcount = hex()?;
    let _protocol = hex()?;
    let flags = hex()?;
    let _kind = hex()?;
    let socket_state = u8::try_from(hex()?).ok()?;
    let inode: u32 = fields.next()?.parse().ok()?;
    (inode != 0).then_some((inode, UnixProcEntry { refcount, flags, socket_state }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
Num       RefCount Protocol Flags    Type St Inode Path
00000000ac2fe37a: 00000002 00000000 00010000 0001 01 585476 /tmp/x/listen
0000000038751023: 00000003 00000000 00000000 0002 03 585482
00000000fb42abbf: 00000003 00000000 00000000 0001 02     0 /tmp/x/listen
0000000090873427: 00000003 00000000 00000000 0005 03 585489 @name with spaces
";

    #[test]
    fn entries_by_inode() {
        let table = parse_table(TABLE);
        assert_eq!(table.len(), 3, "the header and the inode-0 line are left out: {table:?}");
        assert_eq!(table[&585476], UnixProcEntry { refcount: 2, flags: 1 << 16, socket_state: 1 });
        assert_eq!(table[&585482], UnixProcEntry { refcount: 3, flags: 0, socket_state: 3 });
        assert_eq!(table[&585489].refcount, 3);
    }

    #[test]
    fn garbage_lines_are_skipped_not_a_panic() {
        for text in [
            "",
            "\n\n",
            "0000: 2",
            "zz: 00000002 00000000 00010000 0001 01 5",
            "00: 00000002 00000000 00010000 0001 01",
            "00: 00000002 00000000 00010000 0001 01 -5",
            "00: 00000002 00000000 00010000 0001 1FF 5",
            "00: 1FFFFFFFF 00000000 00010000 0001 01 5",
            "00: 00000002 00000000 00010000 0001 01 99999999999",
            "00 00000002 00000000 00010000 0001 01 5",
            "\u{feff}00: 00000002 00000000 00010000 0001 01 5",
        ] {
            assert!(parse_table(text).is_empty(), "{text:?}");
        }
        let mixed = format!("garbage\n{TABLE}00: x\n");
        assert_eq!(parse_table(&mixed).len(), 3);
    }
}
