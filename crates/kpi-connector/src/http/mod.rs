//! The one HTTP client every connector uses: timeouts, retries with backoff
//! and jitter, `Retry-After`, a per-source rate limit, OAuth2 refresh, and
//! errors that carry the API's own message with every secret scrubbed.
//!
//! Connectors describe a request ([`HttpRequest`]) and get back a buffered
//! [`HttpResponse`] (a page) or a [`StreamingResponse`] (Google Ads
//! `searchStream`, where one response is the whole stream). Everything about
//! *how* the request gets through lives here, once.

mod error_body;
mod limit;
mod oauth;
pub mod retry;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use error_body::api_error_message;
pub use limit::{RateLimiter, RatePermit};
pub use reqwest::Method;
pub use retry::{backoff_delay, is_retryable_status, parse_retry_after};

use crate::auth::Auth;
use crate::secret::{Redactor, Secret};
use oauth::OAuth2State;
use retry::Jitter;

/// `[sources.<name>.http]`: how hard to try and how fast to go. Every field
/// is optional; an unset field takes the connector's default for its API,
/// and failing that the crate default named on the field.
///
/// ```toml
/// [sources.meta_ads.http]
/// timeout_secs = 120
/// max_retries = 8
/// requests_per_second = 2.5
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds one attempt may take, from connecting to the last byte of the
    /// response. For streamed responses, the longest silence between two
    /// reads. Default 60.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Seconds to wait for a TCP and TLS connection. Default 10.
    #[serde(default)]
    pub connect_timeout_secs: Option<f64>,
    /// How many times a failed request is sent again (5xx, 408, 429,
    /// timeouts, refused or reset connections) before the sync fails.
    /// Other 4xx are never retried. Default 5.
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Seconds before the first retry; each further retry doubles it, and
    /// the actual wait is a random fraction of that ("full jitter").
    /// Default 0.5.
    #[serde(default)]
    pub backoff_base_secs: Option<f64>,
    /// The longest wait between two retries, in seconds. Default 60.
    #[serde(default)]
    pub backoff_max_secs: Option<f64>,
    /// The longest wait a `Retry-After` header may impose, in seconds; a
    /// longer one is cut to this. Default 300.
    #[serde(default)]
    pub max_retry_after_secs: Option<f64>,
    /// Requests started per second, at most, across all of this source's
    /// streams. `0` lifts the connector's default limit. Default: the
    /// connector's, unlimited if it has none.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// Requests in flight at once, at most. Default 4, or the connector's.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

