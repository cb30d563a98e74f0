//! The Mailchimp connector against a loopback server: real-format bodies
//! (see `fixtures/README.md`), the request shape (basic auth, `fields`,
//! `count`/`offset`, the send-time window), paging against `total_items`,
//! the data centre from the key, `kpi check`, and Mailchimp's errors.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Float64Type, Int64Type, TimestampMillisecondType};
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{
    Auth, CollectSink, Connector, ConnectorError, Context, HttpSource, ReadStats, Secret,
    SyncWindow,
};
use kpi_connector_mailchimp::{MailchimpConfig, MailchimpSource};
use serde_json::{Value, json};

const KEY: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f-us6";
/// base64("kpi:" + KEY): the header carries the key too.
const BASIC: &str = "a3BpOmYwZTFkMmMzYjRhNTk2ODc3ODY5NWE0YjNjMmQxZTBmLXVzNg==";
const REPORTS: &str = include_str!("fixtures/reports.json");
const CAMPAIGNS: &str = include_str!("fixtures/campaigns.json");
const AUTOMATIONS: &str = include_str!("fixtures/automations.json");

fn connector_with(server: &TestServer, extra: &str) -> Box<dyn Connector> {
    let text = format!(
        "base_url = \"{}\"\n{extra}\n\
         [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 2\n",
        server.url("")
    );
    let config: MailchimpSource = toml::from_str(&text).unwrap();
    config
        .build_with("mailchimp", &|name| {
            (name == "MAILCHIMP_API_KEY").then(|| KEY.to_string())
        })
        .unwrap()
}

fn connector(server: &TestServer) -> Box<dyn Connector> {
    connector_with(server, "")
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
        source: "mailchimp".into(),
        today: day("2025-11-01"),
    }
}

async fn read(
    c: &dyn Connector,
    stream: &str,
    w: SyncWindow,
) -> Result<(ReadStats, RecordBatch), ConnectorError> {
    let def = c.streams().into_iter().find(|s| s.name == stream).unwrap();
    let mut sink = CollectSink::default();
    let stats = c.read(&def, w, &mut sink).await?;
    let batch = concat_batches(&def.schema, &sink.batches).unwrap();
    Ok((stats, batch))
}

/// Query parameters of a recorded request, percent-decoded.
fn param(r: &RecordedRequest, name: &str) -> Option<String> {
    let (_, q) = r.target.split_once('?')?;
    q.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == name).then(|| decode(v))
    })
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

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    let a = b.column_by_name(name).unwrap();
    a.as_primitive::<Int64Type>().values().to_vec()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<f64> {
    let a = b.column_by_name(name).unwrap();
    a.as_primitive::<Float64Type>().values().to_vec()
}

