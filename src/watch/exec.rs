//! `watch --exec`: a command run for each event, the event in its
//! environment (`PORTWATCH_EVENT`, `PORTWATCH_PORT`, ...). The command is
//! run directly, never through a shell unless `--exec-shell` asks, by a
//! fixed number of workers, each run bounded in time; a failure is
//! reported, never fatal, and events beyond a full queue are counted, not
//! kept without bound. Each run is a process group of its own, so a
//! timeout kills what the command started as well.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::model::Socket;
use crate::model::watch::WatchEvent;

/// Events waiting for a worker, at most.
const QUEUE: usize = 1024;

/// How often a running command is looked at for its end.
const WAIT_TICK: Duration = Duration::from_millis(20);

/// The command to run: a program and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub argv: Vec<String>,
    pub timeout: Duration,
    /// Where the command's output goes.
    pub output: HookOutput,
}

/// Where a hook's standard output and error go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookOutput {
    /// To portwatch's standard error, never into the event stream.
    Stderr,
    /// Nowhere: the live table owns the terminal.
    Discard,
}

impl Hook {
    /// `--exec CMD`: CMD split into words as a shell would (quotes kept
    /// together), without expanding anything; with `shell`, CMD is given
    /// to `sh -c` whole.
    pub fn parse(
        command: &str,
        shell: bool,
        timeout: Duration,
        output: HookOutput,
    ) -> Result<Hook, String> {
        let argv = match shell {
            true => vec!["sh".to_owned(), "-c".to_owned(), command.to_owned()],
            false => shell_words::split(command).map_err(|error| format!("--exec: {error}"))?,
        };
        match argv.is_empty() {
            true => Err("--exec: the command is empty".to_owned()),
            false => Ok(Hook { argv, timeout, output }),
        }
    }
}

/// The workers running the hook.
pub struct Hooks {
    queue: Option<SyncSender<Vec<(String, String)>>>,
    workers: Vec<JoinHandle<()>>,
    failures: Receiver<String>,
    dropped: u64,
}

impl Hooks {
    /// Starts `jobs` workers (at least one).
    pub fn start(hook: Hook, jobs: usize) -> Hooks {
        let (queue, waiting) = mpsc::sync_channel::<Vec<(String, String)>>(QUEUE);
        let (failed, failures) = mpsc::channel();
        let waiting = Arc::new(Mutex::new(waiting));
        let workers = (0..jobs.max(1))
            .map(|_| {
                let (hook, waiting, failed) = (hook.clone(), waiting.clone(), failed.clone());
                std::thread::spawn(move || work(&hook, &waiting, &failed))
            })
            .collect();
        Hooks { queue: Some(queue), workers, failures, dropped: 0 }
    }

    /// Queues a run for `event`; counted as dropped when the queue is full.
    pub fn submit(&mut self, event: &WatchEvent) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(environment(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped += 1,
        }
    }

    /// What went wrong since the last call, one line each.
    pub fn failures(&mut self) -> Vec<String> {
        let mut lines: Vec<String> = self.failures.try_iter().collect();
        if self.dropped > 0 {
            lines.push(format!(
                "--exec: {} event(s) not run: {QUEUE} were already waiting",
                std::mem::take(&mut self.dropped)
            ));
        }
        lines
    }

    /// Runs what is queued to its end (each run within its timeout), then
    /// stops the workers; what went wrong meanwhile.
    pub fn finish(mut self) -> Vec<String> {
        self.queue = None;
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.join();
        }
        self.failures()
    }
}

fn work(
    hook: &Hook,
    waiting: &Mutex<Receiver<Vec<(String, String)>>>,
    failed: &mpsc::Sender<String>,
) {
    loop {
        let next = match waiting.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(variables) = next else { return };
        if let Err(failure) = run(hook, &variables) {
            let _ = failed.send(failure);
        }
    }
}

