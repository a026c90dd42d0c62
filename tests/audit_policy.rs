//! `portwatch audit --policy FILE` and `--init-policy`, through the binary:
//! allow entries by each key, rules disabled and re-graded, allowlist mode,
//! a generated policy fed back, and invalid files named by line and column.
//!
//! The socket keys are checked on the netns-basic recording (tcp 22 on
//! 0.0.0.0 and [::], tcp 8080 dual-stack, tcp 5432 on 127.0.0.1%lo, udp 53
//! on 0.0.0.0, udp 5353 on ::1), without root. The owner keys (process, exe,
//! user, unit, container) and the namespace are checked live, in a namespace
//! the test creates, on processes it starts there (as root; the unit and the
//! container come from cgroups the test creates).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, Netns, fixture, json_of, skip_unless_root};
use serde_json::Value;

const RECORDING: &str = "netns-basic/portwatch.pwdump";

/// A policy file with `text`, removed when dropped.
struct PolicyFile {
    file: tempfile::NamedTempFile,
}

impl PolicyFile {
    fn new(text: &str) -> PolicyFile {
        let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(file.path(), text).unwrap();
        PolicyFile { file }
    }

    fn path(&self) -> &str {
        self.file.path().to_str().unwrap()
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run portwatch")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON report of the recording judged by `policy`.
fn audit_recording(policy: &str, extra: &[&str]) -> (Value, i32) {
    let file = PolicyFile::new(policy);
    let recording = fixture(RECORDING);
    let mut args =
        vec!["audit", "--from", recording.to_str().unwrap(), "--policy", file.path(), "--json"];
    args.extend_from_slice(extra);
    if !extra.contains(&"--fail-on") {
        args.extend_from_slice(&["--fail-on", "never"]);
    }
    let output = run(&args);
    assert!(matches!(code(&output), 0 | 1 | 3), "{args:?}: {}", stderr(&output));
    (json_of(&output.stdout), code(&output))
}

/// (rule, proto, address, port) of every finding.
fn findings(report: &Value) -> BTreeSet<(String, String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let listener = &f["listener"];
            (
                f["rule"].as_str().unwrap().to_owned(),
                listener["netid"].as_str().unwrap().to_owned(),
                listener["local"]["addr"].as_str().unwrap().to_owned(),
                listener["local"]["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// (proto, address, port) of every `unapproved-listener` finding.
fn unapproved(report: &Value) -> BTreeSet<(String, String, u64)> {
    findings(report)
        .into_iter()
        .filter(|(rule, ..)| rule == "unapproved-listener")
        .map(|(_, proto, addr, port)| (proto, addr, port))
        .collect()
}

fn finding<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {report}"))
}

fn listener(proto: &str, addr: &str, port: u64) -> (String, String, u64) {
    (proto.to_owned(), addr.to_owned(), port)
}

/// A listener as (proto, address, port).
type Seen = (&'static str, &'static str, u64);

/// Every listener of the recording.
fn all_listeners() -> BTreeSet<(String, String, u64)> {
    [
        listener("tcp", "0.0.0.0", 22),
        listener("tcp", "::", 22),
        listener("tcp", "::", 8080),
        listener("tcp", "127.0.0.1", 5432),
        listener("udp", "0.0.0.0", 53),
        listener("udp", "::1", 5353),
    ]
    .into()
}

#[test]
fn without_a_policy_the_recording_has_ssh_and_dual_stack_findings() {
    let recording = fixture(RECORDING);
    let output = run(&["audit", "--from", recording.to_str().unwrap(), "--json"]);
    let report = json_of(&output.stdout);
    let rules: BTreeSet<(String, u64)> =
        findings(&report).into_iter().map(|(rule, _, _, port)| (rule, port)).collect();
    let expected: BTreeSet<(String, u64)> =
        [("ssh-on-default-port".to_owned(), 22), ("dual-stack-wildcard".to_owned(), 8080)].into();
    assert_eq!(rules, expected);
    assert_eq!(code(&output), 3, "a recording is an audit with limits");
}

#[test]
fn allowlist_entries_match_by_each_socket_key() {
    let cases: [(&str, &[Seen]); 9] = [
        ("protocol = \"udp\"", &[("udp", "0.0.0.0", 53), ("udp", "::1", 5353)]),
        ("port = 22", &[("tcp", "0.0.0.0", 22), ("tcp", "::", 22)]),
        ("port = \"5000-6000\"", &[("tcp", "127.0.0.1", 5432), ("udp", "::1", 5353)]),
        ("bind = \"loopback\"", &[("tcp", "127.0.0.1", 5432), ("udp", "::1", 5353)]),
        (
            "bind = \"wildcard\"\nprotocol = \"tcp\"",
            &[("tcp", "0.0.0.0", 22), ("tcp", "::", 22), ("tcp", "::", 8080)],
        ),
        ("address = \"127.0.0.0/8\"", &[("tcp", "127.0.0.1", 5432)]),
        ("address = \"::1\"", &[("udp", "::1", 5353)]),
        (
            "address = \"0.0.0.0\"\nport = \"1-100\"",
            &[("tcp", "0.0.0.0", 22), ("udp", "0.0.0.0", 53)],
        ),
        // Near misses: every key must match.
        ("protocol = \"tcp\"\nport = 53", &[]),
    ];
    for (keys, approved) in cases {
        let policy = format!("mode = \"allowlist\"\n\n[[allow]]\ncomment = \"test\"\n{keys}\n");
        let (report, _) = audit_recording(&policy, &[]);
        let approved: BTreeSet<_> =
            approved.iter().map(|(proto, addr, port)| listener(proto, addr, *port)).collect();
        let expected: BTreeSet<_> = all_listeners().difference(&approved).cloned().collect();
        assert_eq!(unapproved(&report), expected, "{keys}");
        for finding in report["findings"].as_array().unwrap() {
            if finding["rule"] == "unapproved-listener" {
                assert_eq!(finding["policy_line"], 1, "the line of mode = \"allowlist\"");
                assert_eq!(finding["severity"], "medium");
            }
        }
    }
}

#[test]
fn an_allowed_listener_gets_no_port_rule_findings() {
    let (report, _) = audit_recording("[[allow]]\nport = 22\n", &[]);
    let rules: BTreeSet<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert_eq!(rules, ["dual-stack-wildcard".to_owned()].into(), "ssh is allowed: {report}");
    let (report, _) =
        audit_recording("[[allow]]\nport = \"8000-8100\"\nbind = \"wildcard\"\n", &[]);
    let rules: BTreeSet<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert_eq!(rules, ["ssh-on-default-port".to_owned()].into(), "{report}");
    assert!(unapproved(&report).is_empty(), "report mode adds no unapproved-listener");
}

#[test]
fn owner_keys_approve_nothing_on_a_recording_and_the_limits_say_so() {
    let policy = "mode = \"allowlist\"\n[[allow]]\nport = 22\nprocess = \"sshd\"\n";
    let (report, _) = audit_recording(policy, &[]);
    assert!(unapproved(&report).contains(&listener("tcp", "0.0.0.0", 22)), "{report}");
    let ssh = finding(&report, "ssh-on-default-port");
    assert_eq!(ssh["severity"], "info", "not silenced either");
    let limits = report["limits"].as_array().unwrap();
    assert!(
        limits.iter().any(|l| {
            let l = l.as_str().unwrap();
            l.starts_with("policy: ") && l.contains("line 2") && l.contains("2 listener(s)")
        }),
        "{limits:?}"
    );
    let message = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "unapproved-listener" && f["listener"]["local"]["port"] == 22)
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("lines 2 name owners"), "{message}");
}

#[test]
fn a_disabled_rule_reports_nothing() {
    let (report, _) = audit_recording("[rules.ssh-on-default-port]\ndisabled = true\n", &[]);
    let rules: BTreeSet<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert_eq!(rules, ["dual-stack-wildcard".to_owned()].into());
    let policy = "mode = \"allowlist\"\n[rules.unapproved-listener]\ndisabled = true\n";
    let (report, _) = audit_recording(policy, &[]);
    assert!(unapproved(&report).is_empty(), "{report}");
}

#[test]
fn a_regraded_rule_has_its_new_severity_and_fail_on_follows_it() {
    let policy = "# ssh matters here\n[rules.ssh-on-default-port]\nseverity = \"high\"\n";
    let (report, exit) = audit_recording(policy, &["--fail-on", "high"]);
    assert_eq!(exit, 1, "a high finding now: {report}");
    let ssh = finding(&report, "ssh-on-default-port");
    assert_eq!(ssh["severity"], "high");
    assert_eq!(ssh["policy_line"], 3, "the line of the override's severity");
    assert!(ssh["message"].as_str().unwrap().contains("(built-in: info)"), "{ssh}");
    assert_eq!(finding(&report, "dual-stack-wildcard")["severity"], "info");
    assert_eq!(report["summary"]["findings"]["high"], 2);
    // Without the override, nothing reaches high: the recording's limits make it 3.
    let (_, exit) = audit_recording("", &["--fail-on", "high"]);
    assert_eq!(exit, 3);
    // Down as well as up: unapproved listeners as info pass --fail-on low.
    let policy = "mode = \"allowlist\"\n[rules.unapproved-listener]\nseverity = \"info\"\n";
    let (report, exit) = audit_recording(policy, &["--fail-on", "low"]);
    assert_eq!(exit, 3, "{report}");
    assert_eq!(finding(&report, "unapproved-listener")["policy_line"], 3);
    let (_, exit) = audit_recording("mode = \"allowlist\"\n", &["--fail-on", "low"]);
    assert_eq!(exit, 1);
}

#[test]
fn init_policy_from_the_recording_fed_back_gives_no_findings() {
    let recording = fixture(RECORDING);
    let output = run(&["audit", "--from", recording.to_str().unwrap(), "--init-policy"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let policy = String::from_utf8(output.stdout).unwrap();
    assert!(policy.contains("mode = \"allowlist\""), "{policy}");
    assert_eq!(
        policy.lines().filter(|l| *l == "[[allow]]").count(),
        5,
        "22 on 0.0.0.0 and [::] share one"
    );
    assert!(policy.contains("comment = \"seen: tcp 0.0.0.0:22, tcp [::]:22\""), "{policy}");
    let (report, exit) = audit_recording(&policy, &["--fail-on", "info"]);
    assert_eq!(findings(&report), BTreeSet::new(), "{policy}");
    assert_eq!(exit, 3, "no finding; the recording's limit remains");
    // Pruned: the entry for 8080 gone, that listener is unapproved.
    let pruned = policy.replace("port = 8080", "port = 8081");
    let (report, _) = audit_recording(&pruned, &[]);
    assert_eq!(unapproved(&report), [listener("tcp", "::", 8080)].into());
    assert!(findings(&report).iter().any(|f| f.0 == "dual-stack-wildcard"));
}

#[test]
fn invalid_policies_name_file_line_and_column_and_exit_2() {
    let cases = [
        ("syntax", "mode = \"allowlist\n", "1:18", "invalid basic string"),
        (
            "unknown key",
            "[[allow]]\nport = 22\nprocesss = \"sshd\"\n",
            "3:1",
            "unknown key `processs`",
        ),
        (
            "unknown top-level key",
            "mode = \"report\"\nallows = []\n",
            "2:1",
            "unknown key `allows`",
        ),
        (
            "unknown rule",
            "\n[rules.no-such-rule]\ndisabled = true\n",
            "2:8",
            "unknown rule 'no-such-rule'",
        ),
        (
            "unknown rule key",
            "[rules.legacy-service]\ndisable = true\n",
            "2:1",
            "unknown key `disable`",
        ),
        ("bad CIDR", "[[allow]]\naddress = \"10.0.0.0/33\"\n", "2:11", "bad address '10.0.0.0/33'"),
        ("bad address", "[[allow]]\naddress = \"10.0.0.256\"\n", "2:11", "bad address"),
        ("bad port range", "[[allow]]\nport = \"9000-80\"\n", "2:8", "bad port range '9000-80'"),
        ("port too large", "[[allow]]\nport = 65536\n", "2:8", "bad port range"),
        (
            "bad severity",
            "[rules.legacy-service]\nseverity = \"hgih\"\n",
            "2:12",
            "unknown variant `hgih`",
        ),
        ("bad mode", "mode = \"strict\"\n", "1:8", "unknown variant `strict`"),
        ("bad bind", "[[allow]]\nbind = \"lan\"\n", "2:8", "unknown variant `lan`"),
        (
            "empty entry",
            "[[allow]]\nport = 22\n\n[[allow]]\ncomment = \"x\"\n",
            "4:1",
            "needs a key",
        ),
    ];
    let recording = fixture(RECORDING);
    for (what, text, at, problem) in cases {
        let file = PolicyFile::new(text);
        for mode in [&["--json"][..], &["--init-policy"][..]] {
            let mut args =
                vec!["audit", "--from", recording.to_str().unwrap(), "--policy", file.path()];
            if mode == ["--json"] {
                args.extend_from_slice(mode);
            }
            let output = run(&args);
            let err = stderr(&output);
            assert_eq!(code(&output), 2, "{what}: {err}");
            assert!(output.stdout.is_empty(), "{what}");
            assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
            let start = format!("portwatch: {}:{at}: ", file.path());
            assert!(err.starts_with(&start), "{what}: expected {start}..., got {err}");
            assert!(err.contains(problem), "{what}: {err}");
        }
    }
    let output = run(&["audit", "--policy", "/nonexistent/policy.toml"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).starts_with("portwatch: /nonexistent/policy.toml: "));
}

#[test]
fn init_policy_and_policy_do_not_go_together() {
    let file = PolicyFile::new("mode = \"report\"\n");
    let output = run(&["audit", "--init-policy", "--policy", file.path()]);
    assert_eq!(code(&output), 2);
}

#[test]
fn the_readme_policy_example_is_a_valid_policy() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("### Policy").nth(1).expect("README has a Policy section");
    let example = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
    let (report, _) = audit_recording(example, &[]);
    assert!(report["findings"].is_array());
}

// Live: owner keys and namespaces, on processes this test starts.

const SPEC: &str = "PORTWATCH_POLICY_CHILD";

/// The body of the child processes: binds the sockets `PORTWATCH_POLICY_CHILD`
/// names (`tcp:ADDR:PORT` or `udp:ADDR:PORT`, comma-separated), prints
/// `PWCHILD PID`, and holds them until stdin closes.
#[test]
#[ignore = "entry point of the child processes the other tests spawn"]
fn child_entry() {
    let Ok(spec) = std::env::var(SPEC) else { return };
    let mut held: Vec<OwnedFd> = Vec::new();
    for item in spec.split(',') {
        let (kind, address) = item.split_once(':').unwrap();
        held.push(match kind {
            "tcp" => OwnedFd::from(TcpListener::bind(address).unwrap()),
            "udp" => OwnedFd::from(UdpSocket::bind(address).unwrap()),
            other => panic!("unknown socket kind {other}"),
        });
    }
    println!("PWCHILD {}", std::process::id());
    let _ = std::io::stdin().read_line(&mut String::new());
    drop(held);
}

/// A child holding sockets in a namespace, under a name the test chooses
/// (a symlink to this test binary), optionally in a cgroup of its own.
struct Holder {
    process: Child,
    pid: u32,
    cgroup: Option<PathBuf>,
}

impl Holder {
    fn spawn(links: &Path, name: &str, spec: &str, netns: &Netns, cwd: &Path) -> Holder {
        let link = links.join(name);
        std::os::unix::fs::symlink(common::plain_test_binary(), &link).unwrap();
        let mut command = netns.command(link.to_str().unwrap());
        command.args(["--ignored", "--exact", "child_entry", "--nocapture", "--test-threads=1"]);
        command.env(SPEC, spec).current_dir(cwd);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut process = command.spawn().unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pid = stdout.lines().map_while(Result::ok).find_map(|line| {
                line.split_once("PWCHILD ").and_then(|(_, pid)| pid.trim().parse::<u32>().ok())
            });
            let _ = sender.send(pid);
        });
        match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(pid)) => Holder { process, pid, cgroup: None },
            _ => {
                let _ = process.kill();
                panic!("the child {name} did not report within 30 s");
            }
        }
    }

    /// Moves the child into a new cgroup `name` of the unified hierarchy,
    /// where portwatch reads its unit or container from.
    fn move_to_cgroup(&mut self, root: &Path, name: &str) {
        let dir = root.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), self.pid.to_string()).unwrap();
        self.cgroup = Some(dir);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.process.stdin.take());
        let _ = self.process.wait();
        if let Some(dir) = &self.cgroup {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The cgroup v2 hierarchy to create test cgroups in: /sys/fs/cgroup when it
/// is cgroup2 itself, else the hybrid layout's /sys/fs/cgroup/unified.
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(fields[1]))
        })
        .find(|path| path.join("cgroup.procs").exists())
}

