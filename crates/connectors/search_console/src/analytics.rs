//! The `search_analytics` stream: the `searchAnalytics/query` request and
//! the mapping of its rows onto the stream's schema.
//!
//! Request (`SearchAnalyticsQueryRequest` in the API's discovery document):
//! `startDate`/`endDate` (`YYYY-MM-DD`, both included, Pacific time),
//! `dimensions`, `type`, `dataState`, `rowLimit` (1 to 25,000) and
//! `startRow` (zero-based). Response: `rows[]`, each with `keys[]` (the
//! dimension values, in the order the request named the dimensions) and the
//! metrics `clicks`, `impressions`, `ctr` and `position`, all JSON numbers
//! (typed `double`, though clicks and impressions are whole counts); `rows`
//! is left out when nothing matched, and `responseAggregationType` says how
//! the rows were aggregated (`byProperty` here: no `page` dimension).

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use kpi_connector::{CursorDef, SeenRows, StreamDef, SyncWindow, WriteMode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SEARCH_ANALYTICS;
use crate::config::DataState;

/// The most rows one request returns (`rowLimit`). A larger page size would
/// make a full page look like the last one.
pub const MAX_PAGE_SIZE: u32 = 25_000;

/// The dimensions asked for, in the order each row's `keys` holds them.
/// `page` and `country` are not asked for: each multiplies the rows, and
/// the staging SQL and the KPIs use neither.
pub(crate) const DIMENSIONS: [&str; 3] = ["date", "query", "device"];

/// `search_analytics`: the file columns, then the `date` partition column.
pub fn search_analytics_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    let int64 = |n: &str| Field::new(n, DataType::Int64, false);
    let float64 = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        utf8("site_url"),
        utf8("query"),
        // DESKTOP, MOBILE or TABLET.
        utf8("device"),
        int64("clicks"),
        int64("impressions"),
        // A fraction: clicks / impressions of the row.
        float64("ctr"),
        // The average top position of the site's results, 1 being the top.
        float64("position"),
        Field::new("date", DataType::Date32, false),
    ]))
}

/// Daily partitions, each replaced whole when re-read; `lookback_days`
/// read again on every sync.
pub(crate) fn stream_def(lookback_days: u32) -> StreamDef {
    StreamDef {
        name: SEARCH_ANALYTICS.to_string(),
        schema: search_analytics_schema(),
        primary_key: ["date", "site_url", "query", "device"]
            .map(String::from)
            .to_vec(),
        write_mode: WriteMode::ReplaceDays {
            date_column: "date".into(),
        },
        cursor: Some(CursorDef {
            field: "date".into(),
            lookback_days,
        }),
    }
}

/// A site as one path segment: every byte but the unreserved ones escaped,
/// as Google's client libraries send it (`sc-domain:example.com` ->
/// `sc-domain%3Aexample.com`, `https://example.com/` ->
/// `https%3A%2F%2Fexample.com%2F`). Left as is, a URL-prefix property's
/// slashes would split the path.
pub fn encode_site_url(site: &str) -> String {
    let mut out = String::with_capacity(site.len() * 3 / 2);
    for b in site.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `{base}/webmasters/v3/sites/{site}`: the site itself (`kpi check`).
pub(crate) fn site_url(base: &str, site: &str) -> String {
    format!("{base}/webmasters/v3/sites/{}", encode_site_url(site))
}

/// `{base}/webmasters/v3/sites/{site}/searchAnalytics/query`.
pub(crate) fn query_url(base: &str, site: &str) -> String {
    format!("{}/searchAnalytics/query", site_url(base, site))
}

/// The body of one page of `window`.
pub(crate) fn request_body(
    window: SyncWindow,
    data_state: DataState,
    row_limit: u32,
    start_row: u64,
) -> Value {
    json!({
        "startDate": window.start.format("%Y-%m-%d").to_string(),
        "endDate": window.end.format("%Y-%m-%d").to_string(),
        "dimensions": DIMENSIONS,
        "type": "web",
        "dataState": data_state.as_str(),
        // int32 fields: JSON numbers (only int64 travel as strings).
        "rowLimit": row_limit,
        "startRow": start_row,
    })
}

/// The part of `SearchAnalyticsQueryResponse` this connector reads
/// (`responseAggregationType` is always `byProperty` without `page`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueryResponse {
    /// Absent when no row matched.
    #[serde(default)]
    pub rows: Option<Vec<ApiRow>>,
}

/// One `ApiDataRow`. A metric left out is 0: Google's JSON mapping may
/// omit default values, and a query can have impressions but no clicks.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiRow {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub clicks: f64,
    #[serde(default)]
    pub impressions: f64,
    #[serde(default)]
    pub ctr: f64,
    #[serde(default)]
    pub position: f64,
}

/// A whole count sent as a JSON double (`12` or `12.0`).
fn count(value: f64, field: &str, row: usize) -> Result<i64, String> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 9.0e15 {
        Ok(value as i64)
    } else {
        Err(format!(
            "row {row}: `{field}` is {value}, not a whole number of at least 0"
        ))
    }
}

fn finite(value: f64, field: &str, row: usize) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("row {row}: `{field}` is {value}"))
    }
}

/// Days since 1970-01-01, as `Date32` counts them.
fn epoch_days(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}

