//! The Microsoft Advertising connector against a loopback server that
//! answers like the Reporting API v13 (REST): Microsoft identity's token
//! endpoint, `GenerateReport/Submit` and `/Poll`, the zip download and
//! Customer Management's `Account/Query`, with the real-format report CSV
//! of `fixtures/README.md` and Microsoft's fault bodies.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{
    CollectSink, Connector, ConnectorError, Context, HttpConfig, ReadStats, SyncWindow,
};
use kpi_connector_microsoft_ads::{
    CAMPAIGN_PERFORMANCE, CAMPAIGNS, COLUMNS, MicrosoftAdsConfig, MicrosoftAdsConnector,
    MicrosoftAdsSource,
};
use serde_json::{Value, json};

const HOURLY: &str = include_str!("fixtures/campaign_performance_report_hourly.csv");

const CUSTOMER: &str = "251000123";
const ACCOUNT: &str = "180535609";
const TOKEN_PATH: &str = "/common/oauth2/v2.0/token";
const SUBMIT: &str = "/Reporting/v13/GenerateReport/Submit";
const POLL: &str = "/Reporting/v13/GenerateReport/Poll";
const ACCESS_TOKEN: &str = "EwBIA8l6BAAU-ms-access-token-4242";
const REFRESH_TOKEN: &str = "M.C105_BAY.refresh-token-7777";
const DEVELOPER_TOKEN: &str = "BBD37VB98-developer-token";
const SIG: &str = "sv=2024&sig=Zm9vYmFyc2lnbmF0dXJl";

fn secrets(name: &str) -> Option<String> {
    let value = match name {
        "MICROSOFT_ADS_CLIENT_ID" => "4c0b-client-id",
        "MICROSOFT_ADS_CLIENT_SECRET" => "ms-client-secret-9999",
        "MICROSOFT_ADS_REFRESH_TOKEN" => REFRESH_TOKEN,
        "MICROSOFT_ADS_DEVELOPER_TOKEN" => DEVELOPER_TOKEN,
        _ => return None,
    };
    Some(value.to_string())
}

