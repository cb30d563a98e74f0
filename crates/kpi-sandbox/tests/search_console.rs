//! The Search Console emulation read through the real connector, built from
//! the `[sources.search_console]` section the sandbox writes for itself:
//! the rows of a window must be the generator's (every column of every
//! row, so the sums of clicks and impressions are equal and those of `ctr`
//! equal within float rounding), page by page, with 429s, a 500, a
//! truncated body and an expired token on the way; a fault that outlasts
//! the retries fails the read in Google's words; and the API's own
//! aggregation, refusals and `kpi check`. (`kpi-pipeline`'s
//! `tests/search_console_sync.rs` syncs the same into a lake.)

use std::collections::BTreeMap;
use std::net::SocketAddr;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use kpi_connector::{
    CollectSink, Connector, ConnectorError, Context, HttpRequest, ReadStats, SyncWindow,
};
use kpi_connector_search_console::{SearchConsoleConnector, SearchConsoleSource};
use kpi_lake::StreamSpec;
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle, serve};
use kpi_sandbox::{RawSink, SinkError};
use serde_json::{Value, json};

const QUERY: &str = "POST /webmasters/v3/sites/{site_url}/searchAnalytics/query";
const TOKEN: &str = "POST /token";
const SITE: &str = "sc-domain:example.com";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// One market, three months ending 2024-06-30.
fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 3,
        end_date: Some(day("2024-06-30")),
        ..SandboxConfig::default()
    }
}

async fn start() -> SandboxHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    serve(config(), addr).await.expect("the sandbox starts")
}

fn june() -> SyncWindow {
    SyncWindow {
        start: day("2024-06-01"),
        end: day("2024-06-30"),
    }
}

fn ctx() -> Context {
    Context {
        source: "search_console".into(),
        today: day("2024-07-01"),
    }
}

/// One row: (date, site, query, device) -> (clicks, impressions, ctr,
/// position), as text-free values to compare exactly.
type Key = (NaiveDate, String, String, String);
type Rows = BTreeMap<Key, (i64, i64, f64, f64)>;

fn epoch(d: i32) -> NaiveDate {
    day("1970-01-01") + chrono::Duration::days(d.into())
}

/// Rows of batches of the stream's shape; `date` is the column, or the
/// partition the generator filed the batch under.
fn add_rows(out: &mut Rows, b: &RecordBatch, partition: Option<NaiveDate>) {
    let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    let i = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone()
    };
    let f = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (site, query, device) = (s("site_url"), s("query"), s("device"));
    let (clicks, impressions, ctr, position) =
        (i("clicks"), i("impressions"), f("ctr"), f("position"));
    for r in 0..b.num_rows() {
        let date = partition.unwrap_or_else(|| {
            epoch(
                b.column_by_name("date")
                    .unwrap()
                    .as_primitive::<Date32Type>()
                    .value(r),
            )
        });
        let key = (
            date,
            site.value(r).to_string(),
            query.value(r).to_string(),
            device.value(r).to_string(),
        );
        let value = (
            clicks.value(r),
            impressions.value(r),
            ctr.value(r),
            position.value(r),
        );
        assert!(out.insert(key.clone(), value).is_none(), "{key:?} twice");
    }
}

/// What the generator made for Search Console.
#[derive(Default)]
struct Generated(Vec<(NaiveDate, RecordBatch)>);

impl RawSink for Generated {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        b: RecordBatch,
    ) -> Result<(), SinkError> {
        if (spec.source_type, spec.stream) == ("search_console", "search_analytics") {
            self.0.push((date, b));
        }
        Ok(())
    }

    fn snapshot(&mut self, _: &StreamSpec, _: RecordBatch) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The generator's rows in `w`.
fn generated(w: SyncWindow) -> Rows {
    let mut g = Generated::default();
    kpi_sandbox::generate(&config().company(), &mut g).unwrap();
    let mut out = Rows::new();
    for (date, b) in g.0.iter().filter(|(d, _)| w.contains(*d)) {
        add_rows(&mut out, b, Some(*date));
    }
    out
}

/// Sums of clicks, impressions and ctr.
fn totals(rows: &Rows) -> (i64, i64, f64) {
    rows.values()
        .fold((0, 0, 0.0), |(c, i, r), v| (c + v.0, i + v.1, r + v.2))
}

/// The numbers of `got` are those of `want`: every row, and the sums.
fn assert_same(got: &Rows, want: &Rows) {
    assert!(want.len() > 1000, "{} rows generated", want.len());
    let (g, w) = (totals(got), totals(want));
    assert_eq!((g.0, g.1), (w.0, w.1), "clicks and impressions");
    assert!((g.2 - w.2).abs() < 1e-12, "ctr sums {} and {}", g.2, w.2);
    assert_eq!(got.len(), want.len(), "row count");
    // Counts exactly; the floats within rounding: serde_json's default
    // parser (without `float_roundtrip`) may land a unit in the last
    // place away from the value the sandbox printed.
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    for ((gk, gv), (wk, wv)) in got.iter().zip(want) {
        assert_eq!((gk, gv.0, gv.1), (wk, wv.0, wv.1));
        assert!(
            near(gv.2, wv.2) && near(gv.3, wv.3),
            "{gk:?}: {gv:?} {wv:?}"
        );
    }
}