/// Resolved settings: the connector's defaults with the user's overrides
/// applied. Connectors state their API's documented limits here:
/// `HttpSettings { requests_per_second: Some(10.0), ..HttpSettings::default() }`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// See [`HttpConfig::timeout_secs`].
    pub timeout: Duration,
    /// See [`HttpConfig::connect_timeout_secs`].
    pub connect_timeout: Duration,
    /// See [`HttpConfig::max_retries`].
    pub max_retries: u32,
    /// See [`HttpConfig::backoff_base_secs`].
    pub backoff_base: Duration,
    /// See [`HttpConfig::backoff_max_secs`].
    pub backoff_max: Duration,
    /// See [`HttpConfig::max_retry_after_secs`].
    pub max_retry_after: Duration,
    /// See [`HttpConfig::requests_per_second`]; `None` is unlimited.
    pub requests_per_second: Option<f64>,
    /// See [`HttpConfig::max_concurrency`].
    pub max_concurrency: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            requests_per_second: None,
            max_concurrency: 4,
            user_agent: concat!("kpi/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl HttpConfig {
    /// `defaults` with every field this config sets replaced, validated.
    pub fn resolve(&self, defaults: &HttpSettings) -> Result<HttpSettings, HttpError> {
        let secs = |name: &str, v: Option<f64>, default: Duration, allow_zero: bool| {
            let Some(v) = v else { return Ok(default) };
            let ok = v.is_finite() && (v > 0.0 || allow_zero && v == 0.0);
            match Duration::try_from_secs_f64(v) {
                Ok(d) if ok => Ok(d),
                _ => Err(HttpError::Config(format!(
                    "{name} must be a positive number of seconds, got {v}"
                ))),
            }
        };
        let s = HttpSettings {
            timeout: secs("timeout_secs", self.timeout_secs, defaults.timeout, false)?,
            connect_timeout: secs(
                "connect_timeout_secs",
                self.connect_timeout_secs,
                defaults.connect_timeout,
                false,
            )?,
            max_retries: self.max_retries.unwrap_or(defaults.max_retries),
            backoff_base: secs(
                "backoff_base_secs",
                self.backoff_base_secs,
                defaults.backoff_base,
                true,
            )?,
            backoff_max: secs(
                "backoff_max_secs",
                self.backoff_max_secs,
                defaults.backoff_max,
                true,
            )?,
            max_retry_after: secs(
                "max_retry_after_secs",
                self.max_retry_after_secs,
                defaults.max_retry_after,
                true,
            )?,
            requests_per_second: match self.requests_per_second {
                None => defaults.requests_per_second,
                Some(0.0) => None,
                Some(r) if r.is_finite() && r > 0.0 => Some(r),
                Some(r) => {
                    return Err(HttpError::Config(format!(
                        "requests_per_second must be a positive number (or 0 for no limit), got {r}"
                    )));
                }
            },
            max_concurrency: match self.max_concurrency.unwrap_or(defaults.max_concurrency) {
                0 => {
                    return Err(HttpError::Config(
                        "max_concurrency must be at least 1".into(),
                    ));
                }
                n => n,
            },
            user_agent: defaults.user_agent.clone(),
        };
        if s.backoff_max < s.backoff_base {
            return Err(HttpError::Config(format!(
                "backoff_max_secs ({}) is smaller than backoff_base_secs ({})",
                s.backoff_max.as_secs_f64(),
                s.backoff_base.as_secs_f64()
            )));
        }
        Ok(s)
    }
}

/// One request, described so it can be sent again on a retry.
#[derive(Clone)]
pub struct HttpRequest {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(&'static str, Bytes)>,
}

impl HttpRequest {
    /// A request with no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::POST, url)
    }

    /// Appends a query parameter (encoded when sent).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header for this request only.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(("application/json", Bytes::from(body.to_string())));
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL with the query parameters, unredacted.
    pub fn url(&self) -> Result<reqwest::Url, HttpError> {
        let mut url = reqwest::Url::parse(&self.url).map_err(|e| HttpError::InvalidRequest {
            message: format!("invalid URL {}: {e}", crate::secret::redact(&self.url, &[])),
        })?;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Name-based scrubbing only: a request does not know the source's secrets.
        let url = self
            .url()
            .map(|u| u.to_string())
            .unwrap_or_else(|_| self.url.clone());
        write!(
            f,
            "HttpRequest({} {})",
            self.method,
            crate::secret::redact(&url, &[])
        )
    }
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code (2xx or 3xx; errors come back as [`HttpError`]).
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// `METHOD url`, redacted, for messages about this response.
    pub origin: String,
}

impl HttpResponse {
    /// The body parsed as JSON. A malformed or truncated body is an error
    /// naming the request and quoting the start of the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            origin: self.origin.clone(),
            message: format!("{e}; body starts: {}", quote_start(&self.body, 200)),
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn quote_start(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        s.push('…');
    }
    format!("{s:?}")
}

/// A successful response whose body is read piece by piece. Holds its
/// concurrency slot until dropped. A failure mid-body is not retried: the
/// caller has already consumed part of it and must restart its read.
pub struct StreamingResponse {
    response: reqwest::Response,
    origin: String,
    redactor: Redactor,
    timeout: Duration,
    _permit: RatePermit,
}

impl StreamingResponse {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// `METHOD url`, redacted.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The next piece of the body, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        self.response.chunk().await.map_err(|e| {
            let (kind, message) = describe_transport(&e, self.timeout);
            HttpError::Transport {
                origin: self.origin.clone(),
                kind,
                message: self
                    .redactor
                    .redact(&format!("reading the body: {message}")),
                retries: 0,
            }
        })
    }
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamingResponse({} {})", self.status(), self.origin)
    }
}

