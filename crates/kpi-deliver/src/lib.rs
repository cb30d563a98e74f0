//! `kpi-deliver`: turns a rendered report into an email and delivers it.
//!
//! It owns the MIME structure (multipart/alternative with the text part and
//! the HTML inside multipart/related, ready for inline images), the headers
//! (Message-ID, Reply-To, List-Unsubscribe), and the transports: an outbox
//! directory of `.eml` files (the default) and SMTP through lettre, with TLS
//! required unless the config says otherwise and credentials never sent in
//! clear by default. A message is built completely before any transport is
//! touched, so a failure never sends half a report.

use std::path::{Path, PathBuf};

use kpi_core::DeliveryConfig;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

mod smtp;

/// Who a message goes to and what it says on the envelope.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Sender.
    pub from: String,
    /// Reply-To, if any.
    pub reply_to: Option<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// Blind-copy recipients.
    pub bcc: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// `List-Unsubscribe` value, if any.
    pub list_unsubscribe: Option<String>,
    /// A Message-ID to reuse (with angle brackets): a resend of a message
    /// whose first delivery was never confirmed keeps its ID, so that mail
    /// systems that deduplicate by it show one message. A new one otherwise.
    pub message_id: Option<String>,
}

/// An inline image referenced from the HTML as `cid:<id>`.
#[derive(Debug, Clone)]
pub struct InlineImage {
    /// Content-ID without angle brackets.
    pub id: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

/// A message ready to deliver.
pub struct Email {
    message: Message,
    /// The Message-ID header, with angle brackets.
    pub message_id: String,
}

impl Email {
    /// The message as RFC 5322 bytes (what an `.eml` file holds).
    pub fn formatted(&self) -> Vec<u8> {
        self.message.formatted()
    }
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The Message-ID header.
    pub message_id: String,
    /// The `.eml` file, or `smtp://host:port`.
    pub location: String,
}

/// Delivery failures; each names the setting or the server's reply.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// An address or header is not valid.
    #[error("{setting}: {message}")]
    Address {
        /// The setting that holds it.
        setting: String,
        /// What is wrong.
        message: String,
    },
    /// The settings cannot work together (e.g. AUTH over plaintext).
    #[error("{0}")]
    Refused(String),
    /// The outbox could not be written.
    #[error("{}: {message}", path.display())]
    Outbox {
        /// The file or directory.
        path: PathBuf,
        /// The reason.
        message: String,
    },
    /// The SMTP server refused or could not be reached; nothing was
    /// delivered.
    #[error("SMTP {server}: {message}")]
    Smtp {
        /// host:port.
        server: String,
        /// The server's reply or the connection error.
        message: String,
    },
    /// The whole message was sent but the server's reply never came (a
    /// timeout or a dropped connection after the end of DATA): it may have
    /// been delivered. Never retried here; the caller decides.
    #[error("SMTP {server}: delivery unconfirmed: {message}")]
    Unconfirmed {
        /// host:port.
        server: String,
        /// What happened.
        message: String,
    },
}

impl DeliverError {
    /// Whether the message may have reached its recipients despite the error.
    pub fn maybe_delivered(&self) -> bool {
        matches!(self, DeliverError::Unconfirmed { .. })
    }
}

/// Checks that `text` is an address a message can be sent to; the error
/// names `setting` (`reports.leadership.to`). `kpi check` uses it so that a
/// bad address is found before a scheduled run.
pub fn check_address(text: &str, setting: &str) -> Result<(), DeliverError> {
    mailbox(text, setting).map(|_| ())
}

fn mailbox(text: &str, setting: &str) -> Result<Mailbox, DeliverError> {
    text.parse().map_err(|e| DeliverError::Address {
        setting: setting.to_string(),
        message: format!("'{text}' is not an email address ({e})"),
    })
}

/// Builds the full message: text and HTML alternatives, the HTML with its
/// inline images in a multipart/related.
pub fn build(
    envelope: &Envelope,
    html: &str,
    text: &str,
    images: &[InlineImage],
) -> Result<Email, DeliverError> {
    if envelope.to.is_empty() && envelope.cc.is_empty() && envelope.bcc.is_empty() {
        return Err(DeliverError::Address {
            setting: "reports.<name>.to".into(),
            message: "no recipients: set to (and optionally cc, bcc) for this report".into(),
        });
    }
    let body = MultiPart::alternative()
        .singlepart(SinglePart::plain(text.to_string()))
        .multipart(related(html, images));
    finish(headers(envelope)?.multipart(body))
}

