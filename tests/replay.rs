//! `list --from FILE`: recordings by iproute2's authors, by `ss -D` on this
//! kernel, and by `portwatch record`, replayed deterministically.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use common::{fixture, json_row_set, json_rows, portwatch, shared_file, ss_rows, stdout_of};
use predicates::str::contains;

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn iproute2_ss1_dump_shows_both_of_its_dumps() {
    let Some(dump) = shared_file("interop/ss1.dump", "iproute2_ss1_dump_shows_both_of_its_dumps")
    else {
        return;
    };
    let table = stdout_of(&["--from", path(&dump), "-tan"]);
    assert_eq!(
        table,
        "\
State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*
ESTAB  0      0           10.0.0.1:22        10.0.0.1:36266
ESTAB  0      0           10.0.0.1:36266     10.0.0.1:22
ESTAB  0      0           10.0.0.1:22        10.0.0.2:50312
LISTEN 0      128             [::]:22            [::]:*
ESTAB  0      0      [fec0:42::24]:40520 [fec0:42::1]:22
ESTAB  0      0      [fec0:42::24]:22    [fec0:42::1]:44248
"
    );
}

#[test]
fn ss1_dump_json_and_selection() {
    let Some(dump) = shared_file("interop/ss1.dump", "ss1_dump_json_and_selection") else { return };
    let rows = json_rows(&["--from", path(&dump), "-ta", "--json"]);
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0]["inode"], 411);
    assert_eq!(rows[0]["local"]["service"], "ssh");
    let listening = json_rows(&["--from", path(&dump), "-tl", "--json"]);
    assert_eq!(listening.len(), 2);
    let v6 = json_rows(&["--from", path(&dump), "-t6", "--json", "state", "established"]);
    assert_eq!(v6.len(), 2);
    assert!(v6.iter().all(|r| r["family"] == "inet6" && r["state"] == "established"));
    let udp = json_rows(&["--from", path(&dump), "-ua", "--json"]);
    assert!(udp.is_empty(), "a bare dump is TCP");
}

/// The portwatch recording and ss's text were taken of the same namespace
/// (scripts/record-fixtures): every row must agree.
#[test]
fn own_recording_replays_to_what_ss_printed_live() {
    let dir = fixture("netns-basic");
    let rows = json_rows(&["--from", path(&dir.join("portwatch.pwdump")), "-tuaen", "--json"]);
    let ss_text = std::fs::read_to_string(dir.join("ss-tuanHe.txt")).unwrap();
    assert_eq!(rows.len(), ss_text.lines().count());
    assert_eq!(json_row_set(&rows), ss_rows(&ss_text));
    let udp = json_rows(&["--from", path(&dir.join("portwatch.pwdump")), "-ua", "--json"]);
    assert_eq!(udp.len(), 3, "the header says which dumps are UDP");
    let time_wait = rows.iter().find(|r| r["state"] == "time-wait").unwrap();
    assert!(time_wait["uid"].is_null() && time_wait["inode"].is_null());
    assert!(time_wait["cookie"].is_u64(), "the kernel keeps cookies for TIME-WAIT");
}

#[test]
fn ss_d_recording_from_this_kernel_replays() {
    let dir = fixture("netns-basic");
    let rows = json_rows(&["--from", path(&dir.join("ss-tan.dump")), "-tan", "--json"]);
    let ss_text = std::fs::read_to_string(dir.join("ss-tuanHe.txt")).unwrap();
    let tcp_only: String =
        ss_text.lines().filter(|l| l.starts_with("tcp")).map(|l| format!("{l}\n")).collect();
    assert_eq!(json_row_set(&rows), ss_rows(&tcp_only));
}

#[test]
fn replayed_table_matches_ss_layout() {
    let dump = fixture("netns-basic/portwatch.pwdump");
    let table = stdout_of(&["--from", path(&dump), "-tln"]);
    assert_eq!(
        table,
        "\
State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
LISTEN 0      16           0.0.0.0:22        0.0.0.0:*
LISTEN 0      16     127.0.0.1%if1:5432      0.0.0.0:*
LISTEN 0      16              [::]:22           [::]:*
LISTEN 0      16                 *:8080            *:*
"
    );
    let named = stdout_of(&["--from", path(&dump), "-ul"]);
    assert!(named.contains("0.0.0.0:domain"), "{named}");
}

#[test]
fn v6only_and_interface_in_json() {
    let dump = fixture("netns-basic/portwatch.pwdump");
    let rows = json_rows(&["--from", path(&dump), "-tl", "--json"]);
    let v6only: Vec<_> = rows.iter().map(|r| r["v6only"].clone()).collect();
    assert_eq!(
        v6only,
        [serde_json::Value::Null, serde_json::Value::Null, true.into(), false.into()]
    );
    assert_eq!(rows[1]["interface"], "if1");
    assert!(rows[0]["interface"].is_null());
}

