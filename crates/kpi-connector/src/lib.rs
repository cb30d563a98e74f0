//! `kpi-connector`: the connector contract and the one HTTP layer every
//! connector shares.
//!
//! It owns:
//! - the contract ([`contract`]): what a connector declares (streams, Arrow
//!   schemas, primary keys, write modes, cursors) and the async
//!   [`Connector`] trait it implements; and [`window_for`], the runner's
//!   rule for which days a sync reads;
//! - the HTTP client ([`http`]): timeouts, retries with backoff and jitter,
//!   `Retry-After`, a per-source rate limit, counters for the sync summary;
//! - authentication ([`auth`]): bearer tokens, API keys and the OAuth2
//!   refresh-token flow with a cached access token;
//! - secrets ([`secret`]): read from the environment by name, never printed,
//!   scrubbed from every error and log line;
//! - the settings every source shares ([`source`]): `base_url`,
//!   `token_url`, `auth`, `http`, `lookback_days`, declared once with each
//!   API's defaults, and the generic [`SourceConfig`] that builds a
//!   connector from them;
//! - JSON to Arrow ([`arrow_json`]) for the loosely typed bodies ad APIs send.
//!
//! Why one crate: retries, quotas, token refresh and redaction are where
//! connectors go wrong, and getting them right once, with tests, is cheaper
//! than reviewing each connector's copy. Connectors keep only their API's
//! knowledge: paths, request bodies, paging and field names. This crate has
//! no lake, engine or state knowledge; the runner owns those.

pub mod arrow_json;
pub mod auth;
pub mod contract;
pub mod http;
pub mod paging;
pub mod secret;
pub mod source;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use arrow_json::{
    CONVERT_CHUNK, ConvertError, flatten_object, json_rows_to_batch, json_rows_to_batch_chunked,
};
pub use auth::{Auth, AuthConfig, Endpoints, OAuth2Credentials, RealEndpoints, TokenUrlError};
pub use contract::{
    BatchSink, CheckReport, CollectSink, Connector, ConnectorError, ConnectorType, Context,
    CursorDef, ReadStats, StreamDef, SyncWindow, WindowError, WriteMode, window_for,
};
pub use http::{
    HttpClient, HttpClientBuilder, HttpConfig, HttpError, HttpRequest, HttpResponse, HttpSettings,
    HttpStats, Method, StreamingResponse, ThrottleRule, TransportKind, counted,
};
pub use paging::{CursorPager, CursorPaging, NextUrlPager, NextUrlPaging, OffsetPager, SeenRows};
pub use secret::{Redactor, Secret, SecretError, SecretRef, redact};
pub use source::{Api, HttpSource, Prepared, SHARED_KEYS, SharedSettings, SourceConfig};
