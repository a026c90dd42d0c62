//! `portwatch watch --format jsonl` run by a test, its events arriving on
//! a channel; and a "service" (the test binary again) that holds a
//! listener in a namespace until told to stop, for a pid of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Netns;

/// Set in a child the test binary starts as a listening "service".
const LISTEN_ENV: &str = "PORTWATCH_TEST_LISTEN";

pub struct Watch {
    child: Child,
    events: Receiver<Value>,
}

impl Watch {
    /// `watch --format jsonl ARGS` in `netns`, after its first listing
    /// (what later ones are compared with) had a second to be taken.
    pub fn start(netns: &Netns, args: &[&str]) -> Watch {
        let mut child = netns
            .command(super::BIN)
            .args(["watch", "--format", "jsonl"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start watch");
        let stdout = child.stdout.take().unwrap();
        let (send, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(serde_json::from_str(&line).expect("a JSON line")).is_err() {
                    break;
                }
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        Watch { child, events }
    }

    /// The next event, whole.
    pub fn next_event(&self, within: Duration) -> Value {
        self.events.recv_timeout(within).expect("an event in time")
    }

    /// Waits (10 s at most) for watch to end by itself: its exit status
    /// and standard error.
    /// Asks the watch to stop (SIGTERM), as systemd would, and waits
    /// for it.
    #[allow(dead_code)] // not every test binary stops a watch this way
    pub fn terminate(self) -> (Option<i32>, String) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        self.end()
    }

    pub fn end(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "watch did not end by itself");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (self.child.wait().unwrap().code(), stderr)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A "service": this test binary again, run for its `serve_when_asked`
/// test (which calls [`serve_if_asked`]), holding a listener on 0.0.0.0
/// `port` until its standard input closes.
pub fn start_service(netns: &Netns, port: u16) -> Child {
    let mut child = netns
        .command(std::env::current_exe().unwrap().to_str().unwrap())
        .args(["--exact", "serve_when_asked", "--nocapture", "--test-threads", "1"])
        .env(LISTEN_ENV, port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the service");
    let mut ready = String::new();
    let mut reader = BufReader::new(child.stdout.as_mut().unwrap());
    while !ready.contains("LISTENING") {
        ready.clear();
        assert!(reader.read_line(&mut ready).unwrap() > 0, "the service ended before listening");
    }
    child
}

pub fn stop_service(mut service: Child) {
    drop(service.stdin.take());
    service.wait().unwrap();
}

/// The service's side, when this process was started as one.
pub fn serve_if_asked() {
    let Ok(port) = std::env::var(LISTEN_ENV) else { return };
    let listener =
        TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port.parse().unwrap()))).unwrap();
    println!("LISTENING");
    std::io::stdout().flush().unwrap();
    std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
    drop(listener);
}