/// Runs the hook once, in a process group of its own.
fn run(hook: &Hook, variables: &[(String, String)]) -> Result<(), String> {
    let program = crate::render::escape::for_terminal(&hook.argv[0]).into_owned();
    let (stdout, stderr) = match hook.output {
        HookOutput::Stderr => (Stdio::from(io::stderr()), Stdio::inherit()),
        HookOutput::Discard => (Stdio::null(), Stdio::null()),
    };
    let mut child = Command::new(&hook.argv[0])
        .args(&hook.argv[1..])
        .envs(variables.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|error| format!("--exec: cannot run {program}: {error}"))?;
    let deadline = Instant::now().checked_add(hook.timeout);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("--exec: {program} failed ({status})")),
            Ok(None) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
                kill_group(&mut child);
                return Err(format!(
                    "--exec: {program} ran longer than {} and was killed",
                    humantime::format_duration(hook.timeout)
                ));
            }
            Ok(None) => std::thread::sleep(WAIT_TICK),
            Err(error) => return Err(format!("--exec: cannot wait for {program}: {error}")),
        }
    }
}

/// Kills the command and whatever it started (its process group), then
/// reaps it.
fn kill_group(child: &mut Child) {
    let group = i32::try_from(child.id()).map(nix::unistd::Pid::from_raw);
    match group {
        Ok(group) => {
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        Err(_) => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// The event as environment variables.
pub fn environment(event: &WatchEvent) -> Vec<(String, String)> {
    let mut variables = vec![
        ("PORTWATCH_EVENT", event.event.as_str().to_owned()),
        ("PORTWATCH_TIME", event.time.clone()),
        ("PORTWATCH_SEVERITY", event.severity().map_or("none", |s| s.as_str()).to_owned()),
        (
            "PORTWATCH_FINDINGS",
            event.findings.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>().join(","),
        ),
    ];
    variables.extend(socket_variables(&event.socket));
    if let Ok(json) = serde_json::to_string(event) {
        variables.push(("PORTWATCH_JSON", json));
    }
    variables.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

fn socket_variables(socket: &Socket) -> Vec<(&'static str, String)> {
    let Some(inet) = socket.as_inet() else { return Vec::new() };
    let mut variables = vec![
        ("PORTWATCH_PROTO", inet.netid.as_str().to_owned()),
        ("PORTWATCH_FAMILY", if inet.local.addr.is_ipv4() { "4" } else { "6" }.to_owned()),
        ("PORTWATCH_ADDR", inet.local.addr.to_string()),
        ("PORTWATCH_PORT", inet.local.port.to_string()),
        ("PORTWATCH_STATE", inet.state.word().to_owned()),
    ];
    if let Some(netns) = inet.netns.as_deref() {
        let name = netns.name.clone().unwrap_or_else(|| netns.inode.to_string());
        variables.push(("PORTWATCH_NETNS", name));
    }
    let holder = socket.owners().and_then(|owners| owners.processes.first());
    if let Some(process) = holder.map(|holder| &holder.process) {
        variables.push(("PORTWATCH_PID", process.pid.to_string()));
        variables.push(("PORTWATCH_COMM", process.display_name().into_owned()));
        variables.extend(process.uid.map(|uid| ("PORTWATCH_UID", uid.to_string())));
        variables.extend(process.user.clone().map(|user| ("PORTWATCH_USER", user)));
        variables.extend(process.unit.clone().map(|unit| ("PORTWATCH_UNIT", unit)));
        variables.extend(process.container.as_ref().map(|c| ("PORTWATCH_CONTAINER", c.id.clone())));
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone_or_dead(pid: &str) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')),
            Err(_) => true,
        }
    }

    #[test]
    fn a_timeout_kills_what_the_command_started_too() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let hook =
            Hook::parse(&script, true, Duration::from_millis(300), HookOutput::Discard).unwrap();
        let failure = run(&hook, &[]).unwrap_err();
        assert!(failure.contains("was killed"), "{failure}");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !gone_or_dead(pid.trim()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone_or_dead(pid.trim()), "the background sleep {} outlived the hook", pid.trim());
    }

    #[test]
    fn words_are_split_without_a_shell() {
        let hook = Hook::parse(
            "logger -t 'port watch' $HOME",
            false,
            Duration::from_secs(1),
            HookOutput::Stderr,
        );
        assert_eq!(hook.unwrap().argv, ["logger", "-t", "port watch", "$HOME"]);
        assert!(Hook::parse("  ", false, Duration::from_secs(1), HookOutput::Stderr).is_err());
        assert!(
            Hook::parse("echo 'open", false, Duration::from_secs(1), HookOutput::Stderr).is_err()
        );
    }
}
