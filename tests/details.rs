//! `-o`, `-m`, `-i` and `-e` against ss, for a connection the test opens:
//! exact for fields that stand still (mss, wscale, buffer sizes, inode),
//! plausible ranges for those that move (rtt, timers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::{json_rows, stdout_of};

/// `key:value` words of one ss-style line, plus the bare words as `word: ""`.
fn fields(line: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for word in line.split_whitespace() {
        match word.split_once(':') {
            Some((key, value)) if !key.contains('.') && !key.contains('[') => {
                map.insert(key.to_owned(), value.to_owned())
            }
            _ => map.insert(word.to_owned(), String::new()),
        };
    }
    map
}

fn skmem(value: &str) -> HashMap<String, u64> {
    let inner = value.trim_start_matches('(').trim_end_matches(')');
    inner
        .split(',')
        .map(|part| {
            let split = part.find(|c: char| c.is_ascii_digit()).unwrap();
            (part[..split].to_owned(), part[split..].parse().unwrap())
        })
        .collect()
}

#[test]
fn timers_memory_and_tcp_info_agree_with_ss() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    nix::sys::socket::setsockopt(&client, nix::sys::socket::sockopt::KeepAlive, &true).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(&[7u8; 1000]).unwrap();
    server.read_exact(&mut [0u8; 1000]).unwrap();
    let port = client.local_addr().unwrap().port();
    let filter = format!("sport = :{port}");

    let ss = Command::new("ss").args(["-tnoemiOH", &filter]).output().unwrap();
    let ss = String::from_utf8(ss.stdout).unwrap();
    let ours = stdout_of(&["-tnoemiOH", &filter]);
    assert_eq!((ss.lines().count(), ours.lines().count()), (1, 1), "ss: {ss}\nours: {ours}");
    let (theirs, mine) = (fields(&ss), fields(&ours));
    for key in [
        "mss",
        "pmtu",
        "rcvmss",
        "advmss",
        "wscale",
        "cwnd",
        "ino",
        "sk",
        "bytes_sent",
        "bytes_acked",
    ] {
        assert_eq!(mine.get(key), theirs.get(key), "{key}\nss: {ss}\nours: {ours}");
    }
    assert_eq!(mine.contains_key("send"), theirs.contains_key("send"));
    for flag in ["ts", "sack", "cubic", "bbr", "reno"] {
        assert_eq!(mine.contains_key(flag), theirs.contains_key(flag), "{flag}");
    }
    let (their_mem, my_mem) = (skmem(&theirs["skmem"]), skmem(&mine["skmem"]));
    for key in ["rb", "tb", "r", "t", "o", "bl", "d"] {
        assert_eq!(my_mem[key], their_mem[key], "skmem {key}");
    }
    assert!(theirs["timer"].starts_with("(keepalive,") && mine["timer"].starts_with("(keepalive,"));
    let rtt: f64 = mine["rtt"].split('/').next().unwrap().parse().unwrap();
    assert!(rtt > 0.0 && rtt < 1000.0, "rtt {rtt} ms");

    let rows = json_rows(&["-tnoemi", "--json", &filter]);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["tcp_info"]["snd_mss_bytes"].to_string(), theirs["mss"]);
    assert_eq!(row["skmem"]["rcvbuf_bytes"].as_u64(), Some(their_mem["rb"]));
    assert_eq!(row["skmem"]["sndbuf_bytes"].as_u64(), Some(their_mem["tb"]));
    assert_eq!(row["tcp_info"]["bytes_acked"].as_u64(), Some(1001), "the SYN counts, as in ss");
    assert_eq!(row["timer"]["name"], "keepalive");
    let expires = row["timer"]["expires_ms"].as_u64().unwrap();
    assert!(expires > 0 && expires <= 7_200_000, "keepalive in {expires} ms");
    let without = json_rows(&["-tn", "--json", &filter]);
    assert!(["timer", "skmem", "tcp_info"].iter().all(|key| without[0].get(key).is_none()));
}

#[test]
fn details_go_on_a_second_line_unless_oneline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let table = stdout_of(&["-tlnm", &format!("sport = :{port}")]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[2].starts_with("\t skmem:(r0,rb"), "{table}");
    assert!(lines.iter().all(|l| !l.ends_with(' ')));
    let oneline = stdout_of(&["-tlnmOH", &format!("sport = :{port}")]);
    assert_eq!(oneline.lines().count(), 1);
    assert!(oneline.contains(" skmem:(r0,rb"));
}
