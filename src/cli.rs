//! The command line, as clap sees it. A leaf: it knows nothing of the rest
//! of the crate; `commands` turns these values into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "portwatch",
    version,
    about = "List, attribute and audit the TCP/UDP sockets of a Linux host",
    long_about = "List, attribute and audit the TCP/UDP sockets of a Linux host.\n\n\
        With no command, portwatch runs `list`: `portwatch -tuln` is `portwatch list -tuln`.",
    after_help = LIST_EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List sockets, with ss's flags, states and defaults (the default command)
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// Save the kernel's raw sock_diag replies to FILE, for `list --from FILE`
    #[command(
        after_help = "Example:\n  portwatch record host.pwdump && portwatch list --from host.pwdump -tln"
    )]
    Record(RecordArgs),
    /// Who is on a port, or which sockets a process holds
    #[command(after_help = WHO_EXAMPLES)]
    Who(WhoArgs),
    /// Audit the listeners: exposed databases, control planes, cleartext logins,
    /// unowned or suspicious listeners (exit 1: findings at or above --fail-on)
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Scan TCP ports by connecting, as `nmap -sT` does: open, closed,
    /// filtered, and with --banner what answers (scan only what you own or
    /// may test)
    #[command(after_help = SCAN_EXAMPLES)]
    Scan(ScanArgs),
    /// Save the listeners and their owners as a baseline, for `audit --baseline FILE`
    #[command(after_help = BASELINE_EXAMPLES)]
    Baseline(BaselineArgs),
    /// Print an event whenever a listener opens or closes, with its owner
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Print the events `watch --history FILE` recorded, in order
    #[command(after_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  portwatch completions bash > /etc/bash_completion.d/portwatch"
    )]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(after_help = "Example:\n  portwatch man | man -l -")]
    Man,
}

/// Examples shown by `portwatch --help` and `portwatch list --help`.
pub const LIST_EXAMPLES: &str = "\
Examples:
  portwatch -tuln                                  listening TCP and UDP sockets, numeric
  portwatch list -tan state established            established TCP connections
  portwatch -tulnp                                 ... with the processes that hold them
  portwatch -tn 'dport = :443 or sport = :ssh'     ss's filter language
  portwatch -tuln --json | jq                      JSON (keys: portwatch man)
  portwatch --all-netns -tlnp                      every network namespace at once
  portwatch record snap.pwdump; portwatch --from snap.pwdump -tan";

/// Examples shown by `portwatch who --help`.
pub const WHO_EXAMPLES: &str = "\
Examples:
  portwatch who :8080                 sockets with port 8080 at either end
  portwatch who ssh                   the ssh port(s), from /etc/services
  portwatch who pid=812               every socket process 812 holds
  portwatch who nginx --json          every socket of processes named nginx
  portwatch who TCP -sTCP:LISTEN      every TCP listener (lsof -iTCP -sTCP:LISTEN)
  portwatch who -nP -i -sTCP:LISTEN   the same, typed as for lsof
  portwatch who @10.0.0.5:443         sockets with an end at 10.0.0.5 port 443
  portwatch who 6TCP                  IPv6 TCP sockets
  portwatch who :1-1024               ports 1 to 1024, local or peer
  portwatch who UDP@[::1]:53          UDP sockets on or to [::1] port 53
  if portwatch who TCP:5432 -sTCP:LISTEN >/dev/null; then echo postgres is up; fi";

/// Examples shown by `portwatch audit --help`.
pub const AUDIT_EXAMPLES: &str = "\
Examples:
  portwatch audit                       findings for this host's listeners, as a table
  portwatch audit --all-netns --json    every namespace, as one JSON document
  portwatch audit --fail-on medium      exit 1 on any finding of medium severity or worse
  portwatch audit --fail-on never       report only
  portwatch audit --baseline base.json  also what is new, gone or changed since the baseline
  portwatch audit --format sarif --output portwatch.sarif
                                        SARIF for GitHub code scanning
  portwatch audit --format prometheus --fail-on never --output DIR/portwatch.prom
                                        metrics for node_exporter's textfile collector
  portwatch audit --init-policy         a policy allowing what listens now, to prune
  portwatch audit --policy site.toml    judged by a policy: allow entries, overrides";

