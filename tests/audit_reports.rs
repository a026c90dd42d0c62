//! The audit's reports for machines: SARIF that Microsoft's validator
//! accepts with GitHub's ingestion rules, with fingerprints stable across
//! runs; Prometheus metrics read back through a real node_exporter; the
//! atomic `--output`; and the shipped alert rules and systemd units, checked
//! by promtool and systemd-analyze. Every external tool is installed by
//! scripts/test; without it a test says why it skips (under CI=true it fails).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, fixture};
use serde_json::Value;

const RECORDING: &str = "netns-basic/portwatch.pwdump";

fn audit(args: &[&str]) -> Output {
    let recording = fixture(RECORDING);
    Command::new(BIN)
        .arg("audit")
        .arg("--from")
        .arg(&recording)
        .args(args)
        .output()
        .expect("run portwatch audit")
}

/// `portwatch audit --from FIXTURE ARGS`, which exits 3 (a recording has no
/// owners to check) with no finding at --fail-on's default.
fn audit_ok(args: &[&str]) -> Output {
    let output = audit(args);
    assert_eq!(
        output.status.code(),
        Some(3),
        "portwatch audit {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn sarif() -> Value {
    serde_json::from_slice(&audit_ok(&["--format", "sarif"]).stdout).expect("SARIF is JSON")
}

/// An external tool, or `None` after saying why the test skips; under CI,
/// where scripts/test installs it, its absence fails the test.
fn tool(candidates: &[PathBuf], what: &str, test: &str) -> Option<PathBuf> {
    if let Some(found) = candidates.iter().find(|path| is_executable(path)) {
        return Some(found.clone());
    }
    assert!(
        std::env::var("CI").map_or(true, |ci| ci != "true"),
        "{test} needs {what}, which scripts/test installs"
    );
    eprintln!("skipping {test}: {what} is not installed (scripts/test installs it)");
    None
}

fn on_path(name: &str) -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(name)).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

// ---------------------------------------------------------------- SARIF

fn sarif_validator(test: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PORTWATCH_SARIF_MULTITOOL").map(PathBuf::from).into_iter().collect();
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "target/tools/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool",
    ));
    candidates.extend(on_path("Sarif.Multitool"));
    tool(&candidates, "Microsoft's SARIF validator (npm @microsoft/sarif-multitool)", test)
}

