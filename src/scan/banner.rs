//! `scan --banner` (a small `nmap -sV`): names the service on an open port
//! by what it answers, not by the port's number.
//!
//! [`identify`] runs a few probes, each on a fresh connection (a service
//! asked in the wrong protocol often closes):
//!
//! 1. greeting: connect and listen; SSH, SMTP, FTP, POP3, IMAP and MySQL
//!    speak first, and anything else that does is `unknown` with its first
//!    line;
//! 2. TLS: a ClientHello whose certificate check accepts anything, then an
//!    HTTP GET inside the tunnel;
//! 3. Redis: `PING`;
//! 4. PostgreSQL: an SSLRequest;
//! 5. HTTP: `GET /`.
//!
//! The port's usual protocol goes first (TLS on 443, Redis on 6379, ...).
//! Each probe gets an equal share of what is left of the budget, so a
//! probe that fails fast leaves its time to the next ones, and a silent
//! port costs at most [`BannerLimits::timeout`].
//!
//! An answer to one probe that is plainly another protocol (an HTTP 400 to
//! Redis's `PING`) names that protocol; when that protocol's own probe has
//! not run yet it runs next, since its own question usually gets a fuller
//! answer (a 200 and its `Server:` header).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;

use crate::model::scan::{Banner, TlsInfo};

/// How much one port's identification may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BannerLimits {
    /// The whole budget for one port, every probe and connection included.
    pub timeout: Duration,
    /// The most one read may take, and the most kept of one answer. (The
    /// TLS handshake's own records are read by rustls, which bounds them.)
    pub max_bytes: usize,
}

impl Default for BannerLimits {
    /// 4 s, so that a silent port's greeting wait is about 0.8 s (a fifth,
    /// the five probes sharing the budget), and 4 KiB, more than any
    /// greeting or HTTP header block worth naming.
    fn default() -> Self {
        BannerLimits { timeout: Duration::from_secs(4), max_bytes: 4096 }
    }
}

/// The longest text kept from an answer (first line, version, detail): the
/// strings are the peer's, and a hostile one could be megabytes.
const TEXT_CAP: usize = 256;

/// Kept back from the budget so that the probes end, and their result is
/// returned, before the outer timeout cuts everything.
const MARGIN_CAP: Duration = Duration::from_millis(50);

const A_DAY: Duration = Duration::from_secs(86_400);

/// Names the service listening at `address` by what it answers; `None` when
/// nothing could be learnt (refused now, silent, out of time).
pub async fn identify(address: SocketAddr, limits: &BannerLimits) -> Option<Banner> {
    if limits.max_bytes == 0 || limits.timeout.is_zero() {
        return None;
    }
    let start = Instant::now();
    let margin = (limits.timeout / 20).min(MARGIN_CAP);
    // A budget past what an Instant can hold (Duration::MAX) is a day.
    let end = start.checked_add(limits.timeout.saturating_sub(margin)).unwrap_or(start + A_DAY);
    timeout(limits.timeout, run_probes(address, limits, end)).await.ok().flatten()
}

/// One question asked on one fresh connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// Ask nothing: wait for the service to speak first.
    Greeting,
    Tls,
    Redis,
    Postgres,
    Http,
}

impl Probe {
    /// The probe that asks in the protocol a service name stands for.
    fn asking(service: &str) -> Option<Probe> {
        match service {
            "http" => Some(Probe::Http),
            "redis" => Some(Probe::Redis),
            "postgresql" => Some(Probe::Postgres),
            "tls" => Some(Probe::Tls),
            _ => None,
        }
    }
}

/// The probes in the order tried on `port`: its usual protocol first, then
/// the greeting (cheap, and names the most services), TLS, Redis,
/// PostgreSQL and HTTP.
fn probe_order(port: u16) -> VecDeque<Probe> {
    let usual = match port {
        443 | 8443 | 993 | 995 | 465 => Some(Probe::Tls),
        6379 => Some(Probe::Redis),
        5432 => Some(Probe::Postgres),
        80 | 8080 | 8000 => Some(Probe::Http),
        _ => None,
    };
    let mut order: VecDeque<Probe> = usual.into_iter().collect();
    for probe in [Probe::Greeting, Probe::Tls, Probe::Redis, Probe::Postgres, Probe::Http] {
        if Some(probe) != usual {
            order.push_back(probe);
        }
    }
    order
}

/// What one probe learnt.
#[derive(Debug)]
enum Outcome {
    /// The connection failed: the port is no longer open to us, and the
    /// next probes would fail the same way.
    Unreachable,
    /// Connected, but nothing usable came back in time.
    Silent,
    /// Named by an answer in the probe's own protocol, or by a greeting.
    Named(Banner),
    /// An answer to the probe's question in some other protocol (or in
    /// none portwatch knows: then `unknown`).
    Foreign(Banner),
}

async fn run_probes(address: SocketAddr, limits: &BannerLimits, end: Instant) -> Option<Banner> {
    let mut pending = probe_order(address.port());
    let mut fallback: Option<Banner> = None;
    while let Some(probe) = pending.pop_front() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let share = (end - now) / (pending.len() as u32 + 1);
        match run_probe(probe, address, limits, now + share).await {
            Outcome::Unreachable => break,
            Outcome::Silent => {}
            Outcome::Named(banner) => return Some(banner),
            Outcome::Foreign(banner) => {
                let own_probe = Probe::asking(&banner.service);
                let own_pending = own_probe.and_then(|own| pending.iter().position(|p| *p == own));
                if let Some(index) = own_pending {
                    if let Some(own) = pending.remove(index) {
                        pending.push_front(own);
                    }
                } else if banner.service != UNKNOWN {
                    return Some(banner);
                }
                let better = match &fallback {
                    None => true,
                    Some(kept) => kept.service == UNKNOWN && banner.service != UNKNOWN,
                };
                if better {
                    fallback = Some(banner);
                }
            }
        }
    }
    fallback
}

