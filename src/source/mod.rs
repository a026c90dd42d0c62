//! Where sockets come from: the live kernel over sock_diag (falling back to
//! /proc/net when netlink is unavailable), or a recorded dump.

pub mod netlink;
pub mod procnet;
pub mod recording;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::filter::{Cond, Expr, Extras};
use crate::model::{Family, Netid, PortCategory, Socket};
use crate::state::StateSet;
use crate::sys::{DiagTransport, System};
pub use netlink::Extensions;
use netlink::{DiagError, DumpError, DumpRequest, RECV_BUFFER_LEN, Reply, SocketDecoder};
use recording::RecordingReader;

/// Which sockets to list: protocols and families (in ss's display order)
/// and states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub netids: Vec<Netid>,
    pub families: Vec<Family>,
    pub states: StateSet,
    /// Local-port categories to keep (`--category`); empty keeps all.
    pub categories: Vec<PortCategory>,
    /// The kernel's extras to ask for (`-m`, `-i`).
    pub extensions: Extensions,
    /// Decode timers and extras into `Socket::details` (`-o`, `-m`, `-i`).
    pub details: bool,
}

impl Selection {
    /// One dump per protocol and family, in the order ss lists them; one
    /// dump for all UNIX socket types.
    pub fn requests(&self) -> impl Iterator<Item = DumpRequest> + '_ {
        let unix =
            self.netids.iter().copied().find(|netid| netid.is_unix()).map(|netid| DumpRequest {
                netid,
                family: Family::Unix,
                states: self.states,
                extensions: Extensions::default(),
            });
        let inet = self.netids.iter().filter(|netid| !netid.is_unix()).flat_map(move |&netid| {
            self.families.iter().map(move |&family| DumpRequest {
                netid,
                family,
                states: self.states,
                extensions: self.extensions,
            })
        });
        unix.into_iter().chain(inet)
    }

    pub fn matches(&self, socket: &Socket) -> bool {
        self.netids.contains(&socket.netid)
            && (socket.family == Family::Unix || self.families.contains(&socket.family))
            && self.states.contains(socket.state)
            && self.wants_category(socket)
    }

    /// The part of the selection the kernel cannot do: port categories.
    fn wants_category(&self, socket: &Socket) -> bool {
        self.categories.is_empty()
            || PortCategory::of(socket.local.port).is_some_and(|c| self.categories.contains(&c))
    }
}

/// A filter expression, with its kernel bytecode for live dumps.
#[derive(Clone, Debug)]
pub struct SocketFilter {
    pub expr: Expr,
    /// `None` when the kernel cannot run it (then it runs in userspace).
    pub bytecode: Option<Vec<u8>>,
    pub extras: Extras,
}

impl SocketFilter {
    fn matches(filter: Option<&SocketFilter>, socket: &Socket) -> bool {
        filter.is_none_or(|f| f.expr.matches(socket, &f.extras))
    }

    /// Whether sockets from a live dump still need checking here: when the
    /// kernel could not take the filter, and, as ss does, for `autobound`,
    /// which ss also checks against the ephemeral port range.
    fn checks_in_userspace(filter: Option<&SocketFilter>) -> bool {
        filter.is_some_and(|f| {
            f.bytecode.is_none() || f.expr.conditions().iter().any(|c| matches!(c, Cond::AutoBound))
        })
    }
}

/// Receives each listed socket; an error stops the listing.
pub type Sink<'a> = dyn FnMut(&Socket) -> Result<()> + 'a;

/// What the caller must tell the user once the rows are out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The kernel flagged a dump as interrupted: rows may be missing or repeated.
    pub interrupted: bool,
    /// Socket messages that could not be decoded and were left out.
    pub undecodable: usize,
    /// Socket messages the kernel sent (for `--debug-stats`).
    pub received: usize,
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        !self.interrupted && self.undecodable == 0
    }
}

/// Lists the selected sockets from the running kernel.
///
/// When sock_diag fails before a dump has produced a row, that dump is read
/// from /proc/net instead, with one notice on `notices`.
pub fn list_live(
    system: &dyn System,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
    notices: &mut dyn Write,
) -> Result<Outcome> {
    let bytecode = filter.and_then(|f| f.bytecode.as_deref());
    let userspace = SocketFilter::checks_in_userspace(filter);
    let mut netlink = system.sock_diag().map_err(|e| DiagError::Open(e).to_string());
    let mut buffer = vec![0u8; RECV_BUFFER_LEN];
    let mut decoder = SocketDecoder::new(Some(system));
    decoder.details = selection.details;
    let mut outcome = Outcome::default();
    let mut fallback_noticed = false;
    for (sequence_number, request) in (1..).zip(selection.requests()) {
        if request.netid == Netid::Raw {
            // Kernels are often built without raw_diag (this one is): raw
            // sockets come from /proc, as in ss's fallback.
            list_proc_table(system, selection, &request, filter, sink)?;
            continue;
        }
        let reason = match &mut netlink {
            Err(reason) => reason.clone(),
            Ok(transport) => {
                let mut delivered = 0;
                let dumped = dump_live(
                    transport.as_mut(),
                    (&request, bytecode),
                    sequence_number,
                    &mut buffer,
                    &mut decoder,
                    &mut outcome,
                    &mut |socket| {
                        delivered += 1;
                        // unix_diag takes no filter and dumps every type.
                        let unix = socket.unix.is_some();
                        let filtered_out =
                            (userspace || unix) && !SocketFilter::matches(filter, socket);
                        let unwanted = unix && !selection.netids.contains(&socket.netid);
                        match filtered_out || unwanted || !selection.wants_category(socket) {
                            true => Ok(()),
                            false => sink(socket),
                        }
                    },
                );
                match dumped {
                    Ok(()) => continue,
                    Err(DumpError::Sink(error)) => return Err(error),
                    Err(DumpError::Diag(error)) if delivered > 0 => {
                        return Err(error).with_context(|| {
                            format!("{} failed after {delivered} sockets", describe(&request))
                        });
                    }
                    Err(DumpError::Diag(error)) => {
                        let reason = error.to_string();
                        if !error.leaves_transport_usable() {
                            netlink = Err(reason.clone());
                        }
                        reason
                    }
                }
            }
        };
        if !fallback_noticed {
            fallback_noticed = true;
            writeln!(
                notices,
                "portwatch: sock_diag netlink unavailable ({reason}); reading /proc/net instead (no cookie or v6only)"
            )?;
        }
        list_proc_table(system, selection, &request, filter, sink)?;
    }
    Ok(outcome)
}

