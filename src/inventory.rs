//! One inventory for every command: "the sockets of this host (or of one
//! namespace, of every namespace, or of a recording), with their owners",
//! as owned records.
//!
//! A socket travels: source (the kernel or a recording; selection and
//! filter applied there) → here, where it is named (interfaces, services,
//! hosts) and attributed (owners, namespace) → the caller (a view, an
//! audit). [`stream`] hands records over one at a time, so a listing of any
//! size runs in bounded memory; [`snapshot`] collects them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::model::{NetnsLabel, Socket, UnixProcEntry};
use crate::names::{HostNames, Services};
use crate::netns::{self, Namespace};
use crate::owners::cgroup::CgroupPaths;
use crate::owners::{self, Owners};
use crate::source::{self, Selection, SocketFilter};
use crate::sys::{Os, ProcFs, Resolver};

/// Where the sockets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The network namespace portwatch runs in.
    Own,
    /// One namespace (`-N NAME`: /run/netns/NAME, or a path). The calling
    /// thread moves into it.
    Named(String),
    /// Every namespace on the host (`--all-netns`), each row labelled.
    AllNamespaces,
    /// A recording (`--from FILE`; `-` for standard input).
    Recording(PathBuf),
}

/// What to add to each socket before it is handed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enrich {
    /// The processes that hold each socket (one /proc scan).
    pub owners: bool,
    /// /etc/services names for ports.
    pub services: bool,
    /// Host names for addresses, through the resolver.
    pub hosts: bool,
    /// Each UNIX socket's line of /proc/net/unix (netstat's RefCnt, Flags
    /// and State), read once per namespace listed.
    pub unix_proc: bool,
    /// The path of each inet socket's cgroup (`--cgroup`).
    pub cgroups: bool,
    /// With `owners`: each holder's threads (`-T`).
    pub threads: bool,
    /// With `owners`: each holder's SELinux context (`-Z`), and each
    /// descriptor's socket context (`-z`).
    pub contexts: bool,
    pub socket_contexts: bool,
}

/// What to list.
#[derive(Clone, Debug)]
pub struct Request {
    pub scope: Scope,
    pub selection: Selection,
    pub filter: Option<SocketFilter>,
    pub enrich: Enrich,
}

/// What the caller must tell the user about a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// What the sources reported: interrupted dumps, undecodable replies,
    /// fallbacks.
    pub source: source::Outcome,
    /// Namespaces that could not be listed, each with the reason.
    pub unlisted_namespaces: Vec<String>,
    /// Why some owners may be unknown (permissions), when they may be.
    pub owner_hint: Option<String>,
}

impl Outcome {
    /// Whether every socket asked for was listed.
    pub fn is_complete(&self) -> bool {
        self.source.is_complete() && self.unlisted_namespaces.is_empty()
    }
}

/// Every selected socket, with what was asked for added.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub sockets: Vec<Socket>,
    pub outcome: Outcome,
}

/// Lists the request's sockets into memory. Owners are looked up after the
/// listing, for the listed sockets alone.
pub fn snapshot(os: &Os<'_>, request: &Request) -> Result<Inventory> {
    let without_owners =
        Request { enrich: Enrich { owners: false, ..request.enrich }, ..request.clone() };
    let mut sockets = Vec::new();
    let mut outcome = stream(os, &without_owners, &mut |socket| {
        sockets.push(socket);
        Ok(())
    })?;
    if request.enrich.owners {
        let wanted: HashSet<u32> = sockets.iter().filter_map(Socket::inode).collect();
        let mut owners = Owners::scan_for(os.proc, os.users, os.env, Some(&wanted))
            .context("cannot scan /proc for socket owners")?
            .with_threads(request.enrich.threads)
            .with_contexts(request.enrich.contexts, request.enrich.socket_contexts)
            .with_runtimes(os.files)
            .with_namespace_addresses(namespace_lister(*os));
        for socket in &mut sockets {
            socket.set_owners(Some(owners.of(socket.inode())));
        }
        outcome.owner_hint = owners.hidden_hint();
    }
    Ok(Inventory { sockets, outcome })
}

