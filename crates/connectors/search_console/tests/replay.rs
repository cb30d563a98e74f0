//! The Search Console connector against a loopback server that answers like
//! Google: the OAuth2 token endpoint at `/token`, `GET
//! /webmasters/v3/sites/{site}` and `POST
//! /webmasters/v3/sites/{site}/searchAnalytics/query`, with the bodies of
//! `fixtures/README.md` and Google's error bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{
    CollectSink, Connector, ConnectorError, Context, HttpConfig, ReadStats, StreamDef, SyncWindow,
};
use kpi_connector_search_console::{
    DataState, SEARCH_ANALYTICS, SearchConsoleConfig, SearchConsoleConnector, SearchConsoleSource,
    search_analytics_schema,
};
use serde_json::{Value, json};

const ROWS: &str = include_str!("fixtures/search_analytics_date_query_device.json");
const ONE_KEY: &str = include_str!("fixtures/search_analytics.json");
const EMPTY: &str = include_str!("fixtures/search_analytics_empty.json");
const QUOTA: &str = include_str!("fixtures/429.json");
const INVALID: &str = include_str!("fixtures/400.json");
const FORBIDDEN: &str = include_str!("fixtures/403.json");

const SITE: &str = "sc-domain:example.com";
const QUERY_PATH: &str = "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query";
const TOKEN_PATH: &str = "/token";
const ACCESS_TOKEN: &str = "ya29.a0-search-console-access-4242";
const CLIENT_SECRET: &str = "GOCSPX-search-console-secret-9999";
const REFRESH_TOKEN: &str = "1//0g-search-console-refresh-7777";

fn secrets(name: &str) -> Option<String> {
    let value = match name {
        "SEARCH_CONSOLE_CLIENT_ID" => "1234-sc.apps.googleusercontent.com",
        "SEARCH_CONSOLE_CLIENT_SECRET" => CLIENT_SECRET,
        "SEARCH_CONSOLE_REFRESH_TOKEN" => REFRESH_TOKEN,
        _ => return None,
    };
    Some(value.to_string())
}

fn json_body(status: u16, body: &str) -> TestResponse {
    TestResponse::new(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(body.to_string())
}

/// Google's 401 for an access token it no longer accepts.
fn unauthenticated() -> TestResponse {
    TestResponse::json(
        401,
        &json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access \
                        token, login cookie or other valid authentication credential."}}),
    )
}

/// A server with Google's token endpoint; `api` answers the rest.
async fn server<F>(api: F) -> TestServer
where
    F: Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
{
    TestServer::start(move |req| {
        let response = match req.path() {
            TOKEN_PATH => TestResponse::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "expires_in": 3599,
                        "scope": "https://www.googleapis.com/auth/webmasters.readonly",
                        "token_type": "Bearer"}),
            ),
            _ => api(&req),
        };
        async move { response }
    })
    .await
}

fn connector_for(server: &TestServer, own: SearchConsoleConfig) -> SearchConsoleConnector {
    let mut config = SearchConsoleSource::new(own);
    config.shared.base_url = Some(server.url(""));
    config.shared.token_url = Some(server.url(TOKEN_PATH));
    config.shared.http = HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        max_retries: Some(2),
        ..HttpConfig::default()
    };
    config.connector_named("search_console", &secrets).unwrap()
}

fn connector(server: &TestServer) -> SearchConsoleConnector {
    connector_for(server, SearchConsoleConfig::new([SITE]))
}

fn stream(c: &SearchConsoleConnector) -> StreamDef {
    c.streams()
        .into_iter()
        .find(|s| s.name == SEARCH_ANALYTICS)
        .unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn june() -> SyncWindow {
    SyncWindow {
        start: day("2024-06-01"),
        end: day("2024-06-30"),
    }
}

async fn read(
    c: &SearchConsoleConnector,
    w: SyncWindow,
) -> Result<(ReadStats, usize, RecordBatch), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&stream(c), w, &mut sink).await?;
    let batch = concat_batches(&search_analytics_schema(), &sink.batches).unwrap();
    Ok((stats, sink.batches.len(), batch))
}

