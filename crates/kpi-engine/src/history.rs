//! The KPI history: every report period the engine computes, kept in the
//! lake so that an analyst can chart a KPI over months without recomputing
//! it, and a warehouse can load it.
//!
//! One file per period, `<lake>/marts/kpi_values/period_start=<date>/
//! through-<end>.parquet` (Hive style: DuckDB, Polars and Spark read
//! `period_start` from the path). A period computed again replaces its own
//! file, so a re-run never adds rows; a week and a month that start on the
//! same day are two files side by side. The file is written to a temporary
//! name and renamed, as every lake file is: a reader sees the old rows or
//! the new, never half.
//!
//! The rows are `kpi_report`'s (value and comparisons) beside
//! `kpi_values`' numerator and denominator for the current period: what
//! the SQL in `queries/` computed, not a number of this module's.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use kpi_core::period::SecondComparison;
use kpi_core::{DateRange, ReportPeriods};

use crate::EngineError;

/// The table `kpi sql` reads the history as.
pub const TABLE: &str = "kpi_history";

/// Where the history lives in the lake.
pub const DIR: &str = "marts/kpi_values";

/// The partition column (in the path, not in the files).
pub const PARTITION: &str = "period_start";

/// Every column of the history with what it holds, partition column last
/// (where DataFusion puts a partition column, so the table has one column
/// order whether or not a period was written yet): what `\d kpi_history`
/// shows and what an export writes as comments.
pub const COLUMNS: &[(&str, &str)] = &[
    ("period_end", "last day of the period"),
    (
        "period_kind",
        "day, week (Monday to Sunday), month, quarter or year; else the period asked for: \
         month_to_date, last_30_days and the like, or custom (a --from/--to range)",
    ),
    (
        "grain",
        "total, channel, campaign_type or campaign: which columns below are set",
    ),
    ("channel", "channel of the row (NULL at the total grain)"),
    ("campaign_type", "inbound, outbound or unclassified"),
    ("campaign", "campaign key (only at the campaign grain)"),
    ("kpi", "catalog key (kpi_catalog.kpi)"),
    (
        "value",
        "the KPI for the period: numerator / denominator for a ratio (times 1000 for cpm, \
         a cost per thousand impressions), NULL when the denominator is 0 or NULL",
    ),
    (
        "numerator",
        "what the value was computed from at this grain (ad_spend for cpc and cpm); \
         the value itself for a KPI without a denominator",
    ),
    (
        "denominator",
        "what the numerator is divided by (clicks for cpc, impressions for cpm); \
         NULL for a KPI that is a sum or a difference",
    ),
    (
        "previous",
        "the KPI for the previous period of the same length",
    ),
    (
        "last_year",
        "the KPI for the same period a year earlier (52 weeks for a day or week); NULL when \
         the report compared with the same weekday last week instead",
    ),
    ("target", "the target set in kpi.toml, if any"),
    ("benchmark", "the industry benchmark, if any"),
    (
        "change_vs_previous",
        "(value - previous) / |previous|, NULL when previous is 0 or NULL",
    ),
    (
        "change_vs_last_year",
        "(value - last_year) / |last_year|, NULL when last_year is 0 or NULL",
    ),
    (
        "status",
        "on target, better, worse, unchanged, neutral, no data, no comparison or no source",
    ),
    ("currency", "the reporting currency money KPIs are in"),
    ("computed_at", "when this row was computed (UTC)"),
    (PARTITION, "first day of the period (from the folder name)"),
];

