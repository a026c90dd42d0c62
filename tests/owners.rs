//! Process attribution: child processes of the test's own listen, and
//! portwatch must name them (pid, fd, name, command line, user) in JSON and
//! in the ss, netstat and lsof views, as root and as an unprivileged user.
//!
//! The children are this test binary again, run through `child_entry`
//! under names the tests choose (a symlink's name becomes the comm).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{BIN, Netns, json_rows, skip_unless_root, stdout_of};
use serde_json::{Value, json};

const SPEC: &str = "PORTWATCH_TEST_CHILD";
/// The child's comm in hex, when it should be set after start.
const COMM_HEX: &str = "PORTWATCH_TEST_COMM_HEX";

/// The body of the child processes: opens the sockets `PORTWATCH_TEST_CHILD`
/// names (`tcp4`, `tcp6`, `udp4`, `udp6`, each with an optional `:PORT`;
/// `share` hands the first socket to a `sleep` child too), reports them on
/// one `PWCHILD {json}` line, and holds them until stdin closes.
#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(spec) = std::env::var(SPEC) else { return };
    if let Ok(hex) = std::env::var(COMM_HEX) {
        // A comm that is not UTF-8: set here, as libtest refuses such an argv[0].
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
            .collect();
        // /proc/self/comm names the process (its main thread), not this test's thread.
        std::fs::write("/proc/self/comm", bytes).unwrap();
    }
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut sockets = Vec::new();
    let mut sharer = None;
    for item in spec.split(',') {
        if let Some(path) = item.strip_prefix("ustream:") {
            let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
            sockets.push(json!({"kind": "ustream", "fd": listener.as_raw_fd(), "port": 0}));
            held.push(OwnedFd::from(listener));
            continue;
        }
        if let Some(name) = item.strip_prefix("udgram:@") {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
            let socket = std::os::unix::net::UnixDatagram::bind_addr(&address).unwrap();
            sockets.push(json!({"kind": "udgram", "fd": socket.as_raw_fd(), "port": 0}));
            held.push(OwnedFd::from(socket));
            continue;
        }
        let (kind, port) = item.split_once(':').unwrap_or((item, "0"));
        let port: u16 = port.parse().unwrap();
        let (socket, local) = match kind {
            "tcp4" => listen(TcpListener::bind(("127.0.0.1", port)).unwrap()),
            "tcp6" => listen(TcpListener::bind(("::1", port)).unwrap()),
            "udp4" => bound(UdpSocket::bind(("127.0.0.1", port)).unwrap()),
            "udp6" => bound(UdpSocket::bind(("::1", port)).unwrap()),
            "share" => {
                // Let the first socket survive exec, so that `sleep` holds it too.
                let flags = nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty());
                nix::fcntl::fcntl(&held[0], flags).unwrap();
                let child = Command::new("sleep").arg("600").stdin(Stdio::null()).spawn().unwrap();
                sharer = Some(child);
                continue;
            }
            other => panic!("unknown socket kind {other}"),
        };
        sockets.push(json!({"kind": kind, "fd": socket.as_raw_fd(), "port": local}));
        held.push(socket);
    }
    let report = json!({
        "pid": std::process::id(),
        "sockets": sockets,
        "sharer": sharer.as_ref().map(Child::id),
    });
    println!("PWCHILD {report}");
    let _ = std::io::stdin().read_line(&mut String::new());
    if let Some(mut sleep) = sharer {
        let _ = sleep.kill();
        let _ = sleep.wait();
    }
}

fn listen(listener: TcpListener) -> (OwnedFd, u16) {
    let port = listener.local_addr().unwrap().port();
    (OwnedFd::from(listener), port)
}

fn bound(socket: UdpSocket) -> (OwnedFd, u16) {
    let port = socket.local_addr().unwrap().port();
    (OwnedFd::from(socket), port)
}