/// Examples shown by `portwatch scan --help`.
pub const SCAN_EXAMPLES: &str = "\
Examples:
  portwatch scan localhost                       nmap's top 1000 TCP ports
  portwatch scan -p- 127.0.0.1                   every port
  portwatch scan -p 22,80,8000-8100 10.0.0.0/24  a range of hosts
  portwatch scan --banner -p 22,443 host         what answers, by its answer
  portwatch scan --json 10.0.0.5 | jq            one object per host
  portwatch scan -oG - host | grep open          nmap's grepable lines

Scan only what you own or may test.";

/// Examples shown by `portwatch baseline --help`.
pub const BASELINE_EXAMPLES: &str = "\
Examples:
  portwatch baseline save base.json                  this namespace's listeners and owners
  portwatch baseline save --all-netns base.json      every namespace's
  portwatch audit --baseline base.json               new, gone, changed since then";

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Host names, IPv4 and IPv6 addresses, CIDR ranges (`10.0.0.0/24`)
    #[arg(value_name = "TARGET", required_unless_present = "local")]
    pub targets: Vec<String>,

    /// Scan this host's own addresses (by default on its TCP listeners'
    /// ports) and name the listener and owner behind each port
    #[arg(long = "local", conflicts_with = "targets")]
    pub local: bool,

    /// Ports as nmap takes them: `22,80,8000-8100`, `-` for all, `T:` allowed
    #[arg(short = 'p', long = "ports", value_name = "PORTS", allow_hyphen_values = true)]
    pub ports: Option<String>,

    /// nmap's set of its N most often open TCP ports: 100, or 1000 (the default)
    #[arg(long = "top-ports", value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// The longest a connect waits for an answer (the adaptive timeout's
    /// ceiling; default 10s, first tries 1s until a round trip is measured)
    #[arg(long = "timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,

    /// Connections started per second, at most
    #[arg(long = "rate", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,

    /// Connections at once, at most (default: from the open-file limit, at
    /// most 2048); portwatch lowers it when the kernel runs out of sockets
    #[arg(long = "max-parallelism", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallelism: Option<u32>,

    /// Tries again for a port that did not answer (default 1)
    #[arg(long = "retries", value_name = "N", default_value_t = 1)]
    pub retries: u32,

    /// Stop after this long, leaving out what is unfinished (exit 3)
    #[arg(long = "max-time", value_name = "DURATION", value_parser = parse_duration)]
    pub max_time: Option<std::time::Duration>,

    /// List every port, closed ones too (table and JSON)
    #[arg(long = "all-states")]
    pub all_states: bool,

    /// Name each open port's service by what it answers (nmap -sV lite)
    #[arg(long = "banner")]
    pub banner: bool,

    /// Only say which hosts are up (nmap -sn; `-sn` works too): a connect
    /// to ports 80, 443 and 22 (or -p's), and an ICMP echo where this user
    /// may send one; --timeout defaults to 2s here
    #[arg(long = "ping", conflicts_with_all = ["local", "banner", "all_states", "top_ports"])]
    pub ping: bool,

    /// Print JSON: an array with one object per host
    #[arg(long = "json", conflicts_with_all = ["grepable", "output"])]
    pub json: bool,

    /// nmap's output format letter: only `-oG FILE` (grepable lines) is
    /// written; `-oG -` prints them instead of the table
    #[arg(short = 'o', value_name = "FORMAT")]
    pub output: Option<String>,

    /// nmap's grepable lines to FILE (`-` for standard output); `-oG FILE`
    /// is the same
    #[arg(long = "grepable", value_name = "FILE", allow_hyphen_values = true)]
    pub grepable: Option<String>,

    /// Scan more than 65,536 addresses
    #[arg(long = "yes")]
    pub yes: bool,

    /// Accepted for nmap's habit: portwatch never looks up names of addresses
    #[arg(short = 'n')]
    pub no_dns: bool,
}

