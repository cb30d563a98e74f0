//! `kpi sync` and `kpi check` through the binary, against a local server that
//! replays Meta's real-format responses (the Airbyte fixtures saved in
//! crates/connectors/meta_ads/tests/fixtures, see SOURCE.md there).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kpi_connector::testing::{TestResponse, TestServer};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");
const TOKEN: &str = "EAAB-sandbox-secret-token-4242";

fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../connectors/meta_ads/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Meta Graph API stand-in: insights and campaigns from the fixtures; every
/// insights request fails with a 500 while `broken` is set.
async fn meta_server(broken: Arc<AtomicBool>) -> TestServer {
    let insights = fixture("ads_insights_action_product_id.json");
    let campaigns = fixture("campaigns.json");
    TestServer::start(move |req| {
        let (insights, campaigns, broken) = (insights.clone(), campaigns.clone(), broken.clone());
        async move {
            if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                return TestResponse::json(
                    401,
                    &serde_json::json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}),
                );
            }
            let path = req.path().to_string();
            if path.ends_with("/insights") {
                if broken.load(Ordering::SeqCst) {
                    return TestResponse::json(
                        500,
                        &serde_json::json!({"error": {"message": "An unknown error occurred", "code": 1}}),
                    );
                }
                return TestResponse::json(200, &insights);
            }
            if path.ends_with("/campaigns") {
                return TestResponse::json(200, &campaigns);
            }
            if path.contains("/act_") {
                return TestResponse::json(
                    200,
                    &serde_json::json!({"name": "Test account", "currency": "USD", "timezone_name": "America/Los_Angeles", "account_status": 1, "id": "act_798085168510957"}),
                );
            }
            TestResponse::json(404, &serde_json::json!({"error": {"message": "Unknown path"}}))
        }
    })
    .await
}

fn setup(dir: &Path, base_url: &str) -> PathBuf {
    let cfg = dir.join("kpi.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[reporting]
currency = "USD"
timezone = "UTC"

[sources.meta]
type = "meta_ads"
ad_account_ids = ["798085168510957"]
access_token = {{ env = "KPI_TEST_META_TOKEN" }}
base_url = "{base_url}"
start_date = "2023-05-01"
http = {{ max_retries = 2, backoff_base_secs = 0.01, backoff_max_secs = 0.05 }}
"#
        ),
    )
    .unwrap();
    cfg
}

fn kpi(cfg: &Path, args: &[&str]) -> Output {
    Command::new(KPI)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("KPI_TEST_META_TOKEN", TOKEN)
        .output()
        .unwrap()
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let out = kpi(cfg, args);
    assert!(
        out.status.success(),
        "kpi {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_lands_the_api_rows_once_and_a_failed_sync_changes_nothing() {
    let broken = Arc::new(AtomicBool::new(false));
    let server = meta_server(broken.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &server.url(""));
    let cfg_s = cfg.clone();

    // `kpi check` probes the account with the API's own answer.
    let out = tokio::task::spawn_blocking(move || ok(&cfg_s, &["check"]))
        .await
        .unwrap();
    assert!(out.contains("meta (meta_ads): OK"), "{out}");

    let sync = |args: &'static [&'static str]| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || kpi(&cfg, args))
    };
    let out = sync(&[
        "--as-of",
        "2023-06-02",
        "sync",
        "--from",
        "2023-06-01",
        "--to",
        "2023-06-01",
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("meta.ads_insights"), "{summary}");

    // The two fixture rows of 2023-06-01: spend 14.35 + 8.53, impressions
    // 185 + 171, clicks 9 + 7.
    let sql = "SELECT count(*) AS n, round(sum(spend), 2) AS spend, sum(impressions) AS imp, \
               sum(clicks) AS clicks, min(date) AS day FROM meta.ads_insights";
    let totals = |cfg: &Path| ok(cfg, &["sql", sql, "--format", "csv"]);
    let first = tokio::task::block_in_place(|| totals(&cfg));
    assert!(first.contains("2,22.88,356,16,2023-06-01"), "{first}");
    let campaigns = tokio::task::block_in_place(|| {
        ok(
            &cfg,
            &[
                "sql",
                "SELECT count(*) AS n FROM meta.campaigns",
                "--format",
                "csv",
            ],
        )
    });
    assert!(campaigns.contains("\n1\n"), "{campaigns}");

    // Again: the day is replaced, not appended.
    let out = sync(&[
        "--as-of",
        "2023-06-02",
        "sync",
        "--from",
        "2023-06-01",
        "--to",
        "2023-06-01",
    ])
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(tokio::task::block_in_place(|| totals(&cfg)), first);

    // A failing API: the sync fails with the API's words and without the
    // token; the lake and its state are byte for byte as before.
    let lake = dir.path().join("lake");
    let before = common::lake_files(&lake);
    broken.store(true, Ordering::SeqCst);
    let out = sync(&["--as-of", "2023-06-10", "sync"]).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("meta.ads_insights") && err.contains("500"),
        "{err}"
    );
    assert!(err.contains("An unknown error occurred"), "{err}");
    assert!(!err.contains(TOKEN), "the token leaked: {err}");
    let after = common::lake_files(&lake);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after
            .keys()
            .filter(|p| !p.starts_with(lake.join("_tmp")))
            .collect::<Vec<_>>()
    );
    for (p, bytes) in &before {
        assert_eq!(Some(bytes), after.get(p), "{} changed", p.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_the_apis_own_error() {
    let server = meta_server(Arc::new(AtomicBool::new(false))).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &server.url(""));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(KPI)
            .arg("--config")
            .arg(&cfg)
            .arg("check")
            .env("KPI_TEST_META_TOKEN", "wrong-token")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("meta (meta_ads): FAILED"), "{text}");
    assert!(text.contains("Invalid OAuth access token"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
}
