//! Microsoft Advertising through the sandbox: the real connector, built
//! from the `[sources.microsoft_ads]` section the sandbox writes for
//! itself, submits, polls and downloads `campaign_performance`, and the
//! rows must be the generator's (same columns, types and values); with
//! faults injected the totals still match, and the failures that cannot be
//! retried say what went wrong.

mod common;

use common::{Generated, Row, assert_same_rows, day, rows_of};

use kpi_connector::{CollectSink, Connector, ConnectorError, Context, ReadStats, SyncWindow};
use kpi_connector_microsoft_ads::{MicrosoftAdsConnector, MicrosoftAdsSource};
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle, patterns};

/// One market, three months ending 2024-06-30; two polls `Pending` each.
fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 3,
        end_date: Some(day("2024-06-30")),
        microsoft_pending_polls: 2,
        ..SandboxConfig::default()
    }
}

fn history() -> SyncWindow {
    SyncWindow {
        start: day("2024-04-01"),
        end: day("2024-06-30"),
    }
}

/// Impressions, clicks, spend and revenue in cents, conversions in
/// hundredths.
fn totals(rows: &[Row]) -> (i64, i64, i64, i64, i64) {
    let int = |r: &Row, c: &str| r[c].1.parse::<i64>().unwrap();
    let cents = |r: &Row, c: &str| (r[c].1.parse::<f64>().unwrap() * 100.0).round() as i64;
    rows.iter().fold((0, 0, 0, 0, 0), |(i, c, s, v, r), row| {
        (
            i + int(row, "impressions"),
            c + int(row, "clicks"),
            s + cents(row, "spend"),
            v + cents(row, "conversions"),
            r + cents(row, "revenue"),
        )
    })
}

/// The connector of the sandbox's own section, with quick polls and
/// retries and `extra` settings.
fn microsoft(sb: &SandboxHandle, extra: &str) -> MicrosoftAdsConnector {
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"]["microsoft_ads"].as_table().unwrap().clone();
    assert_eq!(
        section.remove("type").unwrap().as_str(),
        Some("microsoft_ads")
    );
    let extra: toml::Table = toml::from_str(&format!(
        "poll_interval_secs = 0.01\nmax_poll_interval_secs = 0.02\nthrottle_wait_secs = 0.01\n{extra}\n\
         [http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\n"
    ))
    .unwrap();
    section.extend(extra);
    let source: MicrosoftAdsSource = toml::Value::Table(section).try_into().unwrap();
    source
        .connector_with(&|name| sb.config().credentials.lookup(name))
        .unwrap()
}

async fn read(
    c: &MicrosoftAdsConnector,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<Row>), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&c.streams()[0], w, &mut sink).await?;
    Ok((stats, sink.batches.iter().flat_map(rows_of).collect()))
}

#[tokio::test]
async fn microsoft_reads_what_the_generator_made() {
    let g = Generated::of(&config(), "microsoft_ads");
    let sb = common::start(config()).await;
    let c = microsoft(&sb, "");
    let (stats, rows) = read(&c, history()).await.unwrap();
    let want = g.daily_rows("campaign_performance", history());
    assert_eq!(totals(&rows), totals(&want));
    assert!(totals(&want).2 > 0, "the generator spent nothing");
    assert_same_rows("campaign_performance", rows, want, &["date", "campaign_id"]);
    assert_eq!(stats.pages, 1);

    let requests = sb.requests();
    assert_eq!(requests[patterns::MICROSOFT_SUBMIT], 1);
    // Two Pending, then Success.
    assert_eq!(requests[patterns::MICROSOFT_POLL], 3);
    assert_eq!(requests[patterns::MICROSOFT_DOWNLOAD], 1);
    assert_eq!(requests[patterns::MICROSOFT_TOKEN], 1);

    // A window of one day.
    let w = SyncWindow {
        start: day("2024-06-12"),
        end: day("2024-06-12"),
    };
    let (_, rows) = read(&c, w).await.unwrap();
    assert_same_rows(
        "one day",
        rows,
        g.daily_rows("campaign_performance", w),
        &["campaign_id"],
    );

    // Every campaign, search and audience, from Campaign Management.
    let campaigns = c
        .streams()
        .into_iter()
        .find(|s| s.name == "campaigns")
        .unwrap();
    let mut sink = CollectSink::default();
    c.read(&campaigns, history(), &mut sink).await.unwrap();
    let rows: Vec<Row> = sink.batches.iter().flat_map(rows_of).collect();
    assert_eq!(rows.len(), 4);
    assert_same_rows("campaigns", rows, g.snapshot_rows("campaigns"), &["id"]);
    assert_eq!(sb.requests()[patterns::MICROSOFT_CAMPAIGNS], 1);

    let ctx = Context {
        source: "microsoft_ads".into(),
        today: day("2024-07-01"),
    };
    let report = c.check(&ctx).await.unwrap();
    assert_eq!(
        report.summary,
        "account 150000001 F1500001 \"Example SaaS\" (EUR, BrusselsCopenhagenMadridParis, Active)"
    );
}

