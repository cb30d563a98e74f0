//! The Meta Ads connector against a loopback server: real-format bodies
//! saved from a public repository (see `fixtures/SOURCE.md`), paging, async
//! report runs, the request shape, and Meta's errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{CollectSink, Connector, ConnectorError, Context, StreamDef, SyncWindow};
use kpi_connector_meta_ads::{MetaAdsConnector, MetaAdsSource, ads_insights_schema};
use serde_json::{Value, json};

const TOKEN: &str = "EAAB-test-token-5f3a9c";
const INSIGHTS_FIXTURE: &str = include_str!("fixtures/ads_insights_action_product_id.json");
const CAMPAIGNS_FIXTURE: &str = include_str!("fixtures/campaigns.json");

fn connector(server: &TestServer, accounts: &[&str], extra: &str) -> MetaAdsConnector {
    let text = format!(
        "ad_account_ids = {accounts:?}\n\
         access_token = {{ env = \"META_ACCESS_TOKEN\" }}\n\
         base_url = \"{}\"\n\
         throttle_wait_secs = 0.01\n\
         async_poll_interval_secs = 0.01\n\
         {extra}\n\
         [http]\nbackoff_base_secs = 0.01\nbackoff_max_secs = 0.05\ntimeout_secs = 10\n",
        server.url("")
    );
    let config: MetaAdsSource = toml::from_str(&text).unwrap();
    config
        .connector_with(&|name| (name == "META_ACCESS_TOKEN").then(|| TOKEN.to_string()))
        .unwrap()
}

