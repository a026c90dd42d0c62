//! ss's less common flags against ss itself (iproute2 6.1), each in a
//! network namespace of the test's own with the test's own sockets: `-E`
//! (socket-destroy events, and how it ends), `--tos`, `--cgroup`,
//! `--inet-sockopt`, `-T`, `-Z`/`-z` and `-b`. Outputs are compared byte
//! for byte once trailing blanks are stripped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, Netns, skip_unless_root, skip_without_tool};

/// How long any one wait in these tests may last.
const PATIENCE: Duration = Duration::from_secs(10);

/// Lines without their trailing blanks, as the comparisons read them.
fn stripped(text: &str) -> String {
    text.lines().map(|line| format!("{}\n", line.trim_end())).collect()
}

/// ss titles a Process column even when no row fills it; portwatch's
/// header is compared without that last word.
fn header_without_process(line: &str) -> &str {
    line.trim_end().strip_suffix("Process").unwrap_or(line).trim_end()
}

/// A command running until told to stop, its standard output and error
/// collected as they come.
struct Follower {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Follower {
    fn spawn(mut command: Command) -> Follower {
        Follower::spawn_with_stdin(command.stdin(Stdio::null()))
    }

    /// Starts `command` with its stdin as set (piped: kept until
    /// [`Follower::close_stdin`]).
    fn spawn_with_stdin(command: &mut Command) -> Follower {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the follower");
        let stdin = child.stdin.take();
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Follower { child, stdin, stdout, stderr }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn errors(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn wait_for_lines(&self, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.output().lines().count() < count {
            assert!(Instant::now() < deadline, "no {count} lines in time: {:?}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the follower");
    }

    /// Waits (bounded) for the process to end; kills it if it does not.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // The readers see the end of the pipes shortly after.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the follower did not end in time: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let collected = Arc::new(Mutex::new(Vec::new()));
    let sink = collected.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(len @ 1..) = pipe.read(&mut chunk) {
            sink.lock().unwrap().extend_from_slice(&chunk[..len]);
        }
    });
    collected
}

/// `portwatch ARGS` inside the namespace.
fn portwatch_in(netns: &Netns, args: &[&str]) -> Command {
    let mut command = netns.command(BIN);
    command.args(args);
    command
}

/// `ss ARGS` inside the namespace, its output line-buffered (ss leaves a
/// pipe's output in stdio's buffer, which a signal would lose).
fn ss_in(netns: &Netns, args: &[&str]) -> Command {
    let mut command = netns.command("stdbuf");
    command.arg("-oL").arg("ss").args(args);
    command
}

/// Waits until `count` sock_diag sockets in the namespace have joined
/// multicast groups: the followers are listening.
fn wait_for_subscribers(netns: &Netns, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let output = netns.command("cat").arg("/proc/net/netlink").output().expect("cat");
        let table = String::from_utf8_lossy(&output.stdout);
        let subscribed = table
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // sk Eth Pid Groups ...: NETLINK_SOCK_DIAG is 4.
                fields.get(1) == Some(&"4") && fields.get(3).is_some_and(|g| *g != "00000000")
            })
            .count();
        if subscribed >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{subscribed} of {count} followers subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens and closes the test's sockets inside the namespace: a TCP
/// listener with one accepted connection (three TCP sockets destroyed),
/// a bound IPv6 UDP socket and a connected IPv4 one: five events.
fn open_and_close_sockets(netns: &Netns) {
    netns.within(|| {
        let listener = TcpListener::bind("127.0.0.1:7001").unwrap();
        let client = TcpStream::connect("127.0.0.1:7001").unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(server);
        drop(client);
        drop(listener);
        let bound = UdpSocket::bind("[::1]:7002").unwrap();
        drop(bound);
        let connected = UdpSocket::bind("127.0.0.1:7003").unwrap();
        connected.connect("127.0.0.1:9").unwrap();
        drop(connected);
    });
}

const EVENTS: usize = 5;

/// Follows events with each command line in portwatch and in ss at once,
/// makes the five events, and returns each pair's outputs after SIGINT.
fn follow_pairs(test: &str, command_lines: &[&[&str]]) -> Vec<(String, String)> {
    let netns = Netns::new(test);
    let everything = Follower::spawn(portwatch_in(&netns, &["-E", "-n", "-H"]));
    let pairs: Vec<(Follower, Follower)> = command_lines
        .iter()
        .map(|args| {
            (Follower::spawn(portwatch_in(&netns, args)), Follower::spawn(ss_in(&netns, args)))
        })
        .collect();
    wait_for_subscribers(&netns, 1 + 2 * pairs.len());
    open_and_close_sockets(&netns);
    everything.wait_for_lines(EVENTS);
    // Every follower got the same broadcasts; give them time to print.
    std::thread::sleep(Duration::from_millis(300));
    pairs
        .into_iter()
        .map(|(mut portwatch, mut ss)| {
            for follower in [&portwatch, &ss] {
                follower.signal(nix::sys::signal::Signal::SIGINT);
            }
            let status = portwatch.wait();
            assert!(status.success(), "portwatch ended with {status}: {}", portwatch.errors());
            assert_eq!(portwatch.errors(), "", "portwatch wrote to stderr");
            ss.wait();
            (portwatch.output(), ss.output())
        })
        .collect()
}

#[test]
fn events_match_ss_row_for_row() {
    const TEST: &str = "events_match_ss_row_for_row";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    let lines: &[&[&str]] = &[
        &["-E", "-n"],
        &["-E", "-n", "-t"],
        &["-E", "-n", "-ua"],
        &["-E", "-n", "-4"],
        &["-E", "-n", "-6"],
        &["-E", "-n", "sport = :7001"],
        &["-E", "-n", "dport = :7001 or src [::1]"],
        &["-E", "-n", "-t", "-e"],
        &["-E", "-n", "-a", "-f", "inet6"],
    ];
    let outputs = follow_pairs("ev-rows", lines);
    let mut rows = Vec::new();
    for (args, (portwatch, ss)) in lines.iter().zip(&outputs) {
        let (portwatch, ss) = (comparable(portwatch), comparable(ss));
        assert_eq!(portwatch, ss, "portwatch {args:?} differs from ss");
        rows.push(portwatch.lines().skip(1).map(str::to_owned).collect::<Vec<_>>().join("\n"));
    }
    let all = &rows[0];
    assert_eq!(all.lines().count(), EVENTS, "{all}");
    let unconnected = all.lines().filter(|line| line.contains("UNCONN")).count();
    assert_eq!(unconnected, 4, "destroyed sockets are closed, but a connected UDP one: {all}");
    assert_eq!(rows[1].lines().count(), 3, "three TCP sockets: {}", rows[1]);
    assert_eq!(rows[5].lines().count(), 2, "listener and accepted socket: {}", rows[5]);
}

/// An output as the comparisons read it: no trailing blanks, the header
/// without ss's empty Process column.
fn comparable(output: &str) -> String {
    let stripped = stripped(output);
    let (header, rows) = stripped.split_once('\n').unwrap_or((&stripped, ""));
    format!("{}\n{rows}", header_without_process(header))
}

#[test]
fn events_header_comes_with_the_first_row() {
    const TEST: &str = "events_header_comes_with_the_first_row";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    let outputs = follow_pairs("ev-head", &[&["-E", "-n", "-H"], &["-E", "-n", "-t"]]);
    let (no_header, _) = &outputs[0];
    assert!(no_header.lines().all(|line| !line.contains("Recv-Q")), "-H: {no_header}");
    assert_eq!(no_header.lines().count(), EVENTS, "{no_header}");
    let (tcp, ss) = &outputs[1];
    let titles = |text: &str| text.lines().filter(|line| line.contains("Recv-Q")).count();
    assert_eq!((titles(tcp), titles(ss)), (1, 1), "one header, first: {tcp}");
    assert!(tcp.starts_with("State"), "no Netid column for one protocol: {tcp}");
}

#[test]
fn events_as_json_lines() {
    const TEST: &str = "events_as_json_lines";
    if skip_unless_root(TEST) {
        return;
    }
    let netns = Netns::new("ev-json");
    let mut json = Follower::spawn(portwatch_in(&netns, &["-E", "--json"]));
    let mut jsonl = Follower::spawn(portwatch_in(&netns, &["-E", "-t", "--format", "jsonl"]));
    wait_for_subscribers(&netns, 2);
    open_and_close_sockets(&netns);
    json.wait_for_lines(EVENTS);
    jsonl.wait_for_lines(3);
    for follower in [&json, &jsonl] {
        follower.signal(nix::sys::signal::Signal::SIGTERM);
    }
    for follower in [&mut json, &mut jsonl] {
        assert!(follower.wait().success(), "{}", follower.errors());
    }
    let rows: Vec<serde_json::Value> =
        json.output().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), EVENTS, "one object per line: {}", json.output());
    // The kernel sends the events from a work queue: their order may vary.
    let mut seen: Vec<(String, String, u64, u64)> = rows
        .iter()
        .map(|row| {
            let text = |value: &serde_json::Value| value.as_str().unwrap().to_owned();
            let port = |end: &str| row[end]["port"].as_u64().unwrap();
            (text(&row["netid"]), text(&row["state"]), port("local"), port("peer"))
        })
        .map(|(netid, state, local, peer)| match netid.as_str() {
            // The client's port is the kernel's choice.
            "tcp" if local != 7001 => (netid, state, 0, peer),
            "tcp" if peer != 0 => (netid, state, local, 0),
            _ => (netid, state, local, peer),
        })
        .collect();
    seen.sort();
    let row = |netid: &str, state: &str, local, peer| (netid.into(), state.into(), local, peer);
    assert_eq!(
        seen,
        [
            row("tcp", "closed", 0, 7001),
            row("tcp", "closed", 7001, 0),
            row("tcp", "closed", 7001, 0),
            row("udp", "closed", 7002, 0),
            row("udp", "established", 7003, 9),
        ]
    );
    assert_eq!(jsonl.output().lines().count(), 3, "only TCP: {}", jsonl.output());
}

