//! Published container ports through a real Docker engine (started here
//! when none runs, and stopped again), an image holding only a static
//! busybox (no registry is reachable), and ufw: the forward is listed with
//! its container, docker-proxy is attributed to the container it serves, a
//! port published on 127.0.0.1 is local-only, and the ufw bypass is shown
//! by traffic from a namespace joined to the host, reported by the audit,
//! and closed by a DOCKER-USER rule.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Netns, skip_unless_root, skip_without_tool};
use serde_json::Value;

const IMAGE: &str = "portwatch-test-busybox:1";
const HOST: &str = "10.79.0.1";

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The Docker engine: the one running, or one started here and stopped
/// when dropped, with the tables it made (and ufw's, in them) deleted.
struct Engine {
    dockerd: Option<Child>,
    tables_before: String,
}

impl Engine {
    fn start() -> Engine {
        let tables_before = run("nft", &["list", "tables"]);
        if succeeds("docker", &["info"]) {
            return Engine { dockerd: None, tables_before };
        }
        let log =
            std::fs::File::create(std::env::temp_dir().join("portwatch-test-dockerd.log")).unwrap();
        let dockerd = Command::new("dockerd")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = Engine { dockerd: Some(dockerd), tables_before };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !succeeds("docker", &["info"]) {
            assert!(Instant::now() < deadline, "dockerd did not come up within 60 s");
            std::thread::sleep(Duration::from_millis(250));
        }
        engine
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let Some(dockerd) = self.dockerd.as_mut() else { return };
        let pid = nix::unistd::Pid::from_raw(dockerd.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while dockerd.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = dockerd.kill();
        let _ = dockerd.wait();
        let _ = Command::new("ip").args(["link", "del", "docker0"]).status();
        let Ok(output) = Command::new("nft").args(["list", "tables"]).output() else { return };
        for table in String::from_utf8_lossy(&output.stdout).lines() {
            if !self.tables_before.lines().any(|before| before == table) {
                let words: Vec<&str> = table.split_whitespace().collect();
                if let ["table", family, name] = words[..] {
                    let _ = Command::new("nft").args(["delete", "table", family, name]).status();
                }
            }
        }
    }
}

/// Removes what `docker` made when dropped: a container or an image.
struct Removed(&'static str, String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker").args([self.0, "-f", &self.1]).output();
    }
}

/// An iptables rule of the filter table, deleted when dropped.
struct Undone<'a>(&'a [&'a str]);

impl Drop for Undone<'_> {
    fn drop(&mut self) {
        let _ = Command::new("iptables").args([&["-D"][..], self.0].concat()).output();
    }
}

/// ufw, enabled until dropped.
struct Ufw;

impl Drop for Ufw {
    fn drop(&mut self) {
        let _ = Command::new("ufw").args(["--force", "disable"]).output();
    }
}

/// An image holding only the static busybox: built, never pulled.
fn build_image() -> Removed {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("busybox")).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\n")
        .unwrap();
    run("docker", &["build", "-q", "-t", IMAGE, dir.path().to_str().unwrap()]);
    Removed("rmi", IMAGE.to_owned())
}

/// portwatch's JSON; exit 3 (an audit's limits: a process this sandbox
/// hides) is no failure here.
fn portwatch_json(args: &[&str]) -> Value {
    let output = Command::new(common::BIN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(0 | 3)), "portwatch {args:?}: {stderr}");
    common::json_of(&output.stdout)
}

/// The forward of external `port` that arriving connections take.
fn arriving_forward(port: u64) -> Value {
    let forwards = portwatch_json(&["list", "--forwards", "--json"]);
    forwards
        .as_array()
        .unwrap()
        .iter()
        .find(|forward| {
            forward["ports"][0]["first"] == port
                && forward["hooks"].as_array().unwrap().iter().any(|hook| hook == "prerouting")
        })
        .unwrap_or_else(|| panic!("no forward of {port}: {forwards:#}"))
        .clone()
}

fn bypass_findings() -> Vec<Value> {
    let report = portwatch_json(&["audit", "--json", "--fail-on", "never"]);
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| {
            finding["rule"] == "forward-bypasses-input-firewall"
                && finding["forward"]["ports"][0]["first"] == 18080
        })
        .cloned()
        .collect()
}

/// Whether a connection from `client` to the host's 18080 is accepted.
fn reaches(client: &Netns) -> bool {
    let address: SocketAddr = format!("{HOST}:18080").parse().unwrap();
    client.within(move || TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok())
}