/// Hands each of the request's sockets to `sink` as it is listed.
pub fn stream(os: &Os<'_>, request: &Request, sink: &mut source::Sink<'_>) -> Result<Outcome> {
    let mut enricher = Enricher::new(os, request)?;
    let mut outcome = Outcome::default();
    let mut enriched = |mut socket: Socket| {
        enricher.enrich(&mut socket);
        sink(socket)
    };
    let (selection, filter) = (&request.selection, request.filter.as_ref());
    match &request.scope {
        Scope::Own => {
            let mut named = named_interfaces(os.resolver, &mut enriched);
            outcome.source = source::list_live(os, selection, filter, &mut named)?;
        }
        Scope::Named(name) => {
            let path = netns::named_path(name);
            os.namespaces
                .enter(&path)
                .map_err(|e| anyhow::anyhow!(netns::entry_error(&path, &e)))?;
            let label = Arc::new(thread_namespace(os, name)?);
            let mut labelled = |mut socket: Socket| {
                socket.set_netns(Some(label.clone()));
                enriched(socket)
            };
            let mut named = named_interfaces(os.resolver, &mut labelled);
            outcome.source = source::list_live(os, selection, filter, &mut named)?;
        }
        Scope::AllNamespaces => list_every_namespace(os, request, &mut enriched, &mut outcome)?,
        Scope::Recording(path) => {
            let name = match path == Path::new("-") {
                true => "standard input".to_owned(),
                false => path.display().to_string(),
            };
            let mut input =
                os.files.open_read(path).with_context(|| format!("cannot read {name}"))?;
            let mut replayed = replayed_interfaces(&mut enriched);
            outcome.source = source::list_recorded(&mut input, selection, filter, &mut replayed)
                .with_context(|| format!("cannot replay {name}"))?;
        }
    }
    outcome.owner_hint = enricher.owners.as_ref().and_then(Owners::hidden_hint);
    outcome.source.notices.extend(enricher.unix_table.and_then(|table| table.failure));
    Ok(outcome)
}

/// Hands each selected socket the kernel destroys to `sink` as it goes
/// (`-E`), named as a listing's are, until `follow.stop` says so.
/// Destroyed sockets have no inode, so no owner.
pub fn follow(
    os: &Os<'_>,
    request: &Request,
    follow: &mut source::events::Follow<'_>,
    sink: &mut source::Sink<'_>,
) -> Result<Outcome> {
    let enrich = Enrich { owners: false, unix_proc: false, ..request.enrich };
    let mut enricher = Enricher::new(os, &Request { enrich, ..request.clone() })?;
    let mut enriched = |mut socket: Socket| {
        enricher.enrich(&mut socket);
        sink(socket)
    };
    let (selection, filter) = (&request.selection, request.filter.as_ref());
    let source = match &request.scope {
        Scope::Own => {
            let mut named = named_interfaces(os.resolver, &mut enriched);
            source::events::follow(os, selection, filter, follow, &mut named)?
        }
        Scope::Named(name) => {
            let path = netns::named_path(name);
            os.namespaces
                .enter(&path)
                .map_err(|e| anyhow::anyhow!(netns::entry_error(&path, &e)))?;
            let label = Arc::new(thread_namespace(os, name)?);
            let mut labelled = |mut socket: Socket| {
                socket.set_netns(Some(label.clone()));
                enriched(socket)
            };
            let mut named = named_interfaces(os.resolver, &mut labelled);
            source::events::follow(os, selection, filter, follow, &mut named)?
        }
        Scope::AllNamespaces | Scope::Recording(_) => {
            anyhow::bail!("socket events (-E) are followed in one network namespace only")
        }
    };
    Ok(Outcome { source, ..Outcome::default() })
}

