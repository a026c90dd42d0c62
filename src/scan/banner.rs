//! `scan --banner` (nmap -sV lite): what an open port is, from what it
//! answers. Each probe takes a connection of its own, since a service that
//! got a probe for another protocol may hang up: first the probe the port
//! usually needs (TLS on 443, Redis on 6379, ...), then a wait for a
//! greeting (SSH, SMTP, FTP, POP3, IMAP, MySQL speak first), then TLS,
//! Redis, PostgreSQL and HTTP in turn. All of it within one time budget,
//! reading at most a bounded number of bytes per answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::model::scan::{Banner, TlsInfo};

/// How long and how much one port's probes may take.
#[derive(Clone, Copy, Debug)]
pub struct BannerLimits {
    /// Every probe of one port together.
    pub timeout: Duration,
    /// The wait for one answer.
    pub answer_wait: Duration,
    /// The most read of one answer.
    pub max_bytes: usize,
}

impl Default for BannerLimits {
    fn default() -> Self {
        BannerLimits {
            timeout: Duration::from_secs(5),
            answer_wait: Duration::from_millis(900),
            max_bytes: 4096,
        }
    }
}

/// The longest first line kept (the rest of an answer is not stored).
const FIRST_LINE_LIMIT: usize = 256;

/// Once an answer began, more of it is waited for this long at most.
const MORE_WAIT: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Greeting,
    Tls,
    Redis,
    Postgres,
    Http,
}

const ORDER: [Probe; 5] = [Probe::Greeting, Probe::Tls, Probe::Redis, Probe::Postgres, Probe::Http];

/// The probe a port usually needs, tried first.
fn usual_probe(port: u16) -> Option<Probe> {
    match port {
        443 | 465 | 636 | 853 | 993 | 995 | 5986 | 6443 | 8443 | 9443 => Some(Probe::Tls),
        6379 => Some(Probe::Redis),
        5432 => Some(Probe::Postgres),
        80 | 8000 | 8008 | 8080 | 8081 | 8888 => Some(Probe::Http),
        _ => None,
    }
}

/// Names the service at `address` by its answers; None when nothing was
/// learnt within `limits`.
pub async fn identify(address: SocketAddr, limits: &BannerLimits) -> Option<Banner> {
    let deadline = Instant::now() + limits.timeout;
    let first = usual_probe(address.port());
    let probes = first.into_iter().chain(ORDER.into_iter().filter(|p| Some(*p) != first));
    for probe in probes {
        if Instant::now() >= deadline {
            break;
        }
        let answer_deadline = deadline.min(Instant::now() + limits.answer_wait);
        if let Ok(Some(banner)) =
            timeout_at(deadline, run_probe(probe, address, limits, answer_deadline)).await
        {
            return Some(banner);
        }
    }
    None
}

async fn run_probe(
    probe: Probe,
    address: SocketAddr,
    limits: &BannerLimits,
    answer_deadline: Instant,
) -> Option<Banner> {
    let mut stream = timeout_at(answer_deadline, TcpStream::connect(address)).await.ok()?.ok()?;
    let request: Vec<u8> = match probe {
        Probe::Greeting => Vec::new(),
        Probe::Tls => return tls_probe(stream, address, answer_deadline).await,
        Probe::Redis => b"PING\r\n".to_vec(),
        // An SSLRequest: length 8, then the code 80877103.
        Probe::Postgres => [8u32.to_be_bytes(), 80_877_103u32.to_be_bytes()].concat(),
        Probe::Http => format!(
            "GET / HTTP/1.0\r\nHost: {}\r\nUser-Agent: portwatch\r\n\r\n",
            host_header(address)
        )
        .into_bytes(),
    };
    if !request.is_empty() {
        timeout_at(answer_deadline, stream.write_all(&request)).await.ok()?.ok()?;
    }
    let answer = read_answer(&mut stream, limits.max_bytes, answer_deadline).await;
    if answer.is_empty() {
        return None;
    }
    let recognised = match probe {
        Probe::Greeting => Some(greeting(&answer)),
        Probe::Redis => redis(&answer),
        Probe::Postgres => postgres(&answer),
        Probe::Http | Probe::Tls => None,
    };
    // A service that refuses a probe for another protocol often says what
    // it is while doing so (`HTTP/1.1 400 Bad Request` to a Redis PING).
    recognised.or_else(|| http(&answer))
}