#[test]
fn events_end_cleanly_on_sigint_and_sigterm() {
    const TEST: &str = "events_end_cleanly_on_sigint_and_sigterm";
    if skip_unless_root(TEST) {
        return;
    }
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    let (netns, quiet) = (Netns::new("ev-signals"), Netns::new("ev-quiet"));
    // (follower, signal, rows it must have printed): those in `quiet` see
    // no event, and print nothing, not even a header.
    let mut followers = vec![
        (Follower::spawn(portwatch_in(&quiet, &["-E"])), SIGINT, 0),
        (Follower::spawn(portwatch_in(&quiet, &["-E", "--json"])), SIGTERM, 0),
        (Follower::spawn(portwatch_in(&netns, &["-E", "-n"])), SIGTERM, EVENTS),
        (Follower::spawn(portwatch_in(&netns, &["-E", "-n", "--json"])), SIGINT, EVENTS),
    ];
    wait_for_subscribers(&quiet, 2);
    wait_for_subscribers(&netns, 2);
    open_and_close_sockets(&netns);
    followers[2].0.wait_for_lines(1 + EVENTS);
    followers[3].0.wait_for_lines(EVENTS);
    for (follower, signal, rows) in &mut followers {
        follower.signal(*signal);
        let status = follower.wait();
        assert_eq!(status.code(), Some(0), "after {signal:?}: {}", follower.errors());
        assert_eq!(follower.errors(), "", "after {signal:?}");
        let output = follower.output();
        let data_lines = output.lines().filter(|l| !l.starts_with("Netid")).count();
        assert_eq!(data_lines, *rows, "after {signal:?}, every row was out: {output}");
        assert!(output.is_empty() || output.ends_with('\n'), "{output}");
    }
}

