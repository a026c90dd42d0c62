//! Scenario tests of `portwatch audit`'s built-in rules: for each rule, a
//! listener that triggers it and a near miss that does not, audited by the
//! real binary (`portwatch audit -N NS --json`) in network namespaces the
//! tests create, so that nothing else on the host takes part.
//!
//! Each scene is a network namespace (`pw-audit-<test>-<pid>-<n>`, loopback
//! up and 10.77.0.1/24 on a second link) plus a PID namespace of its own
//! (`unshare --pid --fork --mount-proc`) in which the holders and the audit
//! run. The PID namespace is what makes the owner rules deterministic: the
//! audit sees exactly the scene's processes, so a host whose some process
//! is hidden even from root (a sandbox's pid 1) neither hides an unowned
//! listener nor turns exit 0 into 3. One test audits from the host's own PID
//! namespace as well.
//!
//! The holders are `python3` one-liners that bind the sockets and then exec
//! a chosen program (`sleep`, or a copy of it) with the sockets inherited:
//! the process that holds them then runs the binary and the working
//! directory the test chose, whatever python3's own path is.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Netns, skip_unless_root};
use serde_json::{Value, json};

/// The address the scenes add beyond loopback.
const ADDRESS: &str = "10.77.0.1";

/// Binds and listens on the sockets of `argv[1]` (JSON), then execs `exe`
/// (with `sleep`'s argument 600) in `cwd`, the sockets inherited; with
/// `fork`, a forked child does the same, so that two processes hold them. A socket
/// with `pass_away` is sent over a UNIX socket pair in an SCM_RIGHTS message
/// that nobody receives, and closed: the pair is inherited, so the message
/// and the listener in it stay, held by no process.
const HOLDER: &str = r#"
import array, errno, json, os, socket, sys, time
spec = json.loads(sys.argv[1])
keep = []
for item in spec["sockets"]:
    family = socket.AF_INET6 if ":" in item["addr"] else socket.AF_INET
    kind = socket.SOCK_STREAM if item["proto"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if item.get("v6only") else 0)
    s.bind((item["addr"], item["port"]))
    if kind == socket.SOCK_STREAM:
        s.listen()
    if item.get("pass_away"):
        a, b = socket.socketpair()
        rights = array.array("i", [s.fileno()])
        a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)])
        s.close()
        keep += [a, b]
    else:
        keep.append(s)
for s in keep:
    s.set_inheritable(True)
os.chdir(spec["cwd"])
print("READY", flush=True)
if spec["fork"]:
    os.fork()
for _ in range(100):
    try:
        os.execv(spec["exe"], [spec["exe"], "600"])
    except OSError as error:
        if error.errno != errno.ETXTBSY:
            raise
        time.sleep(0.05)
sys.exit("exec stayed busy")
"#;

/// Whether the tools a scene needs are here. Under CI a missing one fails
/// the test; elsewhere the test says why it skips.
fn tools_present(test: &str) -> bool {
    for tool in ["ip", "python3", "unshare", "nsenter", "setpriv", "sleep", "cp", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            assert!(std::env::var_os("CI").is_none(), "{test} needs {tool}, and CI has it");
            eprintln!("skipping {test}: {tool} is not installed");
            return false;
        }
    }
    true
}

/// An exposure without the firewall's verdict: bind and families.
fn bind_of(exposure: &Value) -> Value {
    let mut exposure = exposure.clone();
    exposure.as_object_mut().unwrap().remove("firewall");
    exposure
}

/// Root and the tools, or a line on why the test skips.
fn can_run(test: &str) -> bool {
    !skip_unless_root(test) && tools_present(test)
}

fn run_ok(command: &mut Command) {
    let output = command.output().expect("run command");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `sleep`'s real path, as /proc/PID/exe names it.
fn sleep_path() -> PathBuf {
    let output = Command::new("sh").args(["-c", "command -v sleep"]).output().unwrap();
    let path = String::from_utf8(output.stdout).unwrap();
    std::fs::canonicalize(path.trim()).unwrap()
}

/// Copies `from` to `to` with `cp`, which keeps the mode: the write
/// descriptor lives in `cp`, not in this test process, where a child that
/// another test thread forks could inherit it and make exec fail (ETXTBSY).
fn copy(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg(from).arg(to));
}

/// A directory of the test's own that is neither temporary nor hidden,
/// wherever the checkout lives (see `common::plain_root`).
fn plain_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("pw-plain-").tempdir_in(common::plain_root()).unwrap()
}

/// A socket for a holder to bind: `tcp` or `udp`, an address, a port.
#[derive(Clone, Copy)]
struct Sock {
    proto: &'static str,
    addr: &'static str,
    port: u16,
    v6only: bool,
    pass_away: bool,
}

const fn tcp(addr: &'static str, port: u16) -> Sock {
    Sock { proto: "tcp", addr, port, v6only: false, pass_away: false }
}

const fn udp(addr: &'static str, port: u16) -> Sock {
    Sock { proto: "udp", addr, port, v6only: false, pass_away: false }
}

impl Sock {
    const fn v6only(self) -> Sock {
        Sock { v6only: true, ..self }
    }

    const fn passed_away(self) -> Sock {
        Sock { pass_away: true, ..self }
    }

