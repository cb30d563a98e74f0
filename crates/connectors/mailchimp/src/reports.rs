//! The `reports` stream: `GET /3.0/reports` for the campaigns sent in the
//! window, one row per campaign on the UTC day of its `send_time`.
//!
//! Shape (Mailchimp's "List campaign reports"): `reports[]` each with `id`,
//! `campaign_title`, `type`, `list_id`, `list_name`, `subject_line`,
//! `send_time` (ISO 8601 with offset), the counts `emails_sent`,
//! `abuse_reports`, `unsubscribed`, and the objects `bounces`, `forwards`,
//! `opens` and `clicks`; `total_items` counts the reports the filters
//! match. Rates are fractions (`opens.open_rate` 0.5 is half the delivered
//! emails opened); `last_open`/`last_click` are `""` before the first one.
//! `ecommerce` (revenue without a currency unless a store is connected),
//! `list_stats`, `timeseries` and the industry benchmarks are not asked for.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use kpi_connector::{
    BatchSink, ConnectorError, CursorDef, ReadStats, SeenRows, StreamDef, SyncWindow, WriteMode,
    flatten_object, json_rows_to_batch,
};
use serde_json::Value;

use crate::REPORTS;
use crate::api::Listing;
use crate::connector::MailchimpConnector;

/// The listing, and the members asked for (`fields`): whole sub-objects are
/// named once (`reports.bounces`).
const LISTING: Listing = Listing {
    path: "reports",
    member: "reports",
    fields: "reports.id,reports.campaign_title,reports.type,reports.list_id,reports.list_name,\
             reports.subject_line,reports.send_time,reports.emails_sent,reports.abuse_reports,\
             reports.unsubscribed,reports.bounces,reports.forwards,reports.opens,reports.clicks,\
             total_items",
};

/// `reports`: the file columns, then the `date` partition column.
pub fn reports_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    let int64 = |n: &str| Field::new(n, DataType::Int64, false);
    let float64 = |n: &str| Field::new(n, DataType::Float64, false);
    let ts = |n: &str| {
        Field::new(
            n,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        )
    };
    Arc::new(Schema::new(vec![
        utf8("id"),
        utf8("campaign_title"),
        utf8("type"),
        utf8("list_id"),
        utf8("list_name"),
        utf8("subject_line"),
        ts("send_time"),
        int64("emails_sent"),
        int64("abuse_reports"),
        int64("unsubscribed"),
        int64("bounces_hard_bounces"),
        int64("bounces_soft_bounces"),
        int64("bounces_syntax_errors"),
        int64("forwards_forwards_count"),
        int64("forwards_forwards_opens"),
        int64("opens_opens_total"),
        int64("opens_unique_opens"),
        float64("opens_open_rate"),
        ts("opens_last_open"),
        int64("clicks_clicks_total"),
        int64("clicks_unique_clicks"),
        int64("clicks_unique_subscriber_clicks"),
        float64("clicks_click_rate"),
        ts("clicks_last_click"),
        Field::new("date", DataType::Date32, false),
    ]))
}

/// Daily partitions by send day, re-read for `lookback_days`.
pub(crate) fn stream_def(lookback_days: u32) -> StreamDef {
    StreamDef {
        name: REPORTS.to_string(),
        schema: reports_schema(),
        primary_key: vec!["date".into(), "id".into()],
        write_mode: WriteMode::ReplaceDays {
            date_column: "date".into(),
        },
        cursor: Some(CursorDef {
            field: "date".into(),
            lookback_days,
        }),
    }
}

/// `2024-06-04T00:00:00+00:00`: the start of `day` in UTC, as Mailchimp's
/// `since_send_time`/`before_send_time` take it.
fn utc_midnight(day: NaiveDate) -> String {
    format!("{}T00:00:00+00:00", day.format("%Y-%m-%d"))
}