/// One page's rows of `site` as a batch of [`search_analytics_schema`]:
/// `keys` read by position (date, query, device), rows already seen left
/// out. Any row that does not fit fails the page whole, named by its index.
pub(crate) fn page_to_batch(
    site: &str,
    rows: &[ApiRow],
    window: SyncWindow,
    seen: &mut SeenRows,
) -> Result<RecordBatch, String> {
    let n = rows.len();
    let mut site_urls = StringBuilder::with_capacity(n, n * site.len());
    let mut queries = StringBuilder::with_capacity(n, n * 24);
    let mut devices = StringBuilder::with_capacity(n, n * 7);
    let mut clicks = Int64Builder::with_capacity(n);
    let mut impressions = Int64Builder::with_capacity(n);
    let mut ctrs = Float64Builder::with_capacity(n);
    let mut positions = Float64Builder::with_capacity(n);
    let mut dates = Date32Builder::with_capacity(n);
    for (i, row) in rows.iter().enumerate() {
        let [date, query, device] = row.keys.as_slice() else {
            return Err(format!(
                "row {i} has {} keys {:?}, not one per dimension asked for ({})",
                row.keys.len(),
                row.keys,
                DIMENSIONS.join(", ")
            ));
        };
        let day: NaiveDate = date
            .parse()
            .map_err(|_| format!("row {i}: the date key `{date}` is not YYYY-MM-DD"))?;
        if !window.contains(day) {
            return Err(format!(
                "row {i} is for {day}, outside the days asked for ({} to {})",
                window.start, window.end
            ));
        }
        let row_clicks = count(row.clicks, "clicks", i)?;
        let row_impressions = count(row.impressions, "impressions", i)?;
        let ctr = finite(row.ctr, "ctr", i)?;
        let position = finite(row.position, "position", i)?;
        if !seen.first_time(&row.keys) {
            continue;
        }
        site_urls.append_value(site);
        queries.append_value(query);
        devices.append_value(device);
        clicks.append_value(row_clicks);
        impressions.append_value(row_impressions);
        ctrs.append_value(ctr);
        positions.append_value(position);
        dates.append_value(epoch_days(day));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(site_urls.finish()),
        Arc::new(queries.finish()),
        Arc::new(devices.finish()),
        Arc::new(clicks.finish()),
        Arc::new(impressions.finish()),
        Arc::new(ctrs.finish()),
        Arc::new(positions.finish()),
        Arc::new(dates.finish()),
    ];
    RecordBatch::try_new(search_analytics_schema(), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Date32Type, Int64Type};

    fn w(start: &str, end: &str) -> SyncWindow {
        SyncWindow {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    fn row(keys: &[&str], clicks: f64) -> ApiRow {
        ApiRow {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            clicks,
            impressions: 10.0,
            ctr: clicks / 10.0,
            position: 3.25,
        }
    }

    #[test]
    fn sites_are_one_path_segment() {
        assert_eq!(
            encode_site_url("sc-domain:example.com"),
            "sc-domain%3Aexample.com"
        );
        assert_eq!(
            encode_site_url("https://www.example.com/"),
            "https%3A%2F%2Fwww.example.com%2F"
        );
        assert_eq!(
            query_url("http://h", "sc-domain:a.com"),
            "http://h/webmasters/v3/sites/sc-domain%3Aa.com/searchAnalytics/query"
        );
    }

    #[test]
    fn the_body_asks_for_the_three_dimensions_and_the_page() {
        let body = request_body(w("2024-06-01", "2024-06-30"), DataState::All, 500, 1000);
        assert_eq!(
            body,
            json!({"startDate": "2024-06-01", "endDate": "2024-06-30",
                   "dimensions": ["date", "query", "device"], "type": "web",
                   "dataState": "all", "rowLimit": 500, "startRow": 1000})
        );
    }

    #[test]
    fn keys_by_position_and_repeats_left_out() {
        let mut seen = SeenRows::default();
        let rows = [
            row(&["2024-06-02", "kpi software", "MOBILE"], 3.0),
            row(&["2024-06-02", "kpi software", "DESKTOP"], 4.0),
            row(&["2024-06-02", "kpi software", "MOBILE"], 3.0),
        ];
        let b = page_to_batch(
            "sc-domain:a.com",
            &rows,
            w("2024-06-01", "2024-06-02"),
            &mut seen,
        )
        .unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(seen.repeated(), 1);
        let devices = b.column(2).as_string::<i32>();
        assert_eq!((devices.value(0), devices.value(1)), ("MOBILE", "DESKTOP"));
        let clicks = b.column(3).as_primitive::<Int64Type>();
        assert_eq!(clicks.values().to_vec(), vec![3, 4]);
        let date = b.column(7).as_primitive::<Date32Type>();
        assert_eq!(date.value(0), epoch_days("2024-06-02".parse().unwrap()));
    }

    #[test]
    fn rows_that_do_not_fit_are_named() {
        let window = w("2024-06-01", "2024-06-02");
        let err =
            |r: ApiRow| page_to_batch("s", &[r], window, &mut SeenRows::default()).unwrap_err();
        assert_eq!(
            err(row(&["2024-06-01"], 1.0)),
            "row 0 has 1 keys [\"2024-06-01\"], not one per dimension asked for (date, query, device)"
        );
        assert_eq!(
            err(row(&["2024-07-01", "q", "MOBILE"], 1.0)),
            "row 0 is for 2024-07-01, outside the days asked for (2024-06-01 to 2024-06-02)"
        );
        assert_eq!(
            err(row(&["June 1", "q", "MOBILE"], 1.0)),
            "row 0: the date key `June 1` is not YYYY-MM-DD"
        );
        assert_eq!(
            err(row(&["2024-06-01", "q", "MOBILE"], 1.5)),
            "row 0: `clicks` is 1.5, not a whole number of at least 0"
        );
    }
}