/// Spawns a program that was just copied. Another test thread may fork
/// while the copy's write descriptor is open, and until that child execs,
/// exec of the copy fails with ETXTBSY: wait and try again.
fn spawn_copied(command: &mut Command) -> Child {
    for _ in 0..50 {
        match command.spawn() {
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
    panic!("{command:?} stayed busy");
}

/// A running child: its report, and the process to end on drop.
struct Holder {
    process: Child,
    report: Value,
}

impl Holder {
    /// Runs this test binary as `program` (a symlink to it, whose name
    /// becomes the comm), in `netns` when given.
    fn spawn(program: &Path, spec: &str, netns: Option<&Netns>) -> Holder {
        Holder::spawn_with(program, spec, netns, &[])
    }

    fn spawn_with(
        program: &Path,
        spec: &str,
        netns: Option<&Netns>,
        env: &[(&str, &str)],
    ) -> Holder {
        let args = ["--ignored", "--exact", "child_entry", "--nocapture", "--test-threads=1"];
        let mut command = match netns {
            Some(netns) => {
                let mut command = netns.command(program.to_str().unwrap());
                command.args(args);
                command
            }
            None => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
        };
        command.env(SPEC, spec).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        command.envs(env.iter().copied());
        let mut process = spawn_copied(&mut command);
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // libtest prints `test child_entry ... ` before the report, on its line.
            let report = stdout.lines().map_while(Result::ok).find_map(|line| {
                let (_, report) = line.split_once("PWCHILD ")?;
                serde_json::from_str::<Value>(report).ok()
            });
            let _ = sender.send(report);
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(report)) => Holder { process, report },
            _ => {
                let _ = process.kill();
                panic!("the child process did not report within 30 s");
            }
        }
    }

    fn pid(&self) -> u64 {
        self.report["pid"].as_u64().unwrap()
    }

    fn socket(&self, kind: &str) -> (u64, u64) {
        let socket = self.report["sockets"].as_array().unwrap().iter().find(|s| s["kind"] == kind);
        let socket = socket.unwrap_or_else(|| panic!("no {kind} in {}", self.report));
        (socket["port"].as_u64().unwrap(), socket["fd"].as_u64().unwrap())
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.process.stdin.take());
        let _ = self.process.wait();
    }
}

/// A directory with symlinks to this test binary under chosen names.
struct Names {
    dir: tempfile::TempDir,
}

impl Names {
    fn new() -> Names {
        Names { dir: tempfile::tempdir().unwrap() }
    }

    fn program(&self, name: &str) -> PathBuf {
        let link = self.dir.path().join(name);
        std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &link).unwrap();
        link
    }
}

fn row_for<'a>(rows: &'a [Value], netid: &str, family: &str, port: u64) -> &'a Value {
    rows.iter()
        .find(|r| r["netid"] == netid && r["family"] == family && r["local"]["port"] == port)
        .unwrap_or_else(|| panic!("no {netid}/{family} socket on port {port}"))
}

fn my_user() -> (u64, String) {
    let uid = nix::unistd::geteuid();
    let user = nix::unistd::User::from_uid(uid).unwrap().map(|u| u.name).unwrap_or_default();
    (u64::from(uid.as_raw()), user)
}

#[test]
fn json_names_pid_fd_name_cmdline_and_user_for_every_kind_of_socket() {
    let names = Names::new();
    let program = names.program("pw-owner-test");
    let child = Holder::spawn(&program, "tcp4,tcp6,udp4,udp6", None);
    let rows = json_rows(&["-tuanp", "--json"]);
    let (uid, user) = my_user();
    for (kind, netid, family) in [
        ("tcp4", "tcp", "inet"),
        ("tcp6", "tcp", "inet6"),
        ("udp4", "udp", "inet"),
        ("udp6", "udp", "inet6"),
    ] {
        let (port, fd) = child.socket(kind);
        let row = row_for(&rows, netid, family, port);
        assert_eq!(row["owner_visible"], true);
        let processes = row["processes"].as_array().unwrap();
        assert_eq!(processes.len(), 1, "{kind}: {row}");
        let process = &processes[0];
        assert_eq!(process["pid"], child.pid());
        assert_eq!(process["fd"], fd);
        assert_eq!(process["name"], "pw-owner-test");
        assert_eq!(process["uid"], uid);
        assert_eq!(process["user"], user.as_str());
        let cmdline = process["cmdline"].as_str().unwrap();
        assert!(cmdline.starts_with(program.to_str().unwrap()), "{cmdline}");
        assert!(cmdline.ends_with("child_entry --nocapture --test-threads=1"), "{cmdline}");
        assert_eq!(process["argv"][0], program.to_str().unwrap());
        assert_eq!(process["exe"], std::env::current_exe().unwrap().to_str().unwrap());
        assert_eq!(process["exe_deleted"], false);
    }
    let without = json_rows(&["-tuan", "--json"]);
    assert!(
        without.iter().all(|r| r.get("processes").is_none() && r.get("owner_visible").is_none())
    );
    let (port, _) = child.socket("tcp4");
    let time_wait_free = json_rows(&["-tanp", "--json", "state", "listening"]);
    assert!(time_wait_free.iter().any(|r| r["local"]["port"] == port));
}