/// What went wrong at the transport level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No response within the timeout.
    Timeout,
    /// No connection: refused, unreachable, DNS, TLS handshake.
    Connect,
    /// The connection broke: reset, closed early, truncated body.
    Broken,
    /// The request could not be built or followed (bad URL, header,
    /// redirect loop). Never retried.
    Invalid,
    /// The server's TLS certificate was not accepted (expired, issued for
    /// another host, unknown authority). Never retried: it does not fix
    /// itself between two attempts.
    Certificate,
}

impl TransportKind {
    pub(crate) fn retryable(self) -> bool {
        !matches!(self, TransportKind::Invalid | TransportKind::Certificate)
    }
}

/// A request failed. Every string in it has been through the source's
/// redactor, so it can be logged and shown as is.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The API answered with an error status. `message` is the API's own.
    #[error("{origin} returned {}{}: {message}", status_text(*status), after(*retries))]
    Status {
        /// `METHOD url`.
        origin: String,
        /// The status code.
        status: u16,
        /// The API's message (see [`api_error_message`]).
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// No usable response: timeout, connection refused or reset.
    #[error("{origin} failed{}: {message}", after(*retries))]
    Transport {
        /// `METHOD url`.
        origin: String,
        /// What kind of failure.
        kind: TransportKind,
        /// What happened.
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// The OAuth2 token endpoint refused or failed.
    #[error("OAuth2 token refresh failed at {token_url}: {message}")]
    TokenRefresh {
        /// The token endpoint.
        token_url: String,
        /// The status code, when the endpoint answered.
        status: Option<u16>,
        /// Status and the provider's `error: error_description`.
        message: String,
    },
    /// A success response whose body is not the JSON expected.
    #[error("{origin}: the response is not valid JSON: {message}")]
    Decode {
        /// `METHOD url`.
        origin: String,
        /// The parser's message and the start of the body.
        message: String,
    },
    /// The request could not be built (bad URL or header).
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, without values of secret headers.
        message: String,
    },
    /// The HTTP settings are invalid.
    #[error("invalid HTTP settings: {0}")]
    Config(String),
}

impl HttpError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::TokenRefresh { status, .. } => *status,
            _ => None,
        }
    }

    /// Retries made before this error.
    pub fn retries(&self) -> u32 {
        match self {
            HttpError::Status { retries, .. } | HttpError::Transport { retries, .. } => *retries,
            _ => 0,
        }
    }

    /// The error with what a person can do about it appended to the API's
    /// message, as ` [hint]`, keeping the status (the runner and the tests
    /// read it). Only refusals carry a message; other errors are returned
    /// as they are.
    pub fn with_hint(self, hint: &str) -> HttpError {
        match self {
            HttpError::Status {
                origin,
                status,
                message,
                retries,
            } => HttpError::Status {
                origin,
                status,
                message: format!("{message} [{hint}]"),
                retries,
            },
            HttpError::TokenRefresh {
                token_url,
                status,
                message,
            } => HttpError::TokenRefresh {
                token_url,
                status,
                message: format!("{message} [{hint}]"),
            },
            other => other,
        }
    }
}

fn after(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => " after 1 retry".to_string(),
        n => format!(" after {n} retries"),
    }
}

/// The API's error message of a refused request.
fn failure_message(failure: &Failure) -> String {
    match failure {
        Failure::Status { body, .. } => api_error_message(body),
        Failure::Transport(_) => String::new(),
    }
}

/// `429 Too Many Requests`.
pub fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// Counters for a sync summary. Snapshots; subtract two with [`HttpStats::since`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests sent to the API, retries included.
    pub requests: u64,
    /// Requests sent again after a failure, 401 refresh-and-retry included.
    pub retries: u64,
    /// Waits imposed by the API (429 or `Retry-After`).
    pub throttled_waits: u64,
    /// Total time of those waits.
    pub throttled_time: Duration,
    /// Calls to the OAuth2 token endpoint.
    pub token_refreshes: u64,
}

