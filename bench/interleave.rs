//! Runs commands interleaved, round by round, and reports each one's time and
//! its ratio to a baseline, for `bench/run`.
//!
//! ```text
//! interleave [--rounds N] [--warmup N] [--baseline LABEL] [--ok-exit LABEL=CODE]...
//!            [--host-tcp] [--verbose] :: LABEL PROGRAM [ARG...] [:: LABEL PROGRAM [ARG...]]...
//! ```
//!
//! Every round runs each command once, starting one command further along
//! the list than the round before, so no command always runs first or always
//! follows the same neighbour's cache and scheduler state; machine noise that
//! drifts over seconds then falls on every command alike. `--warmup` rounds
//! (default 1) run the same way first and are not counted; `--rounds`
//! defaults to 10. Commands run with standard input and output on /dev/null;
//! their standard error is kept only to explain a failure. A command that
//! exits non-zero or dies of a signal stops the runner with an error naming
//! it, unless `--ok-exit LABEL=CODE` accepts that exit status for that
//! command (for an answer its program flags as incomplete, say).
//!
//! Each run's wall time is taken around the command alone (from spawn to
//! reaping) by a small helper process, this program started again with
//! `--measure-one`, which also reads the command's peak resident memory from
//! its own `RUSAGE_CHILDREN` (the command is its only child), since `wait4`
//! is out of reach without `unsafe`.
//!
//! Output, tab-separated, one line per command in the order given:
//!
//! ```text
//! command LABEL RUNS MEDIAN_MS MEAN_MS SD_MS MIN_MS MAX_MS RATIO RATIO_Q1 RATIO_Q3 PEAK_RSS_KIB
//! ```
//!
//! RATIO is the command's median over the baseline's median (the baseline is
//! `--baseline LABEL`, or the first command). RATIO_Q1 and RATIO_Q3 are the
//! quartiles of the per-round ratios (this command's run over the baseline's
//! run in the same round), a measure of how far the ratio can be trusted.
//! SD_MS is the sample standard deviation; PEAK_RSS_KIB the largest of the
//! runs. With `--host-tcp` a last line gives the TCP sockets on the whole
//! host, sampled before the first round and after every round:
//!
//! ```text
//! host-tcp OPEN_MIN OPEN_MAX TIMEWAIT_MIN TIMEWAIT_MAX
//! ```
//!
//! OPEN is the `alloc` count of /proc/net/sockstat (every full TCP socket,
//! IPv4 and IPv6, in every namespace), TIMEWAIT the active objects of the
//! `tw_sock_TCP` and `tw_sock_TCPv6` slabs in /proc/slabinfo (host-wide too,
//! counted by slab, so a few hundred when idle); `-` when unreadable.

