//! Delivery through a real SMTP conversation on loopback (kpi-testkit's
//! server: STARTTLS with a certificate from a throw-away CA, AUTH), with the
//! received message checked part by part, and the faults that decide between
//! "retry", "fail now" and "maybe delivered".

use std::path::Path;
use std::time::{Duration, Instant};

use kpi_core::DeliveryConfig;
use kpi_deliver::{DeliverError, Envelope, InlineImage, build, deliver};
use kpi_testkit::{SmtpOptions, SmtpServer};

fn config(dir: &Path, server: &SmtpServer, user_env: &str, pass_env: &str) -> DeliveryConfig {
    DeliveryConfig {
        transport: "smtp".into(),
        host: Some("localhost".into()),
        port: Some(server.port()),
        tls: "starttls".into(),
        ca_file: Some(server.write_ca(dir)),
        username_env: user_env.into(),
        password_env: pass_env.into(),
        attempts: 1,
        ..Default::default()
    }
}

fn credentials(tag: &str) -> (String, String) {
    let (u, p) = (
        format!("KPI_TEST_SMTP_USER_{tag}"),
        format!("KPI_TEST_SMTP_PASS_{tag}"),
    );
    // SAFETY: every test uses its own variable names.
    unsafe {
        std::env::set_var(&u, "reporter");
        std::env::set_var(&p, "s3cret");
    }
    (u, p)
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
    let server = SmtpServer::start(SmtpOptions::default());
    let (u, p) = credentials("OK");
    let html = "<html><body><p>Revenue</p><img src=\"cid:chart-revenue\" alt=\"\"></body></html>";
    let image = InlineImage {
        id: "chart-revenue".into(),
        png: b"\x89PNG\r\n\x1a\nfake".to_vec(),
    };
    let email = build(&envelope(), html, "Revenue: 1.00 EUR", &[image]).unwrap();
    let cfg = config(dir.path(), &server, &u, &p);
    let delivered = deliver(&email, &cfg, Path::new("/")).unwrap();
    assert_eq!(
        delivered.location,
        format!("smtp://localhost:{}", server.port())
    );

    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "exactly one message stored");
    let m = &got[0];
    assert_eq!(m.mail_from, "kpi@example.com");
    let mut rcpt = m.rcpt_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "audit@example.com",
            "cfo@example.com",
            "leadership@example.com"
        ]
    );
    let raw = &m.data;
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
    let server = SmtpServer::start(SmtpOptions::default());
    let (u, p) = credentials("550");
    let mut env = envelope();
    env.to = vec!["nobody@example.com".into()];
    let email = build(&env, "<p>x</p>", "x", &[]).unwrap();
    let mut cfg = config(dir.path(), &server, &u, &p);
    cfg.attempts = 3;
    let started = Instant::now();
    let err = deliver(&email, &cfg, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("SMTP localhost:{}", server.port())),
        "{err}"
    );
    assert!(
        err.contains("550") && err.contains("no such user"),
        "the server's reply is shown: {err}"
    );
    assert!(!err.contains("attempts"), "a 5xx is not retried: {err}");
    assert_eq!(server.connections(), 1, "a 5xx is not retried");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.received().is_empty(), "nothing was delivered");
}

#[test]
fn a_reply_that_never_comes_after_the_message_is_unconfirmed_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    // The server stores the message, then answers after 4 s; the client
    // waits 1 s.
    let server = SmtpServer::start(SmtpOptions {
        reply_delay: Duration::from_secs(4),
        ..Default::default()
    });
    let (u, p) = credentials("SLOW");
    let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
    let mut cfg = config(dir.path(), &server, &u, &p);
    cfg.attempts = 3;
    cfg.timeout_secs = 1;
    let err = deliver(&email, &cfg, Path::new("/")).unwrap_err();
    assert!(err.maybe_delivered(), "{err}");
    assert!(matches!(err, DeliverError::Unconfirmed { .. }));
    let text = err.to_string();
    assert!(
        text.contains("timed out after 1 s waiting for the server's reply to DATA"),
        "{text}"
    );
    assert!(text.contains("may have been delivered"), "{text}");
    assert_eq!(
        server.connections(),
        1,
        "an unconfirmed send is not retried"
    );
    assert_eq!(server.received().len(), 1, "one copy, not three");
}

#[test]
fn a_4xx_reply_to_the_message_is_a_definite_failure_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(SmtpOptions {
        data_reply: "451 4.3.0 Temporary failure, try again".into(),
        ..Default::default()
    });
    let (u, p) = credentials("451");
    let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
    let mut cfg = config(dir.path(), &server, &u, &p);
    cfg.attempts = 1;
    let err = deliver(&email, &cfg, Path::new("/")).unwrap_err();
    assert!(
        !err.maybe_delivered(),
        "a 4xx reply is a definite no: {err}"
    );
    assert!(err.to_string().contains("451"), "{err}");
    assert!(server.received().is_empty());

    // A definite "not now" is worth another attempt: each one is made.
    cfg.attempts = 3;
    let err = deliver(&email, &cfg, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("after 3 attempts"), "{err}");
    assert_eq!(server.connections(), 4, "one, then three more");
    assert!(server.received().is_empty());
}

#[test]
fn an_untrusted_certificate_fails_at_once_and_is_not_retried() {
    let server = SmtpServer::start(SmtpOptions::default());
    let (u, p) = credentials("CERT");
    let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
    let cfg = DeliveryConfig {
        transport: "smtp".into(),
        host: Some("localhost".into()),
        port: Some(server.port()),
        tls: "starttls".into(),
        // No ca_file: the throw-away CA is not trusted.
        username_env: u,
        password_env: p,
        attempts: 3,
        ..Default::default()
    };
    let started = Instant::now();
    let err = deliver(&email, &cfg, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLS certificate"), "{err}");
    assert!(err.contains("delivery.ca_file"), "{err}");
    assert_eq!(server.connections(), 1, "a certificate error is permanent");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.received().is_empty());
}