impl HttpStats {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &HttpStats) -> HttpStats {
        HttpStats {
            requests: self.requests.saturating_sub(earlier.requests),
            retries: self.retries.saturating_sub(earlier.retries),
            throttled_waits: self.throttled_waits.saturating_sub(earlier.throttled_waits),
            throttled_time: self.throttled_time.saturating_sub(earlier.throttled_time),
            token_refreshes: self.token_refreshes.saturating_sub(earlier.token_refreshes),
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled_waits: AtomicU64,
    throttled_micros: AtomicU64,
    token_refreshes: AtomicU64,
}

tokio::task_local! {
    /// The counters of the [`counted`] call this task is inside, if any.
    static SCOPE: Arc<Counters>;
}

/// Runs `work` and counts the requests it alone sent, whichever clients it
/// used. A client's own [`HttpClient::stats`] add up every caller; when a
/// runner reads several windows of a stream at once over one client, only a
/// scope tells which requests (and retries) were whose.
pub async fn counted<F: std::future::Future>(work: F) -> (F::Output, HttpStats) {
    let scope = Arc::new(Counters::default());
    let out = SCOPE.scope(scope.clone(), work).await;
    (out, scope.snapshot())
}

impl Counters {
    fn each(&self, f: impl Fn(&Counters)) {
        f(self);
        let _ = SCOPE.try_with(|scoped| f(scoped));
    }

    fn request(&self) {
        self.each(|c| {
            c.requests.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn retry(&self) {
        self.each(|c| {
            c.retries.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn throttled(&self, wait: Duration) {
        self.each(|c| {
            c.throttled_waits.fetch_add(1, Ordering::Relaxed);
            c.throttled_micros
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
        });
    }

    fn token_refresh(&self) {
        self.each(|c| {
            c.token_refreshes.fetch_add(1, Ordering::Relaxed);
        });
    }

    fn snapshot(&self) -> HttpStats {
        HttpStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled_waits: self.throttled_waits.load(Ordering::Relaxed),
            throttled_time: Duration::from_micros(self.throttled_micros.load(Ordering::Relaxed)),
            token_refreshes: self.token_refreshes.load(Ordering::Relaxed),
        }
    }
}

/// Builds an [`HttpClient`]; see [`HttpClient::builder`].
pub struct HttpClientBuilder {
    config: HttpConfig,
    defaults: HttpSettings,
    auth: Auth,
    headers: Vec<(String, String, bool)>,
    redactor: Redactor,
    throttle: Option<ThrottleRule>,
}

/// An API's own way of saying "too many requests" that is not a 429: Meta
/// answers its rate-limit codes (`(#17)`, `(#80004)`, ...) as 400 or 403.
/// The client waits such a refusal out like a 429 (holding back every
/// request of the source), `wait` first and twice as long each time after,
/// at most `attempts` times; then the error goes back to the connector.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    /// Whether a refusal (status, the API's error message) is a rate limit.
    pub matches: fn(u16, &str) -> bool,
    /// The wait after the first such refusal.
    pub wait: Duration,
    /// How many such refusals of one request are waited out.
    pub attempts: u32,
}

impl HttpClientBuilder {
    /// Waits out the refusals `rule` recognises as the API's rate limit.
    pub fn throttle_rule(mut self, rule: ThrottleRule) -> Self {
        self.throttle = Some(rule);
        self
    }

    /// How requests authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// A header sent with every request (`login-customer-id`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into(), false));
        self
    }

    /// A secret header sent with every request (`developer-token`): marked
    /// sensitive and added to the redactor.
    pub fn secret_header(mut self, name: impl Into<String>, value: &Secret) -> Self {
        self.redactor.add(value);
        self.headers
            .push((name.into(), value.expose().to_string(), true));
        self
    }

    /// Shares a redactor, so errors formatted elsewhere (the connector, the
    /// runner) scrub the same secrets.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The client.
    pub fn build(self) -> Result<HttpClient, HttpError> {
        let settings = self.config.resolve(&self.defaults)?;
        for secret in self.auth.secrets() {
            self.redactor.add(secret);
        }
        let mut static_headers = HeaderMap::new();
        for (name, value, sensitive) in &self.headers {
            let (name, value) = header_pair(name, value, *sensitive)?;
            static_headers.append(name, value);
        }
        let api_key = match &self.auth {
            Auth::ApiKey { header, key } => Some(header_pair(header, key.expose(), true)?),
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                // The encoded form is as secret as the password it holds.
                self.redactor.add(&Secret::new(encoded.clone()));
                Some(header_pair(
                    "authorization",
                    &format!("Basic {encoded}"),
                    true,
                )?)
            }
            _ => None,
        };
        let bearer = match &self.auth {
            Auth::Bearer(token) => Some(bearer_value(token)?),
            _ => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            // Per-read timeout: the only bound on a streamed body, which has
            // no total deadline. Buffered requests add a total per request.
            .read_timeout(settings.timeout)
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|e| HttpError::Config(format!("cannot build the HTTP client: {e}")))?;
        let oauth = match self.auth {
            Auth::OAuth2(creds) => Some(OAuth2State::new(creds)),
            _ => None,
        };
        Ok(HttpClient {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(settings.requests_per_second, settings.max_concurrency),
                client,
                settings,
                static_headers,
                api_key,
                bearer,
                oauth,
                redactor: self.redactor,
                throttle: self.throttle,
                counters: Counters::default(),
                jitter: Jitter::new(),
            }),
        })
    }
}

fn header_pair(
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(HeaderName, HeaderValue), HttpError> {
    let header_name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpError::InvalidRequest {
            message: format!("invalid header name {name:?}"),
        })?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| HttpError::InvalidRequest {
        // The value may be a secret: name the header only.
        message: format!("header {name} has an invalid value (control characters or non-ASCII)"),
    })?;
    header_value.set_sensitive(sensitive);
    Ok((header_name, header_value))
}