/// The connector from the sandbox's own section, with quick retries.
fn connector(sb: &SandboxHandle, page_size: u32, max_retries: u32) -> SearchConsoleConnector {
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"]["search_console"].as_table().unwrap().clone();
    assert_eq!(
        section.remove("type").unwrap().as_str(),
        Some("search_console")
    );
    let http = section.get_mut("http").unwrap().as_table_mut().unwrap();
    http.insert(
        "max_retries".into(),
        toml::Value::Integer(max_retries.into()),
    );
    http.insert("backoff_base_secs".into(), toml::Value::Float(0.001));
    http.insert("backoff_max_secs".into(), toml::Value::Float(0.01));
    section.insert("page_size".into(), toml::Value::Integer(page_size.into()));
    let config: SearchConsoleSource = toml::Value::Table(section).try_into().unwrap();
    config
        .connector_named("search_console", &|name| {
            sb.config().credentials.lookup(name)
        })
        .unwrap()
}

async fn read(
    c: &SearchConsoleConnector,
    w: SyncWindow,
) -> Result<(ReadStats, Rows), ConnectorError> {
    let def = c.streams().remove(0);
    let mut sink = CollectSink::default();
    let stats = c.read(&def, w, &mut sink).await?;
    let mut rows = Rows::new();
    for b in &sink.batches {
        add_rows(&mut rows, b, None);
    }
    Ok((stats, rows))
}

fn requests(sb: &SandboxHandle, pattern: &str) -> u64 {
    sb.requests().get(pattern).copied().unwrap_or(0)
}

#[tokio::test]
async fn the_rows_of_a_window_are_the_generators_page_by_page() {
    let sb = start().await;
    let want = generated(june());
    let n = want.len() as u64;
    let page = 1000;
    assert!(n > 3 * page as u64, "{n} rows: too few for several pages");
    let c = connector(&sb, page, 3);
    let (stats, got) = read(&c, june()).await.unwrap();
    assert_same(&got, &want);
    // Pages of 1000 until a short one (an empty one if the last is full).
    let pages = n / u64::from(page) + 1;
    assert_eq!(stats.pages, pages, "{stats:?}");
    assert_eq!(stats.rows, n);
    assert_eq!(requests(&sb, QUERY), pages);
    assert_eq!(requests(&sb, TOKEN), 1);
    assert!(got.keys().all(|k| k.1 == SITE));

    // The whole quarter in one request per 25,000 rows, the default.
    let quarter = SyncWindow {
        start: day("2024-04-01"),
        end: day("2024-06-30"),
    };
    let (stats, got) = read(&connector(&sb, 25_000, 3), quarter).await.unwrap();
    assert_same(&got, &generated(quarter));
    assert_eq!(stats.pages, 1 + got.len() as u64 / 25_000);
}