/// A namespace with four holders: `pw-redis` on 0.0.0.0:6379 (exposed
/// datastore) in unit `UNIT`, `pw-telnetd` on 0.0.0.0:23 (cleartext login)
/// in a docker container's cgroup, `pw-mta` on 0.0.0.0:25 (nonlocal MTA),
/// and `pw-dropper` on 0.0.0.0:8443 working in /tmp (temporary directory).
static SCENES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Scene {
    netns: Netns,
    unit: String,
    container: String,
    _holders: Vec<Holder>,
    _links: tempfile::TempDir,
}

impl Scene {
    fn new(test: &str) -> Option<Scene> {
        if skip_unless_root(test) {
            return None;
        }
        let Some(cgroups) = cgroup2_root() else {
            assert!(std::env::var_os("CI").is_none(), "{test} needs a cgroup2 hierarchy");
            eprintln!("skipping {test}: no writable cgroup2 hierarchy for the unit and container");
            return None;
        };
        if common::skip_without_tool("nft", test) {
            return None;
        }
        let netns = Netns::new("policy");
        netns.load_ruleset(common::EXPLICIT_ACCEPT);
        let links =
            tempfile::Builder::new().prefix("pwpolicy").tempdir_in(common::plain_root()).unwrap();
        let here = &common::plain_root();
        let pid = std::process::id();
        let serial = SCENES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let unit = format!("pw-policy-{pid}-{serial}.service");
        let container = format!("{:0<64}", format!("c0ffee{pid:x}f{serial:x}"));
        let mut redis = Holder::spawn(links.path(), "pw-redis", "tcp:0.0.0.0:6379", &netns, here);
        redis.move_to_cgroup(&cgroups, &unit);
        let mut telnetd = Holder::spawn(links.path(), "pw-telnetd", "tcp:0.0.0.0:23", &netns, here);
        telnetd.move_to_cgroup(&cgroups, &format!("docker-{container}.scope"));
        let mta = Holder::spawn(links.path(), "pw-mta", "tcp:0.0.0.0:25", &netns, here);
        let dropper = Holder::spawn(
            links.path(),
            "pw-dropper",
            "tcp:0.0.0.0:8443",
            &netns,
            Path::new("/tmp"),
        );
        Some(Scene {
            netns,
            unit,
            container,
            _holders: vec![redis, telnetd, mta, dropper],
            _links: links,
        })
    }