async fn read_err(c: &SearchConsoleConnector) -> ConnectorError {
    let e = read(c, june()).await.unwrap_err();
    assert_no_secret(&e.to_string());
    assert_no_secret(&format!("{e:?}"));
    e
}

fn query_requests(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/searchAnalytics/query"))
        .collect()
}

fn body(r: &RecordedRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<String> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    let a = b.column_by_name(name).unwrap();
    a.as_primitive::<Int64Type>().values().to_vec()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<f64> {
    let a = b.column_by_name(name).unwrap();
    a.as_primitive::<Float64Type>().values().to_vec()
}

fn dates(b: &RecordBatch) -> Vec<NaiveDate> {
    let a = b.column_by_name("date").unwrap();
    a.as_primitive::<Date32Type>()
        .values()
        .iter()
        .map(|d| day("1970-01-01") + chrono::Days::new(*d as u64))
        .collect()
}

fn assert_no_secret(text: &str) {
    for secret in [ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN] {
        assert!(!text.contains(secret), "a secret in: {text}");
    }
}

// ---------------------------------------------------------------------------
// Rows and requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn keys_are_read_by_position_into_their_columns() {
    let server = server(|_| json_body(200, ROWS)).await;
    let c = connector(&server);
    let (stats, batches, b) = read(&c, june()).await.unwrap();
    assert_eq!((stats.rows, stats.pages, batches), (3, 1, 1));
    assert_eq!(b.schema(), search_analytics_schema());
    assert_eq!(strings(&b, "site_url"), [SITE; 3]);
    assert_eq!(
        strings(&b, "query"),
        [
            "kpi dashboard software",
            "kpi dashboard software",
            "example saas pricing"
        ]
    );
    assert_eq!(strings(&b, "device"), ["DESKTOP", "MOBILE", "TABLET"]);
    assert_eq!(ints(&b, "clicks"), [41, 17, 0]);
    assert_eq!(ints(&b, "impressions"), [1210, 986, 12]);
    assert_eq!(
        floats(&b, "ctr"),
        [0.033884297520661154, 0.017241379310344827, 0.0]
    );
    assert_eq!(
        floats(&b, "position"),
        [4.134710743801653, 6.026369168356998, 11.25]
    );
    assert_eq!(
        dates(&b),
        [day("2024-06-03"), day("2024-06-03"), day("2024-06-04")]
    );

    // One token grant, then one POST with the body Google documents.
    let all = server.requests();
    assert_eq!(all.len(), 2, "{all:?}");
    let grant = &all[0];
    assert_eq!((grant.method.as_str(), grant.path()), ("POST", TOKEN_PATH));
    let form = grant.body_text();
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(form.contains("client_id=1234-sc.apps.googleusercontent.com"));
    let r = &all[1];
    assert_eq!((r.method.as_str(), r.path()), ("POST", QUERY_PATH));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        body(r),
        json!({"startDate": "2024-06-01", "endDate": "2024-06-30",
               "dimensions": ["date", "query", "device"], "type": "web",
               "dataState": "final", "rowLimit": 25000, "startRow": 0})
    );
}

#[tokio::test]
async fn every_site_is_read_in_its_own_path_segment() {
    let server = server(|_| json_body(200, ROWS)).await;
    let mut own = SearchConsoleConfig::new(["https://www.example.com/", SITE]);
    own.data_state = DataState::All;
    let c = connector_for(&server, own);
    let (stats, _, b) = read(&c, june()).await.unwrap();
    assert_eq!(stats.rows, 6);
    let paths: Vec<String> = query_requests(&server)
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/webmasters/v3/sites/https%3A%2F%2Fwww.example.com%2F/searchAnalytics/query",
            QUERY_PATH
        ]
    );
    assert!(
        query_requests(&server)
            .iter()
            .all(|r| body(r)["dataState"] == "all")
    );
    let sites = strings(&b, "site_url");
    assert_eq!(sites[..3], ["https://www.example.com/"; 3]);
    assert_eq!(sites[3..], [SITE; 3]);
}