fn zipped(name: &str, text: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(name, options).unwrap();
    zip.write_all(text.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

fn fault(status: u16, code: u32, name: &str, message: &str) -> TestResponse {
    TestResponse::json(
        status,
        &json!({"OperationErrors": [{"Code": code, "Details": null, "ErrorCode": name, "Message": message}],
                "BatchErrors": [], "TrackingId": "65602e3d-f6ff-4968-920c-e420989c9e31",
                "Type": "ApiFaultDetail"}),
    )
}

fn poll_answer(status: &str, url: Option<String>) -> TestResponse {
    TestResponse::json(
        200,
        &json!({"ReportRequestStatus": {"ReportDownloadUrl": url, "Status": status}}),
    )
}

/// What the server does for one read: how many polls say `Pending`, the
/// final status, and the zip served (none: `Success` without a URL).
#[derive(Clone)]
struct Script {
    pending: usize,
    status: &'static str,
    zip: Option<Vec<u8>>,
}

/// A server with the token endpoint; `submit` answers Submit (the n-th
/// call), the rest follows `script`.
async fn server<F>(script: Script, submit: F) -> TestServer
where
    F: Fn(usize, &RecordedRequest) -> TestResponse + Send + Sync + 'static,
{
    let polls = Arc::new(AtomicUsize::new(0));
    let submits = Arc::new(AtomicUsize::new(0));
    let base: Arc<std::sync::OnceLock<String>> = Arc::default();
    let base_in = Arc::clone(&base);
    let server = TestServer::start(move |req| {
        let base = base_in.get().cloned().unwrap_or_default();
        let response = match req.path() {
            TOKEN_PATH => TestResponse::json(
                200,
                &json!({"token_type": "Bearer", "scope": "https://ads.microsoft.com/msads.manage",
                        "expires_in": 3600, "ext_expires_in": 3600,
                        "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN}),
            ),
            SUBMIT => submit(submits.fetch_add(1, Ordering::SeqCst), &req),
            POLL => {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                if n < script.pending {
                    poll_answer("Pending", None)
                } else {
                    let url = script
                        .zip
                        .as_ref()
                        .map(|_| format!("{base}/blob/report.zip?{SIG}"));
                    poll_answer(script.status, url)
                }
            }
            "/blob/report.zip" => TestResponse::new(200)
                .header("content-type", "application/x-zip-compressed")
                .body(script.zip.clone().unwrap_or_default()),
            "/CampaignManagement/v13/Campaigns/QueryByAccountId" => TestResponse::json(
                200,
                &json!({"Campaigns": [
                    {"AudienceAdsBidAdjustment": null, "BiddingScheme": {"Type": "EnhancedCpc"},
                     "BudgetType": "DailyBudgetStandard", "DailyBudget": 10.0,
                     "Id": 531016227, "Name": "Airbyte test", "Status": "Active",
                     "CampaignType": "Search", "TimeZone": "CentralTimeUSCanada"},
                    {"Id": 531016228, "Name": "Airbyte audience", "Status": "Paused",
                     "CampaignType": "Audience", "TimeZone": "CentralTimeUSCanada"}
                ]}),
            ),
            "/CustomerManagement/v13/Account/Query" => TestResponse::json(
                200,
                &json!({"Account": {"Id": 180535609, "Name": "Airbyte", "Number": "F149MJ18",
                        "CurrencyCode": "USD", "TimeZone": "CentralTimeUSCanada",
                        "AccountLifeCycleStatus": "Active"}}),
            ),
            other => TestResponse::text(404, format!("no {other}")),
        };
        async move { response }
    })
    .await;
    base.set(server.url("")).unwrap();
    server
}

fn accepted(_: usize, _: &RecordedRequest) -> TestResponse {
    TestResponse::json(200, &json!({"ReportRequestId": "30000000001234"}))
}

fn config(server: &TestServer) -> MicrosoftAdsSource {
    let mut own = MicrosoftAdsConfig::new(CUSTOMER, [ACCOUNT]);
    own.poll_interval_secs = 0.01;
    own.max_poll_interval_secs = 0.02;
    own.throttle_wait_secs = 0.01;
    let mut config = MicrosoftAdsSource::new(own);
    config.shared.base_url = Some(server.url(""));
    config.shared.token_url = Some(server.url(TOKEN_PATH));
    config.shared.http = HttpConfig {
        backoff_base_secs: Some(0.001),
        backoff_max_secs: Some(0.01),
        max_retries: Some(2),
        ..HttpConfig::default()
    };
    config
}

fn connector(server: &TestServer) -> MicrosoftAdsConnector {
    config(server).connector_with(&secrets).unwrap()
}

fn window(start: &str, end: &str) -> SyncWindow {
    SyncWindow {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
    }
}

async fn read(
    c: &MicrosoftAdsConnector,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<RecordBatch>), ConnectorError> {
    let stream = c.streams().remove(0);
    assert_eq!(stream.name, CAMPAIGN_PERFORMANCE);
    read_stream(c, stream, w).await
}

async fn read_stream(
    c: &MicrosoftAdsConnector,
    stream: kpi_connector::StreamDef,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<RecordBatch>), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&stream, w, &mut sink).await?;
    Ok((stats, sink.batches))
}

fn november() -> SyncWindow {
    window("2023-11-01", "2023-11-30")
}

/// The fixture's two days: 23 hours on the 11th, one on the 12th, each
/// hour 1 impression, 1 click and 1.48 USD.
fn assert_fixture_days(batches: &[RecordBatch]) {
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(
        b.num_rows(),
        2,
        "{}",
        pretty_format_batches(batches).unwrap()
    );
    let ints = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    };
    let floats = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .to_vec()
    };
    assert_eq!(ints("impressions"), [23, 1]);
    assert_eq!(ints("clicks"), [23, 1]);
    assert_eq!(ints("campaign_id"), [531016227, 531016227]);
    assert_eq!(floats("spend"), [34.04, 1.48]);
    assert_eq!(floats("conversions"), [0.0, 0.0]);
    assert_eq!(floats("revenue"), [0.0, 0.0]);
    let text = pretty_format_batches(batches).unwrap().to_string();
    assert!(text.contains("| 2023-11-11 | 180535609  | Airbyte      | 531016227   | Airbyte test  | Search & content | Active          | USD           |"), "{text}");
    assert!(text.contains("| 2023-11-12 |"), "{text}");
    assert!(text.contains("PacificTimeUSCanadaTijuana"), "{text}");
    assert_eq!(b.column_by_name("date").unwrap().null_count(), 0);
}

