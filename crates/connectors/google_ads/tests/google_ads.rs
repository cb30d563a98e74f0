//! The Google Ads connector against a loopback server that answers like the
//! real API: an OAuth2 token endpoint at `/token` and `searchStream` under
//! `/v26/customers/{id}/`. Bodies follow the documented response shapes (see
//! `fixtures/README.md` for where each shape comes from).

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
use kpi_connector_google_ads::{
    CAMPAIGN_STATS, CAMPAIGNS, GoogleAdsConfig, GoogleAdsConnector, GoogleAdsSource,
    campaign_stats_schema,
};
use serde_json::{Value, json};

const STATS_BODY: &str = include_str!("fixtures/search_stream_campaign_stats.json");
const DEVELOPER_TOKEN: &str = "dev-TOKEN-5a1b2c3d";
const ACCESS_TOKEN: &str = "ya29.a0-test-access-token";
const REFRESH_TOKEN: &str = "1//0g-refresh-token-777";

fn secrets(name: &str) -> Option<String> {
    let value = match name {
        "GOOGLE_ADS_DEVELOPER_TOKEN" => DEVELOPER_TOKEN,
        "GOOGLE_ADS_CLIENT_ID" => "1234-abc.apps.googleusercontent.com",
        "GOOGLE_ADS_CLIENT_SECRET" => "GOCSPX-client-secret-999",
        "GOOGLE_ADS_REFRESH_TOKEN" => REFRESH_TOKEN,
        _ => return None,
    };
    Some(value.to_string())
}

/// A server with Google's token endpoint at `/token`; every other request
/// is answered by `api`.
async fn server<F>(api: F) -> TestServer
where
    F: Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
{
    TestServer::start(move |req| {
        let response = if req.path() == "/token" {
            TestResponse::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/adwords", "token_type": "Bearer"}),
            )
        } else {
            api(&req)
        };
        async move { response }
    })
    .await
}

fn connector(server: &TestServer, customers: &[&str]) -> GoogleAdsConnector {
    let mut config = GoogleAdsSource::new(GoogleAdsConfig::new(customers.iter().copied()));
    config.shared.base_url = Some(server.url(""));
    config.own.login_customer_id = Some("111-222-3333".into());
    config.shared.auth = Some(AuthConfig::OAuth2 {
        token_url: Some(server.url("/token")),
        client_id: SecretRef::env("GOOGLE_ADS_CLIENT_ID"),
        client_secret: SecretRef::env("GOOGLE_ADS_CLIENT_SECRET"),
        refresh_token: SecretRef::env("GOOGLE_ADS_REFRESH_TOKEN"),
        scope: None,
    });
    config.shared.http = HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        ..HttpConfig::default()
    };
    config.connector_with(&secrets).unwrap()
}

