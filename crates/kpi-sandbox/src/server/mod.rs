//! The API sandbox: an HTTP server on loopback that serves the synthetic
//! company through emulations of the Google Ads, GA4 Data, Meta Marketing
//! and HubSpot CRM APIs, at their real paths, with their request and
//! response shapes, paging, OAuth2 token endpoint, error bodies, and
//! misbehaviour on demand.
//!
//! It owns: the server's life ([`serve`], [`SandboxHandle`]), its settings
//! ([`SandboxConfig`]), routing of requests to the emulations (one module
//! per API: `google_ads.rs`, `ga4.rs`, `meta_ads.rs`, `hubspot.rs`; tokens
//! in `oauth.rs`; the company in memory in `data.rs`; HTTP plumbing in
//! `http.rs`), latency and a concurrency limit, the request counters, the
//! faults ([`faults`]) and late revisions ([`Revision`]), and the control
//! endpoints another process drives them with:
//!
//! | request | does |
//! |---|---|
//! | `GET /_sandbox/faults` | the rules, with how often each matched and fired |
//! | `POST /_sandbox/faults` | replaces the rules: a JSON array of [`FaultRule`] |
//! | `POST /_sandbox/revise` | records a [`Revision`] (JSON) |
//! | `GET /_sandbox/requests` | API requests per pattern ([`patterns`]) |
//! | `GET /_sandbox/data` | rows and memory per stream ([`DataSummary`]) |
//!
//! Control requests are not counted, delayed, limited or faulted.
//!
//! Why the API knowledge is duplicated here rather than shared with the
//! connector crates: an emulator written from the connectors' own code
//! would agree with them by construction and prove nothing. This side is
//! written from the APIs' documented shapes; tests then read it through the
//! real connectors and compare with what the generator made.
//!
//! Why hyper and not axum: hyper 1.x (with hyper-util and http-body-util)
//! is already in the dependency tree through reqwest, so the server adds no
//! crate to `Cargo.lock`; and a router would help little, since two of the
//! APIs put ids inside path segments (`properties/{id}:runReport`,
//! `act_{id}`) that route templates do not express, and faults need the raw
//! body to cut it short. Each connection is served with hyper's HTTP/1
//! server on the caller's tokio runtime.
//!
//! Memory: the company is generated once, at start, and the served streams
//! are kept as Arrow batches (see `data.rs`); [`SandboxHandle::data`] says
//! how much. Every stream costs about the same per row, 110 to 140 bytes
//! (short strings and a few numbers or timestamps), so **about 130 MB per
//! million rows**. Measured (`cargo test -p kpi-sandbox --test server --
//! --ignored --nocapture memory`, 25 months ending 2024-06-30):
//!
//! | scale | rows held | Arrow bytes | start-up (debug build) | peak RSS |
//! |---|---|---|---|---|
//! | 1 | 93 k (59 k GA4, 20 k contacts, 7 k Google Ads, 4 k deals, 3 k Meta) | 12 MB | 0.9 s | |
//! | 10 | 943 k | 125 MB | 7.9 s | 175 MB |
//! | 100 (extrapolated) | 9.4 M | 1.25 GB | about 80 s | about 1.4 GB |
//!
//! So `--scale 100` does not fit the 500 MiB a sync of it may use: a sandbox
//! that large belongs on a machine of its own, or the benchmark at that
//! scale reads a lake the generator wrote directly. Requests add their
//! rendered JSON on top (one page, or for `searchStream` the whole answer
//! of a query, about 600 bytes per row).

pub mod banner;
mod data;
mod emulation;
pub mod faults;
mod ga4;
mod google_ads;
mod http;
mod hubspot;
mod linkedin_ads;
mod mailchimp;
mod meta_ads;
mod microsoft_ads;
mod oauth;
mod salesforce;
mod search_console;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use chrono::NaiveDate;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::Company;
use crate::generator::GenerateError;

pub use banner::{Banner, READY, read_banner};
pub use data::{DataSummary, StreamSize};
pub use emulation::apis_served;
pub use faults::{FaultKind, FaultRule, FaultStatus};

use data::Store;
use emulation::EMULATIONS;
use http::{ApiRequest, Payload, Reply};
use oauth::Tokens;