/// A plain-text message (a notice to a schedule's owner), with the same
/// headers as a report.
pub fn build_text(envelope: &Envelope, text: &str) -> Result<Email, DeliverError> {
    finish(headers(envelope)?.singlepart(SinglePart::plain(text.to_string())))
}

fn related(html: &str, images: &[InlineImage]) -> MultiPart {
    let mut related = MultiPart::related().singlepart(SinglePart::html(html.to_string()));
    for img in images {
        related = related.singlepart(
            lettre::message::Attachment::new_inline(img.id.clone()).body(
                img.png.clone(),
                ContentType::parse("image/png").expect("valid"),
            ),
        );
    }
    related
}

fn finish(message: Result<Message, lettre::error::Error>) -> Result<Email, DeliverError> {
    let message = message.map_err(|e| DeliverError::Address {
        setting: "reports.<name>".into(),
        message: e.to_string(),
    })?;
    let message_id = message
        .headers()
        .get_raw("Message-ID")
        .unwrap_or_default()
        .to_string();
    Ok(Email {
        message,
        message_id,
    })
}

/// The envelope's headers on a message builder.
fn headers(envelope: &Envelope) -> Result<lettre::message::MessageBuilder, DeliverError> {
    let mut b = Message::builder()
        .from(mailbox(&envelope.from, "delivery.from")?)
        .subject(envelope.subject.clone())
        .message_id(envelope.message_id.clone())
        .date_now();
    if let Some(r) = &envelope.reply_to {
        b = b.reply_to(mailbox(r, "delivery.reply_to")?);
    }
    for (list, setting) in [
        (&envelope.to, "to"),
        (&envelope.cc, "cc"),
        (&envelope.bcc, "bcc"),
    ] {
        for a in list {
            let m = mailbox(a, &format!("reports.<name>.{setting}"))?;
            b = match setting {
                "to" => b.to(m),
                "cc" => b.cc(m),
                _ => b.bcc(m),
            };
        }
    }
    if let Some(u) = &envelope.list_unsubscribe {
        b = b.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            u.clone(),
        ));
    }
    Ok(b)
}

/// Delivers `email` as `config` says; relative paths start at `base_dir`.
pub fn deliver(
    email: &Email,
    config: &DeliveryConfig,
    base_dir: &Path,
) -> Result<Delivered, DeliverError> {
    match config.transport.as_str() {
        "smtp" => smtp::send(email, config, base_dir),
        _ => write_outbox(email, &base_dir.join(&config.outbox)),
    }
}

/// Writes `email` into `dir` as `<timestamp>-<id>.eml`, atomically.
pub fn write_outbox(email: &Email, dir: &Path) -> Result<Delivered, DeliverError> {
    let err = |p: &Path, e: std::io::Error| DeliverError::Outbox {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let id: String = email
        .message_id
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    sweep_stale_tmp(dir);
    let path = dir.join(format!("{stamp}-{id}.eml"));
    let tmp = dir.join(format!(".{stamp}-{id}.eml.tmp"));
    let written = std::fs::write(&tmp, email.formatted())
        .map_err(|e| err(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| err(&path, e)));
    if let Err(e) = written {
        // A half-written message (disk full) must not stay behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Delivered {
        message_id: email.message_id.clone(),
        location: path.display().to_string(),
    })
}