#[tokio::test]
async fn submit_poll_download_of_the_real_report() {
    let script = Script {
        pending: 2,
        status: "Success",
        zip: Some(zipped("report.csv", HOURLY)),
    };
    let s = server(script, accepted).await;
    let c = connector(&s);
    let (stats, batches) = read(&c, november()).await.unwrap();
    assert_fixture_days(&batches);
    assert_eq!(stats.rows, 2);
    // Token, Submit, three polls, the download.
    assert_eq!(stats.requests, 5, "{stats:?}");
    let requests = s.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(
        paths,
        [TOKEN_PATH, SUBMIT, POLL, POLL, POLL, "/blob/report.zip"]
    );

    let token = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(token.contains("grant_type=refresh_token"), "{token}");
    assert!(token.contains("msads.manage"), "{token}");
    let submit = &requests[1];
    assert_eq!(
        submit.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(submit.header("developertoken"), Some(DEVELOPER_TOKEN));
    assert_eq!(submit.header("customerid"), Some(CUSTOMER));
    assert_eq!(submit.header("customeraccountid"), Some(ACCOUNT));
    let body: Value = serde_json::from_slice(&submit.body).unwrap();
    let r = &body["ReportRequest"];
    assert_eq!(r["Type"], "CampaignPerformanceReportRequest");
    assert_eq!(r["Aggregation"], "Daily");
    assert_eq!(r["Format"], "Csv");
    assert_eq!(r["Columns"], json!(COLUMNS));
    assert_eq!(r["Scope"]["AccountIds"], json!([180535609]));
    assert_eq!(
        r["Time"]["CustomDateRangeStart"],
        json!({"Day": 1, "Month": 11, "Year": 2023})
    );
    assert_eq!(
        r["Time"]["CustomDateRangeEnd"],
        json!({"Day": 30, "Month": 11, "Year": 2023})
    );
    let poll: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(poll, json!({"ReportRequestId": "30000000001234"}));
    assert_eq!(requests[2].header("customeraccountid"), Some(ACCOUNT));
    // The pre-signed download gets none of the API's credentials.
    let download = &requests[5];
    assert_eq!(download.header("authorization"), None);
    assert_eq!(download.header("developertoken"), None);
    assert!(download.target.ends_with(SIG));
}

#[tokio::test]
async fn header_rows_footer_and_thousands_separators_are_not_data() {
    // The fixture as Microsoft writes it when the header and footer are not
    // excluded (the vendor's report file schema), and format 1.0 amounts.
    let mut lines = HOURLY.lines();
    let header = lines.next().unwrap();
    let mut text = String::from(
        "\u{feff}\"Report Name: Airbyte campaigns\"\r\n\"Report Time: 11/1/2023, 11/30/2023\"\r\n\
         \"Time Zone: (GMT-06:00) Central Time (US & Canada)\"\r\n\
         \"Last Completed Available Day: 11/30/2023 10:15:00 PM (GMT)\"\r\n\
         \"Last Completed Available Hour: 11/30/2023 10:15:00 PM (GMT)\"\r\n\
         \"Report Aggregation: Hourly\"\r\n\"Report Filter: \"\r\n\
         \"Potential Incomplete Data: false\"\r\n\"Rows: 25\"\r\n\r\n",
    );
    text.push_str(header);
    text.push_str("\r\n");
    for l in lines {
        text.push_str(l);
        text.push_str("\r\n");
    }
    // One more hour on the 12th, 1,000 impressions and 1,234.56 spent.
    let extra = HOURLY
        .lines()
        .last()
        .unwrap()
        .replace("2023-11-12|00", "2023-11-12|01")
        .replacen(
            "\"Active\",\"\",\"1\",\"1\"",
            "\"Active\",\"\",\"1,000\",\"1\"",
            1,
        )
        .replacen("\"100.00%\",\"1.48\"", "\"0.10%\",\"1,234.56\"", 1);
    text.push_str(&extra);
    text.push_str("\r\n\r\n\"©2023 Microsoft Corporation. All rights reserved. \"\r\n");
    let script = Script {
        pending: 0,
        status: "Success",
        zip: Some(zipped("report.csv", &text)),
    };
    let s = server(script, accepted).await;
    let (_, batches) = read(&connector(&s), november()).await.unwrap();
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    let impressions = b
        .column_by_name("impressions")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(impressions.values().to_vec(), [23, 1001]);
    let spend = b
        .column_by_name("spend")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(spend.values().to_vec(), [34.04, 1236.04]);

    // A report whose Rows header disagrees with its rows was cut short.
    let cut = text.replace("\"Rows: 25\"", "\"Rows: 26\"");
    let script = Script {
        pending: 0,
        status: "Success",
        zip: Some(zipped("report.csv", &cut)),
    };
    let s = server(script, accepted).await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Rows: 26, but it holds 25 data rows"), "{e}");
    assert!(e.contains("account 180535609"), "{e}");
    assert!(
        !e.contains("Zm9vYmFyc2lnbmF0dXJl"),
        "the download's signature leaked: {e}"
    );
}

#[tokio::test]
async fn a_report_in_error_is_named() {
    let script = Script {
        pending: 1,
        status: "Error",
        zip: None,
    };
    let s = server(script, accepted).await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("report 30000000001234 of source microsoft_ads, account 180535609 (2023-11-01 to 2023-11-30) ended with status Error"),
        "{e}"
    );
    assert_eq!(s.hits("/blob"), 0);
}

