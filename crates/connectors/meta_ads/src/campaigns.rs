//! The `campaigns` stream: every campaign of every configured ad account,
//! for names, objectives and statuses.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use kpi_connector::{
    BatchSink, ConnectorError, ReadStats, StreamDef, WriteMode, json_rows_to_batch,
};
use serde_json::{Map, Value};

use crate::api::Pager;
use crate::connector::MetaAdsConnector;

/// The stream's name: `lake/raw/<source>/campaigns/`.
pub const CAMPAIGNS: &str = "campaigns";

const FIELDS: &str = "id,account_id,name,objective,status";

/// The Arrow schema of `campaigns` batches, the raw stream's columns.
pub fn campaigns_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        utf8("account_id"),
        utf8("id"),
        utf8("name"),
        utf8("objective"),
        utf8("status"),
    ]))
}

/// Campaign settings have no date: each sync replaces the whole list.
pub(crate) fn stream_def() -> StreamDef {
    StreamDef {
        name: CAMPAIGNS.to_string(),
        schema: campaigns_schema(),
        primary_key: vec!["account_id".into(), "id".into()],
        write_mode: WriteMode::Snapshot,
        cursor: None,
    }
}

impl MetaAdsConnector {
    /// Reads every account's campaigns into `sink`, a page at a time.
    pub(crate) async fn read_campaigns(
        &self,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let schema = campaigns_schema();
        let mut stats = ReadStats::default();
        for account in &self.settings.accounts {
            let mut pager = Pager::new(
                format!("{}/act_{account}/campaigns", self.settings.api_root),
                vec![
                    ("fields".to_string(), FIELDS.to_string()),
                    ("limit".to_string(), self.settings.page_size.to_string()),
                ],
            );
            while let Some(page) = pager.next(self).await? {
                let rows: Vec<Value> = page
                    .rows
                    .iter()
                    .map(|raw| campaign_row(raw, account))
                    .collect();
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
}

/// The campaign's columns; `account_id` from the request when Meta leaves
/// it out. Anything that is not an object is passed through so the
/// converter names the row.
fn campaign_row(raw: &Value, account: &str) -> Value {
    let Some(obj) = raw.as_object() else {
        return raw.clone();
    };
    let mut row = Map::new();
    for f in ["id", "name", "objective", "status"] {
        if let Some(v) = obj.get(f) {
            row.insert(f.into(), v.clone());
        }
    }
    row.insert(
        "account_id".into(),
        obj.get("account_id")
            .cloned()
            .unwrap_or_else(|| Value::from(account)),
    );
    Value::Object(row)
}