/// Epoch milliseconds, `None` for null.
fn stamps(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn dates(b: &RecordBatch) -> Vec<NaiveDate> {
    let a = b.column_by_name("date").unwrap();
    a.as_primitive::<Date32Type>()
        .values()
        .iter()
        .map(|d| day("1970-01-01") + chrono::Days::new(*d as u64))
        .collect()
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn fixture(body: &str) -> TestResponse {
    TestResponse::new(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
}

/// Mailchimp's problem+json error body.
fn problem(status: u16, title: &str, detail: &str) -> TestResponse {
    TestResponse::json(
        status,
        &json!({
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
        }),
    )
    .header("content-type", "application/problem+json; charset=utf-8")
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

#[tokio::test]
async fn reports_are_read_with_basic_auth_fields_and_the_send_window() {
    let server = TestServer::sequence(vec![fixture(REPORTS)]).await;
    let c = connector(&server);
    let (stats, b) = read(c.as_ref(), "reports", window("2022-12-01", "2025-10-31"))
        .await
        .unwrap();

    // One request: total_items (3) came in the first page.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path(), "/3.0/reports");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {BASIC}").as_str())
    );
    assert_eq!(param(r, "count").as_deref(), Some("500"));
    assert_eq!(param(r, "offset").as_deref(), Some("0"));
    assert_eq!(
        param(r, "since_send_time").as_deref(),
        Some("2022-12-01T00:00:00+00:00")
    );
    // The window's last day is included: sent before the next midnight.
    assert_eq!(
        param(r, "before_send_time").as_deref(),
        Some("2025-11-01T00:00:00+00:00")
    );
    let fields = param(r, "fields").unwrap();
    for f in [
        "reports.id",
        "reports.opens",
        "reports.clicks",
        "total_items",
    ] {
        assert!(fields.split(',').any(|x| x == f), "{fields}");
    }
    assert_eq!((stats.rows, stats.pages, stats.requests), (3, 1, 1));

    // The real report (Airbyte's test account) and the documented example.
    assert_eq!(
        strings(&b, "id"),
        [Some("a79651273b"), Some("42694e9e57"), Some("9c1e0d7a42")].map(|s| s.map(String::from))
    );
    assert_eq!(
        dates(&b),
        [day("2022-12-27"), day("2025-10-15"), day("2025-10-17")]
    );
    assert_eq!(ints(&b, "emails_sent"), [50, 10000, 12]);
    assert_eq!(ints(&b, "opens_unique_opens"), [50, 2891, 0]);
    assert_eq!(ints(&b, "opens_opens_total"), [412, 3245, 0]);
    assert_eq!(ints(&b, "clicks_unique_subscriber_clicks"), [33, 721, 0]);
    assert_eq!(ints(&b, "clicks_unique_clicks"), [47, 743, 0]);
    assert_eq!(ints(&b, "bounces_hard_bounces"), [0, 45, 0]);
    assert_eq!(ints(&b, "bounces_soft_bounces"), [0, 23, 1]);
    assert_eq!(ints(&b, "forwards_forwards_count"), [0, 127, 0]);
    assert_eq!(ints(&b, "unsubscribed"), [0, 15, 0]);
    assert_eq!(ints(&b, "abuse_reports"), [0, 2, 0]);
    assert_eq!(floats(&b, "opens_open_rate")[0], 1.0);
    assert_eq!(floats(&b, "clicks_click_rate")[0], 0.66);
    assert_eq!(
        strings(&b, "type"),
        [Some("regular"), Some("regular"), Some("automation")].map(|s| s.map(String::from))
    );
    assert_eq!(strings(&b, "list_name")[0].as_deref(), Some("Airbyte"));
    assert_eq!(
        strings(&b, "subject_line")[0].as_deref(),
        Some("Airbyte Test")
    );
    assert_eq!(
        stamps(&b, "send_time"),
        [
            Some(ms("2022-12-27T08:36:55+00:00")),
            Some(ms("2025-10-15T10:00:00+00:00")),
            Some(ms("2025-10-17T01:45:00+00:00")),
        ]
    );
    // "" before the first open or click: null.
    assert_eq!(
        stamps(&b, "opens_last_open"),
        [
            Some(ms("2023-01-09T10:07:54+00:00")),
            Some(ms("2025-10-20T15:23:11+00:00")),
            None
        ]
    );
    assert_eq!(stamps(&b, "clicks_last_click")[2], None);
}

/// A server that pages the fixture's reports by `count` and `offset`, as
/// Mailchimp does, with `total_items` on every page.
async fn paging_server(total_items: bool) -> TestServer {
    let all: Value = serde_json::from_str(REPORTS).unwrap();
    TestServer::start(move |r| {
        let reports = all["reports"].as_array().unwrap().clone();
        async move {
            let count: usize = param(&r, "count").unwrap().parse().unwrap();
            let offset: usize = param(&r, "offset").unwrap().parse().unwrap();
            let page: Vec<Value> = reports.iter().skip(offset).take(count).cloned().collect();
            let mut body = json!({ "reports": page });
            if total_items {
                body["total_items"] = json!(reports.len());
            }
            TestResponse::json(200, &body)
        }
    })
    .await
}

#[tokio::test]
async fn pages_follow_the_offset_until_total_items() {
    let server = paging_server(true).await;
    let c = connector_with(&server, "page_size = 2");
    let (stats, b) = read(c.as_ref(), "reports", window("2022-12-01", "2025-10-31"))
        .await
        .unwrap();
    assert_eq!(b.num_rows(), 3);
    let offsets: Vec<String> = server
        .requests()
        .iter()
        .map(|r| param(r, "offset").unwrap())
        .collect();
    assert_eq!(offsets, ["0", "2"]);
    assert_eq!((stats.pages, stats.requests), (2, 2));

    // A page that fills `count` exactly: total_items ends it without an
    // empty request; without total_items the empty page does.
    let server = paging_server(true).await;
    let c = connector_with(&server, "page_size = 3");
    read(c.as_ref(), "reports", window("2022-12-01", "2025-10-31"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);
    let server = paging_server(false).await;
    let c = connector_with(&server, "page_size = 3");
    let (_, b) = read(c.as_ref(), "reports", window("2022-12-01", "2025-10-31"))
        .await
        .unwrap();
    assert_eq!((b.num_rows(), server.requests().len()), (3, 2));
}

#[tokio::test]
async fn reports_outside_the_window_are_left_out() {
    // A server that ignores since_send_time/before_send_time.
    let server = TestServer::sequence(vec![fixture(REPORTS)]).await;
    let c = connector(&server);
    let (_, b) = read(c.as_ref(), "reports", window("2025-10-17", "2025-10-17"))
        .await
        .unwrap();
    assert_eq!(strings(&b, "id"), [Some("9c1e0d7a42".to_string())]);
    assert_eq!(dates(&b), [day("2025-10-17")]);
}

#[tokio::test]
async fn a_page_without_the_reports_array_is_refused() {
    let server = TestServer::sequence(vec![fixture(AUTOMATIONS)]).await;
    let c = connector(&server);
    let e = read(c.as_ref(), "reports", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("unexpected response from GET http://127.0.0.1:"),
        "{e}"
    );
    assert!(
        e.ends_with("the body has no `reports` array (expected a /3.0/reports page)"),
        "{e}"
    );
    // A report missing a count is named with its row and field.
    let broken = json!({"reports": [{"id": "x1", "send_time": "2024-01-02T10:00:00+00:00",
        "campaign_title": "t", "type": "regular", "list_id": "l", "list_name": "n",
        "subject_line": "s", "emails_sent": "many"}], "total_items": 1});
    let server = TestServer::sequence(vec![TestResponse::json(200, &broken)]).await;
    let c = connector(&server);
    let e = read(c.as_ref(), "reports", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("row 0, field `emails_sent`: expected Int64, got \"many\""),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------

#[tokio::test]
async fn campaigns_carry_the_google_analytics_slug() {
    let server = TestServer::sequence(vec![fixture(CAMPAIGNS)]).await;
    let c = connector(&server);
    // A snapshot: the window is not sent.
    let (stats, b) = read(c.as_ref(), "campaigns", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap();
    let r = &server.requests()[0];
    assert_eq!(r.path(), "/3.0/campaigns");
    assert_eq!(param(r, "sort_field").as_deref(), Some("create_time"));
    assert_eq!(param(r, "sort_dir").as_deref(), Some("ASC"));
    assert_eq!(param(r, "since_send_time"), None);
    assert!(
        param(r, "fields")
            .unwrap()
            .contains("campaigns.tracking.google_analytics")
    );
    assert_eq!(stats.rows, 3);
    assert_eq!(
        strings(&b, "id"),
        [Some("324b8a398e"), Some("a79651273b"), Some("42694e9e57")].map(|s| s.map(String::from))
    );
    assert_eq!(
        strings(&b, "status"),
        [Some("save"), Some("sent"), Some("sent")].map(|s| s.map(String::from))
    );
    // Tracking off is "" as Mailchimp sends it; a draft has no send time.
    assert_eq!(
        strings(&b, "tracking_google_analytics"),
        [
            Some(""),
            Some("airbyte_test_dec22"),
            Some("weekly_newsletter")
        ]
        .map(|s| s.map(String::from))
    );
    assert_eq!(
        stamps(&b, "send_time"),
        [
            None,
            Some(ms("2022-12-27T08:36:55+00:00")),
            Some(ms("2025-10-15T10:00:00+00:00"))
        ]
    );
    assert_eq!(
        strings(&b, "settings_title")[0].as_deref(),
        Some("Untitled")
    );
}

// ---------------------------------------------------------------------------
// The data centre, check
// ---------------------------------------------------------------------------

#[test]
fn the_host_is_the_keys_data_centre() {
    let own = MailchimpConfig::default();
    let basic = |key: &str| Auth::Basic {
        username: "kpi".into(),
        password: Secret::new(key),
    };
    assert_eq!(
        own.base_url_from(&basic(KEY)).unwrap().as_deref(),
        Some("https://us6.api.mailchimp.com")
    );
    let e = own
        .base_url_from(&basic("f0e1d2c3b4a5968778695a4b3c2d1e0f"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("MAILCHIMP_API_KEY") && e.contains("-us6"), "{e}");
    assert!(!e.contains("f0e1d2c3"), "{e}");
    let e = own
        .base_url_from(&Auth::Bearer(Secret::new("oauth-token")))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("base_url is not set"), "{e}");

    // Through the config: a key without a suffix fails the build, naming
    // the variable and not the key.
    let config: MailchimpSource = toml::from_str("").unwrap();
    let e = config
        .build_with("mailchimp", &|_| Some("nodatacentre0key".into()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("MAILCHIMP_API_KEY") && !e.contains("nodatacentre0key"),
        "{e}"
    );
    let e = config.build_with("mailchimp", &|_| None).err().unwrap();
    assert_eq!(
        e.to_string(),
        "environment variable MAILCHIMP_API_KEY is not set"
    );
    let c = config
        .build_with("mailchimp", &|_| Some(KEY.into()))
        .unwrap();
    assert_eq!(c.parallel_reads(), 10);
}

#[tokio::test]
async fn check_names_the_account_and_its_audiences() {
    let server = TestServer::start(|r| async move {
        match r.path() {
            "/3.0/" => TestResponse::json(
                200,
                &json!({"account_id": "caf9055242d41edd9215d1898", "account_name": "Airbyte",
                        "account_timezone": "Europe/Kiev", "total_subscribers": 47}),
            ),
            "/3.0/lists" => TestResponse::json(
                200,
                &json!({"lists": [{"id": "16d6ec4ffc", "name": "Airbyte",
                        "stats": {"member_count": 47}}], "total_items": 1}),
            ),
            _ => problem(
                404,
                "Resource Not Found",
                "The requested resource could not be found.",
            ),
        }
    })
    .await;
    let report = connector(&server).check(&ctx()).await.unwrap();
    assert_eq!(
        report.summary,
        "account Airbyte (caf9055242d41edd9215d1898, Europe/Kiev), 47 subscribers"
    );
    assert_eq!(
        report.accounts,
        ["audience 16d6ec4ffc Airbyte (47 members)"]
    );
    let reqs = server.requests();
    assert_eq!(
        param(&reqs[0], "fields").as_deref(),
        Some("account_id,account_name,account_timezone,total_subscribers")
    );
    assert_eq!(reqs[1].path(), "/3.0/lists");
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_invalid_key_is_named_without_its_value_and_not_retried() {
    let server = TestServer::sequence(vec![problem(
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )])
    .await;
    let c = connector(&server);
    let e = read(c.as_ref(), "reports", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "returned 401 Unauthorized: API Key Invalid: Your API key may be invalid, or \
                    you've attempted to access the wrong datacenter."
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "[source mailchimp: Mailchimp refused the API key: check that MAILCHIMP_API_KEY"
        ),
        "{e}"
    );
    assert!(
        !e.contains(KEY) && !e.contains(BASIC) && !e.contains("f0e1d2c3"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
    // kpi check says the same.
    let e = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(
        e.contains("API Key Invalid") && e.contains("MAILCHIMP_API_KEY"),
        "{e}"
    );
}

#[tokio::test]
async fn a_forbidden_read_names_the_role() {
    let server = TestServer::sequence(vec![problem(
        403,
        "Forbidden",
        "You don't have permission to access this resource",
    )])
    .await;
    let c = connector(&server);
    let e = read(c.as_ref(), "campaigns", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("403 Forbidden: Forbidden: You don't have permission"),
        "{e}"
    );
    assert!(e.contains("Mailchimp user role"), "{e}");
}

#[tokio::test]
async fn too_many_connections_and_server_errors_are_retried() {
    let server = TestServer::sequence(vec![
        problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
        )
        .header("retry-after", "0"),
        problem(
            500,
            "Internal Server Error",
            "An unexpected internal error has occurred.",
        ),
        fixture(REPORTS),
    ])
    .await;
    let c = connector(&server);
    let (stats, b) = read(c.as_ref(), "reports", window("2022-12-01", "2025-10-31"))
        .await
        .unwrap();
    assert_eq!(b.num_rows(), 3);
    assert_eq!(
        (stats.requests, stats.retries, stats.throttled_waits),
        (3, 2, 1)
    );

    // Every time: the read fails with Mailchimp's words.
    let server = TestServer::sequence(vec![problem(
        500,
        "Internal Server Error",
        "An unexpected internal error has occurred.",
    )])
    .await;
    let c = connector(&server);
    let e = read(c.as_ref(), "reports", window("2024-01-01", "2024-01-31"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "500 Internal Server Error after 2 retries: Internal Server Error: An \
                    unexpected internal error has occurred."
        ),
        "{e}"
    );
    assert!(!e.contains("[source"), "{e}");
}
