//! `kpi sync` of Search Console from the sandbox into a lake, with the
//! runner, the registry and the section the sandbox writes for itself: the
//! lake's day files hold the generator's numbers (sums of clicks and
//! impressions equal, of `ctr` within float rounding), a sync through
//! retried 429s writes the same, and a sync whose requests keep failing is
//! reported in Google's words and leaves the lake and the cursor as they
//! were.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::NaiveDate;
use kpi_core::Config;
use kpi_lake::{Durability, Lake, PART_FILE, StreamSpec};
use kpi_pipeline::sync::{SecretLookup, SyncOptions, sync};
use kpi_sandbox::server::{FaultKind, FaultRule, SandboxConfig, SandboxHandle, serve};
use kpi_sandbox::{RawSink, SinkError};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const SOURCE: &str = "search_console";
const STREAM: &str = "search_analytics";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        scale: 0.3,
        months: 3,
        end_date: Some(day("2024-06-30")),
        ..SandboxConfig::default()
    }
}

/// Sums of clicks, impressions and ctr, and the rows.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    clicks: i64,
    impressions: i64,
    ctr: f64,
    rows: usize,
}

impl Totals {
    fn add(&mut self, b: &RecordBatch) {
        let ints = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>()
        };
        self.clicks += ints("clicks");
        self.impressions += ints("impressions");
        self.ctr += b
            .column_by_name("ctr")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .sum::<f64>();
        self.rows += b.num_rows();
    }

    fn assert_same(&self, want: &Totals) {
        assert!(want.rows > 1000, "{want:?}");
        assert_eq!(
            (self.clicks, self.impressions, self.rows),
            (want.clicks, want.impressions, want.rows)
        );
        assert!((self.ctr - want.ctr).abs() < 1e-12, "{self:?} {want:?}");
    }
}

/// The generator's Search Console totals from `start` to `end`.
struct Generated {
    start: NaiveDate,
    end: NaiveDate,
    totals: Totals,
}

impl RawSink for Generated {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        b: RecordBatch,
    ) -> Result<(), SinkError> {
        if (spec.source_type, spec.stream) == (SOURCE, STREAM)
            && (self.start..=self.end).contains(&date)
        {
            self.totals.add(&b);
        }
        Ok(())
    }

    fn snapshot(&mut self, _: &StreamSpec, _: RecordBatch) -> Result<(), SinkError> {
        Ok(())
    }
}

fn generated(start: &str, end: &str) -> Totals {
    let mut g = Generated {
        start: day(start),
        end: day(end),
        totals: Totals::default(),
    };
    kpi_sandbox::generate(&sandbox_config().company(), &mut g).unwrap();
    g.totals
}

/// A kpi.toml with the sandbox's own `[sources.search_console]`, its
/// retries made quick.
fn write_config(dir: &Path, sb: &SandboxHandle) -> Config {
    let all: toml::Table = toml::from_str(&sb.sources_toml()).unwrap();
    let mut section = all["sources"][SOURCE].as_table().unwrap().clone();
    let http = section.get_mut("http").unwrap().as_table_mut().unwrap();
    http.insert("max_retries".into(), toml::Value::Integer(2));
    http.insert("backoff_base_secs".into(), toml::Value::Float(0.001));
    http.insert("backoff_max_secs".into(), toml::Value::Float(0.01));
    let mut sources = toml::Table::new();
    sources.insert(SOURCE.into(), toml::Value::Table(section));
    let mut root = toml::Table::new();
    root.insert("sources".into(), toml::Value::Table(sources));
    let text = format!(
        "[reporting]\ncurrency = \"EUR\"\n\n[lake]\npath = \"lake\"\n\n{}",
        toml::to_string(&root).unwrap()
    );
    let path = dir.join("kpi.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

fn options(sb: &SandboxHandle, start: &str, end: &str) -> SyncOptions {
    let credentials = sb.config().credentials.clone();
    SyncOptions {
        source: Some(SOURCE.into()),
        range: Some((day(start), day(end))),
        today: day("2024-07-01"),
        secrets: Some(SecretLookup(Arc::new(move |n: &str| credentials.lookup(n)))),
        durability: Some(Durability::Os),
        ..SyncOptions::default()
    }
}

/// The lake's totals from `start` to `end`, every day having its file.
fn lake_totals(lake: &Lake, start: &str, end: &str) -> Totals {
    let mut totals = Totals::default();
    let mut d = day(start);
    while d <= day(end) {
        let path = lake.partition_dir(SOURCE, STREAM, d).join(PART_FILE);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        for b in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            totals.add(&b.unwrap());
        }
        d = d.succ_opt().unwrap();
    }
    totals
}

/// Every file of the stream and the cursors, with their bytes.
fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join("raw"), root.join("_state")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_lands_the_generators_numbers_and_a_failed_one_changes_nothing() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sb = serve(sandbox_config(), addr).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sb);
    let lake = Lake::create(&config.lake_path()).unwrap();

    // June, from the sandbox into the lake.
    let june = generated("2024-06-01", "2024-06-30");
    let outcome = sync(
        &config,
        &options(&sb, "2024-06-01", "2024-06-30"),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let report = &outcome.reports[0];
    assert_eq!(report.stream, "search_console.search_analytics");
    assert_eq!(report.rows, june.rows as u64);
    lake_totals(&lake, "2024-06-01", "2024-06-30").assert_same(&june);
    let state = lake.read_state(SOURCE).unwrap();
    assert_eq!(state.streams[STREAM].synced_through, day("2024-06-30"));

    // Again, through two 429s: retried, and the same numbers.
    sb.set_faults(vec![
        FaultRule::new(
            "/searchAnalytics/query",
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        )
        .times(2),
    ]);
    let outcome = sync(
        &config,
        &options(&sb, "2024-06-01", "2024-06-30"),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(outcome.reports[0].retries, 2, "{:?}", outcome.reports);
    lake_totals(&lake, "2024-06-01", "2024-06-30").assert_same(&june);

    // A sync of May and June whose requests keep failing: named, in
    // Google's words, and nothing in the lake or the cursor moves.
    let before = contents(&config.lake_path());
    assert!(before.len() > 30, "{:?}", before.keys());
    sb.set_faults(vec![FaultRule::new(
        "/searchAnalytics/query",
        FaultKind::ServerError,
    )]);
    let outcome = sync(
        &config,
        &options(&sb, "2024-05-01", "2024-06-30"),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.reports.is_empty(), "{:?}", outcome.reports);
    let failure = &outcome.failures[0];
    assert_eq!(failure.source, SOURCE);
    assert!(failure.lake_unchanged);
    assert!(
        failure
            .error
            .starts_with("search_console.search_analytics: POST http://127.0.0.1:"),
        "{}",
        failure.error
    );
    assert!(
        failure.error.contains(
            "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query returned 500 \
             Internal Server Error after 2 retries: Internal error encountered."
        ),
        "{}",
        failure.error
    );
    assert_eq!(contents(&config.lake_path()), before);
    assert!(
        !lake
            .partition_dir(SOURCE, STREAM, day("2024-05-01"))
            .exists()
    );
}