/// The OAuth client id the sandbox accepts by default.
pub const SANDBOX_CLIENT_ID: &str = "sandbox-client-id";
/// The OAuth client secret the sandbox accepts by default.
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-client-secret";
/// The OAuth refresh token the sandbox accepts by default.
pub const SANDBOX_REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The Google Ads developer token the sandbox accepts by default.
pub const SANDBOX_DEVELOPER_TOKEN: &str = "sandbox-developer-token";
/// The Meta access token the sandbox accepts by default.
pub const SANDBOX_META_TOKEN: &str = "sandbox-meta-token";
/// The HubSpot private app token the sandbox accepts by default.
pub const SANDBOX_HUBSPOT_TOKEN: &str = "sandbox-hubspot-token";
/// The Microsoft Advertising developer token the sandbox accepts by default.
pub const SANDBOX_MICROSOFT_DEVELOPER_TOKEN: &str = "sandbox-msads-developer-token";
/// The Mailchimp API key the sandbox accepts by default; its `-us6` suffix
/// is the data centre, as in a real key.
pub const SANDBOX_MAILCHIMP_KEY: &str = "sandbox0mailchimp0key0000000000-us6";

/// How the sandbox runs: which company, how fast, how reliably, and which
/// credentials it accepts. Every field has a default, so `{}` (or an empty
/// TOML table) is a valid config.
///
/// ```
/// let config: kpi_sandbox::server::SandboxConfig =
///     serde_json::from_str(r#"{"scale": 0.5, "latency_ms": 50, "max_concurrency": 10}"#).unwrap();
/// assert_eq!(config.months, 25);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Volume of the synthetic company: 1.0 is a mid-size B2B company;
    /// above 1, about that many times the rows (more markets). Default 1.
    pub scale: f64,
    /// Months of history ending at `end_date`. Default 25 (a previous
    /// month with the same month last year to compare with).
    pub months: u32,
    /// The last day with data. Default: yesterday (UTC) when the sandbox
    /// starts. GA4's relative dates (`today`, `yesterday`, `NdaysAgo`)
    /// count from the day after it.
    pub end_date: Option<NaiveDate>,
    /// Milliseconds added to every API request before it is answered,
    /// like a real API's round trip. Default 0.
    pub latency_ms: u64,
    /// API requests served at once; further requests wait for a slot (the
    /// wait and `latency_ms` both count against the client's timeout).
    /// Default: unlimited.
    pub max_concurrency: Option<usize>,
    /// Fault rules in force from the start (see [`FaultRule`]). Default
    /// none.
    pub faults: Vec<FaultRule>,
    /// The credentials the emulated APIs accept.
    pub credentials: Credentials,
    /// How many status polls of a Meta asynchronous report run answer
    /// `Job Running` before `Job Completed`. Default 0, so that a demo
    /// does not wait for the connector's poll interval; raise it to test
    /// the polling.
    pub meta_async_running_polls: u32,
    /// How many `GenerateReport/Poll` calls of a Microsoft Advertising
    /// report answer `Pending` before `Success`. Default 0 (the demo does
    /// not wait); raise it to test the polling.
    pub microsoft_pending_polls: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            scale: 1.0,
            months: 25,
            end_date: None,
            latency_ms: 0,
            max_concurrency: None,
            faults: Vec::new(),
            credentials: Credentials::default(),
            meta_async_running_polls: 0,
            microsoft_pending_polls: 0,
        }
    }
}

impl SandboxConfig {
    /// The last day with data: `end_date`, or yesterday in UTC.
    pub fn end_date(&self) -> NaiveDate {
        self.end_date.unwrap_or_else(|| {
            let today = chrono::Utc::now().date_naive();
            today.pred_opt().unwrap_or(today)
        })
    }

    /// The company the sandbox serves; [`crate::generate`] with it yields
    /// the same rows, which is how tests know what a connector should read.
    pub fn company(&self) -> Company {
        Company {
            months: self.months,
            scale: self.scale,
            ..Company::new(self.end_date())
        }
    }

    fn validate(&self) -> Result<(), SandboxError> {
        if !self.scale.is_finite() || self.scale <= 0.0 {
            return Err(SandboxError::Config(format!(
                "scale must be a positive number, got {}",
                self.scale
            )));
        }
        if self.months == 0 {
            return Err(SandboxError::Config("months must be at least 1".into()));
        }
        if self.max_concurrency == Some(0) {
            return Err(SandboxError::Config(
                "max_concurrency must be at least 1 (leave it out for no limit)".into(),
            ));
        }
        Ok(())
    }
}