#[tokio::test]
async fn faults_on_the_way_change_nothing() {
    let sb = start().await;
    let c = connector(&sb, 1000, 3);
    sb.set_faults(vec![
        FaultRule::new(
            "/searchAnalytics/query",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(2),
        FaultRule::new("/searchAnalytics/query", FaultKind::ServerError)
            .after(3)
            .times(1),
        FaultRule::new("/searchAnalytics/query", FaultKind::Truncated)
            .after(5)
            .times(1),
        FaultRule::new("/searchAnalytics/query", FaultKind::ExpiredToken)
            .after(7)
            .times(1),
    ]);
    let (stats, got) = read(&c, june()).await.unwrap();
    assert_same(&got, &generated(june()));
    assert_eq!(stats.throttled_waits, 2, "{stats:?}");
    // Two 429s, a 500, a broken body and a refused token, each retried once.
    assert_eq!(stats.retries, 5, "{stats:?}");
    assert!(
        sb.faults().iter().all(|f| f.fired >= 1),
        "{:?}",
        sb.faults()
    );
    // The revoked token cost one more grant.
    assert_eq!(requests(&sb, TOKEN), 2);
}

#[tokio::test]
async fn a_fault_that_outlasts_the_retries_fails_in_googles_words() {
    let sb = start().await;
    let c = connector(&sb, 1000, 2);
    sb.set_faults(vec![FaultRule::new(
        "/searchAnalytics/query",
        FaultKind::ServerError,
    )]);
    let e = read(&c, june()).await.unwrap_err().to_string();
    assert!(
        e.contains("/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query returned 500 Internal Server Error after 2 retries: Internal error encountered."),
        "{e}"
    );
    sb.set_faults(vec![FaultRule::new(
        "/searchAnalytics/query",
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
    )]);
    let e = read(&c, june()).await.unwrap_err().to_string();
    assert!(
        e.contains("429 Too Many Requests after 2 retries: Search Analytics QPS quota exceeded [source search_console: Google allows 1,200 queries"),
        "{e}"
    );
    for secret in [
        &sb.config().credentials.client_secret,
        &sb.config().credentials.refresh_token,
    ] {
        assert!(!e.contains(secret.as_str()), "{e}");
    }
}

#[tokio::test]
async fn another_site_is_refused_and_check_names_the_permission() {
    let sb = start().await;
    let report = connector(&sb, 1000, 0).check(&ctx()).await.unwrap();
    assert_eq!(report.summary, "site sc-domain:example.com (siteOwner)");

    let text = format!(
        "site_urls = [\"https://www.example.org/\"]\nbase_url = \"{0}\"\ntoken_url = \"{0}/token\"\n",
        sb.base_url()
    );
    let config: SearchConsoleSource = toml::from_str(&text).unwrap();
    let c = config
        .connector_named("other", &|name| sb.config().credentials.lookup(name))
        .unwrap();
    let e = read(&c, june()).await.unwrap_err().to_string();
    assert!(
        e.contains(
            "/webmasters/v3/sites/https%3A%2F%2Fwww.example.org%2F/searchAnalytics/query \
             returned 403 Forbidden: User does not have sufficient permission for site \
             'https://www.example.org/'."
        ),
        "{e}"
    );
    assert!(
        e.contains("[source other: site https://www.example.org/ is not verified"),
        "{e}"
    );
    let e = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(e.contains("403 Forbidden"), "{e}");
}

/// A client with a sandbox access token, for requests the connector never
/// makes.
async fn raw_query(sb: &SandboxHandle, body: Value) -> Result<Value, String> {
    let c = connector(sb, 1000, 0);
    // The connector's client carries the token refresh and the redaction.
    let url = format!(
        "{}/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query",
        sb.base_url()
    );
    c.client()
        .send_json(&HttpRequest::post(url).json(&body))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_api_aggregates_and_refuses_like_google() {
    let sb = start().await;
    let want = generated(june());

    // By date alone: one row a day, the day's sums, keys in the order asked.
    let body = raw_query(
        &sb,
        json!({"startDate": "2024-06-01", "endDate": "2024-06-30", "dimensions": ["date"]}),
    )
    .await
    .unwrap();
    assert_eq!(body["responseAggregationType"], "byProperty");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 30);
    let clicks: i64 = rows.iter().map(|r| r["clicks"].as_i64().unwrap()).sum();
    assert_eq!(clicks, totals(&want).0);
    let first_day: i64 = want
        .iter()
        .filter(|(k, _)| k.0 == day("2024-06-01"))
        .map(|(_, v)| v.1)
        .sum();
    assert_eq!(rows[0]["keys"], json!(["2024-06-01"]));
    assert_eq!(rows[0]["impressions"].as_i64().unwrap(), first_day);
    let r = &rows[0];
    let ctr = r["clicks"].as_f64().unwrap() / r["impressions"].as_f64().unwrap();
    assert!((r["ctr"].as_f64().unwrap() - ctr).abs() < 1e-12, "{r}");

    // Device first, then query: keys follow the request.
    let body = raw_query(
        &sb,
        json!({"startDate": "2024-06-01", "endDate": "2024-06-01",
               "dimensions": ["device", "query"], "rowLimit": 1}),
    )
    .await
    .unwrap();
    let keys = body["rows"][0]["keys"].as_array().unwrap();
    assert!(
        ["DESKTOP", "MOBILE"].contains(&keys[0].as_str().unwrap()),
        "{keys:?}"
    );

    // Another search type has no data here; no `rows` member at all.
    let body = raw_query(
        &sb,
        json!({"startDate": "2024-06-01", "endDate": "2024-06-30", "type": "image"}),
    )
    .await
    .unwrap();
    assert_eq!(body, json!({"responseAggregationType": "byProperty"}));

    // Refusals name what is wrong.
    for (bad, says) in [
        (
            json!({"startDate": "2024-06-01", "endDate": "2024-06-30", "rowLimit": 30000}),
            "400 Bad Request: rowLimit must be between 1 and 25000, got 30000.",
        ),
        (
            json!({"startDate": "2024-06-30", "endDate": "2024-06-01"}),
            "400 Bad Request: endDate 2024-06-01 is before startDate 2024-06-30.",
        ),
        (
            json!({"endDate": "2024-06-01"}),
            "400 Bad Request: Missing required field: startDate.",
        ),
        (
            json!({"startDate": "2024-06-01", "endDate": "2024-06-30", "dimensions": ["page"]}),
            "400 Bad Request: The kpi sandbox does not have the dimension \"page\"",
        ),
        (
            json!({"startDate": "2024-06-01", "endDate": "2024-06-30", "dataState": "fresh"}),
            "400 Bad Request: Invalid value for dataState: fresh",
        ),
    ] {
        let e = raw_query(&sb, bad).await.unwrap_err();
        assert!(e.contains(says), "{e}");
    }
}
