//! SMTP delivery, one step at a time.
//!
//! lettre's `Transport::send` runs the whole conversation and returns one
//! error, so a caller cannot tell "the server refused the connection" (safe
//! to try again) from "the message went out in full and the reply to it never
//! came" (it may be in the recipients' inboxes). Retrying the second kind is
//! how one slow server ends up with several copies of a report. This module
//! drives lettre's [`SmtpConnection`] command by command instead, so each
//! failure carries the step it happened at, and only failures before the
//! message content was transmitted, or definite `4xx` replies, are retried.

use std::path::Path;
use std::time::Duration;

use kpi_core::DeliveryConfig;
use lettre::address::Envelope as SmtpEnvelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::{DeliverError, Delivered, Email};

/// The step of the SMTP conversation a failure happened at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connect,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    /// The message content and its final `.` were sent; waiting for the reply.
    Content,
}

impl Step {
    fn waiting_for(self) -> &'static str {
        match self {
            Step::Connect => "the server's greeting",
            Step::StartTls => "the server's reply to STARTTLS",
            Step::Auth => "the server's reply to AUTH",
            Step::MailFrom => "the server's reply to MAIL FROM",
            Step::RcptTo => "the server's reply to RCPT TO",
            Step::Data => "the server's reply to DATA",
            Step::Content => "the server's reply to DATA (the end of the message)",
        }
    }
}

/// How a failed attempt ends the delivery.
enum Failure {
    /// Nothing was delivered; another attempt may succeed.
    Retry(String),
    /// Nothing was delivered, and trying again would not help.
    Permanent(String),
    /// The message went out; whether the server took it is unknown.
    Unknown(String),
}

/// Where the SMTP settings point, resolved once.
struct Server {
    host: String,
    port: u16,
    implicit_tls: bool,
    starttls: bool,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    timeout: Duration,
}

impl Server {
    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn server(c: &DeliveryConfig, base_dir: &Path) -> Result<Server, DeliverError> {
    let host = c.host.clone().unwrap_or_default();
    let port = c.port.unwrap_or(match c.tls.as_str() {
        "tls" => 465,
        "none" => 25,
        _ => 587,
    });
    let name = format!("{host}:{port}");
    let user = std::env::var(&c.username_env)
        .ok()
        .filter(|u| !u.is_empty());
    let password = std::env::var(&c.password_env).unwrap_or_default();
    if user.is_some() && c.tls == "none" && !c.allow_plaintext_auth {
        return Err(DeliverError::Refused(format!(
            "refusing to send SMTP credentials ({}) to {name} over a connection without TLS; \
             set delivery.tls = \"starttls\" or \"tls\", or delivery.allow_plaintext_auth = true",
            c.username_env
        )));
    }
    let tls = if c.tls == "none" {
        None
    } else {
        let mut params = TlsParameters::builder(host.clone());
        if let Some(ca) = &c.ca_file {
            let path = base_dir.join(ca);
            let pem = std::fs::read(&path).map_err(|e| DeliverError::Outbox {
                path: path.clone(),
                message: format!("delivery.ca_file: {e}"),
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| DeliverError::Address {
                setting: "delivery.ca_file".into(),
                message: format!("{}: {e}", path.display()),
            })?;
            params = params.add_root_certificate(cert);
        }
        Some(params.build().map_err(|e| DeliverError::Smtp {
            server: name.clone(),
            message: e.to_string(),
        })?)
    };
    Ok(Server {
        host,
        port,
        implicit_tls: c.tls == "tls",
        starttls: c.tls != "tls" && c.tls != "none",
        tls,
        credentials: user.map(|u| Credentials::new(u, password)),
        timeout: Duration::from_secs(c.timeout_secs.max(1)),
    })
}

/// Sends `email` through the SMTP server of `c`, retrying what is safe to
/// retry, and never a message that may already have been delivered.
pub(crate) fn send(
    email: &Email,
    c: &DeliveryConfig,
    base_dir: &Path,
) -> Result<Delivered, DeliverError> {
    let server = server(c, base_dir)?;
    let name = server.name();
    let body = email.formatted();
    let envelope = email.message.envelope();
    let attempts = c.attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match attempt_once(&server, envelope, &body) {
            Ok(()) => {
                return Ok(Delivered {
                    message_id: email.message_id.clone(),
                    location: format!("smtp://{name}"),
                });
            }
            Err(Failure::Permanent(message)) => {
                return Err(DeliverError::Smtp {
                    server: name,
                    message,
                });
            }
            Err(Failure::Unknown(message)) => {
                return Err(DeliverError::Unconfirmed {
                    server: name,
                    message,
                });
            }
            Err(Failure::Retry(message)) => {
                tracing::warn!(attempt, error = %message, "SMTP delivery failed before the message was sent, will retry");
                last = message;
                if attempt < attempts {
                    std::thread::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1)));
                }
            }
        }
    }
    Err(DeliverError::Smtp {
        server: name,
        message: format!("{last} (after {attempts} attempts)"),
    })
}