/// The credentials the sandbox accepts. They are fixed, documented values,
/// not secrets: anyone may point a connector at a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// OAuth client id at the token endpoints. Default `sandbox-client-id`.
    pub client_id: String,
    /// OAuth client secret. Default `sandbox-client-secret`.
    pub client_secret: String,
    /// The refresh token the token endpoints exchange for access tokens
    /// (Google Ads, GA4, HubSpot OAuth). Default `sandbox-refresh-token`.
    pub refresh_token: String,
    /// Google Ads `developer-token` header. Default `sandbox-developer-token`.
    pub developer_token: String,
    /// Meta access token (bearer or `access_token=`). Default
    /// `sandbox-meta-token`.
    pub meta_access_token: String,
    /// HubSpot private app token (bearer). Default `sandbox-hubspot-token`.
    pub hubspot_access_token: String,
    /// Mailchimp API key (basic auth password). Default
    /// `sandbox0mailchimp0key0000000000-us6`.
    pub mailchimp_api_key: String,
    /// Microsoft Advertising `DeveloperToken` header. Default
    /// `sandbox-msads-developer-token`.
    pub microsoft_developer_token: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            client_id: SANDBOX_CLIENT_ID.into(),
            client_secret: SANDBOX_CLIENT_SECRET.into(),
            refresh_token: SANDBOX_REFRESH_TOKEN.into(),
            developer_token: SANDBOX_DEVELOPER_TOKEN.into(),
            meta_access_token: SANDBOX_META_TOKEN.into(),
            hubspot_access_token: SANDBOX_HUBSPOT_TOKEN.into(),
            mailchimp_api_key: SANDBOX_MAILCHIMP_KEY.into(),
            microsoft_developer_token: SANDBOX_MICROSOFT_DEVELOPER_TOKEN.into(),
        }
    }
}

impl Credentials {
    /// The environment variables the connectors read by default (and
    /// `META_ACCESS_TOKEN`, `HUBSPOT_TOKEN`, `HUBSPOT_CLIENT_*`,
    /// `HUBSPOT_REFRESH_TOKEN` as the docs name them) with the values this
    /// sandbox accepts: what `kpi sandbox serve` can print to export, and
    /// what a test passes as its secrets lookup.
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("GOOGLE_ADS_DEVELOPER_TOKEN", &self.developer_token),
            ("GOOGLE_ADS_CLIENT_ID", &self.client_id),
            ("GOOGLE_ADS_CLIENT_SECRET", &self.client_secret),
            ("GOOGLE_ADS_REFRESH_TOKEN", &self.refresh_token),
            ("GA4_CLIENT_ID", &self.client_id),
            ("GA4_CLIENT_SECRET", &self.client_secret),
            ("GA4_REFRESH_TOKEN", &self.refresh_token),
            ("META_ACCESS_TOKEN", &self.meta_access_token),
            ("HUBSPOT_TOKEN", &self.hubspot_access_token),
            ("HUBSPOT_CLIENT_ID", &self.client_id),
            ("HUBSPOT_CLIENT_SECRET", &self.client_secret),
            ("HUBSPOT_REFRESH_TOKEN", &self.refresh_token),
            ("LINKEDIN_CLIENT_ID", &self.client_id),
            ("LINKEDIN_CLIENT_SECRET", &self.client_secret),
            ("LINKEDIN_REFRESH_TOKEN", &self.refresh_token),
            ("SEARCH_CONSOLE_CLIENT_ID", &self.client_id),
            ("SEARCH_CONSOLE_CLIENT_SECRET", &self.client_secret),
            ("SEARCH_CONSOLE_REFRESH_TOKEN", &self.refresh_token),
            ("MAILCHIMP_API_KEY", &self.mailchimp_api_key),
            ("SALESFORCE_CLIENT_ID", &self.client_id),
            ("SALESFORCE_CLIENT_SECRET", &self.client_secret),
            ("SALESFORCE_REFRESH_TOKEN", &self.refresh_token),
            ("MICROSOFT_ADS_CLIENT_ID", &self.client_id),
            ("MICROSOFT_ADS_CLIENT_SECRET", &self.client_secret),
            ("MICROSOFT_ADS_REFRESH_TOKEN", &self.refresh_token),
            (
                "MICROSOFT_ADS_DEVELOPER_TOKEN",
                &self.microsoft_developer_token,
            ),
        ]
    }

    /// The value of one of [`Credentials::env`]'s variables.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A late revision: from now on, the sandbox answers for `date` of `stream`
