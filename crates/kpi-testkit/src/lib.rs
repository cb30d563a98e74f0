//! `kpi-testkit`: servers that tests start on loopback, so that `cargo test`
//! needs nothing but the Rust toolchain.
//!
//! [`SmtpServer`] is a small SMTP server with STARTTLS (a certificate from a
//! throw-away CA made with rcgen), AUTH PLAIN and LOGIN, and knobs for the
//! faults delivery must survive: a server that stores the message and then
//! answers late (or never), and replies that refuse a recipient or the data.
//! It keeps every message it stored, so a test can count what a recipient
//! would have received. It speaks just enough of RFC 5321 for a real client
//! (lettre) and is no mail server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the test server behaves.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// The user name AUTH accepts; `None` accepts mail without AUTH.
    pub user: Option<String>,
    /// The password AUTH accepts.
    pub password: String,
    /// Recipients starting with this are refused with `550`.
    pub refuse_prefix: String,
    /// How long to wait, after storing a message, before the reply to the end
    /// of DATA (a slow server, or with a long wait one that never answers).
    pub reply_delay: Duration,
    /// The reply to the end of DATA; `250` stores the message, anything else
    /// does not.
    pub data_reply: String,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            user: Some("reporter".into()),
            password: "s3cret".into(),
            refuse_prefix: "nobody@".into(),
            reply_delay: Duration::ZERO,
            data_reply: "250 2.0.0 OK: queued".into(),
        }
    }
}

/// A message the server stored.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `MAIL FROM` address.
    pub mail_from: String,
    /// Every accepted `RCPT TO` address.
    pub rcpt_to: Vec<String>,
    /// The message as sent, dot-unstuffed.
    pub data: String,
}

struct Shared {
    options: Mutex<SmtpOptions>,
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    stop: AtomicBool,
    tls: Arc<rustls::ServerConfig>,
}

/// A running test SMTP server; stops when dropped.
pub struct SmtpServer {
    port: u16,
    ca_pem: String,
    shared: Arc<Shared>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port.
    pub fn start(options: SmtpOptions) -> Self {
        let (ca_pem, tls) = certificates();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            options: Mutex::new(options),
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            tls,
        });
        let s = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let _ = session(stream, &s);
                });
            }
        });
        Self {
            port,
            ca_pem,
            shared,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA's PEM to `dir/ca.pem` (for `delivery.ca_file`).
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    /// Changes the behaviour for the connections that follow.
    pub fn set_options(&self, options: SmtpOptions) {
        *self.shared.options.lock().unwrap() = options;
    }

    /// Every message stored so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for at least `n` stored messages.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || start.elapsed() >= timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A loopback TLS server whose certificate no client trusts (its CA is
/// thrown away): for testing that certificate errors are permanent. It
/// counts the connections it accepted, and answers nothing.
pub struct UntrustedTlsServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl UntrustedTlsServer {
    /// Starts it on a free loopback port.
    pub fn start() -> Self {
        let (_, tls) = certificates();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut tcp) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let tls = Arc::clone(&tls);
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                    if let Ok(mut conn) = rustls::ServerConnection::new(tls) {
                        // The client gives up during the handshake.
                        let _ = conn.complete_io(&mut tcp);
                    }
                });
            }
        });
        Self {
            port,
            connections,
            stop,
        }
    }

    /// The port (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for UntrustedTlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A CA and a certificate for localhost / 127.0.0.1 signed by it.
fn certificates() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kpi test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)
    .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn reply(r: &mut BufReader<Conn>, line: &str) -> std::io::Result<()> {
    let w = r.get_mut();
    w.write_all(line.as_bytes())?;
    w.write_all(b"\r\n")?;
    w.flush()
}

fn read_line(r: &mut BufReader<Conn>) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map_or(arg, |(_, a)| a).trim();
    a.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '<' || c == '>')
        .to_string()
}

fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let options = shared.options.lock().unwrap().clone();
    let mut r = BufReader::new(Conn::Plain(stream));
    reply(&mut r, "220 localhost ESMTP kpi-testkit")?;
    let mut authed = options.user.is_none();
    let mut from: Option<String> = None;
    let mut rcpt = Vec::new();
    while let Some(line) = read_line(&mut r)? {
        let upper = line.to_ascii_uppercase();
        let tls = matches!(r.get_ref(), Conn::Tls(_));
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut lines = vec!["localhost".to_string()];
            if !tls {
                lines.push("STARTTLS".into());
            } else {
                lines.push("AUTH PLAIN LOGIN".into());
            }
            lines.push("8BITMIME".into());
            lines.push("SMTPUTF8".into());
            let n = lines.len();
            for (i, l) in lines.iter().enumerate() {
                let sep = if i + 1 == n { ' ' } else { '-' };
                reply(&mut r, &format!("250{sep}{l}"))?;
            }
        } else if upper == "STARTTLS" && !tls {
            reply(&mut r, "220 2.0.0 Ready to start TLS")?;
            let Conn::Plain(tcp) = r.into_inner() else {
                unreachable!()
            };
            let conn = rustls::ServerConnection::new(Arc::clone(&shared.tls))
                .map_err(std::io::Error::other)?;
            r = BufReader::new(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))));
            authed = options.user.is_none();
        } else if upper.starts_with("AUTH") {
            if !tls {
                reply(&mut r, "538 5.7.11 Encryption required for AUTH")?;
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let b64 = base64::engine::general_purpose::STANDARD;
            let ok = match parts.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
                Some("PLAIN") => {
                    let data = match parts.get(2) {
                        Some(d) => d.to_string(),
                        None => {
                            reply(&mut r, "334 ")?;
                            read_line(&mut r)?.unwrap_or_default()
                        }
                    };
                    let decoded = b64.decode(data.trim()).unwrap_or_default();
                    let fields: Vec<&[u8]> = decoded.split(|b| *b == 0).collect();
                    fields.len() == 3
                        && Some(fields[1]) == options.user.as_deref().map(str::as_bytes)
                        && fields[2] == options.password.as_bytes()
                }
                Some("LOGIN") => {
                    reply(&mut r, "334 VXNlcm5hbWU6")?;
                    let user = b64
                        .decode(read_line(&mut r)?.unwrap_or_default())
                        .unwrap_or_default();
                    reply(&mut r, "334 UGFzc3dvcmQ6")?;
                    let pass = b64
                        .decode(read_line(&mut r)?.unwrap_or_default())
                        .unwrap_or_default();
                    Some(user.as_slice()) == options.user.as_deref().map(str::as_bytes)
                        && pass == options.password.as_bytes()
                }
                _ => false,
            };
            if ok {
                authed = true;
                reply(&mut r, "235 2.7.0 Authentication successful")?;
            } else {
                reply(&mut r, "535 5.7.8 Authentication credentials invalid")?;
            }
        } else if upper.starts_with("MAIL FROM") {
            if !authed {
                reply(&mut r, "530 5.7.0 Authentication required")?;
                continue;
            }
            from = Some(address(&line));
            rcpt.clear();
            reply(&mut r, "250 2.1.0 OK")?;
        } else if upper.starts_with("RCPT TO") {
            let a = address(&line);
            if from.is_none() {
                reply(&mut r, "503 5.5.1 MAIL first")?;
            } else if a.starts_with(&options.refuse_prefix) {
                reply(&mut r, &format!("550 5.1.1 <{a}>: no such user here"))?;
            } else {
                rcpt.push(a);
                reply(&mut r, "250 2.1.5 OK")?;
            }
        } else if upper == "DATA" {
            if rcpt.is_empty() {
                reply(&mut r, "554 5.5.1 No valid recipients")?;
                continue;
            }
            reply(&mut r, "354 End data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            loop {
                let Some(l) = read_line(&mut r)? else {
                    return Ok(());
                };
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push_str("\r\n");
            }
            if options.data_reply.starts_with('2') {
                shared.received.lock().unwrap().push(Received {
                    mail_from: from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt),
                    data,
                });
            }
            // Sleep in slices so that a stopped server lets go quickly.
            let until = Instant::now() + options.reply_delay;
            while Instant::now() < until && !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            reply(&mut r, &options.data_reply)?;
        } else if upper == "RSET" {
            from = None;
            rcpt.clear();
            reply(&mut r, "250 2.0.0 OK")?;
        } else if upper == "NOOP" {
            reply(&mut r, "250 2.0.0 OK")?;
        } else if upper == "QUIT" {
            reply(&mut r, "221 2.0.0 Bye")?;
            break;
        } else {
            reply(&mut r, "502 5.5.2 Command not recognized")?;
        }
    }
    if let Conn::Plain(s) = r.get_ref() {
        let _ = s.shutdown(Shutdown::Both);
    }
    Ok(())
}