use std::error::Error;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const MEASURE_ONE: &str = "--measure-one";
const SEPARATOR: &str = "::";
const USAGE: &str = "usage: interleave [--rounds N] [--warmup N] [--baseline LABEL] \
                     [--ok-exit LABEL=CODE]... [--host-tcp] [--verbose] \
                     :: LABEL PROGRAM [ARG...] [:: LABEL PROGRAM [ARG...]]...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((first, argv)) if first == MEASURE_ONE => measure_one(argv),
        _ => parse(&args).and_then(|options| run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("interleave: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Spec {
    label: String,
    argv: Vec<String>,
    /// Exit statuses that count as success: 0 and those of `--ok-exit`.
    ok_exit: Vec<i32>,
}

struct Options {
    rounds: usize,
    warmup: usize,
    baseline: usize,
    host_tcp: bool,
    verbose: bool,
    commands: Vec<Spec>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut rounds = 10;
    let mut warmup = 1;
    let mut baseline = None;
    let mut host_tcp = false;
    let mut verbose = false;
    let mut ok_exit: Vec<(&str, i32)> = Vec::new();
    let mut rest = args.iter();
    let count = |value: Option<&String>, name: &str| -> Result<usize> {
        let value = value.ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
        value.parse().map_err(|_| format!("{name}: not a count: {value:?}").into())
    };
    loop {
        match rest.next().map(String::as_str) {
            Some("--rounds") => rounds = count(rest.next(), "--rounds")?,
            Some("--warmup") => warmup = count(rest.next(), "--warmup")?,
            Some("--baseline") => {
                baseline = Some(rest.next().ok_or(format!("--baseline needs a label\n{USAGE}"))?)
            }
            Some("--ok-exit") => {
                let value = rest.next().ok_or(format!("--ok-exit needs LABEL=CODE\n{USAGE}"))?;
                let (label, code) = value
                    .rsplit_once('=')
                    .and_then(|(label, code)| Some((label, code.parse().ok()?)))
                    .ok_or_else(|| format!("--ok-exit {value:?}: not LABEL=CODE"))?;
                ok_exit.push((label, code));
            }
            Some("--host-tcp") => host_tcp = true,
            Some("--verbose" | "-v") => verbose = true,
            Some("--help" | "-h") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Some(SEPARATOR) => break,
            Some(other) => return Err(format!("unknown option {other:?}\n{USAGE}").into()),
            None => return Err(format!("no commands\n{USAGE}").into()),
        }
    }
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    let words: Vec<&String> = rest.collect();
    let mut commands = Vec::new();
    for group in words.split(|word| *word == SEPARATOR) {
        let (label, argv) = match group {
            [label, program, args @ ..] => {
                (*label, std::iter::once(program).chain(args).map(|s| (*s).clone()).collect())
            }
            _ => return Err(format!("each command needs a label and a program\n{USAGE}").into()),
        };
        if label.is_empty() || label.contains(['\t', '\n']) {
            return Err(
                format!("label {label:?}: must be non-empty, without tabs or newlines").into()
            );
        }
        if commands.iter().any(|spec: &Spec| spec.label == *label) {
            return Err(format!("label {label:?} given twice").into());
        }
        commands.push(Spec { label: label.clone(), argv, ok_exit: vec![0] });
    }
    for (label, code) in ok_exit {
        let spec = commands
            .iter_mut()
            .find(|spec| spec.label == label)
            .ok_or_else(|| format!("--ok-exit {label:?}: no command has that label"))?;
        spec.ok_exit.push(code);
    }
    let baseline = match baseline {
        None => 0,
        Some(name) => commands
            .iter()
            .position(|spec| spec.label == *name)
            .ok_or_else(|| format!("--baseline {name:?}: no command has that label"))?,
    };
    Ok(Options { rounds, warmup, baseline, host_tcp, verbose, commands })
}

/// One run: wall time in milliseconds and peak resident memory in KiB.
struct Run {
    ms: f64,
    rss_kib: u64,
}

fn run(options: &Options) -> Result<()> {
    let exe = std::env::current_exe()?;
    let count = options.commands.len();
    let mut host = HostTcp::default();
    if options.host_tcp {
        host.sample();
    }
    for round in 0..options.warmup {
        for index in order(round, count) {
            let run = run_once(&exe, &options.commands[index])?;
            if options.verbose {
                let label = &options.commands[index].label;
                eprintln!("warm-up {}: {label}: {:.2} ms", round + 1, run.ms);
            }
        }
    }
    // runs[command][round]
    let mut runs: Vec<Vec<Run>> = options.commands.iter().map(|_| Vec::new()).collect();
    for round in 0..options.rounds {
        let mut this_round: Vec<Option<Run>> = options.commands.iter().map(|_| None).collect();
        for index in order(round, count) {
            let run = run_once(&exe, &options.commands[index])?;
            if options.verbose {
                let label = &options.commands[index].label;
                eprintln!("round {}: {label}: {:.2} ms", round + 1, run.ms);
            }
            this_round[index] = Some(run);
        }
        for (all, run) in runs.iter_mut().zip(this_round) {
            all.extend(run);
        }
        if options.host_tcp {
            host.sample();
        }
    }
    let mut out = String::new();
    let base = &runs[options.baseline];
    let base_median = median(&sorted(base.iter().map(|run| run.ms)));
    for (spec, runs) in options.commands.iter().zip(&runs) {
        let times = sorted(runs.iter().map(|run| run.ms));
        let n = times.len() as f64;
        let mean = times.iter().sum::<f64>() / n;
        let variance = if times.len() > 1 {
            times.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let med = median(&times);
        let paired = sorted(runs.iter().zip(base).map(|(run, base)| run.ms / base.ms));
        let rss = runs.iter().map(|run| run.rss_kib).max().unwrap_or(0);
        writeln!(
            out,
            "command\t{}\t{}\t{med:.3}\t{mean:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.4}\t{:.4}\t{:.4}\t{rss}",
            spec.label,
            times.len(),
            variance.sqrt(),
            times.first().copied().unwrap_or(0.0),
            times.last().copied().unwrap_or(0.0),
            med / base_median,
            quantile(&paired, 0.25),
            quantile(&paired, 0.75),
        )?;
    }
    if options.host_tcp {
        let show = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
        writeln!(
            out,
            "host-tcp\t{}\t{}\t{}\t{}",
            show(host.open.map(|(min, _)| min)),
            show(host.open.map(|(_, max)| max)),
            show(host.timewait.map(|(min, _)| min)),
            show(host.timewait.map(|(_, max)| max)),
        )?;
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// The commands' order in a round: all of them, starting `round` places on.
fn order(round: usize, count: usize) -> impl Iterator<Item = usize> {
    (0..count).map(move |i| (round + i) % count)
}

fn run_once(exe: &std::path::Path, spec: &Spec) -> Result<Run> {
    let codes: Vec<String> = spec.ok_exit.iter().map(i32::to_string).collect();
    let output = Command::new(exe)
        .arg(MEASURE_ONE)
        .arg(codes.join(","))
        .args(&spec.argv)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot start the helper {}: {error}", exe.display()))?;
    let failure = |why: String| -> Box<dyn Error> {
        let mut message = format!("command {:?} ({}) {why}", spec.label, shell_words(&spec.argv));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        for line in &lines[lines.len().saturating_sub(20)..] {
            message.push_str("\n  ");
            message.push_str(line);
        }
        message.into()
    };
    if !output.status.success() {
        return Err(failure("failed".to_owned()));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut fields = stdout.split_whitespace();
    let (Some(ns), Some(rss)) = (fields.next(), fields.next()) else {
        return Err(failure(format!("gave no measurement: {stdout:?}")));
    };
    let ns: u64 = ns.parse().map_err(|_| failure(format!("bad time {ns:?}")))?;
    let rss_kib = rss.parse().map_err(|_| failure(format!("bad memory {rss:?}")))?;
    Ok(Run { ms: ns as f64 / 1e6, rss_kib })
}

/// The helper, `--measure-one CODE[,CODE...] PROGRAM [ARG...]`: runs the
/// command once with stdout on /dev/null and stderr in an unlinked file,
/// prints `NANOSECONDS PEAK_RSS_KIB` if it exits with one of the CODEs, or
/// fails with its status and the end of its standard error.
fn measure_one(argv: &[String]) -> Result<()> {
    let (codes, argv) = argv.split_first().ok_or("--measure-one needs exit codes")?;
    let codes: Vec<i32> = codes
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("--measure-one: bad exit codes {codes:?}"))?;
    let (program, args) = argv.split_first().ok_or("--measure-one needs a command")?;
    let path = std::env::temp_dir().join(format!("interleave-{}.stderr", std::process::id()));
    let mut stderr: File =
        OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr.try_clone()?)
        .status();
    let elapsed = start.elapsed();
    let status = status.map_err(|error| format!("cannot run {program}: {error}"))?;
    if !status.code().is_some_and(|code| codes.contains(&code)) {
        let mut text = String::new();
        stderr.seek(SeekFrom::Start(0))?;
        stderr.read_to_string(&mut text)?;
        let code = status.code().map_or_else(
            || format!("was killed by signal {}", status_signal(&status)),
            |code| format!("exited with status {code}"),
        );
        return Err(match text.trim_end() {
            "" => format!("{code}, writing nothing on standard error"),
            text => format!("{code}; its standard error ends:\n{text}"),
        }
        .into());
    }
    // ru_maxrss is in KiB on Linux, and this helper's only child was the command.
    let rss = getrusage(UsageWho::RUSAGE_CHILDREN)?.max_rss();
    println!("{} {rss}", elapsed.as_nanos());
    Ok(())
}

/// ARGV as one line, each word that needs it in single quotes.
fn shell_words(argv: &[String]) -> String {
    let quote = |word: &String| {
        let plain = !word.is_empty()
            && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_=:/.,+@%".contains(c));
        if plain { word.clone() } else { format!("'{}'", word.replace('\'', r"'\''")) }
    };
    argv.iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn status_signal(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    status.signal().map_or_else(|| "?".to_owned(), |signal| signal.to_string())
}

/// Host-wide TCP socket counts seen so far: (min, max).
#[derive(Default)]
struct HostTcp {
    open: Option<(u64, u64)>,
    timewait: Option<(u64, u64)>,
}

impl HostTcp {
    fn sample(&mut self) {
        fn widen(range: &mut Option<(u64, u64)>, value: Option<u64>) {
            if let Some(v) = value {
                *range = Some(range.map_or((v, v), |(min, max)| (min.min(v), max.max(v))));
            }
        }
        widen(&mut self.open, sockstat_alloc());
        widen(&mut self.timewait, timewait_slab());
    }
}

/// `alloc` on the `TCP:` line of /proc/net/sockstat: a host-wide counter,
/// whichever namespace reads it.
fn sockstat_alloc() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = text.lines().find(|line| line.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|word| *word == "alloc")?;
    words.get(at + 1)?.parse().ok()
}

/// Active objects of the `tw_sock_TCP` and `tw_sock_TCPv6` slabs: TIME-WAIT
/// sockets host-wide.
fn timewait_slab() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let counts: Vec<u64> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            matches!(name, "tw_sock_TCP" | "tw_sock_TCPv6").then(|| words.next()?.parse().ok())?
        })
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values
}

fn median(sorted: &[f64]) -> f64 {
    quantile(sorted, 0.5)
}

/// Linear interpolation between the closest ranks (R's type 7).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    match sorted {
        [] => f64::NAN,
        [only] => *only,
        _ => {
            let at = p * (sorted.len() - 1) as f64;
            let below = at.floor() as usize;
            let above = (below + 1).min(sorted.len() - 1);
            sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64)
        }
    }
}
