//! The GA4 connector against a loopback server that answers like the Data
//! API: an OAuth2 token endpoint at `/token` and
//! `/v1beta/properties/{id}:runReport`. Bodies follow the published response
//! schema (see `fixtures/README.md`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{
    AuthConfig, CollectSink, Connector, ConnectorError, Context, HttpConfig, SecretRef, StreamDef,
    SyncWindow,
};
use kpi_connector_ga4::{Ga4Config, Ga4Connector, Ga4Source, TRAFFIC, traffic_schema};
use serde_json::{Value, json};

const TRAFFIC_BODY: &str = include_str!("fixtures/run_report_traffic.json");
const ACCESS_TOKEN: &str = "ya29.a0-ga4-access-token";

fn secrets(name: &str) -> Option<String> {
    let value = match name {
        "GA4_CLIENT_ID" => "1234-abc.apps.googleusercontent.com",
        "GA4_CLIENT_SECRET" => "GOCSPX-ga4-secret-999",
        "GA4_REFRESH_TOKEN" => "1//0g-ga4-refresh-777",
        _ => return None,
    };
    Some(value.to_string())
}

async fn server<F>(api: F) -> TestServer
where
    F: Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
{
    TestServer::start(move |req| {
        let response = if req.path() == "/token" {
            TestResponse::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            )
        } else {
            api(&req)
        };
        async move { response }
    })
    .await
}

fn connector(server: &TestServer, properties: &[&str], page_size: u32) -> Ga4Connector {
    let mut config = Ga4Source::new(Ga4Config::new(properties.iter().copied()));
    config.shared.base_url = Some(server.url(""));
    config.own.page_size = page_size;
    config.shared.auth = Some(AuthConfig::OAuth2 {
        token_url: Some(server.url("/token")),
        client_id: SecretRef::env("GA4_CLIENT_ID"),
        client_secret: SecretRef::env("GA4_CLIENT_SECRET"),
        refresh_token: SecretRef::env("GA4_REFRESH_TOKEN"),
        scope: None,
    });
    config.shared.http = HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        ..HttpConfig::default()
    };
    config.connector_with(&secrets).unwrap()
}

fn traffic(c: &Ga4Connector) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == TRAFFIC).unwrap()
}

fn window(start: &str, end: &str) -> SyncWindow {
    SyncWindow {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
    }
}

fn table(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

fn api_requests(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() != "/token")
        .collect()
}

