//! The `ads_insights` stream: daily campaign insights, with `actions[]` and
//! `action_values[]` flattened to the action types staging reads.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use kpi_connector::{
    BatchSink, ConnectorError, CursorDef, HttpRequest, ReadStats, StreamDef, SyncWindow, WriteMode,
    json_rows_to_batch,
};
use serde_json::{Map, Value, json};

use crate::api::Pager;
use crate::connector::MetaAdsConnector;

/// The stream's name: `lake/raw/<source>/ads_insights/`.
pub const ADS_INSIGHTS: &str = "ads_insights";

/// What the request asks for. `account_currency` is kept so staging can
/// convert spend; `date_stop` equals `date_start` with `time_increment=1`.
const FIELDS: &str = "account_id,account_currency,campaign_id,campaign_name,objective,\
                      impressions,clicks,spend,actions,action_values,date_start,date_stop";

/// The `actions[]` action types that become columns (`actions_<type>`).
/// `lead` and `purchase` are Meta's aggregates over pixel, on-Facebook and
/// offline events; the finer types (`offsite_conversion.fb_pixel_lead`, …)
/// are parts of them and are left out so nothing is counted twice.
const ACTION_COLUMNS: [(&str, &str); 3] = [
    ("actions_lead", "lead"),
    ("actions_purchase", "purchase"),
    ("actions_link_click", "link_click"),
];
/// The `action_values[]` types that become columns (`action_values_<type>`).
const ACTION_VALUE_COLUMNS: [(&str, &str); 1] = [("action_values_purchase", "purchase")];

/// The Arrow schema of `ads_insights` batches: `date` (the partition column,
/// from `date_start`, which the runner moves into the directory name) and
/// the file columns of the raw stream, as staging reads them.
pub fn ads_insights_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    let i64f = |n: &str| Field::new(n, DataType::Int64, false);
    let f64f = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        utf8("account_id"),
        utf8("account_currency"),
        utf8("campaign_id"),
        utf8("campaign_name"),
        utf8("objective"),
        i64f("impressions"),
        i64f("clicks"),
        f64f("spend"),
        f64f("actions_lead"),
        f64f("actions_purchase"),
        f64f("actions_link_click"),
        f64f("action_values_purchase"),
    ]))
}

/// The stream's declaration: each day replaced whole, the last
/// `lookback_days` read again on every sync.
pub(crate) fn stream_def(lookback_days: u32) -> StreamDef {
    StreamDef {
        name: ADS_INSIGHTS.to_string(),
        schema: ads_insights_schema(),
        primary_key: vec!["date".into(), "account_id".into(), "campaign_id".into()],
        write_mode: WriteMode::ReplaceDays {
            date_column: "date".into(),
        },
        cursor: Some(CursorDef {
            field: "date".into(),
            lookback_days,
        }),
    }
}

impl MetaAdsConnector {
    fn insights_params(&self, window: SyncWindow) -> Vec<(String, String)> {
        let s = &self.settings;
        let time_range = json!({
            "since": window.start.format("%Y-%m-%d").to_string(),
            "until": window.end.format("%Y-%m-%d").to_string(),
        });
        let mut params = vec![
            ("level".to_string(), "campaign".to_string()),
            ("time_increment".to_string(), "1".to_string()),
            ("time_range".to_string(), time_range.to_string()),
            ("fields".to_string(), FIELDS.to_string()),
        ];
        if !s.windows.is_empty() {
            params.push((
                "action_attribution_windows".to_string(),
                Value::from(s.windows.clone()).to_string(),
            ));
        }
        params.push(("limit".to_string(), s.page_size.to_string()));
        params
    }