#[test]
fn a_socket_shared_after_fork_lists_both_processes_in_every_view() {
    let names = Names::new();
    let child = Holder::spawn(&names.program("pw-fork-test"), "tcp4,share", None);
    let sleep_pid = child.report["sharer"].as_u64().unwrap();
    let (port, fd) = child.socket("tcp4");
    let rows = json_rows(&["-tlnp", "--json"]);
    let holders: Vec<(u64, u64, String)> = row_for(&rows, "tcp", "inet", port)["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["pid"].as_u64().unwrap(), p["fd"].as_u64().unwrap(), p["name"].to_string()))
        .collect();
    let mut expected = vec![
        (child.pid(), fd, "\"pw-fork-test\"".to_string()),
        (sleep_pid, fd, "\"sleep\"".to_string()),
    ];
    expected.sort();
    assert_eq!(holders, expected, "both holders, in pid order");

    let ss_view = stdout_of(&["-tlnp"]);
    let line = ss_view.lines().find(|l| l.contains(&format!("127.0.0.1:{port} "))).unwrap();
    let users = format!(
        "users:((\"{}\",pid={},fd={fd}),(\"{}\",pid={},fd={fd}))",
        expected[0].2.trim_matches('"'),
        expected[0].0,
        expected[1].2.trim_matches('"'),
        expected[1].0
    );
    assert!(line.ends_with(&users), "{line}\nexpected {users}");

    let netstat = stdout_of(&["-tlnp", "--format", "netstat"]);
    assert!(netstat.starts_with("Active Internet connections (only servers)\nProto Recv-Q Send-Q"));
    let line = netstat.lines().find(|l| l.contains(&format!("127.0.0.1:{port} "))).unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[0], "tcp");
    assert_eq!(fields[5], "LISTEN");
    assert_eq!(fields[6], format!("{}/{}", expected[0].0, expected[0].2.trim_matches('"')));

    let lsof = stdout_of(&["-tln", "--format", "lsof"]);
    assert!(lsof.starts_with("COMMAND"), "{lsof}");
    let rows: Vec<Vec<&str>> = lsof
        .lines()
        .filter(|l| l.ends_with(&format!("127.0.0.1:{port} (LISTEN)")))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "one row per process and descriptor: {lsof}");
    let (_, user) = my_user();
    for (row, (pid, fd, name)) in rows.iter().zip(&expected) {
        let inode =
            row_for(&json_rows(&["-tln", "--json"]), "tcp", "inet", port)["inode"].to_string();
        assert_eq!(
            row[..8],
            [
                name.trim_matches('"'),
                &pid.to_string(),
                &user,
                &format!("{fd}u"),
                "IPv4",
                &inode,
                "0t0",
                "TCP"
            ]
        );
    }
}

#[test]
fn a_name_longer_than_15_characters_is_whole_with_wide() {
    let names = Names::new();
    let long = "portwatch-test-owner-with-a-long-name";
    let child = Holder::spawn(&names.program(long), "tcp4", None);
    let (port, _) = child.socket("tcp4");
    let rows = json_rows(&["-tlnp", "--json"]);
    let process = &row_for(&rows, "tcp", "inet", port)["processes"][0];
    assert_eq!(process["name"], &long[..15], "comm is cut at 15 bytes by the kernel");
    assert!(process["cmdline"].as_str().unwrap().contains(long));
    let narrow = stdout_of(&["-tlnp"]);
    assert!(narrow.contains(&format!("((\"{}\",pid={}", &long[..15], child.pid())));
    let wide = stdout_of(&["-tlnpW"]);
    let line = wide.lines().find(|l| l.contains(&format!(":{port} "))).unwrap();
    assert!(
        line.contains(&format!("users:((\"{}", names.dir.path().join(long).display())),
        "{line}"
    );
    let netstat = stdout_of(&["-tlnpW", "--format", "netstat"]);
    assert!(netstat.contains(&format!(
        "{}/{}",
        child.pid(),
        names.dir.path().join(long).display()
    )));
}

