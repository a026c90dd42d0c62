//! The JSON schema: the manual page's JSON OUTPUT and README's "JSON schema".
//! A key added to the output gets a row in [`SOCKET_KEYS`] or
//! [`PROCESS_KEYS`], and the same row in README (a test compares them).

use super::text::{Block, Table};

/// One row of a key table: the key or keys it describes, their type and
/// meaning.
#[derive(Debug)]
pub struct JsonKey {
    pub names: &'static [&'static str],
    pub kind: &'static str,
    pub meaning: &'static str,
}

pub const fn key(
    names: &'static [&'static str],
    kind: &'static str,
    meaning: &'static str,
) -> JsonKey {
    JsonKey { names, kind, meaning }
}

/// The keys of a socket object.
pub const SOCKET_KEYS: &[JsonKey] = &[
    key(
        &["netid"],
        r#"`"tcp"` | `"udp"` | `"raw"` | `"mptcp"` | `"u_str"` | `"u_dgr"` | `"u_seq"` | `"nl"` | `"p_raw"` | `"p_dgr"` | `"v_str"` | `"v_dgr"` | `"v_seq"` | `"xdp"` | `"ti_st"` | `"ti_dg"` | `"ti_rd"` | `"ti_sq"`"#,
        "protocol, or the socket's type, as ss's Netid column names it",
    ),
    key(
        &["family"],
        r#"`"inet"` | `"inet6"` | `"unix"` | `"netlink"` | `"packet"` | `"vsock"` | `"xdp"` | `"tipc"`"#,
        "address family",
    ),
    key(
        &["state"],
        "string",
        "`established`, `syn-sent`, `syn-recv`, `fin-wait-1`, `fin-wait-2`, `time-wait`, \
         `closed`, `close-wait`, `last-ack`, `listening`, `closing`",
    ),
    key(
        &["recv_q", "send_q"],
        "number",
        "queues as ss shows them (for a listener: pending connections and backlog)",
    ),
    key(&["local", "peer"], "object", r#"`{"addr": "127.0.0.1", "port": 22, "service": "ssh"}`"#),
    key(&["local.addr", "peer.addr"], "string", r#"the address; `"0.0.0.0"` or `"::"` for any"#),
    key(&["local.port", "peer.port"], "number", "the port; `0` where ss prints `*`"),
    key(
        &["local.service", "peer.service"],
        "string | null",
        "the port's `/etc/services` name for this protocol (independent of `-n`; null in the \
         ephemeral range)",
    ),
    key(
        &["local.category", "peer.category"],
        "string | null",
        "`well-known` (0-1023), `registered` (1024-49151), `dynamic` (49152-65535); null for \
         port 0",
    ),
    key(
        &["local.host", "peer.host"],
        "string | null",
        "only with `-r`: the resolver's name for the address",
    ),
    key(
        &["uid"],
        "number | null",
        "the socket owner's uid; null where the kernel reports none (TIME-WAIT, SYN-RECV \
         request sockets)",
    ),
    key(
        &["inode"],
        "number | null",
        "the socket's inode; null where no file holds it (TIME-WAIT, SYN-RECV, a connection \
         not yet accepted)",
    ),
    key(
        &["cookie"],
        "number | null",
        "the kernel's socket cookie (ss's `sk:`, in decimal); null when read from `/proc/net`",
    ),
    key(
        &["interface"],
        "string | null",
        "the interface the socket is bound to (ss's `%iface`); in a replay `if<index>`",
    ),
    key(
        &["v6only"],
        "bool | null",
        "`IPV6_V6ONLY` of an inet6 socket; null for inet sockets or from `/proc/net`",
    ),
    key(&["interface_index"], "number | null", "the index of that interface; null when unbound"),
    key(
        &["mark"],
        "number | null",
        "`SO_MARK` (what `fwmark` filters on); null unless portwatch runs as root",
    ),
    key(
        &["cgroup_id"],
        "number | null",
        "the cgroup v2 id of the socket's creator (what `cgroup` filters on), where the kernel \
         reports it",
    ),
    key(
        &["netns"],
        "object",
        r#"only with `-N` and `--all-netns`: `{"inode": N, "name": "blue" | null}`"#,
    ),
    key(
        &["timer"],
        "object",
        r#"only with `-o`, when a timer runs: `{"name": "keepalive", "expires_ms": 3540000, "retrans": 0}`; name is `on` (retransmit), `keepalive`, `timewait` or `persist`"#,
    ),
    key(
        &["skmem"],
        "object",
        "only with `-m` (UNIX sockets too): `rmem_alloc_bytes`, `rcvbuf_bytes`, `wmem_alloc_bytes`, \
         `sndbuf_bytes`, `fwd_alloc_bytes`, `wmem_queued_bytes`, `optmem_bytes`, \
         `backlog_bytes`, `drops`",
    ),
    key(
        &["tcp_info"],
        "object",
        "only with `-i`, TCP: `congestion`, `timestamps`, `sack`, `ecn`, `snd_wscale`, \
         `rcv_wscale`, `rto_us`, `ato_us`, `rtt_us`, `rttvar_us`, `min_rtt_us`, \
         `snd_mss_bytes`, `rcv_mss_bytes`, `advmss_bytes`, `pmtu_bytes`, `snd_cwnd_segments`, \
         `snd_ssthresh_segments` (null in slow start), `bytes_sent`, `bytes_retrans`, \
         `bytes_acked`, `bytes_received`, `segs_out`, `segs_in`, `data_segs_out`, \
         `data_segs_in`, `send_rate_bps` (ss's `send`: cwnd × mss / rtt), `pacing_rate_bps`, \
         `delivery_rate_bps`, `delivery_rate_app_limited`, `delivered`, `busy_time_us`, \
         `unacked`, `retrans`, `total_retrans`, `lost`, `sacked`, `reordering`, \
         `rcv_rtt_us`, `rcv_space_bytes`, `rcv_ssthresh_bytes`, `notsent_bytes`, \
         `last_send_ms`, `last_recv_ms`, `last_ack_ms`, `snd_wnd_bytes`, `ecn_seen`, \
         `fastopen`, `max_pacing_rate_bps` (null when unlimited), `delivered_ce`, \
         `rwnd_limited_us`, `sndbuf_limited_us`, `dsack_dups`, `fackets`, `reord_seen`, \
         `rcv_ooopack`; when the congestion module reports them `bbr` \
         (`bw_bytes_per_sec`, `min_rtt_us`, `pacing_gain`, `cwnd_gain` in 1/256) and \
         `dctcp` (`enabled`, `ce_state`, `alpha`, `ab_ecn`, `ab_tot`); `ulp`, the \
         upper-layer protocol (`tls`, `mptcp`), when one runs; `mptcp_subflow` on an MPTCP \
         subflow (`flags`, `remote_token`, `local_token`, `remote_id`, `local_id`, `map_seq`, \
         `map_subflow_seq`, `ssn_offset`, `map_data_len`)",
    ),
    key(
        &["mptcp_info"],
        "object",
        "only with `-i`, MPTCP: `subflows`, `add_addr_signal`, `add_addr_accepted`, \
         `subflows_max`, `add_addr_signal_max`, `add_addr_accepted_max`, `fallback`, \
         `remote_key_received`, `token`, `write_seq`, `snd_una`, `rcv_nxt`",
    ),
    key(
        &["shutdown"],
        "object",
        r#"with `-e` (and `-o`, `-m`, `-i`), where the kernel reports it: `{"receive": false, "send": true}`, the directions shut down (ss's `<->`, `<--`, `-->`, `---`)"#,
    ),
    key(
        &["file"],
        "object",
        r#"UNIX sockets bound to a path, with `-e`: `{"inode": N, "dev_major": N, "dev_minor": N}`, the file the path names (ss's `ino:N dev:MAJOR/MINOR`)"#,
    ),
    key(
        &["pending_peers"],
        "array",
        "UNIX listeners, with `-e`: the socket inodes of connections not yet accepted \
         (ss's `peers:`)",
    ),
    key(
        &["tos", "tclass"],
        "number",
        "only with `--tos`, where the kernel reports it: the IPv4 TOS byte (`IP_TOS`); the \
         IPv6 traffic class (`IPV6_TCLASS`), inet6 sockets only",
    ),
    key(
        &["class_id"],
        "number",
        "only with `--tos`, where the kernel reports it: the net_cls class id, or the \
         socket's priority when it has none",
    ),
    key(
        &["cgroup"],
        "string",
        "only with `--cgroup`, where the kernel reports `cgroup_id`: that cgroup's path below \
         the (first) cgroup2 mount, `/` for its root, or `unreachable:ID` (hex), as ss prints \
         it, when no directory there has that id",
    ),
    key(
        &["inet_sockopt"],
        "object",
        "only with `--inet-sockopt`, where the kernel reports it: booleans `recverr`, \
         `is_icsk`, `freebind`, `hdrincl`, `mc_loop`, `transparent`, `mc_all`, `nodefrag`, \
         `bind_addr_no_port`, `recverr_rfc4884`, `defer_connect`",
    ),
    key(
        &["firewall"],
        "object",
        "only with `--show-firewall`, for a listener: the same object as an audit's \
         `exposure.firewall`",
    ),
    key(
        &["processes"],
        "array",
        "only with `-p`: every holder, in pid order, `[]` when none is visible (see below)",
    ),
    key(
        &["owner_visible"],
        "bool",
        "only with `-p`: false when the socket has no visible holder and some processes' \
         descriptors were unreadable",
    ),
];

/// The keys only netlink, packet, vsock, XDP and TIPC sockets have.
pub const KIND_KEYS: &[JsonKey] = &[
    key(
        &["protocol"],
        "number",
        "netlink: the netlink protocol (0 is ss's `rtnl`, 4 `tcpdiag`, 16 `genl`); packet: the \
         EtherType received (2048 is `ip`, 3 every type, 0 none yet)",
    ),
    key(
        &["portid"],
        "number",
        "netlink: the port id: 0 for the kernel, usually the pid of the process that bound it, \
         negative when the kernel chose one",
    ),
    key(
        &["portid_process"],
        "string | null",
        "netlink: the name of the process whose pid is the port id (ss's `rtnl:NAME/PID`); \
         null for the kernel or when there is no such process",
    ),
    key(
        &["peer.portid", "peer.group"],
        "number",
        "netlink: where a connected socket sends; `peer` is null when unconnected",
    ),
    key(
        &["groups"],
        "number",
        "netlink: the multicast groups 1-32 joined, as a bit mask (ss's `-e` `groups=`)",
    ),
    key(
        &["packet_info"],
        "object | null",
        r#"packet: what ss's `-e` shows: `version`, `copy_threshold`, `flags` (names: `running`, `auxdata`, `origdev`, `vnethdr`, `loss`), `rx_ring` and `tx_ring` (`block_size`, `block_count`, `frame_size`, `frame_count`, `retire_timeout_ms`, `features`, or null), `fanout` (`{"id": 1, "mode": "hash"}` or null)"#,
    ),
    key(
        &["tipc_info"],
        "object",
        r#"TIPC: what ss's `--tipcinfo` shows: `congestion` (`link`, `conn` or `none`), `drops`, `published`, `via` (`[type, instance]` of a connection's service name, or null)"#,
    ),
    key(
        &["filter"],
        "array",
        r#"packet, when a classic BPF program is attached (`SO_ATTACH_FILTER`; ss's `-b`): its instructions, `{"code": 40, "jt": 0, "jf": 0, "k": 12}`"#,
    ),
    key(
        &["local.cid", "peer.cid"],
        "number",
        "vsock: the context id, and `local.port`, `peer.port` the port; 4294967295 for any \
         (ss's `*`)",
    ),
    key(
        &["queue_id"],
        "number | null",
        "XDP: the queue of `interface` the socket is bound to; null before `bind`",
    ),
    key(
        &["local.node", "local.ref", "peer.node", "peer.ref"],
        "number",
        "TIPC: the node and port reference; `peer` is null when unconnected",
    ),
];

/// The keys of each entry of a socket's `processes`.
pub const PROCESS_KEYS: &[JsonKey] = &[
    key(&["pid", "fd"], "number", "the process and its descriptor for the socket"),
    key(&["name"], "string | null", "comm (at most 15 bytes); null if the process vanished"),
    key(&["cmdline"], "string", r#"the arguments joined by spaces; `""` for kernel threads"#),
    key(&["argv"], "array of strings", "the arguments"),
    key(
        &["exe"],
        "string | null",
        "`/proc/PID/exe` without the kernel's ` (deleted)` suffix; null when unreadable",
    ),
    key(
        &["name_hex", "argv_hex", "exe_hex", "cwd_hex"],
        "string, array of strings",
        "only when `name`, an argument, `exe` or `cwd` is not UTF-8 (the kernel allows any bytes): \
         the exact bytes in hex (`argv_hex` holds every argument), while the plain key holds \
         the text with U+FFFD for the bytes that are not UTF-8",
    ),
    key(
        &["exe_deleted"],
        "bool | null",
        "whether the binary was deleted (replaced by an upgrade, say)",
    ),
    key(&["cwd"], "string | null", "the working directory (`/proc/PID/cwd`); null when unreadable"),
    key(&["uid"], "number | null", "the effective uid"),
    key(&["user"], "string | null", "its login name, from the user database"),
    key(
        &["unit"],
        "string | null",
        "the innermost systemd service or scope (`ssh.service`, `session-3.scope`)",
    ),
    key(
        &["container"],
        "object | null",
        r#"`{"runtime": "docker", "id": "<64 hex>", "name": "web"}`; runtime is `docker`, `podman`, `containerd`, `cri-o`, `kubepods` or `lxc`; `name` only where the runtime's files say it (Docker's, Podman's)"#,
    ),
    key(
        &["serves"],
        "object",
        r#"only for a userland proxy (docker-proxy): the container it forwards its connections to, as `container` is written (found by the proxy's `-container-ip` in Docker's files), or, where no runtime names that address, the network namespace holding it as `{"runtime": "netns", "id": "<inode>", "name": "<name under /run/netns>" | null}`"#,
    ),
    key(
        &["threads"],
        "array",
        r#"only with `-T`: the process's threads by tid, the main thread first, each `{"tid": 815, "name": "worker" | null}` (name: the thread's comm; with `-Z` or `-z` also `context`)"#,
    ),
    key(
        &["context"],
        "string | null",
        "only with `-Z` or `-z` (SELinux hosts): the process's SELinux context \
         (`/proc/PID/attr/current`); null when unreadable",
    ),
    key(
        &["socket_context"],
        "string | null",
        "only with `-z` (SELinux hosts): the socket's SELinux context as this descriptor \
         shows it (`security.selinux`); null when unreadable",
    ),
];

const EXAMPLE: &str = r#"{"netid":"tcp","family":"inet","state":"listening","recv_q":0,"send_q":128,"local":{"addr":"0.0.0.0","port":22,"service":"ssh","category":"well-known"},"peer":{"addr":"0.0.0.0","port":0,"service":null,"category":null},"uid":0,"inode":411,"cookie":3,"interface":null,"v6only":null,"interface_index":null,"mark":null,"cgroup_id":null}"#;

pub fn key_table(keys: &[JsonKey]) -> Table {
    Table {
        header: &["key", "type", "meaning"],
        rows: keys
            .iter()
            .map(|key| vec![names_cell(key.names), key.kind.to_owned(), key.meaning.to_owned()])
            .collect(),
    }
}

fn names_cell(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// The section, in order.
pub fn section() -> Vec<Block> {
    vec![
        Block::Paragraph(
            "`--json` (same as `--format json`) writes one array, one object per line inside \
             it; `--format jsonl` writes one object per line, each line written as the socket \
             arrives. Keys are always present (those marked only with an option when it is \
             given) and never change meaning; new keys may be added. A saved listing reads \
             back into the same records (the `portwatch::model::Socket` type), which is what \
             baselines build on.",
        ),
        Block::Paragraph(
            "With `-E`, `--json` writes JSON Lines too: one object per destroyed socket, as it \
             is destroyed (`state` is `closed`, or the state a UDP socket was connected in; \
             `inode` is null; a UDP socket's `send_q` may read 4294967295, the kernel's -1, \
             which the table prints as ss does).",
        ),
        Block::Table(key_table(SOCKET_KEYS)),
        Block::Paragraph("Each entry of `processes`:"),
        Block::Table(key_table(PROCESS_KEYS)),
        Block::Paragraph(
            "Containers are recognised from cgroup paths: `docker-<id>.scope` and \
             `/docker/<id>`, `libpod-<id>.scope`, `cri-containerd-<id>.scope` and \
             `nerdctl-<id>.scope`, `crio-<id>.scope`, anything under `kubepods`, and \
             `/lxc/<name>` or `/lxc.payload.<name>`. containerd run without Kubernetes and \
             with the cgroupfs driver (`/<namespace>/<name>`) cannot be told from any other \
             cgroup and is not recognised. Names come from the runtimes' own files, read when a \
             holder runs in a container or proxies to one: Docker's \
             `/var/lib/docker/containers/<id>/config.v2.json` (its name and addresses) and \
             Podman's `containers.json`; without them (another runtime, no permission) the id \
             stands alone.",
        ),
        Block::Paragraph(
            r#"A dual-stack listener, which ss prints as `*:8080`, has `"local": {"addr": "::", "port": 8080, ...}` and `"v6only": false`."#,
        ),
        Block::Paragraph(
            r#"UNIX sockets (`-x`) have `netid` `u_str`, `u_dgr` or `u_seq`, `family` `unix`, and other `local` and `peer` objects: `"local": {"path": "/run/x.sock", "inode": 123}` (`@name` for an abstract name, null when unbound) and `"peer": {"path": null, "inode": 124}` (the connected peer's inode, or null). They have no `interface`, `v6only`, `interface_index`, `mark`, `cgroup_id`, `timer` or `tcp_info` keys; `skmem` comes with `-m`, and `shutdown`, `file` and `pending_peers` with `-e`. In the table they read as ss prints them: `PATH INODE` and `* PEER-INODE`. Filter conditions (addresses, ports, devices, marks) never match UNIX sockets; state words do."#,
        ),
        Block::Paragraph(
            "MPTCP sockets (`-M`) are inet sockets with `netid` `mptcp` and every key above. \
             Netlink, packet, vsock, XDP and TIPC sockets share `netid`, `family`, `state`, \
             `recv_q`, `send_q`, `inode`, `cookie`, `netns`, `processes` and `owner_visible` \
             with them; `uid` where their diag module reports one (packet, XDP, TIPC); packet \
             and XDP sockets have `interface` and `interface_index`, netlink and packet sockets \
             `skmem` with `-m`. Netlink, packet and XDP sockets are always `closed` (ss's \
             UNCONN). Their own keys:",
        ),
        Block::Table(key_table(KIND_KEYS)),
        Block::Example(EXAMPLE),
    ]
}