#[test]
fn a_published_port_through_docker_its_proxy_and_the_ufw_bypass() {
    let test = "a_published_port_through_docker_its_proxy_and_the_ufw_bypass";
    if skip_unless_root(test)
        || ["dockerd", "docker", "ufw", "nft", "iptables"]
            .iter()
            .any(|tool| skip_without_tool(tool, test))
    {
        return;
    }
    let static_busybox = run("dpkg-query", &["-W", "-f=${Status}", "busybox-static"]);
    assert_eq!(
        static_busybox, "install ok installed",
        "the image needs busybox-static's /bin/busybox (scripts/test installs it)"
    );
    let _engine = Engine::start();
    let _image = build_image();
    let name = format!("pw-test-web-{}", std::process::id());
    let id = run(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            "18080:8080",
            "-p",
            "127.0.0.1:18081:8081",
            IMAGE,
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
        ],
    )
    .trim()
    .to_owned();
    let _container = Removed("rm", id.clone());
    let address = run("docker", &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id]);

    // The forward, with the container at its target.
    let published = arriving_forward(18080);
    assert_eq!(published["to"]["addr"], address.trim());
    assert_eq!(published["to"]["ports"]["first"], 8080);
    assert_eq!(published["container"]["name"], name.as_str());
    assert_eq!(published["container"]["id"], id.as_str());
    assert_eq!(published["firewall"]["verdict"], "open");
    assert_eq!(arriving_forward(18081)["firewall"]["verdict"], "local-only");

    // Inside the container, its listener is joined to the host's forward.
    let report = portwatch_json(&["audit", "--all-netns", "--json", "--fail-on", "never"]);
    let inside = report["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|listener| {
            listener["local"]["port"] == 8080
                && listener["processes"][0]["container"]["id"] == id.as_str()
        })
        .unwrap_or_else(|| panic!("the container's own listener: {report:#}"))
        .clone();
    let joined = &inside["exposure"]["forwards"];
    assert_eq!(joined[0]["ports"][0]["first"], 18080, "{inside:#}");
    assert_eq!(joined[0]["container"]["name"], name.as_str());

    // docker-proxy holds the listener; portwatch names whom it serves.
    let listeners = portwatch_json(&["list", "-tlnp", "--json"]);
    let proxy = listeners
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["local"]["port"] == 18080 && row["local"]["addr"] == "0.0.0.0")
        .expect("docker-proxy's listener")["processes"][0]
        .clone();
    assert_eq!(proxy["name"], "docker-proxy");
    assert_eq!(proxy["serves"]["name"], name.as_str());
    let who = Command::new(common::BIN).args(["who", ":18080"]).output().unwrap();
    let who = String::from_utf8(who.stdout).unwrap();
    assert!(who.contains(&format!("docker-proxy (serves docker:{name})")), "{who}");
    let local_only = listeners.as_array().unwrap().iter().find(|row| row["local"]["port"] == 18081);
    assert_eq!(local_only.expect("the 127.0.0.1 publish")["local"]["addr"], "127.0.0.1");

    // A client beyond the host, in a namespace joined to it by a veth.
    let client = Netns::new("docker-client");
    let host_end = format!("pwd{}", std::process::id() % 100_000);
    run(
        "ip",
        &["link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &client.name],
    );
    run("ip", &["addr", "add", &format!("{HOST}/24"), "dev", &host_end]);
    run("ip", &["link", "set", &host_end, "up"]);
    for args in [
        &["addr", "add", "10.79.0.2/24", "dev", "eth0"][..],
        &["link", "set", "eth0", "up"],
        &["route", "add", "default", "via", HOST],
    ] {
        run("ip", &[&["-n", &client.name][..], args].concat());
    }
    assert!(reaches(&client), "the published port answers");
    assert!(bypass_findings().is_empty(), "no input rule blocks it yet: nothing bypassed");

    // ufw with its default deny incoming: the port is still reached.
    run("ufw", &["--force", "enable"]);
    let _ufw = Ufw;
    assert!(reaches(&client), "ufw's input rules never see the forwarded connection");
    let found = bypass_findings();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["severity"], "high");
    assert_eq!(found[0]["forward"]["container"]["name"], name.as_str());
    assert!(found[0]["remedy"].as_str().unwrap().contains("DOCKER-USER"));

    // The remedy: a DOCKER-USER rule for the published port.
    let remedy =
        ["DOCKER-USER", "-p", "tcp", "-m", "conntrack", "--ctorigdstport", "18080", "-j", "DROP"];
    run("iptables", &[&["-I"][..], &remedy].concat());
    let _remedy = Undone(&remedy);
    assert!(!reaches(&client), "the DOCKER-USER rule blocks it");
    assert!(bypass_findings().is_empty(), "and the finding is gone");
    assert_eq!(arriving_forward(18080)["firewall"]["verdict"], "blocked");
}