async fn run_probe(
    probe: Probe,
    address: SocketAddr,
    limits: &BannerLimits,
    deadline: Instant,
) -> Outcome {
    // The reads below stop at `deadline` and keep what came; this bounds
    // the rest (connect, write, handshake).
    let asked = async {
        match probe {
            Probe::Greeting => greeting_probe(address, limits, deadline).await,
            Probe::Tls => tls_probe(address, limits, deadline).await,
            Probe::Redis => {
                ask(address, limits, deadline, b"PING\r\n", line_complete, parse_redis).await
            }
            Probe::Postgres => {
                ask(
                    address,
                    limits,
                    deadline,
                    &PG_SSL_REQUEST,
                    |answer| !answer.is_empty(),
                    parse_postgres,
                )
                .await
            }
            Probe::Http => {
                let request = http_request(address);
                ask(address, limits, deadline, &request, http_complete, parse_http).await
            }
        }
    };
    timeout_at(deadline, asked).await.unwrap_or(Outcome::Silent)
}

/// Connects; `None` when the port no longer accepts.
async fn connect(address: SocketAddr) -> Option<TcpStream> {
    TcpStream::connect(address).await.ok()
}

/// Reads until `complete` says the answer is whole, the peer closes,
/// `deadline` passes, or `max_bytes` have come; whatever came is kept.
async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Instant,
    max_bytes: usize,
    complete: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; max_bytes];
    while answer.len() < max_bytes && !complete(&answer) {
        let room = max_bytes - answer.len();
        match timeout_at(deadline, stream.read(&mut chunk[..room])).await {
            Ok(Ok(read)) if read > 0 => answer.extend_from_slice(&chunk[..read]),
            _ => break,
        }
    }
    answer
}

/// Sends `question`, reads the answer, names it by `own_protocol` or else
/// by whatever it plainly is.
async fn ask(
    address: SocketAddr,
    limits: &BannerLimits,
    deadline: Instant,
    question: &[u8],
    complete: fn(&[u8]) -> bool,
    own_protocol: fn(&[u8]) -> Option<Banner>,
) -> Outcome {
    let Some(mut stream) = connect(address).await else {
        return Outcome::Unreachable;
    };
    if stream.write_all(question).await.is_err() {
        return Outcome::Silent;
    }
    let answer = read_answer(&mut stream, deadline, limits.max_bytes, complete).await;
    if let Some(banner) = own_protocol(&answer) {
        return Outcome::Named(banner);
    }
    match classify(&answer) {
        Some(banner) => Outcome::Foreign(banner),
        None => Outcome::Silent,
    }
}

async fn greeting_probe(address: SocketAddr, limits: &BannerLimits, deadline: Instant) -> Outcome {
    let Some(mut stream) = connect(address).await else {
        return Outcome::Unreachable;
    };
    let greeting = read_answer(&mut stream, deadline, limits.max_bytes, greeting_complete).await;
    if is_reply_220(&greeting) && kind_220(&greeting) == Kind220::Unsure {
        // Neither FTP nor SMTP said its name: ask in SMTP, which FTP
        // servers reject as an unknown command.
        let kind = if stream.write_all(b"EHLO portwatch\r\n").await.is_ok() {
            let reply = read_answer(&mut stream, deadline, limits.max_bytes, |reply| {
                kind_from_ehlo_reply(reply) != Kind220::Unsure
            })
            .await;
            kind_from_ehlo_reply(&reply)
        } else {
            Kind220::Unsure
        };
        return Outcome::Named(banner_220(&greeting, kind));
    }
    match classify(&greeting) {
        Some(banner) => Outcome::Named(banner),
        None => Outcome::Silent,
    }
}

// ---------------------------------------------------------------- TLS

async fn tls_probe(address: SocketAddr, limits: &BannerLimits, deadline: Instant) -> Outcome {
    let Some(config) = tls_client_config() else {
        return Outcome::Silent;
    };
    let Some(tcp) = connect(address).await else {
        return Outcome::Unreachable;
    };
    let connector = TlsConnector::from(config);
    // An address gives no SNI, which is what a scan of an address means.
    let mut tls = match connector.connect(ServerName::from(address.ip()), tcp).await {
        Ok(tls) => tls,
        Err(error) => {
            // A TLS alert is a TLS server refusing this handshake (no
            // common cipher, a client certificate required, SNI needed).
            let alert = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
            return match alert {
                Some(rustls::Error::AlertReceived(description)) => Outcome::Named(Banner {
                    service: "tls".to_owned(),
                    detail: Some(format!("handshake refused: {description:?}")),
                    ..Banner::default()
                }),
                _ => Outcome::Silent,
            };
        }
    };
    let mut banner = Banner {
        service: "tls".to_owned(),
        tls: Some(tls_info(tls.get_ref().1)),
        ..Banner::default()
    };
    // Inside the tunnel: IMAPS and POP3S greet first, HTTPS answers GET;
    // a greeting arrives before any answer to the GET, so one read tells.
    if tls.write_all(&http_request(address)).await.is_ok() {
        let answer = read_answer(&mut tls, deadline, limits.max_bytes, |answer| {
            if answer.starts_with(b"HTTP/") { http_complete(answer) } else { line_complete(answer) }
        })
        .await;
        if let Some(inner) = classify(&answer) {
            banner.version = inner.version;
            banner.first_line = inner.first_line;
            banner.detail = match inner.service.as_str() {
                "http" | UNKNOWN => inner.detail,
                service => Some(format!("{service} over TLS")),
            };
        }
    }
    Outcome::Named(banner)
}

fn tls_info(connection: &rustls::ClientConnection) -> TlsInfo {
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    let end_entity = connection.peer_certificates().and_then(|chain| chain.first());
    let (subject, not_after) =
        end_entity.map(|der| certificate_facts(der.as_ref())).unwrap_or_default();
    TlsInfo { version, subject, not_after }
}

