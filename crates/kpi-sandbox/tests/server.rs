//! The sandbox read through the real connectors: for each of Google Ads,
//! GA4, Meta Ads and HubSpot, a connector built from its own config with
//! `base_url` = the sandbox and the sandbox's credentials reads a window of
//! each stream, and the rows must equal the rows the generator made for
//! those days (same columns, types and values, compared sorted). Then the
//! faults, revisions, control endpoints and latency. Ids are compared as
//! they are: the generator spells them as the real APIs do.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Date32Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use kpi_connector::{
    Auth, AuthConfig, CollectSink, Connector, ConnectorError, Context, HttpClient, HttpConfig,
    HttpError, HttpRequest, HttpSettings, ReadStats, SecretRef, StreamDef, SyncWindow,
};
use kpi_connector_ga4::{Ga4Config, Ga4Connector, Ga4Source};
use kpi_connector_google_ads::{GoogleAdsConfig, GoogleAdsConnector, GoogleAdsSource};
use kpi_connector_hubspot::{HubSpotConnector, HubSpotSource};
use kpi_connector_meta_ads::{MetaAdsConnector, MetaAdsSource};
use kpi_lake::StreamSpec;
use kpi_sandbox::server::{
    FaultKind, FaultRule, Revision, SandboxConfig, SandboxHandle, patterns, serve,
};
use kpi_sandbox::{RawSink, SinkError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The company, the sandbox, and what the generator made
// ---------------------------------------------------------------------------

const END: &str = "2024-06-30";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A small company (one market, three months): quick to generate twice.
fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 3,
        end_date: Some(day(END)),
        ..SandboxConfig::default()
    }
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    serve(config, addr).await.expect("the sandbox starts")
}

/// The ten days every daily read covers.
fn window() -> SyncWindow {
    SyncWindow {
        start: day("2024-06-11"),
        end: day("2024-06-20"),
    }
}

fn ctx() -> Context {
    Context {
        source: "sandbox".into(),
        today: day("2024-07-01"),
    }
}

/// What the generator made, kept whole.
#[derive(Default)]
struct Generated {
    daily: HashMap<(String, String), Vec<(NaiveDate, RecordBatch)>>,
    snapshots: HashMap<(String, String), Vec<RecordBatch>>,
}

impl RawSink for Generated {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        batch: RecordBatch,
    ) -> Result<(), SinkError> {
        self.daily
            .entry((spec.source_type.into(), spec.stream.into()))
            .or_default()
            .push((date, batch));
        Ok(())
    }

    fn snapshot(&mut self, spec: &StreamSpec, batch: RecordBatch) -> Result<(), SinkError> {
        self.snapshots
            .entry((spec.source_type.into(), spec.stream.into()))
            .or_default()
            .push(batch);
        Ok(())
    }
}

fn generated(config: &SandboxConfig) -> Generated {
    let mut g = Generated::default();
    kpi_sandbox::generate(&config.company(), &mut g).unwrap();
    g
}

/// A row as column name -> (type, displayed value).
type Row = BTreeMap<String, (DataType, String)>;

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|i| {
            schema
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, fmt)| {
                    (
                        f.name().clone(),
                        (f.data_type().clone(), fmt.value(i).to_string()),
                    )
                })
                .collect()
        })
        .collect()
}

impl Generated {
    /// The generator's rows of a daily stream in `w`, with the `date`
    /// partition column the connectors add.
    fn daily_rows(&self, source: &str, stream: &str, w: SyncWindow) -> Vec<Row> {
        let mut out = Vec::new();
        for (date, batch) in &self.daily[&(source.to_string(), stream.to_string())] {
            if !w.contains(*date) {
                continue;
            }
            let days = (*date - day("1970-01-01")).num_days() as i32;
            let date_col: ArrayRef = std::sync::Arc::new(Date32Array::from(vec![days]));
            let date_text = ArrayFormatter::try_new(date_col.as_ref(), &FormatOptions::default())
                .unwrap()
                .value(0)
                .to_string();
            for mut row in rows_of(batch) {
                row.insert("date".into(), (DataType::Date32, date_text.clone()));
                out.push(row);
            }
        }
        out
    }

