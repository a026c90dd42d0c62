//! `scan --banner` against servers the test starts on loopback: an SSH-like
//! greeting on a port that is not 22, an HTTP server, a TLS server with a
//! self-signed certificate, Redis-protocol responders (open and locked), an
//! SMTP greeting, a MySQL handshake, and a silent port that must come back
//! within the banner's time bound.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Accepts forever on a loopback port, each connection on its own thread.
fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                handle(stream);
            });
        }
    });
    port
}

fn greets(text: &'static [u8]) -> u16 {
    serve(move |mut stream| {
        let _ = stream.write_all(text);
        std::thread::sleep(Duration::from_secs(2));
    })
}

/// Answers a GET with 200 and a Server header, anything else with 400.
fn http_server() -> u16 {
    serve(|stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut stream = stream;
        if !line.starts_with("GET ") {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nServer: test-httpd/2.4\r\n\r\n");
            return;
        }
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nServer: test-httpd/2.4\r\nContent-Length: 0\r\n\r\n");
    })
}

fn redis_server(locked: bool) -> u16 {
    serve(move |stream| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let answer: &[u8] = match (line.trim(), locked) {
            ("PING", false) => b"+PONG\r\n",
            ("PING", true) => b"-NOAUTH Authentication required.\r\n",
            _ => b"-ERR unknown command\r\n",
        };
        let mut stream = stream;
        let _ = stream.write_all(answer);
    })
}

/// A TLS 1.3 server with a self-signed certificate for CN=portwatch-test.
fn tls_server() -> u16 {
    let mut params = rcgen::CertificateParams::new(vec!["portwatch-test".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "portwatch-test");
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let chain = vec![certificate.der().clone()];
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .unwrap();
    let config = Arc::new(config);
    serve(move |stream| {
        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { return };
        let mut tls = rustls::StreamOwned::new(connection, stream);
        let mut buffer = [0u8; 512];
        let _ = tls.read(&mut buffer);
    })
}

fn silent_server() -> u16 {
    serve(|_stream| std::thread::sleep(Duration::from_secs(20)))
}

fn mysql_server() -> u16 {
    let mut packet = vec![0x4a, 0, 0, 0, 10];
    packet.extend_from_slice(b"8.0.36-test\0\x01\x02\x03\x04");
    let packet: &'static [u8] = Box::leak(packet.into_boxed_slice());
    greets(packet)
}

#[test]
fn banners_name_services_by_their_answers() {
    let ssh = greets(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    let smtp = greets(b"220 mail.test ESMTP Postfix\r\n");
    let mysql = mysql_server();
    let http = http_server();
    let tls = tls_server();
    let redis = redis_server(false);
    let locked = redis_server(true);
    let silent = silent_server();
    let ports = [ssh, smtp, mysql, http, tls, redis, locked, silent];
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let started = Instant::now();
    let output = common::portwatch()
        .args(["scan", "--banner", "--json", "-p", &list.join(","), "127.0.0.1"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let hosts: Value = serde_json::from_slice(&output.stdout).unwrap();
    let banner = |port: u16| -> Value {
        let ports = hosts[0]["ports"].as_array().unwrap();
        let found = ports.iter().find(|p| p["port"] == port).unwrap();
        assert_eq!(found["state"], "open", "{found}");
        found["banner"].clone()
    };
    assert_eq!(banner(ssh)["service"], "ssh");
    assert_eq!(banner(ssh)["version"], "OpenSSH_9.2p1 Debian-2+deb12u3");
    assert_eq!(banner(smtp)["service"], "smtp");
    assert_eq!(banner(mysql)["service"], "mysql");
    assert_eq!(banner(mysql)["version"], "8.0.36-test");
    assert_eq!(banner(http)["service"], "http");
    assert_eq!(banner(http)["version"], "test-httpd/2.4");
    let tls_banner = banner(tls);
    assert_eq!(tls_banner["service"], "tls", "{tls_banner}");
    assert_eq!(tls_banner["tls"]["version"], "TLSv1.3");
    assert_eq!(tls_banner["tls"]["subject"], "CN=portwatch-test");
    assert!(tls_banner["tls"]["not_after"].as_str().unwrap().ends_with('Z'), "{tls_banner}");
    assert_eq!(banner(redis)["service"], "redis");
    assert_eq!(banner(redis)["detail"], Value::Null);
    assert_eq!(banner(locked)["detail"], "authentication required");
    assert_eq!(banner(silent), Value::Null, "a silent port is named by nothing");
    assert!(elapsed < Duration::from_secs(12), "the banner bound holds: {elapsed:?}");
}

#[test]
fn banner_bytes_are_escaped_in_the_table() {
    let hostile = greets(b"SSH-2.0-evil\x1b[2J\x07\r\n");
    let output = common::portwatch()
        .args(["scan", "--banner", "-p", &hostile.to_string(), "127.0.0.1"])
        .output()
        .unwrap();
    let table = common::text(&output.stdout);
    assert!(table.contains("ssh") && table.contains("evil\\u{1b}[2J\\u{7}"), "{table}");
    assert!(!table.contains('\u{1b}') && !table.contains('\u{7}'));
}