fn bearer_value(token: &Secret) -> Result<HeaderValue, HttpError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        HttpError::InvalidRequest {
            message: "the access token has characters not allowed in a header".into(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The HTTP client of one source. Cheap to clone; clones share the rate
/// limit, the token cache, the counters and the redactor.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    settings: HttpSettings,
    static_headers: HeaderMap,
    api_key: Option<(HeaderName, HeaderValue)>,
    bearer: Option<HeaderValue>,
    oauth: Option<OAuth2State>,
    limiter: RateLimiter,
    redactor: Redactor,
    counters: Counters,
    jitter: Jitter,
    throttle: Option<ThrottleRule>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Buffered,
    Streaming,
}

enum Delivered {
    Buffered(HttpResponse),
    Streaming(StreamingResponse),
}

enum Failure {
    Status {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    Transport(reqwest::Error),
}

impl HttpClient {
    /// A builder: `defaults` are the connector's for its API, `config` the
    /// user's overrides.
    pub fn builder(config: &HttpConfig, defaults: HttpSettings) -> HttpClientBuilder {
        HttpClientBuilder {
            config: config.clone(),
            defaults,
            auth: Auth::None,
            headers: Vec::new(),
            redactor: Redactor::new(),
            throttle: None,
        }
    }

    /// A client with no extra headers.
    pub fn new(config: &HttpConfig, defaults: HttpSettings, auth: Auth) -> Result<Self, HttpError> {
        Self::builder(config, defaults).auth(auth).build()
    }

    /// The resolved settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    /// The redactor holding this source's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// `text` with this source's secrets scrubbed; for connector messages.
    pub fn redact(&self, text: &str) -> String {
        self.inner.redactor.redact(text)
    }

    /// A string member of the OAuth2 token response that gave the access
    /// token requests carry now (Salesforce's `instance_url`, the host to
    /// call), getting a token first when none is cached. `None` without
    /// OAuth2, or when the response has no such member. Credentials in the
    /// response (`access_token`, `refresh_token`, `id_token`, `signature`)
    /// are never kept, so never returned.
    pub async fn token_response_field(&self, name: &str) -> Result<Option<String>, HttpError> {
        match &self.inner.oauth {
            Some(oauth) => oauth.response_field(&self.inner, name).await,
            None => Ok(None),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> HttpStats {
        self.inner.counters.snapshot()
    }

    /// Sends `request`, retrying as configured, and reads the whole body.
    pub async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        match self.execute(request, Mode::Buffered).await? {
            Delivered::Buffered(r) => Ok(r),
            Delivered::Streaming(_) => unreachable!("buffered mode returns a buffered response"),
        }
    }

    /// [`send`](Self::send), then parses the body as JSON.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        request: &HttpRequest,
    ) -> Result<T, HttpError> {
        self.send(request).await?.json()
    }

    /// Sends `request`, retrying until a success status arrives, and hands
    /// the body over unread.
    pub async fn send_streaming(
        &self,
        request: &HttpRequest,
    ) -> Result<StreamingResponse, HttpError> {
        match self.execute(request, Mode::Streaming).await? {
            Delivered::Streaming(r) => Ok(r),
            Delivered::Buffered(_) => unreachable!("streaming mode returns a stream"),
        }
    }

    async fn execute(&self, request: &HttpRequest, mode: Mode) -> Result<Delivered, HttpError> {
        let inner = &*self.inner;
        // A credential the connector put in the query string (Meta's
        // `access_token`, Google's `key`) may be echoed in a response body,
        // where name-based scrubbing cannot see it: remember its value.
        for (name, value) in &request.query {
            if crate::secret::is_credential_param(name) {
                inner.redactor.add(&Secret::new(value.as_str()));
            }
        }
        let url = request.url()?;
        let origin = inner
            .redactor
            .redact(&format!("{} {}", request.method, url));
        let mut retries = 0u32;
        let mut refreshed = false;
        let mut throttled = 0u32;
        loop {
            let token = match &inner.oauth {
                Some(oauth) => Some(oauth.token(inner).await?),
                None => None,
            };
            let builder = self.build_request(request, &url, token.as_ref(), mode)?;
            let permit = inner.limiter.acquire().await;
            inner.counters.request();
            let failure = match builder.send().await {
                Ok(response) if response.status().as_u16() < 400 => match mode {
                    Mode::Streaming => {
                        return Ok(Delivered::Streaming(StreamingResponse {
                            response,
                            origin,
                            redactor: inner.redactor.clone(),
                            timeout: inner.settings.timeout,
                            _permit: permit,
                        }));
                    }
                    Mode::Buffered => {
                        let status = response.status().as_u16();
                        let headers = response.headers().clone();
                        match response.bytes().await {
                            Ok(body) => {
                                return Ok(Delivered::Buffered(HttpResponse {
                                    status,
                                    headers,
                                    body,
                                    origin,
                                }));
                            }
                            Err(e) => Failure::Transport(e),
                        }
                    }
                },
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    // An error body that cannot be read still leaves the status to report.
                    let body = response.bytes().await.unwrap_or_default();
                    Failure::Status {
                        status,
                        headers,
                        body,
                    }
                }
                Err(e) => Failure::Transport(e),
            };
            // Free the slot before waiting: a backoff must not block other streams.
            drop(permit);

            let can_retry = retries < inner.settings.max_retries;
            match failure {
                Failure::Status { status: 401, .. } if !refreshed && inner.oauth.is_some() => {
                    // The token may have been revoked or expired early: one fresh
                    // token, one more try. A second 401 is a real refusal.
                    refreshed = true;
                    if let (Some(oauth), Some(token)) = (&inner.oauth, &token) {
                        oauth.invalidate(token).await;
                    }
                    inner.counters.retry();
                    self.log_retry(
                        &origin,
                        "401 Unauthorized; refreshing the access token",
                        Duration::ZERO,
                    );
                }
                Failure::Status { status, .. }
                    if inner.throttle.is_some_and(|rule| {
                        throttled < rule.attempts
                            && (rule.matches)(status, &failure_message(&failure))
                    }) =>
                {
                    let rule = inner.throttle.expect("matched");
                    let wait = rule.wait * 2u32.saturating_pow(throttled);
                    throttled += 1;
                    retries += 1;
                    inner.counters.retry();
                    inner.counters.throttled(wait);
                    let reason = format!(
                        "{}: {} (the API's rate limit, {throttled}/{})",
                        status_text(status),
                        failure_message(&failure),
                        rule.attempts
                    );
                    self.log_retry(&origin, &reason, wait);
                    // The quota is the source's, not this request's.
                    inner.limiter.pause_for(wait).await;
                }
                Failure::Status {
                    status,
                    headers,
                    body,
                } => {
                    if !(can_retry && is_retryable_status(status)) {
                        let mut message = api_error_message(&body);
                        if status == 401 && refreshed {
                            message.push_str(" (still 401 with a freshly refreshed access token)");
                        }
                        return Err(HttpError::Status {
                            origin,
                            status,
                            message: inner.redactor.redact(&message),
                            retries,
                        });
                    }
                    let retry_after = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let wait = match retry_after {
                        Some(d) => d.min(inner.settings.max_retry_after),
                        None => self.backoff(retries),
                    };
                    retries += 1;
                    inner.counters.retry();
                    let reason = format!("{}: {}", status_text(status), api_error_message(&body));
                    self.log_retry(&origin, &reason, wait);
                    if status == 429 || retry_after.is_some() {
                        inner.counters.throttled(wait);
                        // The quota is the source's, not this request's: hold everyone back.
                        inner.limiter.pause_for(wait).await;
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                }
                Failure::Transport(e) => {
                    let (kind, message) = describe_transport(&e, inner.settings.timeout);
                    if !(can_retry && kind.retryable()) {
                        return Err(HttpError::Transport {
                            origin,
                            kind,
                            message: inner.redactor.redact(&message),
                            retries,
                        });
                    }
                    let wait = self.backoff(retries);
                    retries += 1;
                    inner.counters.retry();
                    self.log_retry(&origin, &message, wait);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let s = &self.inner.settings;
        backoff_delay(
            retry,
            s.backoff_base,
            s.backoff_max,
            self.inner.jitter.unit(),
        )
    }

    fn log_retry(&self, origin: &str, reason: &str, wait: Duration) {
        let line = self.inner.redactor.redact(&format!(
            "{origin}: {reason}; retrying in {:.1}s",
            wait.as_secs_f64()
        ));
        tracing::warn!(target: "kpi_connector::http", "{line}");
    }

    fn build_request(
        &self,
        request: &HttpRequest,
        url: &reqwest::Url,
        token: Option<&Secret>,
        mode: Mode,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let inner = &*self.inner;
        let mut headers = inner.static_headers.clone();
        for (name, value) in &request.headers {
            let (name, value) = header_pair(name, value, crate::secret::is_sensitive_name(name))?;
            headers.insert(name, value);
        }
        if let Some(value) = &inner.bearer {
            headers.insert(header::AUTHORIZATION, value.clone());
        }
        if let Some(token) = token {
            headers.insert(header::AUTHORIZATION, bearer_value(token)?);
        }
        if let Some((name, value)) = &inner.api_key {
            headers.insert(name.clone(), value.clone());
        }
        let mut builder = inner.client.request(request.method.clone(), url.clone());
        if let Some((content_type, body)) = &request.body {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            builder = builder.body(body.clone());
        }
        if mode == Mode::Buffered {
            builder = builder.timeout(inner.settings.timeout);
        }
        Ok(builder.headers(headers))
    }
}

/// The kind of a transport failure and a message a person can act on:
/// "could not connect: Connection refused (os error 111)" rather than
/// reqwest's "error sending request for url (…)".
fn describe_transport(e: &reqwest::Error, timeout: Duration) -> (TransportKind, String) {
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    let deepest = causes.last().cloned();
    if let Some(problem) = certificate_problem(e) {
        return (
            TransportKind::Certificate,
            format!("the server's TLS certificate was not accepted: {problem}"),
        );
    }
    if e.is_timeout() {
        return (
            TransportKind::Timeout,
            format!("timed out after {:.1}s", timeout.as_secs_f64()),
        );
    }
    if e.is_connect() {
        return (
            TransportKind::Connect,
            format!(
                "could not connect: {}",
                deepest.unwrap_or_else(|| "connection failed".into())
            ),
        );
    }
    if e.is_builder() || e.is_redirect() {
        return (TransportKind::Invalid, e.to_string());
    }
    let what = if e.is_body() || e.is_decode() {
        "the response body was cut off"
    } else {
        "the connection failed"
    };
    let detail = if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    };
    (TransportKind::Broken, format!("{what}: {detail}"))
}

/// The certificate error in `e`'s causes, if the TLS handshake failed on the
/// server's certificate (rustls reports it inside an I/O error).
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
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
        // hyper and tokio-rustls nest the rustls error in more I/O errors
        // than the downcast above sees through; rustls's own words identify it.
        let text = err.to_string();
        if text.starts_with("invalid peer certificate")
            || text.contains("peer sent no certificates")
        {
            return Some(text);
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests;
