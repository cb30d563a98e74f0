//! The Salesforce connector against a loopback server answering with
//! Salesforce's documented bodies (see `fixtures/README.md`): the OAuth2
//! login naming the instance, the SOQL request, a two-page
//! `nextRecordsUrl` chain, null and nested fields, and Salesforce's errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Float64Type, TimestampMillisecondType};
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{CollectSink, Connector, Context, StreamDef, SyncWindow};
use kpi_connector_salesforce::{SalesforceConnector, SalesforceSource};
use serde_json::Value;

const TOKEN_RESPONSE: &str = include_str!("fixtures/token_response.json");
const PAGE_1: &str = include_str!("fixtures/opportunities_page_1.json");
const PAGE_2: &str = include_str!("fixtures/opportunities_page_2.json");
const INVALID_SESSION: &str = include_str!("fixtures/invalid_session_id.json");
const REQUEST_LIMIT: &str = include_str!("fixtures/request_limit_exceeded.json");
const INVALID_FIELD: &str = include_str!("fixtures/invalid_field.json");

const TOKEN_PATH: &str = "/services/oauth2/token";

fn secrets(name: &str) -> Option<String> {
    match name {
        "SALESFORCE_CLIENT_ID" => Some("3MVG9-client-id".into()),
        "SALESFORCE_CLIENT_SECRET" => Some("client-SECRET-123".into()),
        "SALESFORCE_REFRESH_TOKEN" => Some("5Aep-REFRESH-456".into()),
        _ => None,
    }
}

/// A connector that logs in at the server's token endpoint, with no
/// `base_url`: the token response names the instance.
fn connector(server: &TestServer, extra: &str) -> SalesforceConnector {
    let text = format!(
        "token_url = \"{}\"\n{extra}\n[http]\nbackoff_base_secs = 0.01\nbackoff_max_secs = 0.05\nmax_retries = 2\ntimeout_secs = 10\n",
        server.url(TOKEN_PATH)
    );
    let config: SalesforceSource = toml::from_str(&text).unwrap();
    config.connector_with(&secrets).unwrap()
}

/// The documented token response, its `instance_url` this server.
fn token(r: &RecordedRequest) -> TestResponse {
    let body = r.body_text();
    assert!(body.contains("grant_type=refresh_token"), "{body}");
    assert!(body.contains("refresh_token=5Aep-REFRESH-456"), "{body}");
    let mut json: Value = serde_json::from_str(TOKEN_RESPONSE).unwrap();
    json["instance_url"] = Value::from(format!("http://{}", r.header("host").unwrap()));
    TestResponse::json(200, &json)
}

fn body(status: u16, text: &str) -> TestResponse {
    TestResponse::new(status)
        .header("content-type", "application/json;charset=UTF-8")
        .body(text.as_bytes().to_vec())
}

fn stream(c: &SalesforceConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn all(sink: &CollectSink) -> RecordBatch {
    concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// The `q` parameter of a recorded request, decoded.
fn soql(r: &RecordedRequest) -> String {
    let (_, query) = r.target.split_once('?').unwrap();
    let q = query.split('&').find_map(|p| p.strip_prefix("q=")).unwrap();
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&q[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn two_pages_chained_by_next_records_url_land_flattened() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            "/services/data/v62.0/query" => body(200, PAGE_1),
            "/services/data/v62.0/query/01gD0000002HU6KIAW-2" => body(200, PAGE_2),
            other => panic!("unexpected {other}"),
        }
    })
    .await;
    let c = connector(&server, "batch_size = 2");
    let window = SyncWindow {
        start: d("2024-04-01"),
        end: d("2024-04-30"),
    };
    let mut sink = CollectSink::default();
    let stats = c
        .read(&stream(&c, "opportunities"), window, &mut sink)
        .await
        .unwrap();
    assert_eq!((stats.rows, stats.pages), (3, 2));

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(
        paths,
        [
            TOKEN_PATH,
            "/services/data/v62.0/query",
            "/services/data/v62.0/query/01gD0000002HU6KIAW-2"
        ]
    );
    let first = &requests[1];
    assert_eq!(
        soql(first),
        "SELECT Id, Name, CreatedDate, SystemModstamp, CloseDate, StageName, IsClosed, IsWon, \
         Amount, Type, LeadSource, ContactId, Owner.Name, CurrencyIsoCode FROM Opportunity \
         WHERE SystemModstamp >= 2024-04-01T00:00:00Z ORDER BY SystemModstamp, Id"
    );
    assert_eq!(first.header("sforce-query-options"), Some("batchSize=2"));
    let bearer = "Bearer 00DB0000000TfcR!AQQAQFhoK8vTMg_rKA.esrJ2bCs.OOIjJgl.9Cx6O7KqjZmHMLOyVb.U61BU9tm4xRusf7d3fD1P9oefzqS6i9sJMPWj48IK";
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("authorization") == Some(bearer))
    );
    // The next page is the path the body named, with no parameters.
    assert!(!requests[2].target.contains('?'));

    let b = all(&sink);
    assert_eq!(
        strings(&b, "Id"),
        [
            s("006D000000IRFmaIAH"),
            s("006D000000IomazIAB"),
            s("006D000000JpqrSIAR")
        ]
    );
    // The relationship flattened, a null one null.
    assert_eq!(
        strings(&b, "Owner_Name"),
        [s("Jane Smith"), None, s("Tom Jones")]
    );
    assert_eq!(strings(&b, "ContactId")[1], None);
    assert_eq!(
        strings(&b, "CurrencyIsoCode"),
        [s("USD"), s("EUR"), s("EUR")]
    );
    let amount = b
        .column_by_name("Amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(
        (amount.value(0), amount.is_null(1), amount.value(2)),
        (75000.0, true, 15000.5)
    );
    let created = b
        .column_by_name("CreatedDate")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    // 2024-03-15T23:30:00.000+0000
    assert_eq!(created.value(1), 1_710_545_400_000);
    let close = b
        .column_by_name("CloseDate")
        .unwrap()
        .as_primitive::<Date32Type>();
    assert_eq!(
        Date32Type::to_naive_date_opt(close.value(0)),
        Some(d("2024-04-02"))
    );
    let won = b.column_by_name("IsWon").unwrap().as_boolean();
    assert_eq!(
        (won.value(0), won.value(1), won.value(2)),
        (true, false, false)
    );
}

