//! `portwatch scan`: resolves the targets and ports, runs the connect scan
//! (and the banner probes) on a tokio runtime, and writes one view.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::audit::exposure;
use crate::cli::ScanArgs;
use crate::exit::{ExitCode, UsageError};
use crate::inventory::{self, Scope};
use crate::model::Netid;
use crate::model::audit::Listener;
use crate::model::scan::{HostReason, HostScan, NotShown, PortState, ScanProto, ScannedPort};
use crate::names::Services;
use crate::render::scan::{ScanFrame, grepable, json, table};
use crate::scan::banner::{self, BannerLimits};
use crate::scan::engine::{self, HostOutcome, ScanOptions};
use crate::scan::ping::{self, PingOptions, Pinged};
use crate::scan::timing::TimeoutBounds;
use crate::scan::{local, ports, resources, targets};
use crate::sys::Os;

/// nmap's default: its 1000 most often open TCP ports.
const DEFAULT_TOP_PORTS: usize = 1000;

/// Banner probes at once: each may take a few connections in turn.
const BANNERS_AT_ONCE: usize = 64;

pub fn run(
    args: &ScanArgs,
    command_line: &str,
    os: &Os<'_>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let output = Output::of(args)?;
    if args.ping {
        return ping_hosts(args, command_line, os, &output, stdout, stderr);
    }
    let local_listeners = match args.local {
        true => Some(local_listeners(os)?),
        false => None,
    };
    let (targets, port_list) = match &local_listeners {
        Some(listeners) => {
            let ports = match (&args.ports, args.top_ports) {
                (None, None) => local::listener_ports(listeners),
                _ => port_list(args)?,
            };
            (local::targets(os.resolver.own_addresses()), ports)
        }
        None => (targets::expand(&args.targets, os.resolver, args.yes)?, port_list(args)?),
    };
    if targets.is_empty() || port_list.is_empty() {
        writeln!(stderr, "portwatch: note: nothing to scan (no listener, no address up)")?;
        return Ok(ExitCode::Success);
    }
    let (parallelism, limit_note) = parallelism(args);
    let options = ScanOptions {
        bounds: bounds(args.timeout),
        retries: args.retries,
        rate: args.rate,
        max_time: args.max_time,
        parallelism,
        keep_closed: args.all_states || args.local,
    };
    let started_at = humantime::format_rfc3339_seconds(os.env.now()).to_string();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let outcome =
        engine::scan_on_threads(targets, &port_list, &options, threads).context("cannot scan")?;
    let services = Services::load(os.files, os.proc, false);
    let mut hosts: Vec<HostScan> =
        outcome.hosts.iter().map(|host| host_scan(host, &services)).collect();
    if let Some(listeners) = &local_listeners {
        local::join(&mut hosts, listeners);
    }
    if args.banner {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the banner probes' event loop")?
            .block_on(add_banners(&mut hosts));
    }
    let elapsed = started.elapsed();
    for note in limit_note.iter().chain(&outcome.notes) {
        writeln!(stderr, "portwatch: note: {note}")?;
    }
    let frame = ScanFrame {
        hosts: &hosts,
        elapsed,
        started: &started_at,
        command_line,
        all_states: args.all_states || args.local,
        banners: args.banner,
        listeners: args.local,
        ping: false,
    };
    output.write(&frame, os, stdout)?;
    Ok(match outcome.complete {
        true => ExitCode::Success,
        false => ExitCode::Incomplete,
    })
}

