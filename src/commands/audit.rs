//! `portwatch audit`: the listeners of the host (a namespace, every one, or
//! a recording), with their owners, judged by the rules; a table or JSON;
//! exit 1 when a finding reaches --fail-on.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Instant, UNIX_EPOCH};

use anyhow::{Context as _, Result};

use crate::audit::forwards::Judged;
use crate::audit::{self, Context, Firewalls, OwnerView, Policy, policy};
use crate::cli::{AuditArgs, AuditFormatArg, ColorArg};
use crate::exit::{ExitCode, UsageError};
use crate::firewall::verdict::{Firewall, Judge};
use crate::inventory::{self, Scope};
use crate::model::audit::Severity;
use crate::model::audit::{AuditReport, Listener};
use crate::model::{IpFamily, Transport};
use crate::render::audit::{write_json, write_table};
use crate::render::audit_prometheus::{RunStats, write_prometheus};
use crate::render::audit_sarif::{SarifContext, write_sarif};
use crate::sys::Os;

pub fn run(
    args: &AuditArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    if let Some(target) = &args.why {
        return why(target, args, os, stdout, stderr);
    }
    let threshold = fail_on(&args.fail_on)?;
    let started = Instant::now();
    let policy = match &args.policy {
        Some(path) => Some(policy::read(path, os.files)?),
        None => None,
    };
    let report = match audit_report(args, os, policy.as_ref(), stderr) {
        Ok(report) => report,
        Err(error) => {
            // The textfile collector keeps showing whatever file is there:
            // a failed run replaces it with its failure, not stale counts.
            if let (Some(path), Some(AuditFormatArg::Prometheus)) = (&args.output, args.format) {
                let run = run_stats(os, started, false);
                os.files.write_atomically(path, &mut |out| write_prometheus(out, None, &run))?;
            }
            return Err(error);
        }
    };
    if args.init_policy {
        stdout.write_all(policy::init_policy(&report).as_bytes())?;
        stdout.flush()?;
        return Ok(ExitCode::Success);
    }
    let run = run_stats(os, started, true);
    match &args.output {
        Some(path) => os
            .files
            .write_atomically(path, &mut |out| write_report(out, args, os, &report, &run))?,
        None => write_report(stdout, args, os, &report, &run)?,
    }
    Ok(match (audit::fails(&report, threshold), report.limits.is_empty()) {
        (true, _) => ExitCode::NothingFound,
        (false, true) => ExitCode::Success,
        (false, false) => ExitCode::Incomplete,
    })
}

fn write_report(
    out: &mut dyn Write,
    args: &AuditArgs,
    os: &Os<'_>,
    report: &AuditReport,
    run: &RunStats,
) -> Result<()> {
    match (args.json, args.format) {
        (true, _) | (false, Some(AuditFormatArg::Json)) => write_json(out, report),
        (false, Some(AuditFormatArg::Table) | None) => {
            // A table written to a file is for reading later: no colour
            // unless asked for.
            let colour = match args.output {
                Some(_) => args.color == ColorArg::Always,
                None => super::colour(args.color, os),
            };
            write_table(out, report, colour)
        }
        (false, Some(AuditFormatArg::Sarif)) => {
            let homepage = [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")];
            let context = SarifContext {
                version: env!("CARGO_PKG_VERSION"),
                information_uri: homepage.into_iter().find(|uri| !uri.is_empty()),
                policy: args.policy.as_deref(),
            };
            write_sarif(out, report, &context)
        }
        (false, Some(AuditFormatArg::Prometheus)) => write_prometheus(out, Some(report), run),
    }
}

fn run_stats(os: &Os<'_>, started: Instant, success: bool) -> RunStats {
    let unix_time = os
        .env
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64().floor())
        .unwrap_or(0.0);
    RunStats { success, duration_seconds: started.elapsed().as_secs_f64(), unix_time }
}