/// The longest duration taken: a deadline this far ahead is still a
/// valid `Instant`, so no one adding it to now can overflow.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// Seconds (`0.5`, `90`) or a humantime duration (`1m30s`, `2h`), more than
/// zero and at most a century.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
            std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX)
        }
        _ => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if parsed.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    match parsed > MAX_DURATION {
        true => Err("must be at most 100 years".to_owned()),
        false => Ok(parsed),
    }
}

const WATCH_EXAMPLES: &str = "Examples:
  portwatch watch                         listeners (TCP and UDP) opening and closing
  portwatch watch --format jsonl          one JSON object per event, for a log shipper
  portwatch watch -t --interval 0.1 '( sport = :8080 )'
  portwatch watch --count 1 --duration 60s    wait at most a minute for one event
  portwatch watch --audit --exec /usr/local/bin/port-alert
                                         run a program per event (PORTWATCH_* variables)
  portwatch watch --history /var/lib/portwatch/history.db    also keep the events
                                          for `portwatch history`";

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// How often to list the sockets: seconds (`0.1`) or a duration
    /// (`250ms`), at least 50ms
    #[arg(long = "interval", value_name = "DURATION", default_value = "1", value_parser = parse_interval)]
    pub interval: std::time::Duration,

    /// Event lines (plain), or one JSON object per line (jsonl); without
    /// it, a full-screen table of the listeners when standard output is a
    /// terminal, plain lines otherwise
    #[arg(long = "format", value_name = "FORMAT")]
    pub format: Option<WatchFormat>,

    /// Stop after N events
    #[arg(long = "count", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this long
    #[arg(long = "duration", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Watch inside the named network namespace (/run/netns/NAME)
    #[arg(short = 'N', long = "net", value_name = "NAME", conflicts_with = "all_netns")]
    pub net: Option<String>,

    /// Watch every network namespace (closes are then seen at listings only)
    #[arg(long = "all-netns")]
    pub all_netns: bool,

    /// Attach the audit's findings to each event (`portwatch audit`'s rules)
    #[arg(long = "audit")]
    pub audit: bool,

    /// Judge by this policy file (implies --audit)
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,

    /// Run CMD for each event, the event in PORTWATCH_* environment
    /// variables (PORTWATCH_EVENT, _PROTO, _ADDR, _PORT, _PID, _COMM,
    /// _USER, _SEVERITY, _JSON, ...); CMD is split into words, not run by
    /// a shell; its output goes to stderr (nowhere under the live table)
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: Option<String>,

    /// Run --exec's CMD with `sh -c`
    #[arg(long = "exec-shell", requires = "exec")]
    pub exec_shell: bool,

    /// --exec commands running at once, at most
    #[arg(long = "exec-jobs", value_name = "N", default_value = "4", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub exec_jobs: u16,

    /// Kill an --exec command still running after this long
    #[arg(long = "exec-timeout", value_name = "DURATION", default_value = "60", value_parser = parse_duration)]
    pub exec_timeout: std::time::Duration,

    /// Also record every event in FILE (SQLite, created if missing,
    /// appended to if not) for `portwatch history`
    #[arg(long = "history", value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Drop recorded events older than this (`30d`, `12h`)
    #[arg(
        long = "history-max-age",
        value_name = "DURATION",
        default_value = "30d",
        requires = "history",
        value_parser = parse_duration
    )]
    pub history_max_age: std::time::Duration,

    /// Drop the oldest recorded events when they take more than SIZE bytes
    /// (`100M`, `2G`, `500K`: powers of 1024); no limit by default
    #[arg(
        long = "history-max-size",
        value_name = "SIZE",
        requires = "history",
        value_parser = parse_size
    )]
    pub history_max_size: Option<u64>,
}

/// Bytes, with an optional K, M or G (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("unknown size unit '{unit}' (K, M or G)")),
    };
    let number: u64 = digits.parse().map_err(|_| "expected a number of bytes".to_owned())?;
    match number.checked_mul(1 << shift) {
        Some(0) => Err("must be more than zero".to_owned()),
        Some(bytes) => Ok(bytes),
        None => Err("too large".to_owned()),
    }
}