/// The schema of a history file (without the partition column).
pub fn file_schema() -> SchemaRef {
    let f64 = |n: &str| Field::new(n, DataType::Float64, true);
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new("period_end", DataType::Date32, false),
        text("period_kind", false),
        text("grain", false),
        text("channel", true),
        text("campaign_type", true),
        text("campaign", true),
        text("kpi", false),
        f64("value"),
        f64("numerator"),
        f64("denominator"),
        f64("previous"),
        f64("last_year"),
        f64("target"),
        f64("benchmark"),
        f64("change_vs_previous"),
        f64("change_vs_last_year"),
        text("status", false),
        text("currency", false),
        Field::new(
            "computed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// What kind of period `range` is, by its dates.
pub fn period_kind(range: &DateRange) -> &'static str {
    let (start, end) = (range.start, range.end);
    let next = end.succ_opt();
    let month_end = next.is_some_and(|n| n.day() == 1);
    if start == end {
        "day"
    } else if range.days() == 7 && start.weekday() == chrono::Weekday::Mon {
        "week"
    } else if start.day() == 1 && month_end {
        let months = (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32;
        match (months, start.month()) {
            (0, _) => "month",
            (2, 1 | 4 | 7 | 10) => "quarter",
            (11, 1) => "year",
            _ => "custom",
        }
    } else {
        "custom"
    }
}

/// The `period_kind` of `periods`' current period: by its dates, and a
/// period that is none of day, week, month, quarter or year by the name it
/// was asked for (`month_to_date`, `last_30_days`), so that no part of a
/// month reads as the month.
pub fn kind_of(periods: &ReportPeriods) -> String {
    match period_kind(&periods.current) {
        "custom" => periods.name.clone(),
        kind => kind.to_string(),
    }
}

/// The lake-relative folder of the period starting on `start`.
pub fn partition_dir(start: NaiveDate) -> String {
    format!("{DIR}/{PARTITION}={start}")
}

/// The file name of the period ending on `end`, inside its partition.
pub fn file_name(end: NaiveDate) -> String {
    format!("through-{end}.parquet")
}

/// The SELECT that gives the history rows of the period registered as
/// `current` (after `prepare_kpis`), cast to [`file_schema`]'s types.
pub(crate) fn rows_sql(periods: &ReportPeriods, currency: &str) -> String {
    let range = &periods.current;
    let kind = kind_of(periods).replace('\'', "''");
    // `last_year` holds what the report compared with second: for a
    // schedule comparing with the same weekday last week, that is last
    // week, which is not what the history's column says.
    let (last_year, change_vs_last_year) = match periods.second {
        SecondComparison::LastYear => ("r.last_year", "r.change_vs_last_year"),
        SecondComparison::WeekAgo => ("NULL", "NULL"),
    };
    let currency = currency.replace('\'', "''");
    // NULL keys (a total row has no channel) match NULL keys.
    let same = |c: &str| format!("(v.{c} IS NOT DISTINCT FROM r.{c})");
    format!(
        "SELECT DATE '{end}' AS period_end, '{kind}' AS period_kind,
                r.grain, r.channel, r.campaign_type, r.campaign, r.kpi,
                CAST(r.value AS DOUBLE) AS value,
                CAST(v.numerator AS DOUBLE) AS numerator,
                CAST(v.denominator AS DOUBLE) AS denominator,
                CAST(r.previous AS DOUBLE) AS previous,
                CAST({last_year} AS DOUBLE) AS last_year,
                CAST(r.target AS DOUBLE) AS target,
                CAST(r.benchmark AS DOUBLE) AS benchmark,
                CAST(r.change_vs_previous AS DOUBLE) AS change_vs_previous,
                CAST({change_vs_last_year} AS DOUBLE) AS change_vs_last_year,
                r.status, '{currency}' AS currency
         FROM kpi_report r
         LEFT JOIN kpi_values v
                ON v.period = 'current' AND v.kpi = r.kpi AND v.grain = r.grain
               AND {} AND {} AND {}
         ORDER BY r.grain_position, r.channel NULLS FIRST, r.campaign_type NULLS FIRST,
                  r.campaign NULLS FIRST, r.kpi_position",
        same("channel"),
        same("campaign_type"),
        same("campaign"),
        end = range.end,
    )
}

/// Registers [`TABLE`] over the lake's history (an empty table with the
/// same columns when no period has been computed yet).
pub(crate) fn register(ctx: &SessionContext, lake_root: &Path) -> Result<(), EngineError> {
    let dir = lake_root.join(DIR);
    let err = |e: datafusion::error::DataFusionError| EngineError::DataFusion(e.strip_backtrace());
    let has_files = std::fs::read_dir(&dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    let provider: Arc<dyn datafusion::catalog::TableProvider> = if has_files {
        let dir = std::path::absolute(&dir).map_err(|e| EngineError::Queries {
            origin: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let url = ListingTableUrl::parse(format!("{}/", dir.display())).map_err(err)?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(PARTITION.to_string(), DataType::Date32)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema());
        Arc::new(ListingTable::try_new(config).map_err(err)?)
    } else {
        let mut fields: Vec<Field> = file_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(PARTITION, DataType::Date32, false));
        Arc::new(MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]]).map_err(err)?)
    };
    let _ = ctx.deregister_table(TABLE);
    ctx.register_table(TABLE, provider).map_err(err)?;
    Ok(())
}

/// [`rows_sql`]'s `batches` with [`file_schema`] as their schema, and
/// `computed_at` as their last column.
pub(crate) fn conform(
    batches: Vec<RecordBatch>,
    computed_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<RecordBatch>, EngineError> {
    let schema = file_schema();
    let micros = computed_at.timestamp_micros();
    batches
        .into_iter()
        .map(|b| {
            let mut columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            let at = arrow::array::TimestampMicrosecondArray::from(vec![micros; b.num_rows()])
                .with_timezone("UTC");
            columns.push(Arc::new(at));
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| EngineError::DataFusion(format!("KPI history: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: &str, b: &str) -> DateRange {
        DateRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_period_is_named_by_its_dates() {
        assert_eq!(period_kind(&range("2026-10-01", "2026-10-31")), "month");
        assert_eq!(period_kind(&range("2026-02-01", "2026-02-28")), "month");
        assert_eq!(period_kind(&range("2026-10-01", "2026-12-31")), "quarter");
        assert_eq!(period_kind(&range("2026-11-01", "2027-01-31")), "custom");
        assert_eq!(period_kind(&range("2026-01-01", "2026-12-31")), "year");
        assert_eq!(period_kind(&range("2026-11-23", "2026-11-29")), "week");
        assert_eq!(period_kind(&range("2026-11-24", "2026-11-30")), "custom");
        assert_eq!(period_kind(&range("2026-11-24", "2026-11-24")), "day");
        assert_eq!(period_kind(&range("2026-10-01", "2026-10-15")), "custom");
    }

    #[test]
    fn every_file_column_has_a_comment_and_the_partition_comes_last() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        let schema = file_schema();
        let mut expected: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        expected.push(PARTITION);
        assert_eq!(names, expected);
        assert!(COLUMNS.iter().all(|c| !c.1.is_empty()));
    }
}
