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
//!
//! A recording is decoded as it is read, one message at a time, so memory
//! stays flat whatever its size and endless input (`--from -`) is fine.

use std::io::{self, BufReader, Read, Write};

use anyhow::{Context, Result, bail};

use crate::model::{IpFamily, Netid, Socket, Transport};
use crate::source::netlink::{Message, NETLINK_HEADER_LEN, RECV_BUFFER_LEN, Reply};
use crate::source::{Outcome, Selection, Sink, SocketFilter};

pub const MAGIC: [u8; 8] = *b"PWSDIAG\x01";
pub const HEADER_LEN: usize = 16;

/// The longest message a recording may hold. The kernel builds each
/// sock_diag reply datagram in at most about 32 KiB and never splits a
/// message across datagrams (the longest seen, a TCP socket with tcp_info,
/// BBR info and skmeminfo, is 500 bytes), and portwatch records through a
/// buffer of this size. A longer length is garbage: refusing it at once
/// bounds what one message can make the reader buffer.
pub const MAX_MESSAGE_LEN: usize = RECV_BUFFER_LEN;

/// How much of the input is read at a time.
const READ_CHUNK: usize = 64 * 1024;

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

/// Reads a recording from any reader, dump by dump, message by message,
/// holding one message (at most [`MAX_MESSAGE_LEN`] bytes) at a time.
pub struct RecordingReader<R: Read> {
    input: BufReader<R>,
    /// The message being read or handed over.
    message: Vec<u8>,
    /// How many bytes of the input have been read.
    offset: u64,
}

impl<R: Read> RecordingReader<R> {
    pub fn new(input: R) -> Self {
        RecordingReader {
            input: BufReader::with_capacity(READ_CHUNK, input),
            message: Vec::new(),
            offset: 0,
        }
    }

    /// Lists the selected sockets of every dump in the recording.
    pub fn replay(
        mut self,
        selection: &Selection,
        filter: Option<&SocketFilter>,
        sink: &mut Sink<'_>,
    ) -> Result<Outcome> {
        let decoder = selection.decoder();
        let mut outcome = Outcome::default();
        let mut on_message = |origin: DumpOrigin, message: &Message<'_>| {
            outcome.interrupted |= message.is_interrupted();
            let Reply::Socket(payload) = message.reply else {
                return Ok(());
            };
            if !selection.netids.contains(&origin.netid) {
                return Ok(());
            }
            match decoder.decode(origin.netid, payload).map(Socket::Inet) {
                Ok(socket)
                    if selection.matches(&socket) && SocketFilter::matches(filter, &socket) =>
                {
                    sink(socket)
                }
                Ok(_) => Ok(()),
                Err(_) => {
                    outcome.undecodable += 1;
                    Ok(())
                }
            }
        };
        let mut dumps = 0;
        while self.next_dump(&mut on_message)?.is_some() {
            dumps += 1;
        }
        if dumps == 0 {
            bail!("it holds no sock_diag dump ({} bytes)", self.offset);
        }
        Ok(outcome)
    }

    /// Reads the next dump, handing each message to `on_message`; `None` at
    /// the end of the recording.
    pub fn next_dump(
        &mut self,
        on_message: &mut dyn FnMut(DumpOrigin, &Message<'_>) -> Result<()>,
    ) -> Result<Option<DumpOrigin>> {
        let start = self.offset;
        self.message.clear();
        // A dump header and a message header are both 16 bytes long.
        self.fill_message(HEADER_LEN)?;
        if self.message.is_empty() {
            return Ok(None);
        }
        let origin = if self.message.starts_with(&MAGIC) {
            let origin = dump_origin(&self.message, start)?;
            self.message.clear();
            origin
        } else {
            // No header: these bytes begin the dump's first message.
            DumpOrigin { netid: Netid::Tcp, family: None }
        };
        loop {
            let Some(message) = self.next_message()? else {
                bail!(
                    "the recording ends inside the dump that starts at byte {start} \
                     (no NLMSG_DONE after byte {})",
                    self.offset
                );
            };
            on_message(origin, &message)?;
            let done = message.reply == Reply::Done;
            self.message.clear();
            if done {
                return Ok(Some(origin));
            }
        }
    }

    /// Reads the next message, on top of any of its bytes already read;
    /// `None` when the input ends before it.
    fn next_message(&mut self) -> Result<Option<Message<'_>>> {
        let at = self.offset - self.message.len() as u64;
        self.fill_message(NETLINK_HEADER_LEN)?;
        if self.message.is_empty() {
            return Ok(None);
        }
        if self.message.len() < NETLINK_HEADER_LEN {
            bail!("the recording ends inside the header of the message at byte {at}");
        }
        let length = claimed_length(&self.message, at)?;
        self.fill_message(length)?;
        if self.message.len() < length {
            bail!(
                "the recording ends inside the message at byte {at} ({} of its {length} bytes)",
                self.message.len()
            );
        }
        self.skip_padding(length)?;
        let message = Message::parse(&self.message)
            .map_err(|error| anyhow::Error::new(error).context(format!("message at byte {at}")))?;
        Ok(Some(message))
    }

    /// Reads until the message holds `len` bytes or the input ends.
    fn fill_message(&mut self, len: usize) -> Result<()> {
        let mut filled = self.message.len();
        if filled >= len {
            return Ok(());
        }
        self.message.resize(len, 0);
        let read = loop {
            if filled == len {
                break Ok(());
            }
            match self.input.read(&mut self.message[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break Err(error),
            }
        };
        self.message.truncate(filled);
        let at = self.offset;
        read.with_context(|| format!("cannot read the recording at byte {at}"))
    }

    /// Skips the padding that aligns the next message to 4 bytes; a
    /// recording may end without it.
    fn skip_padding(&mut self, length: usize) -> Result<()> {
        let padding = length.next_multiple_of(4) - length;
        let before = self.message.len();
        self.fill_message(before + padding)?;
        self.message.truncate(before);
        Ok(())
    }
}