fn host_header(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

/// Reads until the deadline, `max` bytes, the end of the stream, or a
/// pause once something came (a line end, a whole HTTP head).
async fn read_answer(stream: &mut TcpStream, max: usize, deadline: Instant) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; max.clamp(1, 65536)];
    while answer.len() < max {
        let wait = match answer.is_empty() {
            true => deadline,
            false => deadline.min(Instant::now() + MORE_WAIT),
        };
        let room = (max - answer.len()).min(chunk.len());
        match timeout_at(wait, stream.read(&mut chunk[..room])).await {
            Ok(Ok(read)) if read > 0 => answer.extend_from_slice(&chunk[..read]),
            _ => break,
        }
    }
    answer
}

fn first_line(answer: &[u8]) -> String {
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).chars().take(FIRST_LINE_LIMIT).collect()
}

/// What a service that speaks first said.
fn greeting(answer: &[u8]) -> Banner {
    let line = first_line(answer);
    let named = |service: &str, version: Option<String>| Banner {
        service: service.to_owned(),
        version: version.filter(|v| !v.is_empty()),
        first_line: Some(line.clone()),
        ..Banner::default()
    };
    if let Some(rest) = line.strip_prefix("SSH-") {
        let software = rest.split_once('-').map(|(_, software)| software.trim().to_owned());
        return named("ssh", software);
    }
    if let Some(version) = mysql_version(answer) {
        return Banner { first_line: None, ..named("mysql", Some(version)) };
    }
    let words = |prefix: &str| line.strip_prefix(prefix).map(|rest| rest.trim().to_owned());
    if let Some(rest) = words("220 ").or_else(|| words("220-")) {
        let lower = rest.to_ascii_lowercase();
        let service =
            match (lower.contains("ftp"), lower.contains("smtp") || lower.contains("mail")) {
                (true, false) => "ftp",
                (false, true) => "smtp",
                _ => "unknown",
            };
        return named(service, Some(rest));
    }
    if let Some(rest) = words("+OK") {
        return named("pop3", Some(rest));
    }
    if let Some(rest) = words("* OK") {
        return named("imap", Some(rest));
    }
    named("unknown", None)
}

/// MySQL's initial handshake: a packet (3-byte length, sequence 0) whose
/// payload is protocol version 10 and the server's version, NUL-ended.
fn mysql_version(answer: &[u8]) -> Option<String> {
    let header = answer.get(..5)?;
    let length =
        usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if header[3] != 0 || header[4] != 10 || length < 2 {
        return None;
    }
    let rest = answer.get(5..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    let version = std::str::from_utf8(&rest[..end]).ok()?;
    let printable = !version.is_empty() && version.chars().all(|c| c.is_ascii_graphic());
    printable.then(|| version.chars().take(FIRST_LINE_LIMIT).collect())
}

fn redis(answer: &[u8]) -> Option<Banner> {
    let line = first_line(answer);
    let lower = line.to_ascii_lowercase();
    let detail = if line.starts_with("+PONG") {
        None
    } else if line.starts_with("-NOAUTH") || (line.starts_with('-') && lower.contains("auth")) {
        Some("authentication required".to_owned())
    } else if line.starts_with("-DENIED") {
        Some("protected mode".to_owned())
    } else {
        return None;
    };
    Some(Banner { service: "redis".into(), detail, first_line: Some(line), ..Banner::default() })
}

fn postgres(answer: &[u8]) -> Option<Banner> {
    let detail = match answer {
        b"S" => "SSL supported",
        b"N" => "SSL not supported",
        _ => return None,
    };
    Some(Banner { service: "postgresql".into(), detail: Some(detail.into()), ..Banner::default() })
}

fn http(answer: &[u8]) -> Option<Banner> {
    let status = first_line(answer);
    if !status.starts_with("HTTP/") {
        return None;
    }
    let head = String::from_utf8_lossy(answer);
    let server = head
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("server"))
        .map(|(_, value)| value.trim().chars().take(FIRST_LINE_LIMIT).collect());
    Some(Banner {
        service: "http".into(),
        version: server,
        detail: Some(status.clone()),
        first_line: Some(status),
        ..Banner::default()
    })
}

/// A TLS handshake, the certificate taken as it comes: a scan names what
/// answers, it does not decide whom to trust.
async fn tls_probe(stream: TcpStream, address: SocketAddr, deadline: Instant) -> Option<Banner> {
    // Deprecated for want of post-quantum key exchange, which protects
    // secrets over time; a banner probe carries none, and ring spares the
    // build aws-lc's C toolchain.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
    let tls = timeout_at(deadline, connector.connect(name, stream)).await.ok()?.ok()?;
    let (_, connection) = tls.get_ref();
    let version = match connection.protocol_version()? {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    };
    let certificate = connection.peer_certificates().and_then(|chain| chain.first());
    let (subject, not_after) = certificate.map(|der| certificate_facts(der)).unwrap_or_default();
    Some(Banner {
        service: "tls".into(),
        tls: Some(TlsInfo { version, subject, not_after }),
        ..Banner::default()
    })
}