#[test]
fn a_hostile_name_is_escaped_on_the_terminal_and_exact_in_json() {
    let names = Names::new();
    let hostile = "pw (x)\ny z";
    let child = Holder::spawn(&names.program(hostile), "tcp4", None);
    let (port, _) = child.socket("tcp4");
    let rows = json_rows(&["-tlnp", "--json"]);
    assert_eq!(row_for(&rows, "tcp", "inet", port)["processes"][0]["name"], hostile);
    for args in [&["-tlnp"][..], &["-tlnp", "--format", "netstat"], &["-tln", "--format", "lsof"]] {
        let table = stdout_of(args);
        let lines: Vec<&str> = table.lines().filter(|l| l.contains(&format!(":{port}"))).collect();
        assert_eq!(lines.len(), 1, "{args:?}: the name must not break the line: {table}");
        assert!(lines[0].contains("pw (x)\\ny z"), "{args:?}: {}", lines[0]);
    }
    let who = Command::new(BIN).args(["who", &format!(":{port}")]).output().unwrap();
    let who = String::from_utf8(who.stdout).unwrap();
    assert_eq!(who.lines().count(), 2, "{who}");
    assert!(who.contains("pw (x)\\ny z"));
}

/// The holders in ss's `users:(("NAME",pid=N,fd=M),...)`, reading the
/// quoted names with their backslash escapes as a script would.
fn parse_users(line: &str) -> Vec<(String, u64, u64)> {
    let mut rest = line.split_once("users:(").expect("a users cell").1;
    let mut holders = Vec::new();
    while let Some(after) = rest.strip_prefix("(\"") {
        let mut name = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => name.push(chars.next().expect("an escaped character").1),
                (at, '"') => break at,
                (_, c) => name.push(c),
            }
        };
        let fields = &after[end + 1..];
        let numbers: Vec<u64> = fields
            .split(')')
            .next()
            .unwrap()
            .split(',')
            .filter_map(|field| field.split_once('=').map(|(_, n)| n.parse().unwrap()))
            .collect();
        holders.push((name, numbers[0], numbers[1]));
        rest = fields.split_once(')').unwrap().1.trim_start_matches(',');
    }
    holders
}

