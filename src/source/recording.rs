//! The recording format of `portwatch record` / `-D`, read back by `--from`.
//!
//! A recording is a sequence of dumps. Each dump is the kernel's reply
//! messages exactly as received, ending with NLMSG_DONE. portwatch puts a
//! 16-byte header before each dump:
//!
//! | bytes | meaning                                           |
//! |-------|---------------------------------------------------|
//! | 0..8  | magic `PWSDIAG` followed by format version `0x01` |
//! | 8     | IP protocol (6 = TCP, 17 = UDP)                   |
//! | 9     | address family (2 = AF_INET, 10 = AF_INET6)       |
//! | 10..16| zero                                              |
//!
//! A dump without that header is read as ss writes it with `-D` (and as
//! iproute2's tests feed it to ss): TCP replies, family from each message.

use std::io::{self, Write};

use anyhow::{Context, Result, bail};

use crate::model::{IpFamily, Netid, Transport};
use crate::source::netlink::{DiagError, Message, Messages, Reply};

pub const MAGIC: [u8; 8] = *b"PWSDIAG\x01";
pub const HEADER_LEN: usize = 16;

/// The header portwatch writes before each recorded dump.
pub fn write_dump_header(out: &mut dyn Write, netid: Netid, family: IpFamily) -> io::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8] = netid.transport().map_or(0, Transport::ip_protocol);
    header[9] = family.address_family();
    out.write_all(&header)
}

/// Which protocol a recorded dump holds and, where its header says, family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpOrigin {
    pub netid: Netid,
    pub family: Option<IpFamily>,
}

/// Walks a recording dump by dump, message by message.
pub struct RecordingReader<'a> {
    rest: &'a [u8],
    offset: usize,
    total: usize,
}

impl<'a> RecordingReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        RecordingReader { rest: bytes, offset: 0, total: bytes.len() }
    }

    /// Reads the next dump, handing each message to `on_message`; `None` at
    /// the end of the recording.
    pub fn next_dump(
        &mut self,
        on_message: &mut dyn FnMut(DumpOrigin, &Message<'_>) -> Result<()>,
    ) -> Result<Option<DumpOrigin>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let origin = self.take_header()?;
        let mut messages = Messages::new(self.rest);
        let mut done = false;
        for message in messages.by_ref() {
            let message = message.map_err(|e| self.error_at(e))?;
            on_message(origin, &message)?;
            if message.reply == Reply::Done {
                done = true;
                break;
            }
        }
        let remainder = messages.remainder();
        self.offset += self.rest.len() - remainder.len();
        self.rest = remainder;
        if !done {
            bail!("the recording ends inside a dump (no NLMSG_DONE after byte {})", self.offset);
        }
        Ok(Some(origin))
    }

    fn take_header(&mut self) -> Result<DumpOrigin> {
        if !self.rest.starts_with(&MAGIC) {
            return Ok(DumpOrigin { netid: Netid::Tcp, family: None });
        }
        if self.rest.len() < HEADER_LEN {
            bail!("the recording ends inside a dump header at byte {}", self.offset);
        }
        let netid =
            Transport::from_ip_protocol(self.rest[8]).map(Transport::netid).with_context(|| {
                format!(
                    "unknown protocol {} in the dump header at byte {}",
                    self.rest[8], self.offset
                )
            })?;
        let family = IpFamily::from_address_family(self.rest[9]).with_context(|| {
            format!("unknown family {} in the dump header at byte {}", self.rest[9], self.offset)
        })?;
        self.rest = &self.rest[HEADER_LEN..];
        self.offset += HEADER_LEN;
        Ok(DumpOrigin { netid, family: Some(family) })
    }

    fn error_at(&self, error: DiagError) -> anyhow::Error {
        anyhow::Error::new(error)
            .context(format!("in the dump starting at byte {} of {}", self.offset, self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut bytes = Vec::new();
        write_dump_header(&mut bytes, Netid::Udp, IpFamily::Inet6).unwrap();
        // An empty NLMSG_DONE closes the dump.
        bytes.extend_from_slice(&[16, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut reader = RecordingReader::new(&bytes);
        let origin = reader.next_dump(&mut |_, _| Ok(())).unwrap();
        assert_eq!(origin, Some(DumpOrigin { netid: Netid::Udp, family: Some(IpFamily::Inet6) }));
        assert_eq!(reader.next_dump(&mut |_, _| Ok(())).unwrap(), None);
    }

    #[test]
    fn a_dump_cut_short_is_an_error() {
        let mut bytes = Vec::new();
        write_dump_header(&mut bytes, Netid::Tcp, IpFamily::Inet).unwrap();
        let error = RecordingReader::new(&bytes).next_dump(&mut |_, _| Ok(())).unwrap_err();
        assert!(error.to_string().contains("ends inside a dump"), "{error}");
        let error = RecordingReader::new(&MAGIC).next_dump(&mut |_, _| Ok(())).unwrap_err();
        assert!(error.to_string().contains("header"), "{error}");
    }
}