/// The subject and notAfter of a DER certificate.
fn certificate_facts(der: &[u8]) -> (Option<String>, Option<String>) {
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(der) else {
        return (None, None);
    };
    let subject = certificate.subject().to_string();
    let subject = (!subject.is_empty()).then(|| subject.chars().take(FIRST_LINE_LIMIT).collect());
    let not_after = u64::try_from(certificate.validity().not_after.timestamp()).ok().map(|secs| {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    });
    (subject, not_after)
}

/// Accepts every certificate; signatures are still checked, so the
/// handshake is a real one.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_name_their_service() {
        let ssh = greeting(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
        assert_eq!(
            (ssh.service.as_str(), ssh.version.as_deref()),
            ("ssh", Some("OpenSSH_9.2p1 Debian-2+deb12u3"))
        );
        let smtp = greeting(b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n");
        assert_eq!(smtp.service, "smtp");
        assert_eq!(greeting(b"220 (vsFTPd 3.0.3)\r\n").service, "ftp");
        assert_eq!(greeting(b"220 ProFTPD Server ready.\r\n").service, "ftp");
        assert_eq!(greeting(b"220 welcome\r\n").service, "unknown");
        assert_eq!(greeting(b"+OK Dovecot ready.\r\n").service, "pop3");
        assert_eq!(greeting(b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n").service, "imap");
        let odd = greeting(b"\xff\xfe hello\x1b[31m\r\nsecond line");
        assert_eq!(odd.service, "unknown");
        assert_eq!(
            odd.first_line.as_deref(),
            Some("\u{fffd}\u{fffd} hello\u{1b}[31m"),
            "kept raw, escaped when shown"
        );
        let long = greeting(&[b'a'; 10_000]);
        assert_eq!(long.first_line.map(|l| l.len()), Some(FIRST_LINE_LIMIT));
    }

    #[test]
    fn mysql_handshakes_and_what_only_looks_like_one() {
        let mut packet = vec![0x4a, 0, 0, 0, 10];
        packet.extend_from_slice(b"8.0.36-0ubuntu0.22.04.1\0rest");
        let mysql = greeting(&packet);
        assert_eq!(
            (mysql.service.as_str(), mysql.version.as_deref()),
            ("mysql", Some("8.0.36-0ubuntu0.22.04.1"))
        );
        assert_eq!(mysql_version(&[0x4a, 0, 0, 0, 10]), None, "truncated");
        assert_eq!(mysql_version(&[0x4a, 0, 0, 1, 10, b'8', 0]), None, "not sequence 0");
        assert_eq!(mysql_version(&[0x4a, 0, 0, 0, 10, b'8']), None, "no NUL");
        assert_eq!(mysql_version(&[0x4a, 0, 0, 0, 10, 0x1b, 0]), None, "not printable");
    }

    #[test]
    fn probe_answers_name_their_service() {
        assert_eq!(redis(b"+PONG\r\n").map(|b| b.detail), Some(None));
        let locked = redis(b"-NOAUTH Authentication required.\r\n").unwrap();
        assert_eq!(locked.detail.as_deref(), Some("authentication required"));
        assert_eq!(redis(b"HTTP/1.1 400 Bad Request\r\n"), None);
        assert_eq!(postgres(b"S").unwrap().detail.as_deref(), Some("SSL supported"));
        assert_eq!(postgres(b"N").unwrap().detail.as_deref(), Some("SSL not supported"));
        assert_eq!(postgres(b"SS"), None);
        let web = http(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nserver: nginx/1.22.1\r\n\r\nServer: not a header").unwrap();
        assert_eq!(web.version.as_deref(), Some("nginx/1.22.1"));
        assert_eq!(web.detail.as_deref(), Some("HTTP/1.1 200 OK"));
        assert_eq!(http(b"SSH-2.0-x\r\n"), None);
    }

    #[test]
    fn the_usual_probe_goes_first() {
        assert_eq!(usual_probe(443), Some(Probe::Tls));
        assert_eq!(usual_probe(6379), Some(Probe::Redis));
        assert_eq!(usual_probe(2222), None);
    }
}