#[tokio::test]
async fn a_window_without_delivery_is_no_rows() {
    let sb = common::start(config()).await;
    let c = microsoft(&sb, "");
    let w = SyncWindow {
        start: day("2023-01-01"),
        end: day("2023-01-31"),
    };
    let (stats, rows) = read(&c, w).await.unwrap();
    assert!(rows.is_empty());
    assert_eq!(stats.rows, 0);
    assert_eq!(sb.requests().get(patterns::MICROSOFT_DOWNLOAD), None);
}

#[tokio::test]
async fn faults_are_retried_and_the_totals_still_match() {
    let g = Generated::of(&config(), "microsoft_ads");
    let sb = common::start(config()).await;
    sb.set_faults(vec![
        FaultRule::new(
            "/GenerateReport/Submit",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(1),
        FaultRule::new("/GenerateReport/Poll", FaultKind::ServerError).times(1),
        FaultRule::new("/GenerateReport/Poll", FaultKind::ExpiredToken)
            .after(2)
            .times(1),
        FaultRule::new("/ReportDownload/", FaultKind::Truncated).times(1),
    ]);
    let c = microsoft(&sb, "");
    let (stats, rows) = read(&c, history()).await.unwrap();
    assert_eq!(
        totals(&rows),
        totals(&g.daily_rows("campaign_performance", history()))
    );
    // 429, 500, the expired token's refresh and the cut body.
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert_eq!(stats.throttled_waits, 1);
    assert_eq!(sb.requests()[patterns::MICROSOFT_TOKEN], 2);
    assert!(
        sb.faults().iter().all(|f| f.fired == 1),
        "{:?}",
        sb.faults()
    );

    // The rate limit every time: retried, then Microsoft's words and the remedy.
    sb.set_faults(vec![FaultRule::new(
        "/GenerateReport/Submit",
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
    )]);
    let e = read(&c, history()).await.unwrap_err().to_string();
    assert!(e.contains("429 Too Many Requests after 3 retries"), "{e}");
    assert!(
        e.contains("(code 117 CallRateExceeded)") && e.contains("[TrackingId "),
        "{e}"
    );
    assert!(e.contains("source microsoft_ads, account 150000001"), "{e}");
    assert!(
        !e.contains("sandbox-refresh-token") && !e.contains("sandbox-msads-developer-token"),
        "{e}"
    );
}

#[tokio::test]
async fn wrong_credentials_and_accounts_are_refused_with_the_remedy() {
    let sb = common::start(config()).await;
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"]["microsoft_ads"].as_table().unwrap().clone();
    section.remove("type");
    let source: MicrosoftAdsSource = toml::Value::Table(section).try_into().unwrap();
    let c = source
        .connector_with(&|name| match name {
            "MICROSOFT_ADS_DEVELOPER_TOKEN" => Some("not-the-developer-token".into()),
            other => sb.config().credentials.lookup(other),
        })
        .unwrap();
    let e = read(&c, history()).await.unwrap_err().to_string();
    assert!(e.contains("401 Unauthorized"), "{e}");
    assert!(e.contains("(code 105 InvalidCredentials)"), "{e}");
    assert!(
        e.contains("developer token in MICROSOFT_ADS_DEVELOPER_TOKEN"),
        "{e}"
    );
    assert!(!e.contains("not-the-developer-token"), "{e}");

    let c = microsoft(&sb, "account_ids = [\"999\"]");
    let e = read(&c, history()).await.unwrap_err().to_string();
    assert!(e.contains("(code 106 UserIsNotAuthorized)"), "{e}");
    assert!(
        e.contains("may not read account 999 of customer 251000123"),
        "{e}"
    );

    // A report that never leaves Pending fails naming it.
    let mut slow = config();
    slow.microsoft_pending_polls = u32::MAX;
    let sb = common::start(slow).await;
    let c = microsoft(&sb, "report_timeout_secs = 0.1");
    let e = read(&c, history()).await.unwrap_err().to_string();
    assert!(e.contains("was still Pending after"), "{e}");
    assert!(
        e.contains("of source microsoft_ads, account 150000001 (2024-04-01 to 2024-06-30)"),
        "{e}"
    );
}
