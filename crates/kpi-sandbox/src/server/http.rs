//! The HTTP plumbing every emulated API shares: a request read whole into
//! memory ([`ApiRequest`]), a reply described as data ([`Reply`]) so that a
//! fault can cut or corrupt it after the API wrote it, and the response body
//! type ([`Payload`]) that can break a connection mid-body.
//!
//! Why a hand-made body instead of `http_body_util::Full`: a truncated body
//! must look to the client like a connection that dropped (the
//! `Content-Length` promised more than arrived), which takes a body that
//! yields some bytes and then an error; hyper then aborts the connection.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::Value;

/// A request with its body read.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// The path, still percent-encoded (no API here puts escapes in a path).
    pub path: String,
    /// Query parameters, decoded, in order (a name may repeat).
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn new(method: Method, uri: &hyper::Uri, headers: HeaderMap, body: Bytes) -> Self {
        ApiRequest {
            method,
            path: uri.path().to_string(),
            query: uri.query().map(parse_form).unwrap_or_default(),
            headers,
            body,
        }
    }

    /// The first query parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of query parameter `name`.
    pub fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header as text (absent or not ASCII: `None`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of `Authorization: Bearer <token>`.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The body as JSON; an empty body is `{}` (GA4 accepts that too).
    pub fn json(&self) -> Result<Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_form(&String::from_utf8_lossy(&self.body))
    }
}

/// `a=1&b=x+y` -> `[("a", "1"), ("b", "x y")]`, percent-decoded.
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding with `+` as a space; invalid escapes are kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a b/c` -> `a%20b%2Fc`, for the links a page puts in `paging.next`.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What to answer, before a fault may mangle it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    /// The body in pieces; several pieces are sent as they are (chunked),
    /// as Google Ads streams `searchStream`.
    pub chunks: Vec<Bytes>,
    /// Send the body in chunked encoding rather than with a length.
    pub chunked: bool,
    /// Break the connection after the chunks (a truncated body).
    pub abort: bool,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![("content-type", "application/json; charset=UTF-8".into())],
            chunks: vec![Bytes::from(body.to_string())],
            chunked: false,
            abort: false,
        }
    }

    /// A JSON body already serialised in pieces, sent chunked.
    pub fn json_stream(status: u16, chunks: Vec<Bytes>) -> Reply {
        Reply {
            chunks,
            chunked: true,
            ..Reply::json(status, &Value::Null)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn body(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The first half of the body, then a dropped connection; the
    /// `Content-Length` still announces the whole body, as when a proxy or
    /// the network cuts a response short.
    pub fn truncated(mut self) -> Reply {
        let full = self.body();
        let keep = full.len() / 2;
        self.headers
            .push(("content-length", full.len().to_string()));
        self.chunks = vec![Bytes::copy_from_slice(&full[..keep])];
        self.chunked = false;
        self.abort = true;
        self
    }

    /// The body with bytes that make it invalid JSON right after its first
    /// `{`, with a correct length: a 200 whose body cannot be parsed, as a
    /// misbehaving proxy or a half-written cache entry produces.
    pub fn malformed(mut self) -> Reply {
        let full = self.body();
        const GARBAGE: &[u8] = b"<!-- sandbox: malformed -->";
        let at = full.iter().position(|b| *b == b'{').map_or(0, |i| i + 1);
        let mut body = Vec::with_capacity(full.len() + GARBAGE.len());
        body.extend_from_slice(&full[..at]);
        body.extend_from_slice(GARBAGE);
        body.extend_from_slice(&full[at..]);
        self.chunks = vec![Bytes::from(body)];
        self.chunked = false;
        self
    }

    pub fn into_response(self) -> Response<Payload> {
        let mut response = Response::new(Payload {
            len: self.chunks.iter().map(|c| c.len() as u64).sum(),
            chunks: self.chunks.into(),
            abort: self
                .abort
                .then(|| Box::pin(tokio::time::sleep(ABORT_AFTER))),
            chunked: self.chunked,
        });
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(name, v);
            }
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        response
    }
}

/// How long a truncated body waits before breaking the connection. hyper
/// drops what it has not written yet when a body fails, so the status line
/// and the first half must reach the socket first; a body that is pending
/// for a moment lets hyper flush them.
const ABORT_AFTER: Duration = Duration::from_millis(20);

/// A response body: some chunks, then possibly an error that makes hyper
/// drop the connection.
pub(crate) struct Payload {
    chunks: VecDeque<Bytes>,
    len: u64,
    /// When set, the error comes once this timer has run out.
    abort: Option<Pin<Box<tokio::time::Sleep>>>,
    chunked: bool,
}

impl Body for Payload {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(timer) = self.abort.as_mut() {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.abort = None;
            return Poll::Ready(Some(Err(io::Error::other(
                "the sandbox cut this body short (fault: truncated)",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.abort.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.abort.is_some() || self.chunked {
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form("a=1&b=x+y&time_range=%7B%22since%22%3A%222024-01-01%22%7D&c&d=%zz"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("time_range".into(), r#"{"since":"2024-01-01"}"#.into()),
                ("c".into(), "".into()),
                ("d".into(), "%zz".into()),
            ]
        );
        assert_eq!(parse_form("x=%4"), vec![("x".into(), "%4".into())]);
        assert_eq!(encode("a b/{c}"), "a%20b%2F%7Bc%7D");
    }

    #[test]
    fn mangled_replies() {
        let r = Reply::json(200, &serde_json::json!({"data": [1, 2, 3]}));
        let t = r.clone().truncated();
        assert!(t.abort);
        assert_eq!(t.chunks[0].len(), r.body().len() / 2);
        assert!(
            t.headers
                .contains(&("content-length", r.body().len().to_string()))
        );
        let m = r.malformed();
        assert!(serde_json::from_slice::<Value>(&m.chunks[0]).is_err());
        assert!(m.chunks[0].starts_with(b"{<!--"));
    }
}