    /// The JSON audit of the namespace, judged by `policy` when given.
    fn audit(&self, policy: Option<&str>, extra: &[&str]) -> (Value, i32) {
        let file = policy.map(PolicyFile::new);
        let mut args = vec!["audit", "-N", &self.netns.name, "--json"];
        if let Some(file) = &file {
            args.extend_from_slice(&["--policy", file.path()]);
        }
        args.extend_from_slice(extra);
        if !extra.contains(&"--fail-on") {
            args.extend_from_slice(&["--fail-on", "never"]);
        }
        let output = run(&args);
        assert!(matches!(code(&output), 0 | 1 | 3), "{args:?}: {}", stderr(&output));
        (json_of(&output.stdout), code(&output))
    }

    /// (rule, port) of every finding.
    fn rules(&self, policy: Option<&str>) -> BTreeSet<(String, u64)> {
        let (report, _) = self.audit(policy, &[]);
        findings(&report).into_iter().map(|(rule, _, _, port)| (rule, port)).collect()
    }
}

fn rule_ports(pairs: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    pairs.iter().map(|(rule, port)| ((*rule).to_owned(), *port)).collect()
}

const ALL_FOUND: [(&str, u64); 4] = [
    ("exposed-datastore", 6379),
    ("cleartext-login", 23),
    ("nonlocal-mta", 25),
    ("binary-in-temporary-directory", 8443),
];