    fn snapshot_rows(&self, source: &str, stream: &str) -> Vec<Row> {
        self.snapshots[&(source.to_string(), stream.to_string())]
            .iter()
            .flat_map(rows_of)
            .collect()
    }

    fn first(&self, source: &str, stream: &str, column: &str) -> String {
        let key = (source.to_string(), stream.to_string());
        let batch = match self.daily.get(&key) {
            Some(days) => &days[0].1,
            None => &self.snapshots[&key][0],
        };
        rows_of(batch)[0][column].1.clone()
    }
}

fn read_rows(sink: &CollectSink) -> Vec<Row> {
    sink.batches.iter().flat_map(rows_of).collect()
}

/// Same rows, whatever the order: sorted by `key`, then compared whole.
fn assert_same_rows(what: &str, mut got: Vec<Row>, mut want: Vec<Row>, key: &[&str]) {
    assert!(!want.is_empty(), "{what}: the generator made no rows");
    let sort = |rows: &mut Vec<Row>| {
        rows.sort_by(|a, b| {
            let k = |r: &Row| key.iter().map(|c| r[*c].1.clone()).collect::<Vec<_>>();
            k(a).cmp(&k(b)).then_with(|| a.cmp(b))
        })
    };
    sort(&mut got);
    sort(&mut want);
    assert_eq!(got.len(), want.len(), "{what}: row count");
    let columns = |r: &Row| r.keys().cloned().collect::<Vec<_>>();
    assert_eq!(columns(&got[0]), columns(&want[0]), "{what}: columns");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{what}: row {i} differs");
    }
}

// ---------------------------------------------------------------------------
// Connectors pointed at the sandbox
// ---------------------------------------------------------------------------

/// Quick retries, so fault tests do not wait.
fn fast_http() -> HttpConfig {
    HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        max_retries: Some(3),
        timeout_secs: Some(20.0),
        requests_per_second: Some(0.0),
        ..HttpConfig::default()
    }
}

fn oauth(sb: &SandboxHandle, prefix: &str, token_path: &str) -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: Some(format!("{}{token_path}", sb.base_url())),
        client_id: SecretRef::env(format!("{prefix}_CLIENT_ID")),
        client_secret: SecretRef::env(format!("{prefix}_CLIENT_SECRET")),
        refresh_token: SecretRef::env(format!("{prefix}_REFRESH_TOKEN")),
        scope: None,
    }
}

fn secrets(sb: &SandboxHandle) -> impl Fn(&str) -> Option<String> + '_ {
    |name| sb.config().credentials.lookup(name)
}

fn google_ads(sb: &SandboxHandle, customer: &str) -> GoogleAdsConnector {
    let mut c = GoogleAdsSource::new(GoogleAdsConfig::new([customer]));
    c.shared.base_url = Some(sb.base_url());
    c.own.login_customer_id = Some("111-222-3333".into());
    c.shared.auth = Some(oauth(sb, "GOOGLE_ADS", "/token"));
    c.shared.http = fast_http();
    c.connector_with(&secrets(sb)).unwrap()
}

fn ga4(sb: &SandboxHandle, property: &str, page_size: u32) -> Ga4Connector {
    let mut c = Ga4Source::new(Ga4Config::new([property]));
    c.shared.base_url = Some(sb.base_url());
    c.own.page_size = page_size;
    c.shared.auth = Some(oauth(sb, "GA4", "/token"));
    c.shared.http = fast_http();
    c.connector_with(&secrets(sb)).unwrap()
}

fn meta(sb: &SandboxHandle, account: &str, extra: &str) -> MetaAdsConnector {
    let text = format!(
        "ad_account_ids = [\"{account}\"]\n\
         access_token = {{ env = \"META_ACCESS_TOKEN\" }}\n\
         base_url = \"{}\"\n\
         throttle_wait_secs = 0.01\n\
         async_poll_interval_secs = 0.01\n\
         {extra}\n\
         [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\n",
        sb.base_url()
    );
    let config: MetaAdsSource = toml::from_str(&text).unwrap();
    config.connector_with(&secrets(sb)).unwrap()
}