fn attempt_once(s: &Server, envelope: &SmtpEnvelope, body: &[u8]) -> Result<(), Failure> {
    let hello = ClientId::default();
    let wrapper = if s.implicit_tls { s.tls.as_ref() } else { None };
    let mut conn = SmtpConnection::connect(
        (s.host.as_str(), s.port),
        Some(s.timeout),
        &hello,
        wrapper,
        None,
    )
    .map_err(|e| classify(e, Step::Connect, s.timeout))?;
    let result = converse(&mut conn, s, &hello, envelope, body);
    match &result {
        // The message is accepted; a failed QUIT changes nothing.
        Ok(()) => {
            let _ = conn.quit();
        }
        Err(_) => conn.abort(),
    }
    result
}

fn converse(
    conn: &mut SmtpConnection,
    s: &Server,
    hello: &ClientId,
    envelope: &SmtpEnvelope,
    body: &[u8],
) -> Result<(), Failure> {
    if s.starttls {
        let params = s.tls.as_ref().expect("starttls has parameters");
        if !conn.can_starttls() {
            return Err(Failure::Permanent(
                "the server does not offer STARTTLS; set delivery.tls = \"tls\" for implicit TLS, \
                 or \"none\" for a server without TLS"
                    .into(),
            ));
        }
        conn.starttls(params, hello)
            .map_err(|e| classify(e, Step::StartTls, s.timeout))?;
    }
    if let Some(credentials) = &s.credentials {
        conn.auth(DEFAULT_MECHANISMS, credentials)
            .map_err(|e| classify(e, Step::Auth, s.timeout))?;
    }
    let mut options = Vec::new();
    if !body.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failure::Permanent(
                "the message is not 7-bit ASCII and the server does not support 8BITMIME".into(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(envelope.from().cloned(), options))
        .map_err(|e| classify(e, Step::MailFrom, s.timeout))?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![]))
            .map_err(|e| classify(e, Step::RcptTo, s.timeout))?;
    }
    conn.command(Data)
        .map_err(|e| classify(e, Step::Data, s.timeout))?;
    // From here on the server may have the whole message: only a reply it
    // actually sent tells whether it took it.
    conn.message(body)
        .map_err(|e| classify(e, Step::Content, s.timeout))?;
    Ok(())
}

/// Sorts an SMTP error into retry, permanent or unknown, with a message that
/// says what happened at which step.
fn classify(e: lettre::transport::smtp::Error, step: Step, timeout: Duration) -> Failure {
    let reply = e.status().is_some();
    if e.is_permanent() {
        return Failure::Permanent(e.to_string());
    }
    if let Some(problem) = certificate_problem(&e) {
        return Failure::Permanent(format!(
            "TLS certificate of the server not accepted: {problem} (a company CA goes in \
             delivery.ca_file)"
        ));
    }
    let message = if timed_out(&e) {
        format!(
            "timed out after {} s waiting for {}",
            timeout.as_secs(),
            step.waiting_for()
        )
    } else if reply {
        e.to_string()
    } else {
        format!("{e} (waiting for {})", step.waiting_for())
    };
    if step == Step::Content && !reply {
        return Failure::Unknown(format!(
            "{message}; the whole message had been sent, so it may have been delivered"
        ));
    }
    Failure::Retry(message)
}

/// A socket read timeout shows as `WouldBlock` (EAGAIN) on Unix, `TimedOut`
/// elsewhere; lettre's `is_timeout` knows only the second.
fn timed_out(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            );
        }
        source = err.source();
    }
    false
}

/// The certificate error inside `e`, if the TLS handshake failed on the
/// server's certificate: that does not fix itself, so it is not retried.
fn certificate_problem(e: &lettre::transport::smtp::Error) -> Option<String> {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(
            t @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType),
        ) = tls
        {
            return Some(t.to_string());
        }
        source = err.source();
    }
    None
}