fn stream(c: &MetaAdsConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn window(start: &str, end: &str) -> SyncWindow {
    SyncWindow {
        start: day(start),
        end: day(end),
    }
}

fn ctx() -> Context {
    Context {
        source: "meta_ads".into(),
        today: day("2024-06-01"),
    }
}

/// Query parameters of a recorded request, percent-decoded.
fn query(r: &RecordedRequest) -> Vec<(String, String)> {
    let Some((_, q)) = r.target.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn param(r: &RecordedRequest, name: &str) -> Option<String> {
    query(r)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn all(sink: &CollectSink) -> RecordBatch {
    concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<String> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<f64> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn dates(b: &RecordBatch) -> Vec<NaiveDate> {
    let epoch = day("1970-01-01");
    b.column_by_name("date")
        .unwrap()
        .as_primitive::<Date32Type>()
        .values()
        .iter()
        .map(|d| epoch + chrono::Days::new(*d as u64))
        .collect()
}

fn fixture(body: &str) -> TestResponse {
    TestResponse::new(200)
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// The column names and types staging reads (`queries/staging/meta_ads__*.sql`
/// and the sandbox's `streams.rs`), after the `date` partition column.
#[test]
fn schemas_match_the_raw_stream_layout() {
    let insights: Vec<(String, DataType, bool)> = ads_insights_schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    let u = |n: &str| (n.to_string(), DataType::Utf8, false);
    let i = |n: &str| (n.to_string(), DataType::Int64, false);
    let f = |n: &str| (n.to_string(), DataType::Float64, false);
    assert_eq!(
        insights,
        vec![
            ("date".to_string(), DataType::Date32, false),
            u("account_id"),
            u("account_currency"),
            u("campaign_id"),
            u("campaign_name"),
            u("objective"),
            i("impressions"),
            i("clicks"),
            f("spend"),
            f("actions_lead"),
            f("actions_purchase"),
            f("actions_link_click"),
            f("action_values_purchase"),
        ]
    );
    let campaigns: Vec<String> = kpi_connector_meta_ads::campaigns_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        campaigns,
        ["account_id", "id", "name", "objective", "status"]
    );
}

#[tokio::test]
async fn real_insights_page_lands_as_rows_with_the_right_numbers() {
    let server = TestServer::start(|_| async { fixture(INSIGHTS_FIXTURE) }).await;
    let c = connector(&server, &["act_798085168510957"], "");
    let mut sink = CollectSink::default();
    let stats = c
        .read(
            &stream(&c, "ads_insights"),
            window("2023-06-01", "2023-06-01"),
            &mut sink,
        )
        .await
        .unwrap();

    // Request shape.
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "paging.next is absent: one page only");
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path(), "/v23.0/act_798085168510957/insights");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(param(r, "level").as_deref(), Some("campaign"));
    assert_eq!(param(r, "time_increment").as_deref(), Some("1"));
    assert_eq!(
        param(r, "time_range").as_deref(),
        Some(r#"{"since":"2023-06-01","until":"2023-06-01"}"#)
    );
    assert_eq!(
        param(r, "action_attribution_windows").as_deref(),
        Some(r#"["7d_click","1d_view"]"#)
    );
    assert_eq!(param(r, "limit").as_deref(), Some("100"));
    let fields = param(r, "fields").unwrap();
    for f in [
        "account_id",
        "account_currency",
        "campaign_id",
        "campaign_name",
        "objective",
        "impressions",
        "clicks",
        "spend",
        "actions",
        "action_values",
        "date_start",
    ] {
        assert!(
            fields.split(',').any(|x| x == f),
            "fields lacks {f}: {fields}"
        );
    }
    assert_eq!(param(r, "after"), None);

    // Rows: the fixture's two rows (same campaign and day, split by
    // action_product_id), every number parsed from its string.
    assert_eq!((stats.rows, stats.pages, stats.requests), (2, 1, 1));
    let b = all(&sink);
    assert_eq!(b.schema(), ads_insights_schema());
    assert_eq!(dates(&b), [day("2023-06-01"), day("2023-06-01")]);
    assert_eq!(strings(&b, "account_id"), ["798085168510957"; 2]);
    assert_eq!(strings(&b, "account_currency"), ["USD"; 2]);
    assert_eq!(strings(&b, "campaign_id"), ["23854404676180548"; 2]);
    assert_eq!(
        strings(&b, "campaign_name"),
        ["zzzzzNew - AIA - Advertised Offers"; 2]
    );
    assert_eq!(strings(&b, "objective"), ["PRODUCT_CATALOG_SALES"; 2]);
    assert_eq!(ints(&b, "impressions"), [185, 171]);
    assert_eq!(ints(&b, "clicks"), [9, 7]);
    assert_eq!(floats(&b, "spend"), [14.35, 8.53]);
    // Row 1 has only page_engagement and post_engagement actions; row 2 has
    // link_click with 7d_click "4" and no 1d_view: 4 + 0.
    assert_eq!(floats(&b, "actions_link_click"), [0.0, 4.0]);
    // No lead or purchase action in either row: zero, not null.
    assert_eq!(floats(&b, "actions_lead"), [0.0, 0.0]);
    assert_eq!(floats(&b, "actions_purchase"), [0.0, 0.0]);
    assert_eq!(floats(&b, "action_values_purchase"), [0.0, 0.0]);
    assert_eq!(b.column_by_name("spend").unwrap().null_count(), 0);
}

#[tokio::test]
async fn real_campaigns_page() {
    let server = TestServer::start(|_| async { fixture(CAMPAIGNS_FIXTURE) }).await;
    let c = connector(&server, &["111111111111111"], "page_size = 250");
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, "campaigns"),
        window("2024-03-01", "2024-03-31"),
        &mut sink,
    )
    .await
    .unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.path(), "/v23.0/act_111111111111111/campaigns");
    assert_eq!(
        param(r, "fields").as_deref(),
        Some("id,account_id,name,objective,status")
    );
    assert_eq!(param(r, "limit").as_deref(), Some("250"));
    let b = all(&sink);
    assert_eq!(b.num_rows(), 1);
    assert_eq!(strings(&b, "account_id"), ["111111111111111"]);
    assert_eq!(strings(&b, "id"), ["0000000000000000"]);
    assert_eq!(strings(&b, "name"), ["New Test Campaign"]);
    assert_eq!(strings(&b, "objective"), ["OUTCOME_AWARENESS"]);
    assert_eq!(strings(&b, "status"), ["ARCHIVED"]);
}

fn insight(day: &str, campaign: &str, spend: &str, actions: Value, values: Value) -> Value {
    json!({
        "account_id": "1", "account_currency": "EUR", "campaign_id": campaign,
        "campaign_name": format!("Campaign {campaign}"), "objective": "OUTCOME_LEADS",
        "impressions": "1000", "clicks": "50", "spend": spend,
        "actions": actions, "action_values": values,
        "date_start": day, "date_stop": day
    })
}

fn page(rows: Vec<Value>, after: &str, next: bool) -> TestResponse {
    let mut paging = json!({"cursors": {"before": "QkVGT1JF", "after": after}});
    if next {
        paging["next"] = json!(format!(
            "https://graph.facebook.com/v23.0/act_1/insights?access_token={TOKEN}&after={after}"
        ));
    }
    TestResponse::json(200, &json!({"data": rows, "paging": paging}))
}

#[tokio::test]
async fn insights_follow_the_after_cursor_across_pages() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match param(&r, "after").as_deref() {
            None => page(
                vec![insight("2024-05-01", "11", "10.5", json!([]), json!([]))],
                "Q1VSU09SMQ",
                true,
            ),
            Some("Q1VSU09SMQ") => page(
                vec![insight(
                    "2024-05-02",
                    "11",
                    "20.25",
                    json!([
                        {"action_type": "lead", "value": "5", "7d_click": "3", "1d_view": "2", "28d_click": "4"},
                        {"action_type": "offsite_conversion.fb_pixel_lead", "value": "5", "7d_click": "3", "1d_view": "2"},
                        {"action_type": "purchase", "value": "1", "7d_click": "1"}
                    ]),
                    json!([{"action_type": "purchase", "value": "150.5", "7d_click": "120.50", "1d_view": "30"}]),
                )],
                "Q1VSU09SMg",
                false,
            ),
            Some(other) => TestResponse::text(400, format!("unexpected cursor {other}")),
        }
    })
    .await;
    let c = connector(&server, &["1"], "");
    let mut sink = CollectSink::default();
    let stats = c
        .read(
            &stream(&c, "ads_insights"),
            window("2024-05-01", "2024-05-02"),
            &mut sink,
        )
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The second request is ours again with `after`, on the configured host,
    // not Meta's `next` URL.
    assert_eq!(requests[1].path(), "/v23.0/act_1/insights");
    assert_eq!(param(&requests[1], "after").as_deref(), Some("Q1VSU09SMQ"));
    assert_eq!(param(&requests[1], "level").as_deref(), Some("campaign"));
    assert_eq!((stats.pages, stats.rows), (2, 2));
    assert_eq!(sink.batches.len(), 2, "one batch per page");
    let b = all(&sink);
    assert_eq!(dates(&b), [day("2024-05-01"), day("2024-05-02")]);
    assert_eq!(floats(&b, "spend"), [10.5, 20.25]);
    // lead: 7d_click 3 + 1d_view 2 (28d_click is not a configured window).
    assert_eq!(floats(&b, "actions_lead"), [0.0, 5.0]);
    assert_eq!(floats(&b, "actions_purchase"), [0.0, 1.0]);
    assert_eq!(floats(&b, "action_values_purchase"), [0.0, 150.5]);
}