/// How old a temporary outbox file must be before another run removes it:
/// older than any write in progress can be.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes `.*.eml.tmp` files a crashed or killed writer left in `dir`. Only
/// old ones: a file being written right now by another run is left alone.
fn sweep_stale_tmp(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".eml.tmp")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TMP);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(file = %entry.path().display(), "removed a stale temporary outbox file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            from: "KPI <kpi@example.com>".into(),
            reply_to: Some("ops@example.com".into()),
            to: vec!["Ana <ana@example.com>".into()],
            cc: vec!["cfo@example.com".into()],
            bcc: vec!["audit@example.com".into()],
            subject: "Marketing KPIs, October 2026".into(),
            list_unsubscribe: Some("<mailto:unsubscribe@example.com>".into()),
            message_id: None,
        }
    }

    #[test]
    fn a_resend_keeps_the_message_id_it_is_given() {
        let mut e = envelope();
        let first = build(&e, "<p>x</p>", "x", &[]).unwrap();
        assert!(first.message_id.starts_with('<') && first.message_id.ends_with('>'));
        e.message_id = Some(first.message_id.clone());
        let again = build(&e, "<p>x</p>", "x", &[]).unwrap();
        assert_eq!(again.message_id, first.message_id);
        let raw = String::from_utf8(again.formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: {}", first.message_id)));
        let notice = build_text(&envelope(), "stale").unwrap();
        assert_ne!(
            notice.message_id, first.message_id,
            "a new message, a new ID"
        );
    }

    #[test]
    fn builds_alternative_text_and_related_html() {
        let img = InlineImage {
            id: "chart1".into(),
            png: vec![0x89, b'P', b'N', b'G'],
        };
        let email = build(
            &envelope(),
            "<p>Hi <img src=\"cid:chart1\"></p>",
            "Hi",
            &[img],
        )
        .unwrap();
        let raw = String::from_utf8(email.formatted()).unwrap();
        assert!(raw.contains("Subject: Marketing KPIs, October 2026"));
        assert!(raw.contains("To: Ana <ana@example.com>"));
        assert!(raw.contains("Cc: cfo@example.com"));
        assert!(
            !raw.contains("audit@example.com"),
            "Bcc is not written into the message"
        );
        assert!(raw.contains("Reply-To: ops@example.com"));
        assert!(raw.contains("List-Unsubscribe: <mailto:unsubscribe@example.com>"));
        assert!(raw.contains("Message-ID: <"));
        let alt = raw.find("multipart/alternative").unwrap();
        let plain = raw.find("text/plain").unwrap();
        let related = raw.find("multipart/related").unwrap();
        let html = raw.find("text/html").unwrap();
        let png = raw.find("image/png").unwrap();
        assert!(
            alt < plain && plain < related && related < html && html < png,
            "{raw}"
        );
        assert!(raw.contains("Content-ID: <chart1>"));
    }

    #[test]
    fn refuses_without_recipients_and_bad_addresses() {
        let mut e = envelope();
        e.to.clear();
        e.cc.clear();
        e.bcc.clear();
        let err = build(&e, "x", "x", &[]).err().unwrap().to_string();
        assert!(err.contains("no recipients"), "{err}");
        let mut e = envelope();
        e.to = vec!["not an address".into()];
        let err = build(&e, "x", "x", &[]).err().unwrap().to_string();
        assert!(
            err.contains("reports.<name>.to") && err.contains("not an address"),
            "{err}"
        );
    }

    #[test]
    fn outbox_writes_an_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
        let d = write_outbox(&email, &dir.path().join("outbox")).unwrap();
        assert!(d.location.ends_with(".eml"));
        let raw = std::fs::read_to_string(&d.location).unwrap();
        assert!(raw.contains(&email.message_id));
    }

    #[test]
    fn refuses_credentials_over_plaintext_by_default() {
        // SAFETY of the test: the variable name is unique to this test.
        unsafe { std::env::set_var("KPI_TEST_SMTP_USER_PLAIN", "user") };
        let config = DeliveryConfig {
            transport: "smtp".into(),
            host: Some("127.0.0.1".into()),
            port: Some(1),
            tls: "none".into(),
            username_env: "KPI_TEST_SMTP_USER_PLAIN".into(),
            ..Default::default()
        };
        let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
        let err = deliver(&email, &config, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to send SMTP credentials"), "{err}");
        assert!(err.contains("allow_plaintext_auth"), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_named() {
        let config = DeliveryConfig {
            transport: "smtp".into(),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            tls: "none".into(),
            username_env: "KPI_TEST_NO_SUCH_VAR".into(),
            attempts: 1,
            ..Default::default()
        };
        let email = build(&envelope(), "<p>x</p>", "x", &[]).unwrap();
        let err = deliver(&email, &config, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SMTP 127.0.0.1:9"), "{err}");
    }
}