/// The inventory, judged: the report, and the source's notices on stderr.
fn audit_report(
    args: &AuditArgs,
    os: &Os<'_>,
    policy: Option<&Policy>,
    stderr: &mut dyn Write,
) -> Result<AuditReport> {
    let live = args.from.is_none();
    let baseline = match &args.baseline {
        Some(path) => Some((path, super::listeners::load(path, os)?)),
        None => None,
    };
    let scan = match &args.compare_scan {
        Some(path) => Some((path, read_scan(path, os)?)),
        None => None,
    };
    let own_inode = crate::netns::own_inode(os.proc).ok();
    let request = super::listeners::request(scope(args), live);
    let inventory = inventory::snapshot(os, &request)?;
    let outcome = &inventory.outcome;
    let mut limits: Vec<String> = outcome.unlisted_namespaces.clone();
    if let Some(hint) = &outcome.owner_hint {
        limits.push(format!("owners: {hint}; owner rules judged only the visible holders"));
    }
    if !live {
        limits.push(
            "owners: a recording has no processes, so the owner rules (unowned listener, deleted \
             binary, temporary directory) were not checked"
                .into(),
        );
    }
    if outcome.source.interrupted || outcome.source.undecodable > 0 {
        limits.push("the kernel's dump was incomplete: listeners may be missing".into());
    }
    let firewall = firewall(&request.scope, os, &mut limits);
    // The forwards of the namespace audited; with --all-netns, this host's
    // own, joined to the listeners they send to in other namespaces.
    let own_ruleset = match (&firewall, own_inode) {
        (Some(Firewalls::One(Firewall::Read(ruleset))), _) => Some(ruleset),
        (Some(Firewalls::PerNamespace(all)), Some(own)) => match all.get(&own) {
            Some(Firewall::Read(ruleset)) => Some(ruleset),
            _ => None,
        },
        _ => None,
    };
    let forwards = own_ruleset.map(|ruleset| judged_forwards(os, ruleset)).unwrap_or_default();
    let namespace_addresses = match (&request.scope, forwards.is_empty()) {
        (Scope::AllNamespaces, false) => inventory::namespace_addresses(os)
            .into_iter()
            .map(|(label, addresses)| (label.inode, addresses))
            .collect(),
        _ => Vec::new(),
    };
    let context = Context {
        host: super::listeners::host_name(os),
        time: humantime::format_rfc3339_seconds(os.env.now()).to_string(),
        owners: OwnerView { looked_up: live, all_visible: outcome.owner_hint.is_none() },
        limits,
        firewall,
        own_addresses: os.resolver.own_addresses(),
        forwards,
        namespace_addresses,
    };
    let mut report = audit::audit_with_policy(inventory.sockets, context, policy);
    if let Some((path, baseline)) = &baseline {
        let coverage = super::listeners::coverage(&request.scope, &report.listeners, own_inode);
        let file = path.display().to_string();
        if baseline.host != report.host {
            writeln!(
                stderr,
                "portwatch: note: the baseline {file} was saved on host {}, this is {}; \
                 compared anyway",
                baseline.host, report.host
            )?;
        }
        let comparison = audit::baseline::compare(baseline, &file, &report.listeners, &coverage);
        audit::add_comparison(&mut report, comparison);
    }
    if let Some((path, scan)) = &scan {
        let file = path.display().to_string();
        let comparison = audit::scan_comparison::compare(scan, &file, &report.listeners);
        audit::add_comparison(&mut report, comparison);
    }
    for notice in &outcome.source.notices {
        writeln!(stderr, "portwatch: {notice}")?;
    }
    Ok(report)
}

/// `ruleset`'s forwards with the forward path's verdict, the container at
/// each target, and what the input chains would do to each port.
fn judged_forwards(os: &Os<'_>, ruleset: &crate::firewall::ruleset::Ruleset) -> Vec<Judged> {
    let mut forwards = crate::firewall::live::judged_forwards(
        os,
        ruleset,
        &crate::audit::forwards::sensitive_ports,
    );
    if !forwards.is_empty() {
        let runtimes = crate::owners::containers::Runtimes::read(os.files);
        runtimes.name_targets(forwards.iter_mut().map(|judged| &mut judged.forward));
    }
    forwards
}