/// with conversions and revenue multiplied by `factor`, as ad platforms
/// revise past days when late conversions are attributed. A later revision
/// of the same stream and day replaces the earlier one (the factor applies
/// to the generated numbers, it does not compound).
///
/// `stream` is one of [`REVISABLE_STREAMS`]:
/// - `google_ads/campaign_stats`: `metrics.conversions` and
///   `metrics.conversions_value` (rounded to cents);
/// - `meta_ads/ads_insights`: the `lead` and `purchase` actions (rounded to
///   whole events) and the `purchase` action value (to cents);
/// - `ga4/traffic`: `keyEvents` (whole events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    /// `<source_type>/<stream>`, e.g. `google_ads/campaign_stats`.
    pub stream: String,
    /// The day revised.
    pub date: NaiveDate,
    /// The multiplier, e.g. `1.2` for 20% more conversions.
    pub factor: f64,
}

/// The streams a [`Revision`] can name.
pub const REVISABLE_STREAMS: [&str; 3] = [
    "google_ads/campaign_stats",
    "meta_ads/ads_insights",
    "ga4/traffic",
];

/// Why the sandbox could not start or refused an instruction.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The settings make no sense.
    #[error("invalid sandbox settings: {0}")]
    Config(String),
    /// The synthetic company could not be generated.
    #[error("generating the sandbox company: {0}")]
    Generate(#[from] GenerateError),
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A revision names a stream the sandbox cannot revise, or a bad factor.
    #[error("invalid revision: {0}")]
    Revision(String),
    /// The generator's background task failed (it panicked).
    #[error("the sandbox generator task failed: {0}")]
    Task(String),
}

/// The request patterns [`SandboxHandle::requests`] counts, one per
/// emulated endpoint: `METHOD /path` with the ids as `{placeholders}`.
pub mod patterns {
    /// Google's OAuth2 token endpoint.
    pub const GOOGLE_TOKEN: &str = "POST /token";
    /// HubSpot's OAuth2 token endpoint.
    pub const HUBSPOT_TOKEN: &str = "POST /oauth/v1/token";
    /// LinkedIn's OAuth2 token endpoint (`www.linkedin.com` in production).
    pub const LINKEDIN_TOKEN: &str = "POST /oauth/v2/accessToken";
    /// Microsoft identity's OAuth2 token endpoint
    /// (`login.microsoftonline.com` in production).
    pub const MICROSOFT_TOKEN: &str = "POST /common/oauth2/v2.0/token";
    /// Microsoft Advertising: a report submitted.
    pub const MICROSOFT_SUBMIT: &str = "POST /Reporting/v13/GenerateReport/Submit";
    /// Microsoft Advertising: a report's status.
    pub const MICROSOFT_POLL: &str = "POST /Reporting/v13/GenerateReport/Poll";
    /// Microsoft Advertising: a built report's zip (a pre-signed blob URL
    /// in production).
    pub const MICROSOFT_DOWNLOAD: &str = "GET /ReportDownload/{report_id}.zip";
    /// Microsoft Advertising Campaign Management: an account's campaigns.
    pub const MICROSOFT_CAMPAIGNS: &str = "POST /CampaignManagement/v13/Campaigns/QueryByAccountId";
    /// Microsoft Advertising Customer Management: one account.
    pub const MICROSOFT_ACCOUNT: &str = "POST /CustomerManagement/v13/Account/Query";
    /// Google Ads `searchStream`.
    pub const SEARCH_STREAM: &str =
        "POST /{version}/customers/{customer_id}/googleAds:searchStream";
    /// GA4 `runReport`.
    pub const RUN_REPORT: &str = "POST /v1beta/properties/{property_id}:runReport";
    /// Meta insights, read synchronously.
    pub const META_INSIGHTS: &str = "GET /{version}/act_{account_id}/insights";
    /// Meta insights, an asynchronous report run started.
    pub const META_REPORT_RUN: &str = "POST /{version}/act_{account_id}/insights";
    /// A Meta report run's status.
    pub const META_RUN_STATUS: &str = "GET /{version}/{report_run_id}";
    /// A Meta report run's rows.
    pub const META_RUN_INSIGHTS: &str = "GET /{version}/{report_run_id}/insights";
    /// Meta campaigns.
    pub const META_CAMPAIGNS: &str = "GET /{version}/act_{account_id}/campaigns";
    /// The Meta ad account node.
    pub const META_ACCOUNT: &str = "GET /{version}/act_{account_id}";
    /// HubSpot contacts.
    pub const HUBSPOT_CONTACTS: &str = "GET /crm/v3/objects/contacts";
    /// HubSpot deals.
    pub const HUBSPOT_DEALS: &str = "GET /crm/v3/objects/deals";
    /// HubSpot contacts search.
    pub const HUBSPOT_CONTACTS_SEARCH: &str = "POST /crm/v3/objects/contacts/search";
    /// HubSpot deals search.
    pub const HUBSPOT_DEALS_SEARCH: &str = "POST /crm/v3/objects/deals/search";
    /// HubSpot deal-to-contact associations, in batches.
    pub const HUBSPOT_DEAL_CONTACTS: &str = "POST /crm/v4/associations/deals/contacts/batch/read";
    /// HubSpot account details.
    pub const HUBSPOT_ACCOUNT: &str = "GET /account-info/v3/details";
    /// Anything else (answered 404).
    pub const UNMATCHED: &str = "(unmatched)";
}

