//! LinkedIn Ads through the sandbox: the real connector, built from the
//! `[sources.linkedin_ads]` section the sandbox writes for itself, reads
//! `ad_analytics` and `campaigns`, and the rows must be the generator's
//! (same columns, types and values); with faults injected the totals still
//! match, and the failures that cannot be retried say what went wrong.

mod common;

use common::{Generated, Row, assert_same_rows, day, rows_of};

use kpi_connector::{
    CollectSink, Connector, ConnectorError, Context, ReadStats, StreamDef, SyncWindow,
};
use kpi_connector_linkedin_ads::{
    AD_ANALYTICS, CAMPAIGNS, LinkedInAdsConnector, LinkedInAdsSource,
};
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle};

const ANALYTICS: &str = "GET /rest/adAnalytics";
const SEARCH: &str = "GET /rest/adAccounts/{account_id}/adCampaigns";
const ACCOUNT: &str = "GET /rest/adAccounts/{account_id}";
const TOKEN: &str = "POST /oauth/v2/accessToken";

/// One market, three months ending 2024-06-30: four LinkedIn campaigns.
fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 3,
        end_date: Some(day("2024-06-30")),
        ..SandboxConfig::default()
    }
}

async fn start() -> SandboxHandle {
    common::start(config()).await
}

/// Every day of the company.
fn history() -> SyncWindow {
    SyncWindow {
        start: day("2024-04-01"),
        end: day("2024-06-30"),
    }
}

fn generated() -> Generated {
    Generated::of(&config(), "linkedin_ads")
}

/// Impressions, clicks, local cost (in cents) and conversions.
fn totals(rows: &[Row]) -> (i64, i64, i64, i64) {
    let int = |r: &Row, c: &str| r[c].1.parse::<i64>().unwrap();
    rows.iter().fold((0, 0, 0, 0), |(i, c, s, v), r| {
        (
            i + int(r, "impressions"),
            c + int(r, "clicks"),
            s + (r["cost_in_local_currency"].1.parse::<f64>().unwrap() * 100.0).round() as i64,
            v + int(r, "one_click_leads") + int(r, "external_website_conversions"),
        )
    })
}

/// The connector of the sandbox's own `[sources.linkedin_ads]` section,
/// with quick retries and `extra` settings.
fn linkedin(sb: &SandboxHandle, extra: &str) -> LinkedInAdsConnector {
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"]["linkedin_ads"].as_table().unwrap().clone();
    assert_eq!(
        section.remove("type").unwrap().as_str(),
        Some("linkedin_ads")
    );
    let extra: toml::Table = toml::from_str(&format!(
        "{extra}\n[http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\n"
    ))
    .unwrap();
    section.extend(extra);
    let source: LinkedInAdsSource = toml::Value::Table(section).try_into().unwrap();
    source
        .connector_with(&|name| sb.config().credentials.lookup(name))
        .unwrap()
}

