//! Delivery through a real SMTP server on loopback (aiosmtpd, which `.ci/run`
//! installs): STARTTLS with a certificate from a test CA, AUTH, and the
//! received message checked part by part. The test fails, never skips, when
//! python3 or aiosmtpd is missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kpi_core::DeliveryConfig;
use kpi_deliver::{Envelope, InlineImage, build, deliver};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test certificate authority (`ca.pem`) and a server certificate for
/// localhost / 127.0.0.1 signed by it (`cert.pem`, `key.pem`), made with openssl.
fn certificate(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed to make the test certificates");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=kpi test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
}

fn start(dir: &Path) -> Server {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .arg(dir)
        .args(["reporter", "s3cret"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be installed (with aiosmtpd: .ci/run installs it)");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "READY",
        "the SMTP test server did not start (is aiosmtpd installed?)"
    );
    Server { child, port }
}

fn config(dir: &Path, port: u16, user_env: &str, pass_env: &str) -> DeliveryConfig {
    DeliveryConfig {
        transport: "smtp".into(),
        host: Some("localhost".into()),
        port: Some(port),
        tls: "starttls".into(),
        ca_file: Some(dir.join("ca.pem")),
        username_env: user_env.into(),
        password_env: pass_env.into(),
        attempts: 1,
        ..Default::default()
    }
}

fn envelope() -> Envelope {
    Envelope {
        from: "KPI reports <kpi@example.com>".into(),
        reply_to: None,
        to: vec!["Leadership <leadership@example.com>".into()],
        cc: vec!["cfo@example.com".into()],
        bcc: vec!["audit@example.com".into()],
        subject: "Marketing KPIs, October 2026".into(),
        list_unsubscribe: None,
        message_id: None,
    }
}

#[test]
fn delivers_over_starttls_with_auth_and_the_message_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path());
    let server = start(dir.path());
    // SAFETY: these variable names are used by this test only.
    unsafe {
        std::env::set_var("KPI_TEST_SMTP_USER_OK", "reporter");
        std::env::set_var("KPI_TEST_SMTP_PASS_OK", "s3cret");
    }
    let html = "<html><body><p>Revenue</p><img src=\"cid:chart-revenue\" alt=\"\"></body></html>";
    let image = InlineImage {
        id: "chart-revenue".into(),
        png: b"\x89PNG\r\n\x1a\nfake".to_vec(),
    };
    let email = build(&envelope(), html, "Revenue: 1.00 EUR", &[image]).unwrap();
    let cfg = config(
        dir.path(),
        server.port,
        "KPI_TEST_SMTP_USER_OK",
        "KPI_TEST_SMTP_PASS_OK",
    );
    let delivered = deliver(&email, &cfg, Path::new("/")).unwrap();
    assert_eq!(
        delivered.location,
        format!("smtp://localhost:{}", server.port)
    );

    let file = dir.path().join("message.eml");
    let started = Instant::now();
    while !file.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let raw = std::fs::read_to_string(&file).expect("the server received the message");
    let envelope = std::fs::read_to_string(dir.path().join("envelope.txt")).unwrap();
    assert!(
        envelope.contains("MAIL FROM: kpi@example.com"),
        "{envelope}"
    );
    for rcpt in [
        "leadership@example.com",
        "cfo@example.com",
        "audit@example.com",
    ] {
        assert!(
            envelope.contains(rcpt),
            "{rcpt} not a recipient: {envelope}"
        );
    }
    assert!(
        !raw.contains("audit@example.com"),
        "Bcc must not appear in the message"
    );
    assert!(raw.contains("Subject: Marketing KPIs, October 2026"));
    assert!(raw.contains(&format!("Message-ID: {}", delivered.message_id)));
    assert!(raw.contains("Content-Type: multipart/alternative"));
    assert!(raw.contains("Content-Type: text/plain"));
    assert!(raw.contains("Content-Type: multipart/related"));
    assert!(raw.contains("Content-Type: text/html"));
    // Every cid: reference in the HTML resolves to an inline part.
    for cid in raw
        .split("cid:")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
    {
        assert!(
            raw.contains(&format!("Content-ID: <{cid}>")),
            "unresolved cid:{cid}"
        );
    }
}

#[test]
fn a_permanent_refusal_fails_at_once_with_the_servers_reply() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path());
    let server = start(dir.path());
    // SAFETY: these variable names are used by this test only.
    unsafe {
        std::env::set_var("KPI_TEST_SMTP_USER_550", "reporter");
        std::env::set_var("KPI_TEST_SMTP_PASS_550", "s3cret");
    }
    let mut env = envelope();
    env.to = vec!["nobody@example.com".into()];
    let email = build(&env, "<p>x</p>", "x", &[]).unwrap();
    let mut cfg = config(
        dir.path(),
        server.port,
        "KPI_TEST_SMTP_USER_550",
        "KPI_TEST_SMTP_PASS_550",
    );
    cfg.attempts = 3;
    let started = Instant::now();
    let err = deliver(&email, &cfg, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("SMTP localhost:{}", server.port)),
        "{err}"
    );
    assert!(
        err.contains("550") && err.contains("no such user"),
        "the server's reply is shown: {err}"
    );
    assert!(!err.contains("attempts"), "a 5xx is not retried: {err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        !dir.path().join("message.eml").exists(),
        "nothing was delivered"
    );
}
