//! The Salesforce emulation read through the real connector, configured as
//! `kpi sandbox serve` prints it (the instance from the token response):
//! every object read whole, and the records changed since a day, must equal
//! what the generator made (every column, every row), over pages chained
//! by `nextRecordsUrl`; an expired session, 5xx and the daily API limit on
//! the way; `kpi check`.

mod common;

use common::{Generated, Row, assert_same_rows, day, rows_of};

use kpi_connector::{CollectSink, Connector, Context, ReadStats, SyncWindow};
use kpi_connector_salesforce::{OBJECTS, SalesforceSource};
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle};

fn config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 5,
        end_date: Some(day("2024-06-30")),
        ..SandboxConfig::default()
    }
}

/// The connector from the sandbox's own `[sources.salesforce]`, with small
/// pages and quick retries.
fn connector(sb: &SandboxHandle) -> Box<dyn Connector> {
    let section = sb.sources_toml();
    let start = section
        .find("[sources.salesforce]")
        .expect("a salesforce section");
    let body: String = section[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.starts_with("type = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!body.lines().any(|l| l.starts_with("base_url")), "{body}");
    let text = format!(
        "{body}batch_size = 37\n[http]\nbackoff_base_secs = 0.001\nbackoff_max_secs = 0.01\nmax_retries = 3\n"
    );
    let config: SalesforceSource = toml::from_str(&text).unwrap();
    config
        .build_with("salesforce", &|n| sb.config().credentials.lookup(n))
        .unwrap()
}

async fn read(
    c: &dyn Connector,
    stream: &str,
    w: SyncWindow,
) -> Result<(ReadStats, Vec<Row>), String> {
    let def = c.streams().into_iter().find(|s| s.name == stream).unwrap();
    let mut sink = CollectSink::default();
    let stats = c
        .read(&def, w, &mut sink)
        .await
        .map_err(|e| e.to_string())?;
    Ok((stats, sink.batches.iter().flat_map(rows_of).collect()))
}

fn everything() -> SyncWindow {
    SyncWindow::everything(day("2024-06-30"))
}

#[tokio::test]
async fn every_object_read_whole_and_incrementally_is_the_generators() {
    let config = config();
    let g = Generated::of(&config, "salesforce");
    let sb = common::start(config).await;
    let c = connector(&sb);
    for object in OBJECTS {
        let (stats, got) = read(c.as_ref(), object.stream, everything()).await.unwrap();
        let want = g.snapshot_rows(object.stream);
        assert_eq!(
            stats.pages,
            want.len().div_ceil(37) as u64,
            "{}",
            object.stream
        );
        assert_same_rows(object.stream, got, want, &["Id"]);
    }
    // The chained pages were asked for by their locator.
    let requests = sb.requests();
    assert!(
        requests["GET /services/data/{version}/query/{locator}"] > 5,
        "{requests:?}"
    );
    assert_eq!(requests["POST /services/oauth2/token"], 1);

    // Changes since a day: the records whose SystemModstamp is on or after it.
    let since = SyncWindow {
        start: day("2024-06-01"),
        end: day("2024-06-30"),
    };
    for stream in ["leads", "opportunities"] {
        let (_, got) = read(c.as_ref(), stream, since).await.unwrap();
        let want: Vec<Row> = g
            .snapshot_rows(stream)
            .into_iter()
            .filter(|r| r["SystemModstamp"].1.as_str() >= "2024-06-01")
            .collect();
        assert!(
            want.len() < g.snapshot_rows(stream).len(),
            "{stream}: some are older"
        );
        assert_same_rows(stream, got, want, &["Id"]);
    }
    // The money the opportunities hold, in their currency (the US unit's dollars).
    let (_, opps) = read(c.as_ref(), "opportunities", everything())
        .await
        .unwrap();
    assert!(opps.iter().all(|r| r["CurrencyIsoCode"].1 == "USD"));
    let won: f64 = opps
        .iter()
        .filter(|r| r["IsWon"].1 == "true")
        .map(|r| r["Amount"].1.parse::<f64>().unwrap())
        .sum();
    let want: f64 = g
        .snapshot_rows("opportunities")
        .iter()
        .filter(|r| r["IsWon"].1 == "true")
        .map(|r| r["Amount"].1.parse::<f64>().unwrap())
        .sum();
    assert!(want > 0.0 && (won - want).abs() < 1e-6, "{won} vs {want}");
}

#[tokio::test]
async fn faults_come_in_salesforces_words() {
    let config = config();
    let g = Generated::of(&config, "salesforce");
    let sb = common::start(config).await;
    let c = connector(&sb);
    // An expired session mid-read: one refresh, the read completes.
    sb.set_faults(vec![
        FaultRule::new("/query/", FaultKind::ExpiredToken).times(1),
        FaultRule::new("/services/data", FaultKind::ServerError)
            .after(3)
            .times(2),
    ]);
    let (stats, got) = read(c.as_ref(), "leads", everything()).await.unwrap();
    assert!(stats.retries >= 3, "{stats:?}");
    assert_same_rows("leads", got, g.snapshot_rows("leads"), &["Id"]);
    assert_eq!(sb.requests()["POST /services/oauth2/token"], 2);

    // The daily limit: at once, named.
    sb.set_faults(vec![FaultRule::new(
        "/services/data",
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
    )]);
    let before = sb.requests()["GET /services/data/{version}/query"];
    let e = read(c.as_ref(), "contacts", everything())
        .await
        .unwrap_err();
    assert!(
        e.contains("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
        "{e}"
    );
    assert!(e.contains("daily API request limit"), "{e}");
    assert_eq!(
        sb.requests()["GET /services/data/{version}/query"],
        before + 1
    );
    sb.set_faults(vec![]);

    // Expired on every try: the second refusal fails, naming the variable.
    sb.set_faults(vec![FaultRule::new("/query", FaultKind::ExpiredToken)]);
    let e = read(c.as_ref(), "contacts", everything())
        .await
        .unwrap_err();
    assert!(
        e.contains("INVALID_SESSION_ID") && e.contains("SALESFORCE_REFRESH_TOKEN"),
        "{e}"
    );
    sb.set_faults(vec![]);

    let report = c
        .check(&Context {
            source: "salesforce".into(),
            today: day("2024-07-01"),
        })
        .await
        .unwrap();
    assert!(
        report.summary.starts_with(&format!(
            "Salesforce {}: ",
            sb.base_url().trim_end_matches('/')
        )),
        "{}",
        report.summary
    );
}