/// Examples shown by `portwatch history --help`.
const HISTORY_EXAMPLES: &str = "Examples:
  portwatch history                       every recorded event, oldest first
  portwatch history --since 1h :8080      the last hour's events of port 8080
  portwatch history nginx --json          the events of processes named nginx, as JSON
  portwatch history --since 2026-12-05T00:00:00Z --until 2026-12-06T00:00:00Z
  portwatch history --file ./history.db pid=812";

/// The history file `watch --history` writes in the example systemd unit.
pub const DEFAULT_HISTORY_FILE: &str = "/var/lib/portwatch/history.db";

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only events of these sockets, as `who` takes them: `:PORT` or
    /// `PORT`, `pid=N`, `comm=NAME`, an address in lsof's -i grammar
    /// (`TCP:8080`, `UDP`, `6TCP`), a service name; any other word is a
    /// process name
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// The history `watch --history FILE` writes
    #[arg(long = "file", value_name = "FILE", default_value = DEFAULT_HISTORY_FILE)]
    pub file: PathBuf,

    /// Only events at or after TIME: a duration back from now (`1h`,
    /// `30m`, `2d`) or an RFC 3339 time in UTC (`2026-12-05T14:00:00Z`)
    #[arg(long = "since", value_name = "TIME")]
    pub since: Option<String>,

    /// Only events at or before TIME, written as for --since
    #[arg(long = "until", value_name = "TIME")]
    pub until: Option<String>,

    /// Print a JSON array of the events, as `watch --format jsonl` writes each
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// One line per event: time, open/close, protocol, address, owners
    Plain,
    /// One JSON object per line: {"event", "time", "socket"}
    Jsonl,
}

/// The shortest `--interval`: a listing every 50 ms already costs a core a
/// few percent on a busy host.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let interval = parse_duration(text)?;
    match interval < MIN_INTERVAL {
        true => Err("must be at least 50ms".to_owned()),
        false => Ok(interval),
    }
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// What to do: save (write the listeners with their owners to FILE)
    #[arg(value_name = "ACTION")]
    pub action: BaselineAction,

    /// The baseline file (JSON), written atomically
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Save the listeners of the named network namespace (/run/netns/NAME)
    #[arg(short = 'N', long = "net", value_name = "NAME", conflicts_with = "all_netns")]
    pub net: Option<String>,

    /// Save the listeners of every network namespace on the host
    #[arg(long = "all-netns")]
    pub all_netns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaselineAction {
    /// Write the listeners with their owners to FILE
    Save,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Fail (exit 1) on findings at or above this severity: info, low,
    /// medium, high, critical, or never
    #[arg(long = "fail-on", value_name = "SEVERITY", default_value = "high")]
    pub fail_on: String,

    /// Output format
    #[arg(long = "format", value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<AuditFormatArg>,

    /// Short for --format json
    #[arg(long = "json")]
    pub json: bool,

    /// Audit inside the named network namespace (/run/netns/NAME)
    #[arg(short = 'N', long = "net", value_name = "NAME", conflicts_with_all = ["from", "all_netns"])]
    pub net: Option<String>,

    /// Audit every network namespace on the host
    #[arg(long = "all-netns", conflicts_with = "from")]
    pub all_netns: bool,

    /// Audit a recording (`portwatch record`); owner rules cannot be checked
    #[arg(long = "from", value_name = "FILE")]
    pub from: Option<PathBuf>,

    /// Colour severities in the table: auto, always, never
    #[arg(long = "color", value_name = "WHEN", default_value = "auto")]
    pub color: ColorArg,

    /// Also report listeners new, gone or changed (owner, address) since the
    /// baseline FILE (`portwatch baseline save FILE`)
    #[arg(long = "baseline", value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Compare with a scan of this host taken from elsewhere (`portwatch
    /// scan --json`): findings where the scan and the firewall evaluation
    /// disagree
    #[arg(long = "compare-scan", value_name = "FILE")]
    pub compare_scan: Option<PathBuf>,

    /// Write the report to FILE instead of standard output, atomically
    /// (a temporary file beside it, renamed into place), as node_exporter's
    /// textfile collector requires
    #[arg(long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Judge by this policy (TOML): allow entries, rule overrides, allowlist
    /// mode (README: "portwatch audit", "Policy")
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Print a commented policy that allows every listener seen now, one
    /// entry each, to prune and use with --policy
    #[arg(long = "init-policy", conflicts_with_all = ["policy", "json", "format"])]
    pub init_policy: bool,

    /// Print the path a new connection to PORT takes through the firewall's
    /// chains, rule by rule, and where it is decided: PORT, PORT/PROTO or
    /// ADDR:PORT/PROTO (`22`, `53/udp`, `[::]:443/tcp`)
    #[arg(long = "why", value_name = "TARGET", conflicts_with_all = ["from", "all_netns", "init_policy", "baseline", "policy", "json", "format", "output"])]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormatArg {
    /// Findings grouped by severity, with a summary line (default)
    Table,
    /// One JSON document: host, time, listeners, findings, summary, limits
    Json,
    /// SARIF 2.1.0, for GitHub code scanning
    Sarif,
    /// Prometheus gauges for node_exporter's textfile collector
    Prometheus,
}

