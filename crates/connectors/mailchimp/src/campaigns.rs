//! The `campaigns` stream: `GET /3.0/campaigns`, every campaign of the
//! account with the `utm_campaign` its links carry.
//!
//! Why a second stream: `/3.0/reports` has no tracking settings, and
//! `tracking.google_analytics` (the slug Mailchimp appends to a tracked
//! campaign's links as `utm_campaign`) is what the web analytics and the
//! CRM know the campaign by. `/3.0/campaigns` lists regular, plain-text,
//! RSS and multivariate campaigns; classic automation emails are not in
//! it, so their reports find no row here and staging keys them by title.
//! Paged in creation order (`sort_field=create_time`), so offsets cut the
//! same sequence while campaigns are created during the read.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use kpi_connector::{
    BatchSink, ConnectorError, ReadStats, StreamDef, WriteMode, flatten_object, json_rows_to_batch,
};
use serde_json::Value;

use crate::CAMPAIGNS;
use crate::api::Listing;
use crate::connector::MailchimpConnector;

const LISTING: Listing = Listing {
    path: "campaigns",
    member: "campaigns",
    fields: "campaigns.id,campaigns.type,campaigns.status,campaigns.send_time,\
             campaigns.settings.title,campaigns.tracking.google_analytics,total_items",
};

/// `campaigns`: one row per campaign. `send_time` is empty (null) until a
/// campaign is sent; `tracking_google_analytics` is `""` with Google
/// Analytics tracking off.
pub fn campaigns_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new(
            "send_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("settings_title", DataType::Utf8, true),
        Field::new("tracking_google_analytics", DataType::Utf8, true),
    ]))
}

/// Campaign settings have no date: each sync replaces the whole list.
pub(crate) fn stream_def() -> StreamDef {
    StreamDef {
        name: CAMPAIGNS.to_string(),
        schema: campaigns_schema(),
        primary_key: vec!["id".into()],
        write_mode: WriteMode::Snapshot,
        cursor: None,
    }
}

impl MailchimpConnector {
    /// Reads every campaign into `sink`.
    pub(crate) async fn read_campaigns(
        &self,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let schema = campaigns_schema();
        let mut seen = kpi_connector::SeenRows::default();
        let params = [
            ("sort_field", "create_time".to_string()),
            ("sort_dir", "ASC".to_string()),
        ];
        let convert = |records: Vec<Value>, origin: &str| -> Result<RecordBatch, ConnectorError> {
            let mut rows = Vec::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                let row = flatten_object(record, "_");
                match row.get("id") {
                    Some(Value::String(id)) if !id.is_empty() => {
                        if !seen.first_time(id) {
                            continue;
                        }
                    }
                    _ => {
                        return Err(ConnectorError::Response {
                            origin: origin.to_string(),
                            message: format!("campaign {i} of the page has no `id`"),
                        });
                    }
                }
                rows.push(Value::Object(row));
            }
            json_rows_to_batch(&schema, &rows).map_err(|e| ConnectorError::Response {
                origin: origin.to_string(),
                message: e.to_string(),
            })
        };
        self.read_listing(&LISTING, &params, convert, sink, stats)
            .await
    }
}
