//! `kpi sync` when the lake cannot be written half way through a source's
//! commit: the source is replaced all or nothing (README, `kpi sync`), the
//! message names the path that failed, and once the cause is gone the next
//! sync goes through. The API is a local stand-in replaying Meta's
//! real-format responses (the fixtures in
//! crates/connectors/meta_ads/tests/fixtures), with a late revision of
//! every day's spend between the first sync and the failing one, so a day
//! replaced by the failing sync would show.
//!
//! Tests run as root, for whom no permission makes a directory unwritable,
//! so the fault is something in the way of the last day's partition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use kpi_connector::testing::{TestResponse, TestServer};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");
const TOKEN: &str = "EAAB-sandbox-secret-token-4242";
/// The days synced; the fault is in the way of the last one, so that with
/// one piece per stream the days before it are renamed into place first.
const DAYS: [&str; 5] = [
    "2023-06-01",
    "2023-06-02",
    "2023-06-03",
    "2023-06-04",
    "2023-06-05",
];
const SYNC: [&str; 7] = [
    "--as-of",
    "2023-06-06",
    "sync",
    "--from",
    "2023-06-01",
    "--to",
    "2023-06-05",
];

fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../connectors/meta_ads/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Meta Graph API stand-in: the fixture's two insight rows on each of
/// [`DAYS`], their spend raised by `revision` (a late revision), and the
/// fixture's campaigns.
async fn meta_server(revision: Arc<AtomicU32>) -> TestServer {
    let insights = fixture("ads_insights_action_product_id.json");
    let campaigns = fixture("campaigns.json");
    TestServer::start(move |req| {
        let (insights, campaigns, revision) =
            (insights.clone(), campaigns.clone(), revision.clone());
        async move {
            if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
                return TestResponse::json(
                    401,
                    &serde_json::json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}),
                );
            }
            let path = req.path().to_string();
            if path.ends_with("/insights") {
                let r = f64::from(revision.load(Ordering::SeqCst));
                let mut rows = Vec::new();
                for day in DAYS {
                    for row in insights["data"].as_array().unwrap() {
                        let mut row = row.clone();
                        let spend: f64 = row["spend"].as_str().unwrap().parse().unwrap();
                        row["spend"] = format!("{:.2}", spend + r).into();
                        row["date_start"] = day.into();
                        row["date_stop"] = day.into();
                        rows.push(row);
                    }
                }
                return TestResponse::json(200, &serde_json::json!({"data": rows}));
            }
            if path.ends_with("/campaigns") {
                return TestResponse::json(200, &campaigns);
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
http = {{ max_retries = 2, backoff_base_secs = 0.01, backoff_max_secs = 0.05, max_concurrency = 1 }}
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

/// Everything under the lake but the write lock (which only names the last
/// process that held it): files with their bytes, directories, and symbolic
/// links with where they point (a dangling one too, which
/// `common::lake_files` would try to read). `_tmp/` is included: a failed
/// sync must leave nothing there either.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let (p, kind) = (e.path(), e.file_type().unwrap());
            if kind.is_dir() {
                out.insert(p.clone(), b"<dir>".to_vec());
                stack.push(p);
            } else if kind.is_symlink() {
                let to = std::fs::read_link(&p).unwrap();
                out.insert(p, format!("<link to {}>", to.display()).into_bytes());
            } else if p.file_name().is_some_and(|n| n != "sync.lock") {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn assert_same(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) {
    for (p, bytes) in before {
        assert!(
            after.get(p) == Some(bytes),
            "{} changed or went",
            p.display()
        );
    }
    for p in after.keys() {
        assert!(before.contains_key(p), "{} appeared", p.display());
    }
}

/// What is in the way of the last day's partition.
enum Obstacle {
    /// A regular file where the directory should be: reading it fails, as
    /// does creating anything in it.
    File,
    /// A symbolic link to nowhere: the day reads as absent, so the commit
    /// gets as far as creating the directory, which fails after the days
    /// before it were renamed into place (as a full disk would).
    DanglingLink,
}

async fn a_failed_commit_changes_nothing(obstacle: Obstacle) {
    let revision = Arc::new(AtomicU32::new(0));
    let server = meta_server(revision.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &server.url(""));
    let lake = dir.path().join("lake");
    let run = |args: &'static [&'static str]| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || kpi(&cfg, args))
    };

    let out = run(&SYNC).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = lake.join("_state/meta.json");
    assert!(state.exists());

    // Meta revises every day; the last day's partition cannot be written.
    revision.store(1, Ordering::SeqCst);
    let last = lake.join("raw/meta/ads_insights/date=2023-06-05");
    std::fs::remove_dir_all(&last).unwrap();
    match obstacle {
        Obstacle::File => std::fs::write(&last, b"in the way").unwrap(),
        Obstacle::DanglingLink => {
            std::os::unix::fs::symlink(dir.path().join("nowhere/at/all"), &last).unwrap()
        }
    }
    let before = tree(&lake);

    let out = run(&SYNC).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // The path that failed, and what became of the source (true: below).
    assert!(err.contains("date=2023-06-05"), "{err}");
    assert!(err.contains("no file of meta was replaced"), "{err}");
    assert!(
        err.contains("meta: lake and cursors left as they were"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "the token leaked: {err}");
    // Every file, the cursors and `_tmp/` byte for byte as before: not one
    // of the four days before the failing one was replaced.
    assert_same(&before, &tree(&lake));

    // The cause gone, the same sync goes through with the revised spend:
    // 5 days x (14.35 + 1 + 8.53 + 1).
    std::fs::remove_file(&last).unwrap();
    let out = run(&SYNC).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg2 = cfg.clone();
    let totals = tokio::task::spawn_blocking(move || {
        ok(
            &cfg2,
            &[
                "sql",
                "SELECT count(*) AS n, round(sum(spend), 2) AS spend, count(DISTINCT date) AS days \
                 FROM meta.ads_insights",
                "--format",
                "csv",
            ],
        )
    })
    .await
    .unwrap();
    assert!(totals.contains("10,124.4,5"), "{totals}");
    let cursor: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        cursor["streams"]["ads_insights"]["synced_through"],
        "2023-06-05"
    );
    let tmp: Vec<_> = std::fs::read_dir(lake.join("_tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_that_is_a_file_fails_the_sync_and_changes_nothing() {
    a_failed_commit_changes_nothing(Obstacle::File).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_that_cannot_be_created_half_way_is_undone() {
    a_failed_commit_changes_nothing(Obstacle::DanglingLink).await;
}