fn stream(c: &LinkedInAdsConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

async fn read(
    c: &LinkedInAdsConnector,
    name: &str,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<Row>), ConnectorError> {
    let mut sink = CollectSink::default();
    let stats = c.read(&stream(c, name), w, &mut sink).await?;
    Ok((stats, sink.batches.iter().flat_map(rows_of).collect()))
}

#[tokio::test]
async fn linkedin_reads_what_the_generator_made() {
    let g = generated();
    let sb = start().await;
    let c = linkedin(&sb, "page_size = 3");
    let account = &g.snapshot_rows("campaigns")[0]["account_id"].1;
    assert_eq!(c.account_ids(), [account.as_str()]);

    // A backfill of the whole history: one request holds it.
    let (stats, rows) = read(&c, AD_ANALYTICS, history()).await.unwrap();
    let want = g.daily_rows("ad_analytics", history());
    assert_eq!(totals(&rows), totals(&want));
    assert_same_rows("ad_analytics", rows, want, &["date", "campaign_id"]);
    assert_eq!(stats.pages, 1);

    // An incremental window; the fields split over four requests, merged.
    let w = SyncWindow {
        start: day("2024-06-11"),
        end: day("2024-06-20"),
    };
    let split = linkedin(&sb, "").with_fields_per_request(4);
    let (stats, rows) = read(&split, AD_ANALYTICS, w).await.unwrap();
    assert_eq!(stats.pages, 4);
    assert_same_rows(
        "ad_analytics (split)",
        rows,
        g.daily_rows("ad_analytics", w),
        &["date", "campaign_id"],
    );

    // Four campaigns, three a page.
    let (stats, rows) = read(&c, CAMPAIGNS, history()).await.unwrap();
    assert_eq!(stats.pages, 2);
    assert_same_rows("campaigns", rows, g.snapshot_rows("campaigns"), &["id"]);

    let ctx = Context {
        source: "linkedin_ads".into(),
        today: day("2024-07-01"),
    };
    let report = c.check(&ctx).await.unwrap();
    assert_eq!(
        report.summary,
        format!("ad account {account} \"ExampleSoft\" (USD, ACTIVE)")
    );

    let requests = sb.requests();
    assert_eq!(requests[ANALYTICS], 5);
    assert_eq!(requests[SEARCH], 2);
    // The currency once per connector, and the check.
    assert_eq!(requests[ACCOUNT], 3);
    // One token per connector: the client caches it.
    assert_eq!(requests[TOKEN], 2);
}

#[tokio::test]
async fn faults_are_retried_and_the_totals_still_match() {
    let g = generated();
    let sb = start().await;
    sb.set_faults(vec![
        FaultRule::new(
            "/rest/adAnalytics",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(1),
        FaultRule::new("/rest/adAnalytics", FaultKind::ServerError)
            .after(1)
            .times(1),
        FaultRule::new("/rest/adAnalytics", FaultKind::ExpiredToken)
            .after(2)
            .times(1),
        FaultRule::new("/rest/adAnalytics", FaultKind::Truncated)
            .after(3)
            .times(1),
        FaultRule::new("/adCampaigns", FaultKind::ServerError).times(1),
    ]);
    let c = linkedin(&sb, "");
    let (stats, rows) = read(&c, AD_ANALYTICS, history()).await.unwrap();
    assert_eq!(
        totals(&rows),
        totals(&g.daily_rows("ad_analytics", history()))
    );
    // 429, 500, the expired token's refresh and the cut body: four retries.
    assert_eq!(stats.retries, 4, "{stats:?}");
    assert_eq!(stats.throttled_waits, 1);
    assert_eq!(sb.requests()[TOKEN], 2);

    let (stats, rows) = read(&c, CAMPAIGNS, history()).await.unwrap();
    assert_eq!(stats.retries, 1);
    assert_same_rows("campaigns", rows, g.snapshot_rows("campaigns"), &["id"]);
    assert!(
        sb.faults().iter().all(|f| f.fired == 1),
        "{:?}",
        sb.faults()
    );

    // A body that is not JSON is not retried and says so.
    sb.set_faults(vec![
        FaultRule::new("/rest/adAnalytics", FaultKind::Malformed).times(1),
    ]);
    let e = read(&c, AD_ANALYTICS, history())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/rest/adAnalytics?q=analytics") && e.contains("the response is not valid JSON"),
        "{e}"
    );

    // The daily limit, every time: retried, then LinkedIn's words and the remedy.
    sb.set_faults(vec![FaultRule::new(
        "/rest/adAnalytics",
        FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
    )]);
    let e = read(&c, AD_ANALYTICS, history())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "429 Too Many Requests after 3 retries: Resource level throttle APPLICATION DAY limit"
        ),
        "{e}"
    );
    assert!(e.contains("per application and day"), "{e}");
    assert!(
        !e.contains("sandbox-refresh-token") && !e.contains("sandbox-client-secret"),
        "{e}"
    );
}

#[tokio::test]
async fn an_account_without_a_role_is_refused_with_the_remedy() {
    let sb = start().await;
    let c = linkedin(&sb, "account_ids = [\"urn:li:sponsoredAccount:999\"]");
    let ctx = Context {
        source: "linkedin_ads".into(),
        today: day("2024-07-01"),
    };
    let e = c.check(&ctx).await.unwrap_err().to_string();
    assert!(
        e.contains("403 Forbidden: Not enough permissions to access: adAccounts.GET."),
        "{e}"
    );
    assert!(e.contains("role on ad account 999"), "{e}");
    let e = read(&c, CAMPAIGNS, history())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("adCampaigns.FINDER-search"), "{e}");
}