/// `sarif validate FILE --rule-kind "Gh;Sarif"`: its own findings about
/// FILE, as (level, rule id, message) from the SARIF log it writes.
fn validate(validator: &Path, file: &Path) -> Vec<(String, String, String)> {
    let log = file.with_extension("validation.sarif");
    let output = Command::new(validator)
        .arg("validate")
        .arg(file)
        .args(["--rule-kind", "Gh;Sarif", "--level", "Error;Warning;Note"])
        .args(["--log", "ForceOverwrite", "--output"])
        .arg(&log)
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("run the SARIF validator");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("Analysis completed successfully"),
        "the validator failed ({}): {text}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let log: Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().cloned().unwrap_or_default();
    results
        .iter()
        .map(|result| {
            let message = &result["message"];
            let message = message["text"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{} {}", message["id"], message["arguments"]));
            (
                // SARIF's default level is warning.
                result["level"].as_str().unwrap_or("warning").to_owned(),
                result["ruleId"].as_str().unwrap_or("").to_owned(),
                message,
            )
        })
        .collect()
}

#[test]
fn sarif_passes_microsofts_validator_with_githubs_rules() {
    let Some(validator) = sarif_validator("sarif_passes_microsofts_validator_with_githubs_rules")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portwatch.sarif");
    audit_ok(&["--format", "sarif", "--output", file.to_str().unwrap()]);
    let findings = validate(&validator, &file);
    // SARIF2005 asks for tool.driver.informationUri, which portwatch writes
    // from Cargo.toml's homepage or repository: until the crate names one,
    // that warning is expected (and only that one).
    let no_home = env!("CARGO_PKG_HOMEPAGE").is_empty() && env!("CARGO_PKG_REPOSITORY").is_empty();
    let serious: Vec<_> = findings
        .iter()
        .filter(|(level, rule, _)| level != "note" && !(no_home && rule == "SARIF2005"))
        .collect();
    assert!(serious.is_empty(), "the validator's errors and warnings: {serious:#?}");
    let mut notes: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, rule, _) in &findings {
        *notes.entry(rule).or_default() += 1;
    }
    eprintln!("SARIF validator notes (not errors or warnings): {notes:?}");

    // The harness catches an error: a region whose start line is 0 (JSON1008
    // and SARIF1007 in validator 5.7).
    let mut broken = sarif();
    let location = &mut broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    location["artifactLocation"]["uri"] = "portwatch://host/tcp/22".into();
    location["region"] = serde_json::json!({"startLine": 0});
    let broken_file = dir.path().join("broken.sarif");
    std::fs::write(&broken_file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let findings = validate(&validator, &broken_file);
    assert!(
        findings.iter().any(|(level, _, _)| level == "error"),
        "the validator found no error in a broken file: {findings:#?}"
    );
}

#[test]
fn sarif_has_the_shape_github_ingests() {
    let document = sarif();
    assert_eq!(document["version"], "2.1.0");
    let run = &document["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "portwatch");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(run["automationDetails"]["id"], format!("portwatch/{}/", host.trim()));

    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|rule| rule["id"].as_str().unwrap()).collect();
    for rule in portwatch::audit::rules::RULES {
        assert!(ids.contains(&rule.id), "{} is missing from tool.driver.rules", rule.id);
    }
    for rule in rules {
        for key in ["shortDescription", "fullDescription", "help"] {
            assert!(!rule[key]["text"].as_str().unwrap().is_empty(), "{key} of {rule}");
        }
        let severity: f64 =
            rule["properties"]["security-severity"].as_str().unwrap().parse().unwrap();
        assert!((0.0..=10.0).contains(&severity), "{rule}");
        assert!(rule["properties"]["tags"].as_array().unwrap().contains(&"security".into()));
    }
    let by_id = |id: &str| rules.iter().find(|rule| rule["id"] == id).unwrap().clone();
    assert_eq!(by_id("docker-api-without-tls")["properties"]["security-severity"], "9.5");
    assert_eq!(by_id("exposed-datastore")["properties"]["security-severity"], "8.0");
    assert_eq!(by_id("legacy-service")["properties"]["security-severity"], "5.5");

    // The fixture: SSH on 0.0.0.0:22 and [::]:22, a dual-stack * on 8080.
    let results = run["results"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = results
        .iter()
        .map(|result| {
            assert_eq!(result["level"], "note", "info findings are notes: {result}");
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(result["message"]["text"].as_str().unwrap().contains("Fix: "));
            let physical = &result["locations"][0]["physicalLocation"];
            assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
            (
                result["ruleId"].as_str().unwrap().to_owned(),
                physical["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let path = |rest: &str| format!("hosts/{}/current/{rest}", host.trim());
    assert_eq!(
        seen,
        vec![
            ("dual-stack-wildcard".to_owned(), path("tcp/::/8080")),
            ("ssh-on-default-port".to_owned(), path("tcp/0.0.0.0/22")),
            ("ssh-on-default-port".to_owned(), path("tcp/::/22")),
        ]
    );
    // The limits (owners unchecked on a recording) are the run's notifications.
    let notes = run["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(notes[0]["message"]["text"].as_str().unwrap().contains("recording"), "{notes:?}");
}

#[test]
fn sarif_fingerprints_and_document_are_stable_across_runs() {
    let fingerprints = |document: &Value| -> Vec<String> {
        document["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|result| {
                result["partialFingerprints"]["portwatchListener/v1"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let without_time = |mut document: Value| {
        let invocation = &mut document["runs"][0]["invocations"][0];
        assert!(invocation["endTimeUtc"].is_string());
        invocation["endTimeUtc"] = Value::Null;
        document
    };
    let first = sarif();
    std::thread::sleep(Duration::from_millis(1100));
    let second = sarif();
    let prints = fingerprints(&first);
    assert_eq!(prints.len(), 3);
    assert!(
        prints
            .iter()
            .all(|print| print.len() == 16 && print.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    let mut unique = prints.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), prints.len(), "one fingerprint per listener and rule: {prints:?}");
    assert_eq!(prints, fingerprints(&second));
    assert_eq!(without_time(first), without_time(second));
}

// ----------------------------------------------------------- Prometheus

/// node_exporter on 127.0.0.1, killed when dropped.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    /// As root, node_exporter runs as nobody, as Debian runs it as its own
    /// user: the file must be readable to others, not just written.
    fn start(binary: &Path, textfile_dir: &Path) -> NodeExporter {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = match common::is_root() {
            true => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                    .arg(binary);
                command
            }
            false => Command::new(binary),
        };
        let child = command
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", textfile_dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node_exporter");
        NodeExporter { child, port }
    }

    /// `/metrics`, once node_exporter answers (within 15 seconds).
    fn metrics(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.get("/metrics") {
                Ok(body) => return body,
                Err(error) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        let mut stderr = String::new();
                        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                        panic!("node_exporter exited ({status}): {stderr}");
                    }
                    let _ = error;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("node_exporter did not answer on {}: {error}", self.port),
            }
        }
    }

    fn get(&self, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other(format!("no HTTP header end: {response}")))?;
        if !head.starts_with("HTTP/1.") || !head.contains(" 200 ") {
            return Err(std::io::Error::other(format!("HTTP answer: {head}")));
        }
        Ok(body.to_owned())
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The samples of `metrics` whose name starts with `portwatch_`, by their
/// text before the value (name and labels, as node_exporter orders them).
fn portwatch_samples(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with("portwatch_"))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn prometheus_metrics_scraped_back_through_node_exporter() {
    let mut candidates = on_path("prometheus-node-exporter");
    candidates.extend(on_path("node_exporter"));
    let Some(binary) = tool(
        &candidates,
        "node_exporter (Debian's prometheus-node-exporter)",
        "prometheus_metrics_scraped_back_through_node_exporter",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portwatch.prom");
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    audit_ok(&["--format", "prometheus", "--output", file.to_str().unwrap()]);
    assert_eq!(files_in(dir.path()), ["portwatch.prom"], "--output leaves no temporary file");
    std::fs::remove_file(&file).unwrap();

    // Published the way contrib/systemd/portwatch-audit.service does it:
    // its ExecStart's --output, then its ExecStopPost, in this directory.
    let service = std::fs::read_to_string(contrib("systemd/portwatch-audit.service")).unwrap();
    let collector = "/var/lib/prometheus/node-exporter";
    let here = dir.path().to_str().unwrap();
    let exec_start = service.lines().find_map(|line| line.strip_prefix("ExecStart=")).unwrap();
    let output = exec_start.split("--output ").nth(1).unwrap().replace(collector, here);
    audit_ok(&["--format", "prometheus", "--output", &output]);
    let publish =
        service.lines().find_map(|line| line.strip_prefix("ExecStopPost=/bin/sh -c ")).unwrap();
    let publish = publish.trim_matches('\'').replace(collector, here);
    let status = Command::new("/bin/sh").args(["-c", &publish]).status().unwrap();
    assert!(status.success(), "{publish}");
    assert_eq!(files_in(dir.path()), ["portwatch.prom"]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut exporter = NodeExporter::start(&binary, dir.path());
    let metrics = exporter.metrics();
    drop(exporter);
    assert!(
        metrics.contains("node_textfile_scrape_error 0"),
        "node_exporter could not read the file: {}",
        metrics.lines().filter(|l| l.contains("textfile")).collect::<Vec<_>>().join("\n")
    );
    for name in [
        "portwatch_listeners",
        "portwatch_findings",
        "portwatch_audit_success",
        "portwatch_audit_duration_seconds",
        "portwatch_audit_last_run_timestamp_seconds",
        "portwatch_audit_limits",
    ] {
        assert!(metrics.contains(&format!("# TYPE {name} gauge\n")), "{name} is no gauge");
        assert!(metrics.contains(&format!("# HELP {name} ")), "{name} has no HELP");
    }
    let samples = portwatch_samples(&metrics);
    let value = |series: &str| {
        *samples.get(series).unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
    };
    // node_exporter sorts labels by name.
    let listeners = |netid: &str, scope: &str| {
        value(&format!(
            "portwatch_listeners{{exposure=\"{scope}\",netns=\"current\",proto=\"{netid}\"}}"
        ))
    };
    // 22 on 0.0.0.0 and [::], 8080 on *; 5432 on 127.0.0.1%lo; 53/udp on
    // 0.0.0.0, 5353/udp on ::1.
    assert_eq!(listeners("tcp", "wildcard"), 3.0);
    assert_eq!(listeners("tcp", "loopback"), 1.0);
    assert_eq!(listeners("tcp", "address"), 0.0);
    assert_eq!(listeners("udp", "wildcard"), 1.0);
    assert_eq!(listeners("udp", "loopback"), 1.0);
    let findings = |rule: &str, severity: &str| {
        value(&format!("portwatch_findings{{rule=\"{rule}\",severity=\"{severity}\"}}"))
    };
    assert_eq!(findings("ssh-on-default-port", "info"), 2.0);
    assert_eq!(findings("dual-stack-wildcard", "info"), 1.0);
    assert_eq!(findings("exposed-datastore", "high"), 0.0);
    assert_eq!(findings("docker-api-without-tls", "critical"), 0.0);
    assert_eq!(value("portwatch_audit_success"), 1.0);
    // A recording has neither owners nor a ruleset to check.
    assert_eq!(value("portwatch_audit_limits"), 2.0);
    let duration = value("portwatch_audit_duration_seconds");
    assert!(duration > 0.0 && duration < 60.0, "{duration}");
    let ran = value("portwatch_audit_last_run_timestamp_seconds");
    assert!(ran >= before.floor() && ran <= before + 120.0, "{ran} vs {before}");
}

#[test]
fn prometheus_output_passes_promtools_lint() {
    let Some(promtool) = tool(
        &on_path("promtool"),
        "promtool (Debian's prometheus)",
        "prometheus_output_passes_promtools_lint",
    ) else {
        return;
    };
    let metrics = audit_ok(&["--format", "prometheus"]).stdout;
    assert!(!String::from_utf8_lossy(&metrics).lines().any(|line| {
        // No timestamps: a sample line is `series value`, nothing after.
        !line.starts_with('#')
            && line.rsplit_once('}').map_or(line, |(_, rest)| rest).split(' ').count() > 2
    }));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&metrics).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn output_is_atomic_and_failed_runs_leave_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portwatch.prom");
    let target = file.to_str().unwrap();

    // A usage error: nothing written.
    let output = audit(&["--format", "prometheus", "--output", target, "--fail-on", "bogus"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));

    // A good run replaces the file whole, with no temporary file beside it.
    std::fs::write(&file, "old\n").unwrap();
    audit_ok(&["--format", "prometheus", "--output", target]);
    assert_eq!(files_in(dir.path()), ["portwatch.prom"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# HELP portwatch_listeners "), "{text}");
    assert!(text.contains("\nportwatch_audit_success 1\n"), "{text}");

    // A failed audit (an unreadable recording) replaces the counts with its
    // failure: the collector must not keep serving the last run's.
    let output = Command::new(BIN)
        .args([
            "audit",
            "--from",
            "/nonexistent/recording",
            "--format",
            "prometheus",
            "--output",
            target,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(files_in(dir.path()), ["portwatch.prom"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\nportwatch_audit_success 0\n"), "{text}");
    assert!(!text.contains("portwatch_findings"), "stale counts: {text}");

    // An unwritable destination: an error, and no file at all.
    let missing = dir.path().join("no-such-dir/portwatch.prom");
    let output = audit(&["--format", "prometheus", "--output", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!missing.exists());

    // --output works for every format: SARIF and JSON too.
    let json = dir.path().join("audit.json");
    audit_ok(&["--json", "--output", json.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 3);
    assert_eq!(files_in(dir.path()), ["audit.json", "portwatch.prom"]);
}

// ------------------------------------------------------------- contrib

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(path)
}

#[test]
fn alert_rules_pass_promtool() {
    let Some(promtool) =
        tool(&on_path("promtool"), "promtool (Debian's prometheus)", "alert_rules_pass_promtool")
    else {
        return;
    };
    let output = Command::new(promtool)
        .args(["check", "rules"])
        .arg(contrib("prometheus/portwatch-alerts.yml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("SUCCESS"),
        "promtool check rules: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every metric the rules use is one portwatch writes.
    let rules = std::fs::read_to_string(contrib("prometheus/portwatch-alerts.yml")).unwrap();
    let written = String::from_utf8(audit_ok(&["--format", "prometheus"]).stdout).unwrap();
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("portwatch_") {
            assert!(
                written.contains(&format!("# TYPE {word} gauge")),
                "the rules use {word}, which portwatch does not write"
            );
        }
    }
}

#[test]
fn systemd_units_verify() {
    let Some(analyze) =
        tool(&on_path("systemd-analyze"), "systemd-analyze", "systemd_units_verify")
    else {
        return;
    };
    // The units name the installed binary; verify them naming this build
    // (systemd-analyze checks that the command exists).
    let dir = tempfile::tempdir().unwrap();
    for unit in ["portwatch-audit.service", "portwatch-audit.timer"] {
        let text = std::fs::read_to_string(contrib(&format!("systemd/{unit}"))).unwrap();
        assert!(
            !unit.ends_with(".service")
                || text.contains("ExecStart=/usr/local/bin/portwatch audit")
        );
        std::fs::write(dir.path().join(unit), text.replace("/usr/local/bin/portwatch", BIN))
            .unwrap();
    }
    let service = std::fs::read_to_string(contrib("systemd/portwatch-audit.service")).unwrap();
    for needed in [
        "--format prometheus",
        "--fail-on never",
        "--output /var/lib/prometheus/node-exporter/",
        "portwatch.prom",
    ] {
        assert!(service.contains(needed), "the service lacks {needed}");
    }
    let output = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(dir.path().join("portwatch-audit.service"))
        .arg(dir.path().join("portwatch-audit.timer"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Unknown keys are only warnings to systemd: any output is a failure.
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_json_report_reads_back_into_an_equal_report() {
    let output = audit_ok(&["--json"]);
    let written: Value = serde_json::from_slice(&output.stdout).unwrap();
    let report: portwatch::model::audit::AuditReport =
        serde_json::from_slice(&output.stdout).expect("the documented report type");
    assert_eq!(serde_json::to_value(&report).unwrap(), written, "key for key");
    assert!(!report.listeners.is_empty() && !report.findings.is_empty());
    assert!(
        report
            .listeners
            .iter()
            .all(|l| l.socket.state != portwatch::model::SocketState::Established)
    );
    for key in ["host", "time", "listeners", "findings", "summary", "limits"] {
        assert!(written.get(key).is_some(), "{key}");
    }
    let documented: Vec<&str> = portwatch::commands::docs::audit_json::REPORT_KEYS
        .iter()
        .flat_map(|k| k.names.iter().copied())
        .collect();
    for key in written.as_object().unwrap().keys() {
        assert!(documented.contains(&key.as_str()), "{key} is documented");
    }
}