#[derive(Debug, Args)]
pub struct WhoArgs {
    /// What to look for: `pid=1234`; `comm=NAME`; a port, `80` or `:80`;
    /// an address in lsof's -i grammar, `[46][PROTOCOL][@HOST][:PORTS]`
    /// (`TCP:22`, `@10.0.0.5:443`, `6TCP`, `:1-1024,ssh`, `UDP@[::1]`), whose
    /// ports and hosts match either end of a socket, as in lsof; a service
    /// name (`ssh`, same as `:ssh`); any other word is a process name
    #[arg(value_name = "TARGET", required_unless_present_any = ["inet", "states"])]
    pub target: Option<String>,

    /// An ss filter expression the sockets must also match
    #[arg(value_name = "FILTER", num_args = 0..)]
    pub filter: Vec<String>,

    /// An address in lsof's -i grammar instead of TARGET (then every word is
    /// the filter); may be repeated, any of them matching; alone, every TCP
    /// and UDP socket (`-i`, `-i4`, `-iTCP:22`)
    #[arg(
        short = 'i',
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "",
        action = clap::ArgAction::Append
    )]
    pub inet: Vec<String>,

    /// Only TCP and UDP sockets in these states, as lsof's -s:
    /// `TCP:LISTEN`, `TCP:LISTEN,ESTABLISHED`; `^` excludes (`TCP:^LISTEN`).
    /// UDP sockets are CLOSE unconnected, ESTABLISHED connected; may be
    /// repeated; without TARGET or -i, of every TCP and UDP socket
    #[arg(short = 's', value_name = "TCP:STATES", action = clap::ArgAction::Append)]
    pub states: Vec<String>,

    /// Print JSON: one object per process, with its sockets
    #[arg(long = "json")]
    pub json: bool,

    /// Do not resolve service names (show port numbers); -P as in lsof
    #[arg(short = 'n', long = "numeric", short_alias = 'P')]
    pub numeric: bool,

    /// Show full command lines instead of 15-character process names
    #[arg(short = 'W', long = "wide")]
    pub wide: bool,
}

