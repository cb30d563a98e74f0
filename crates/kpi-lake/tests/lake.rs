//! The lake's promises, checked through its public API and DataFusion.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use chrono::{Days, NaiveDate};
use datafusion::prelude::SessionContext;
use kpi_lake::{Lake, Layout, StreamSpec};

fn spec(layout: Layout) -> StreamSpec {
    StreamSpec {
        source_type: "test",
        stream: "facts",
        layout,
        schema: Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, false),
        ])),
    }
}

fn batch(spec: &StreamSpec, rows: &[(&str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        spec.schema.clone(),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

async fn sum(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<(i64, f64)> {
    let b = ctx.sql(sql).await?.collect().await?;
    let n = b[0].column(0).as_primitive::<Int64Type>().value(0);
    let s = b[0].column(1).as_primitive::<Float64Type>();
    Ok((n, if s.is_null(0) { 0.0 } else { s.value(0) }))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_one_month_query_opens_only_that_month() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let spec = spec(Layout::Daily);
    // 25 months of one row a day, amount = 1.0.
    let start = d("2024-11-01");
    let mut day = start;
    while day <= d("2026-11-30") {
        lake.write_daily(
            "src",
            "facts",
            day,
            spec.schema.clone(),
            &[batch(&spec, &[("a", 1.0)])],
        )
        .unwrap();
        day = day + Days::new(1);
    }
    // Corrupt every file outside March 2026: a query that opened one would fail.
    let mut day = start;
    while day <= d("2026-11-30") {
        if !(d("2026-03-01")..=d("2026-03-31")).contains(&day) {
            let file = lake
                .partition_dir("src", "facts", day)
                .join("part-0.parquet");
            std::fs::write(file, b"not parquet").unwrap();
        }
        day = day + Days::new(1);
    }
    let ctx = SessionContext::new();
    let reg = kpi_lake::register_stream(&ctx, &lake, "src", &spec).unwrap();
    assert_eq!(reg.contents.days, 760);
    assert_eq!(reg.contents.first_day, Some(start));

    let (n, s) = sum(
        &ctx,
        "SELECT count(*), sum(amount) FROM src.facts WHERE date BETWEEN DATE '2026-03-01' AND DATE '2026-03-31'",
    )
    .await
    .unwrap();
    assert_eq!((n, s), (31, 31.0));
    // The date column is a real DATE.
    let b = ctx
        .sql("SELECT arrow_typeof(date) FROM src.facts WHERE date = DATE '2026-03-02'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "Date32");
    // Sanity: the corruption is there for a query that does read other months.
    assert!(
        sum(
            &ctx,
            "SELECT count(*), sum(amount) FROM src.facts WHERE date <= DATE '2026-04-01'"
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn rewriting_a_day_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let spec = spec(Layout::Daily);
    let day = d("2026-03-02");
    lake.write_daily(
        "src",
        "facts",
        day,
        spec.schema.clone(),
        &[batch(&spec, &[("a", 1.0), ("b", 2.0)])],
    )
    .unwrap();
    lake.write_daily(
        "src",
        "facts",
        day,
        spec.schema.clone(),
        &[batch(&spec, &[("a", 5.0)])],
    )
    .unwrap();
    let files: Vec<_> = std::fs::read_dir(lake.partition_dir("src", "facts", day))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files, vec!["part-0.parquet"]);
    let ctx = SessionContext::new();
    kpi_lake::register_stream(&ctx, &lake, "src", &spec).unwrap();
    let (n, s) = sum(&ctx, "SELECT count(*), sum(amount) FROM src.facts")
        .await
        .unwrap();
    assert_eq!((n, s), (1, 5.0), "the re-synced day replaced the old rows");
    // Nothing is left behind in the temporary area.
    let tmp = std::fs::read_dir(dir.path().join("_tmp")).unwrap().count();
    assert_eq!(tmp, 0);
}

#[tokio::test]
async fn an_abandoned_snapshot_leaves_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let spec = spec(Layout::Snapshot);
    let mut w = lake
        .snapshot_writer("src", "facts", spec.schema.clone())
        .unwrap();
    w.write(&batch(&spec, &[("a", 1.0)])).unwrap();
    w.commit().unwrap();

    // A second sync writes half its rows, then fails (the writer is dropped).
    let mut w = lake
        .snapshot_writer("src", "facts", spec.schema.clone())
        .unwrap();
    w.write(&batch(&spec, &[("b", 7.0), ("c", 8.0)])).unwrap();
    drop(w);

    let ctx = SessionContext::new();
    let reg = kpi_lake::register_stream(&ctx, &lake, "src", &spec).unwrap();
    assert!(reg.contents.snapshot);
    let (n, s) = sum(&ctx, "SELECT count(*), sum(amount) FROM src.facts")
        .await
        .unwrap();
    assert_eq!((n, s), (1, 1.0));
    assert_eq!(
        std::fs::read_dir(dir.path().join("_tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_stream_with_no_data_is_an_empty_table_of_the_same_shape() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let spec = spec(Layout::Daily);
    let ctx = SessionContext::new();
    let reg = kpi_lake::register_stream(&ctx, &lake, "src", &spec).unwrap();
    assert!(!reg.contents.has_data());
    let (n, _) = sum(
        &ctx,
        "SELECT count(*), sum(amount) FROM src.facts WHERE date > DATE '2020-01-01'",
    )
    .await
    .unwrap();
    assert_eq!(n, 0);
}