/// ALL_FOUND without the findings on `ports`.
fn all_but(ports: &[u64]) -> BTreeSet<(String, u64)> {
    rule_ports(&ALL_FOUND).into_iter().filter(|(_, port)| !ports.contains(port)).collect()
}

#[test]
fn live_allow_entries_match_by_process_exe_user_unit_container_and_namespace() {
    let Some(scene) = Scene::new("live_allow_entries_match_by_owner_keys") else { return };
    assert_eq!(scene.rules(None), rule_ports(&ALL_FOUND), "the scene's own findings");
    let (report, _) = scene.audit(None, &[]);
    let redis = finding(&report, "exposed-datastore");
    assert_eq!(redis["listener"]["processes"][0]["unit"], scene.unit.as_str(), "{redis}");

    let exe = std::fs::canonicalize(common::plain_test_binary()).unwrap();
    let exe = exe.to_str().unwrap();
    let (uid, user) = {
        let uid = nix::unistd::geteuid();
        (uid.as_raw(), nix::unistd::User::from_uid(uid).unwrap().unwrap().name)
    };
    let unit = scene.unit.as_str();
    let prefix = &scene.container[..8];
    let ns = scene.netns.name.as_str();
    let cases: Vec<(String, &[u64])> = vec![
        ("process = \"pw-redis\"".into(), &[6379]),
        ("process = \"pw-mta\"\nport = 25".into(), &[25]),
        ("process = \"pw-redis\"\nport = 25".into(), &[]),
        ("process = \"pw-nobody\"".into(), &[]),
        (format!("exe = \"{exe}\"\nport = \"20-30\""), &[23, 25]),
        ("exe = \"/usr/sbin/redis-server\"".into(), &[]),
        (format!("user = \"{user}\"\nport = 23"), &[23]),
        (format!("user = \"{uid}\"\nport = 25"), &[25]),
        ("user = \"pw-no-such-user\"\nport = 23".into(), &[]),
        (format!("unit = \"{unit}\""), &[6379]),
        ("unit = \"redis-server.service\"".into(), &[]),
        (format!("container = \"{prefix}\""), &[23]),
        ("container = \"ffffffff\"".into(), &[]),
        (format!("namespace = \"{ns}\"\nport = 6379"), &[6379]),
        ("namespace = \"pw-some-other-namespace\"".into(), &[]),
        (
            format!(
                "process = \"pw-redis\"\nunit = \"{unit}\"\nuser = \"{user}\"\nbind = \"wildcard\""
            ),
            &[6379],
        ),
    ];
    for (keys, silenced) in cases {
        let policy = format!("[[allow]]\ncomment = \"case\"\n{keys}\n");
        assert_eq!(scene.rules(Some(&policy)), all_but(silenced), "{keys}");
    }
}