fn stream(c: &GoogleAdsConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

fn window(start: &str, end: &str) -> SyncWindow {
    SyncWindow {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
    }
}

fn ctx() -> Context {
    Context {
        source: "google_ads".into(),
        today: NaiveDate::from_ymd_opt(2024, 3, 3).unwrap(),
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

#[tokio::test]
async fn campaign_stats_from_a_real_format_stream() {
    let server = server(|_| {
        TestResponse::new(200)
            .header("content-type", "application/json; charset=UTF-8")
            .body(STATS_BODY)
    })
    .await;
    let c = connector(&server, &["123-456-7890"]);
    let mut sink = CollectSink::default();
    let stats = c
        .read(
            &stream(&c, CAMPAIGN_STATS),
            window("2024-03-01", "2024-03-02"),
            &mut sink,
        )
        .await
        .unwrap();

    // One Arrow batch per searchStream batch: memory is bounded by the API's
    // batch size, not by the stream.
    assert_eq!(sink.batches.len(), 2);
    assert_eq!(
        sink.batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!((stats.rows, stats.pages, stats.requests), (5, 2, 1));
    assert_eq!(sink.batches[0].schema(), campaign_stats_schema());
    let expected = "\
+-------------+------------------------+--------------------+-------------+----------------------------+-----------------------------------+---------------------+----------------+---------------------+---------------------+---------------------------+------------+
| customer_id | customer_currency_code | customer_time_zone | campaign_id | campaign_name              | campaign_advertising_channel_type | metrics_impressions | metrics_clicks | metrics_cost_micros | metrics_conversions | metrics_conversions_value | date       |
+-------------+------------------------+--------------------+-------------+----------------------------+-----------------------------------+---------------------+----------------+---------------------+---------------------+---------------------------+------------+
| 1234567890  | EUR                    | Europe/Madrid      | 20123456789 | ES | Brand | Search        | SEARCH                            | 1523                | 187            | 84210000            | 12.0                | 1450.5                    | 2024-03-01 |
| 1234567890  | EUR                    | Europe/Madrid      | 20123456789 | ES | Brand | Search        | SEARCH                            | 1398                | 171            | 79655000            | 9.5                 | 1120.0                    | 2024-03-02 |
| 1234567890  | EUR                    | Europe/Madrid      | 20987654321 | ES | PMax | Catalogue      | PERFORMANCE_MAX                   | 48210               | 902            | 213407500           | 31.25               | 4890.75                   | 2024-03-01 |
| 1234567890  | EUR                    | Europe/Madrid      | 20987654321 | ES | PMax | Catalogue      | PERFORMANCE_MAX                   | 51002               | 845            | 198002300           | 27.8                | 3975.2                    | 2024-03-02 |
| 1234567890  | EUR                    | Europe/Madrid      | 21555000111 | ES | Remarketing | Display | DISPLAY                           | 20417               | 64             | 5120000             | 0.0                 | 0.0                       | 2024-03-02 |
+-------------+------------------------+--------------------+-------------+----------------------------+-----------------------------------+---------------------+----------------+---------------------+---------------------+---------------------------+------------+";
    assert_eq!(table(&sink.batches), expected);
}

#[tokio::test]
async fn request_shape_headers_token_and_gaql_window() {
    let server = server(|_| TestResponse::new(200).body(STATS_BODY)).await;
    let c = connector(&server, &["123-456-7890"]);
    let mut sink = CollectSink::default();
    c.read(
        &stream(&c, CAMPAIGN_STATS),
        window("2024-02-02", "2024-03-02"),
        &mut sink,
    )
    .await
    .unwrap();

    let token_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/token")
        .collect();
    assert_eq!(token_requests.len(), 1);
    let form = token_requests[0].body_text();
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(
        form.contains("refresh_token=1%2F%2F0g-refresh-token-777"),
        "{form}"
    );

    let requests = api_requests(&server);
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/v26/customers/1234567890/googleAds:searchStream");
    assert_eq!(r.header("developer-token"), Some(DEVELOPER_TOKEN));
    assert_eq!(r.header("login-customer-id"), Some("1112223333"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["query"],
        json!(
            "SELECT customer.id, customer.currency_code, customer.time_zone, campaign.id, \
             campaign.name, campaign.advertising_channel_type, segments.date, metrics.impressions, \
             metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.conversions_value \
             FROM campaign WHERE segments.date BETWEEN '2024-02-02' AND '2024-03-02'"
        )
    );
}

#[tokio::test]
async fn campaigns_snapshot_reads_every_customer() {
    let server = server(|req| {
        let id = req
            .path()
            .trim_start_matches("/v26/customers/")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let (cid, name, channel, status) = if id == "1234567890" {
            ("20123456789", "ES | Brand | Search", "SEARCH", "ENABLED")
        } else {
            ("30111222333", "PT | Generic | Video", "VIDEO", "REMOVED")
        };
        TestResponse::json(
            200,
            &json!([{
                "results": [{
                    "customer": {"resourceName": format!("customers/{id}"), "id": id},
                    "campaign": {"resourceName": format!("customers/{id}/campaigns/{cid}"), "status": status,
                                 "advertisingChannelType": channel, "name": name, "id": cid}
                }],
                "fieldMask": "customer.id,campaign.id,campaign.name,campaign.status,campaign.advertisingChannelType",
                "requestId": "r-campaigns"
            }]),
        )
    })
    .await;
    let c = connector(&server, &["1234567890", "987-654-3210"]);
    let mut sink = CollectSink::default();
    // The window does not apply to a snapshot.
    c.read(
        &stream(&c, CAMPAIGNS),
        window("2024-03-01", "2024-03-01"),
        &mut sink,
    )
    .await
    .unwrap();
    let expected = "\
+-------------+-------------+----------------------+-----------------+-----------------------------------+
| customer_id | campaign_id | campaign_name        | campaign_status | campaign_advertising_channel_type |
+-------------+-------------+----------------------+-----------------+-----------------------------------+
| 1234567890  | 20123456789 | ES | Brand | Search  | ENABLED         | SEARCH                            |
| 9876543210  | 30111222333 | PT | Generic | Video | REMOVED         | VIDEO                             |
+-------------+-------------+----------------------+-----------------+-----------------------------------+";
    assert_eq!(table(&sink.batches), expected);
    let paths: Vec<String> = api_requests(&server)
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/v26/customers/1234567890/googleAds:searchStream",
            "/v26/customers/9876543210/googleAds:searchStream"
        ]
    );
    let body: Value = serde_json::from_slice(&api_requests(&server)[0].body).unwrap();
    assert_eq!(
        body["query"],
        json!(
            "SELECT customer.id, campaign.id, campaign.name, campaign.status, \
             campaign.advertising_channel_type FROM campaign"
        )
    );
}

/// Google Ads' error JSON for a bad query: `searchStream` wraps it in an
/// array; the useful text is in `details[].errors[].message`.
fn bad_query_body() -> Value {
    json!([{
        "error": {
            "code": 400,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
            "details": [{
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [{
                    "errorCode": {"queryError": "INVALID_VALUE_WITH_BETWEEN_OPERATOR"},
                    "message": "Invalid value for BETWEEN operator: '2024-13-01'."
                }],
                "requestId": "aBcD1234"
            }]
        }
    }])
}

#[tokio::test]
async fn google_error_message_is_carried() {
    let server = server(|_| TestResponse::json(400, &bad_query_body())).await;
    let c = connector(&server, &["1234567890"]);
    let mut sink = CollectSink::default();
    let err = c
        .read(
            &stream(&c, CAMPAIGN_STATS),
            window("2024-03-01", "2024-03-02"),
            &mut sink,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Http(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(
            "returned 400 Bad Request: Request contains an invalid argument. \
             (Invalid value for BETWEEN operator: '2024-13-01'.)"
        ),
        "{text}"
    );
    assert!(
        text.contains("/v26/customers/1234567890/googleAds:searchStream"),
        "{text}"
    );
    // A 400 is the request's fault: not retried.
    assert_eq!(api_requests(&server).len(), 1);
    assert!(sink.batches.is_empty());
}

#[tokio::test]
async fn too_many_requests_then_success_recovers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            TestResponse::json(
                429,
                &json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}),
            )
            .header("Retry-After", "0")
        } else {
            TestResponse::new(200).body(STATS_BODY)
        }
    })
    .await;
    let c = connector(&server, &["1234567890"]);
    let mut sink = CollectSink::default();
    let stats = c
        .read(
            &stream(&c, CAMPAIGN_STATS),
            window("2024-03-01", "2024-03-02"),
            &mut sink,
        )
        .await
        .unwrap();
    assert_eq!(sink.rows(), 5);
    assert_eq!(
        (stats.requests, stats.retries, stats.throttled_waits),
        (2, 1, 1)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_inside_the_stream_fails_the_read() {
    let mut body: Value = serde_json::from_str(STATS_BODY).unwrap();
    body.as_array_mut().unwrap()[1] = json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}});
    let server = server(move |_| TestResponse::json(200, &body)).await;
    let c = connector(&server, &["1234567890"]);
    let mut sink = CollectSink::default();
    let err = c
        .read(
            &stream(&c, CAMPAIGN_STATS),
            window("2024-03-01", "2024-03-02"),
            &mut sink,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("the query failed mid-stream: Internal error encountered."),
        "{err}"
    );
}