    /// Reads every account's insights for `window` into `sink`, a page at a
    /// time.
    pub(crate) async fn read_insights(
        &self,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let schema = ads_insights_schema();
        let mut stats = ReadStats::default();
        for account in &self.settings.accounts {
            let mut pager = if window.days() > self.settings.async_after_days {
                self.run_async_report(account, window).await?
            } else {
                Pager::new(
                    format!("{}/act_{account}/insights", self.settings.api_root),
                    self.insights_params(window),
                )
            };
            while let Some(page) = pager.next(self).await? {
                let rows = page
                    .rows
                    .iter()
                    .enumerate()
                    .map(|(i, raw)| insight_row(raw, account, &self.settings.windows, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| self.response_error(&page.origin, m))?;
                let batch = json_rows_to_batch(&schema, &rows)
                    .map_err(|e| self.convert_error(&page.origin, e))?;
                stats.pages += 1;
                stats.rows += batch.num_rows() as u64;
                if batch.num_rows() > 0 {
                    sink.write(batch).await?;
                }
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }

    /// Starts an asynchronous report run for `window` and waits for it;
    /// returns a pager over its result. Meta computes the report in the
    /// background, which is how it wants months of daily rows requested.
    async fn run_async_report(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> Result<Pager, ConnectorError> {
        let s = &self.settings;
        let mut start = HttpRequest::post(format!("{}/act_{account}/insights", s.api_root));
        for (k, v) in self.insights_params(window) {
            start = start.query(k, v);
        }
        let origin = self.origin(&start);
        let body = self.call(&start).await?;
        let run_id = match body.get("report_run_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(self.response_error(
                    &origin,
                    format!(
                        "no report_run_id in the answer to an asynchronous insights request: {body}"
                    ),
                ));
            }
        };
        tracing::info!(
            target: "kpi_connector_meta_ads",
            "source {}: act_{account}: asynchronous report run {run_id} for {} to {}",
            s.source,
            window.start,
            window.end
        );
        let started = Instant::now();
        loop {
            let poll = HttpRequest::get(format!("{}/{run_id}", s.api_root))
                .query("fields", "id,async_status,async_percent_completion");
            let job = self.call(&poll).await?;
            let status = job
                .get("async_status")
                .and_then(Value::as_str)
                .unwrap_or("");
            let percent = job
                .get("async_percent_completion")
                .and_then(Value::as_f64)
                .unwrap_or(100.0);
            match status {
                // Meta has been seen to report "Job Completed" a moment before
                // the percentage reaches 100 and the result is readable.
                "Job Completed" if percent >= 100.0 => break,
                "Job Failed" | "Job Skipped" => {
                    return Err(self.response_error(
                        &self.origin(&poll),
                        format!(
                            "asynchronous report run {run_id} for act_{account} ({} to {}) ended with \
                             async_status {status:?}; try again, or lower async_after_days so that \
                             shorter windows are requested",
                            window.start, window.end
                        ),
                    ));
                }
                _ => {}
            }
            if started.elapsed() >= s.async_timeout {
                return Err(self.response_error(
                    &self.origin(&poll),
                    format!(
                        "asynchronous report run {run_id} for act_{account} was still {status:?} \
                         ({percent}%) after {:.0}s (async_timeout_secs)",
                        s.async_timeout.as_secs_f64()
                    ),
                ));
            }
            tokio::time::sleep(s.async_poll_interval).await;
        }
        Ok(Pager::new(
            format!("{}/{run_id}/insights", s.api_root),
            vec![("limit".to_string(), s.page_size.to_string())],
        ))
    }
}

/// One insights row as the stream's columns. Metrics Meta leaves out (it
/// omits an action with no events, and a metric with no delivery) are 0:
/// the columns are not nullable, and no events is zero events.
pub(crate) fn insight_row(
    raw: &Value,
    account: &str,
    windows: &[String],
    index: usize,
) -> Result<Value, String> {
    let obj = raw
        .as_object()
        .ok_or_else(|| format!("row {index}: expected an object, got {raw}"))?;
    let mut row = Map::new();
    let copy = |row: &mut Map<String, Value>, to: &str, from: &str| {
        if let Some(v) = obj.get(from) {
            row.insert(to.to_string(), v.clone());
        }
    };
    copy(&mut row, "date", "date_start");
    row.insert(
        "account_id".into(),
        obj.get("account_id")
            .cloned()
            .unwrap_or_else(|| Value::from(account)),
    );
    for f in [
        "account_currency",
        "campaign_id",
        "campaign_name",
        "objective",
    ] {
        copy(&mut row, f, f);
    }
    for f in ["impressions", "clicks", "spend"] {
        let v = obj
            .get(f)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!(0));
        row.insert(f.into(), v);
    }
    for (column, action_type) in ACTION_COLUMNS {
        let v = action_total(obj.get("actions"), action_type, windows)
            .map_err(|m| format!("row {index}, actions: {m}"))?;
        row.insert(column.into(), json!(v));
    }
    for (column, action_type) in ACTION_VALUE_COLUMNS {
        let v = action_total(obj.get("action_values"), action_type, windows)
            .map_err(|m| format!("row {index}, action_values: {m}"))?;
        row.insert(column.into(), json!(v));
    }
    Ok(Value::Object(row))
}

