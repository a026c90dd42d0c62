//! Every socket kind ss knows, against the real `ss`: netlink, packet
//! (raw and datagram), MPTCP, and what ss lists by default, in network
//! namespaces of the test's own holding a fixed load; and, for the kinds
//! whose diag module this kernel lacks (SCTP, DCCP, and here vsock, XDP
//! and TIPC), the one-line error that names the module.
//!
//! Both tools run in a PID namespace of their own (`unshare --pid
//! --fork`): a netlink listing shows the lister's own sock_diag socket, as
//! `tcpdiag:NAME/PID`, and there both get port id 1 and the same name
//! (that of the host's pid 1), so their tables are byte for byte the same.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};

use common::{Netns, skip_unless_root, skip_without_tool};
use portwatch::commands::docs::json_schema;
use serde_json::Value;

/// Opens the load inside the namespace and holds it until its standard
/// input closes: TCP, UDP, MPTCP (a listener on each family and a
/// connection), UNIX, netlink sockets (bound, connected, in a multicast
/// group), then packet sockets of the `packet` types asked for, last, so
/// that no traffic of the set-up waits in their queues.
const HOLDER: &str = r#"
import socket, sys
kinds = sys.argv[1].split(",")
keep = []
def hold(family, kind, proto=0):
    s = socket.socket(family, kind, proto)
    keep.append(s)
    return s
if "inet" in kinds:
    hold(socket.AF_INET, socket.SOCK_STREAM).bind(("127.0.0.1", 2222)); keep[-1].listen()
    hold(socket.AF_INET, socket.SOCK_DGRAM).bind(("0.0.0.0", 5353))
    hold(socket.AF_UNIX, socket.SOCK_STREAM).bind("\0portwatch-kinds"); keep[-1].listen()
mptcp = "no"
if "mptcp" in kinds:
    try:
        m = hold(socket.AF_INET, socket.SOCK_STREAM, 262)
        m.bind(("0.0.0.0", 3333)); m.listen()
        hold(socket.AF_INET6, socket.SOCK_STREAM, 262).bind(("::", 22)); keep[-1].listen()
        hold(socket.AF_INET, socket.SOCK_STREAM, 262).connect(("127.0.0.1", 3333))
        keep.append(m.accept()[0])
        mptcp = "yes"
    except OSError:
        pass
if "netlink" in kinds:
    hold(socket.AF_NETLINK, socket.SOCK_RAW, 0).bind((0, 0))
    g = hold(socket.AF_NETLINK, socket.SOCK_RAW, 16); g.bind((0, 0)); g.connect((0, 0))
    hold(socket.AF_NETLINK, socket.SOCK_RAW, 15).bind((0, 1))
if "p_raw" in kinds:
    hold(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    hold(socket.AF_PACKET, socket.SOCK_RAW, 0)
    hold(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806)).bind(("lo", 0x0806))
if "p_dgr" in kinds:
    hold(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    hold(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86dd)).bind(("lo", 0x86dd))
print("ready mptcp=" + mptcp, flush=True)
sys.stdin.read()
"#;

/// A namespace and the process holding its sockets (killed on drop).
struct Load {
    netns: Netns,
    holder: Child,
    mptcp: bool,
}