#[test]
fn a_cut_recording_is_an_error_not_a_panic() {
    let bytes = std::fs::read(fixture("netns-basic/portwatch.pwdump")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pwdump");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    portwatch()
        .args(["--from", path(&cut), "-tuan"])
        .assert()
        .code(2)
        .stderr(contains("portwatch: cannot replay"));
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"PWSDIAG\x01\x63\x02").unwrap();
    portwatch().args(["--from", path(&garbage)]).assert().code(2).stderr(contains("header"));
    portwatch()
        .args(["--from", "/nonexistent/recording"])
        .assert()
        .code(2)
        .stderr(contains("cannot read /nonexistent/recording"));
}

#[test]
fn record_then_replay_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("now.pwdump");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = u64::from(listener.local_addr().unwrap().port());
    portwatch().args(["record", path(&recording)]).assert().success();
    let rows = json_rows(&["--from", path(&recording), "-tl", "--json"]);
    assert!(rows.iter().any(|r| r["local"]["port"] == port), "our listener was recorded");
    let via_d = dir.path().join("via-d.pwdump");
    portwatch().args(["-t", "-D", path(&via_d)]).assert().success().stdout("");
    let rows = json_rows(&["--from", path(&via_d), "-tl", "--json"]);
    assert!(rows.iter().any(|r| r["local"]["port"] == port), "-D records too");
    portwatch()
        .args(["--from", path(&via_d), "-D", path(&recording)])
        .assert()
        .code(2)
        .stderr(contains("cannot be used with"));
}

/// iproute2's `testsuite/tests/ss/ssfilter.t`, on ss1.dump. Upstream's ss
/// stops at the first NLMSG_DONE and sees the IPv4 dump only; portwatch also
/// reads the IPv6 dump after it, where `[fec0:42::24]:40520 -> [fec0:42::1]:22`
/// matches `dport = 22` too: those cases expect one more row.
#[test]
fn iproute2_ssfilter_cases_on_ss1_dump() {
    let Some(dump) = shared_file("interop/ss1.dump", "iproute2_ssfilter_cases_on_ss1_dump") else {
        return;
    };
    let listen = "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*";
    let to_22 = "ESTAB 0 0 10.0.0.1:36266 10.0.0.1:22";
    let to_50312 = "ESTAB 0 0 10.0.0.1:22 10.0.0.2:50312";
    let v6_to_22 = "ESTAB 0 0 [fec0:42::24]:40520 [fec0:42::1]:22";
    let cases: &[(&[&str], &[&str])] = &[
        (&["dport", "=", "22"], &[to_22, v6_to_22]),
        (&["dport", "22"], &[to_22, v6_to_22]),
        (&["( dport = 22 )"], &[to_22, v6_to_22]),
        (&["src", "=", "0.0.0.0"], &[listen]),
        (&["src", "0.0.0.0"], &[listen]),
        (&["src", "0.0.0.0", "sport", "=", "22"], &[listen]),
        (&["src", "0.0.0.0", "and", "sport", "=", "22"], &[listen]),
        (
            &["src", "10.0.0.1", "and", "sport", "=", "22", "and", "dport", "=", "50312"],
            &[to_50312],
        ),
        (&["src 10.0.0.1 and sport = 22 and ( dport = 50312 )"], &[to_50312]),
        (&["src 10.0.0.1 and ( sport = 22 and dport = 50312 )"], &[to_50312]),
        (&["( src 10.0.0.1 and sport = 22 ) and dport = 50312"], &[to_50312]),
        (&["( src 0.0.0.0 or src 10.0.0.1 ) and dst 10.0.0.2"], &[to_50312]),
    ];
    for (filter, expected) in cases {
        let mut args = vec!["-Htna", "--from", dump.to_str().unwrap()];
        args.extend(filter.iter());
        let output = stdout_of(&args);
        let rows: Vec<String> =
            output.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(rows, *expected, "filter {filter:?}");
    }
}

#[test]
fn port_categories_in_json_in_a_column_and_as_a_selection() {
    let dump = fixture("netns-basic/portwatch.pwdump");
    let rows = json_rows(&["--from", path(&dump), "-tuan", "--json"]);
    for row in &rows {
        let expected = |port: u64| match port {
            0 => serde_json::Value::Null,
            1..=1023 => "well-known".into(),
            1024..=49151 => "registered".into(),
            _ => "dynamic".into(),
        };
        for side in ["local", "peer"] {
            assert_eq!(
                row[side]["category"],
                expected(row[side]["port"].as_u64().unwrap()),
                "{row}"
            );
        }
    }
    let well_known =
        json_rows(&["--from", path(&dump), "-tuan", "--json", "--category", "well-known"]);
    let ports: std::collections::BTreeSet<u64> =
        well_known.iter().map(|r| r["local"]["port"].as_u64().unwrap()).collect();
    assert_eq!(ports, [22, 53].into_iter().collect());
    let both = json_rows(&[
        "--from",
        path(&dump),
        "-tl",
        "--json",
        "--category",
        "well-known",
        "--category",
        "registered",
    ]);
    assert_eq!(both.len(), 4);
    let table = stdout_of(&["--from", path(&dump), "-tln", "--show-category"]);
    assert!(
        table.starts_with("State ")
            && table.lines().next().unwrap().ends_with(":Port Category  Process")
    );
    let categories: Vec<&str> =
        table.lines().skip(1).map(|l| l.split_whitespace().last().unwrap()).collect();
    assert_eq!(categories, ["well-known", "registered", "well-known", "registered"]);
}
