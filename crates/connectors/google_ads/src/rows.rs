//! The streams' Arrow schemas and the mapping from `GoogleAdsRow` JSON to
//! them.
//!
//! The schemas are the raw streams the staging SQL reads
//! (`queries/staging/google_ads__*.sql`; the sandbox's `streams.rs` holds the
//! same list): the file columns in that order, then, for the daily stream,
//! the `date` partition column the runner turns into `date=YYYY-MM-DD`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use kpi_connector::{ConvertError, json_rows_to_batch_chunked};
use serde_json::{Map, Value};

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}
fn int64(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}
fn float64(name: &str) -> Field {
    Field::new(name, DataType::Float64, false)
}

/// `campaign_stats`: one row per customer, campaign and day. Cost is in
/// micros of `customer_currency_code`; `date` is in `customer_time_zone`.
pub fn campaign_stats_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("customer_id"),
        utf8("customer_currency_code"),
        utf8("customer_time_zone"),
        int64("campaign_id"),
        utf8("campaign_name"),
        utf8("campaign_advertising_channel_type"),
        int64("metrics_impressions"),
        int64("metrics_clicks"),
        int64("metrics_cost_micros"),
        float64("metrics_conversions"),
        float64("metrics_conversions_value"),
        Field::new("date", DataType::Date32, false),
    ]))
}

/// `campaigns`: every campaign's current settings.
pub fn campaigns_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("customer_id"),
        int64("campaign_id"),
        utf8("campaign_name"),
        utf8("campaign_status"),
        utf8("campaign_advertising_channel_type"),
    ]))
}

/// One `searchStream` element's `results` as a batch of `schema`.
pub(crate) fn results_to_batch(
    schema: &SchemaRef,
    results: &[Value],
) -> Result<RecordBatch, ConvertError> {
    json_rows_to_batch_chunked(
        schema,
        results
            .iter()
            .map(|r| Value::Object(flatten_row(r, schema))),
    )
}

/// `{"metrics": {"costMicros": "1"}, "segments": {"date": "…"}}` becomes
/// `{"metrics_cost_micros": "1", "date": "…"}`.
///
/// Metrics the row leaves out are zero: the REST API follows the proto3
/// JSON mapping, which may omit a field at its default value, and a
/// missing click count means no clicks, not an unknown number.
fn flatten_row(row: &Value, schema: &SchemaRef) -> Map<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
        match value {
            Value::Object(members) => {
                for (k, v) in members {
                    let name = if prefix.is_empty() {
                        snake_case(k)
                    } else {
                        format!("{prefix}_{}", snake_case(k))
                    };
                    walk(&name, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk("", row, &mut out);
    if let Some(date) = out.remove("segments_date") {
        out.insert("date".to_string(), date);
    }
    for field in schema.fields() {
        if field.name().starts_with("metrics_") && !out.contains_key(field.name()) {
            out.insert(field.name().clone(), Value::from(0));
        }
    }
    out
}

/// `advertisingChannelType` -> `advertising_channel_type`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};
    use serde_json::json;

    use super::*;

    #[test]
    fn camel_case_paths_become_columns() {
        assert_eq!(
            snake_case("advertisingChannelType"),
            "advertising_channel_type"
        );
        assert_eq!(snake_case("costMicros"), "cost_micros");
        assert_eq!(snake_case("id"), "id");
        let row = json!({
            "customer": {"resourceName": "customers/1", "id": "1", "currencyCode": "EUR", "timeZone": "Europe/Madrid"},
            "campaign": {"resourceName": "customers/1/campaigns/2", "id": "2", "name": "Brand", "advertisingChannelType": "SEARCH"},
            "metrics": {"impressions": "10", "costMicros": "1500000"},
            "segments": {"date": "2024-03-01"}
        });
        let flat = flatten_row(&row, &campaign_stats_schema());
        assert_eq!(flat["customer_currency_code"], json!("EUR"));
        assert_eq!(flat["campaign_advertising_channel_type"], json!("SEARCH"));
        assert_eq!(flat["metrics_cost_micros"], json!("1500000"));
        assert_eq!(flat["date"], json!("2024-03-01"));
        // Omitted metrics are zeros.
        assert_eq!(flat["metrics_clicks"], json!(0));
        let batch = results_to_batch(&campaign_stats_schema(), &[row]).unwrap();
        assert_eq!(
            batch.column(7).as_primitive::<Int64Type>().value(0),
            0,
            "clicks"
        );
        assert_eq!(
            batch.column(9).as_primitive::<Float64Type>().value(0),
            0.0,
            "conversions"
        );
    }

    #[test]
    fn a_row_without_its_currency_is_an_error() {
        let row = json!({"customer": {"id": "1"}, "campaign": {"id": "2", "name": "x", "advertisingChannelType": "SEARCH"}, "segments": {"date": "2024-03-01"}});
        let e = results_to_batch(&campaign_stats_schema(), &[row]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 0, field `customer_currency_code`: missing, but the column is not nullable"
        );
    }
}