#[tokio::test]
async fn a_report_that_stays_pending_times_out_naming_it() {
    let script = Script {
        pending: usize::MAX,
        status: "Success",
        zip: None,
    };
    let s = server(script, accepted).await;
    let mut config = config(&s);
    config.own.report_timeout_secs = 0.1;
    let c = config.connector_with(&secrets).unwrap();
    let started = std::time::Instant::now();
    let e = read(&c, november()).await.unwrap_err().to_string();
    assert!(
        e.contains("report 30000000001234 of source microsoft_ads, account 180535609"),
        "{e}"
    );
    assert!(e.contains("was still Pending after"), "{e}");
    assert!(e.contains("report_timeout_secs"), "{e}");
    assert!(started.elapsed().as_secs_f64() < 5.0);
    // Polled with waits that grow: more than one poll, not hundreds.
    let polls = s.hits(POLL);
    assert!((2..40).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn an_empty_report_has_no_url_and_no_rows() {
    let script = Script {
        pending: 0,
        status: "Success",
        zip: None,
    };
    let s = server(script, accepted).await;
    let (stats, batches) = read(&connector(&s), november()).await.unwrap();
    assert!(batches.is_empty());
    assert_eq!(stats.rows, 0);
    assert_eq!(s.hits("/blob"), 0);
}

#[tokio::test]
async fn a_refused_refresh_token_names_its_variable() {
    let s = TestServer::start(|req| {
        let r = if req.path() == TOKEN_PATH {
            TestResponse::json(
                400,
                &json!({"error": "invalid_grant", "error_description":
                        "AADSTS70000: The provided value for the 'refresh_token' is not valid.",
                        "error_codes": [70000], "trace_id": "t", "correlation_id": "c"}),
            )
        } else {
            TestResponse::text(500, "unexpected")
        };
        async move { r }
    })
    .await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("AADSTS70000"), "{e}");
    assert!(e.contains("MICROSOFT_ADS_REFRESH_TOKEN"), "{e}");
    assert!(e.contains("source microsoft_ads, account 180535609"), "{e}");
    assert!(
        !e.contains(REFRESH_TOKEN) && !e.contains("ms-client-secret"),
        "{e}"
    );
    assert_eq!(s.hits(SUBMIT), 0);
}

#[tokio::test]
async fn refused_credentials_quote_microsoft_and_its_tracking_id() {
    let script = Script {
        pending: 0,
        status: "Success",
        zip: None,
    };
    let s = server(script, |_, _| {
        fault(
            401,
            105,
            "InvalidCredentials",
            "Authentication failed. Either supplied credentials are invalid or the account is inactive",
        )
    })
    .await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401 Unauthorized"), "{e}");
    assert!(
        e.contains("Authentication failed. Either supplied credentials are invalid"),
        "{e}"
    );
    assert!(e.contains("(code 105 InvalidCredentials)"), "{e}");
    assert!(
        e.contains("[TrackingId 65602e3d-f6ff-4968-920c-e420989c9e31]"),
        "{e}"
    );
    assert!(e.contains("source microsoft_ads, account 180535609"), "{e}");
    assert!(e.contains("MICROSOFT_ADS_DEVELOPER_TOKEN"), "{e}");
    assert!(
        !e.contains(DEVELOPER_TOKEN) && !e.contains(ACCESS_TOKEN),
        "{e}"
    );
    // One refresh and one more try, as for every 401.
    assert_eq!(s.hits(SUBMIT), 2);

    let s = server(
        Script {
            pending: 0,
            status: "Success",
            zip: None,
        },
        |_, _| {
            fault(
                400,
                106,
                "UserIsNotAuthorized",
                "The user does not represent a authorized developer.",
            )
        },
    )
    .await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("(code 106 UserIsNotAuthorized)"), "{e}");
    assert!(
        e.contains("may not read account 180535609 of customer 251000123"),
        "{e}"
    );
    assert_eq!(s.hits(SUBMIT), 1, "a refusal is not retried");
}

