//! The LinkedIn Ads connector against a loopback server that answers like
//! the Marketing API: the OAuth2 token endpoint at `/oauth/v2/accessToken`,
//! `GET /rest/adAccounts/{id}`, `GET /rest/adAccounts/{id}/adCampaigns` and
//! `GET /rest/adAnalytics`, with the real-format bodies of
//! `fixtures/README.md` and LinkedIn's error bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{
    CollectSink, Connector, ConnectorError, Context, HttpConfig, ReadStats, StreamDef, SyncWindow,
};
use kpi_connector_linkedin_ads::{
    AD_ANALYTICS, CAMPAIGNS, LinkedInAdsConfig, LinkedInAdsConnector, LinkedInAdsSource,
    MAX_ELEMENTS, ad_analytics_schema,
};
use serde_json::{Value, json};

const ANALYTICS_1: &str = include_str!("fixtures/ad_campaign_analytics_response_1.json");
const ANALYTICS_2: &str = include_str!("fixtures/ad_campaign_analytics_response_2.json");
const RECORDS: &str = include_str!("fixtures/expected_records_accounts_campaigns.jsonl");

const ACCOUNT: &str = "508720451";
const TOKEN_PATH: &str = "/oauth/v2/accessToken";
const ACCESS_TOKEN: &str = "AQV-linkedin-access-token-4242";
const CLIENT_SECRET: &str = "WPL_AP1.client-secret-9999";
const REFRESH_TOKEN: &str = "AQW-linkedin-refresh-token-7777";

fn secrets(name: &str) -> Option<String> {
    let value = match name {
        "LINKEDIN_CLIENT_ID" => "86linkedin0client",
        "LINKEDIN_CLIENT_SECRET" => CLIENT_SECRET,
        "LINKEDIN_REFRESH_TOKEN" => REFRESH_TOKEN,
        _ => return None,
    };
    Some(value.to_string())
}

/// The `data` of the fixture records of `stream`.
fn records(stream: &str) -> Vec<Value> {
    RECORDS
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["stream"] == stream)
        .map(|r| r["data"].clone())
        .collect()
}

fn linkedin_error(status: u16, code: &str, service: u32, message: &str) -> TestResponse {
    TestResponse::json(
        status,
        &json!({"status": status, "serviceErrorCode": service, "code": code, "message": message}),
    )
}

/// A server with LinkedIn's token endpoint and account; `api` answers the
/// rest.
async fn server<F>(api: F) -> TestServer
where
    F: Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
{
    TestServer::start(move |req| {
        let response = match req.path() {
            TOKEN_PATH => TestResponse::json(
                200,
                &json!({"access_token": ACCESS_TOKEN, "expires_in": 5_183_999,
                        "refresh_token": REFRESH_TOKEN, "refresh_token_expires_in": 31_536_000}),
            ),
            p if p == format!("/rest/adAccounts/{ACCOUNT}") => {
                TestResponse::json(200, &records("accounts")[0])
            }
            _ => api(&req),
        };
        async move { response }
    })
    .await
}

fn connector(server: &TestServer) -> LinkedInAdsConnector {
    let mut config = LinkedInAdsSource::new(LinkedInAdsConfig::new([format!(
        "urn:li:sponsoredAccount:{ACCOUNT}"
    )]));
    config.shared.base_url = Some(server.url(""));
    config.shared.token_url = Some(server.url(TOKEN_PATH));
    config.shared.http = HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        max_retries: Some(2),
        ..HttpConfig::default()
    };
    config.connector_with(&secrets).unwrap()
}

fn stream(c: &LinkedInAdsConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

fn window(start: &str, end: &str) -> SyncWindow {
    SyncWindow {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
    }
}

async fn read(
    c: &LinkedInAdsConnector,
    name: &str,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<RecordBatch>), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&stream(c, name), w, &mut sink).await?;
    Ok((stats, sink.batches))
}

