//! Holds a TCP load on loopback for benchmarks: `--connections N` established
//! connections (both ends open, so 2N sockets) spread over `--processes P`
//! child processes, since one process may hold at most 20,000 files here.
//! Each child listens on its own loopback address (127.0.0.2, 127.0.0.3, ...)
//! so that no address pair runs out of ephemeral ports.
//!
//! `--udp N` also binds N UDP sockets per process; `--wildcard N` has the
//! parent listen on 0.0.0.0 ports 1 to N too (listeners a firewall judges,
//! where a loopback one is local-only); `--listen P,Q,...` listens on 0.0.0.0
//! at those ports (the scan benchmark's spread-out listeners, with
//! `--processes 0`). Prints `READY <sockets>`
//! when the load stands, then holds it until its standard input closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| -> Option<usize> {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1)?.parse().ok()
    };
    let connections = option("--connections").unwrap_or(50_000);
    let udp = option("--udp").unwrap_or(0);
    match option("--child") {
        Some(index) => child(index, connections, udp),
        None => parent(
            connections,
            option("--processes").unwrap_or(10),
            udp,
            option("--wildcard").unwrap_or(0),
            listen_ports(&args)?,
        ),
    }
}

fn parent(
    connections: usize,
    processes: usize,
    udp: usize,
    wildcard: usize,
    listen: Vec<u16>,
) -> Result<(), Box<dyn std::error::Error>> {
    let per_child = connections.div_ceil(processes.max(1));
    let wide_ports = (1..=wildcard).map(u16::try_from).collect::<Result<Vec<_>, _>>()?;
    let wide: Vec<TcpListener> = wide_ports
        .into_iter()
        .chain(listen)
        .map(|port| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))
        .collect::<Result<_, _>>()?;
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = (0..processes)
        .map(|index| {
            Command::new(&exe)
                .args(["--child", &index.to_string(), "--connections", &per_child.to_string()])
                .args(["--udp", &udp.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for child in &mut children {
        let mut line = String::new();
        let stdout = child.stdout.as_mut().ok_or("no child stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("a child failed: {line:?}").into());
        }
    }
    println!("READY {}", (per_child * 2 + 1 + udp) * processes + wide.len());
    std::io::stdout().flush()?;
    std::io::stdin().read_to_end(&mut Vec::new())?;
    for child in &mut children {
        drop(child.stdin.take());
        child.wait()?;
    }
    Ok(())
}

fn listen_ports(args: &[String]) -> Result<Vec<u16>, Box<dyn std::error::Error>> {
    let Some(at) = args.iter().position(|a| a == "--listen") else {
        return Ok(Vec::new());
    };
    let list = args.get(at + 1).ok_or("--listen needs a list of ports")?;
    Ok(list.split(',').map(str::parse).collect::<Result<_, _>>()?)
}

fn child(index: usize, connections: usize, udp: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    let octet = u8::try_from(index + 2)?;
    let listener = TcpListener::bind((Ipv4Addr::new(127, 0, 0, octet), 0))?;
    let target = listener.local_addr()?;
    let mut held = Vec::with_capacity(connections * 2);
    let datagrams: Vec<std::net::UdpSocket> = (0..udp)
        .map(|_| std::net::UdpSocket::bind((Ipv4Addr::new(127, 0, 0, octet), 0)))
        .collect::<Result<_, _>>()?;
    for _ in 0..connections {
        held.push(TcpStream::connect(target)?);
        held.push(listener.accept()?.0);
    }
    println!("ready");
    std::io::stdout().flush()?;
    std::io::stdin().read_to_end(&mut Vec::new())?;
    drop((held, datagrams));
    Ok(())
}