#[tokio::test]
async fn throttles_and_server_errors_are_retried() {
    let script = Script {
        pending: 0,
        status: "Success",
        zip: Some(zipped("report.csv", HOURLY)),
    };
    let s = server(script, |n, _| match n {
        // Code 117 as a 400 fault, then as a 429, then a 500.
        0 => fault(
            400,
            117,
            "CallRateExceeded",
            "You have exceeded the number of calls that you are allowed to make in a minute.",
        ),
        1 => fault(
            429,
            117,
            "CallRateExceeded",
            "You have exceeded the number of calls.",
        )
        .header("retry-after", "0"),
        2 => fault(500, 0, "InternalError", "An internal error has occurred."),
        _ => accepted(
            n,
            &RecordedRequest {
                method: String::new(),
                target: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        ),
    })
    .await;
    // Three retries for three failures (the default is five).
    let mut patient = config(&s);
    patient.shared.http.max_retries = Some(3);
    let c = patient.connector_with(&secrets).unwrap();
    let (stats, batches) = read(&c, november()).await.unwrap();
    assert_fixture_days(&batches);
    assert_eq!(s.hits(SUBMIT), 4);
    assert_eq!(stats.retries, 3, "{stats:?}");
    assert!(stats.throttled_waits >= 2, "{stats:?}");

    // Throttled past the retries: the error says so.
    let s = server(
        Script {
            pending: 0,
            status: "Success",
            zip: None,
        },
        |_, _| {
            fault(
                429,
                117,
                "CallRateExceeded",
                "You have exceeded the number of calls.",
            )
            .header("retry-after", "0")
        },
    )
    .await;
    let e = read(&connector(&s), november())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("after 2 retries"), "{e}");
    assert!(
        e.contains("Microsoft limits calls per minute (code 117)"),
        "{e}"
    );
}

#[tokio::test]
async fn check_reads_the_account() {
    let script = Script {
        pending: 0,
        status: "Success",
        zip: None,
    };
    let s = server(script, accepted).await;
    let ctx = Context {
        source: "microsoft_ads".into(),
        today: "2026-11-24".parse().unwrap(),
    };
    let report = connector(&s).check(&ctx).await.unwrap();
    assert_eq!(
        report.summary,
        "account 180535609 F149MJ18 \"Airbyte\" (USD, CentralTimeUSCanada, Active)"
    );
    let q = s
        .requests()
        .into_iter()
        .find(|r| r.path() == "/CustomerManagement/v13/Account/Query")
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&q.body).unwrap(),
        json!({"AccountId": 180535609})
    );
}

#[tokio::test]
async fn campaigns_of_every_type_are_listed() {
    let script = Script {
        pending: 0,
        status: "Success",
        zip: None,
    };
    let s = server(script, accepted).await;
    let c = connector(&s);
    let stream = c
        .streams()
        .into_iter()
        .find(|s| s.name == CAMPAIGNS)
        .unwrap();
    let (stats, batches) = read_stream(&c, stream, november()).await.unwrap();
    assert_eq!(stats.rows, 2);
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(
        text.contains("| 180535609  | 531016227 | Airbyte test     | Search        | Active |"),
        "{text}"
    );
    assert!(
        text.contains("| 180535609  | 531016228 | Airbyte audience | Audience      | Paused |"),
        "{text}"
    );
    let q = s
        .requests()
        .into_iter()
        .find(|r| r.path() == "/CampaignManagement/v13/Campaigns/QueryByAccountId")
        .unwrap();
    assert_eq!(q.header("customeraccountid"), Some(ACCOUNT));
    assert_eq!(
        serde_json::from_slice::<Value>(&q.body).unwrap(),
        json!({"AccountId": 180535609, "CampaignType": "Search Shopping DynamicSearchAds Audience PerformanceMax"})
    );
}