fn hubspot(sb: &SandboxHandle, auth: &str, page_size: u32) -> HubSpotConnector {
    let text = format!(
        "{auth}\nbase_url = \"{}\"\npage_size = {page_size}\n\
         [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\nrequests_per_second = 0\n",
        sb.base_url()
    );
    let config: HubSpotSource = toml::from_str(&text).unwrap();
    config.connector_with(&secrets(sb)).unwrap()
}

const HUBSPOT_BEARER: &str = "auth = { type = \"bearer\", token = { env = \"HUBSPOT_TOKEN\" } }";

fn stream(streams: Vec<StreamDef>, name: &str) -> StreamDef {
    streams.into_iter().find(|s| s.name == name).unwrap()
}

async fn read(
    c: &dyn Connector,
    name: &str,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<Row>), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&stream(c.streams(), name), w, &mut sink).await?;
    Ok((stats, read_rows(&sink)))
}

/// A plain client for the control endpoints, as another process would use.
fn control_client() -> HttpClient {
    HttpClient::new(&HttpConfig::default(), HttpSettings::default(), Auth::None).unwrap()
}

// ---------------------------------------------------------------------------
// Every stream equals the generator's rows
// ---------------------------------------------------------------------------

#[tokio::test]
async fn google_ads_reads_what_the_generator_made() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let customer = g.first("google_ads", "campaign_stats", "customer_id");
    let c = google_ads(&sb, &customer);

    let (stats, rows) = read(&c, "campaign_stats", window()).await.unwrap();
    assert_same_rows(
        "google_ads/campaign_stats",
        rows,
        g.daily_rows("google_ads", "campaign_stats", window()),
        &["date", "campaign_id"],
    );
    // One searchStream request, one batch: the stream has no pages to turn.
    assert_eq!(stats.pages, 1);

    let (_, rows) = read(&c, "campaigns", window()).await.unwrap();
    assert_same_rows(
        "google_ads/campaigns",
        rows,
        g.snapshot_rows("google_ads", "campaigns"),
        &["campaign_id"],
    );

    let report = c.check(&ctx()).await.unwrap();
    assert_eq!(
        report.summary,
        format!("customer {customer} \"ExampleSoft\" (EUR, Europe/Madrid)")
    );
    let requests = sb.requests();
    assert_eq!(requests[patterns::SEARCH_STREAM], 3);
    // One token for every request: the client caches it.
    assert_eq!(requests[patterns::GOOGLE_TOKEN], 1);
}

#[tokio::test]
async fn ga4_reads_what_the_generator_made_in_pages() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let property = g.first("ga4", "traffic", "property_id");
    let c = ga4(&sb, &property, 40);

    let (stats, rows) = read(&c, "traffic", window()).await.unwrap();
    let want = g.daily_rows("ga4", "traffic", window());
    assert!(stats.pages > 1, "{stats:?}");
    assert_eq!(stats.pages as usize, want.len() / 40 + 1);
    assert_same_rows(
        "ga4/traffic",
        rows,
        want,
        &[
            "date",
            "session_source",
            "session_medium",
            "session_campaign_name",
            "device_category",
        ],
    );
    let report = c.check(&ctx()).await.unwrap();
    assert!(
        report.summary.ends_with("(EUR, Europe/Madrid)"),
        "{report:?}"
    );
}

#[tokio::test]
async fn meta_reads_what_the_generator_made_sync_and_async() {
    let config = SandboxConfig {
        meta_async_running_polls: 2,
        ..config()
    };
    let g = generated(&config);
    let sb = start(config).await;
    let account = g.first("meta_ads", "ads_insights", "account_id");
    let want = g.daily_rows("meta_ads", "ads_insights", window());
    let key = ["date", "campaign_id"];

    // Ten days read directly, seven rows a page.
    let c = meta(&sb, &account, "page_size = 7");
    let (stats, rows) = read(&c, "ads_insights", window()).await.unwrap();
    assert!(stats.pages > 1, "{stats:?}");
    assert_same_rows("meta_ads/ads_insights", rows, want.clone(), &key);

    // The same days through an asynchronous report run.
    let c = meta(&sb, &account, "page_size = 9\nasync_after_days = 3");
    let (stats, rows) = read(&c, "ads_insights", window()).await.unwrap();
    assert!(stats.pages > 1, "{stats:?}");
    assert_same_rows("meta_ads/ads_insights (async)", rows, want, &key);
    let requests = sb.requests();
    assert_eq!(requests[patterns::META_REPORT_RUN], 1);
    // Two polls saw "Job Running", the third "Job Completed".
    assert_eq!(requests[patterns::META_RUN_STATUS], 3);
    assert!(requests[patterns::META_RUN_INSIGHTS] > 1);

    let c = meta(&sb, &account, "page_size = 2");
    let (stats, rows) = read(&c, "campaigns", window()).await.unwrap();
    assert!(stats.pages > 1, "{stats:?}");
    assert_same_rows(
        "meta_ads/campaigns",
        rows,
        g.snapshot_rows("meta_ads", "campaigns"),
        &["id"],
    );
    let report = c.check(&ctx()).await.unwrap();
    assert_eq!(
        report.summary,
        format!(
            "ad account act_{} ExampleSoft (USD, Europe/Madrid)",
            account.trim_start_matches("act_")
        )
    );
}