    fn spec(&self) -> Value {
        json!({"proto": self.proto, "addr": self.addr, "port": self.port,
               "v6only": self.v6only, "pass_away": self.pass_away})
    }
}

/// A network namespace with its own PID namespace, in which holders and
/// audits run; both go away on drop (the PID namespace's init, killed with
/// `unshare`, takes every holder with it).
struct Scene {
    netns: Netns,
    unshare: Child,
    /// The host pid of the PID namespace's init.
    init: u32,
}

impl Scene {
    fn new(test: &str) -> Scene {
        let netns = Netns::new(&format!("audit-{test}"));
        let ns = netns.name.as_str();
        // A dummy link carries the extra address; a kernel without the dummy
        // driver gets a veth pair, both ends inside the namespace.
        let dummy = Command::new("ip")
            .args(["-n", ns, "link", "add", "d0", "type", "dummy"])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if !dummy.success() {
            run_ok(
                Command::new("ip")
                    .args(["-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"]),
            );
            run_ok(Command::new("ip").args(["-n", ns, "link", "set", "d1", "up"]));
        }
        run_ok(Command::new("ip").args(["-n", ns, "addr", "add", "10.77.0.1/24", "dev", "d0"]));
        run_ok(Command::new("ip").args(["-n", ns, "link", "set", "d0", "up"]));
        // A firewall that admits everything by an explicit rule: the rules
        // under test here are not about the firewall (see firewall_variants).
        netns.load_ruleset(common::EXPLICIT_ACCEPT);
        let mut unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let init = wait_for("the PID namespace's init", || {
            let child = only_child(unshare.id())?;
            // Entered only once it has mounted its /proc and run sleep.
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).ok()?;
            (comm.trim() == "sleep").then_some(child)
        });
        if let Ok(Some(status)) = unshare.try_wait() {
            panic!("unshare exited with {status}");
        }
        Scene { netns, unshare, init }
    }

    fn name(&self) -> &str {
        &self.netns.name
    }

    /// A command that runs `program` in the scene's PID namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command.args(["-t", &self.init.to_string(), "--pid", "--mount", "--", program]);
        command
    }

    /// Starts a holder of `sockets` that then runs `sleep`, in a plain
    /// directory.
    fn hold(&self, sockets: &[Sock]) -> Holder {
        self.hold_as(sockets, &sleep_path(), &common::plain_root())
    }

    /// Starts a holder of `sockets` that then runs `exe` in `cwd`, and
    /// waits until it does.
    fn hold_as(&self, sockets: &[Sock], exe: &Path, cwd: &Path) -> Holder {
        self.hold_with(sockets, exe, cwd, false)
    }

    /// As [`Scene::hold_as`], and with `fork` a child process that holds the
    /// sockets and runs `exe` too.
    fn hold_with(&self, sockets: &[Sock], exe: &Path, cwd: &Path, fork: bool) -> Holder {
        let spec = json!({
            "sockets": sockets.iter().map(Sock::spec).collect::<Vec<_>>(),
            "exe": exe,
            "cwd": cwd,
            "fork": fork,
        });
        let mut process = self
            .command("ip")
            .args(["netns", "exec", self.name(), "python3", "-c", HOLDER, &spec.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter");
        let mut line = String::new();
        let mut stdout = BufReader::new(process.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        if line.trim() != "READY" {
            let output = process.wait_with_output().unwrap();
            panic!("the holder of {spec} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        // nsenter forks into the PID namespace; its child becomes python3
        // and then `exe`.
        let runs =
            |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).ok() == Some(exe.into());
        let pid = wait_for("the holder's exec", || {
            let child = only_child(process.id())?;
            let forked = !fork || only_child(child).is_some_and(runs);
            (runs(child) && forked).then_some(child)
        });
        Holder { process, pid }
    }

    /// `portwatch audit -N NS` with `args`, in the scene's PID namespace.
    fn audit(&self, args: &[&str]) -> Output {
        self.command(BIN).args(["audit", "-N", self.name()]).args(args).output().unwrap()
    }

    /// The JSON report of `--json --fail-on never`, which must exit 0.
    fn report(&self) -> Value {
        let output = self.audit(&["--json", "--fail-on", "never"]);
        let report = json_report(&output);
        assert_eq!(output.status.code(), Some(0), "{report:#}");
        assert_eq!(report["limits"], json!([]), "the scene hides nothing from root");
        report
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// A holder process: nsenter, and (`pid`) the child that holds the sockets.
struct Holder {
    process: Child,
    pid: u32,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        let _ = self.process.wait();
    }
}

/// The one child of `pid`, if it has exactly one yet.
fn only_child(pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    match children.split_whitespace().collect::<Vec<_>>()[..] {
        [one] => one.parse().ok(),
        _ => None,
    }
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json_report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}), exit {:?}: {}{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Whether `listener` (a report's listener object) is `sock` in `scene`.
fn is_listener(listener: &Value, scene: &Scene, sock: Sock) -> bool {
    listener["netid"] == sock.proto
        && listener["local"]["addr"] == sock.addr
        && listener["local"]["port"] == sock.port
        && listener["netns"]["name"] == scene.name()
}

/// The findings of `rule` that name `sock`.
fn findings_for<'a>(report: &'a Value, scene: &Scene, rule: &str, sock: Sock) -> Vec<&'a Value> {
    let findings = report["findings"].as_array().unwrap();
    findings
        .iter()
        .filter(|f| f["rule"] == rule && is_listener(&f["listener"], scene, sock))
        .collect()
}

/// The one finding of `rule` for `sock`, with `severity`, the rule's title,
/// a message, a remedy and the listener with its exposure.
fn assert_finding<'a>(
    report: &'a Value,
    scene: &Scene,
    rule: &str,
    severity: &str,
    sock: Sock,
) -> &'a Value {
    let found = findings_for(report, scene, rule, sock);
    assert_eq!(
        found.len(),
        1,
        "one {rule} finding for {} {}:{}: {report:#}",
        sock.proto,
        sock.addr,
        sock.port
    );
    let finding = found[0];
    assert_eq!(finding["severity"], severity, "{finding:#}");
    for key in ["title", "message", "remedy"] {
        assert!(!finding[key].as_str().unwrap().is_empty(), "{key}: {finding:#}");
    }
    assert!(finding["listener"]["exposure"]["bind"].is_string(), "{finding:#}");
    let listed = report["listeners"].as_array().unwrap();
    assert!(listed.iter().any(|l| is_listener(l, scene, sock)), "listed too: {report:#}");
    finding
}

/// The near miss: the listener is in the report, and no finding of `rule`
/// names it.
fn assert_no_finding(report: &Value, scene: &Scene, rule: &str, sock: Sock) {
    let listed = report["listeners"].as_array().unwrap();
    assert!(
        listed.iter().any(|l| is_listener(l, scene, sock)),
        "{} {}:{} is listed: {report:#}",
        sock.proto,
        sock.addr,
        sock.port
    );
    let found = findings_for(report, scene, rule, sock);
    assert!(found.is_empty(), "no {rule} for {}:{}: {found:#?}", sock.addr, sock.port);
}

/// The rules of every finding in `report`.
fn rules_of(report: &Value) -> Vec<&str> {
    report["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect()
}

/// Runs one port rule's trigger and near miss, each in a scene of its own
/// (a wildcard and a loopback bind of one port cannot share a namespace).
fn port_rule(test: &str, rule: &str, severity: &str, triggers: &[Sock], near_misses: &[Sock]) {
    let scene = Scene::new(test);
    let _holder = scene.hold(triggers);
    let report = scene.report();
    for &sock in triggers {
        let finding = assert_finding(&report, &scene, rule, severity, sock);
        let message = finding["message"].as_str().unwrap();
        assert!(message.contains(&sock.port.to_string()), "{message}");
        assert!(message.contains(sock.addr) || sock.addr == "::", "{message}");
    }
    let quiet = Scene::new(&format!("{test}-miss"));
    let _holder = quiet.hold(near_misses);
    let report = quiet.report();
    for &sock in near_misses {
        assert_no_finding(&report, &quiet, rule, sock);
    }
    assert_eq!(rules_of(&report), Vec::<&str>::new(), "loopback alone: {report:#}");
}

#[test]
fn exposed_datastore_redis_on_the_ipv4_wildcard_but_not_on_loopback() {
    if !can_run("exposed_datastore_redis_on_the_ipv4_wildcard_but_not_on_loopback") {
        return;
    }
    port_rule(
        "redis4",
        "exposed-datastore",
        "high",
        &[tcp("0.0.0.0", 6379)],
        &[tcp("127.0.0.1", 6379)],
    );
}

#[test]
fn exposed_datastore_redis_on_the_ipv6_wildcard_but_not_on_ipv6_loopback() {
    if !can_run("exposed_datastore_redis_on_the_ipv6_wildcard_but_not_on_ipv6_loopback") {
        return;
    }
    port_rule(
        "redis6",
        "exposed-datastore",
        "high",
        &[tcp("::", 6379).v6only()],
        &[tcp("::1", 6379).v6only()],
    );
}

#[test]
fn exposed_datastore_memcached_udp_on_the_wildcard_but_not_on_loopback() {
    if !can_run("exposed_datastore_memcached_udp_on_the_wildcard_but_not_on_loopback") {
        return;
    }
    port_rule(
        "memcached",
        "exposed-datastore",
        "high",
        &[udp("0.0.0.0", 11211)],
        &[udp("127.0.0.1", 11211)],
    );
}

#[test]
fn exposed_datastore_on_a_specific_address_is_beyond_loopback() {
    if !can_run("exposed_datastore_on_a_specific_address_is_beyond_loopback") {
        return;
    }
    let scene = Scene::new("addr");
    let redis = tcp(ADDRESS, 6379);
    let _holder = scene.hold(&[redis]);
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "exposed-datastore", "high", redis);
    assert_eq!(
        bind_of(&finding["listener"]["exposure"]),
        json!({"bind": "address", "families": ["inet"]})
    );
    assert!(finding["message"].as_str().unwrap().contains("Redis (6379/tcp) listens on 10.77.0.1"));
    assert!(finding["remedy"].as_str().unwrap().contains("bind it to 127.0.0.1"));
    assert_eq!(report["summary"]["by_exposure"], json!({"address": 1}));
}

#[test]
fn exposed_datastore_on_the_ipv4_wildcard_mapped_into_ipv6_but_not_mapped_loopback() {
    if !can_run("exposed_datastore_on_the_ipv4_wildcard_mapped_into_ipv6_but_not_mapped_loopback") {
        return;
    }
    // An IPv6 socket bound to ::ffff:0.0.0.0 accepts IPv4 on every address.
    let mapped = tcp("::ffff:0.0.0.0", 6379);
    port_rule("mapped", "exposed-datastore", "high", &[mapped], &[tcp("::ffff:127.0.0.1", 6379)]);
    let scene = Scene::new("mapped-exposure");
    let _holder = scene.hold(&[mapped]);
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "exposed-datastore", "high", mapped);
    assert_eq!(
        bind_of(&finding["listener"]["exposure"]),
        json!({"bind": "wildcard", "families": ["inet"]})
    );
    let message = finding["message"].as_str().unwrap();
    assert!(message.starts_with("Redis (6379/tcp) listens on ::ffff:0.0.0.0 (every IPv4 address)"));
    assert!(finding["remedy"].as_str().unwrap().contains("bind it to 127.0.0.1 in"), "{finding:#}");
    assert_eq!(rules_of(&report), ["exposed-datastore"], "not dual-stack: {report:#}");
}