/// A first sync (a window of everything) reads every record, and a
/// single-currency org's opportunities take its currency without asking
/// for CurrencyIsoCode (the field does not exist there).
#[tokio::test]
async fn a_whole_read_has_no_filter_and_a_single_currency_org_no_currency_field() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            _ => body(200, PAGE_2),
        }
    })
    .await;
    let c = connector(&server, "org_currency = \"gbp\"");
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, "opportunities"),
        SyncWindow::everything(d("2024-04-30")),
        &mut sink,
    )
    .await
    .unwrap();
    let q = soql(&server.requests()[1]);
    assert!(
        q.ends_with("Owner.Name FROM Opportunity ORDER BY SystemModstamp, Id"),
        "{q}"
    );
    assert!(!q.contains("CurrencyIsoCode"), "{q}");
    assert_eq!(strings(&all(&sink), "CurrencyIsoCode"), [s("GBP")]);
}

/// An expired session: one fresh token, one retry, the read completes. A
/// second refusal fails with Salesforce's code and the variable to renew.
#[tokio::test]
async fn invalid_session_id_refreshes_once_then_fails() {
    let queries = Arc::new(AtomicUsize::new(0));
    let q = queries.clone();
    let server = TestServer::start(move |r: RecordedRequest| {
        let n = if r.path().starts_with("/services/data") {
            q.fetch_add(1, Ordering::SeqCst)
        } else {
            0
        };
        async move {
            match r.path() {
                TOKEN_PATH => token(&r),
                _ if n == 0 => body(401, INVALID_SESSION),
                _ => body(200, PAGE_2),
            }
        }
    })
    .await;
    let c = connector(&server, "");
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, "opportunities"),
        SyncWindow::everything(d("2024-04-30")),
        &mut sink,
    )
    .await
    .unwrap();
    assert_eq!(sink.rows(), 1);
    assert_eq!(server.hits(TOKEN_PATH), 2, "one login, one refresh");

    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            _ => body(401, INVALID_SESSION),
        }
    })
    .await;
    let c = connector(&server, "");
    let e = c
        .read(
            &stream(&c, "leads"),
            SyncWindow::everything(d("2024-04-30")),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401"), "{e}");
    assert!(
        e.contains("INVALID_SESSION_ID: Session expired or invalid"),
        "{e}"
    );
    assert!(e.contains("SALESFORCE_REFRESH_TOKEN"), "{e}");
    assert!(
        !e.contains("5Aep-REFRESH-456") && !e.contains("00DB0000000TfcR!"),
        "{e}"
    );
    assert_eq!(server.hits("/services/data"), 2);
}

/// The daily API limit is not waited out: one request, and the error names
/// the limit.
#[tokio::test]
async fn request_limit_exceeded_fails_at_once_naming_the_daily_limit() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            _ => body(403, REQUEST_LIMIT),
        }
    })
    .await;
    let c = connector(&server, "");
    let e = c
        .read(
            &stream(&c, "contacts"),
            SyncWindow::everything(d("2024-04-30")),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("403"), "{e}");
    assert!(
        e.contains("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
        "{e}"
    );
    assert!(e.contains("daily API request limit"), "{e}");
    assert_eq!(server.hits("/services/data"), 1, "not retried");
}

/// A field the org does not have: Salesforce's words, and the object.
#[tokio::test]
async fn invalid_field_quotes_salesforce_and_names_the_object() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            _ => body(400, INVALID_FIELD),
        }
    })
    .await;
    let c = connector(&server, "mql_date_field = \"MQL_Date__c\"");
    let e = c
        .read(
            &stream(&c, "leads"),
            SyncWindow::everything(d("2024-04-30")),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    let q = soql(&server.requests()[1]);
    assert!(
        q.contains("ConvertedOpportunityId, MQL_Date__c FROM Lead"),
        "{q}"
    );
    assert!(e.contains("INVALID_FIELD"), "{e}");
    assert!(
        e.contains("No such column 'MQL_Date__c' on entity 'Lead'"),
        "{e}"
    );
    assert!(e.contains("Salesforce refused the query of Lead"), "{e}");
    assert_eq!(server.hits("/services/data"), 1, "not retried");
}

/// `kpi check`: the login, the instance, and the daily requests left.
#[tokio::test]
async fn check_reports_the_instance_and_the_daily_limit() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            TOKEN_PATH => token(&r),
            "/services/data/v62.0/limits" => TestResponse::json(
                200,
                &serde_json::json!({"DailyApiRequests": {"Max": 15000, "Remaining": 14998}}),
            ),
            other => panic!("unexpected {other}"),
        }
    })
    .await;
    let c = connector(&server, "");
    let report = c
        .check(&Context {
            source: "salesforce".into(),
            today: d("2024-05-01"),
        })
        .await
        .unwrap();
    assert_eq!(
        report.summary,
        format!(
            "Salesforce {}: 14998 of 15000 daily API requests left",
            server.url("")
        )
    );
}