#[test]
fn live_owner_rules_still_judge_allowed_listeners_and_show_the_entry() {
    let Some(scene) = Scene::new("live_owner_rules_still_judge_allowed_listeners") else { return };
    let policy = "mode = \"allowlist\"\n\n[[allow]]\ncomment = \"admin console\"\nport = 8443\nprocess = \"pw-dropper\"\n";
    let (report, _) = scene.audit(Some(policy), &[]);
    let dropper = finding(&report, "binary-in-temporary-directory");
    assert_eq!(dropper["policy_line"], 3, "the allow entry's line");
    let message = dropper["message"].as_str().unwrap();
    assert!(message.contains("line 3 (\"admin console\")"), "{message}");
    let unapproved: BTreeSet<u64> = unapproved(&report).into_iter().map(|l| l.2).collect();
    assert_eq!(unapproved, [23, 25, 6379].into(), "{report}");
    // Disabled, the owner rule is gone from the allowed listener too.
    let policy = format!("{policy}\n[rules.binary-in-temporary-directory]\ndisabled = true\n");
    let rules = scene.rules(Some(&policy));
    assert!(!rules.iter().any(|(_, port)| *port == 8443), "{rules:?}");
}

#[test]
fn live_init_policy_fed_back_gives_no_findings() {
    let Some(scene) = Scene::new("live_init_policy_fed_back_gives_no_findings") else { return };
    let output = run(&["audit", "-N", &scene.netns.name, "--init-policy"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let policy = String::from_utf8(output.stdout).unwrap();
    for key in [
        "process = \"pw-redis\"".to_owned(),
        format!("unit = \"{}\"", scene.unit),
        format!("container = \"{}\"", &scene.container[..12]),
        format!("namespace = \"{}\"", scene.netns.name),
        "port = 8443".to_owned(),
    ] {
        assert!(policy.contains(&key), "{key} in {policy}");
    }
    assert_eq!(policy.lines().filter(|l| *l == "[[allow]]").count(), 4, "{policy}");
    // Owner rules still apply: only the program working in /tmp remains.
    let (report, exit) = scene.audit(Some(&policy), &["--fail-on", "info"]);
    assert_eq!(
        findings(&report).into_iter().map(|f| (f.0, f.3)).collect::<BTreeSet<_>>(),
        rule_ports(&[("binary-in-temporary-directory", 8443)]),
        "{policy}"
    );
    assert_eq!(exit, 1);
    let quiet = format!("{policy}\n[rules.binary-in-temporary-directory]\ndisabled = true\n");
    let (report, exit) = scene.audit(Some(&quiet), &["--fail-on", "info"]);
    assert_eq!(findings(&report), BTreeSet::new(), "{quiet}");
    // 3 only for the host's own limits (a process hidden even from root,
    // in some sandboxes), none from the policy.
    let limits = report["limits"].as_array().unwrap();
    assert_eq!(exit, if limits.is_empty() { 0 } else { 3 }, "{report}");
    assert!(!limits.iter().any(|l| l.as_str().unwrap().starts_with("policy")), "{limits:?}");
}