/// The total of `action_type` in an `actions[]` (or `action_values[]`)
/// list: the sum of the configured attribution windows' values when the
/// entry has any of them, else Meta's `value`. A window missing from an
/// entry that has others had no events in it.
fn action_total(
    list: Option<&Value>,
    action_type: &str,
    windows: &[String],
) -> Result<f64, String> {
    let Some(list) = list.filter(|v| !v.is_null()) else {
        return Ok(0.0);
    };
    let entries = list
        .as_array()
        .ok_or_else(|| format!("expected a list, got {list}"))?;
    let mut total = 0.0;
    for entry in entries {
        if entry.get("action_type").and_then(Value::as_str) != Some(action_type) {
            continue;
        }
        let windowed: Vec<&String> = windows.iter().filter(|w| entry.get(*w).is_some()).collect();
        let keys: Vec<&str> = if windowed.is_empty() {
            vec!["value"]
        } else {
            windowed.iter().map(|w| w.as_str()).collect()
        };
        for key in keys {
            let Some(v) = entry.get(key) else { continue };
            total +=
                number(v).ok_or_else(|| format!("{action_type}: {key} = {v} is not a number"))?;
        }
    }
    Ok(total)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> Vec<String> {
        vec!["7d_click".into(), "1d_view".into()]
    }

    #[test]
    fn actions_sum_the_configured_windows() {
        let actions = json!([
            {"action_type": "lead", "value": "9", "7d_click": "5", "1d_view": "3", "28d_click": "8"},
            {"action_type": "link_click", "value": "12", "7d_click": "12"},
            {"action_type": "purchase", "value": "2"},
            {"action_type": "offsite_conversion.fb_pixel_lead", "value": "4", "7d_click": "4"}
        ]);
        assert_eq!(
            action_total(Some(&actions), "lead", &windows()).unwrap(),
            8.0
        );
        assert_eq!(
            action_total(Some(&actions), "link_click", &windows()).unwrap(),
            12.0
        );
        // No window keys at all: Meta's own value.
        assert_eq!(
            action_total(Some(&actions), "purchase", &windows()).unwrap(),
            2.0
        );
        assert_eq!(action_total(Some(&actions), "lead", &[]).unwrap(), 9.0);
        assert_eq!(action_total(None, "lead", &windows()).unwrap(), 0.0);
        let bad = json!([{"action_type": "lead", "7d_click": "many"}]);
        assert_eq!(
            action_total(Some(&bad), "lead", &windows()).unwrap_err(),
            r#"lead: 7d_click = "many" is not a number"#
        );
    }

    #[test]
    fn missing_metrics_are_zero_and_account_falls_back() {
        let raw = json!({"date_start": "2024-05-01", "campaign_id": "1", "campaign_name": "c",
                          "objective": "OUTCOME_LEADS", "account_currency": "EUR"});
        let row = insight_row(&raw, "42", &windows(), 0).unwrap();
        assert_eq!(row["account_id"], json!("42"));
        assert_eq!(row["impressions"], json!(0));
        assert_eq!(row["actions_lead"], json!(0.0));
        assert_eq!(row["date"], json!("2024-05-01"));
    }

    #[test]
    fn schema_is_valid_for_its_declaration() {
        stream_def(28).validate().unwrap();
    }
}