/// [`namespace_addresses`], for owners to call when they need it.
pub fn namespace_lister(os: Os<'_>) -> owners::containers::NamespaceAddresses<'_> {
    Box::new(move || namespace_addresses(&os))
}

/// Every other network namespace of the host with its interfaces'
/// addresses, each read on a thread inside it; those that cannot be
/// entered are left out.
pub fn namespace_addresses(os: &Os<'_>) -> Vec<(NetnsLabel, Vec<std::net::IpAddr>)> {
    let Ok(own) = netns::own_inode(os.proc) else { return Vec::new() };
    let Ok(discovered) = netns::discover_others(os.proc, os.namespaces, own) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for namespace in discovered.namespaces {
        let mut addresses = Vec::new();
        let mut work = || addresses = os.resolver.own_addresses();
        if os.namespaces.run_inside(&namespace.path, &mut work).is_ok() {
            found.push((namespace.label, addresses));
        }
    }
    found
}

/// The label of the namespace the calling thread is in, named `name` when
/// that is a name rather than a path.
fn thread_namespace(os: &Os<'_>, name: &str) -> Result<NetnsLabel> {
    let link = os
        .proc
        .read_link(Path::new("/proc/thread-self/ns/net"))
        .context("cannot read /proc/thread-self/ns/net")?;
    let inode = crate::owners::link_id(&link, "net").context("unexpected namespace link")?;
    Ok(NetnsLabel { inode, name: (!name.contains('/')).then(|| name.to_owned()) })
}

/// Lists portwatch's own namespace on this thread (no privilege needed),
/// then every other one on a thread that entered it. A namespace that
/// cannot be entered is named in the outcome, with the reason.
fn list_every_namespace(
    os: &Os<'_>,
    request: &Request,
    sink: &mut source::Sink<'_>,
    outcome: &mut Outcome,
) -> Result<()> {
    let (selection, filter) = (&request.selection, request.filter.as_ref());
    let own = netns::own_inode(os.proc)?;
    let own_label = Arc::new(NetnsLabel { inode: own, name: None });
    {
        let mut labelled = |mut socket: Socket| {
            socket.set_netns(Some(own_label.clone()));
            sink(socket)
        };
        let mut named = named_interfaces(os.resolver, &mut labelled);
        outcome.source = source::list_live(os, selection, filter, &mut named)?;
    }
    let discovered = netns::discover_others(os.proc, os.namespaces, own)?;
    outcome.unlisted_namespaces.extend(discovered.unreadable);
    for namespace in discovered.namespaces {
        match list_inside(os, &namespace, request) {
            Ok((sockets, listed)) => {
                outcome.source.absorb(listed);
                for socket in sockets {
                    sink(socket)?;
                }
            }
            Err(reason) => outcome.unlisted_namespaces.push(format!(
                "network namespace {} was not listed: {reason}",
                describe(&namespace.label)
            )),
        }
    }
    Ok(())
}

fn describe(label: &NetnsLabel) -> String {
    match &label.name {
        Some(name) => format!("{name} (inode {})", label.inode),
        None => format!("inode {}", label.inode),
    }
}

/// Lists one namespace on a thread inside it; its sockets carry its label
/// (and /proc/net/unix's lines, which only a thread inside can read).
fn list_inside(
    os: &Os<'_>,
    namespace: &Namespace,
    request: &Request,
) -> Result<(Vec<Socket>, source::Outcome), String> {
    let (selection, filter) = (&request.selection, request.filter.as_ref());
    let label = Arc::new(namespace.label.clone());
    let mut listed: Option<Result<(Vec<Socket>, source::Outcome)>> = None;
    let mut work = || {
        let mut sockets = Vec::new();
        let result = {
            let mut collect = |mut socket: Socket| {
                socket.set_netns(Some(label.clone()));
                sockets.push(socket);
                Ok(())
            };
            let mut named = named_interfaces(os.resolver, &mut collect);
            source::list_live(os, selection, filter, &mut named)
        };
        if request.enrich.unix_proc {
            let mut table = UnixTable::default();
            for socket in &mut sockets {
                table.add_entry(os.proc, socket);
            }
        }
        listed = Some(result.map(|outcome| (sockets, outcome)));
    };
    os.namespaces
        .run_inside(&namespace.path, &mut work)
        .map_err(|error| netns::entry_error(&namespace.path, &error))?;
    match listed {
        Some(Ok(listed)) => Ok(listed),
        Some(Err(error)) => Err(format!("{error:#}")),
        None => Err("the listing did not run".into()),
    }
}

/// Names the interfaces of live sockets, in the namespace being listed
/// (interface indexes are per namespace).
fn named_interfaces<'a>(
    resolver: &'a dyn Resolver,
    sink: &'a mut source::Sink<'_>,
) -> impl FnMut(Socket) -> Result<()> + 'a {
    let mut names: HashMap<u32, Option<String>> = HashMap::new();
    move |mut socket: Socket| {
        if let Some((index, interface)) = socket.interface_slot() {
            let name = names.entry(index).or_insert_with(|| resolver.interface_name(index));
            *interface = Some(name.clone().unwrap_or_else(|| format!("if{index}")));
        }
        sink(socket)
    }
}

/// A recording's interface indexes name interfaces of the host that
/// recorded it, which may differ here: `if<N>`, as ss prints unknown ones.
fn replayed_interfaces<'a>(
    sink: &'a mut source::Sink<'_>,
) -> impl FnMut(Socket) -> Result<()> + 'a {
    move |mut socket: Socket| {
        if let Some((index, interface)) = socket.interface_slot() {
            *interface = Some(format!("if{index}"));
        }
        sink(socket)
    }
}