/// `--ping`: which of the named hosts are up, and nothing about ports.
fn ping_hosts(
    args: &ScanArgs,
    command_line: &str,
    os: &Os<'_>,
    output: &Output,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<ExitCode> {
    let targets = targets::expand(&args.targets, os.resolver, args.yes)?;
    let ports = match args.ports {
        Some(_) => port_list(args)?,
        None => ping::PROBE_PORTS.to_vec(),
    };
    let (parallelism, limit_note) = parallelism(args);
    let options = PingOptions {
        ports,
        timeout: args.timeout.unwrap_or(ping::DEFAULT_TIMEOUT),
        parallelism,
        max_time: args.max_time,
    };
    let started_at = humantime::format_rfc3339_seconds(os.env.now()).to_string();
    let started = Instant::now();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the ping's event loop")?
        .block_on(ping::ping(targets, &options));
    for note in limit_note.iter().chain(&outcome.notes) {
        writeln!(stderr, "portwatch: note: {note}")?;
    }
    let hosts: Vec<HostScan> = outcome.hosts.iter().map(pinged_host).collect();
    let frame = ScanFrame {
        hosts: &hosts,
        elapsed: started.elapsed(),
        started: &started_at,
        command_line,
        all_states: false,
        banners: false,
        listeners: false,
        ping: true,
    };
    output.write(&frame, os, stdout)?;
    Ok(match outcome.complete {
        true => ExitCode::Success,
        false => ExitCode::Incomplete,
    })
}

fn pinged_host(pinged: &Pinged) -> HostScan {
    let answer = pinged.answer;
    HostScan {
        target: pinged.target.name.clone(),
        address: pinged.target.address,
        up: answer.is_some(),
        latency_ms: answer.map(|a| a.rtt.as_secs_f64() * 1000.0),
        reason: Some(answer.map_or(HostReason::NoResponse, |a| a.reason)),
        answered_port: answer.and_then(|a| a.port),
        ports: Vec::new(),
        not_shown: NotShown::default(),
    }
}

/// Connections at once: as asked, or from the open-file limit (with a
/// note when that limit is low).
fn parallelism(args: &ScanArgs) -> (usize, Option<String>) {
    match args.max_parallelism {
        Some(asked) => (asked as usize, None),
        None => resources::parallelism(),
    }
}

/// Where the scan's views go.
enum Output {
    Table,
    Json,
    /// Grepable lines to standard output, instead of the table.
    GrepableOnly,
    /// The table, and grepable lines to a file.
    TableAndGrepable(String),
}

impl Output {
    fn of(args: &ScanArgs) -> Result<Output, UsageError> {
        if let Some(format) = &args.output {
            return Err(UsageError(format!(
                "-o{}: only nmap's grepable output (-oG FILE) is written; --json for JSON",
                crate::render::escape::for_terminal(format)
            )));
        }
        let grepable_file = args.grepable.clone();
        Ok(match (args.json, grepable_file) {
            (true, _) => Output::Json,
            (false, Some(file)) if file == "-" => Output::GrepableOnly,
            (false, Some(file)) => Output::TableAndGrepable(file),
            (false, None) => Output::Table,
        })
    }

    fn write(&self, frame: &ScanFrame<'_>, os: &Os<'_>, stdout: &mut dyn Write) -> Result<()> {
        let mut stdout = std::io::BufWriter::new(stdout);
        match self {
            Output::Table => table(frame, &mut stdout)?,
            Output::Json => json(frame.hosts, frame.all_states, &mut stdout)?,
            Output::GrepableOnly => grepable(frame, &mut stdout)?,
            Output::TableAndGrepable(file) => {
                table(frame, &mut stdout)?;
                os.files
                    .write_atomically(Path::new(file), &mut |out| grepable(frame, &mut &mut *out))
                    .with_context(|| format!("cannot write {file}"))?;
            }
        }
        stdout.flush()?;
        Ok(())
    }
}

/// This namespace's listeners with their owners, for `--local`.
fn local_listeners(os: &Os<'_>) -> Result<Vec<Listener>> {
    let request = super::listeners::request(Scope::Own, true);
    let inventory = inventory::snapshot(os, &request)?;
    Ok(exposure::listeners(inventory.sockets))
}

fn port_list(args: &ScanArgs) -> Result<Vec<u16>, UsageError> {
    let listed = match &args.ports {
        Some(spec) => ports::parse_ports(spec),
        None => ports::top_ports(args.top_ports.unwrap_or(DEFAULT_TOP_PORTS)),
    };
    listed.map_err(|error| UsageError(error.to_string()))
}

fn bounds(timeout: Option<Duration>) -> TimeoutBounds {
    let defaults = TimeoutBounds::default();
    match timeout {
        Some(ceiling) => TimeoutBounds {
            initial: defaults.initial.min(ceiling),
            min: defaults.min.min(ceiling),
            max: ceiling,
        },
        None => defaults,
    }
}

fn host_scan(outcome: &HostOutcome, services: &Services) -> HostScan {
    let ports: Vec<ScannedPort> = outcome
        .ports
        .iter()
        .map(|probed| ScannedPort {
            port: probed.port,
            proto: ScanProto::Tcp,
            state: probed.reason.state(),
            reason: probed.reason,
            service: services
                .name(Netid::Tcp, probed.port)
                .map(|name| name.to_string())
                .or_else(|| ports::service_name(probed.port).map(str::to_owned)),
            rtt_ms: probed.rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
            banner: None,
            listener: None,
        })
        .collect();
    let closed_listed = ports.iter().filter(|p| p.state == PortState::Closed).count();
    HostScan {
        target: outcome.target.name.clone(),
        address: outcome.target.address,
        up: outcome.answered(),
        latency_ms: outcome.latency.map(|rtt| rtt.as_secs_f64() * 1000.0),
        reason: None,
        answered_port: None,
        ports,
        not_shown: NotShown { closed: outcome.closed - closed_listed, filtered: 0 },
    }
}

/// Asks every open port what it is, a bounded number at once.
async fn add_banners(hosts: &mut [HostScan]) {
    let limits = BannerLimits::default();
    let open: Vec<(usize, usize, std::net::SocketAddr)> =
        hosts
            .iter()
            .enumerate()
            .flat_map(|(h, host)| {
                host.ports.iter().enumerate().filter(|(_, p)| p.state == PortState::Open).map(
                    move |(p, port)| (h, p, std::net::SocketAddr::new(host.address, port.port)),
                )
            })
            .collect();
    let mut running = tokio::task::JoinSet::new();
    let mut queue = open.into_iter();
    loop {
        while running.len() < BANNERS_AT_ONCE {
            let Some((h, p, address)) = queue.next() else { break };
            running.spawn(async move { (h, p, banner::identify(address, &limits).await) });
        }
        let Some(joined) = running.join_next().await else { break };
        if let Ok((h, p, found)) = joined {
            hosts[h].ports[p].banner = found;
        }
    }
}