#[test]
fn events_into_head_end_without_an_error() {
    const TEST: &str = "events_into_head_end_without_an_error";
    if skip_unless_root(TEST) {
        return;
    }
    let netns = Netns::new("ev-head-pipe");
    for format in ["--format=ss", "--json"] {
        // portwatch's own status and stderr, after head has gone.
        let script = format!(
            "{BIN} -E -n {format} 2>/tmp/pw-ev-head-$$.err | head -n1; \
             echo \"status=${{PIPESTATUS[0]}}\"; cat /tmp/pw-ev-head-$$.err; rm -f /tmp/pw-ev-head-$$.err"
        );
        let mut command = netns.command("bash");
        command.args(["-c", &script]);
        let mut pipeline = Follower::spawn(command);
        wait_for_subscribers(&netns, 1);
        open_and_close_sockets(&netns);
        let status = pipeline.wait();
        assert!(status.success(), "{}", pipeline.errors());
        let output = pipeline.output();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2, "one row from head, then portwatch's status: {output}");
        assert_eq!(lines[1], "status=0", "{output}");
        assert_eq!(pipeline.errors(), "");
    }
}

#[test]
fn events_refuse_what_they_cannot_follow() {
    for (args, wanted) in [
        (&["-E", "-x"][..], "TCP and UDP sockets only"),
        (&["-E", "--format", "netstat"][..], "-E prints ss's table or JSON Lines"),
        (&["-E", "--from", "x.pwdump"][..], "cannot be used with"),
        (&["-E", "-K", "dport = :1"][..], "cannot be used with"),
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// The sockets the option tests list, kept open while they run: a TCP
/// listener with one connection whose client sets IP_TOS, an IPv6 UDP
/// socket with a traffic class and IP_FREEBIND, and an IPv6 TCP listener.
fn open_option_load(netns: &Netns) -> Vec<Box<dyn std::any::Any + Send>> {
    netns.within(|| {
        use nix::sys::socket::{setsockopt, sockopt};
        let listener = TcpListener::bind("127.0.0.1:7101").unwrap();
        let client = TcpStream::connect("127.0.0.1:7101").unwrap();
        let (server, _) = listener.accept().unwrap();
        setsockopt(&client, sockopt::Ipv4Tos, &0x10).unwrap();
        let udp = UdpSocket::bind("[::1]:7102").unwrap();
        setsockopt(&udp, sockopt::Ipv6TClass, &0x20).unwrap();
        setsockopt(&udp, sockopt::IpFreebind, &true).unwrap();
        let listener6 = TcpListener::bind("[::1]:7103").unwrap();
        let load: Vec<Box<dyn std::any::Any + Send>> = vec![
            Box::new(listener),
            Box::new(client),
            Box::new(server),
            Box::new(udp),
            Box::new(listener6),
        ];
        load
    })
}

/// Runs `program ARGS` inside the namespace and returns its stdout.
fn output_in(netns: &Netns, program: &str, args: &[&str]) -> String {
    let output = netns.command(program).args(args).output().expect(program);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Each command line, in portwatch and in ss, compared as [`comparable`].
fn assert_same_as_ss(netns: &Netns, command_lines: &[&[&str]]) {
    for args in command_lines {
        let portwatch = comparable(&output_in(netns, BIN, args));
        let ss = comparable(&output_in(netns, "ss", args));
        assert_eq!(portwatch, ss, "portwatch {args:?} differs from ss");
    }
}

#[test]
fn tos_cgroup_and_inet_sockopt_match_ss() {
    const TEST: &str = "tos_cgroup_and_inet_sockopt_match_ss";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    let netns = Netns::new("sockopt");
    let _load = open_option_load(&netns);
    assert_same_as_ss(
        &netns,
        &[
            &["-tuan", "--tos"],
            &["-tan", "--tos", "sport = :7101"],
            &["-tuln6", "--tos"],
            &["-tuan", "--cgroup"],
            &["-tuan", "--inet-sockopt"],
            &["-tuanO", "--inet-sockopt"],
            &["-uan", "--inet-sockopt", "--tos"],
            &["-tuan", "--tos", "--cgroup", "--inet-sockopt"],
            &["-tuanO", "--tos", "--cgroup", "--inet-sockopt"],
            &["-tuanp", "--tos"],
        ],
    );
    let tos = output_in(&netns, BIN, &["-tn", "--tos", "dport = :7101"]);
    assert!(tos.contains(" tos:0x10 class_id:0x6"), "the client's IP_TOS: {tos}");
    let udp = output_in(&netns, BIN, &["-un", "-a", "--tos", "--inet-sockopt"]);
    assert!(udp.contains("tclass:0x20"), "{udp}");
    assert!(udp.contains("\n\tinet-sockopt: ( freebind mc_loop)"), "{udp}");
}

#[test]
fn cgroup_paths_below_the_cgroup2_mount_match_ss() {
    const TEST: &str = "cgroup_paths_below_the_cgroup2_mount_match_ss";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    // In the host's mount namespace (`ip netns exec` remounts /sys, which
    // hides the cgroup2 mount), on a listener of this test's own.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let filter = format!("sport = :{}", listener.local_addr().unwrap().port());
    for args in [["-tln", "--cgroup"], ["-tlnO", "--cgroup"]] {
        let run = |program: &str| {
            let output = Command::new(program).args(args).arg(&filter).output().unwrap();
            assert!(output.status.success(), "{program}");
            comparable(&String::from_utf8_lossy(&output.stdout))
        };
        let (portwatch, ss) = (run(BIN), run("ss"));
        assert_eq!(portwatch, ss, "portwatch {args:?} differs from ss");
        assert!(portwatch.contains(" cgroup:"), "{portwatch}");
    }
}

#[test]
fn tos_cgroup_and_inet_sockopt_in_json_only_when_asked() {
    const TEST: &str = "tos_cgroup_and_inet_sockopt_in_json_only_when_asked";
    if skip_unless_root(TEST) {
        return;
    }
    let netns = Netns::new("sockopt-json");
    let _load = open_option_load(&netns);
    let rows = |args: &[&str]| -> Vec<serde_json::Value> {
        serde_json::from_str(&output_in(&netns, BIN, args)).unwrap()
    };
    let plain = rows(&["-tua", "--json"]);
    for key in ["tos", "tclass", "class_id", "cgroup", "inet_sockopt"] {
        assert!(plain.iter().all(|row| row.get(key).is_none()), "{key} without its option");
    }
    let asked = rows(&["-tua", "--json", "--tos", "--cgroup", "--inet-sockopt"]);
    let udp = asked.iter().find(|row| row["netid"] == "udp").unwrap();
    assert_eq!((udp["tos"].as_u64(), udp["tclass"].as_u64()), (Some(0), Some(0x20)));
    assert_eq!(udp["class_id"], 0);
    assert_eq!(udp["cgroup"], "unreachable:1", "no cgroup2 mount under ip netns exec");
    assert_eq!(udp["inet_sockopt"]["freebind"], true);
    assert_eq!(udp["inet_sockopt"]["is_icsk"], false);
    let client = asked.iter().find(|row| row["peer"]["port"] == 7101).unwrap();
    assert_eq!(client["tos"], 0x10);
    assert!(client.get("tclass").is_none(), "IPv4 sockets have no traffic class");
}

/// Not a test: the process `-T` lists, started by
/// `threads_match_ss` from this binary. It holds a TCP listener on
/// 127.0.0.1:7201 in the namespace it was started in, with two named
/// threads, says `ready`, and ends when its standard input closes.
#[test]
#[ignore = "a helper process for threads_match_ss"]
fn thread_helper() {
    if std::env::var_os("PW_THREAD_HELPER").is_none() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:7201").unwrap();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let wait = Arc::new(Mutex::new(wait));
    let threads: Vec<_> = ["pw-helper-a", "pw-helper-b"]
        .into_iter()
        .map(|name| {
            let wait = wait.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let _ = wait.lock().unwrap().recv();
                })
                .unwrap()
        })
        .collect();
    println!("ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(done);
    for thread in threads {
        let _ = thread.join();
    }
    drop(listener);
}

#[test]
fn threads_match_ss() {
    const TEST: &str = "threads_match_ss";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    let netns = Netns::new("threads");
    let exe = std::env::current_exe().unwrap();
    let mut helper = netns.command(exe.to_str().unwrap());
    helper
        .args(["--ignored", "--exact", "thread_helper", "--nocapture", "--test-threads=1"])
        .env("PW_THREAD_HELPER", "1")
        .stdin(Stdio::piped());
    let mut helper = Follower::spawn_with_stdin(&mut helper);
    let deadline = Instant::now() + PATIENCE;
    while !helper.output().lines().any(|line| line.ends_with("ready")) {
        assert!(Instant::now() < deadline, "the helper did not start: {}", helper.errors());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_same_as_ss(
        &netns,
        &[&["-tlnT", "sport = :7201"], &["-tlnpT", "sport = :7201"], &["-tlnp", "sport = :7201"]],
    );
    let text = output_in(&netns, BIN, &["-tlnT", "sport = :7201"]);
    for name in ["pw-helper-a", "pw-helper-b"] {
        assert!(text.contains(&format!("(\"{name}\",pid=")), "{name} in {text}");
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&output_in(&netns, BIN, &["-tlT", "--json", "sport = :7201"]))
            .unwrap();
    let holder = &rows[0]["processes"][0];
    let threads = holder["threads"].as_array().unwrap();
    assert!(threads.len() >= 3, "main and two named threads: {threads:?}");
    assert_eq!(threads[0]["tid"], holder["pid"], "the main thread first, by tid");
    let plain: Vec<serde_json::Value> =
        serde_json::from_str(&output_in(&netns, BIN, &["-tlp", "--json", "sport = :7201"]))
            .unwrap();
    assert!(plain[0]["processes"][0].get("threads").is_none(), "threads only with -T");
    helper.close_stdin();
    assert!(helper.wait().success());
}

#[test]
fn contexts_without_selinux_end_as_ss_does() {
    const TEST: &str = "contexts_without_selinux_end_as_ss_does";
    if skip_without_tool("ss", TEST) {
        return;
    }
    let selinux = std::fs::read_to_string("/proc/mounts").unwrap().contains(" selinuxfs ");
    if selinux {
        assert!(std::env::var_os("CI").is_none(), "{TEST} expects a host without SELinux");
        eprintln!("skipping {TEST}: SELinux is mounted here");
        return;
    }
    for flag in ["-Z", "-z", "-tlZ", "--context", "--contexts"] {
        let ss = Command::new("ss").arg(flag).output().unwrap();
        let portwatch = Command::new(BIN).arg(flag).output().unwrap();
        let ss_error = String::from_utf8_lossy(&ss.stderr);
        let error = String::from_utf8_lossy(&portwatch.stderr);
        assert_eq!(ss_error, "ss: SELinux is not enabled.\n", "{flag}");
        assert_eq!(error, "portwatch: SELinux is not enabled.\n", "{flag}: ss's words");
        assert!(ss.stdout.is_empty() && portwatch.stdout.is_empty(), "{flag}");
        assert_eq!(ss.status.code(), Some(1), "{flag}");
        assert_eq!(portwatch.status.code(), Some(2), "{flag}: portwatch's error status");
    }
}

/// A keepalive timer's figures count down between the two runs.
fn masked_timers(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once("timer:(") {
            Some((before, after)) => {
                let name = after.split(',').next().unwrap_or_default();
                let rest = after.split_once(')').map_or("", |(_, rest)| rest);
                format!("{before}timer:({name},*){rest}\n")
            }
            None => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn bpf_on_tcp_and_udp_matches_ss() {
    const TEST: &str = "bpf_on_tcp_and_udp_matches_ss";
    if skip_unless_root(TEST) || skip_without_tool("ss", TEST) {
        return;
    }
    // No TCP or UDP socket has a filter ss prints (ss -b prints packet
    // sockets' only), but -b turns on -o's timers: a keepalive shows one.
    let netns = Netns::new("bpf");
    let _load = netns.within(|| {
        use nix::sys::socket::{setsockopt, sockopt};
        let listener = TcpListener::bind("127.0.0.1:7301").unwrap();
        let client = TcpStream::connect("127.0.0.1:7301").unwrap();
        setsockopt(&client, sockopt::KeepAlive, &true).unwrap();
        let (server, _) = listener.accept().unwrap();
        let udp = UdpSocket::bind("[::1]:7302").unwrap();
        (listener, client, server, udp)
    });
    for args in [&["-tuanb"][..], &["-tuanbO"], &["-tanb", "--bpf"], &["-tlnb"], &["-uanb"]] {
        let portwatch = masked_timers(&comparable(&output_in(&netns, BIN, args)));
        let ss = masked_timers(&comparable(&output_in(&netns, "ss", args)));
        assert_eq!(portwatch, ss, "portwatch {args:?} differs from ss");
    }
    let text = output_in(&netns, BIN, &["-tanb"]);
    assert!(text.contains("timer:(keepalive,"), "{text}");
}