#[test]
fn owner_rules_give_one_finding_per_listener_naming_every_holder() {
    if !can_run("owner_rules_give_one_finding_per_listener_naming_every_holder") {
        return;
    }
    // Two processes (a parent and its fork) hold one listener and run the
    // same deleted binary from /tmp: one finding per rule, not per process,
    // since a finding is known by its rule and listener.
    let tmp = tempfile::Builder::new().prefix("pw-forked-").tempdir_in("/tmp").unwrap();
    let binary = tmp.path().join("pw-forked");
    copy(&sleep_path(), &binary);
    let scene = Scene::new("forked");
    let shared = tcp("127.0.0.1", 7001);
    let _holder = scene.hold_with(&[shared], &binary, tmp.path(), true);
    std::fs::remove_file(&binary).unwrap();
    let report = scene.report();
    let listeners = report["listeners"].as_array().unwrap();
    let listener = listeners.iter().find(|l| is_listener(l, &scene, shared)).unwrap();
    let pids: Vec<u64> = listener["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{listener:#}");
    for rule in ["deleted-binary", "binary-in-temporary-directory"] {
        let severity = if rule == "deleted-binary" { "medium" } else { "high" };
        let finding = assert_finding(&report, &scene, rule, severity, shared);
        let message = finding["message"].as_str().unwrap();
        for pid in &pids {
            assert!(
                message.contains(&format!("pw-forked (pid {pid}, user root) holds")),
                "{message}"
            );
        }
        let remedy = finding["remedy"].as_str().unwrap();
        assert!(remedy.contains(&format!("processes {}, {}", pids[0], pids[1])), "{remedy}");
    }
    assert_eq!(rules_of(&report).len(), 2, "{report:#}");
}

