//! The cumulative trends behind the report's charts: each point is the KPI
//! over the period's first N days, computed by the same SQL as the KPI table,
//! so the last point of the current period equals the reported value.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use kpi_core::{Config, DateRange, PeriodSpec, ReportPeriods};
use kpi_engine::{Engine, SeriesPoint};
use kpi_lake::Lake;

/// One day of one Google Ads campaign in EUR: `cost` euros for `clicks` clicks.
fn ad_day(lake: &Lake, date: &str, clicks: i64, cost: f64) {
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
            i(clicks * 10),
            i(clicks),
            i((cost * 1_000_000.0) as i64),
            f(0.0),
            f(0.0),
        ],
    )
    .unwrap();
    lake.write_daily(
        "google_ads",
        "campaign_stats",
        date.parse().unwrap(),
        spec.schema.clone(),
        &[batch],
    )
    .unwrap();
}

fn points(all: &[SeriesPoint], kpi: &str, current: bool) -> Vec<(u32, Option<f64>)> {
    all.iter()
        .filter(|p| p.kpi == kpi && p.current == current)
        .map(|p| (p.day, p.value.map(|v| (v * 1e6).round() / 1e6)))
        .collect()
}

#[tokio::test]
async fn trend_points_are_the_kpi_over_the_first_days() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(&dir.path().join("lake")).unwrap();
    ad_day(&lake, "2026-03-02", 10, 10.0);
    ad_day(&lake, "2026-03-05", 20, 30.0);
    ad_day(&lake, "2026-02-10", 5, 20.0);
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
    let march =
        DateRange::new("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap()).unwrap();
    let periods = ReportPeriods::resolve(&PeriodSpec::Range(march), march.end).unwrap();
    let (batches, series) = engine
        .kpis_and_series(&periods, &["cpc".into(), "ad_spend".into()], 16)
        .await
        .unwrap();

    // March has 31 days and 16 points at most: every 2nd day, and day 31.
    let days: Vec<u32> = points(&series, "cpc", true).iter().map(|p| p.0).collect();
    let mut expected: Vec<u32> = (1..=15).map(|d| d * 2).collect();
    expected.push(31);
    assert_eq!(days, expected);

    // Through day 2 (1-2 March): 10 EUR / 10 clicks = 1.0; from day 6 the
    // 5 March row joins: (10 + 30) / (10 + 20) = 1.333333.
    let cpc = points(&series, "cpc", true);
    assert_eq!(cpc[0], (2, Some(1.0)));
    assert_eq!(cpc[1], (4, Some(1.0)));
    assert_eq!(cpc[2], (6, Some(1.333333)));
    assert_eq!(cpc.last(), Some(&(31, Some(1.333333))));
    let spend = points(&series, "ad_spend", true);
    assert_eq!((spend[0], spend[2]), ((2, Some(10.0)), (6, Some(40.0))));

    // February (28 days, every 2nd day): no clicks before the 10th is no CPC
    // at all (NULL, not 0), then 20 EUR / 5 clicks = 4.0.
    let feb = points(&series, "cpc", false);
    assert_eq!(feb.len(), 14);
    assert_eq!(feb[3], (8, None));
    assert_eq!(feb[4], (10, Some(4.0)));
    assert_eq!(feb.last(), Some(&(28, Some(4.0))));

    // The last point is the value the KPI table of the same pass reports
    // for March, and the table has every grain (the windows only add total
    // rows of their own, which it does not show).
    let mut reported = None;
    let mut grains = std::collections::BTreeSet::new();
    for b in &batches {
        let (grain, kpi) = (
            b.column_by_name("grain").unwrap().as_string::<i32>(),
            b.column_by_name("kpi").unwrap().as_string::<i32>(),
        );
        let value = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>();
        for i in 0..b.num_rows() {
            grains.insert(grain.value(i).to_string());
            if grain.value(i) == "total" && kpi.value(i) == "cpc" {
                reported = Some((value.value(i) * 1e6).round() / 1e6);
            }
        }
    }
    assert_eq!(reported, Some(1.333333));
    assert_eq!(
        grains.into_iter().collect::<Vec<_>>(),
        ["campaign", "campaign_type", "channel", "total"]
    );
    // Without series, the same table and no points.
    let (again, none) = engine.kpis_and_series(&periods, &[], 16).await.unwrap();
    assert!(none.is_empty());
    let rows = |b: &[arrow::array::RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(rows(&again), rows(&batches));
}