/// A server holding `total` rows for June 2, paged by `startRow`/`rowLimit`.
async fn paged_server(total: usize) -> TestServer {
    server(move |r| {
        let b = body(r);
        let start = b["startRow"].as_u64().unwrap() as usize;
        let limit = b["rowLimit"].as_u64().unwrap() as usize;
        let rows: Vec<Value> = (start..total.min(start + limit))
            .map(|i| {
                json!({"keys": ["2024-06-02", format!("query {i}"), "MOBILE"],
                       "clicks": i, "impressions": 100 + i,
                       "ctr": i as f64 / (100 + i) as f64, "position": 2.5})
            })
            .collect();
        // No `rows` member at all past the end, as the API answers.
        let mut answer = json!({"responseAggregationType": "byProperty"});
        if !rows.is_empty() {
            answer["rows"] = Value::Array(rows);
        }
        TestResponse::json(200, &answer)
    })
    .await
}

#[tokio::test]
async fn pages_advance_start_row_until_a_short_page() {
    let server = paged_server(5).await;
    let mut own = SearchConsoleConfig::new([SITE]);
    own.page_size = 2;
    let c = connector_for(&server, own);
    let (stats, batches, b) = read(&c, june()).await.unwrap();
    let starts: Vec<(u64, u64)> = query_requests(&server)
        .iter()
        .map(|r| {
            let b = body(r);
            (
                b["startRow"].as_u64().unwrap(),
                b["rowLimit"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(starts, [(0, 2), (2, 2), (4, 2)]);
    assert_eq!((stats.rows, stats.pages, batches), (5, 3, 3));
    assert_eq!(ints(&b, "clicks"), [0, 1, 2, 3, 4]);
    assert_eq!(ints(&b, "impressions"), [100, 101, 102, 103, 104]);
    assert_eq!(strings(&b, "query")[4], "query 4");

    // A last page that happens to be full costs one more request, answered
    // without `rows`.
    let server = paged_server(4).await;
    let mut own = SearchConsoleConfig::new([SITE]);
    own.page_size = 2;
    let c = connector_for(&server, own);
    let (stats, _, _) = read(&c, june()).await.unwrap();
    assert_eq!((stats.rows, stats.pages), (4, 3));
    assert_eq!(body(&query_requests(&server)[2])["startRow"], 4);
}

#[tokio::test]
async fn a_server_that_ignores_start_row_is_an_error() {
    let server = server(|_| json_body(200, ROWS)).await;
    let mut own = SearchConsoleConfig::new([SITE]);
    own.page_size = 3;
    let c = connector_for(&server, own);
    let e = read_err(&c).await.to_string();
    assert!(
        e.contains("the page at startRow 3 repeats the previous one; the API ignored `startRow`"),
        "{e}"
    );
}

#[tokio::test]
async fn an_answer_without_rows_is_an_empty_read() {
    for answer in [r#"{"responseAggregationType": "byProperty"}"#, EMPTY] {
        let server = server(move |_| json_body(200, answer)).await;
        let c = connector(&server);
        let (stats, batches, b) = read(&c, june()).await.unwrap();
        assert_eq!((stats.rows, stats.pages, batches), (0, 1, 0), "{answer}");
        assert_eq!(b.num_rows(), 0);
        assert_eq!(query_requests(&server).len(), 1);
    }
}

#[tokio::test]
async fn rows_with_other_keys_than_asked_for_are_refused() {
    // Airbyte's fixture answers the single dimension `date`.
    let server = server(|_| json_body(200, ONE_KEY)).await;
    let c = connector(&server);
    let e = read_err(&c).await;
    assert!(matches!(e, ConnectorError::Response { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("unexpected response from POST http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "page at startRow 0: row 0 has 1 keys [\"2024-01-15\"], not one per dimension \
             asked for (date, query, device)"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_429_is_waited_out_and_the_read_goes_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            json_body(429, QUOTA)
        } else {
            json_body(200, ROWS)
        }
    })
    .await;
    let c = connector(&server);
    let (stats, _, b) = read(&c, june()).await.unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!((stats.retries, stats.throttled_waits), (1, 1));
    assert_eq!(query_requests(&server).len(), 2);
}

#[tokio::test]
async fn a_429_that_lasts_says_what_to_do() {
    let server = server(|_| json_body(429, QUOTA)).await;
    let c = connector(&server);
    let e = read_err(&c).await.to_string();
    assert!(
        e.contains(
            "returned 429 Too Many Requests after 2 retries: Search Analytics QPS quota exceeded ["
        ),
        "{e}"
    );
    assert!(e.contains("1,200 queries a minute per site"), "{e}");
    assert_eq!(query_requests(&server).len(), 3);
}

#[tokio::test]
async fn a_403_names_the_site_and_the_source() {
    let server = server(|_| json_body(403, FORBIDDEN)).await;
    let c = connector(&server);
    let e = read_err(&c).await;
    assert!(
        matches!(e, ConnectorError::Http(ref h) if h.status() == Some(403)),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("POST {}", server.url(QUERY_PATH))),
        "{text}"
    );
    assert!(
        text.contains(
            "403 Forbidden: User does not have sufficient permission for site \
             'https://example.com/'."
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "[source search_console: site sc-domain:example.com is not verified for the Google \
             account that granted the refresh token"
        ),
        "{text}"
    );
    assert!(
        text.contains("sc-domain:example.com, a URL-prefix"),
        "{text}"
    );
    // Not retried: a refusal does not change by asking again.
    assert_eq!(query_requests(&server).len(), 1);
}

#[tokio::test]
async fn a_disabled_api_is_not_blamed_on_the_site() {
    let server = server(|_| {
        TestResponse::json(
            403,
            &json!({"error": {"code": 403, "status": "PERMISSION_DENIED",
                "message": "Google Search Console API has not been used in project 1234 before \
                            or it is disabled."}}),
        )
    })
    .await;
    let e = read_err(&connector(&server)).await.to_string();
    assert!(
        e.contains("enable the Google Search Console API in the Google Cloud project"),
        "{e}"
    );
    assert!(!e.contains("is not verified"), "{e}");
}

#[tokio::test]
async fn a_400_quotes_google() {
    let server = server(|_| json_body(400, INVALID)).await;
    let e = read_err(&connector(&server)).await.to_string();
    assert!(
        e.ends_with(
            "returned 400 Bad Request: Invalid request [source search_console, site \
             sc-domain:example.com]"
        ),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_read_goes_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            unauthenticated()
        } else {
            json_body(200, ROWS)
        }
    })
    .await;
    let c = connector(&server);
    let (stats, _, b) = read(&c, june()).await.unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(stats.retries, 1);
    assert_eq!(server.hits(TOKEN_PATH), 2);
}

#[tokio::test]
async fn a_401_with_a_fresh_token_names_the_scope_and_the_variables() {
    let server = server(|_| unauthenticated()).await;
    let e = read_err(&connector(&server)).await.to_string();
    assert!(
        e.contains("401 Unauthorized: Request had invalid authentication"),
        "{e}"
    );
    assert!(
        e.contains("(still 401 with a freshly refreshed access token)"),
        "{e}"
    );
    assert!(
        e.contains("SEARCH_CONSOLE_REFRESH_TOKEN")
            && e.contains("https://www.googleapis.com/auth/webmasters.readonly"),
        "{e}"
    );
    assert_eq!(server.hits(TOKEN_PATH), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_names_its_variable_and_never_its_value() {
    let server = TestServer::start(|req| async move {
        if req.path() == TOKEN_PATH {
            TestResponse::json(
                400,
                &json!({"error": "invalid_grant",
                        "error_description": "Token has been expired or revoked."}),
            )
        } else {
            json_body(200, ROWS)
        }
    })
    .await;
    let e = read_err(&connector(&server)).await.to_string();
    assert!(
        e.starts_with("OAuth2 token refresh failed at http://127.0.0.1:"),
        "{e}"
    );
    assert!(
        e.contains("invalid_grant: Token has been expired or revoked."),
        "{e}"
    );
    assert!(
        e.contains("Google refused the OAuth2 credentials of source search_console")
            && e.contains("SEARCH_CONSOLE_REFRESH_TOKEN"),
        "{e}"
    );
    assert!(query_requests(&server).is_empty());
}

/// With `[auth]` naming other variables, the hint names those, not the
/// defaults: the person is told which variable to renew.
#[tokio::test]
async fn a_refused_refresh_token_names_the_variables_the_config_names() {
    let server = TestServer::start(|req| async move {
        if req.path() == TOKEN_PATH {
            TestResponse::json(400, &json!({"error": "invalid_grant"}))
        } else {
            json_body(200, ROWS)
        }
    })
    .await;
    let text = format!(
        "site_urls = [\"sc-domain:example.com\"]\nbase_url = \"{}\"\ntoken_url = \"{}\"\n\
         [auth]\ntype = \"oauth2\"\nclient_id = {{ env = \"GSC_ID\" }}\n\
         client_secret = {{ env = \"GSC_SECRET\" }}\nrefresh_token = {{ env = \"GSC_REFRESH\" }}\n",
        server.url(""),
        server.url(TOKEN_PATH)
    );
    let config: SearchConsoleSource = toml::from_str(&text).unwrap();
    let c = config
        .connector_with(&|name| name.starts_with("GSC_").then(|| format!("value-of-{name}")))
        .unwrap();
    let e = read_err(&c).await.to_string();
    assert!(e.contains("(GSC_REFRESH and GSC_ID)"), "{e}");
    assert!(!e.contains("SEARCH_CONSOLE_REFRESH_TOKEN"), "{e}");
    assert!(!e.contains("value-of-GSC_REFRESH"), "{e}");
}

// ---------------------------------------------------------------------------
// kpi check
// ---------------------------------------------------------------------------

fn ctx() -> Context {
    Context {
        source: "search_console".into(),
        today: day("2024-07-01"),
    }
}

#[tokio::test]
async fn check_reads_each_sites_permission() {
    let srv = server(|r| {
        let level = if r.path().contains("shop") {
            "siteFullUser"
        } else {
            "siteOwner"
        };
        TestResponse::json(200, &json!({"siteUrl": "x", "permissionLevel": level}))
    })
    .await;
    let c = connector_for(
        &srv,
        SearchConsoleConfig::new([SITE, "https://shop.example.com/"]),
    );
    let report = c.check(&ctx()).await.unwrap();
    assert_eq!(report.summary, "2 sites");
    assert_eq!(
        report.accounts,
        [
            "site sc-domain:example.com (siteOwner)",
            "site https://shop.example.com/ (siteFullUser)"
        ]
    );
    let paths: Vec<String> = srv
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/webmasters/v3/sites/sc-domain%3Aexample.com",
            "/webmasters/v3/sites/https%3A%2F%2Fshop.example.com%2F"
        ]
    );

    // An unverified user cannot read the data: check says so.
    let srv = server_unverified().await;
    let e = connector(&srv).check(&ctx()).await.unwrap_err().to_string();
    assert!(
        e.contains("is an unverified user of site sc-domain:example.com"),
        "{e}"
    );
    // And a 403 there is worded as for a read.
    let srv = server(|_| json_body(403, FORBIDDEN)).await;
    let e = connector(&srv).check(&ctx()).await.unwrap_err().to_string();
    assert!(
        e.contains("site sc-domain:example.com is not verified"),
        "{e}"
    );
}

async fn server_unverified() -> TestServer {
    server(|_| {
        TestResponse::json(
            200,
            &json!({"siteUrl": SITE, "permissionLevel": "siteUnverifiedUser"}),
        )
    })
    .await
}