/// The subject (RFC 4514's `CN=...` form, in the certificate's order) and
/// notAfter (RFC 3339, UTC) of a DER certificate; `None`s when it does not
/// parse.
fn certificate_facts(der: &[u8]) -> (Option<String>, Option<String>) {
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(der) else {
        return (None, None);
    };
    let subject = certificate
        .subject()
        .to_string_with_registry(x509_parser::objects::oid_registry())
        .ok()
        .map(|subject| cap_chars(&subject));
    let not_after = rfc3339_utc(certificate.validity().not_after.timestamp());
    (subject, not_after)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a UNIX time; `None` outside years 0..=9999.
fn rfc3339_utc(unix_seconds: i64) -> Option<String> {
    let days = unix_seconds.div_euclid(86_400);
    let seconds_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    ))
}

/// The proleptic Gregorian date of a count of days since 1970-01-01
/// (Howard Hinnant's public-domain `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days.saturating_add(719_468);
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era.saturating_mul(400) + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// One client configuration for every TLS probe; `None` if ring's provider
/// cannot build one (then TLS is not probed).
fn tls_client_config() -> Option<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // Deprecated for lacking post-quantum key exchange, which a probe
            // that sends nothing secret does not need; aws-lc, which has
            // it, is a C build portwatch does not take on.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let schemes = provider.signature_verification_algorithms.supported_schemes();
            let config = ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .ok()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { schemes }))
                .with_no_client_auth();
            Some(Arc::new(config))
        })
        .clone()
}