impl Load {
    /// `kinds`: which sockets to open (`inet`, `mptcp`, `netlink`,
    /// `p_raw`, `p_dgr`).
    fn new(test: &str, kinds: &str) -> Load {
        let netns = Netns::new(test);
        let sysctl = netns.command("sysctl").args(["-qw", "net.mptcp.enabled=1"]).status();
        assert!(sysctl.is_ok_and(|status| status.success()), "sysctl net.mptcp.enabled");
        let mut holder = netns
            .command("python3")
            .args(["-c", HOLDER, kinds])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "the holder did not start: {line:?}");
        Load { netns, holder, mptcp: line.contains("mptcp=yes") }
    }

    /// `program ARGS` inside the namespace and a PID namespace of its own.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        self.netns
            .command("unshare")
            .args(["--pid", "--fork", program])
            .args(args)
            .output()
            .expect("unshare")
    }

    fn portwatch(&self, args: &[&str]) -> Output {
        self.run(common::BIN, args)
    }

    /// Asserts that portwatch prints ss's table for `args`, byte for byte
    /// once trailing blanks are stripped.
    fn assert_same_as_ss(&self, args: &[&str]) {
        let theirs = self.run("ss", args);
        assert!(theirs.status.success(), "ss {args:?}: {}", text(&theirs.stderr));
        let ours = self.portwatch(args);
        assert!(ours.status.success(), "portwatch {args:?}: {}", text(&ours.stderr));
        let (ours, theirs) = (table(&ours.stdout, args), table(&theirs.stdout, args));
        assert_eq!(ours, theirs, "portwatch {args:?} (left) against ss {args:?} (right)");
    }

    /// The rows of `args` (no header), as portwatch lists them.
    fn rows(&self, args: &[&str]) -> Vec<String> {
        let output = self.portwatch(args);
        assert!(output.status.success(), "portwatch {args:?}: {}", text(&output.stderr));
        text(&output.stdout).lines().skip(1).map(str::to_owned).collect()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A table without trailing blanks.
/// The table's lines with trailing blanks stripped, and the netlink rows
/// sorted within each run of them: the kernel dumps netlink sockets in the
/// order of one hash table shared by every namespace, which other tests'
/// sockets resize between two dumps. Without a Netid column (one kind
/// asked for), the rows are netlink ones when `args` ask for netlink.
fn table(bytes: &[u8], args: &[&str]) -> String {
    let text = text(bytes);
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let netid_column = lines.first().is_some_and(|header| header.starts_with("Netid"));
    let asks_netlink = args.iter().any(|arg| arg.contains("netlink"));
    let is_netlink = |row: &str| match netid_column {
        true => row.starts_with("nl "),
        false => asks_netlink,
    };
    let body = lines.get_mut(1..).unwrap_or_default();
    for run in body.chunk_by_mut(|a, b| is_netlink(a) == is_netlink(b)) {
        if is_netlink(run[0]) {
            run.sort_unstable();
        }
    }
    lines.join("\n")
}

fn available(test: &str) -> bool {
    !skip_unless_root(test)
        && !skip_without_tool("ss", test)
        && !skip_without_tool("python3", test)
        && !skip_without_tool("unshare", test)
}

#[test]
fn kind_flags_families_and_queries_print_ss_tables() {
    if !available("kind_flags_families_and_queries_print_ss_tables") {
        return;
    }
    let load = Load::new("kinds", "inet,mptcp,netlink,p_raw,p_dgr");
    assert!(load.mptcp, "the kernel has MPTCP (CONFIG_MPTCP), which ss lists");
    let mut commands: Vec<Vec<&str>> = Vec::new();
    // The kind flags, each with the states and forms that show its rows.
    for flags in ["-0", "-0a", "-0l", "-0n", "-0p", "-0e", "-0eO", "-0em", "-M", "-Ma", "-Ml"] {
        commands.push(vec![flags]);
    }
    commands.extend([vec!["-Mln"], vec!["-Mlp"], vec!["--packet", "-a"], vec!["--mptcp", "-l"]]);
    // Every -A word with sockets of its kind here, aliases, and negation.
    let words = [
        "all",
        "inet",
        "tcp",
        "mptcp",
        "udp",
        "raw",
        "unix",
        "unix_stream",
        "u_str",
        "unix_dgram",
        "u_dgr",
        "unix_seqpacket",
        "u_seq",
        "packet",
        "netlink",
        "all,!udp",
        "all,!netlink,!packet",
        "inet,!udp",
        "mptcp,tcp",
        "netlink,packet",
    ];
    for word in words {
        commands.push(vec!["-A", word]);
        commands.push(vec!["-A", word, "-a"]);
        commands.push(vec!["--socket", word, "-ln"]);
    }
    commands.push(vec!["--query", "netlink", "-ae"]);
    // Every -f family with sockets here, and the flags that add families.
    for family in ["inet", "inet6", "link", "unix", "netlink"] {
        commands.push(vec!["-f", family]);
        commands.push(vec!["-f", family, "-a"]);
        commands.push(vec!["-f", family, "-ln"]);
    }
    commands.extend([vec!["-4", "-a"], vec!["-6", "-l"], vec!["-t", "-f", "netlink"]]);
    commands.extend([vec!["-x", "-0", "-a"], vec!["-f", "link", "-f", "netlink", "-n"]]);
    // No kind at all: every kind ss knows.
    for flags in [&[][..], &["-l"], &["-a"], &["-n"], &["-ln"], &["-an"], &["-lp"], &["-lnp"]] {
        commands.push(flags.to_vec());
    }
    commands.extend([vec!["-a", "state", "listening"], vec!["-n", "exclude", "established"]]);
    for args in &commands {
        load.assert_same_as_ss(args);
    }
    assert!(commands.len() >= 100, "{} command lines", commands.len());
}

#[test]
fn each_kind_shows_its_own_rows() {
    if !available("each_kind_shows_its_own_rows") {
        return;
    }
    let load = Load::new("rows", "inet,mptcp,netlink,p_raw,p_dgr");
    let packet = load.rows(&["-0", "-n"]);
    let protocols: BTreeSet<&str> =
        packet.iter().filter_map(|row| row.split_whitespace().nth(3)).collect();
    let expected = ["*:*", "[0]:*", "[2048]:*", "[2054]:lo", "[34525]:lo"];
    assert_eq!(protocols, expected.into_iter().collect(), "{packet:#?}");
    let named = load.rows(&["-0"]);
    for address in ["*:*", "[0]:*", "ip:*", "arp:lo", "ipv6:lo"] {
        assert!(named.iter().any(|row| row.contains(address)), "{address} in {named:#?}");
    }
    let netlink = load.rows(&["-f", "netlink"]);
    let holder = load.holder.id();
    for address in ["rtnl:kernel", &format!("rtnl:python3/{holder}"), "uevent:kernel"] {
        assert!(netlink.iter().any(|row| row.contains(address)), "{address} in {netlink:#?}");
    }
    let connected = format!("genl:python3/{holder}");
    let genl = netlink.iter().find(|row| row.contains(&connected)).expect("the genl socket");
    assert!(genl.ends_with("0:0"), "a connected socket names its peer: {genl}");
    let mptcp = load.rows(&["-M", "-a", "-n"]);
    let mut states: Vec<&str> =
        mptcp.iter().filter_map(|row| row.split_whitespace().next()).collect();
    states.sort_unstable();
    assert_eq!(states, ["ESTAB", "ESTAB", "LISTEN", "LISTEN"], "{mptcp:#?}");
    assert!(mptcp.iter().any(|row| row.contains("*:22")), "dual-stack: {mptcp:#?}");
    // MPTCP ports take TCP's service names whatever else is listed (ss
    // names them by the table it printed last: `-A udp,mptcp` gives `22`).
    let after_udp = load.rows(&["-A", "udp,mptcp", "-l"]);
    assert!(after_udp.iter().any(|row| row.contains("*:ssh")), "{after_udp:#?}");
}

#[test]
fn one_packet_type_asked_lists_that_type_alone() {
    if !available("one_packet_type_asked_lists_that_type_alone") {
        return;
    }
    // With one packet type in the namespace, ss's table and portwatch's
    // are the same for every word naming it.
    for (kind, words) in [("p_raw", ["packet_raw", "p_raw"]), ("p_dgr", ["packet_dgram", "p_dgr"])]
    {
        let load = Load::new(kind, kind);
        for word in words {
            load.assert_same_as_ss(&["-A", word, "-a"]);
            load.assert_same_as_ss(&["-A", word, "-ln"]);
        }
    }
    // With both, ss lists every packet socket for either word (its
    // packet_diag reader does not look at the type); portwatch lists the
    // type asked for (README: Differences from ss).
    let load = Load::new("ptypes", "p_raw,p_dgr");
    let all = load.rows(&["-A", "packet", "-a"]);
    for (word, kind) in [("p_raw", "p_raw"), ("packet_dgram", "p_dgr")] {
        let rows = load.rows(&["-A", word, "-a"]);
        let expected: Vec<String> = all
            .iter()
            .filter(|row| row.starts_with(kind))
            .map(|row| row.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .collect();
        let found: Vec<String> =
            rows.iter().map(|row| row.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(found, expected, "-A {word}");
        let ss = text(&load.run("ss", &["-A", word, "-aH"]).stdout);
        assert_eq!(ss.lines().count(), all.len(), "ss lists both types for -A {word}");
    }
}

#[test]
fn filters_on_netlink_and_packet_sockets_keep_ss_rows() {
    if !available("filters_on_netlink_and_packet_sockets_keep_ss_rows") {
        return;
    }
    let load = Load::new("kfilter", "inet,mptcp,netlink,p_raw,p_dgr");
    let kinds = "netlink,packet,tcp,udp,mptcp";
    for filter in [
        "sport = :0",
        "dport = :0",
        "dport = :22",
        "sport >= :1",
        "dport <= :5",
        "dev lo",
        "autobound",
        "src 127.0.0.1",
        "not src 127.0.0.1",
        "sport = :3333 or dev lo",
    ] {
        load.assert_same_as_ss(&["-an", "-A", kinds, filter]);
    }
}

/// Runs `args` and returns the one-line error when the kernel lacks the
/// kind's module; `None` after checking the table against ss when it has it.
fn missing_module(load: &Load, args: &[&str], message: &str) -> Option<String> {
    let output = load.portwatch(args);
    if output.status.success() {
        load.assert_same_as_ss(args);
        return None;
    }
    assert_eq!(output.status.code(), Some(2), "portwatch {args:?}");
    assert!(output.stdout.is_empty(), "no table with the error: {}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert_eq!(stderr, format!("portwatch: {message}\n"), "portwatch {args:?}");
    Some(stderr)
}

#[test]
fn kinds_without_a_diag_module_fail_with_one_line_naming_it() {
    if !available("kinds_without_a_diag_module_fail_with_one_line_naming_it") {
        return;
    }
    let load = Load::new("missing", "inet");
    let cases: [(&[&[&str]], &str); 5] = [
        (
            &[&["-S"], &["--sctp", "-l"], &["-A", "sctp"], &["-A", "inet,sctp"]],
            "SCTP sockets cannot be listed: this kernel has no sctp_diag (CONFIG_INET_SCTP_DIAG)",
        ),
        (
            &[&["-d"], &["--dccp", "-a"], &["-A", "dccp"]],
            "DCCP sockets cannot be listed: this kernel has no dccp_diag (CONFIG_INET_DCCP_DIAG)",
        ),
        (
            &[&["--tipc"], &["-f", "tipc"], &["-A", "tipc", "-a"]],
            "TIPC sockets cannot be listed: this kernel has no tipc_diag (CONFIG_TIPC_DIAG)",
        ),
        (
            &[
                &["--vsock"],
                &["-f", "vsock", "-l"],
                &["-A", "vsock"],
                &["-A", "vsock_stream"],
                &["-A", "v_str"],
                &["-A", "vsock_dgram"],
                &["-A", "v_dgr"],
            ],
            "vsock sockets cannot be listed: this kernel has no vsock_diag (CONFIG_VSOCKETS_DIAG)",
        ),
        (
            &[&["--xdp"], &["-f", "xdp"], &["-A", "xdp", "-a"]],
            "XDP sockets cannot be listed: this kernel has no xsk_diag (CONFIG_XDP_SOCKETS_DIAG)",
        ),
    ];
    let mut missing = Vec::new();
    for (commands, message) in cases {
        for args in commands {
            if missing_module(&load, args, message).is_some() {
                missing.push(args.join(" "));
            }
        }
    }
    // This kernel (and CI's) has none of SCTP, DCCP (gone since Linux
    // 6.16) and raw_diag; what ss prints instead is an empty table.
    let sctp = load.run("ss", &["-S", "-a"]);
    if missing.iter().any(|args| args == "-S") {
        assert_eq!(table(&sctp.stdout, &[]).lines().count(), 1, "ss: a header and no row");
    }
    // Kinds only implied (the default, `all`, `inet`, `-4`) are left out
    // as ss leaves them out: no error.
    for args in [&["-a"][..], &["-A", "all"], &["-A", "inet", "-l"], &["-4"]] {
        load.assert_same_as_ss(args);
    }
    eprintln!("kinds this kernel cannot list: {missing:?}");
}

#[test]
fn no_table_left_and_family_help() {
    if !available("no_table_left_and_family_help") {
        return;
    }
    let load = Load::new("notable", "inet");
    for query in ["!tcp", "tcp,!tcp", "all,!all"] {
        let ours = load.portwatch(&["-A", query]);
        let theirs = load.run("ss", &["-A", query]);
        assert!(ours.status.success(), "-A {query}");
        assert_eq!(ours.stdout, theirs.stdout, "nothing on stdout, as ss");
        assert_eq!(text(&ours.stderr), "portwatch: no socket tables to show with such filter\n");
    }
    let help = load.portwatch(&["-f", "help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    for family in ["inet", "inet6", "link", "unix", "netlink", "vsock", "tipc", "xdp"] {
        assert!(help.contains(&format!("\n  {family} ")), "{family} in {help}");
    }
    let unknown = load.portwatch(&["-A", "tcp,bogus"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).starts_with("portwatch: -A: unknown socket table 'bogus'"));
}

/// The documented keys, top level (`local.cid` counts as `local`).
fn documented_keys() -> BTreeSet<String> {
    let tables = [json_schema::SOCKET_KEYS, json_schema::KIND_KEYS];
    let names = tables.iter().copied().flatten().flat_map(|key| key.names.iter());
    names.map(|name| name.split('.').next().unwrap_or(name).to_owned()).collect()
}

#[test]
fn json_of_every_kind_has_documented_keys_and_reads_back() {
    if !available("json_of_every_kind_has_documented_keys_and_reads_back") {
        return;
    }
    let load = Load::new("kjson", "inet,mptcp,netlink,p_raw,p_dgr");
    let output = load.portwatch(&["-a", "-p", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let documented = documented_keys();
    let mut netids = BTreeSet::new();
    for row in &rows {
        for key in row.as_object().unwrap().keys() {
            assert!(documented.contains(key), "{key} is not documented: {row}");
        }
        let socket: portwatch::model::Socket = serde_json::from_value(row.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&socket).unwrap(), row, "reads back");
        netids.insert(row["netid"].as_str().unwrap().to_owned());
    }
    for netid in ["nl", "p_raw", "p_dgr", "mptcp", "tcp", "udp", "u_str"] {
        assert!(netids.contains(netid), "{netid} in {netids:?}");
    }
    let holder = load.holder.id();
    let bound = rows
        .iter()
        .find(|row| row["netid"] == "nl" && row["portid"] == holder && row["protocol"] == 0)
        .expect("the holder's rtnl socket");
    assert_eq!(bound["portid_process"], "python3");
    assert_eq!(bound["processes"][0]["pid"], holder, "-p owners by inode: {bound}");
    let arp = rows.iter().find(|row| row["protocol"] == 0x0806).expect("the ARP packet socket");
    assert_eq!(arp["netid"], "p_raw");
    assert_eq!(arp["family"], "packet");
    assert_eq!(arp["interface"], "lo");
    assert_eq!(arp["packet_info"]["flags"], serde_json::json!(["running"]));
    let listener = rows
        .iter()
        .find(|row| row["netid"] == "mptcp" && row["state"] == "listening")
        .expect("an MPTCP listener");
    assert_eq!(listener["family"], "inet");
}

#[test]
fn netstat_and_lsof_views_take_every_kind() {
    if !available("netstat_and_lsof_views_take_every_kind") {
        return;
    }
    let load = Load::new("kviews", "inet,mptcp,netlink,p_raw,p_dgr");
    let netstat = load.portwatch(&["--format", "netstat", "-a"]);
    assert!(netstat.status.success(), "{}", text(&netstat.stderr));
    let netstat = text(&netstat.stdout);
    let protos: BTreeSet<&str> =
        netstat.lines().filter_map(|line| line.split_whitespace().next()).collect();
    // netstat's own tables: TCP (an MPTCP listener shows as its subflow),
    // UDP and UNIX; no netlink or packet rows.
    for proto in ["tcp", "tcp6", "udp", "unix"] {
        assert!(protos.contains(proto), "{proto} in {netstat}");
    }
    for proto in ["nl", "p_raw", "p_dgr", "mptcp", "mptcp6"] {
        assert!(!protos.contains(proto), "{proto} in {netstat}");
    }
    let lsof = load.portwatch(&["--format", "lsof", "-a"]);
    assert!(lsof.status.success(), "{}", text(&lsof.stderr));
    let lsof = text(&lsof.stdout);
    let holder = load.holder.id().to_string();
    let rows: Vec<Vec<&str>> =
        lsof.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.iter().any(|r| r[4] == "netlink" && r[8] == format!("rtnl:python3/{holder}")));
    assert!(rows.iter().any(|r| r[4] == "pack" && r[8] == "arp:lo"));
    assert!(!rows.iter().any(|r| r[7] == "MPTCP"), "an MPTCP descriptor shows as TCP: {lsof}");
}