#[tokio::test]
async fn long_windows_use_an_async_report_run() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&polls);
    let server = TestServer::start(move |r: RecordedRequest| {
        let polls = Arc::clone(&p);
        async move {
            match (r.method.as_str(), r.path()) {
                ("POST", "/v23.0/act_1/insights") => {
                    TestResponse::json(200, &json!({"report_run_id": "6001234567890"}))
                }
                ("GET", "/v23.0/6001234567890") => {
                    let (status, pct) = if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                        ("Job Running", 40)
                    } else {
                        ("Job Completed", 100)
                    };
                    TestResponse::json(
                        200,
                        &json!({"id": "6001234567890", "async_status": status, "async_percent_completion": pct}),
                    )
                }
                ("GET", "/v23.0/6001234567890/insights") => match param(&r, "after").as_deref() {
                    None => page(
                        vec![insight("2024-01-01", "7", "1.25", json!([]), json!([]))],
                        "QUFB",
                        true,
                    ),
                    _ => page(
                        vec![insight("2024-03-31", "7", "2.75", json!([]), json!([]))],
                        "QkJC",
                        false,
                    ),
                },
                _ => TestResponse::text(404, "no such path"),
            }
        }
    })
    .await;
    let c = connector(&server, &["act_1"], "");
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, "ads_insights"),
        window("2024-01-01", "2024-03-31"),
        &mut sink,
    )
    .await
    .unwrap();
    let requests = server.requests();
    let shape: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path().to_string()))
        .collect();
    let s = |m: &str, p: &str| (m.to_string(), p.to_string());
    assert_eq!(
        shape,
        [
            s("POST", "/v23.0/act_1/insights"),
            s("GET", "/v23.0/6001234567890"),
            s("GET", "/v23.0/6001234567890"),
            s("GET", "/v23.0/6001234567890/insights"),
            s("GET", "/v23.0/6001234567890/insights"),
        ]
    );
    // The run is started with the same parameters as a synchronous read.
    assert_eq!(
        param(&requests[0], "time_range").as_deref(),
        Some(r#"{"since":"2024-01-01","until":"2024-03-31"}"#)
    );
    assert_eq!(param(&requests[0], "level").as_deref(), Some("campaign"));
    assert_eq!(param(&requests[0], "time_increment").as_deref(), Some("1"));
    assert_eq!(param(&requests[4], "after").as_deref(), Some("QUFB"));
    let b = all(&sink);
    assert_eq!(dates(&b), [day("2024-01-01"), day("2024-03-31")]);
    assert_eq!(floats(&b, "spend"), [1.25, 2.75]);
}