#[tokio::test]
async fn a_truncated_stream_fails_the_read() {
    let cut = STATS_BODY.len() * 2 / 3;
    let server = server(move |_| TestResponse::new(200).body(&STATS_BODY.as_bytes()[..cut])).await;
    let c = connector(&server, &["1234567890"]);
    let mut sink = CollectSink::default();
    let err = c
        .read(
            &stream(&c, CAMPAIGN_STATS),
            window("2024-03-01", "2024-03-02"),
            &mut sink,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("truncated response"), "{err}");
}

#[tokio::test]
async fn check_reports_the_account_or_google_s_message() {
    let server = server(|req| {
        if req.path().contains("/customers/1234567890/") {
            TestResponse::json(
                200,
                &json!([{
                    "results": [{"customer": {"resourceName": "customers/1234567890", "id": "1234567890",
                                  "descriptiveName": "Acme Iberia", "currencyCode": "EUR", "timeZone": "Europe/Madrid"}}],
                    "fieldMask": "customer.id,customer.descriptiveName,customer.currencyCode,customer.timeZone",
                    "requestId": "r-check"
                }]),
            )
        } else {
            TestResponse::json(
                403,
                &json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED",
                    "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                        "errors": [{"errorCode": {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"},
                                    "message": "The developer token is only approved for use with test accounts. To access non-test accounts, apply for Basic or Standard access."}],
                        "requestId": "r-403"}]}}),
            )
        }
    })
    .await;
    let ok = connector(&server, &["1234567890"]);
    let report = ok.check(&ctx()).await.unwrap();
    assert_eq!(
        report.summary,
        r#"customer 1234567890 "Acme Iberia" (EUR, Europe/Madrid)"#
    );
    let body: Value = serde_json::from_slice(&api_requests(&server)[0].body).unwrap();
    assert_eq!(
        body["query"],
        json!(
            "SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer LIMIT 1"
        )
    );

    let refused = connector(&server, &["5555555555"]);
    let err = refused.check(&ctx()).await.unwrap_err().to_string();
    assert!(
        err.contains("403 Forbidden: The caller does not have permission (The developer token is only approved for use with test accounts."),
        "{err}"
    );
    // Secrets never reach a message.
    assert!(!err.contains(DEVELOPER_TOKEN) && !err.contains(ACCESS_TOKEN));
}

#[tokio::test]
async fn unknown_stream_is_refused() {
    let server = server(|_| TestResponse::new(500)).await;
    let c = connector(&server, &["1234567890"]);
    let mut s = stream(&c, CAMPAIGNS);
    s.name = "ad_groups".into();
    let err = c
        .read(
            &s,
            window("2024-03-01", "2024-03-01"),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown stream `ad_groups`");
    assert!(api_requests(&server).is_empty());
}
