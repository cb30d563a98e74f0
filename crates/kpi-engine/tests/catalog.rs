//! The KPI catalog (`queries/kpis.toml`) and the KPI SQL stay in step: every
//! key the SQL computes has a catalog entry (or a report could not label,
//! format or colour it, and the comparison step would drop it) and every
//! catalog entry is computed.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use kpi_core::{Config, DateRange, PeriodSpec, ReportPeriods};
use kpi_engine::Engine;
use kpi_lake::Lake;

/// A lake with one day of Google Ads data and nothing else.
fn one_ad_row(lake: &Lake) {
    let spec = kpi_sandbox::streams::find("google_ads", "campaign_stats").unwrap();
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let i = |v: i64| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
    let f = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
    let batch = RecordBatch::try_new(
        spec.schema.clone(),
        vec![
            s("1"),
            s("EUR"),
            s("UTC"),
            i(7),
            s("Brand"),
            s("SEARCH"),
            i(100),
            i(10),
            i(5_000_000),
            f(1.0),
            f(0.0),
        ],
    )
    .unwrap();
    lake.write_daily(
        "google_ads",
        "campaign_stats",
        "2026-03-10".parse().unwrap(),
        spec.schema.clone(),
        &[batch],
    )
    .unwrap();
}

async fn query_strings(engine: &Engine, sql: &str) -> Vec<String> {
    engine
        .query(sql)
        .await
        .unwrap()
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn every_sql_kpi_has_a_catalog_entry_and_the_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(&dir.path().join("lake")).unwrap();
    one_ad_row(&lake);
    let path = dir.path().join("kpi.toml");
    std::fs::write(
        &path,
        "[reporting]\ncurrency = \"EUR\"\n[sources.google_ads]\ntype = \"google_ads\"\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let engine = Engine::open(&config, &kpi_sandbox::raw_streams())
        .await
        .unwrap();
    let range =
        DateRange::new("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap()).unwrap();
    let periods = ReportPeriods::resolve(&PeriodSpec::Range(range), range.end).unwrap();
    engine.prepare_kpis(&periods).await.unwrap();

    // kpi_values is what the SQL computes, before the catalog join.
    let from_sql: BTreeSet<String> = query_strings(
        &engine,
        "SELECT DISTINCT kpi FROM kpi_values WHERE grain = 'total'",
    )
    .await
    .into_iter()
    .collect();
    let catalog: BTreeSet<String> = engine
        .catalog()
        .kpis
        .iter()
        .map(|k| k.key.clone())
        .collect();
    let missing_in_catalog: Vec<_> = from_sql.difference(&catalog).collect();
    let missing_in_sql: Vec<_> = catalog.difference(&from_sql).collect();
    assert!(
        missing_in_catalog.is_empty(),
        "computed by SQL but not in kpis.toml: {missing_in_catalog:?}"
    );
    assert!(
        missing_in_sql.is_empty(),
        "in kpis.toml but not computed by SQL: {missing_in_sql:?}"
    );
    assert!(catalog.len() >= 60, "{}", catalog.len());

    // Only ads are in the lake: ad KPIs have values, everything else is NULL
    // with status 'no source' (never 0).
    let no_source = query_strings(
        &engine,
        "SELECT kpi FROM kpi_report WHERE grain = 'total' AND status = 'no source' AND value IS NULL ORDER BY kpi",
    )
    .await;
    for k in [
        "sessions",
        "leads",
        "revenue",
        "email_open_rate",
        "keywords_top10",
        "referring_domains",
        "sentiment",
        "cpl",
        "roas",
    ] {
        assert!(
            no_source.contains(&k.to_string()),
            "{k} should be 'no source': {no_source:?}"
        );
    }
    for k in ["ad_spend", "ctr", "cpc", "marketing_cost"] {
        assert!(!no_source.contains(&k.to_string()), "{k} has a source");
    }
    let ctr = engine
        .query("SELECT value FROM kpi_report WHERE grain = 'total' AND kpi = 'ctr'")
        .await
        .unwrap();
    assert_eq!(
        ctr[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Float64Type>()
            .value(0),
        0.1
    );
}

/// Every column of every canonical view is documented in its SQL file
/// (`-- @column text`), so `\d VIEW` in `kpi sql` explains each one; and a
/// documented column that the view does not have is a stale comment.
#[tokio::test]
async fn every_canonical_column_has_a_comment() {
    let dir = tempfile::tempdir().unwrap();
    Lake::create(&dir.path().join("lake")).unwrap();
    let path = dir.path().join("kpi.toml");
    std::fs::write(&path, "[reporting]\ncurrency = \"EUR\"\n").unwrap();
    let config = Config::load(&path).unwrap();
    let engine = Engine::open(&config, &kpi_sandbox::raw_streams())
        .await
        .unwrap();
    let mut undocumented = Vec::new();
    for view in kpi_engine::CANONICAL_VIEWS {
        let columns = engine.describe(view).await.unwrap().expect("a view");
        assert!(!columns.is_empty(), "{view}");
        for c in columns.iter().filter(|c| c.comment.is_empty()) {
            undocumented.push(format!("{view}.{}", c.name));
        }
        let text = std::fs::read_to_string(format!(
            "{}/../../queries/canonical/{view}.sql",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        for line in text.lines().filter_map(|l| l.strip_prefix("-- @")) {
            let name = line.split_whitespace().next().unwrap();
            assert!(
                columns.iter().any(|c| c.name == name),
                "{view}.sql documents {name}, which the view does not have"
            );
        }
    }
    assert!(undocumented.is_empty(), "no comment: {undocumented:?}");
    let tables = engine.tables().await.unwrap();
    let kinds = |k: &str| tables.iter().filter(|t| t.kind == k).count();
    assert_eq!(kinds("canonical view"), kpi_engine::CANONICAL_VIEWS.len());
    assert!(
        tables
            .iter()
            .all(|t| t.kind != "canonical view" || !t.comment.is_empty())
    );
    assert_eq!(kinds("KPI history"), 1);
    let history = engine.describe("kpi_history").await.unwrap().unwrap();
    assert_eq!(history.len(), kpi_engine::history::COLUMNS.len());
    assert!(history.iter().all(|c| !c.comment.is_empty()));
    assert_eq!(engine.describe("no_such_table").await.unwrap(), None);
}