/// Accepts every certificate and every handshake signature.
///
/// The TLS probe only looks: it sends nothing secret and trusts nothing it
/// reads, and what it reports is the certificate itself, so the
/// self-signed, expired or wrongly named certificates an audit most wants
/// to see must not stop the handshake.
#[derive(Debug)]
struct AcceptAnyCertificate {
    /// Offered so that the server can pick a signature scheme at all.
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

// ---------------------------------------------------------------- questions

/// PostgreSQL's SSLRequest: length 8, then the code 1234 5679.
const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn http_request(address: SocketAddr) -> Vec<u8> {
    format!("GET / HTTP/1.0\r\nHost: {address}\r\nUser-Agent: portwatch\r\n\r\n").into_bytes()
}

// ---------------------------------------------------------------- answers

const UNKNOWN: &str = "unknown";

fn line_complete(answer: &[u8]) -> bool {
    answer.contains(&b'\n')
}

/// The header block has ended.
fn http_complete(answer: &[u8]) -> bool {
    answer.windows(4).any(|window| window == b"\r\n\r\n")
        || answer.windows(2).any(|window| window == b"\n\n")
}

/// A greeting is whole at its first line, except a MySQL packet (binary,
/// whole at its stated length) and a multi-line `NNN-` reply (whole at its
/// `NNN ` line, since FTP servers often name themselves on a later line).
fn greeting_complete(answer: &[u8]) -> bool {
    if let Some(length) = mysql_packet_length(answer) {
        return answer.len() >= 4 + length;
    }
    if let [a, b, c, b'-', ..] = answer {
        if [a, b, c].iter().all(|byte| byte.is_ascii_digit()) {
            let last = [*a, *b, *c, b' '];
            return complete_lines(answer).skip(1).any(|line| line.starts_with(&last));
        }
    }
    line_complete(answer)
}

/// Names an answer by what it plainly is, with no question to follow up;
/// `unknown` (with its first line) when it is none of the known ones, and
/// `None` when it is empty.
fn classify(answer: &[u8]) -> Option<Banner> {
    if answer.is_empty() {
        return None;
    }
    let named = parse_ssh(answer)
        .or_else(|| parse_mysql(answer))
        .or_else(|| parse_http(answer))
        .or_else(|| is_reply_220(answer).then(|| banner_220(answer, kind_220(answer))))
        .or_else(|| parse_pop3(answer))
        .or_else(|| parse_imap(answer));
    Some(named.unwrap_or_else(|| unknown(answer)))
}

fn unknown(answer: &[u8]) -> Banner {
    Banner { service: UNKNOWN.to_owned(), first_line: first_line(answer), ..Banner::default() }
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2`: version `OpenSSH_9.2p1 Debian-2`
/// (software and comments), detail `protocol 2.0`.
fn parse_ssh(answer: &[u8]) -> Option<Banner> {
    if !answer.starts_with(b"SSH-") {
        return None;
    }
    let line = first_line_bytes(answer);
    let after_prefix = &line[4..];
    let (protocol, software) = match after_prefix.iter().position(|byte| *byte == b'-') {
        Some(dash) => (&after_prefix[..dash], Some(&after_prefix[dash + 1..])),
        None => (after_prefix, None),
    };
    Some(Banner {
        service: "ssh".to_owned(),
        version: software.and_then(non_empty_text),
        detail: non_empty_text(protocol).map(|protocol| format!("protocol {protocol}")),
        first_line: first_line(answer),
        ..Banner::default()
    })
}

/// The payload length of what looks like MySQL's first packet: sequence 0,
/// then protocol 10 (the handshake) or 0xff (an error, such as "host not
/// allowed").
fn mysql_packet_length(answer: &[u8]) -> Option<usize> {
    match answer {
        [l0, l1, l2, 0, 10 | 0xff, ..] => {
            let length = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
            (2..=0xffff).contains(&length).then_some(length)
        }
        _ => None,
    }
}

/// MySQL's (or MariaDB's) handshake: version `8.0.36` or
/// `10.11.6-MariaDB-0+deb12u1`; or its error packet, in detail.
fn parse_mysql(answer: &[u8]) -> Option<Banner> {
    let length = mysql_packet_length(answer)?;
    let payload = answer.get(4..4 + length).unwrap_or(&answer[4..]);
    match payload {
        [10, rest @ ..] => {
            let end = rest.iter().position(|byte| *byte == 0)?;
            let version = &rest[..end];
            let printable = version.iter().all(|byte| (0x20..0x7f).contains(byte));
            if version.is_empty() || !version[0].is_ascii_digit() || !printable {
                return None;
            }
            let mut version = cap_chars(&String::from_utf8_lossy(version));
            // MariaDB prefixes 5.5.5- for the clients that parse the
            // version as MySQL's.
            if version.starts_with("5.5.5-") && version.contains("MariaDB") {
                version.replace_range(..6, "");
            }
            Some(Banner {
                service: "mysql".to_owned(),
                version: Some(version),
                ..Banner::default()
            })
        }
        [0xff, code_low, code_high, message @ ..] if payload.len() == length => {
            let code = u16::from_le_bytes([*code_low, *code_high]);
            let message = match message {
                [b'#', _, _, _, _, _, text @ ..] => text,
                text => text,
            };
            let printable = message.iter().all(|byte| (0x20..0x7f).contains(byte));
            if message.is_empty() || !printable {
                return None;
            }
            Some(Banner {
                service: "mysql".to_owned(),
                detail: Some(cap_chars(&format!(
                    "error {code}: {}",
                    String::from_utf8_lossy(message)
                ))),
                ..Banner::default()
            })
        }
        _ => None,
    }
}

/// `HTTP/1.1 200 OK` with `Server: nginx/1.22.1`: version is the Server
/// header, detail the status line.
fn parse_http(answer: &[u8]) -> Option<Banner> {
    if !answer.starts_with(b"HTTP/") {
        return None;
    }
    let server = lines(answer)
        .skip(1)
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let colon = line.iter().position(|byte| *byte == b':')?;
            line[..colon].eq_ignore_ascii_case(b"server").then(|| &line[colon + 1..])
        })
        .and_then(non_empty_text);
    let status_line = first_line(answer);
    Some(Banner {
        service: "http".to_owned(),
        version: server,
        detail: status_line.clone(),
        first_line: status_line,
        ..Banner::default()
    })
}

/// Who greets with `220`: FTP and SMTP both do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind220 {
    Smtp,
    Ftp,
    Unsure,
}

fn is_reply_220(answer: &[u8]) -> bool {
    matches!(answer, [b'2', b'2', b'0', b' ' | b'-' | b'\r' | b'\n', ..] | [b'2', b'2', b'0'])
}

/// The rule: a word `SMTP` or `ESMTP` makes it SMTP; else a word holding
/// `FTP` (`vsFTPd`, `ProFTPD`, `Pure-FTPd`) makes it FTP; else `SMTP`
/// anywhere; else unsure (and the greeting probe asks EHLO).
fn kind_220(greeting: &[u8]) -> Kind220 {
    let text = String::from_utf8_lossy(greeting).to_ascii_uppercase();
    let mut words = text.split(|c: char| c.is_whitespace() || "()[]<>,;".contains(c));
    if words.clone().any(|word| word == "SMTP" || word == "ESMTP") {
        Kind220::Smtp
    } else if words.any(|word| word.contains("FTP")) {
        Kind220::Ftp
    } else if text.contains("SMTP") {
        Kind220::Smtp
    } else {
        Kind220::Unsure
    }
}

/// What the reply to `EHLO` says of an unsure 220 greeting: a `250` is
/// SMTP; a `5xx` is FTP, whose servers reject EHLO as an unknown command;
/// a further line of the greeting (`220`) tells nothing yet.
fn kind_from_ehlo_reply(reply: &[u8]) -> Kind220 {
    match complete_lines(reply).find(|line| !line.starts_with(b"220")) {
        Some(line) if line.starts_with(b"250") => Kind220::Smtp,
        Some([b'5', ..]) => Kind220::Ftp,
        _ => Kind220::Unsure,
    }
}

/// An SMTP greeting's version is what follows `ESMTP` (`Postfix (Debian)`);
/// an FTP one's is the greeting's text (`vsFTPd 3.0.3`, its parentheses
/// dropped). Unsure stays `unknown`, with its first line.
fn banner_220(greeting: &[u8], kind: Kind220) -> Banner {
    let line = first_line(greeting).unwrap_or_default();
    let text = line.get(3..).unwrap_or_default().trim_start_matches(['-', ' ']).trim();
    let (service, version) = match kind {
        Kind220::Smtp => {
            let mut after_word = None;
            let mut rest = text;
            while let Some((word, tail)) = rest.split_once(' ') {
                if word.eq_ignore_ascii_case("esmtp") || word.eq_ignore_ascii_case("smtp") {
                    after_word = Some(tail.trim());
                    break;
                }
                rest = tail;
            }
            ("smtp", after_word.filter(|version| !version.is_empty()).map(str::to_owned))
        }
        Kind220::Ftp => {
            let unwrapped =
                text.strip_prefix('(').and_then(|inner| inner.strip_suffix(')')).unwrap_or(text);
            ("ftp", Some(unwrapped.trim().to_owned()).filter(|version| !version.is_empty()))
        }
        Kind220::Unsure => (UNKNOWN, None),
    };
    Banner {
        service: service.to_owned(),
        version,
        first_line: Some(line).filter(|line| !line.is_empty()),
        ..Banner::default()
    }
}

/// `+OK Dovecot ready.`: the text after `+OK` in detail.
fn parse_pop3(answer: &[u8]) -> Option<Banner> {
    after_status(answer, &[b"+OK"], "pop3")
}

/// `* OK [CAPABILITY ...] Dovecot ready.` (or `* PREAUTH`, `* BYE`): the
/// text after the status in detail.
fn parse_imap(answer: &[u8]) -> Option<Banner> {
    after_status(answer, &[b"* OK", b"* PREAUTH", b"* BYE"], "imap")
}

/// A greeting that starts with one of `statuses` as a word, named
/// `service`, with the rest of its first line in detail.
fn after_status(answer: &[u8], statuses: &[&[u8]], service: &str) -> Option<Banner> {
    let rest = statuses.iter().find_map(|status| answer.strip_prefix(*status))?;
    if !matches!(rest.first(), None | Some(b' ' | b'\r' | b'\n')) {
        return None;
    }
    Some(Banner {
        service: service.to_owned(),
        detail: non_empty_text(first_line_bytes(rest)),
        first_line: first_line(answer),
        ..Banner::default()
    })
}

/// Redis's answers to `PING`: `+PONG`; `-NOAUTH ...` (or an older
/// `-ERR ... auth ...`, `-ERR operation not permitted`) when a password is
/// set; `-DENIED ...` in protected mode.
fn parse_redis(answer: &[u8]) -> Option<Banner> {
    let line = first_line_bytes(answer);
    let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
    let detail = if lower.starts_with("+pong") {
        None
    } else if lower.starts_with("-noauth")
        || (lower.starts_with("-err")
            && (lower.contains("auth") || lower.contains("operation not permitted")))
    {
        Some("authentication required".to_owned())
    } else if lower.starts_with("-denied") {
        Some("protected mode".to_owned())
    } else {
        return None;
    };
    Some(Banner {
        service: "redis".to_owned(),
        detail,
        first_line: first_line(answer),
        ..Banner::default()
    })
}

/// The one byte PostgreSQL answers an SSLRequest with.
fn parse_postgres(answer: &[u8]) -> Option<Banner> {
    let detail = match answer {
        b"S" => "SSL supported",
        b"N" => "SSL not supported",
        _ => return None,
    };
    Some(Banner {
        service: "postgresql".to_owned(),
        detail: Some(detail.to_owned()),
        ..Banner::default()
    })
}

// ---------------------------------------------------------------- text

/// The lines of an answer, `\r\n` or `\n` ended, without their ends.
fn lines(answer: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    answer.split(|byte| *byte == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// The lines that have their end (`\n` included).
fn complete_lines(answer: &[u8]) -> impl Iterator<Item = &[u8]> {
    answer.split_inclusive(|byte| *byte == b'\n').filter(|line| line.ends_with(b"\n"))
}

fn first_line_bytes(answer: &[u8]) -> &[u8] {
    lines(answer).next().unwrap_or_default()
}

/// The answer's first line as text (capped), `None` when empty.
fn first_line(answer: &[u8]) -> Option<String> {
    let line = first_line_bytes(answer);
    (!line.is_empty()).then(|| lossy_capped(line))
}

/// Trimmed text, capped; `None` when nothing is left.
fn non_empty_text(bytes: &[u8]) -> Option<String> {
    Some(lossy_capped(bytes.trim_ascii()).trim().to_owned()).filter(|text| !text.is_empty())
}

/// At most [`TEXT_CAP`] characters of possibly non-UTF-8 bytes: only the
/// head is decoded (four bytes a character at most), so a huge line costs
/// nothing.
fn lossy_capped(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(TEXT_CAP * 4)];
    cap_chars(&String::from_utf8_lossy(head))
}

fn cap_chars(text: &str) -> String {
    text.chars().take(TEXT_CAP).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // ------------------------------------------------------------ parsers

    #[test]
    fn ssh_banner_splits_protocol_and_software() {
        let banner = classify(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap();
        assert_eq!(banner.service, "ssh");
        assert_eq!(banner.version.as_deref(), Some("OpenSSH_9.2p1 Debian-2"));
        assert_eq!(banner.detail.as_deref(), Some("protocol 2.0"));
        assert_eq!(banner.first_line.as_deref(), Some("SSH-2.0-OpenSSH_9.2p1 Debian-2"));
    }

    #[test]
    fn ssh_banner_without_software_or_utf8() {
        let banner = classify(b"SSH-2.0\r\n").unwrap();
        assert_eq!((banner.service.as_str(), banner.version), ("ssh", None));
        let banner = classify(b"SSH-1.99-\xff\xfe\x00evil\n").unwrap();
        assert_eq!(banner.service, "ssh");
        assert!(banner.version.unwrap().contains('\u{fffd}'));
    }

    #[test]
    fn smtp_greetings() {
        let banner = classify(b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n").unwrap();
        assert_eq!(banner.service, "smtp");
        assert_eq!(banner.version.as_deref(), Some("Postfix (Debian/GNU)"));
        let banner = classify(b"220 ftp.example.com ESMTP Exim 4.96\r\n").unwrap();
        assert_eq!(banner.service, "smtp", "the ESMTP word wins over a host named ftp");
        let banner = classify(b"220-mx.example.com ESMTP\r\n220 ready\r\n").unwrap();
        assert_eq!((banner.service.as_str(), banner.version), ("smtp", None));
    }

    #[test]
    fn ftp_greetings() {
        let banner = classify(b"220 (vsFTPd 3.0.3)\r\n").unwrap();
        assert_eq!(banner.service, "ftp");
        assert_eq!(banner.version.as_deref(), Some("vsFTPd 3.0.3"));
        let banner = classify(b"220 ProFTPD Server (Debian) [::ffff:10.0.0.1]\r\n").unwrap();
        assert_eq!(banner.service, "ftp");
        assert_eq!(banner.version.as_deref(), Some("ProFTPD Server (Debian) [::ffff:10.0.0.1]"));
        // The product named on a later line of a multi-line greeting.
        let banner =
            classify(b"220-Welcome\r\n220-Pure-FTPd [privsep]\r\n220 You are user 1\r\n").unwrap();
        assert_eq!(banner.service, "ftp");
    }

    #[test]
    fn an_unsure_220_is_unknown_without_a_connection_to_ask_on() {
        let banner = classify(b"220 host.example ready\r\n").unwrap();
        assert_eq!(banner.service, "unknown");
        assert_eq!(banner.first_line.as_deref(), Some("220 host.example ready"));
        assert_eq!(kind_220(b"220 host.example ready\r\n"), Kind220::Unsure);
    }

    #[test]
    fn ehlo_replies() {
        assert_eq!(kind_from_ehlo_reply(b"250-host\r\n250 PIPELINING\r\n"), Kind220::Smtp);
        assert_eq!(kind_from_ehlo_reply(b"500 Unknown command.\r\n"), Kind220::Ftp);
        assert_eq!(kind_from_ehlo_reply(b"220 more greeting\r\n250 hi\r\n"), Kind220::Smtp);
        assert_eq!(kind_from_ehlo_reply(b"220 more greeting\r\n"), Kind220::Unsure);
        assert_eq!(kind_from_ehlo_reply(b"250 trunc"), Kind220::Unsure);
        assert_eq!(kind_from_ehlo_reply(b""), Kind220::Unsure);
    }

    #[test]
    fn greeting_completeness() {
        assert!(!greeting_complete(b""));
        assert!(!greeting_complete(b"SSH-2.0-Open"));
        assert!(greeting_complete(b"SSH-2.0-OpenSSH\r\n"));
        assert!(!greeting_complete(b"220-first\r\n"));
        assert!(!greeting_complete(b"220-first\r\n220 last"));
        assert!(greeting_complete(b"220-first\r\n220 last\r\n"));
        // MySQL's protocol byte is 10, a '\n': the packet's length decides.
        assert!(!greeting_complete(&[20, 0, 0, 0, 10, b'8']));
    }

    #[test]
    fn pop3_and_imap_greetings() {
        let banner = classify(b"+OK Dovecot ready.\r\n").unwrap();
        assert_eq!(banner.service, "pop3");
        assert_eq!(banner.detail.as_deref(), Some("Dovecot ready."));
        let banner = classify(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n").unwrap();
        assert_eq!(banner.service, "imap");
        assert_eq!(
            banner.detail.as_deref(),
            Some("[CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.")
        );
        assert_eq!(classify(b"* BYE go away\r\n").unwrap().service, "imap");
        assert_eq!(classify(b"+OKAY\r\n").unwrap().service, "unknown");
        assert_eq!(classify(b"* OKish\r\n").unwrap().service, "unknown");
    }

    fn mysql_handshake(version: &[u8]) -> Vec<u8> {
        let mut payload = vec![10];
        payload.extend_from_slice(version);
        payload.push(0);
        payload.extend_from_slice(&[1, 0, 0, 0]); // thread id
        payload.extend_from_slice(b"\x12\x0a\x00salt\xff\xfe\x00"); // binary, '\n' included
        let length = payload.len() as u32;
        let mut packet = length.to_le_bytes()[..3].to_vec();
        packet.push(0);
        packet.extend_from_slice(&payload);
        packet
    }

    #[test]
    fn mysql_handshake_names_the_version() {
        let packet = mysql_handshake(b"8.0.36");
        assert!(greeting_complete(&packet));
        assert!(!greeting_complete(&packet[..packet.len() - 1]));
        let banner = classify(&packet).unwrap();
        assert_eq!(banner.service, "mysql");
        assert_eq!(banner.version.as_deref(), Some("8.0.36"));
        assert_eq!(banner.first_line, None);
        let banner = classify(&mysql_handshake(b"5.5.5-10.11.6-MariaDB-0+deb12u1")).unwrap();
        assert_eq!(banner.version.as_deref(), Some("10.11.6-MariaDB-0+deb12u1"));
    }

    #[test]
    fn mysql_error_packet_and_hostile_packets() {
        let message = b"Host '10.0.0.9' is not allowed to connect to this MySQL server";
        let mut packet = vec![(3 + message.len()) as u8, 0, 0, 0, 0xff, 0x6a, 0x04];
        packet.extend_from_slice(message);
        let banner = classify(&packet).unwrap();
        assert_eq!(banner.service, "mysql");
        assert_eq!(
            banner.detail.unwrap(),
            format!("error 1130: {}", String::from_utf8_lossy(message))
        );

        let full = mysql_handshake(b"8.0.36");
        // Truncated before the version's NUL: not named, never a panic.
        for cut in 0..10 {
            let banner = classify(&full[..cut]);
            assert_ne!(banner.map(|b| b.service), Some("mysql".to_owned()), "cut at {cut}");
        }
        // A version that is not text, a length past the data, a zero length.
        assert_ne!(classify(&mysql_handshake(b"\x01\x02")).unwrap().service, "mysql");
        assert_ne!(classify(&[0xff, 0xff, 0xff, 0, 10, b'8', 0]).unwrap().service, "mysql");
        assert_eq!(parse_mysql(&[0, 0, 0, 0, 10]), None);
        assert_eq!(parse_mysql(&[5, 0, 0, 0, 0xff, 1]), None);
    }

    #[test]
    fn http_response_status_and_server() {
        let answer =
            b"HTTP/1.1 200 OK\r\nDate: x\r\nserver:  nginx/1.22.1 \r\n\r\nServer: body\r\n";
        let banner = parse_http(answer).unwrap();
        assert_eq!(banner.service, "http");
        assert_eq!(banner.version.as_deref(), Some("nginx/1.22.1"));
        assert_eq!(banner.detail.as_deref(), Some("HTTP/1.1 200 OK"));
        // The Server header only counts inside the header block.
        let banner = parse_http(b"HTTP/1.0 404 Not Found\n\nServer: body\n").unwrap();
        assert_eq!(banner.version, None);
        assert_eq!(banner.detail.as_deref(), Some("HTTP/1.0 404 Not Found"));
        assert_eq!(
            parse_http(b"HTTP/"),
            Some(Banner {
                service: "http".to_owned(),
                detail: Some("HTTP/".to_owned()),
                first_line: Some("HTTP/".to_owned()),
                ..Banner::default()
            })
        );
        assert!(http_complete(b"HTTP/1.0 200 OK\r\n\r\n"));
        assert!(!http_complete(b"HTTP/1.0 200 OK\r\nServer: x\r\n"));
    }

    #[test]
    fn redis_replies() {
        let pong = parse_redis(b"+PONG\r\n").unwrap();
        assert_eq!((pong.service.as_str(), pong.detail), ("redis", None));
        for locked in [
            &b"-NOAUTH Authentication required.\r\n"[..],
            b"-ERR operation not permitted\r\n",
            b"-ERR Client sent AUTH, but no password is set\r\n",
        ] {
            let banner = parse_redis(locked).unwrap();
            assert_eq!(banner.detail.as_deref(), Some("authentication required"));
        }
        assert_eq!(
            parse_redis(b"-DENIED Redis is running in protected mode\r\n")
                .unwrap()
                .detail
                .as_deref(),
            Some("protected mode")
        );
        assert_eq!(parse_redis(b"-ERR unknown command\r\n"), None);
        assert_eq!(parse_redis(b"PONG\r\n"), None);
        assert_eq!(parse_redis(b""), None);
        assert_eq!(parse_redis(b"\xff\xfe+PONG"), None);
    }

    #[test]
    fn postgres_ssl_byte() {
        assert_eq!(parse_postgres(b"S").unwrap().detail.as_deref(), Some("SSL supported"));
        assert_eq!(parse_postgres(b"N").unwrap().detail.as_deref(), Some("SSL not supported"));
        assert_eq!(parse_postgres(b"No thanks\n"), None);
        assert_eq!(parse_postgres(b""), None);
        assert_eq!(parse_postgres(b"E"), None);
    }

    #[test]
    fn hostile_answers_are_capped_and_never_panic() {
        let huge = vec![b'A'; 1 << 20];
        let banner = classify(&huge).unwrap();
        assert_eq!(banner.service, "unknown");
        assert_eq!(banner.first_line.unwrap().chars().count(), TEXT_CAP);

        let mut huge_ssh = b"SSH-2.0-".to_vec();
        huge_ssh.extend(std::iter::repeat_n(0xe2, 100_000)); // truncated UTF-8, over and over
        let banner = classify(&huge_ssh).unwrap();
        assert!(banner.version.unwrap().chars().count() <= TEXT_CAP);
        assert!(banner.first_line.unwrap().chars().count() <= TEXT_CAP);

        let mut huge_http = b"HTTP/1.1 200 OK\r\nServer: ".to_vec();
        huge_http.extend(std::iter::repeat_n(b'x', 100_000));
        assert_eq!(parse_http(&huge_http).unwrap().version.unwrap().len(), TEXT_CAP);

        let garbage: Vec<u8> = (0..=255).collect();
        for end in 0..garbage.len() {
            let _ = classify(&garbage[..end]);
            let _ = classify(&garbage[end..]);
            let _ = parse_redis(&garbage[end..]);
            let _ = parse_postgres(&garbage[end..]);
            let _ = greeting_complete(&garbage[end..]);
            let _ = kind_from_ehlo_reply(&garbage[end..]);
        }
        assert_eq!(classify(b""), None);
        assert_eq!(classify(b"\n").unwrap().first_line, None);
        let banner = classify(b"\x00\x01\xffhello\r\n").unwrap();
        assert_eq!(banner.first_line.as_deref(), Some("\u{0}\u{1}\u{fffd}hello"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_utc(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc3339_utc(1_700_000_000).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(rfc3339_utc(253_402_300_799).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(rfc3339_utc(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339_utc(253_402_300_800), None);
        assert_eq!(rfc3339_utc(i64::MAX), None);
        assert_eq!(rfc3339_utc(i64::MIN), None);
    }

    #[test]
    fn usual_protocol_goes_first() {
        assert_eq!(probe_order(443)[0], Probe::Tls);
        assert_eq!(probe_order(6379)[0], Probe::Redis);
        assert_eq!(probe_order(5432)[0], Probe::Postgres);
        assert_eq!(probe_order(8080)[0], Probe::Http);
        assert_eq!(
            Vec::from(probe_order(22)),
            [Probe::Greeting, Probe::Tls, Probe::Redis, Probe::Postgres, Probe::Http]
        );
        assert_eq!(probe_order(443).len(), 5);
    }

    // ------------------------------------------------------------ servers

    /// Serves every connection to a fresh 127.0.0.1 port with `handle`.
    async fn serve<F, Fut>(handle: F) -> SocketAddr
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream));
            }
        });
        address
    }

    /// Reads until the peer closes (or `max` bytes), as a server that holds
    /// the line does.
    async fn drain<S: AsyncRead + Unpin>(stream: &mut S) {
        let mut buffer = [0u8; 1024];
        while let Ok(read) = stream.read(&mut buffer).await {
            if read == 0 {
                break;
            }
        }
    }

    /// Reads one chunk (a request, a command) or nothing.
    async fn read_some<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
        let mut buffer = vec![0u8; 4096];
        match stream.read(&mut buffer).await {
            Ok(read) => buffer[..read].to_vec(),
            Err(_) => Vec::new(),
        }
    }

    fn limits(seconds: f64) -> BannerLimits {
        BannerLimits { timeout: Duration::from_secs_f64(seconds), ..BannerLimits::default() }
    }

    #[tokio::test]
    async fn identifies_an_ssh_server() {
        let address = serve(|mut stream| async move {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
            drain(&mut stream).await;
        })
        .await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "ssh");
        assert_eq!(banner.version.as_deref(), Some("OpenSSH_9.2p1 Debian-2"));
    }

    /// An HTTP server that answers 400 to anything but a GET, as real ones
    /// answer a Redis PING or a ClientHello.
    async fn http_server(mut stream: TcpStream) {
        let request = read_some(&mut stream).await;
        let answer: &[u8] = if request.starts_with(b"GET / HTTP/1.0\r\n") {
            b"HTTP/1.0 200 OK\r\nServer: test-httpd/1.0\r\nContent-Length: 2\r\n\r\nhi"
        } else {
            b"HTTP/1.1 400 Bad Request\r\nServer: test-httpd/1.0\r\n\r\n"
        };
        let _ = stream.write_all(answer).await;
    }

    #[tokio::test]
    async fn identifies_an_http_server_off_its_port() {
        let address = serve(http_server).await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "http");
        assert_eq!(banner.version.as_deref(), Some("test-httpd/1.0"));
        // The 400 to an earlier probe sent the GET next: its 200 is kept.
        assert_eq!(banner.detail.as_deref(), Some("HTTP/1.0 200 OK"));
    }

    fn self_signed() -> (CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "portwatch-test");
        params.distinguished_name = name;
        params.not_after = rcgen::date_time_ymd(2031, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (certificate.der().clone(), key.into())
    }

    async fn tls_server(versions: &[&'static rustls::SupportedProtocolVersion]) -> SocketAddr {
        let (certificate, key) = self_signed();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        serve(move |stream| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                if read_some(&mut tls).await.starts_with(b"GET ") {
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nServer: tls-httpd\r\n\r\n").await;
                    let _ = tls.shutdown().await;
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn identifies_tls_and_reads_the_certificate() {
        let address = tls_server(&[&rustls::version::TLS13]).await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "tls");
        let tls = banner.tls.unwrap();
        assert_eq!(tls.version, "TLSv1.3");
        assert_eq!(tls.subject.as_deref(), Some("CN=portwatch-test"));
        assert_eq!(tls.not_after.as_deref(), Some("2031-01-02T00:00:00Z"));
        assert_eq!(banner.version.as_deref(), Some("tls-httpd"));
        assert_eq!(banner.detail.as_deref(), Some("HTTP/1.1 200 OK"));
    }

    #[tokio::test]
    async fn tls_1_2_is_named_too() {
        let address = tls_server(&[&rustls::version::TLS12]).await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.tls.unwrap().version, "TLSv1.2");
    }

    #[tokio::test]
    async fn a_tls_alert_still_names_tls() {
        let address = serve(|mut stream| async move {
            if read_some(&mut stream).await.starts_with(&[0x16]) {
                // A fatal handshake_failure alert, as a server with no
                // cipher in common sends.
                let _ = stream.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]).await;
            }
        })
        .await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "tls");
        assert_eq!(banner.detail.as_deref(), Some("handshake refused: HandshakeFailure"));
        assert_eq!(banner.tls, None);
    }

    async fn redis_server(mut stream: TcpStream, ping_reply: &'static [u8]) {
        loop {
            let command = read_some(&mut stream).await;
            if command.is_empty() {
                return;
            }
            let reply = if command.starts_with(b"PING") {
                ping_reply
            } else {
                &b"-ERR unknown command\r\n"[..]
            };
            if stream.write_all(reply).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn identifies_redis_open_and_locked() {
        let open = serve(|stream| redis_server(stream, b"+PONG\r\n")).await;
        let banner = identify(open, &limits(3.0)).await.unwrap();
        assert_eq!((banner.service.as_str(), banner.detail), ("redis", None));

        let locked =
            serve(|stream| redis_server(stream, b"-NOAUTH Authentication required.\r\n")).await;
        let banner = identify(locked, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "redis");
        assert_eq!(banner.detail.as_deref(), Some("authentication required"));
    }

    #[tokio::test]
    async fn identifies_postgres_by_its_ssl_answer() {
        let address = serve(|mut stream| async move {
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).await.is_ok() && request == PG_SSL_REQUEST {
                let _ = stream.write_all(b"N").await;
                drain(&mut stream).await;
            }
        })
        .await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "postgresql");
        assert_eq!(banner.detail.as_deref(), Some("SSL not supported"));
    }

    #[tokio::test]
    async fn an_unsure_220_is_asked_ehlo() {
        let smtp = serve(|mut stream| async move {
            let _ = stream.write_all(b"220 host.example ready\r\n").await;
            if read_some(&mut stream).await.starts_with(b"EHLO") {
                let _ = stream.write_all(b"250-host.example\r\n250 PIPELINING\r\n").await;
            }
            drain(&mut stream).await;
        })
        .await;
        assert_eq!(identify(smtp, &limits(3.0)).await.unwrap().service, "smtp");

        let ftp = serve(|mut stream| async move {
            let _ = stream.write_all(b"220 host.example ready\r\n").await;
            if !read_some(&mut stream).await.is_empty() {
                let _ = stream.write_all(b"500 Unknown command.\r\n").await;
            }
            drain(&mut stream).await;
        })
        .await;
        assert_eq!(identify(ftp, &limits(3.0)).await.unwrap().service, "ftp");
    }

    #[tokio::test]
    async fn an_unknown_talker_keeps_its_first_line() {
        let address = serve(|mut stream| async move {
            let _ = stream.write_all(b"hello \x1b[31mthere\r\nmore\r\n").await;
            drain(&mut stream).await;
        })
        .await;
        let banner = identify(address, &limits(3.0)).await.unwrap();
        assert_eq!(banner.service, "unknown");
        assert_eq!(banner.first_line.as_deref(), Some("hello \u{1b}[31mthere"));
    }

    #[tokio::test]
    async fn a_silent_port_gives_nothing_within_the_budget() {
        let address = serve(|mut stream| async move { drain(&mut stream).await }).await;
        let budget = limits(1.5);
        let started = std::time::Instant::now();
        assert_eq!(identify(address, &budget).await, None);
        let elapsed = started.elapsed();
        assert!(elapsed < budget.timeout + Duration::from_secs(1), "took {elapsed:?}");
    }

    #[tokio::test]
    async fn a_closed_port_gives_nothing_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let started = std::time::Instant::now();
        assert_eq!(identify(address, &limits(3.0)).await, None);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn odd_limits_do_not_panic() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let endless = BannerLimits { timeout: Duration::MAX, max_bytes: usize::from(u16::MAX) };
        assert_eq!(identify(address, &endless).await, None);
        assert_eq!(identify(address, &BannerLimits { max_bytes: 0, ..endless }).await, None);
        assert_eq!(
            identify(address, &BannerLimits { timeout: Duration::ZERO, ..endless }).await,
            None
        );
        assert_eq!(
            identify(address, &BannerLimits { timeout: Duration::from_nanos(1), ..endless }).await,
            None
        );
    }

    #[tokio::test]
    async fn a_port_that_talks_forever_is_cut_at_max_bytes() {
        let address = serve(|mut stream| async move {
            let line = vec![b'z'; 64 * 1024];
            while stream.write_all(&line).await.is_ok() {}
        })
        .await;
        let small = BannerLimits { timeout: Duration::from_secs(2), max_bytes: 100 };
        let banner = identify(address, &small).await.unwrap();
        assert_eq!(banner.service, "unknown");
        assert_eq!(banner.first_line.unwrap().len(), 100);
    }

    #[test]
    fn identify_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let limits = BannerLimits::default();
        let future = identify(SocketAddr::from(([127, 0, 0, 1], 9)), &limits);
        assert_send(&future);
    }
}