/// The live ruleset of the namespace audited, read after the inventory (so
/// that `-N` has entered it), or with `--all-netns` each namespace's own;
/// what could not be read is a limit.
fn firewall(scope: &Scope, os: &Os<'_>, limits: &mut Vec<String>) -> Option<Firewalls> {
    match scope {
        Scope::Recording(_) => {
            limits.push(
                "firewall: a recording holds no ruleset, so no listener has a firewall verdict"
                    .into(),
            );
            None
        }
        Scope::AllNamespaces => Some(Firewalls::PerNamespace(every_firewall(os, limits))),
        Scope::Own | Scope::Named(_) => {
            let firewall = crate::firewall::live::read(os);
            if let Firewall::Unreadable(why) = &firewall {
                limits.push(format!("firewall: {why}; every verdict is unknown"));
            }
            Some(Firewalls::One(firewall))
        }
    }
}

/// Each namespace's ruleset, read on a thread inside it (`nft` and netlink
/// see the namespace of the thread that starts them).
fn every_firewall(os: &Os<'_>, limits: &mut Vec<String>) -> HashMap<u64, Firewall> {
    let mut firewalls = HashMap::new();
    let Ok(own) = crate::netns::own_inode(os.proc) else {
        limits.push("firewall: portwatch's own namespace could not be named, so no listener has a firewall verdict".into());
        return firewalls;
    };
    let mut keep = |inode: u64, name: String, firewall: Firewall, limits: &mut Vec<String>| {
        if let Firewall::Unreadable(why) = &firewall {
            limits.push(format!("firewall of {name}: {why}; its verdicts are unknown"));
        }
        firewalls.insert(inode, firewall);
    };
    keep(own, "this namespace".into(), crate::firewall::live::read(os), limits);
    // Namespaces that cannot be entered are limits of the listing already.
    let Ok(discovered) = crate::netns::discover_others(os.proc, os.namespaces, own) else {
        return firewalls;
    };
    for namespace in discovered.namespaces {
        let mut read: Option<Firewall> = None;
        let mut work = || read = Some(crate::firewall::live::read(os));
        let name = match &namespace.label.name {
            Some(name) => format!("namespace {name}"),
            None => format!("namespace {}", namespace.label.inode),
        };
        if os.namespaces.run_inside(&namespace.path, &mut work).is_ok()
            && let Some(firewall) = read
        {
            keep(namespace.label.inode, name, firewall, limits);
        }
    }
    firewalls
}

/// `--why TARGET`: each listener on the target (or, with none, one that
/// would listen on every address) and its paths through the firewall.
fn why(
    target: &str,
    args: &AuditArgs,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let target = WhyTarget::parse(target)?;
    let request = super::listeners::request(scope(args), true);
    let inventory = inventory::snapshot(os, &request)?;
    let judge = Judge::new(crate::firewall::live::read(os));
    let ruleset = match judge.firewall() {
        Firewall::Read(ruleset) => ruleset,
        Firewall::Unreadable(why) => {
            writeln!(stderr, "portwatch: firewall: {why}")?;
            return Ok(ExitCode::Incomplete);
        }
    };
    let mut listeners: Vec<Listener> = audit::exposure::listeners(inventory.sockets)
        .into_iter()
        .filter(|listener| target.matches(&listener.socket))
        .collect();
    if listeners.is_empty() {
        writeln!(
            stdout,
            "nothing listens on {}; the path a new connection would take to a listener on every address:",
            target.text
        )?;
        listeners = target.hypothetical();
    }
    for (index, listener) in listeners.iter().enumerate() {
        if index > 0 {
            writeln!(stdout)?;
        }
        let judged = judge.judge(&listener.socket, &listener.exposure);
        let explanation =
            crate::firewall::why::explain(ruleset, &listener.socket, &listener.exposure);
        let title = listener_title(listener);
        crate::render::firewall_why::write_why(stdout, &title, &judged, &explanation)?;
    }
    Ok(ExitCode::Success)
}

/// `6379/tcp on 0.0.0.0, held by redis-server (pid 812)`.
fn listener_title(listener: &Listener) -> String {
    let socket = &listener.socket;
    let holder = socket
        .owners
        .as_ref()
        .and_then(|owners| owners.processes.first())
        .map(|holder| {
            format!(", held by {} (pid {})", holder.process.display_name(), holder.process.pid)
        })
        .unwrap_or_default();
    format!("{}/{} on {}{holder}", socket.local.port, socket.netid.as_str(), socket.local.addr)
}