#[test]
fn docker_api_without_tls_is_critical_and_with_tls_a_high_control_plane() {
    if !can_run("docker_api_without_tls_is_critical_and_with_tls_a_high_control_plane") {
        return;
    }
    let (plain, tls) = (tcp("0.0.0.0", 2375), tcp("0.0.0.0", 2376));
    let scene = Scene::new("docker");
    let _holder = scene.hold(&[plain, tls]);
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "docker-api-without-tls", "critical", plain);
    let remedy = finding["remedy"].as_str().unwrap();
    assert!(remedy.contains("UNIX socket") && remedy.contains("--tlsverify"), "{remedy}");
    assert_finding(&report, &scene, "exposed-control-plane", "high", tls);
    assert_no_finding(&report, &scene, "docker-api-without-tls", tls);
    assert_no_finding(&report, &scene, "exposed-control-plane", plain);
    assert_eq!(report["findings"][0]["rule"], "docker-api-without-tls", "most severe first");

    let quiet = Scene::new("docker-miss");
    let loopback = [tcp("127.0.0.1", 2375), tcp("127.0.0.1", 2376)];
    let _holder = quiet.hold(&loopback);
    let report = quiet.report();
    assert_eq!(rules_of(&report), Vec::<&str>::new(), "{report:#}");
}

#[test]
fn exposed_control_plane_etcd_and_kubelet_but_not_on_loopback() {
    if !can_run("exposed_control_plane_etcd_and_kubelet_but_not_on_loopback") {
        return;
    }
    port_rule(
        "ctl",
        "exposed-control-plane",
        "high",
        &[tcp("0.0.0.0", 2379), tcp(ADDRESS, 10250)],
        &[tcp("127.0.0.1", 2379), tcp("127.0.0.1", 10250)],
    );
}

#[test]
fn cleartext_login_telnet_and_tftp_but_not_on_loopback() {
    if !can_run("cleartext_login_telnet_and_tftp_but_not_on_loopback") {
        return;
    }
    port_rule(
        "clear",
        "cleartext-login",
        "high",
        &[tcp("0.0.0.0", 23), udp("0.0.0.0", 69)],
        &[tcp("127.0.0.1", 23), udp("127.0.0.1", 69)],
    );
}