/// Starts the sandbox on `addr` (port 0 picks a free port) on the current
/// tokio runtime, and returns once it accepts connections. The company is
/// generated first, on a blocking thread: a few seconds at the default
/// scale.
pub async fn serve(config: SandboxConfig, addr: SocketAddr) -> Result<SandboxHandle, SandboxError> {
    config.validate()?;
    // Bind before the slow part, so a taken port fails at once.
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let company = config.company();
    let store = tokio::task::spawn_blocking(move || Store::generate(&company))
        .await
        .map_err(|e| SandboxError::Task(e.to_string()))??;
    let shared = Arc::new(Shared::new(config, store, local));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept(listener, Arc::clone(&shared), stopped));
    tracing::info!(target: "kpi_sandbox", "sandbox listening on {}", shared.base_url);
    Ok(SandboxHandle {
        addr: local,
        shared,
        stop,
        task: Some(task),
    })
}

/// A running sandbox. Dropping it stops the server (without waiting);
/// [`SandboxHandle::shutdown`] stops it and waits for requests in flight.
pub struct SandboxHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the base URL to give every connector
    /// (and the token URL's base). A server bound to all interfaces is
    /// named by its loopback address.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The settings the sandbox was started with (faults as at start).
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// Replaces the fault rules (and resets their counters).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        *lock(&self.shared.faults) = faults::Faults::new(rules);
    }

    /// The fault rules with how often each matched and fired.
    pub fn faults(&self) -> Vec<FaultStatus> {
        lock(&self.shared.faults).status()
    }

    /// Records a late revision (see [`Revision`]).
    pub fn revise(&self, revision: Revision) -> Result<(), SandboxError> {
        self.shared.revise(revision)
    }

    /// API requests received per pattern (see [`patterns`]), faulted and
    /// refused ones included.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.shared.requests()
    }

    /// Rows and memory held, per stream.
    pub fn data(&self) -> &DataSummary {
        &self.shared.store.summary
    }

    /// The `[sources.*]` sections of a `kpi.toml` that syncs from this
    /// sandbox with every real connector: its accounts, `base_url` and,
    /// beside it, `token_url` for the OAuth2 sources, and secrets named as
    /// [`Credentials::env`] names them.
    pub fn sources_toml(&self) -> String {
        sources_toml(&self.base_url(), &self.shared)
    }

    /// [`SandboxHandle::sources_toml`] for a sandbox that will listen at
    /// `base_url` (the demo writes the address `kpi sandbox serve` uses by
    /// default, not its own short-lived port).
    pub fn sources_toml_at(&self, base_url: &str) -> String {
        sources_toml(base_url, &self.shared)
    }

    /// Stops accepting connections, lets requests in flight finish, and
    /// returns when the server is down.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                let mut stop = stopped.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(shared.handle(req).await) }
                    });
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        // The guard `wait_for` returns is not `Send`: drop it at once.
                        () = async { let _ = stop.wait_for(|s| *s).await; } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = async { let _ = stopped.wait_for(|s| *s).await; } => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// What the server knows, shared by every connection.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub store: Store,
    pub accounts: Accounts,
    pub tokens: Tokens,
    /// `http://127.0.0.1:<port>`, for `paging.next` links.
    pub base_url: String,
    faults: Mutex<faults::Faults>,
    revisions: RwLock<HashMap<(String, NaiveDate), f64>>,
    /// Bumped on every revision, so caches keyed on it go stale.
    revisions_generation: AtomicU64,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    limiter: Option<Semaphore>,
    seq: AtomicU64,
    pub ga4_cache: Mutex<ga4::Cache>,
    meta_runs: Mutex<meta_ads::Runs>,
    microsoft_jobs: Mutex<microsoft_ads::Jobs>,
    contact_deals: OnceLock<hubspot::ContactDeals>,
    /// Salesforce's query cursors.
    pub salesforce: salesforce::State,
}