/// Which sockets: protocols, families and states, with ss's flags.
#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct SelectionArgs {
    /// Display TCP sockets
    #[arg(short = 't', long = "tcp")]
    pub tcp: bool,

    /// Display UDP sockets
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,

    /// Display raw sockets
    #[arg(short = 'w', long = "raw")]
    pub raw: bool,

    /// Display UNIX sockets (stream, datagram, seqpacket)
    #[arg(short = 'x', long = "unix")]
    pub unix: bool,

    /// Display packet (AF_PACKET) sockets
    #[arg(short = '0', long = "packet")]
    pub packet: bool,

    /// Display MPTCP sockets
    #[arg(short = 'M', long = "mptcp")]
    pub mptcp: bool,

    /// Display SCTP sockets (needs the kernel's sctp_diag)
    #[arg(short = 'S', long = "sctp")]
    pub sctp: bool,

    /// Display DCCP sockets (needs the kernel's dccp_diag)
    #[arg(short = 'd', long = "dccp")]
    pub dccp: bool,

    /// Display TIPC sockets (needs the kernel's tipc_diag)
    #[arg(long = "tipc")]
    pub tipc: bool,

    /// Display vsock sockets (needs the kernel's vsock_diag)
    #[arg(long = "vsock")]
    pub vsock: bool,

    /// Display XDP sockets (needs the kernel's xsk_diag)
    #[arg(long = "xdp")]
    pub xdp: bool,

    /// Display the socket kinds in this comma-separated list, as ss's -A:
    /// all, inet, tcp, mptcp, udp, raw, unix, unix_stream (u_str),
    /// unix_dgram (u_dgr), unix_seqpacket (u_seq), packet, packet_raw
    /// (p_raw), packet_dgram (p_dgr), netlink, dccp, sctp, vsock,
    /// vsock_stream (v_str), vsock_dgram (v_dgr), tipc, xdp; `!KIND` leaves
    /// one out (`all,!udp`)
    #[arg(
        short = 'A',
        long = "query",
        visible_alias = "socket",
        value_name = "QUERY",
        value_delimiter = ','
    )]
    pub query: Vec<String>,

    /// Display only listening sockets (and unconnected UDP sockets)
    #[arg(short = 'l', long = "listening", overrides_with = "all")]
    pub listening: bool,

    /// Display sockets in every state
    #[arg(short = 'a', long = "all", overrides_with = "listening")]
    pub all: bool,

    /// Display only IPv4 sockets (same as -f inet)
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// Display only IPv6 sockets (same as -f inet6)
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Display only sockets of this family; may be repeated (`-f help`
    /// lists the families)
    #[arg(short = 'f', long = "family", value_name = "FAMILY")]
    pub family: Vec<FamilyArg>,

    /// `state WORD` (repeatable, ORed) and `exclude WORD`, then an ss filter
    /// expression such as `dport = :443 or sport = :ssh`. State words:
    /// established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait,
    /// closed, close-wait, last-ack, listening, closing; groups: all,
    /// connected, synchronized, bucket, big
    #[arg(value_name = "FILTER", num_args = 0.., allow_hyphen_values = false)]
    pub filter: Vec<String>,

    /// Show timers (`timer:(keepalive,59min,0)`)
    #[arg(short = 'o', long = "options")]
    pub options: bool,

    /// Show socket memory (`skmem:(r0,rb131072,...)`)
    #[arg(short = 'm', long = "memory")]
    pub memory: bool,

    /// Show TCP internals (tcp_info: rtt, cwnd, mss, retransmits, ...)
    #[arg(short = 'i', long = "info")]
    pub info: bool,

    /// Keep -m and -i details on the socket's line (as ss -O)
    #[arg(short = 'O', long = "oneline")]
    pub oneline: bool,

    /// Only sockets whose local port is in this IANA range; may be repeated
    #[arg(long = "category", value_name = "CATEGORY")]
    pub category: Vec<PortCategoryArg>,

    /// Read the filter expression from FILE (`#` starts a comment)
    #[arg(short = 'F', long = "filter-file", visible_alias = "filter", value_name = "FILE")]
    pub filter_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorArg {
    #[default]
    Auto,
    Always,
    Never,
}

/// IANA's port ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PortCategoryArg {
    /// 0-1023
    WellKnown,
    /// 1024-49151
    Registered,
    /// 49152-65535
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FamilyArg {
    /// IPv4 sockets (TCP, UDP, raw, MPTCP, DCCP, SCTP)
    Inet,
    /// IPv6 sockets (TCP, UDP, raw, MPTCP, DCCP, SCTP)
    Inet6,
    /// Packet (AF_PACKET) sockets
    Link,
    /// UNIX sockets
    Unix,
    /// Netlink sockets
    Netlink,
    /// vsock sockets
    Vsock,
    /// TIPC sockets
    Tipc,
    /// XDP sockets
    Xdp,
    /// List the families and exit
    Help,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Do not resolve service names (show port numbers)
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,

    /// Resolve host names through the system resolver
    #[arg(short = 'r', long = "resolve")]
    pub resolve: bool,

    /// Suppress the header line
    #[arg(short = 'H', long = "no-header")]
    pub no_header: bool,

    /// Show extended socket information (uid, inode, cookie)
    #[arg(short = 'e', long = "extended")]
    pub extended: bool,

    /// Show the processes that hold each socket (pid, fd, name; more in JSON)
    #[arg(short = 'p', long = "processes", conflicts_with = "from")]
    pub processes: bool,

    /// Show full command lines instead of 15-character process names
    #[arg(short = 'W', long = "wide")]
    pub wide: bool,

    /// Show the holding processes' threads: one `("name",pid=..,tid=..,fd=..)`
    /// per thread (implies -p, as ss -T)
    #[arg(short = 'T', long = "threads", conflicts_with = "from")]
    pub threads: bool,

    /// Show each holder's SELinux context: `proc_ctx=` in `users:(...)`
    /// (implies -p, as ss -Z; needs SELinux)
    #[arg(short = 'Z', long = "context", conflicts_with = "from")]
    pub context: bool,

    /// Show each holder's and each socket's SELinux context: `proc_ctx=`
    /// and `sock_ctx=` (implies -p, as ss -z; needs SELinux)
    #[arg(short = 'z', long = "contexts", conflicts_with = "from")]
    pub contexts: bool,

    /// Add a column with the local port's IANA range (well-known, registered, dynamic)
    #[arg(long = "show-category")]
    pub show_category: bool,

    /// Add a Firewall column: what the live ruleset (nftables, iptables)
    /// does to a new connection to each listener: open, open-rate-limited,
    /// restricted, blocked, local-only or unknown (and the JSON key
    /// `firewall`)
    #[arg(long = "show-firewall", conflicts_with_all = ["from", "all_netns"])]
    pub show_firewall: bool,

    /// List the live ruleset's port forwards instead of sockets: each dnat
    /// and redirect (nftables, iptables) with the connections it takes and
    /// where it sends them (as JSON with --json)
    #[arg(
        long = "forwards",
        conflicts_with_all = ["from", "all_netns", "show_firewall", "summary", "kill", "diag"]
    )]
    pub forwards: bool,

    /// Output format
    #[arg(long = "format", value_name = "FORMAT", conflicts_with = "json")]
    pub format: Option<FormatArg>,

    /// Short for --format json
    #[arg(long = "json")]
    pub json: bool,

    /// Read sockets from a recording (`portwatch record`, `ss -D`) instead
    /// of the running kernel; `-` reads it from standard input
    #[arg(long = "from", value_name = "FILE", conflicts_with = "diag")]
    pub from: Option<PathBuf>,

    /// Record the raw sock_diag replies to FILE instead of listing (as ss -D);
    /// options that only change how a listing looks are refused with it
    #[arg(
        short = 'D',
        long = "diag",
        value_name = "FILE",
        conflicts_with_all = [
            "numeric", "resolve", "no_header", "extended", "processes", "wide",
            "show_category", "format", "json", "all_netns", "net", "debug_stats",
        ]
    )]
    pub diag: Option<PathBuf>,

    /// List inside the named network namespace (/run/netns/NAME), as ss -N
    #[arg(short = 'N', long = "net", value_name = "NAME", conflicts_with_all = ["from", "all_netns"])]
    pub net: Option<String>,

    /// Print ss -s's summary (socket totals per transport); with a kind,
    /// family, query or filter, the sockets after it (the summary alone in JSON)
    #[arg(short = 's', long = "summary", conflicts_with_all = ["from", "diag", "kill"])]
    pub summary: bool,

    /// Close the selected sockets (SOCK_DESTROY, as ss -K) and list the ones
    /// closed; needs a filter expression
    #[arg(short = 'K', long = "kill", conflicts_with_all = ["from", "all_netns", "diag"])]
    pub kill: bool,

    /// List every network namespace on the host, each row naming its own
    #[arg(long = "all-netns", conflicts_with = "from")]
    pub all_netns: bool,

    /// Show the classic BPF filter attached to a packet socket (as ss -b);
    /// like ss's, it also turns on -o's timers
    #[arg(short = 'b', long = "bpf")]
    pub bpf: bool,

    /// Show each inet socket's IPv4 TOS byte, IPv6 traffic class and class
    /// id (`tos:0x10 tclass:0x20 class_id:0x6`, as ss --tos)
    #[arg(long = "tos")]
    pub tos: bool,

    /// Show the path of each inet socket's cgroup v2 below the cgroup2 mount
    /// (`cgroup:/system.slice/nginx.service`, as ss --cgroup)
    #[arg(long = "cgroup")]
    pub cgroup: bool,

    /// Show inet-level socket options (`inet-sockopt: ( freebind mc_loop)`,
    /// as ss --inet-sockopt; on a second line unless -O)
    #[arg(long = "inet-sockopt")]
    pub inet_sockopt: bool,

    /// Show TIPC sockets' type, congestion, drops, publications and
    /// connection name (`type:STREAM cong:none  drop:0`, as ss --tipcinfo)
    #[arg(long = "tipcinfo")]
    pub tipcinfo: bool,

    /// Print TCP and UDP sockets as the kernel destroys them, until Ctrl-C,
    /// SIGTERM or a closed pipe (as ss -E); with --json, one JSON object per
    /// line (JSON Lines)
    #[arg(
        short = 'E',
        long = "events",
        conflicts_with_all = ["from", "diag", "summary", "kill", "all_netns", "show_firewall"]
    )]
    pub events: bool,

    /// Colour states in the table: auto (on a terminal, unless NO_COLOR is
    /// set), always, never
    #[arg(long = "color", value_name = "WHEN", default_value = "auto")]
    pub color: ColorArg,

    /// Tell on stderr how many sockets the kernel sent and how many were listed
    #[arg(long = "debug-stats")]
    pub debug_stats: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// ss's table (default)
    Ss,
    /// netstat -tulpn's table
    Netstat,
    /// lsof -i's table: one row per process and descriptor (implies -p)
    Lsof,
    /// One JSON array
    Json,
    /// JSON Lines: one object per line, streamed
    Jsonl,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write the recording
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// Rewrites nmap's `-oG FILE` (and `-o G FILE`) after `scan` as
/// `--grepable FILE` (clap takes no second value after one glued to a
/// short flag), and nmap's `-sn` as `--ping`.
pub fn nmap_spellings(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.get(1).is_none_or(|word| word != "scan") {
        return args;
    }
    let mut rewritten = Vec::with_capacity(args.len());
    let mut words = args.into_iter().peekable();
    while let Some(word) = words.next() {
        if word == "-oG" {
            rewritten.push("--grepable".into());
        } else if word == "-sn" {
            rewritten.push("--ping".into());
        } else if word == "-o" && words.peek().is_some_and(|next| next == "G") {
            words.next();
            rewritten.push("--grepable".into());
        } else {
            rewritten.push(word);
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn combined_short_flags() {
        let cli = Cli::try_parse_from(["portwatch", "-tanH"]).unwrap();
        let list = cli.list;
        assert!(list.selection.tcp && list.selection.all && list.numeric && list.no_header);
        let cli =
            Cli::try_parse_from(["portwatch", "list", "-tuln", "state", "listening"]).unwrap();
        let Some(Command::List(list)) = cli.command else { panic!("expected list") };
        assert!(list.selection.udp && list.selection.listening);
        assert_eq!(list.selection.filter, ["state", "listening"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("500KiB"), Ok(500 << 10));
        for bad in ["", "0", "M", "10T", "-1", "1.5M", "99999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_seconds_or_humantime_up_to_a_century() {
        assert_eq!(parse_duration("0.5"), Ok(std::time::Duration::from_millis(500)));
        assert_eq!(parse_duration("172800"), Ok(std::time::Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1m30s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("36500days"), Ok(MAX_DURATION));
        for bad in ["0", "-1", "nan", "inf", "1e300", "101years", "9999999999999999999s", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let far = Cli::try_parse_from(["portwatch", "watch", "--duration", "1e300"]);
        assert!(far.is_err(), "an overflowing deadline is a usage error");
    }

    #[test]
    fn conflicting_formats_are_rejected() {
        assert!(Cli::try_parse_from(["portwatch", "--json", "--format", "jsonl"]).is_err());
        assert!(Cli::try_parse_from(["portwatch", "--from", "a", "-D", "b"]).is_err());
    }
}