#[test]
fn a_name_with_quotes_cannot_forge_the_pid_in_ss_users() {
    let names = Names::new();
    let forged = "x\",pid=1,fd=9";
    let child = Holder::spawn(&names.program(forged), "tcp4", None);
    let (port, fd) = child.socket("tcp4");
    let table = stdout_of(&["-tlnpH", &format!("sport = :{port}")]);
    let line = table.lines().next().unwrap();
    assert!(line.contains(r#"("x\",pid=1,fd=9","#), "{line}");
    assert_eq!(parse_users(line), [(forged.to_owned(), child.pid(), fd)], "{line}");
    let backslash = "pw\\\"";
    let child = Holder::spawn(&names.program(backslash), "tcp4", None);
    let (port, fd) = child.socket("tcp4");
    let table = stdout_of(&["-tlnpH", &format!("sport = :{port}")]);
    assert_eq!(
        parse_users(table.lines().next().unwrap()),
        [(backslash.to_owned(), child.pid(), fd)]
    );
}

#[test]
fn bidirectional_and_c1_controls_are_escaped_like_other_controls() {
    let names = Names::new();
    let hostile = "a\u{202e}b\u{9b}c\x1bd";
    let child = Holder::spawn(&names.program(hostile), "tcp4", None);
    let (port, _) = child.socket("tcp4");
    let shown = "a\\u{202e}b\\u{9b}c\\u{1b}d";
    for args in [&["-tlnp"][..], &["-tlnp", "--format", "netstat"], &["-tln", "--format", "lsof"]] {
        let table = stdout_of(args);
        let line = table.lines().find(|l| l.contains(&format!(":{port}"))).unwrap();
        assert!(line.contains(shown), "{args:?}: {line}");
        assert!(!line.contains(['\u{202e}', '\u{9b}', '\x1b']), "{args:?}: {line:?}");
    }
    let who = stdout_of(&["who", &format!(":{port}")]);
    assert!(who.contains(shown) && !who.contains('\u{202e}'), "{who:?}");
    let rows = json_rows(&["-tlnp", "--json"]);
    assert_eq!(
        row_for(&rows, "tcp", "inet", port)["processes"][0]["name"],
        hostile,
        "exact in JSON"
    );
}

#[test]
fn a_name_that_is_not_utf8_is_kept_exactly_in_json() {
    let names = Names::new();
    let program = names.program("pw-not-utf8");
    let child = Holder::spawn_with(&program, "tcp4", None, &[(COMM_HEX, "7077fffe71")]);
    let (port, _) = child.socket("tcp4");
    let rows = json_rows(&["-tlnp", "--json"]);
    let process = &row_for(&rows, "tcp", "inet", port)["processes"][0];
    assert_eq!(process["name"], "pw\u{fffd}\u{fffd}q");
    assert_eq!(process["name_hex"], "7077fffe71");
    assert!(process.get("argv_hex").is_none() && process.get("exe_hex").is_none(), "{process}");
    let socket: portwatch::model::Socket =
        serde_json::from_value(row_for(&rows, "tcp", "inet", port).clone()).unwrap();
    let holder = &socket.holders()[0];
    assert_eq!(holder.process.name.as_ref().unwrap().as_bytes(), b"pw\xff\xfeq");
}

#[test]
fn who_answers_by_port_by_pid_and_by_name() {
    let names = Names::new();
    let child = Holder::spawn(&names.program("pw-who-test"), "tcp4,udp6", None);
    let (tcp_port, tcp_fd) = child.socket("tcp4");
    let (udp_port, _) = child.socket("udp6");
    for target in [format!(":{tcp_port}"), tcp_port.to_string()] {
        let output = Command::new(BIN).args(["who", &target, "--json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{target}");
        let groups: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(groups.len(), 1, "{target}: {groups:?}");
        assert_eq!(groups[0]["process"]["pid"], child.pid());
        assert_eq!(groups[0]["sockets"][0]["fd"], tcp_fd);
        assert_eq!(groups[0]["sockets"][0]["local"]["port"], tcp_port);
    }
    for target in [format!("pid={}", child.pid()), "pw-who-test".into(), "comm=pw-who-test".into()]
    {
        let output = Command::new(BIN).args(["who", &target, "--json"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{target}");
        let groups: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(groups.len(), 1, "{target}");
        let mut ports: Vec<u64> = groups[0]["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["local"]["port"].as_u64().unwrap())
            .collect();
        ports.sort();
        let mut expected = vec![tcp_port, udp_port];
        expected.sort();
        assert_eq!(ports, expected, "{target}");
    }
    let filtered = Command::new(BIN)
        .args(["who", &format!("pid={}", child.pid()), "--json", &format!("sport = :{udp_port}")])
        .output()
        .unwrap();
    let groups: Vec<Value> = serde_json::from_slice(&filtered.stdout).unwrap();
    assert_eq!(groups[0]["sockets"].as_array().unwrap().len(), 1, "a filter narrows who too");
    assert_eq!(groups[0]["sockets"][0]["netid"], "udp");
    let table = Command::new(BIN).args(["who", &format!(":{tcp_port}")]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("PID"), "{table}");
    let fields: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        fields[..5],
        [&child.pid().to_string(), &my_user().1, "pw-who-test", &tcp_fd.to_string(), "tcp"]
    );
}

#[test]
fn who_exits_1_when_nothing_matches_and_2_on_a_bad_target() {
    let output = Command::new(BIN).args(["who", "pid=999999999"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let output =
        Command::new(BIN).args(["who", "no-such-process-name-here", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"[]\n");
    let output = Command::new(BIN).args(["who", ":http-ish"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "portwatch: who: unknown service 'http-ish' in ':http-ish'\n");
}

#[test]
fn who_by_service_name_in_a_namespace() {
    if skip_unless_root("who_by_service_name_in_a_namespace") {
        return;
    }
    let netns = Netns::new("who");
    let names = Names::new();
    let child = Holder::spawn(&names.program("pw-ssh-test"), "tcp4:22", Some(&netns));
    let output = netns.command(BIN).args(["who", "ssh", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let groups: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["process"]["pid"], child.pid());
    assert_eq!(groups[0]["sockets"][0]["local"]["service"], "ssh");
    let output = netns.command(BIN).args(["who", "domain"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "nothing listens on 53 in the namespace");
}

#[test]
fn pids_equal_ss_pids_for_own_sockets() {
    let names = Names::new();
    let first = Holder::spawn(&names.program("pw-diff-a"), "tcp4,tcp6,share", None);
    let second = Holder::spawn(&names.program("pw-diff-b"), "tcp4", None);
    let ss = Command::new("ss").args(["-tanpH"]).output().unwrap();
    let ss = common::text(&ss.stdout);
    let rows = json_rows(&["-tanp", "--json"]);
    for (holder, kind, family) in
        [(&first, "tcp4", "inet"), (&first, "tcp6", "inet6"), (&second, "tcp4", "inet")]
    {
        let (port, _) = holder.socket(kind);
        let mut ours: Vec<u64> = row_for(&rows, "tcp", family, port)["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect();
        ours.sort();
        let line = ss
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|local| local.ends_with(&format!(":{port}")))
            })
            .unwrap_or_else(|| panic!("ss has no row for port {port}"));
        let mut theirs: Vec<u64> = line
            .split("pid=")
            .skip(1)
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .collect();
        theirs.sort();
        assert_eq!(ours, theirs, "port {port}: {line}");
    }
}

#[test]
fn an_unprivileged_user_sees_sockets_but_not_roots_owners_and_one_hint() {
    if skip_unless_root("an_unprivileged_user_sees_sockets_but_not_roots_owners_and_one_hint") {
        return;
    }
    let names = Names::new();
    let child = Holder::spawn(&names.program("pw-root-owned"), "tcp4,udp4", None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("portwatch");
    std::fs::copy(BIN, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(&copy);
    command.args(["-tuanp", "--json"]).uid(65534).gid(65534).current_dir("/");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let output = spawn_copied(&mut command).wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    for kind in ["tcp4", "udp4"] {
        let (port, _) = child.socket(kind);
        let row = row_for(&rows, &kind[..3], "inet", port);
        assert_eq!(row["processes"], json!([]), "{kind}");
        assert_eq!(row["owner_visible"], false, "{kind}");
        assert!(row["inode"].is_u64(), "sock_diag still reports the inode");
    }
    let stderr = String::from_utf8(output.stderr).unwrap();
    let hints: Vec<&str> = stderr.lines().filter(|l| l.contains("CAP_SYS_PTRACE")).collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    assert!(hints[0].contains("run as root"), "{stderr}");
    let as_root = json_rows(&["-tuanp", "--json"]);
    let (port, _) = child.socket("tcp4");
    assert_eq!(row_for(&as_root, "tcp", "inet", port)["processes"][0]["pid"], child.pid());
}

#[test]
fn a_deleted_binary_is_reported_without_the_kernels_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("pw-upgraded");
    std::fs::copy(std::env::current_exe().unwrap(), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = Holder::spawn(&binary, "tcp4", None);
    std::fs::remove_file(&binary).unwrap();
    let (port, _) = child.socket("tcp4");
    let rows = json_rows(&["-tlnp", "--json"]);
    let process = &row_for(&rows, "tcp", "inet", port)["processes"][0];
    assert_eq!(process["exe"], binary.to_str().unwrap());
    assert_eq!(process["exe_deleted"], true);
}

/// Runs an `--all-netns` listing as root. A sandbox may hide some process's
/// namespace even from root (its pid 1 here): then portwatch says so and
/// exits 3, which these tests accept; any other warning fails them.
fn all_namespaces_output(args: &[&str]) -> Vec<u8> {
    let output = Command::new(BIN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let only_hidden_processes = stderr.lines().all(|line| {
        line.contains("could not be read (permission denied)")
            || line.contains("are hidden from this user")
    });
    match output.status.code() {
        Some(0) => assert_eq!(stderr, "", "{args:?}"),
        Some(3) => assert!(only_hidden_processes, "{args:?}: {stderr}"),
        other => panic!("{args:?} exited {other:?}: {stderr}"),
    }
    output.stdout
}

fn all_namespaces_json(args: &[&str]) -> Vec<Value> {
    serde_json::from_slice(&all_namespaces_output(args)).unwrap()
}

fn all_namespaces_text(args: &[&str]) -> String {
    String::from_utf8(all_namespaces_output(args)).unwrap()
}

#[test]
fn one_namespace_by_name_and_every_namespace_at_once() {
    if skip_unless_root("one_namespace_by_name_and_every_namespace_at_once") {
        return;
    }
    let (first, second) = (Netns::new("nsa"), Netns::new("nsb"));
    let names = Names::new();
    let a = Holder::spawn(&names.program("pw-in-nsa"), "tcp4:7001", Some(&first));
    let b = Holder::spawn(&names.program("pw-in-nsb"), "tcp4:7002", Some(&second));
    let host_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = u64::from(host_listener.local_addr().unwrap().port());

    let only_first = json_rows(&["-N", &first.name, "-tln", "--json"]);
    let ports: Vec<u64> = only_first.iter().map(|r| r["local"]["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [7001], "-N lists that namespace alone");

    let everything = all_namespaces_json(&["--all-netns", "-tlnp", "--json"]);
    for (netns, holder, port) in [(&first, &a, 7001), (&second, &b, 7002)] {
        let row = everything
            .iter()
            .find(|r| r["netns"]["name"] == netns.name.as_str() && r["local"]["port"] == port)
            .unwrap_or_else(|| panic!("no row for {} in {everything:?}", netns.name));
        assert_eq!(row["processes"][0]["pid"], holder.pid());
        assert!(row["netns"]["inode"].as_u64().unwrap() > 0);
    }
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let own_inode: u64 = own.to_str().unwrap()[5..].trim_end_matches(']').parse().unwrap();
    let host_row = everything
        .iter()
        .find(|r| r["local"]["port"] == host_port && r["local"]["addr"] == "127.0.0.1")
        .unwrap();
    assert_eq!(host_row["netns"], json!({"inode": own_inode, "name": null}));

    let table = all_namespaces_text(&["--all-netns", "-tln"]);
    assert!(table.starts_with("Netns"), "{table}");
    // Only this test's namespace counts: another may hold port 7001 too.
    let ours = |line: &&str| line.split_whitespace().next() == Some(first.name.as_str());
    let line =
        table.lines().find(ours).unwrap_or_else(|| panic!("no row of {}: {table}", first.name));
    assert!(line.contains("127.0.0.1:7001"), "{line}");
}

#[test]
fn unix_sockets_with_path_abstract_name_type_state_and_owner() {
    let names = Names::new();
    let path = names.dir.path().join("pw.sock");
    let abstract_name = format!("pw-abstract-{}", std::process::id());
    let spec = format!("ustream:{},udgram:@{abstract_name}", path.display());
    let child = Holder::spawn(&names.program("pw-unix-test"), &spec, None);
    let rows = json_rows(&["-xap", "--json"]);
    let find = |name: &str| {
        rows.iter()
            .find(|r| r["local"]["path"] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
    };
    let stream = find(path.to_str().unwrap());
    assert_eq!(
        (stream["netid"].as_str(), stream["state"].as_str()),
        (Some("u_str"), Some("listening"))
    );
    assert_eq!(stream["family"], "unix");
    assert_eq!(stream["processes"][0]["pid"], child.pid());
    assert_eq!(stream["processes"][0]["fd"], child.socket("ustream").1);
    let datagram = find(&format!("@{abstract_name}"));
    assert_eq!(
        (datagram["netid"].as_str(), datagram["state"].as_str()),
        (Some("u_dgr"), Some("closed"))
    );
    assert_eq!(datagram["processes"][0]["name"], "pw-unix-test");

    let ours = stdout_of(&["-xa"]);
    let ss = common::text(&Command::new("ss").arg("-xa").output().unwrap().stdout);
    for name in [path.to_str().unwrap().to_owned(), format!("@{abstract_name}")] {
        let row = |table: &str| -> Vec<String> {
            let line = table.lines().find(|l| l.split_whitespace().any(|w| w == name)).unwrap();
            line.split_whitespace().map(str::to_owned).collect()
        };
        assert_eq!(row(&ours), row(&ss), "{name}");
    }
    let only_dgram = json_rows(&["-A", "unix_dgram", "-a", "--json"]);
    assert!(only_dgram.iter().all(|r| r["netid"] == "u_dgr"));
}