/// The accounts of the generated company, read from its rows so that they
/// always match what the generator wrote.
#[derive(Debug, Default)]
pub(crate) struct Accounts {
    pub google_customer: Option<String>,
    pub google_currency: Option<String>,
    pub google_time_zone: Option<String>,
    /// Digits, without `act_`.
    pub meta_account: Option<String>,
    pub meta_currency: Option<String>,
    /// Digits, without `properties/`.
    pub ga4_property: Option<String>,
}

impl Accounts {
    fn of(store: &Store) -> Self {
        let google = |c| {
            store
                .first_string(data::GOOGLE_STATS, c)
                .or_else(|| store.first_string(data::GOOGLE_CAMPAIGNS, "customer_id"))
        };
        Accounts {
            google_customer: google("customer_id"),
            google_currency: store.first_string(data::GOOGLE_STATS, "customer_currency_code"),
            google_time_zone: store.first_string(data::GOOGLE_STATS, "customer_time_zone"),
            meta_account: store
                .first_string(data::META_CAMPAIGNS, "account_id")
                .map(|a| a.trim_start_matches("act_").to_string()),
            meta_currency: store.first_string(data::META_INSIGHTS, "account_currency"),
            ga4_property: store
                .first_string(data::GA4_TRAFFIC, "property_id")
                .map(|p| p.trim_start_matches("properties/").to_string()),
        }
    }
}

fn sources_toml(base: &str, shared: &Shared) -> String {
    let mut out = format!(
        "# The kpi sandbox at {base}: the real connectors, pointed at it.\n\
         # Its credentials are fixed and public; `kpi sandbox serve` prints them as\n\
         # `export` lines (GOOGLE_ADS_*, GA4_*, META_ACCESS_TOKEN, HUBSPOT_TOKEN, MICROSOFT_ADS_*, ...).\n"
    );
    for e in EMULATIONS {
        let section = e.sources_toml(base, &shared.store);
        if !section.is_empty() {
            out.push('\n');
            out.push_str(section.trim_end());
            out.push('\n');
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request's endpoint: the emulation that serves it and the pattern it
/// is counted under.
#[derive(Clone, Copy)]
enum Route {
    /// A request one of [`EMULATIONS`] serves.
    Emulated {
        index: usize,
        pattern: &'static str,
    },
    Unmatched,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        let segments = emulation::segments(path);
        EMULATIONS
            .iter()
            .enumerate()
            .find_map(|(index, e)| {
                e.route(method, &segments)
                    .map(|pattern| Route::Emulated { index, pattern })
            })
            .unwrap_or(Route::Unmatched)
    }

    fn pattern(&self) -> &'static str {
        match self {
            Route::Emulated { pattern, .. } => pattern,
            Route::Unmatched => patterns::UNMATCHED,
        }
    }

    /// Whose error format a fault on this request takes: an unmatched
    /// request gets Google's, as its 404 does.
    fn emulation(&self) -> &'static dyn emulation::Emulation {
        match self {
            Route::Emulated { index, .. } => EMULATIONS[*index],
            Route::Unmatched => &ga4::Ga4,
        }
    }
}