fn table(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

fn analytics_requests(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/rest/adAnalytics")
        .collect()
}

/// A query parameter of `target` as sent, not decoded.
fn raw_param<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    let query = r.target.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn assert_no_secret(text: &str) {
    for secret in [ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN] {
        assert!(!text.contains(secret), "a secret in: {text}");
    }
}

const EXPECTED_ANALYTICS: &str = "\
+------------+------------+----------+-------------+-------------+--------+------------------------+-------------+-----------------+------------------------------+---------------------+-------------+
| date       | account_id | currency | campaign_id | impressions | clicks | cost_in_local_currency | cost_in_usd | one_click_leads | external_website_conversions | landing_page_clicks | video_views |
+------------+------------+----------+-------------+-------------+--------+------------------------+-------------+-----------------+------------------------------+---------------------+-------------+
| 2023-01-02 | 508720451  | USD      | 1111        | 19090       | 100    | 0.0                    | 209.449     | 0               | 0                            | 0                   | 0           |
| 2023-01-03 | 508720451  | USD      | 1111        | 20210       | 408    | 0.0                    | 509.98      | 0               | 0                            | 0                   | 0           |
+------------+------------+----------+-------------+-------------+--------+------------------------+-------------+-----------------+------------------------------+---------------------+-------------+";

#[tokio::test]
async fn analytics_from_a_real_format_answer() {
    let server = server(|_| TestResponse::new(200).body(ANALYTICS_1)).await;
    let c = connector(&server);
    let (stats, batches) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].schema(), ad_analytics_schema());
    assert_eq!(table(&batches), EXPECTED_ANALYTICS);
    assert_eq!((stats.rows, stats.pages), (2, 1));
    // The account (for its currency) and one analytics request; one token.
    assert_eq!(stats.requests, 2);
    assert_eq!(server.hits(TOKEN_PATH), 1);

    let requests = analytics_requests(&server);
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    // Rest.li 2.0 structure as is, the URN escaped inside List().
    assert_eq!(
        r.target,
        "/rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY\
         &dateRange=(start:(year:2023,month:1,day:2),end:(year:2023,month:1,day:3))\
         &accounts=List(urn%3Ali%3AsponsoredAccount%3A508720451)\
         &fields=dateRange,pivotValues,impressions,clicks,costInLocalCurrency,costInUsd,\
         oneClickLeads,externalWebsiteConversions,landingPageClicks,videoViews"
    );
    assert_eq!(r.header("linkedin-version"), Some("202608"));
    assert_eq!(r.header("x-restli-protocol-version"), Some("2.0.0"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    // The token grant posts the refresh token with the app's credentials.
    let grant = server
        .requests()
        .into_iter()
        .find(|r| r.path() == TOKEN_PATH)
        .unwrap();
    assert!(grant.body_text().contains("grant_type=refresh_token"));
    assert!(grant.body_text().contains(REFRESH_TOKEN));

    // A second read (another window of a backfill) asks for the account no more.
    let (_, batches) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!(batches[0].num_rows(), 2);
    assert_eq!(server.hits(&format!("/rest/adAccounts/{ACCOUNT}")), 1);
}

#[tokio::test]
async fn windows_read_at_once_fetch_the_account_once() {
    let server = server(|_| TestResponse::new(200).body(ANALYTICS_1)).await;
    let c = connector(&server);
    let w = window("2023-01-02", "2023-01-03");
    let (a, b, d) = tokio::join!(
        read(&c, AD_ANALYTICS, w),
        read(&c, AD_ANALYTICS, w),
        read(&c, AD_ANALYTICS, w)
    );
    for r in [a, b, d] {
        assert_eq!(r.unwrap().0.rows, 2);
    }
    assert_eq!(server.hits(&format!("/rest/adAccounts/{ACCOUNT}")), 1);
    assert_eq!(analytics_requests(&server).len(), 3);
}

#[tokio::test]
async fn two_elements_for_one_campaign_day_are_refused() {
    let server = server(|_| TestResponse::new(200).body(ANALYTICS_2)).await;
    let c = connector(&server);
    let mut sink = CollectSink::default();
    let e = c
        .read(
            &stream(&c, AD_ANALYTICS),
            window("2023-01-04", "2023-01-04"),
            &mut sink,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Response { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(
            "element 1: a second element for campaign 123 on 2023-01-04 (pivot=CAMPAIGN with \
             timeGranularity=DAILY has one per campaign and day)"
        ),
        "{text}"
    );
    assert!(
        text.starts_with("unexpected response from GET http://127.0.0.1:"),
        "{text}"
    );
    assert!(sink.batches.is_empty());
}

#[tokio::test]
async fn more_metrics_than_one_request_takes_are_merged_by_day_and_campaign() {
    // The fixture answers every request; each request keeps only the metrics it asked for.
    let server = server(|_| TestResponse::new(200).body(ANALYTICS_1)).await;
    let c = connector(&server).with_fields_per_request(5);
    let (stats, batches) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!(table(&batches), EXPECTED_ANALYTICS);
    assert_eq!(stats.pages, 3);
    let fields: Vec<String> = analytics_requests(&server)
        .iter()
        .map(|r| raw_param(r, "fields").unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "dateRange,pivotValues,impressions,clicks,costInLocalCurrency",
            "dateRange,pivotValues,costInUsd,oneClickLeads,externalWebsiteConversions",
            "dateRange,pivotValues,landingPageClicks,videoViews",
        ]
    );
}

fn element(day: u32, campaign: usize) -> Value {
    json!({
        "dateRange": {"start": {"year": 2024, "month": 6, "day": day},
                      "end": {"year": 2024, "month": 6, "day": day}},
        "pivotValues": [format!("urn:li:sponsoredCampaign:{campaign}")],
        "impressions": 10, "clicks": 1, "costInLocalCurrency": "2.50", "costInUsd": "2.75",
    })
}

#[tokio::test]
async fn a_full_answer_is_read_again_in_halves() {
    let whole = "(start:(year:2024,month:6,day:1),end:(year:2024,month:6,day:4))";
    let halves = server(move |r| {
        let range = raw_param(r, "dateRange").unwrap();
        if range == whole {
            // As many elements as LinkedIn returns at most: some were dropped.
            let elements: Vec<Value> = (0..MAX_ELEMENTS)
                .map(|i| element(1 + (i % 4) as u32, i))
                .collect();
            return TestResponse::json(
                200,
                &json!({"elements": elements, "paging": {"start": 0, "count": 10, "links": []}}),
            );
        }
        let day = if range.starts_with("(start:(year:2024,month:6,day:1)") {
            1
        } else {
            3
        };
        TestResponse::json(
            200,
            &json!({"elements": [element(day, 7), element(day + 1, 7)]}),
        )
    })
    .await;
    let c = connector(&halves);
    let (stats, batches) = read(&c, AD_ANALYTICS, window("2024-06-01", "2024-06-04"))
        .await
        .unwrap();
    let ranges: Vec<String> = analytics_requests(&halves)
        .iter()
        .map(|r| raw_param(r, "dateRange").unwrap().to_string())
        .collect();
    assert_eq!(
        ranges,
        [
            whole,
            "(start:(year:2024,month:6,day:1),end:(year:2024,month:6,day:2))",
            "(start:(year:2024,month:6,day:3),end:(year:2024,month:6,day:4))",
        ]
    );
    // Only the halves' rows, in day order; nothing of the full answer.
    assert_eq!(stats.rows, 4);
    assert_eq!(batches.len(), 2);
    let text = table(&batches);
    for day in ["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"] {
        assert!(text.contains(&format!("| {day} | 508720451  | USD      | 7           | 10          | 1      | 2.5                    | 2.75 ")), "{text}");
    }

    // A single day that fills an answer cannot be split further.
    let one_day = server(|_| {
        let elements: Vec<Value> = (0..MAX_ELEMENTS).map(|i| element(1, i)).collect();
        TestResponse::json(200, &json!({"elements": elements}))
    })
    .await;
    let c = connector(&one_day);
    let e = read(&c, AD_ANALYTICS, window("2024-06-01", "2024-06-01"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("adAnalytics returned 15000 elements, the most it returns, for ad account 508720451 on the single day 2024-06-01"),
        "{e}"
    );
}

#[tokio::test]
async fn campaigns_follow_the_page_token() {
    let campaigns = records("campaigns");
    assert_eq!(campaigns.len(), 2);
    let next = "DgGerr1iVQreCJVjZDOW_grcp63nueBDipsS4DJpvJo";
    let server = server(move |r| match raw_param(r, "pageToken") {
        None => TestResponse::json(
            200,
            &json!({"elements": [campaigns[0]], "metadata": {"nextPageToken": next}}),
        ),
        Some(t) if t == next => TestResponse::json(200, &json!({"elements": [campaigns[1]]})),
        Some(_) => linkedin_error(400, "INVALID_PAGE_TOKEN", 100, "Invalid page token"),
    })
    .await;
    let c = connector(&server);
    let (stats, batches) = read(&c, CAMPAIGNS, window("2023-01-01", "2023-01-01"))
        .await
        .unwrap();
    assert_eq!(
        table(&batches),
        "\
+------------+-----------+--------------------------------+-------------------+-----------+
| account_id | id        | name                           | type              | status    |
+------------+-----------+--------------------------------+-------------------+-----------+
| 508720451  | 168387646 | Brand awareness - Aug 6, 2021  | SPONSORED_UPDATES | COMPLETED |
| 508720451  | 252074216 | Brand awareness - Aug 21, 2023 | SPONSORED_UPDATES | COMPLETED |
+------------+-----------+--------------------------------+-------------------+-----------+"
    );
    assert_eq!((stats.pages, stats.rows), (2, 2));
    let pages: Vec<RecordedRequest> = server
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/adCampaigns"))
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages[0].path(),
        format!("/rest/adAccounts/{ACCOUNT}/adCampaigns")
    );
    assert_eq!(raw_param(&pages[0], "q"), Some("search"));
    assert_eq!(
        raw_param(&pages[0], "search"),
        Some(
            "(status:(values:List(ACTIVE,PAUSED,ARCHIVED,COMPLETED,CANCELED,DRAFT,PENDING_DELETION,REMOVED)))"
        )
    );
    assert_eq!(raw_param(&pages[0], "pageSize"), Some("500"));
    assert_eq!(raw_param(&pages[0], "pageToken"), None);
    assert_eq!(raw_param(&pages[1], "pageToken"), Some(next));
}

#[tokio::test]
async fn check_names_the_account() {
    let server = server(|_| TestResponse::new(404)).await;
    let c = connector(&server);
    let ctx = Context {
        source: "linkedin_ads".into(),
        today: "2024-07-01".parse().unwrap(),
    };
    let report = c.check(&ctx).await.unwrap();
    assert_eq!(
        report.summary,
        "ad account 508720451 \"Jean’s Ad Account\" (USD, ACTIVE)"
    );
    assert_eq!(report.accounts, std::slice::from_ref(&report.summary));
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

async fn analytics_error(
    api: impl Fn(&RecordedRequest) -> TestResponse + Send + Sync + 'static,
) -> (ConnectorError, TestServer) {
    let server = server(api).await;
    let c = connector(&server);
    let e = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap_err();
    assert_no_secret(&e.to_string());
    assert_no_secret(&format!("{e:?}"));
    (e, server)
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_then_explained() {
    let (e, server) = analytics_error(|_| {
        linkedin_error(
            401,
            "REVOKED_ACCESS_TOKEN",
            65601,
            "The token used in the request has been revoked by the user",
        )
    })
    .await;
    let text = e.to_string();
    assert!(
        matches!(e, ConnectorError::Http(ref h) if h.status() == Some(401)),
        "{e:?}"
    );
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(
        text.contains("The token used in the request has been revoked by the user (still 401 with a freshly refreshed access token)"),
        "{text}"
    );
    assert!(text.contains("LINKEDIN_REFRESH_TOKEN"), "{text}");
    assert!(text.contains("authorize the app again"), "{text}");
    // One refresh for the first token, one after the 401.
    assert_eq!(server.hits(TOKEN_PATH), 2);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_read_goes_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            linkedin_error(
                401,
                "EXPIRED_ACCESS_TOKEN",
                65602,
                "The token used in the request has expired",
            )
        } else {
            TestResponse::new(200).body(ANALYTICS_1)
        }
    })
    .await;
    let c = connector(&server);
    let (stats, batches) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!(table(&batches), EXPECTED_ANALYTICS);
    assert_eq!(stats.retries, 1);
    assert_eq!(server.hits(TOKEN_PATH), 2);
}

