//! How long after listen() `portwatch watch` prints the open, and after
//! close() the close: starts `PORTWATCH watch --format jsonl --interval I`,
//! then `--rounds N` times opens a TCP listener on 127.0.0.1 (a port the
//! kernel picks, free whatever the load holds), at a moment spread over
//! the interval's phase, and times the
//! arrival of each event line. Prints `open`/`close` rows of milliseconds
//! (median, 90th percentile, max), tab-separated.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| -> Option<String> {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let portwatch = option("--portwatch").ok_or("--portwatch PATH")?;
    let interval: f64 = option("--interval").ok_or("--interval SECONDS")?.parse()?;
    let rounds: u16 = option("--rounds").unwrap_or_else(|| "20".into()).parse()?;
    let mut watch = Command::new(&portwatch)
        .args(["watch", "-t", "--format", "jsonl", "--interval", &interval.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = watch.stdout.take().ok_or("no stdout")?;
    let (send, events) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let (mut opens, mut closes) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let phase = interval * f64::from(round) / f64::from(rounds);
        std::thread::sleep(Duration::from_secs_f64(interval + phase));
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let listened = Instant::now();
        let port = listener.local_addr()?.port();
        opens.push(arrival(&events, "open", port)?.duration_since(listened));
        drop(listener);
        let closed = Instant::now();
        closes.push(arrival(&events, "close", port)?.duration_since(closed));
    }
    let _ = watch.kill();
    let _ = watch.wait();
    for (name, mut times) in [("open", opens), ("close", closes)] {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!("{name}\t{:.1}\t{:.1}\t{:.1}", ms(at(0.5)), ms(at(0.9)), ms(at(1.0)));
    }
    Ok(())
}

/// When the line of `kind` for `port` arrived (within 10 s).
fn arrival(
    events: &mpsc::Receiver<(Instant, String)>,
    kind: &str,
    port: u16,
) -> Result<Instant, Box<dyn std::error::Error>> {
    let (event, port) = (format!("\"event\":\"{kind}\""), format!("\"port\":{port},"));
    loop {
        let (at, line) = events.recv_timeout(Duration::from_secs(10))?;
        if line.contains(&event) && line.contains(&port) {
            return Ok(at);
        }
    }
}
