//! The Mailchimp emulation read through the real connector: the reports of
//! a window and the campaign list must equal what the generator made (every
//! column, every row, and so every total), with paging, with 429s, 500s and
//! a truncated body on the way, and `kpi check`, a refused key, the sources
//! section and the API's own filters and errors.

mod common;

use common::{Generated, Row, assert_same_rows, day, rows_of};
use std::collections::HashMap;

use kpi_connector::{
    Auth, CollectSink, Connector, Context, HttpClient, HttpConfig, HttpRequest, HttpSettings,
    ReadStats, Secret, SyncWindow,
};
use kpi_connector_mailchimp::MailchimpSource;
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle};
use serde_json::Value;

/// One market, five months: about forty sends.
fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 5,
        end_date: Some(day("2024-06-30")),
        ..SandboxConfig::default()
    }
}

async fn start(config: SandboxConfig) -> SandboxHandle {
    common::start(config).await
}

fn window() -> SyncWindow {
    SyncWindow {
        start: day("2024-03-01"),
        end: day("2024-05-31"),
    }
}

fn ctx() -> Context {
    Context {
        source: "mailchimp".into(),
        today: day("2024-07-01"),
    }
}

fn generated(config: &SandboxConfig) -> Generated {
    Generated::of(config, "mailchimp")
}

/// The sum of an integer column, as displayed.
fn total(rows: &[Row], column: &str) -> i64 {
    rows.iter()
        .map(|r| r[column].1.parse::<i64>().unwrap())
        .sum()
}

fn secrets(sb: &SandboxHandle) -> impl Fn(&str) -> Option<String> + '_ {
    |name| sb.config().credentials.lookup(name)
}

fn connector(sb: &SandboxHandle, page_size: u32) -> Box<dyn Connector> {
    let text = format!(
        "base_url = \"{}\"\npage_size = {page_size}\n\
         auth = {{ type = \"basic\", username = \"kpi\", password = {{ env = \"MAILCHIMP_API_KEY\" }} }}\n\
         [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\ntimeout_secs = 20\n",
        sb.base_url()
    );
    let config: MailchimpSource = toml::from_str(&text).unwrap();
    config.build_with("mailchimp", &secrets(sb)).unwrap()
}

async fn read(c: &dyn Connector, stream: &str, w: SyncWindow) -> (ReadStats, Vec<Row>) {
    let def = c.streams().into_iter().find(|s| s.name == stream).unwrap();
    let mut sink = CollectSink::default();
    let stats = c.read(&def, w, &mut sink).await.unwrap();
    (stats, sink.batches.iter().flat_map(rows_of).collect())
}

fn requests(sb: &SandboxHandle, pattern: &str) -> u64 {
    sb.requests().get(pattern).copied().unwrap_or(0)
}

/// A client with the sandbox's key, for requests the connector never makes.
fn client(sb: &SandboxHandle) -> HttpClient {
    let auth = Auth::Basic {
        username: "anyone".into(),
        password: Secret::new(sb.config().credentials.mailchimp_api_key.clone()),
    };
    HttpClient::new(&HttpConfig::default(), HttpSettings::default(), auth).unwrap()
}

#[tokio::test]
async fn reports_and_campaigns_equal_what_the_generator_made() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = connector(&sb, 4);

    let (stats, rows) = read(c.as_ref(), "reports", window()).await;
    let want = g.daily_rows("reports", window());
    let n = want.len() as u64;
    assert!(n > 20, "{n} reports");
    // Pages of four, the last one stopped by total_items.
    assert_eq!(stats.pages, n.div_ceil(4), "{stats:?}");
    assert_eq!(requests(&sb, "GET /3.0/reports"), n.div_ceil(4));
    for column in [
        "emails_sent",
        "opens_unique_opens",
        "clicks_unique_subscriber_clicks",
        "unsubscribed",
        "bounces_hard_bounces",
    ] {
        assert_eq!(total(&rows, column), total(&want, column), "{column}");
    }
    assert_same_rows("mailchimp/reports", rows, want, &["id"]);

    // The campaign list is the whole snapshot, whatever the window.
    let (_, rows) = read(c.as_ref(), "campaigns", window()).await;
    let want = g.snapshot_rows("campaigns");
    assert!(
        want.iter()
            .all(|r| r["tracking_google_analytics"].1 != "NULL")
    );
    assert_same_rows("mailchimp/campaigns", rows, want, &["id"]);
}

