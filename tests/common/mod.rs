//! Helpers shared by the integration tests: running the binary, network
//! namespaces of a test's own, and reading ss's and portwatch's rows into
//! one comparable form.
#![allow(dead_code)]

pub mod fake;
pub mod load;
pub mod watch;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_portwatch");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A file from `../shared`, which a fresh clone elsewhere does not have:
/// `None`, after one line on why `test` skips, when it is absent. Under CI,
/// which always has it, its absence fails the test instead.
pub fn shared_file(name: &str, test: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "{test} needs {}, and CI has it", path.display());
    eprintln!("skipping {test}: {} is absent (../shared is optional outside CI)", path.display());
    None
}

/// A bare (ss -D) recording of `sockets` copies of the fixture's first
/// socket, a TCP listener on 0.0.0.0:22, closed by NLMSG_DONE.
pub fn repeated_socket_recording(sockets: usize) -> Vec<u8> {
    let dump = std::fs::read(fixture("netns-basic/ss-tan.dump")).expect("the fixture");
    let first_len = u32::from_ne_bytes(dump[..4].try_into().unwrap()) as usize;
    let mut bytes = dump[..first_len].repeat(sockets);
    bytes.extend_from_slice(&[20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

pub fn portwatch() -> assert_cmd::Command {
    assert_cmd::Command::new(BIN)
}

/// Runs portwatch with `args`, expecting success, and returns stdout as
/// [`text`].
pub fn stdout_of(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().expect("run portwatch");
    assert_success(&output, args);
    text(&output.stdout)
}

/// Output as text. Host-wide listings carry other processes' names, which
/// need not be UTF-8: those bytes become U+FFFD rather than failing a test
/// that looks at its own rows only.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses JSON output, read as [`text`].
pub fn json_of(bytes: &[u8]) -> Value {
    let text = text(bytes);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "portwatch {args:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs portwatch with `args` (which should ask for `--json`) and parses the array.
pub fn json_rows(args: &[&str]) -> Vec<Value> {
    let output = Command::new(BIN).args(args).output().expect("run portwatch");
    assert_success(&output, args);
    match json_of(&output.stdout) {
        Value::Array(rows) => rows,
        other => panic!("expected a JSON array from {args:?}, got {other}"),
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Says why a root-only test does not run; under CI (always root) it fails instead.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    assert!(std::env::var_os("CI").is_none(), "{test} needs root, and CI runs as root");
    eprintln!("skipping {test}: it needs root to create a network namespace");
    true
}

/// Whether `test` must be skipped, with the reason printed: it needs root
/// and each of `tools` (under `CI`, a missing one fails it instead).
pub fn skip_unless_root_with(test: &str, tools: &[&str]) -> bool {
    skip_unless_root(test) || tools.iter().any(|tool| skip_without_tool(tool, test))
}

/// A firewall whose one rule admits every new connection: for tests whose
/// rules are not about the firewall (no `no-firewall` finding, no
/// `open-without-firewall-rule`).
pub const EXPLICIT_ACCEPT: &str = "table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    accept
  }
}
";

/// A network namespace of this test's own, deleted when dropped.
pub struct Netns {
    pub name: String,
}

static NETNS_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    pub fn new(test: &str) -> Netns {
        let serial = NETNS_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("pw-{test}-{}-{serial}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let netns = Netns { name };
        run_ok(Command::new("ip").args(["-n", &netns.name, "link", "set", "lo", "up"]));
        netns
    }

    /// Runs `build` on a thread that has entered the namespace: the sockets
    /// it opens live in the namespace and can be returned to the caller.
    pub fn within<T: Send + 'static>(&self, build: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open the namespace");
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            build()
        })
        .join()
        .expect("namespace thread")
    }

    /// Replaces the namespace's nftables ruleset with `rules`.
    pub fn load_ruleset(&self, rules: &str) {
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, format!("flush ruleset\n{rules}").as_bytes())
            .expect("write the ruleset");
        drop(stdin);
        assert!(child.wait().expect("nft").success(), "nft -f: {rules}");
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

/// Joins two namespaces with a veth pair (`eth0` in each), giving each end
/// its addresses (with prefix lengths), up and without duplicate address
/// detection.
pub fn join_with_veth(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) {
    join_named(("eth0", a, a_addrs), ("eth0", b, b_addrs));
}

/// Joins two namespaces with a veth pair whose ends are named as given,
/// each with its addresses, up and without duplicate address detection.
pub fn join_named(a: (&str, &Netns, &[&str]), b: (&str, &Netns, &[&str])) {
    let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
    let (a_link, a_netns, _) = a;
    let (b_link, b_netns, _) = b;
    ip(&[
        "-n",
        &a_netns.name,
        "link",
        "add",
        a_link,
        "type",
        "veth",
        "peer",
        "name",
        b_link,
        "netns",
        &b_netns.name,
    ]);
    for (link, netns, addrs) in [a, b] {
        for addr in addrs {
            ip(&["-n", &netns.name, "addr", "add", addr, "dev", link, "nodad"]);
        }
        ip(&["-n", &netns.name, "link", "set", link, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run_ok(command: &mut Command) {
    let output = command.output().expect("run command");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A socket as both ss's text and portwatch's JSON can describe it:
/// (netid, ss state label, local addr, local port, peer addr, peer port, inode).
pub type Row = (String, String, String, u16, String, u16, u64);

/// Parses `ss -tuanHe` output (netid, state, queues, local, peer, `ino:N`).
pub fn ss_rows(text: &str) -> BTreeSet<Row> {
    text.lines().filter(|line| !line.trim().is_empty()).map(ss_row).collect()
}

/// ss drops its State column when one state is selected: the state is then "".
fn ss_row(line: &str) -> Row {
    let mut fields: Vec<&str> = line.split_whitespace().collect();
    if fields[1].parse::<u64>().is_ok() {
        fields.insert(1, "");
    }
    let (local_addr, local_port) = ss_endpoint(fields[4]);
    let (peer_addr, peer_port) = ss_endpoint(fields[5]);
    let inode = fields[6..]
        .iter()
        .find_map(|f| f.strip_prefix("ino:"))
        .map(|i| i.parse().expect("inode"))
        .unwrap_or_else(|| panic!("no ino: in {line}"));
    (fields[0].into(), fields[1].into(), local_addr, local_port, peer_addr, peer_port, inode)
}

/// `[::1]:22`, `*:80`, `0.0.0.0:*`, `127.0.0.1%lo:5432` → (addr, port).
fn ss_endpoint(text: &str) -> (String, u16) {
    let (addr, port) = text.rsplit_once(':').expect("addr:port");
    let addr = addr.split('%').next().unwrap_or(addr);
    let addr = match addr {
        "*" => "::",
        bracketed => bracketed.trim_start_matches('[').trim_end_matches(']'),
    };
    let port =
        if port == "*" { 0 } else { port.parse().unwrap_or_else(|_| panic!("port in {text}")) };
    (addr.to_string(), port)
}

/// ss's State label for a portwatch JSON state word.
pub fn ss_label(word: &str) -> &'static str {
    match word {
        "established" => "ESTAB",
        "syn-sent" => "SYN-SENT",
        "syn-recv" => "SYN-RECV",
        "fin-wait-1" => "FIN-WAIT-1",
        "fin-wait-2" => "FIN-WAIT-2",
        "time-wait" => "TIME-WAIT",
        "closed" => "UNCONN",
        "close-wait" => "CLOSE-WAIT",
        "last-ack" => "LAST-ACK",
        "listening" => "LISTEN",
        "closing" => "CLOSING",
        other => panic!("unknown state word {other}"),
    }
}

pub fn json_row(row: &Value) -> Row {
    let endpoint = |side: &str| {
        let addr = row[side]["addr"].as_str().expect("addr").to_string();
        let port = row[side]["port"].as_u64().expect("port") as u16;
        (addr, port)
    };
    let (local_addr, local_port) = endpoint("local");
    let (peer_addr, peer_port) = endpoint("peer");
    (
        row["netid"].as_str().expect("netid").into(),
        ss_label(row["state"].as_str().expect("state")).into(),
        local_addr,
        local_port,
        peer_addr,
        peer_port,
        row["inode"].as_u64().unwrap_or(0),
    )
}

pub fn json_row_set(rows: &[Value]) -> BTreeSet<Row> {
    rows.iter().map(json_row).collect()
}

/// A directory that is neither temporary nor hidden wherever the checkout
/// lives (a clone under /tmp puts the target directory there): the audit's
/// tests run their holders from it, so only the processes a test means to
/// be suspicious are. Root only, as those tests are.
pub fn plain_root() -> PathBuf {
    // What runs that have ended left behind (/run is memory) goes first.
    for entry in std::fs::read_dir("/run/portwatch-tests").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = PathBuf::from(format!("/run/portwatch-tests/{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create /run/portwatch-tests");
    dir
}

/// This test binary, copied once into [`plain_root`].
pub fn plain_test_binary() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary");
        let copy = plain_root().join(exe.file_name().expect("a file name"));
        // cp(1), so that this process holds no write descriptor a child
        // could inherit (exec would then fail with ETXTBSY).
        let copied = Command::new("cp").arg(&exe).arg(&copy).status().expect("run cp");
        assert!(copied.success(), "copy {} to {}", exe.display(), copy.display());
        copy
    })
    .clone()
}

/// Says why a test that needs `program` does not run; under CI, which
/// installs every tool the suite uses (scripts/test), it fails instead.
pub fn skip_without_tool(program: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return false;
    }
    assert!(std::env::var_os("CI").is_none(), "{test} needs {program}, and CI installs it");
    eprintln!("skipping {test}: {program} is not installed (scripts/test installs it)");
    true
}