/// The length a message's header claims, if a sock_diag message can have it.
fn claimed_length(header: &[u8], at: u64) -> Result<usize> {
    let mut length = [0u8; 4];
    length.copy_from_slice(&header[..4]);
    let length = u32::from_ne_bytes(length) as usize;
    if length < NETLINK_HEADER_LEN {
        bail!(
            "the message at byte {at} claims {length} bytes, \
             less than its own {NETLINK_HEADER_LEN}-byte header"
        );
    }
    if length > MAX_MESSAGE_LEN {
        bail!(
            "the message at byte {at} claims {length} bytes, more than any sock_diag \
             message ({MAX_MESSAGE_LEN} at most): this is not a recording, or it is damaged"
        );
    }
    Ok(length)
}

/// The protocol and family a dump header names.
fn dump_origin(header: &[u8], at: u64) -> Result<DumpOrigin> {
    if header.len() < HEADER_LEN {
        bail!("the recording ends inside the dump header at byte {at}");
    }
    let netid =
        Transport::from_ip_protocol(header[8]).map(Transport::netid).with_context(|| {
            format!("unknown protocol {} in the dump header at byte {at}", header[8])
        })?;
    let family = IpFamily::from_address_family(header[9])
        .with_context(|| format!("unknown family {} in the dump header at byte {at}", header[9]))?;
    Ok(DumpOrigin { netid, family: Some(family) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::Trickle;

    /// An empty NLMSG_DONE, which closes a dump.
    const DONE: [u8; 16] = [16, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    fn origins(bytes: &[u8]) -> Result<Vec<DumpOrigin>> {
        let mut reader = RecordingReader::new(bytes);
        let mut origins = Vec::new();
        while let Some(origin) = reader.next_dump(&mut |_, _| Ok(()))? {
            origins.push(origin);
        }
        Ok(origins)
    }

    #[test]
    fn header_round_trip() {
        let mut bytes = Vec::new();
        write_dump_header(&mut bytes, Netid::Udp, IpFamily::Inet6).unwrap();
        bytes.extend_from_slice(&DONE);
        let mut reader = RecordingReader::new(&bytes[..]);
        let origin = reader.next_dump(&mut |_, _| Ok(())).unwrap();
        assert_eq!(origin, Some(DumpOrigin { netid: Netid::Udp, family: Some(IpFamily::Inet6) }));
        assert_eq!(reader.next_dump(&mut |_, _| Ok(())).unwrap(), None);
    }

    #[test]
    fn headered_and_bare_dumps_follow_one_another() {
        let mut bytes = DONE.to_vec();
        write_dump_header(&mut bytes, Netid::Udp, IpFamily::Inet).unwrap();
        bytes.extend_from_slice(&DONE);
        bytes.extend_from_slice(&DONE);
        let bare = DumpOrigin { netid: Netid::Tcp, family: None };
        let udp = DumpOrigin { netid: Netid::Udp, family: Some(IpFamily::Inet) };
        assert_eq!(origins(&bytes).unwrap(), [bare, udp, bare]);
    }

    #[test]
    fn a_dump_cut_short_is_an_error() {
        let mut bytes = Vec::new();
        write_dump_header(&mut bytes, Netid::Tcp, IpFamily::Inet).unwrap();
        let error = origins(&bytes).unwrap_err();
        assert!(error.to_string().contains("ends inside the dump"), "{error}");
        let error = origins(&MAGIC).unwrap_err();
        assert!(error.to_string().contains("header"), "{error}");
        let error = origins(&DONE[..10]).unwrap_err();
        assert!(error.to_string().contains("header of the message at byte 0"), "{error}");
        let mut long = DONE.to_vec();
        long[0] = 20;
        let error = origins(&long).unwrap_err();
        assert!(error.to_string().contains("16 of its 20 bytes"), "{error}");
    }

    #[test]
    fn a_message_with_no_padding_at_the_end_still_counts() {
        let mut bytes = DONE.to_vec();
        bytes[0] = 21;
        bytes.extend_from_slice(&[0; 5]);
        assert_eq!(origins(&bytes).unwrap().len(), 1);
        bytes.extend_from_slice(&[0; 3]);
        bytes.extend_from_slice(&DONE);
        assert_eq!(origins(&bytes).unwrap().len(), 2, "padded, the next dump follows");
    }

    #[test]
    fn impossible_lengths_are_refused_with_their_offset() {
        let mut bytes = DONE.to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let error = format!("{:#}", origins(&bytes).unwrap_err());
        assert!(error.contains("message at byte 16 claims 0 bytes"), "{error}");
        let mut huge = DONE.to_vec();
        huge.extend_from_slice(&u32::MAX.to_ne_bytes());
        huge.extend_from_slice(&[0; 12]);
        let error = format!("{:#}", origins(&huge).unwrap_err());
        assert!(error.contains("byte 16 claims 4294967295 bytes, more than any"), "{error}");
        let mut largest = (MAX_MESSAGE_LEN as u32).to_ne_bytes().to_vec();
        largest.extend_from_slice(&[0; 12]);
        let error = format!("{:#}", origins(&largest).unwrap_err());
        assert!(error.contains(&format!("16 of its {MAX_MESSAGE_LEN} bytes")), "{error}");
    }

    #[test]
    fn a_failed_dump_names_the_message() {
        let mut bytes = DONE.to_vec();
        bytes.extend_from_slice(&[20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&(-2i32).to_ne_bytes());
        let error = format!("{:#}", origins(&bytes).unwrap_err());
        assert!(error.starts_with("message at byte 16: the kernel ended the dump"), "{error}");
    }

    /// Hands out its bytes, then fails.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other("the disk went away")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_names_where_it_struck() {
        let mut bytes = DONE.to_vec();
        bytes[0] = 40;
        bytes.extend_from_slice(&[0; 4]);
        let mut reader = RecordingReader::new(Failing(&bytes));
        let error = format!("{:#}", reader.next_dump(&mut |_, _| Ok(())).unwrap_err());
        assert_eq!(error, "cannot read the recording at byte 20: the disk went away");
    }

    #[test]
    fn short_reads_change_nothing() {
        let mut bytes = DONE.to_vec();
        write_dump_header(&mut bytes, Netid::Udp, IpFamily::Inet).unwrap();
        bytes.extend_from_slice(&[20, 0, 0, 0, 99, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
        bytes.extend_from_slice(&DONE);
        for step in 1..=17 {
            let mut reader = RecordingReader::new(Trickle { bytes: &bytes, step });
            let mut messages = 0;
            let mut count = |_: DumpOrigin, _: &Message<'_>| {
                messages += 1;
                Ok(())
            };
            while reader.next_dump(&mut count).unwrap().is_some() {}
            assert_eq!((messages, reader.offset), (3, bytes.len() as u64), "step {step}");
        }
    }
}