#[tokio::test]
async fn hubspot_reads_what_the_generator_made() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = hubspot(&sb, HUBSPOT_BEARER, 100);

    // Snapshots: the window does not apply, every object is read. By
    // default through search, in id ranges side by side, 200 a page.
    let (stats, rows) = read(&c, "contacts", window()).await.unwrap();
    let want = g.snapshot_rows("hubspot", "contacts");
    assert!(
        stats.pages as usize >= want.len().div_ceil(200),
        "{stats:?}"
    );
    assert!(stats.pages > 1);
    assert_same_rows("hubspot/contacts", rows, want.clone(), &["id"]);
    let searches = sb.requests()[patterns::HUBSPOT_CONTACTS_SEARCH];
    // Two probes (lowest and highest id), then the pages.
    assert_eq!(searches, 2 + stats.pages);
    assert_eq!(sb.requests().get(patterns::HUBSPOT_CONTACTS), None);

    // Deals through search, their contacts from the v4 associations API.
    let (stats, rows) = read(&c, "deals", window()).await.unwrap();
    let want_deals = g.snapshot_rows("hubspot", "deals");
    assert_same_rows("hubspot/deals (search)", rows, want_deals.clone(), &["id"]);
    assert_eq!(sb.requests()[patterns::HUBSPOT_DEAL_CONTACTS], stats.pages);

    // The list API, page after page, reads the same rows.
    let list = |page: u32| {
        let text = format!(
            "{HUBSPOT_BEARER}\nbase_url = \"{}\"\npage_size = {page}\nread_with = \"list\"\n\
             [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nrequests_per_second = 0\n",
            sb.base_url()
        );
        toml::from_str::<HubSpotSource>(&text)
            .unwrap()
            .connector_with(&secrets(&sb))
            .unwrap()
    };
    let (stats, rows) = read(&list(100), "contacts", window()).await.unwrap();
    assert_eq!(stats.pages as usize, want.len().div_ceil(100));
    assert_same_rows("hubspot/contacts (list)", rows, want, &["id"]);
    let c = list(20);
    let (stats, rows) = read(&c, "deals", window()).await.unwrap();
    assert!(stats.pages > 1, "{stats:?}");
    assert_same_rows("hubspot/deals (list)", rows, want_deals, &["id"]);
    c.check(&ctx()).await.unwrap();
    // Every deal has its currency: the account details are never needed.
    assert_eq!(sb.requests().get(patterns::HUBSPOT_ACCOUNT), None);

    // The same contacts with an OAuth token from HubSpot's token endpoint.
    let auth = "[auth]\ntype = \"oauth2\"\ntoken_url = \"TOKEN_URL\"\n\
                client_id = { env = \"HUBSPOT_CLIENT_ID\" }\n\
                client_secret = { env = \"HUBSPOT_CLIENT_SECRET\" }\n\
                refresh_token = { env = \"HUBSPOT_REFRESH_TOKEN\" }"
        .replace("TOKEN_URL", &format!("{}/oauth/v1/token", sb.base_url()));
    // The [auth] table must come last in TOML: put the rest before it.
    let text = format!(
        "base_url = \"{}\"\npage_size = 100\n{auth}\n",
        sb.base_url()
    );
    let config: HubSpotSource = toml::from_str(&text).unwrap();
    let c = config.connector_with(&secrets(&sb)).unwrap();
    let (_, rows) = read(&c, "contacts", window()).await.unwrap();
    assert_same_rows(
        "hubspot/contacts (oauth)",
        rows,
        g.snapshot_rows("hubspot", "contacts"),
        &["id"],
    );
    assert_eq!(sb.requests()[patterns::HUBSPOT_TOKEN], 1);
}