impl Shared {
    fn new(config: SandboxConfig, store: Store, addr: SocketAddr) -> Self {
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        Shared {
            accounts: Accounts::of(&store),
            faults: Mutex::new(faults::Faults::new(config.faults.clone())),
            limiter: config.max_concurrency.map(Semaphore::new),
            base_url: format!("http://{shown}"),
            store,
            config,
            tokens: Tokens::default(),
            revisions: RwLock::new(HashMap::new()),
            revisions_generation: AtomicU64::new(0),
            counts: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            ga4_cache: Mutex::new(None),
            meta_runs: Mutex::new(HashMap::new()),
            microsoft_jobs: Mutex::new(HashMap::new()),
            contact_deals: OnceLock::new(),
            salesforce: salesforce::State::default(),
        }
    }

    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Payload> {
        let (parts, body) = req.into_parts();
        // A body that breaks off is answered as an empty one; the API then
        // says what is missing.
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let req = ApiRequest::new(parts.method, &parts.uri, parts.headers, body);
        let reply = if req.path.starts_with("/_sandbox/") {
            self.control(&req)
        } else {
            self.respond(&req).await
        };
        reply.into_response()
    }

    async fn respond(&self, req: &ApiRequest) -> Reply {
        let route = Route::of(&req.method, &req.path);
        *lock(&self.counts).entry(route.pattern()).or_default() += 1;
        // The permit is held through the latency: a slot is a request being
        // served, as at a real API's front end.
        let _permit = match &self.limiter {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        if self.config.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.latency_ms)).await;
        }
        let decision = lock(&self.faults).decide(req.method.as_str(), &req.path);
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(kind) = &decision.fault {
            if *kind == FaultKind::ExpiredToken
                && let Some(token) = req.bearer()
            {
                self.tokens.revoke(token);
            }
            if let Some(reply) = faults::error_reply(route.emulation(), req, kind) {
                return reply;
            }
        }
        let reply = self.dispatch(&route, req);
        match decision.fault {
            Some(FaultKind::Truncated) => reply.truncated(),
            Some(FaultKind::Malformed) => reply.malformed(),
            _ => reply,
        }
    }

    fn dispatch(&self, route: &Route, req: &ApiRequest) -> Reply {
        match route {
            Route::Emulated { index, pattern } => EMULATIONS[*index].respond(self, pattern, req),
            Route::Unmatched => Reply::json(
                404,
                &ga4::google_error(
                    404,
                    "NOT_FOUND",
                    &format!("The kpi sandbox does not serve {} {}", req.method, req.path),
                    None,
                ),
            ),
        }
    }

    /// `/_sandbox/...`: the control endpoints (see the module docs).
    fn control(&self, req: &ApiRequest) -> Reply {
        let bad = |message: String| Reply::json(400, &json!({ "error": message }));
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/_sandbox/faults") => Reply::json(200, &json!(lock(&self.faults).status())),
            ("POST", "/_sandbox/faults") => {
                match serde_json::from_slice::<Vec<FaultRule>>(&req.body) {
                    Ok(rules) => {
                        let mut faults = lock(&self.faults);
                        *faults = faults::Faults::new(rules);
                        Reply::json(200, &json!(faults.status()))
                    }
                    Err(e) => bad(format!("expected a JSON array of fault rules: {e}")),
                }
            }
            ("POST", "/_sandbox/revise") => match serde_json::from_slice::<Revision>(&req.body) {
                Ok(revision) => match self.revise(revision.clone()) {
                    Ok(()) => Reply::json(200, &json!(revision)),
                    Err(e) => bad(e.to_string()),
                },
                Err(e) => bad(format!(
                    "expected a JSON revision {{stream, date, factor}}: {e}"
                )),
            },
            ("GET", "/_sandbox/requests") => Reply::json(200, &json!(self.requests())),
            ("GET", "/_sandbox/data") => Reply::json(200, &json!(self.store.summary)),
            _ => Reply::json(
                404,
                &json!({"error": format!("no control endpoint {} {}", req.method, req.path)}),
            ),
        }
    }

    fn revise(&self, r: Revision) -> Result<(), SandboxError> {
        if !REVISABLE_STREAMS.contains(&r.stream.as_str()) {
            return Err(SandboxError::Revision(format!(
                "`{}` is not one of {}",
                r.stream,
                REVISABLE_STREAMS.join(", ")
            )));
        }
        if !r.factor.is_finite() || r.factor < 0.0 {
            return Err(SandboxError::Revision(format!(
                "factor must be a non-negative number, got {}",
                r.factor
            )));
        }
        self.revisions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((r.stream, r.date), r.factor);
        self.revisions_generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The factor revising `stream` on `date`, if any.
    pub fn revision(&self, stream: &str, date: NaiveDate) -> Option<f64> {
        let revisions = self.revisions.read().unwrap_or_else(|e| e.into_inner());
        if revisions.is_empty() {
            return None;
        }
        revisions.get(&(stream.to_string(), date)).copied()
    }

    pub fn revisions_generation(&self) -> u64 {
        self.revisions_generation.load(Ordering::SeqCst)
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.counts)
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }

    /// A number unique to this request, for request and correlation ids.
    pub fn request_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A Google-style request id.
    pub fn request_id(&self) -> String {
        format!("sbx{:013}", self.request_seq())
    }

    /// A fresh Meta report run id (digits, like Meta's).
    pub fn meta_run_id(&self) -> String {
        format!("60{:013}", self.request_seq())
    }

    pub fn meta_runs(&self) -> MutexGuard<'_, meta_ads::Runs> {
        lock(&self.meta_runs)
    }

    pub fn microsoft_jobs(&self) -> MutexGuard<'_, microsoft_ads::Jobs> {
        lock(&self.microsoft_jobs)
    }

    pub fn contact_deals(&self) -> &hubspot::ContactDeals {
        self.contact_deals
            .get_or_init(|| hubspot::contact_deals(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_patterns() {
        use patterns::*;
        let r = |m: Method, p: &str| Route::of(&m, p).pattern();
        let cases = [
            (
                Method::POST,
                "/v26/customers/1234567890/googleAds:searchStream",
                SEARCH_STREAM,
            ),
            (
                Method::POST,
                "/v1beta/properties/301234567:runReport",
                RUN_REPORT,
            ),
            (Method::GET, "/v23.0/act_5550001/insights", META_INSIGHTS),
            (Method::POST, "/v23.0/act_5550001/insights", META_REPORT_RUN),
            (Method::GET, "/v23.0/6000000000001", META_RUN_STATUS),
            (
                Method::GET,
                "/v23.0/6000000000001/insights",
                META_RUN_INSIGHTS,
            ),
            (Method::GET, "/v23.0/act_1", META_ACCOUNT),
            (Method::GET, "/v23.0/act_1/campaigns", META_CAMPAIGNS),
            (Method::GET, "/crm/v3/objects/deals", HUBSPOT_DEALS),
            (
                Method::POST,
                "/crm/v3/objects/contacts/search",
                HUBSPOT_CONTACTS_SEARCH,
            ),
            (Method::POST, "/oauth/v1/token", HUBSPOT_TOKEN),
            (Method::POST, "/token", GOOGLE_TOKEN),
            (Method::POST, "/oauth/v2/accessToken", LINKEDIN_TOKEN),
            (Method::POST, "/common/oauth2/v2.0/token", MICROSOFT_TOKEN),
            (
                Method::POST,
                "/Reporting/v13/GenerateReport/Submit",
                MICROSOFT_SUBMIT,
            ),
            (
                Method::POST,
                "/Reporting/v13/GenerateReport/Poll",
                MICROSOFT_POLL,
            ),
            (
                Method::GET,
                "/ReportDownload/3000000001.zip",
                MICROSOFT_DOWNLOAD,
            ),
            (Method::GET, "/Reporting/v13/GenerateReport/Poll", UNMATCHED),
            (Method::GET, "/token", UNMATCHED),
            (Method::GET, "/crm/v3/objects/companies", UNMATCHED),
            (Method::GET, "/v23/act_1/insights", UNMATCHED),
            (Method::POST, "/v1beta/properties/301234567", UNMATCHED),
        ];
        for (m, path, pattern) in cases {
            assert_eq!(r(m.clone(), path), pattern, "{m} {path}");
        }
        assert_eq!(
            emulation::apis_served(),
            "Google Ads, Meta, GA4, HubSpot, Salesforce, LinkedIn Ads, Microsoft Advertising, Search Console and Mailchimp"
        );
    }

    #[test]
    fn config_defaults_and_validation() {
        let c: SandboxConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, SandboxConfig::default());
        assert_eq!(c.credentials.refresh_token, "sandbox-refresh-token");
        assert_eq!(c.company().months, 25);
        assert!(serde_json::from_str::<SandboxConfig>(r#"{"latency": 3}"#).is_err());
        let bad = SandboxConfig {
            max_concurrency: Some(0),
            ..SandboxConfig::default()
        };
        assert!(bad.validate().is_err());
        assert_eq!(
            c.credentials.lookup("GA4_REFRESH_TOKEN").as_deref(),
            Some(SANDBOX_REFRESH_TOKEN)
        );
    }
}