#[tokio::test]
async fn a_refused_refresh_token_names_its_variable() {
    let server = TestServer::start(|req| async move {
        if req.path() == TOKEN_PATH {
            TestResponse::json(
                400,
                &json!({"error": "invalid_request",
                        "error_description": "The provided authorization grant or refresh token is invalid, expired or revoked."}),
            )
        } else {
            TestResponse::new(200).body(ANALYTICS_1)
        }
    })
    .await;
    let c = connector(&server);
    let e = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_no_secret(&text);
    assert!(
        text.starts_with("OAuth2 token refresh failed at http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("refresh token is invalid, expired or revoked"),
        "{text}"
    );
    assert!(text.contains("LINKEDIN_REFRESH_TOKEN"), "{text}");
}

#[tokio::test]
async fn a_missing_account_role_is_explained() {
    let (e, server) = analytics_error(|_| {
        linkedin_error(
            403,
            "ACCESS_DENIED",
            100,
            "Not enough permissions to access: partnerApiAdAnalytics.FINDER-analytics.20240801",
        )
    })
    .await;
    let text = e.to_string();
    assert!(
        text.contains("403 Forbidden: Not enough permissions to access: partnerApiAdAnalytics"),
        "{text}"
    );
    assert!(text.contains("role on ad account 508720451"), "{text}");
    // A 403 is not retried.
    assert_eq!(analytics_requests(&server).len(), 1);
}

#[tokio::test]
async fn the_daily_limit_is_retried_then_explained() {
    let throttled = || {
        linkedin_error(
            429,
            "TOO_MANY_REQUESTS",
            101,
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        )
        .header("retry-after", "0")
    };
    // Twice, then an answer: the read succeeds.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            throttled()
        } else {
            TestResponse::new(200).body(ANALYTICS_1)
        }
    })
    .await;
    let c = connector(&server);
    let (stats, _) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!((stats.retries, stats.throttled_waits), (2, 2));

    // Always: the error after the retries carries LinkedIn's words and the remedy.
    let (e, server) = analytics_error(move |_| throttled()).await;
    let text = e.to_string();
    assert!(
        text.contains(
            "429 Too Many Requests after 2 retries: Resource level throttle APPLICATION DAY limit"
        ),
        "{text}"
    );
    assert!(text.contains("per application and day"), "{text}");
    assert_eq!(analytics_requests(&server).len(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_and_a_sunset_version_names_the_setting() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let server = server(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            linkedin_error(500, "INTERNAL_SERVER_ERROR", 0, "Internal Server Error")
        } else {
            TestResponse::new(200).body(ANALYTICS_1)
        }
    })
    .await;
    let c = connector(&server);
    let (stats, _) = read(&c, AD_ANALYTICS, window("2023-01-02", "2023-01-03"))
        .await
        .unwrap();
    assert_eq!(stats.retries, 1);

    let (e, _) = analytics_error(|_| {
        linkedin_error(
            426,
            "NONEXISTENT_VERSION",
            0,
            "Requested version 20230101 is not active",
        )
    })
    .await;
    let text = e.to_string();
    assert!(
        text.contains("Requested version 20230101 is not active"),
        "{text}"
    );
    assert!(
        text.contains("api_version: LinkedIn no longer serves version 202608"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_answer_is_named() {
    let (e, _) =
        analytics_error(|_| TestResponse::json(200, &json!({"paging": {"start": 0}}))).await;
    assert!(
        e.to_string()
            .ends_with("the body has no `elements` array (expected an adAnalytics answer)"),
        "{e}"
    );
    let (e, _) = analytics_error(|_| TestResponse::new(200).body("{\"elements\": [")).await;
    assert!(
        e.to_string().contains("the response is not valid JSON"),
        "{e}"
    );
}