fn list_proc_table(
    system: &dyn System,
    selection: &Selection,
    request: &DumpRequest,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<()> {
    for socket in procnet::read_table(system, request.netid, request.family, request.states)? {
        if SocketFilter::matches(filter, &socket) && selection.wants_category(&socket) {
            sink(&socket)?;
        }
    }
    Ok(())
}

fn dump_live(
    transport: &mut dyn DiagTransport,
    (request, bytecode): (&DumpRequest, Option<&[u8]>),
    sequence_number: u32,
    buffer: &mut [u8],
    decoder: &mut SocketDecoder<'_>,
    outcome: &mut Outcome,
    sink: &mut Sink<'_>,
) -> Result<(), DumpError> {
    let mut on_message = |message: &netlink::Message<'_>| -> Result<()> {
        if let Reply::Socket(payload) = message.reply {
            outcome.received += 1;
            let decoded = match request.netid.is_unix() {
                true => decoder.decode_unix(payload),
                false => decoder.decode(request.netid, payload),
            };
            match decoded {
                Ok(socket) => sink(&socket)?,
                Err(_) => outcome.undecodable += 1,
            }
        }
        Ok(())
    };
    let status = netlink::run_dump(
        transport,
        &request.to_bytes(sequence_number, bytecode),
        buffer,
        &mut on_message,
    )?;
    outcome.interrupted |= status.interrupted;
    Ok(())
}

fn describe(request: &DumpRequest) -> String {
    format!("sock_diag dump of {} {} sockets", request.netid.as_str(), request.family.as_str())
}

/// Lists the selected sockets from a recording (see [`recording`]); `-`
/// reads it from standard input.
pub fn list_recorded(
    path: &Path,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    let input = recording::Input::open(path)?;
    RecordingReader::new(input.reader)
        .replay(selection, filter, sink)
        .with_context(|| format!("cannot replay {}", input.name))
}

/// Lists the selected sockets from the bytes of a recording.
pub fn list_recording(
    bytes: &[u8],
    selection: &Selection,
    filter: Option<&SocketFilter>,
    sink: &mut Sink<'_>,
) -> Result<Outcome> {
    RecordingReader::new(bytes).replay(selection, filter, sink)
}

/// Records the selected dumps from the running kernel to `out`.
pub fn record(
    system: &dyn System,
    selection: &Selection,
    filter: Option<&SocketFilter>,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let bytecode = filter.and_then(|f| f.bytecode.as_deref());
    if selection.netids.iter().any(|netid| *netid == Netid::Raw || netid.is_unix()) {
        anyhow::bail!(
            "only TCP and UDP dumps can be recorded (raw sockets come from /proc, UNIX ones need another format)"
        );
    }
    let mut transport = system.sock_diag().map_err(DiagError::Open)?;
    let mut buffer = vec![0u8; RECV_BUFFER_LEN];
    let mut outcome = Outcome::default();
    for (sequence_number, request) in (1..).zip(selection.requests()) {
        recording::write_dump_header(out, request.netid, request.family)?;
        let mut on_message = |message: &netlink::Message<'_>| -> Result<()> {
            out.write_all(message.bytes)?;
            Ok(())
        };
        let status = netlink::run_dump(
            transport.as_mut(),
            &request.to_bytes(sequence_number, bytecode),
            &mut buffer,
            &mut on_message,
        )
        .map_err(|error| match error {
            DumpError::Sink(error) => error,
            DumpError::Diag(error) => anyhow::Error::new(error).context(describe(&request)),
        })?;
        outcome.interrupted |= status.interrupted;
    }
    Ok(outcome)
}

/// Closes sockets through SOCK_DESTROY, on a netlink socket of its own.
pub struct Killer {
    transport: Box<dyn DiagTransport>,
    buffer: Vec<u8>,
    sequence_number: u32,
}

impl Killer {
    pub fn open(system: &dyn System) -> Result<Killer> {
        let transport = system.sock_diag().map_err(DiagError::Open)?;
        Ok(Killer { transport, buffer: vec![0; 8192], sequence_number: 0 })
    }

    /// Closes `socket`; `false` when it was already gone.
    pub fn kill(&mut self, socket: &Socket) -> Result<bool> {
        self.sequence_number += 1;
        match netlink::destroy(
            self.transport.as_mut(),
            socket,
            self.sequence_number,
            &mut self.buffer,
        ) {
            Ok(()) => Ok(true),
            Err(DiagError::Rejected(errno)) if errno == libc::ENOENT => Ok(false),
            Err(DiagError::Rejected(errno)) if errno == libc::EOPNOTSUPP => {
                anyhow::bail!(
                    "this kernel cannot close sockets: it was built without CONFIG_INET_DIAG_DESTROY"
                )
            }
            Err(DiagError::Rejected(errno)) if errno == libc::EPERM => {
                anyhow::bail!("closing sockets needs root (CAP_NET_ADMIN)")
            }
            Err(error) => Err(error).context("cannot close a socket"),
        }
    }
}