#[tokio::test]
async fn a_failed_async_run_is_a_clear_error() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        if r.method == "POST" {
            TestResponse::json(200, &json!({"report_run_id": "77"}))
        } else {
            TestResponse::json(
                200,
                &json!({"id": "77", "async_status": "Job Failed", "async_percent_completion": 0}),
            )
        }
    })
    .await;
    let c = connector(&server, &["1"], "async_after_days = 7");
    let err = c
        .read(
            &stream(&c, "ads_insights"),
            window("2024-01-01", "2024-01-31"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("asynchronous report run 77 for act_1 (2024-01-01 to 2024-01-31) ended with async_status \"Job Failed\""),
        "{err}"
    );
    // The source and stream are the runner's to add (`meta_ads.ads_insights: ...`).
    assert!(!err.contains("source meta_ads"), "{err}");
}

fn expired_token() -> TestResponse {
    TestResponse::json(
        400,
        &json!({"error": {
            "message": "Error validating access token: Session has expired on Thursday, 05-Jun-25 09:00:00 PDT. The current time is Friday, 06-Jun-25 02:13:11 PDT.",
            "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "AQx1yZ2"
        }}),
    )
}

#[tokio::test]
async fn an_expired_token_names_the_variable_and_meta_message_but_not_the_token() {
    let server = TestServer::start(|_| async { expired_token() }).await;
    let c = connector(&server, &["1"], "");
    let err = c
        .read(
            &stream(&c, "ads_insights"),
            window("2024-05-01", "2024-05-02"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Http(ref h) if h.status() == Some(400)));
    let text = err.to_string();
    eprintln!("{text}");
    assert!(text.contains("GET http://127.0.0.1:"), "{text}");
    assert!(text.contains("/v23.0/act_1/insights"), "{text}");
    assert!(text.contains("returned 400 Bad Request"), "{text}");
    assert!(
        text.contains("Error validating access token: Session has expired on Thursday, 05-Jun-25"),
        "{text}"
    );
    assert!(
        text.contains("[Meta refused the access token in META_ACCESS_TOKEN (error 190"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
    // A refused token is not retried.
    assert_eq!(server.requests().len(), 1);

    // `kpi check` says the same.
    let err = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(err.contains("Session has expired"), "{err}");
    assert!(err.contains("META_ACCESS_TOKEN"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}

#[tokio::test]
async fn a_token_echoed_by_the_api_is_scrubbed() {
    let server = TestServer::start(|_| async {
        TestResponse::json(
            400,
            &json!({"error": {"message": format!("Invalid OAuth access token - Cannot parse access token {TOKEN}"),
                              "type": "OAuthException", "code": 190}}),
        )
    })
    .await;
    let c = connector(&server, &["1"], "");
    let err = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(err.contains("Cannot parse access token ***"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}

#[tokio::test]
async fn too_many_requests_with_retry_after_then_success_recovers() {
    let server = TestServer::sequence(vec![
        TestResponse::json(
            429,
            &json!({"error": {"message": "(#80004) There have been too many calls to this ad-account.", "code": 80004}}),
        )
        .header("Retry-After", "1"),
        fixture(INSIGHTS_FIXTURE),
    ])
    .await;
    let c = connector(&server, &["798085168510957"], "");
    let mut sink = CollectSink::default();
    let t0 = std::time::Instant::now();
    let stats = c
        .read(
            &stream(&c, "ads_insights"),
            window("2023-06-01", "2023-06-01"),
            &mut sink,
        )
        .await
        .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(
        (
            stats.rows,
            stats.requests,
            stats.retries,
            stats.throttled_waits
        ),
        (2, 2, 1, 1)
    );
    assert_eq!(floats(&all(&sink), "spend"), [14.35, 8.53]);
}

#[tokio::test]
async fn meta_rate_limit_codes_sent_as_400_are_waited_out() {
    let server = TestServer::sequence(vec![
        TestResponse::json(
            400,
            &json!({"error": {"message": "(#17) User request limit reached", "type": "OAuthException",
                              "is_transient": true, "code": 17, "error_subcode": 2446079}}),
        ),
        fixture(INSIGHTS_FIXTURE),
    ])
    .await;
    let c = connector(&server, &["798085168510957"], "");
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, "ads_insights"),
        window("2023-06-01", "2023-06-01"),
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(server.requests().len(), 2);
    assert_eq!(sink.rows(), 2);

    // Other 400s fail at once, with Meta's message.
    let server = TestServer::start(|_| async {
        TestResponse::json(
            400,
            &json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}),
        )
    })
    .await;
    let c = connector(&server, &["1"], "");
    let err = c
        .read(
            &stream(&c, "ads_insights"),
            window("2023-06-01", "2023-06-01"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("returned 400 Bad Request: (#100) Invalid parameter"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let server = TestServer::start(|_| async {
        TestResponse::new(200)
            .header("content-type", "application/json")
            .body(r#"{"data": [{"account_id": "1", "spend": "#)
    })
    .await;
    let c = connector(&server, &["1"], "");
    let err = c
        .read(
            &stream(&c, "ads_insights"),
            window("2024-05-01", "2024-05-01"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/v23.0/act_1/insights"), "{err}");
    assert!(err.contains("the response is not valid JSON"), "{err}");
    assert!(
        err.contains(r#"body starts: "{\"data\": [{\"account_id\""#),
        "{err}"
    );
}

#[tokio::test]
async fn a_page_without_data_or_with_bad_numbers_is_a_clear_error() {
    let server =
        TestServer::start(|_| async { TestResponse::json(200, &json!({"result": []})) }).await;
    let c = connector(&server, &["1"], "");
    let s = stream(&c, "ads_insights");
    let w = window("2024-05-01", "2024-05-01");
    let err = c
        .read(&s, w, &mut CollectSink::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the body has no `data` array"), "{err}");

    let server = TestServer::start(|_| async {
        TestResponse::json(
            200,
            &json!({"data": [insight("2024-05-01", "1", "12,50", json!([]), json!([]))]}),
        )
    })
    .await;
    let c = connector(&server, &["1"], "");
    let err = c
        .read(&s, w, &mut CollectSink::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"row 0, field `spend`: expected Float64, got "12,50""#),
        "{err}"
    );
}

#[tokio::test]
async fn check_reports_each_account() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        let body = match r.path() {
            "/v23.0/act_1" => {
                json!({"id": "act_1", "name": "Acme EU", "currency": "EUR", "timezone_name": "Europe/Madrid", "account_status": 1})
            }
            _ => {
                json!({"id": "act_2", "name": "Acme US", "currency": "USD", "timezone_name": "America/New_York", "account_status": 2})
            }
        };
        TestResponse::json(200, &body)
    })
    .await;
    let c = connector(&server, &["act_1", "2"], "");
    let report = c.check(&ctx()).await.unwrap();
    assert_eq!(
        report.accounts,
        [
            "act_1 Acme EU (EUR, Europe/Madrid)",
            "act_2 Acme US (USD, America/New_York) [account_status 2: not active]"
        ]
    );
    assert!(report.summary.starts_with("2 ad accounts: act_1 Acme EU"));
    let r = &server.requests()[0];
    assert_eq!(
        param(r, "fields").as_deref(),
        Some("name,currency,timezone_name,account_status")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn streams_are_declared_for_the_runner() {
    let server = TestServer::start(|_| async { TestResponse::new(404) }).await;
    let c = connector(&server, &["1"], "lookback_days = 30");
    let streams = c.streams();
    for s in &streams {
        s.validate().unwrap();
    }
    let insights = &streams[0];
    assert_eq!(insights.name, "ads_insights");
    assert_eq!(insights.cursor.as_ref().unwrap().lookback_days, 30);
    assert_eq!(
        insights.write_mode,
        kpi_connector::WriteMode::ReplaceDays {
            date_column: "date".into()
        }
    );
    assert_eq!(streams[1].write_mode, kpi_connector::WriteMode::Snapshot);
    let mut other = insights.clone();
    other.name = "ads".into();
    let err = c
        .read(
            &other,
            window("2024-01-01", "2024-01-01"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown stream `ads`");
}