/// `--why`'s target: a port, and perhaps an address and a protocol.
struct WhyTarget {
    text: String,
    addr: Option<std::net::IpAddr>,
    port: u16,
    transport: Option<Transport>,
}

impl WhyTarget {
    fn parse(text: &str) -> Result<WhyTarget, UsageError> {
        let wrong = || {
            UsageError(format!(
                "--why: '{}' is not PORT, PORT/PROTO or ADDR:PORT/PROTO (such as 22, 53/udp, [::]:443/tcp)",
                crate::render::escape::for_terminal(text)
            ))
        };
        let (rest, transport) = match text.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Some(Transport::Tcp)),
            Some((rest, "udp")) => (rest, Some(Transport::Udp)),
            Some(_) => return Err(wrong()),
            None => (text, None),
        };
        let (addr, port) = match rest.rsplit_once(':') {
            Some((addr, port)) => {
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                let addr = match addr {
                    "*" | "" => None,
                    addr => Some(addr.parse().map_err(|_| wrong())?),
                };
                (addr, port)
            }
            None => (None, rest),
        };
        let port = port.parse::<u16>().ok().filter(|port| *port != 0).ok_or_else(wrong)?;
        Ok(WhyTarget { text: text.to_owned(), addr, port, transport })
    }

    fn matches(&self, socket: &crate::model::InetSocket) -> bool {
        socket.local.port == self.port
            && self.transport.is_none_or(|transport| socket.netid == transport)
            && self.addr.is_none_or(|addr| socket.local.addr == addr)
    }

    /// Listeners that would answer the target on every address: one per
    /// protocol asked for, dual-stack.
    fn hypothetical(&self) -> Vec<Listener> {
        let transports = match self.transport {
            Some(transport) => vec![transport],
            None => vec![Transport::Tcp, Transport::Udp],
        };
        transports
            .into_iter()
            .map(|transport| {
                let state = match transport {
                    Transport::Tcp => crate::model::SocketState::Listening,
                    _ => crate::model::SocketState::Closed,
                };
                let family = if self.addr.is_some_and(|addr| addr.is_ipv4()) {
                    IpFamily::Inet
                } else {
                    IpFamily::Inet6
                };
                let mut socket = crate::model::InetSocket::new(transport, family, state);
                let addr =
                    self.addr.unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
                socket.local = crate::model::InetEnd::new(addr, self.port);
                socket.v6only = Some(false);
                let exposure = audit::exposure::exposure(&socket);
                Listener { socket, exposure }
            })
            .collect()
    }
}

/// `--policy FILE`, read through the Files seam and checked; a mistake in it
/// is `FILE:LINE:COLUMN: problem`.
/// `--fail-on`: a severity, or `never`.
fn fail_on(word: &str) -> Result<Option<Severity>, UsageError> {
    match word {
        "never" => Ok(None),
        word => Severity::parse(word).map(Some).ok_or_else(|| {
            UsageError(format!(
                "--fail-on: unknown severity '{word}' (info, low, medium, high, critical, never)"
            ))
        }),
    }
}

fn scope(args: &AuditArgs) -> Scope {
    match (&args.from, &args.net) {
        (Some(path), _) => Scope::Recording(path.clone()),
        (None, Some(name)) => Scope::Named(name.clone()),
        (None, None) if args.all_netns => Scope::AllNamespaces,
        (None, None) => Scope::Own,
    }
}

/// A scan's JSON is at most this large: 65,536 hosts' open ports.
const SCAN_FILE_LIMIT: u64 = 64 << 20;

fn read_scan(path: &Path, os: &Os<'_>) -> Result<Vec<crate::model::scan::HostScan>> {
    let text = os
        .files
        .read_text(path, SCAN_FILE_LIMIT)
        .with_context(|| format!("cannot read the scan {}", path.display()))?;
    audit::scan_comparison::parse(&text)
        .map_err(|error| UsageError(format!("{}: {error}", path.display())).into())
}