#[test]
fn legacy_service_rpcbind_and_vnc_but_not_on_loopback() {
    if !can_run("legacy_service_rpcbind_and_vnc_but_not_on_loopback") {
        return;
    }
    port_rule(
        "legacy",
        "legacy-service",
        "medium",
        &[tcp("0.0.0.0", 111), tcp("0.0.0.0", 5901)],
        &[tcp("127.0.0.1", 111), tcp("127.0.0.1", 5901)],
    );
}

#[test]
fn nonlocal_mta_on_the_wildcard_but_not_on_loopback() {
    if !can_run("nonlocal_mta_on_the_wildcard_but_not_on_loopback") {
        return;
    }
    port_rule("mta", "nonlocal-mta", "medium", &[tcp("0.0.0.0", 25)], &[tcp("127.0.0.1", 25)]);
}

#[test]
fn ssh_on_the_default_port_on_every_address_but_not_on_loopback() {
    if !can_run("ssh_on_the_default_port_on_every_address_but_not_on_loopback") {
        return;
    }
    port_rule("ssh", "ssh-on-default-port", "info", &[tcp("0.0.0.0", 22)], &[tcp("127.0.0.1", 22)]);
}

#[test]
fn dual_stack_wildcard_without_v6only_but_not_with_it() {
    if !can_run("dual_stack_wildcard_without_v6only_but_not_with_it") {
        return;
    }
    let scene = Scene::new("dual");
    let (dual, v6only) = (tcp("::", 8080), udp("::", 8081).v6only());
    let both = tcp("::", 8082);
    let udp_dual = udp("::", 8083);
    let _holder = scene.hold(&[dual, v6only, both.v6only(), udp_dual]);
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "dual-stack-wildcard", "info", dual);
    assert_eq!(
        bind_of(&finding["listener"]["exposure"]),
        json!({"bind": "wildcard", "families": ["inet", "inet6"]})
    );
    assert_finding(&report, &scene, "dual-stack-wildcard", "info", udp_dual);
    for quiet in [v6only, both] {
        assert_no_finding(&report, &scene, "dual-stack-wildcard", quiet);
    }
    let listeners = report["listeners"].as_array().unwrap();
    let only_v6 = listeners.iter().find(|l| is_listener(l, &scene, both)).unwrap();
    assert_eq!(bind_of(&only_v6["exposure"]), json!({"bind": "wildcard", "families": ["inet6"]}));
}

#[test]
fn unowned_listener_held_only_by_an_unreceived_message_but_not_an_owned_one() {
    if !can_run("unowned_listener_held_only_by_an_unreceived_message_but_not_an_owned_one") {
        return;
    }
    // The listener's only reference is an SCM_RIGHTS message in a UNIX
    // socket pair's receive queue: the holder sent it and closed its own
    // descriptor, so no process has it in /proc/PID/fd, and it stays open
    // as long as the pair (inherited by `sleep`) does.
    let scene = Scene::new("unowned");
    let (orphan, owned) = (tcp("0.0.0.0", 4444), tcp("127.0.0.1", 4445));
    let _holder = scene.hold(&[orphan.passed_away(), owned]);
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "unowned-listener", "medium", orphan);
    assert_eq!(finding["listener"]["processes"], json!([]), "{finding:#}");
    assert_eq!(finding["listener"]["owner_visible"], true, "{finding:#}");
    let message = finding["message"].as_str().unwrap();
    assert_eq!(message, "nothing visible holds 4444/tcp on 0.0.0.0 (every IPv4 address)");
    assert_no_finding(&report, &scene, "unowned-listener", owned);
    assert_eq!(rules_of(&report), ["unowned-listener"], "{report:#}");
}