// ---------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------

#[tokio::test]
async fn wrong_credentials_get_each_apis_own_refusal() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;

    // A wrong refresh token: 400 invalid_grant from the token endpoint.
    let mut c = Ga4Source::new(Ga4Config::new([g.first("ga4", "traffic", "property_id")]));
    c.shared.base_url = Some(sb.base_url());
    c.shared.auth = Some(oauth(&sb, "GA4", "/token"));
    let c = c
        .connector_with(&|name| match name {
            "GA4_REFRESH_TOKEN" => Some("1//stale".into()),
            other => sb.config().credentials.lookup(other),
        })
        .unwrap();
    let err = read(&c, "traffic", window()).await.unwrap_err();
    match &err {
        ConnectorError::Http(HttpError::TokenRefresh {
            status, message, ..
        }) => {
            assert_eq!(*status, Some(400));
            assert!(message.contains("invalid_grant"), "{message}");
        }
        other => panic!("expected a token refresh error, got {other}"),
    }

    // Meta: a wrong token is OAuthException 190.
    let account = g.first("meta_ads", "ads_insights", "account_id");
    let text = format!(
        "ad_account_ids = [\"{account}\"]\naccess_token = {{ env = \"T\" }}\nbase_url = \"{}\"\n",
        sb.base_url()
    );
    let config: MetaAdsSource = toml::from_str(&text).unwrap();
    let c = config
        .connector_with(&|_| Some("EAAB-wrong".into()))
        .unwrap();
    let err = read(&c, "ads_insights", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Meta refused the access token in T (error 190"),
        "{err}"
    );
    assert!(err.contains("Invalid OAuth access token"), "{err}");

    // HubSpot: 401 INVALID_AUTHENTICATION with HubSpot's message.
    let text = format!("{HUBSPOT_BEARER}\nbase_url = \"{}\"\n", sb.base_url());
    let config: HubSpotSource = toml::from_str(&text).unwrap();
    let c = config
        .connector_with(&|_| Some("pat-na1-wrong".into()))
        .unwrap();
    let err = read(&c, "contacts", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("returned 401 Unauthorized: Authentication credentials not found"),
        "{err}"
    );

    // Google Ads: a wrong developer token is a 401 in the searchStream error array.
    let customer = g.first("google_ads", "campaign_stats", "customer_id");
    let mut c = GoogleAdsSource::new(GoogleAdsConfig::new([customer.as_str()]));
    c.shared.base_url = Some(sb.base_url());
    c.shared.auth = Some(oauth(&sb, "GOOGLE_ADS", "/token"));
    c.shared.http = fast_http();
    let c = c
        .connector_with(&|name| match name {
            "GOOGLE_ADS_DEVELOPER_TOKEN" => Some("wrong-dev-token".into()),
            other => sb.config().credentials.lookup(other),
        })
        .unwrap();
    let err = read(&c, "campaigns", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("The developer token is not valid."), "{err}");

    // An account the credentials cannot see.
    let c = google_ads(&sb, "999-999-9999");
    let err = read(&c, "campaigns", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("403 Forbidden"), "{err}");
    assert!(
        err.contains("User doesn't have permission to access customer"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

#[tokio::test]
async fn too_many_requests_then_recovery() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = ga4(&sb, &g.first("ga4", "traffic", "property_id"), 40);
    sb.set_faults(vec![
        FaultRule::new(
            ":runReport",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(2),
    ]);
    let (stats, rows) = read(&c, "traffic", window()).await.unwrap();
    assert_same_rows(
        "ga4/traffic after 429s",
        rows,
        g.daily_rows("ga4", "traffic", window()),
        &[
            "date",
            "session_source",
            "session_medium",
            "session_campaign_name",
            "device_category",
        ],
    );
    assert_eq!((stats.retries, stats.throttled_waits), (2, 2), "{stats:?}");
    let status = sb.faults();
    assert_eq!(status[0].fired, 2);

    // The same for Meta, whose 429 body is its code-80004 error.
    let account = g.first("meta_ads", "ads_insights", "account_id");
    sb.set_faults(vec![
        FaultRule::new(
            "/insights",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .after(1)
        .times(1),
    ]);
    let c = meta(&sb, &account, "page_size = 7");
    let (stats, rows) = read(&c, "ads_insights", window()).await.unwrap();
    assert_eq!(stats.throttled_waits, 1);
    assert_same_rows(
        "meta_ads/ads_insights after a 429",
        rows,
        g.daily_rows("meta_ads", "ads_insights", window()),
        &["date", "campaign_id"],
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    sb.set_faults(vec![
        FaultRule::new("/crm/v3/objects/deals", FaultKind::ServerError)
            .after(1)
            .times(2),
    ]);
    let c = hubspot(&sb, HUBSPOT_BEARER, 20);
    let (stats, rows) = read(&c, "deals", window()).await.unwrap();
    assert_eq!(stats.retries, 2);
    assert_same_rows(
        "hubspot/deals after 500s",
        rows,
        g.snapshot_rows("hubspot", "deals"),
        &["id"],
    );

    // Every time: the sync fails with HubSpot's words.
    sb.set_faults(vec![FaultRule::new(
        "/crm/v3/objects/deals",
        FaultKind::ServerError,
    )]);
    let err = read(&c, "deals", window()).await.unwrap_err().to_string();
    assert!(
        err.contains("500 Internal Server Error after 3 retries: internal error"),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_token_costs_exactly_one_refresh() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = google_ads(&sb, &g.first("google_ads", "campaign_stats", "customer_id"));
    read(&c, "campaigns", window()).await.unwrap();
    assert_eq!(sb.requests()[patterns::GOOGLE_TOKEN], 1);

    sb.set_faults(vec![
        FaultRule::new("googleAds:searchStream", FaultKind::ExpiredToken).times(1),
    ]);
    let (_, rows) = read(&c, "campaign_stats", window()).await.unwrap();
    assert_same_rows(
        "google_ads/campaign_stats after a refresh",
        rows,
        g.daily_rows("google_ads", "campaign_stats", window()),
        &["date", "campaign_id"],
    );
    assert_eq!(sb.requests()[patterns::GOOGLE_TOKEN], 2, "one refresh");
    assert_eq!(c.client().stats().token_refreshes, 2);
    // The old token stays refused; the new one keeps working without refreshes.
    read(&c, "campaigns", window()).await.unwrap();
    assert_eq!(sb.requests()[patterns::GOOGLE_TOKEN], 2);

    // GA4 and HubSpot (OAuth) the same way.
    let c = ga4(&sb, &g.first("ga4", "traffic", "property_id"), 100_000);
    read(&c, "traffic", window()).await.unwrap();
    sb.set_faults(vec![
        FaultRule::new(":runReport", FaultKind::ExpiredToken).times(1),
    ]);
    read(&c, "traffic", window()).await.unwrap();
    assert_eq!(c.client().stats().token_refreshes, 2);
    assert_eq!(sb.requests()[patterns::GOOGLE_TOKEN], 4);
}

#[tokio::test]
async fn truncated_and_malformed_bodies_fail_the_read() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;

    // Google Ads reads searchStream as a stream: a cut body is final.
    let c = google_ads(&sb, &g.first("google_ads", "campaign_stats", "customer_id"));
    sb.set_faults(vec![FaultRule::new("searchStream", FaultKind::Truncated)]);
    let err = read(&c, "campaign_stats", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut off") || err.contains("truncated"),
        "{err}"
    );
    assert_eq!(sb.faults()[0].fired, 1, "a streamed body is not retried");

    // HubSpot reads pages whole: a cut body is retried, then fails.
    let c = hubspot(&sb, HUBSPOT_BEARER, 100);
    sb.set_faults(vec![FaultRule::new("/contacts", FaultKind::Truncated)]);
    let err = read(&c, "contacts", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the response body was cut off"), "{err}");
    assert_eq!(sb.faults()[0].fired, 4, "the first try and three retries");
    // Once only: the retry recovers.
    sb.set_faults(vec![
        FaultRule::new("/contacts", FaultKind::Truncated)
            .after(2)
            .times(1),
    ]);
    let (_, rows) = read(&c, "contacts", window()).await.unwrap();
    assert_eq!(rows.len(), g.snapshot_rows("hubspot", "contacts").len());

    // Malformed JSON is not retried: the same request would get the same body.
    let c = meta(&sb, &g.first("meta_ads", "ads_insights", "account_id"), "");
    sb.set_faults(vec![FaultRule::new("/insights", FaultKind::Malformed)]);
    let err = read(&c, "ads_insights", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the response is not valid JSON"), "{err}");
    let c = ga4(&sb, &g.first("ga4", "traffic", "property_id"), 100);
    sb.set_faults(vec![FaultRule::new(":runReport", FaultKind::Malformed)]);
    let err = read(&c, "traffic", window()).await.unwrap_err().to_string();
    assert!(err.contains("the response is not valid JSON"), "{err}");
    let c = google_ads(&sb, &g.first("google_ads", "campaign_stats", "customer_id"));
    sb.set_faults(vec![FaultRule::new("searchStream", FaultKind::Malformed)]);
    let err = read(&c, "campaigns", window())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not valid JSON"), "{err}");
}

#[tokio::test]
async fn faults_and_revisions_through_the_control_endpoints() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let control = control_client();
    let url = |p: &str| format!("{}{p}", sb.base_url());

    // Faults set over HTTP, as a test drives `kpi sandbox serve`.
    let rules = json!([{"path_contains": "/crm/v3/objects/contacts", "method": "POST",
                        "kind": {"type": "server_error"}, "times": 1}]);
    control
        .send(&HttpRequest::post(url("/_sandbox/faults")).json(&rules))
        .await
        .unwrap();
    let c = hubspot(&sb, HUBSPOT_BEARER, 100);
    let (stats, _) = read(&c, "contacts", window()).await.unwrap();
    assert_eq!(stats.retries, 1);
    let status: Value = control
        .send_json(&HttpRequest::get(url("/_sandbox/faults")))
        .await
        .unwrap();
    assert_eq!(status[0]["fired"], json!(1));
    assert_eq!(status[0]["kind"], json!({"type": "server_error"}));
    let bad = control
        .send(&HttpRequest::post(url("/_sandbox/faults")).json(&json!({"nope": 1})))
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(400));

    // A revised day: conversions and their value doubled, other days alone.
    let customer = g.first("google_ads", "campaign_stats", "customer_id");
    let c = google_ads(&sb, &customer);
    // A Thursday: weekends can have no conversions at this scale.
    let revised = day("2024-06-13");
    let one_day = SyncWindow {
        start: revised,
        end: day("2024-06-14"),
    };
    let (_, before) = read(&c, "campaign_stats", one_day).await.unwrap();
    let revision =
        json!({"stream": "google_ads/campaign_stats", "date": "2024-06-13", "factor": 2.0});
    control
        .send(&HttpRequest::post(url("/_sandbox/revise")).json(&revision))
        .await
        .unwrap();
    let (_, after) = read(&c, "campaign_stats", one_day).await.unwrap();
    let conversions = |rows: &[Row], date: &str| -> Vec<f64> {
        let mut v: Vec<(String, f64)> = rows
            .iter()
            .filter(|r| r["date"].1 == date)
            .map(|r| {
                (
                    r["campaign_id"].1.clone(),
                    r["metrics_conversions"].1.parse().unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|x| x.1).collect()
    };
    let doubled: Vec<f64> = conversions(&before, "2024-06-13")
        .iter()
        .map(|v| (v * 2.0 * 100.0).round() / 100.0)
        .collect();
    assert!(doubled.iter().any(|v| *v > 0.0));
    assert_eq!(conversions(&after, "2024-06-13"), doubled);
    assert_eq!(
        conversions(&after, "2024-06-14"),
        conversions(&before, "2024-06-14")
    );

    // GA4 key events and Meta leads follow their revisions too (the handle's way).
    let property = g.first("ga4", "traffic", "property_id");
    let c = ga4(&sb, &property, 100_000);
    let key_events = |rows: &[Row]| -> f64 {
        rows.iter()
            .map(|r| r["key_events"].1.parse::<f64>().unwrap())
            .sum()
    };
    let (_, before) = read(&c, "traffic", one_day).await.unwrap();
    sb.revise(Revision {
        stream: "ga4/traffic".into(),
        date: revised,
        factor: 3.0,
    })
    .unwrap();
    let (_, after) = read(&c, "traffic", one_day).await.unwrap();
    assert!(key_events(&after) > key_events(&before));
    assert!(
        sb.revise(Revision {
            stream: "linkedin_ads/ad_analytics".into(),
            date: revised,
            factor: 2.0
        })
        .is_err()
    );

    let requests: Value = control
        .send_json(&HttpRequest::get(url("/_sandbox/requests")))
        .await
        .unwrap();
    assert_eq!(requests[patterns::SEARCH_STREAM], json!(2));
    let data: Value = control
        .send_json(&HttpRequest::get(url("/_sandbox/data")))
        .await
        .unwrap();
    // Every stream an emulated API serves, each once.
    let mut served: Vec<String> = data["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["source_type"].as_str().unwrap(),
                s["stream"].as_str().unwrap()
            )
        })
        .collect();
    served.sort();
    assert_eq!(
        served,
        [
            "ga4/traffic",
            "google_ads/campaign_stats",
            "google_ads/campaigns",
            "hubspot/contacts",
            "hubspot/deals",
            "linkedin_ads/ad_analytics",
            "linkedin_ads/campaigns",
            "mailchimp/campaigns",
            "mailchimp/reports",
            "meta_ads/ads_insights",
            "meta_ads/campaigns",
            "microsoft_ads/campaign_performance",
            "microsoft_ads/campaigns",
            "salesforce/campaign_members",
            "salesforce/campaigns",
            "salesforce/contacts",
            "salesforce/leads",
            "salesforce/opportunities",
            "search_console/search_analytics",
        ]
    );
}

// ---------------------------------------------------------------------------
// Latency and concurrency
// ---------------------------------------------------------------------------

#[tokio::test]
async fn latency_and_concurrency_limit_pace_requests() {
    let sb = start(SandboxConfig {
        latency_ms: 50,
        max_concurrency: Some(10),
        ..config()
    })
    .await;
    let settings = HttpSettings {
        max_concurrency: 20,
        ..HttpSettings::default()
    };
    let client = HttpClient::new(
        &HttpConfig::default(),
        settings,
        Auth::Bearer(kpi_connector::Secret::new(
            sb.config().credentials.hubspot_access_token.clone(),
        )),
    )
    .unwrap();
    let url = format!("{}/account-info/v3/details", sb.base_url());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        let request = HttpRequest::get(&url);
        tasks.spawn(async move { client.send(&request).await.map(|r| r.status) });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 200);
    }
    // 20 requests, 10 at a time, 50 ms each: at least two rounds.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert_eq!(sb.requests()[patterns::HUBSPOT_ACCOUNT], 20);
    sb.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let sb = start(config()).await;
    let addr = sb.addr();
    assert!(sb.data().rows() > 0);
    sb.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// `cargo test -p kpi-sandbox --test server -- --ignored --nocapture memory`:
/// rows and Arrow memory of the default company (25 months, scale 1, or
/// `KPI_SANDBOX_SCALE`).
#[tokio::test]
#[ignore]
async fn memory() {
    let scale = std::env::var("KPI_SANDBOX_SCALE").map_or(1.0, |s| s.parse().unwrap());
    let started = Instant::now();
    let sb = start(SandboxConfig {
        scale,
        end_date: Some(day(END)),
        ..SandboxConfig::default()
    })
    .await;
    println!("started in {:?}", started.elapsed());
    for s in &sb.data().streams {
        println!(
            "{:>12}/{:<15} {:>9} rows {:>11} bytes {:>6.0} bytes/row",
            s.source_type,
            s.stream,
            s.rows,
            s.bytes,
            s.bytes as f64 / s.rows.max(1) as f64
        );
    }
    println!(
        "total {} rows, {} bytes ({:.0} MB per million rows)",
        sb.data().rows(),
        sb.data().bytes(),
        sb.data().bytes() as f64 / sb.data().rows() as f64
    );
}