fn body_of(r: &RecordedRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

const EXPECTED_TRAFFIC: &str = "\
+-------------+----------------+----------------+-----------------------+-----------------+----------+-------------+-----------+------------------+--------------------------+-------------------+------------+------------+
| property_id | session_source | session_medium | session_campaign_name | device_category | sessions | total_users | new_users | engaged_sessions | user_engagement_duration | screen_page_views | key_events | date       |
+-------------+----------------+----------------+-----------------------+-----------------+----------+-------------+-----------+------------------+--------------------------+-------------------+------------+------------+
| 123456789   | google         | cpc            | ES | Brand | Search   | desktop         | 412      | 367         | 201       | 298              | 51234.0                  | 1187              | 23.0       | 2024-03-01 |
| 123456789   | google         | organic        | (organic)             | mobile          | 1290     | 1104        | 655       | 801              | 98765.0                  | 3012              | 17.0       | 2024-03-01 |
| 123456789   | (direct)       | (none)         | (direct)              | desktop         | 530      | 488         | 120       | 344              | 40211.0                  | 1444              | 9.0        | 2024-03-01 |
| 123456789   | newsletter     | email          | march_promo           | mobile          | 96       | 90          | 12        | 51               | 4410.0                   | 188               | 2.5        | 2024-03-02 |
| 123456789   | facebook.com   | referral       | (referral)            | tablet          | 14       | 14          | 11        | 3                | 95.5                     | 19                | 0.0        | 2024-03-02 |
+-------------+----------------+----------------+-----------------------+-----------------+----------+-------------+-----------+------------------+--------------------------+-------------------+------------+------------+";

#[tokio::test]
async fn traffic_from_a_real_format_report() {
    let server = server(|_| TestResponse::new(200).body(TRAFFIC_BODY)).await;
    let c = connector(&server, &["properties/123456789"], 100_000);
    let mut sink = CollectSink::default();
    let stats = c
        .read(&traffic(&c), window("2024-03-01", "2024-03-02"), &mut sink)
        .await
        .unwrap();
    assert_eq!(sink.batches.len(), 1);
    assert_eq!(sink.batches[0].schema(), traffic_schema());
    assert_eq!(table(&sink.batches), EXPECTED_TRAFFIC);
    // 5 rows < limit: the last page, no second request.
    assert_eq!((stats.rows, stats.pages, stats.requests), (5, 1, 1));
}

/// Values are matched to columns by header name: the same report with its
/// headers (and every row's values along with them) in another order gives
/// the same rows.
#[tokio::test]
async fn values_follow_header_names_not_request_order() {
    let mut body: Value = serde_json::from_str(TRAFFIC_BODY).unwrap();
    let dims = [4usize, 2, 0, 3, 1];
    let mets = [6usize, 5, 4, 3, 2, 1, 0];
    let permute = |v: &Value, order: &[usize]| -> Value {
        Value::Array(order.iter().map(|&i| v[i].clone()).collect())
    };
    body["dimensionHeaders"] = permute(&body["dimensionHeaders"], &dims);
    body["metricHeaders"] = permute(&body["metricHeaders"], &mets);
    for row in body["rows"].as_array_mut().unwrap() {
        row["dimensionValues"] = permute(&row["dimensionValues"], &dims);
        row["metricValues"] = permute(&row["metricValues"], &mets);
    }
    assert_eq!(
        body["dimensionHeaders"][0],
        json!({"name": "deviceCategory"})
    );
    let server = server(move |_| TestResponse::json(200, &body)).await;
    let c = connector(&server, &["123456789"], 100_000);
    let mut sink = CollectSink::default();
    c.read(&traffic(&c), window("2024-03-01", "2024-03-02"), &mut sink)
        .await
        .unwrap();
    assert_eq!(table(&sink.batches), EXPECTED_TRAFFIC);
}

/// A server holding `total` rows that pages by the request's `limit` and
/// `offset` and reports `row_count` whatever the truth.
async fn paging_server(total: usize, row_count: i64) -> TestServer {
    let fixture: Value = serde_json::from_str(TRAFFIC_BODY).unwrap();
    server(move |req| {
        let body = body_of(req);
        let num = |v: &Value| -> usize {
            v.as_str()
                .map(|s| s.parse().unwrap())
                .or_else(|| v.as_u64().map(|n| n as usize))
                .unwrap()
        };
        let limit = num(&body["limit"]);
        let offset = num(&body["offset"]);
        let rows: Vec<Value> = (offset..total.min(offset + limit))
            .map(|i| {
                json!({
                    "dimensionValues": [{"value": format!("202403{:02}", i + 1)}, {"value": "google"},
                        {"value": "organic"}, {"value": "(organic)"}, {"value": "mobile"}],
                    "metricValues": [{"value": (100 + i).to_string()}, {"value": "1"}, {"value": "1"},
                        {"value": "1"}, {"value": "1"}, {"value": "1"}, {"value": "1"}]
                })
            })
            .collect();
        let mut page = json!({
            "dimensionHeaders": fixture["dimensionHeaders"],
            "metricHeaders": fixture["metricHeaders"],
            "rowCount": row_count,
            "metadata": fixture["metadata"],
            "kind": "analyticsData#runReport"
        });
        // GA4 leaves `rows` out of an empty page.
        if !rows.is_empty() {
            page["rows"] = Value::Array(rows);
        }
        TestResponse::json(200, &page)
    })
    .await
}

fn sessions(batches: &[RecordBatch]) -> Vec<i64> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("sessions")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn offsets(server: &TestServer) -> Vec<String> {
    api_requests(server)
        .iter()
        .map(|r| body_of(r)["offset"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn paging_reads_every_row_even_when_row_count_lies() {
    // rowCount says 5; 7 rows exist.
    let server = paging_server(7, 5).await;
    let c = connector(&server, &["123456789"], 3);
    let mut sink = CollectSink::default();
    let stats = c
        .read(&traffic(&c), window("2024-03-01", "2024-03-07"), &mut sink)
        .await
        .unwrap();
    assert_eq!(sessions(&sink.batches), [100, 101, 102, 103, 104, 105, 106]);
    assert_eq!(offsets(&server), ["0", "3", "6"]);
    assert_eq!((stats.rows, stats.pages), (7, 3));
    for r in api_requests(&server) {
        assert_eq!(body_of(&r)["limit"], json!("3"));
    }
}

#[tokio::test]
async fn paging_stops_at_an_empty_page_after_a_full_one() {
    // rowCount says 9; 6 rows exist, a multiple of the page size.
    let server = paging_server(6, 9).await;
    let c = connector(&server, &["123456789"], 3);
    let mut sink = CollectSink::default();
    c.read(&traffic(&c), window("2024-03-01", "2024-03-06"), &mut sink)
        .await
        .unwrap();
    assert_eq!(sessions(&sink.batches), [100, 101, 102, 103, 104, 105]);
    assert_eq!(offsets(&server), ["0", "3", "6"]);
    assert_eq!(sink.batches.len(), 2);
}

#[tokio::test]
async fn request_shape_path_token_and_date_range() {
    let server = server(|_| TestResponse::new(200).body(TRAFFIC_BODY)).await;
    let c = connector(&server, &["123456789", "987654321"], 100_000);
    let mut sink = CollectSink::default();
    c.read(&traffic(&c), window("2024-02-28", "2024-03-02"), &mut sink)
        .await
        .unwrap();
    assert_eq!(
        server.hits("/token"),
        1,
        "the token is fetched once and reused"
    );
    let token_form = server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/token")
        .unwrap()
        .body_text();
    assert!(
        token_form.contains("grant_type=refresh_token"),
        "{token_form}"
    );

    let requests = api_requests(&server);
    let paths: Vec<&str> = requests.iter().map(RecordedRequest::path).collect();
    assert_eq!(
        paths,
        [
            "/v1beta/properties/123456789:runReport",
            "/v1beta/properties/987654321:runReport"
        ]
    );
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let body = body_of(&requests[0]);
    assert_eq!(
        body["dateRanges"],
        json!([{"startDate": "2024-02-28", "endDate": "2024-03-02"}])
    );
    let names = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("dimensions"),
        [
            "date",
            "sessionSource",
            "sessionMedium",
            "sessionCampaignName",
            "deviceCategory"
        ]
    );
    assert_eq!(
        names("metrics"),
        [
            "sessions",
            "totalUsers",
            "newUsers",
            "engagedSessions",
            "userEngagementDuration",
            "screenPageViews",
            "keyEvents"
        ]
    );
    assert_eq!(
        (&body["limit"], &body["offset"]),
        (&json!("100000"), &json!("0"))
    );
    // Rows of both properties, each tagged with its own id.
    assert_eq!(sink.rows(), 10);
    assert!(table(&sink.batches).contains("| 987654321   | google"));
}

#[tokio::test]
async fn google_error_message_is_carried() {
    let server = server(|_| {
        TestResponse::json(
            400,
            &json!({"error": {"code": 400,
                "message": "Did you mean keyEvents? Field conversions is not a valid metric. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema ",
                "status": "INVALID_ARGUMENT"}}),
        )
    })
    .await;
    let c = connector(&server, &["123456789"], 100_000);
    let err = c
        .read(
            &traffic(&c),
            window("2024-03-01", "2024-03-02"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Http(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("returned 400 Bad Request: Did you mean keyEvents? Field conversions is not a valid metric."),
        "{text}"
    );
    assert!(!text.contains(ACCESS_TOKEN));
    assert_eq!(api_requests(&server).len(), 1);
}

#[tokio::test]
async fn too_many_requests_then_success_recovers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            TestResponse::json(
                429,
                &json!({"error": {"code": 429, "message": "Exhausted concurrent requests quota.", "status": "RESOURCE_EXHAUSTED"}}),
            )
            .header("Retry-After", "0")
        } else {
            TestResponse::new(200).body(TRAFFIC_BODY)
        }
    })
    .await;
    let c = connector(&server, &["123456789"], 100_000);
    let mut sink = CollectSink::default();
    let stats = c
        .read(&traffic(&c), window("2024-03-01", "2024-03-02"), &mut sink)
        .await
        .unwrap();
    assert_eq!(table(&sink.batches), EXPECTED_TRAFFIC);
    assert_eq!(
        (stats.requests, stats.retries, stats.throttled_waits),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn a_server_ignoring_offset_is_caught() {
    // Every request gets the same full page back, whatever its offset.
    let fixture: Value = serde_json::from_str(TRAFFIC_BODY).unwrap();
    let server = server(move |_| {
        let mut page = fixture.clone();
        page["rows"] = Value::Array(fixture["rows"].as_array().unwrap()[..2].to_vec());
        TestResponse::json(200, &page)
    })
    .await;
    let c = connector(&server, &["123456789"], 2);
    let err = c
        .read(
            &traffic(&c),
            window("2024-03-01", "2024-03-02"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the page at offset 2 repeats the previous one"),
        "{err}"
    );
    assert_eq!(api_requests(&server).len(), 2);
}

#[tokio::test]
async fn check_reports_the_property() {
    let server = server(|_| TestResponse::new(200).body(TRAFFIC_BODY)).await;
    let c = connector(&server, &["123456789"], 100_000);
    let ctx = Context {
        source: "ga4".into(),
        today: NaiveDate::from_ymd_opt(2024, 3, 3).unwrap(),
    };
    let report = c.check(&ctx).await.unwrap();
    assert_eq!(report.summary, "property 123456789 (EUR, Europe/Madrid)");
    let body = body_of(&api_requests(&server)[0]);
    assert_eq!(body["limit"], json!("1"));
    assert_eq!(body["metrics"], json!([{"name": "sessions"}]));
}