/// Runs the audit as uid 65534 from a copy of the binary that user can run,
/// inside the scene's network namespace (entering one by name needs root).
fn audit_as_nobody(scene: &Scene, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy_path = dir.path().join("portwatch");
    copy(Path::new(BIN), &copy_path);
    std::fs::set_permissions(&copy_path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = scene.command("ip");
    command.args(["netns", "exec", scene.name(), "setpriv", "--reuid=65534", "--regid=65534"]);
    command.args(["--clear-groups", "--"]).arg(&copy_path).arg("audit").args(args);
    command.current_dir("/").output().unwrap()
}

#[test]
fn hidden_owners_are_a_limit_and_exit_3_not_an_unowned_finding() {
    if !can_run("hidden_owners_are_a_limit_and_exit_3_not_an_unowned_finding") {
        return;
    }
    let scene = Scene::new("hidden");
    let (orphan, owned) = (tcp("0.0.0.0", 4444), tcp("127.0.0.1", 4445));
    let _holder = scene.hold(&[orphan.passed_away(), owned]);
    for fail_on in ["never", "high"] {
        let output = audit_as_nobody(&scene, &["--json", "--fail-on", fail_on]);
        let report = json_report(&output);
        assert_eq!(output.status.code(), Some(3), "--fail-on {fail_on}: {report:#}");
        assert_eq!(rules_of(&report), Vec::<&str>::new(), "not a finding: {report:#}");
        let limits = report["limits"].as_array().unwrap();
        assert_eq!(limits.len(), 2, "{report:#}");
        let limit = limits[0].as_str().unwrap();
        assert!(limit.starts_with("owners: ") && limit.contains("hidden"), "{limit}");
        // nft needs CAP_NET_ADMIN even to list: every verdict is unknown,
        // and the limits say why; nothing fails.
        assert_eq!(
            limits[1],
            "firewall: reading the ruleset needs CAP_NET_ADMIN (run as root); every verdict is \
             unknown",
            "{report:#}"
        );
        for listener in report["listeners"].as_array().unwrap() {
            let firewall = &listener["exposure"]["firewall"];
            let expected =
                if listener["local"]["addr"] == "127.0.0.1" { "local-only" } else { "unknown" };
            assert_eq!(firewall["verdict"], expected, "{listener:#}");
        }
        let listeners = report["listeners"].as_array().unwrap();
        let holder = listeners.iter().find(|l| l["local"]["port"] == owned.port).unwrap();
        assert_eq!(holder["owner_visible"], false, "{holder:#}");
    }
    let table = audit_as_nobody(&scene, &["--fail-on", "never"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("limit: owners: ")), "{table}");
}

#[test]
fn deleted_binary_but_not_the_same_binary_still_installed() {
    if !can_run("deleted_binary_but_not_the_same_binary_still_installed") {
        return;
    }
    let dir = plain_dir();
    let (gone, kept) = (dir.path().join("pw-upgraded"), dir.path().join("pw-installed"));
    copy(&sleep_path(), &gone);
    copy(&sleep_path(), &kept);
    let scene = Scene::new("deleted");
    let (upgraded, installed) = (tcp("127.0.0.1", 7001), tcp("127.0.0.1", 7002));
    let holder = scene.hold_as(&[upgraded], &gone, dir.path());
    let _other = scene.hold_as(&[installed], &kept, dir.path());
    std::fs::remove_file(&gone).unwrap();
    let report = scene.report();
    let finding = assert_finding(&report, &scene, "deleted-binary", "medium", upgraded);
    // The pid as the scene's PID namespace numbers it.
    let pid = &finding["listener"]["processes"][0]["pid"];
    let expected = format!(
        "pw-upgraded (pid {pid}, user root) holds 7001/tcp and runs a deleted binary, {}",
        gone.display()
    );
    assert_eq!(finding["message"], expected.as_str(), "the holder named once, no `(deleted)`");
    assert_eq!(
        finding["remedy"],
        format!(
            "restart process {pid} onto the installed binary, or find out why its binary is gone"
        )
        .as_str()
    );
    assert_eq!(finding["listener"]["processes"][0]["exe_deleted"], true);
    assert_no_finding(&report, &scene, "deleted-binary", installed);
    assert_eq!(rules_of(&report), ["deleted-binary"], "{report:#}");
    drop(holder);
}

#[test]
fn binary_in_tmp_or_hidden_working_directory_but_not_in_a_plain_directory() {
    if !can_run("binary_in_tmp_or_hidden_working_directory_but_not_in_a_plain_directory") {
        return;
    }
    let tmp = tempfile::Builder::new().prefix("pw-dropper-").tempdir_in("/tmp").unwrap();
    let dropped = tmp.path().join("pw-dropped");
    copy(&sleep_path(), &dropped);
    let plain = plain_dir();
    let hidden = plain.path().join(".pw-hidden");
    std::fs::create_dir(&hidden).unwrap();
    let installed = plain.path().join("pw-installed");
    copy(&sleep_path(), &installed);

    let scene = Scene::new("tmpdir");
    let (in_tmp, in_hidden, in_plain) =
        (tcp("127.0.0.1", 7001), tcp("127.0.0.1", 7002), tcp("127.0.0.1", 7003));
    let _a = scene.hold_as(&[in_tmp], &dropped, plain.path());
    let _b = scene.hold_as(&[in_hidden], &sleep_path(), &hidden);
    let _c = scene.hold_as(&[in_plain], &installed, plain.path());
    let report = scene.report();
    let rule = "binary-in-temporary-directory";
    let finding = assert_finding(&report, &scene, rule, "high", in_tmp);
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains(&format!("runs {}, under /tmp", dropped.display())), "{message}");
    let finding = assert_finding(&report, &scene, rule, "high", in_hidden);
    let message = finding["message"].as_str().unwrap();
    let why = format!("works in {}, in a hidden directory (.pw-hidden)", hidden.display());
    assert!(message.contains(&why), "{message}");
    assert_no_finding(&report, &scene, rule, in_plain);
    assert_eq!(rules_of(&report), [rule, rule], "{report:#}");
}

#[test]
fn a_clean_namespace_has_no_finding_and_exits_0() {
    if !can_run("a_clean_namespace_has_no_finding_and_exits_0") {
        return;
    }
    let scene = Scene::new("clean");
    let sockets = [
        tcp("127.0.0.1", 8080),
        tcp("::1", 8081).v6only(),
        udp("127.0.0.1", 5353),
        tcp("127.0.0.2", 6380),
    ];
    let _holder = scene.hold(&sockets);
    let report = scene.report();
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["summary"]["listeners"], sockets.len());
    assert_eq!(report["summary"]["by_exposure"], json!({"loopback": sockets.len()}));
    assert_eq!(report["summary"]["findings"], json!({}));
    for args in [&[][..], &["--fail-on", "info"], &["--json"]] {
        let output = scene.audit(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
    }
    let table = String::from_utf8(scene.audit(&[]).stdout).unwrap();
    assert_eq!(
        table, "4 listeners (4 loopback, 0 address, 0 wildcard); findings: none\n",
        "the summary line alone"
    );
}