/// /proc/net/unix's lines by inode, read on the first UNIX socket (by then
/// the thread is in the namespace listed: `-N` enters it after the
/// [`Enricher`] is made); a table that cannot be read leaves them unknown.
#[derive(Default)]
struct UnixTable {
    entries: Option<HashMap<u32, UnixProcEntry>>,
    failure: Option<String>,
}

impl UnixTable {
    fn add_entry(&mut self, proc: &dyn ProcFs, socket: &mut Socket) {
        let Socket::Unix(unix) = socket else { return };
        if unix.proc_entry.is_some() {
            return;
        }
        let entries = self.entries.get_or_insert_with(|| {
            source::procunix::read_table(proc).unwrap_or_else(|error| {
                self.failure = Some(format!("{error:#}; netstat's RefCnt shows -"));
                HashMap::new()
            })
        });
        unix.proc_entry = unix.inode.and_then(|inode| entries.get(&inode).copied());
    }
}

/// Adds owners, service names, host names and /proc/net/unix's lines.
struct Enricher<'s> {
    proc: &'s dyn ProcFs,
    services: Option<Services>,
    hosts: Option<HostNames<'s>>,
    owners: Option<Owners<'s>>,
    unix_table: Option<UnixTable>,
    cgroups: Option<CgroupPaths<'s>>,
}

impl<'s> Enricher<'s> {
    fn new(os: &Os<'s>, request: &Request) -> Result<Self> {
        let raw = request.selection.netids.contains(&crate::model::Netid::Raw);
        let owners = match request.enrich.owners {
            true => Some(
                Owners::scan(os.proc, os.users, os.env)
                    .context("cannot scan /proc for socket owners")?
                    .with_threads(request.enrich.threads)
                    .with_contexts(request.enrich.contexts, request.enrich.socket_contexts)
                    .with_runtimes(os.files)
                    .with_namespace_addresses(namespace_lister(*os)),
            ),
            false => None,
        };
        Ok(Enricher {
            proc: os.proc,
            unix_table: request.enrich.unix_proc.then(UnixTable::default),
            services: request.enrich.services.then(|| Services::load(os.files, os.proc, raw)),
            hosts: request.enrich.hosts.then(|| HostNames::new(os.resolver)),
            cgroups: request.enrich.cgroups.then(|| CgroupPaths::new(os.resolver)),
            owners,
        })
    }

    fn enrich(&mut self, socket: &mut Socket) {
        if let Some(owners) = self.owners.as_mut() {
            socket.set_owners(Some(owners.of(socket.inode())));
        }
        if let Some(table) = self.unix_table.as_mut() {
            table.add_entry(self.proc, socket);
        }
        if let Socket::Netlink(netlink) = socket
            && self.services.is_some()
        {
            netlink.portid_process =
                owners::process::netlink_port_command(self.proc, netlink.portid);
        }
        let Socket::Inet(inet) = socket else { return };
        // An MPTCP connection's ports are TCP's.
        let netid = match inet.netid {
            crate::model::Transport::Mptcp => crate::model::Netid::Tcp,
            other => other.netid(),
        };
        if let Some(services) = &self.services {
            inet.local.service = services.name(netid, inet.local.port).cloned();
            inet.peer.service = services.name(netid, inet.peer.port).cloned();
        }
        if let Some(hosts) = self.hosts.as_mut() {
            inet.local.host = Some(hosts.name(inet.local.addr).map(str::to_owned));
            inet.peer.host = Some(hosts.name(inet.peer.addr).map(str::to_owned));
        }
        if let (Some(cgroups), Some(id)) = (self.cgroups.as_mut(), inet.cgroup_id) {
            inet.extras.cgroup = Some(cgroups.path(id).into());
        }
    }
}

/// Records the kernel's raw replies for the request (see
/// [`source::recording`]): the sockets as the kernel sent them, before any
/// naming or attribution, so that a replay can list them anywhere later.
pub fn record(os: &Os<'_>, request: &Request, out: &mut dyn std::io::Write) -> Result<Outcome> {
    if request.scope != Scope::Own {
        anyhow::bail!("only the namespace portwatch runs in can be recorded");
    }
    let source = source::record(os, &request.selection, request.filter.as_ref(), out)?;
    Ok(Outcome { source, ..Outcome::default() })
}