/// The UTC day a report belongs to.
fn send_day(send_time: &str) -> Result<NaiveDate, String> {
    DateTime::parse_from_rfc3339(send_time.trim())
        .map(|t| t.with_timezone(&Utc).date_naive())
        .map_err(|e| format!("send_time `{send_time}` is not an ISO 8601 time: {e}"))
}

/// A page's reports as rows: flattened, with `date`; reports outside the
/// window (Mailchimp's bounds are instants, ours days) and ones already
/// read this sync (an offset shifted by a send during the read) left out.
fn page_rows(
    records: Vec<Value>,
    window: SyncWindow,
    seen: &mut SeenRows,
) -> Result<Vec<Value>, String> {
    let mut rows = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let mut row = flatten_object(&record, "_");
        let id = match row.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(format!("report {i} of the page has no `id`")),
        };
        let day = match row.get("send_time") {
            Some(Value::String(t)) if !t.is_empty() => {
                send_day(t).map_err(|e| format!("report {id}: {e}"))?
            }
            _ => return Err(format!("report {id} has no `send_time`")),
        };
        if !window.contains(day) {
            tracing::debug!(
                target: "kpi_connector_mailchimp",
                report = id,
                %day,
                "a report sent outside the window asked for; left out"
            );
            continue;
        }
        if !seen.first_time(&id) {
            continue;
        }
        row.insert("date".into(), Value::String(day.to_string()));
        rows.push(Value::Object(row));
    }
    Ok(rows)
}

impl MailchimpConnector {
    /// Reads the reports of the campaigns sent in `window` into `sink`.
    pub(crate) async fn read_reports(
        &self,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let schema = reports_schema();
        let mut seen = SeenRows::default();
        let params = [
            ("since_send_time", utc_midnight(window.start)),
            (
                "before_send_time",
                utc_midnight(window.end + chrono::Days::new(1)),
            ),
        ];
        let convert = |records: Vec<Value>, origin: &str| -> Result<RecordBatch, ConnectorError> {
            let response = |message: String| ConnectorError::Response {
                origin: origin.to_string(),
                message,
            };
            let rows = page_rows(records, window, &mut seen).map_err(response)?;
            json_rows_to_batch(&schema, &rows).map_err(|e| response(e.to_string()))
        };
        self.read_listing(&LISTING, &params, convert, sink, stats)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn send_times_fall_on_their_utc_day() {
        assert_eq!(
            send_day("2024-06-04T09:30:00+00:00").unwrap(),
            d("2024-06-04")
        );
        assert_eq!(
            send_day("2024-06-04T23:30:00-02:00").unwrap(),
            d("2024-06-05")
        );
        assert!(
            send_day("June 4")
                .unwrap_err()
                .starts_with("send_time `June 4`")
        );
        assert_eq!(utc_midnight(d("2024-06-04")), "2024-06-04T00:00:00+00:00");
    }

    #[test]
    fn rows_outside_the_window_or_repeated_are_left_out() {
        let w = SyncWindow {
            start: d("2024-06-01"),
            end: d("2024-06-30"),
        };
        let r = |id: &str, t: &str| json!({"id": id, "send_time": t, "opens": {"unique_opens": 3}});
        let mut seen = SeenRows::default();
        let rows = page_rows(
            vec![
                r("a", "2024-06-04T09:30:00+00:00"),
                r("b", "2024-07-01T00:00:00+00:00"),
                r("a", "2024-06-04T09:30:00+00:00"),
            ],
            w,
            &mut seen,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["opens_unique_opens"], json!(3));
        assert_eq!(rows[0]["date"], json!("2024-06-04"));
        let e = page_rows(vec![json!({"id": "c"})], w, &mut seen).unwrap_err();
        assert_eq!(e, "report c has no `send_time`");
        let e = page_rows(vec![json!({"send_time": "x"})], w, &mut seen).unwrap_err();
        assert_eq!(e, "report 0 of the page has no `id`");
    }
}