#[test]
fn fail_on_sets_the_exit_code() {
    if !can_run("fail_on_sets_the_exit_code") {
        return;
    }
    let high = Scene::new("exit-high");
    let _holder = high.hold(&[tcp("0.0.0.0", 6379)]);
    let medium = Scene::new("exit-medium");
    let _other = medium.hold(&[tcp("0.0.0.0", 111)]);
    let info = Scene::new("exit-info");
    let _third = info.hold(&[tcp("0.0.0.0", 22)]);
    let critical = Scene::new("exit-critical");
    let _fourth = critical.hold(&[tcp("0.0.0.0", 2375)]);
    for (scene, fail_on, code) in [
        (&critical, None, 1),
        (&critical, Some("critical"), 1),
        (&critical, Some("never"), 0),
        (&high, None, 1),
        (&high, Some("high"), 1),
        (&high, Some("medium"), 1),
        (&high, Some("critical"), 0),
        (&high, Some("never"), 0),
        (&medium, Some("high"), 0),
        (&medium, None, 0),
        (&medium, Some("medium"), 1),
        (&medium, Some("never"), 0),
        (&info, None, 0),
        (&info, Some("low"), 0),
        (&info, Some("info"), 1),
    ] {
        let mut args = vec!["--json"];
        if let Some(fail_on) = fail_on {
            args.extend(["--fail-on", fail_on]);
        }
        let output = scene.audit(&args);
        let report = json_report(&output);
        assert_eq!(output.status.code(), Some(code), "{} {args:?}: {report:#}", scene.name());
        assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

#[test]
fn a_bad_fail_on_exits_2_with_one_line() {
    let output = Command::new(BIN).args(["audit", "--fail-on", "bogus"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("portwatch: ") && stderr.contains("bogus"), "{stderr}");
}

#[test]
fn the_host_pid_namespace_sees_the_same_findings() {
    if !can_run("the_host_pid_namespace_sees_the_same_findings") {
        return;
    }
    // Audited from the host's PID namespace, the scene's holders are still
    // visible (a parent PID namespace sees its children's processes); a
    // host may hide some other process even from root, which is then a
    // stated limit and exit 3, but the findings are the same.
    let scene = Scene::new("host");
    let (redis, local) = (tcp("0.0.0.0", 6379), tcp("127.0.0.1", 6380));
    let holder = scene.hold(&[redis, local]);
    let output = Command::new(BIN)
        .args(["audit", "-N", scene.name(), "--json", "--fail-on", "never"])
        .output()
        .unwrap();
    let report = json_report(&output);
    match output.status.code() {
        Some(0) => assert_eq!(report["limits"], json!([])),
        Some(3) => {
            let limits = report["limits"].as_array().unwrap();
            assert_eq!(limits.len(), 1, "{report:#}");
            assert!(limits[0].as_str().unwrap().starts_with("owners: "), "{report:#}");
        }
        other => panic!("exit {other:?}: {report:#}"),
    }
    let finding = assert_finding(&report, &scene, "exposed-datastore", "high", redis);
    assert_eq!(finding["listener"]["processes"][0]["pid"], holder.pid, "the host's pid");
    assert_no_finding(&report, &scene, "exposed-datastore", local);
    assert_eq!(rules_of(&report), ["exposed-datastore"], "{report:#}");
}

/// A protocol and a port.
type Port = (&'static str, u16);

/// Every port of every port rule, by rule (with its severity): the first
/// and last of a range, and TCP or UDP as the rule has it.
const RULE_PORTS: &[(&str, &str, &[Port])] = &[
    ("docker-api-without-tls", "critical", &[("tcp", 2375)]),
    (
        "exposed-datastore",
        "high",
        &[
            ("tcp", 3306),
            ("tcp", 5432),
            ("tcp", 6379),
            ("tcp", 27017),
            ("tcp", 27019),
            ("tcp", 9200),
            ("tcp", 9300),
            ("tcp", 11211),
            ("udp", 11211),
            ("tcp", 5984),
            ("tcp", 9042),
            ("tcp", 7000),
            ("tcp", 7199),
            ("tcp", 8123),
            ("tcp", 9000),
            ("tcp", 8086),
            ("tcp", 2181),
            ("tcp", 9092),
            ("tcp", 5672),
            ("tcp", 15672),
        ],
    ),
    (
        "exposed-control-plane",
        "high",
        &[
            ("tcp", 2376),
            ("tcp", 2379),
            ("tcp", 2380),
            ("tcp", 10250),
            ("tcp", 10255),
            ("tcp", 10010),
        ],
    ),
    (
        "cleartext-login",
        "high",
        &[("tcp", 23), ("tcp", 512), ("tcp", 513), ("tcp", 514), ("tcp", 21), ("udp", 69)],
    ),
    (
        "legacy-service",
        "medium",
        &[
            ("tcp", 111),
            ("udp", 111),
            ("tcp", 2049),
            ("udp", 2049),
            ("tcp", 79),
            ("udp", 161),
            ("tcp", 6000),
            ("tcp", 6063),
            ("tcp", 5900),
            ("tcp", 5999),
            ("tcp", 3389),
            ("tcp", 139),
            ("tcp", 445),
            ("udp", 137),
            ("udp", 138),
        ],
    ),
    ("nonlocal-mta", "medium", &[("tcp", 25)]),
];

/// Ports next to the rules' ranges, or of the other protocol, which no rule
/// names: near misses even on the wildcard.
const NEIGHBOUR_PORTS: &[Port] = &[
    ("tcp", 2374),
    ("tcp", 2377),
    ("tcp", 2381),
    ("tcp", 27016),
    ("tcp", 27020),
    ("udp", 6379),
    ("tcp", 11212),
    ("tcp", 10011),
    ("tcp", 10251),
    ("tcp", 10256),
    ("tcp", 24),
    ("tcp", 511),
    ("tcp", 515),
    ("udp", 514),
    ("tcp", 69),
    ("udp", 23),
    ("tcp", 161),
    ("udp", 79),
    ("tcp", 5899),
    ("tcp", 6064),
    ("udp", 3389),
    ("udp", 445),
    ("tcp", 137),
    ("udp", 25),
    ("tcp", 26),
];

fn sock(proto: &'static str, addr: &'static str, port: u16) -> Sock {
    if proto == "tcp" { tcp(addr, port) } else { udp(addr, port) }
}

#[test]
fn every_port_of_every_port_rule_beyond_loopback_and_none_on_loopback_or_next_door() {
    if !can_run("every_port_of_every_port_rule_beyond_loopback_and_none_on_loopback_or_next_door") {
        return;
    }
    let all = || RULE_PORTS.iter().flat_map(|(r, s, ports)| ports.iter().map(move |p| (r, s, p)));
    let scene = Scene::new("ports");
    let exposed: Vec<Sock> =
        all().map(|(_, _, &(proto, port))| sock(proto, "0.0.0.0", port)).collect();
    let _holder = scene.hold(&exposed);
    let report = scene.report();
    for (&rule, &severity, &(proto, port)) in all() {
        assert_finding(&report, &scene, rule, severity, sock(proto, "0.0.0.0", port));
    }
    assert_eq!(rules_of(&report).len(), exposed.len(), "one finding each: {report:#}");

    let quiet = Scene::new("ports-miss");
    let mut near: Vec<Sock> =
        all().map(|(_, _, &(proto, port))| sock(proto, "127.0.0.1", port)).collect();
    near.extend(NEIGHBOUR_PORTS.iter().map(|&(proto, port)| sock(proto, "0.0.0.0", port)));
    let _holder = quiet.hold(&near);
    let report = quiet.report();
    assert_eq!(report["summary"]["listeners"], near.len());
    assert_eq!(rules_of(&report), Vec::<&str>::new(), "{report:#}");
}

/// The same Redis listener on 0.0.0.0 behind five rulesets: open by an
/// explicit rule (high), blocked (two steps lower), restricted to a private
/// range (three lower), to a public one (one lower), open by policy alone
/// (and open-without-firewall-rule), and no firewall at all (no-firewall).
#[test]
fn firewall_variants_of_one_redis_listener() {
    if !can_run("firewall_variants_of_one_redis_listener") {
        return;
    }
    let scene = Scene::new("fw-variants");
    let redis = tcp("0.0.0.0", 6379);
    let _holder = scene.hold(&[redis]);
    let chain = |policy: &str, rules: &str| {
        format!(
            "table inet filter {{\n  chain input {{\n    type filter hook input priority filter; policy {policy};\n    {rules}\n  }}\n}}\n"
        )
    };
    let variants = [
        (chain("drop", "tcp dport 6379 accept"), "open", "high", None),
        (chain("drop", "tcp dport 22 accept"), "blocked", "low", Some("the firewall blocks")),
        (
            chain("drop", "ip saddr 10.0.0.0/8 tcp dport 6379 accept"),
            "restricted",
            "info",
            Some("admits only private sources (10.0.0.0/8)"),
        ),
        (
            chain("drop", "ip saddr 192.0.2.0/24 tcp dport 6379 accept"),
            "restricted",
            "medium",
            Some("admits only some sources (192.0.2.0/24)"),
        ),
        (chain("accept", "tcp dport 22 accept"), "open", "high", None),
        (String::new(), "open", "high", None),
    ];
    for (rules, verdict, severity, lowered) in variants {
        scene.netns.load_ruleset(&rules);
        let report = scene.report();
        let finding = assert_finding(&report, &scene, "exposed-datastore", severity, redis);
        let firewall = &finding["listener"]["exposure"]["firewall"];
        assert_eq!(firewall["verdict"], verdict, "{rules}: {firewall:#}");
        let message = finding["message"].as_str().unwrap();
        match lowered {
            Some(why) => assert!(message.contains(why), "{rules}: {message}"),
            None => assert!(!message.contains("lowered"), "{rules}: {message}"),
        }
        let by_policy = rules.contains("policy accept");
        let none = rules.is_empty();
        let expected: Vec<&str> = match (by_policy, none) {
            (true, _) => vec!["exposed-datastore", "open-without-firewall-rule"],
            (_, true) => vec!["exposed-datastore", "no-firewall"],
            _ => vec!["exposed-datastore"],
        };
        assert_eq!(rules_of(&report), expected, "{rules}: {report:#}");
    }
}