#[tokio::test]
async fn faults_on_the_way_change_nothing() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = connector(&sb, 5);
    sb.set_faults(vec![
        FaultRule::new(
            "/3.0/reports",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(2),
        FaultRule::new("/3.0/reports", FaultKind::ServerError)
            .after(3)
            .times(1),
        FaultRule::new("/3.0/reports", FaultKind::Truncated)
            .after(5)
            .times(1),
    ]);
    let (stats, rows) = read(c.as_ref(), "reports", window()).await;
    let want = g.daily_rows("reports", window());
    assert_eq!(total(&rows, "emails_sent"), total(&want, "emails_sent"));
    assert_same_rows("mailchimp/reports after faults", rows, want, &["id"]);
    assert_eq!(stats.throttled_waits, 2, "{stats:?}");
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert!(sb.faults().iter().all(|f| f.fired == 1 || f.fired == 2));

    // A 429 body is Mailchimp's own.
    sb.set_faults(vec![FaultRule::new(
        "/3.0/campaigns",
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
    )]);
    let def = c
        .streams()
        .into_iter()
        .find(|s| s.name == "campaigns")
        .unwrap();
    let e = c
        .read(&def, window(), &mut CollectSink::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "429 Too Many Requests after 3 retries: Too Many Requests: You have exceeded \
                    the limit of 10 simultaneous connections."
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_refused_key_names_the_variable_and_never_the_key() {
    let sb = start(config()).await;
    let text = format!(
        "base_url = \"{}\"\n[http]\nmax_retries = 0\n",
        sb.base_url()
    );
    let config: MailchimpSource = toml::from_str(&text).unwrap();
    let c = config
        .build_with("mailchimp", &|_| Some("0000wrong0key0000-us6".into()))
        .unwrap();
    let e = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(
        e.contains("401 Unauthorized: API Key Invalid: Your API key may be invalid"),
        "{e}"
    );
    assert!(
        e.contains("MAILCHIMP_API_KEY") && !e.contains("0000wrong0key"),
        "{e}"
    );

    // The sandbox's expired-token fault is the same refusal.
    let c = connector(&sb, 10);
    sb.set_faults(vec![FaultRule::new("/3.0/", FaultKind::ExpiredToken)]);
    let e = c.check(&ctx()).await.unwrap_err().to_string();
    assert!(
        e.contains("API Key Invalid") && e.contains("MAILCHIMP_API_KEY"),
        "{e}"
    );
    let key = &sb.config().credentials.mailchimp_api_key;
    assert!(!e.contains(key.as_str()), "{e}");
}

#[tokio::test]
async fn check_and_the_sources_section() {
    let sb = start(config()).await;
    let report = connector(&sb, 10).check(&ctx()).await.unwrap();
    assert!(
        report
            .summary
            .starts_with("account Example SaaS (8d3a3db4d97663a9074efcc16, Europe/Madrid), "),
        "{}",
        report.summary
    );
    assert_eq!(report.accounts.len(), 1, "{:?}", report.accounts);
    assert!(
        report.accounts[0].contains("Example SaaS Newsletter"),
        "{:?}",
        report.accounts
    );

    // The section `kpi sandbox serve` and the demo write parses and reads.
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"]["mailchimp"].as_table().unwrap().clone();
    assert_eq!(section.remove("type").unwrap().as_str(), Some("mailchimp"));
    let config: MailchimpSource = toml::Value::Table(section).try_into().unwrap();
    let c = config.build_with("mailchimp", &secrets(&sb)).unwrap();
    let (_, rows) = read(c.as_ref(), "reports", window()).await;
    assert!(!rows.is_empty());
}

#[tokio::test]
async fn the_api_filters_pages_and_refuses_like_mailchimp() {
    let config = config();
    let g = generated(&config);
    let sb = start(config).await;
    let c = client(&sb);
    let url = |path: &str| format!("{}/3.0/{path}", sb.base_url());

    // since/before are honoured by the server: total_items is the window's.
    let w = SyncWindow {
        start: day("2024-05-01"),
        end: day("2024-05-31"),
    };
    let body: Value = c
        .send_json(
            &HttpRequest::get(url("reports"))
                .query("since_send_time", "2024-05-01T00:00:00+00:00")
                .query("before_send_time", "2024-06-01T00:00:00+00:00")
                .query(
                    "fields",
                    "reports.id,reports.opens.unique_opens,total_items",
                )
                .query("count", "2"),
        )
        .await
        .unwrap();
    let want = g.daily_rows("reports", w);
    assert_eq!(body["total_items"], want.len());
    let first = &body["reports"][0];
    assert_eq!(first.as_object().unwrap().len(), 2, "{first}");
    assert!(first["opens"]["unique_opens"].is_u64(), "{first}");
    assert_eq!(body["reports"].as_array().unwrap().len(), 2);
    assert!(body.get("_links").is_none());

    // One report by id, and a 404 in Mailchimp's words.
    let id = first["id"].as_str().unwrap();
    let one: Value = c
        .send_json(&HttpRequest::get(url(&format!("reports/{id}"))))
        .await
        .unwrap();
    assert_eq!(one["id"], id);
    assert!(
        one["send_time"].as_str().unwrap().ends_with("+00:00"),
        "{one}"
    );
    let e = c
        .send(&HttpRequest::get(url("reports/0000000000")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("404 Not Found: Resource Not Found: The requested resource could not be found."),
        "{e}"
    );
    let e = c
        .send(&HttpRequest::get(url("reports")).query("count", "5000"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("400 Bad Request: Invalid Resource: The parameter count"),
        "{e}"
    );

    // Campaigns filtered by send time and status, newest first on request.
    let body: Value = c
        .send_json(
            &HttpRequest::get(url("campaigns"))
                .query("since_send_time", "2024-05-01T00:00:00+00:00")
                .query("before_send_time", "2024-06-01T00:00:00+00:00")
                .query("status", "sent")
                .query("sort_field", "send_time")
                .query("sort_dir", "DESC"),
        )
        .await
        .unwrap();
    assert_eq!(body["total_items"], want.len());
    let times: Vec<&str> = body["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["send_time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);

    // Without the key, Mailchimp's 401.
    let anonymous =
        HttpClient::new(&HttpConfig::default(), HttpSettings::default(), Auth::None).unwrap();
    let e = anonymous
        .send(&HttpRequest::get(url("reports")))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401 Unauthorized: API Key Invalid"), "{e}");
    let counted: HashMap<String, u64> = sb.requests().into_iter().collect();
    assert!(
        counted["GET /3.0/reports/{campaign_id}"] >= 2,
        "{counted:?}"
    );
}
