//! The `deals` stream: every deal with its amount, currency, stage, close
//! date and first associated contact.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use kpi_connector::{
    BatchSink, ConnectorError, ReadStats, StreamDef, WriteMode, json_rows_to_batch,
};
use serde_json::{Map, Value};

use crate::config::{DEAL_PROPERTIES, ReadWith};
use crate::connector::{HubSpotConnector, Page, Settings, timestamp};
use futures::StreamExt;

/// The stream's name: `lake/raw/<source>/deals/`.
pub const DEALS: &str = "deals";

fn ts(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

/// The Arrow schema of `deals` batches: the raw stream's columns as staging
/// reads them, then one nullable text column per extra property.
pub fn deals_schema(extra_properties: &[String]) -> SchemaRef {
    let utf8 = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let mut fields = vec![
        utf8("id", false),
        utf8("dealname", false),
        Field::new("amount", DataType::Float64, true),
        utf8("deal_currency_code", false),
        ts("createdate"),
        ts("closedate"),
        utf8("dealstage", false),
        utf8("pipeline", false),
        Field::new("hs_is_closed", DataType::Boolean, false),
        Field::new("hs_is_closed_won", DataType::Boolean, false),
        utf8("associated_contact_id", true),
    ];
    fields.extend(extra_properties.iter().map(|p| utf8(p, true)));
    Arc::new(Schema::new(fields))
}

/// Deals move between stages and change amounts, so each sync replaces the
/// whole table.
pub(crate) fn stream_def(extra_properties: &[String]) -> StreamDef {
    StreamDef {
        name: DEALS.to_string(),
        schema: deals_schema(extra_properties),
        primary_key: vec!["id".into()],
        write_mode: WriteMode::Snapshot,
        cursor: None,
    }
}

fn properties(settings: &Settings) -> Vec<String> {
    let mut p: Vec<String> = DEAL_PROPERTIES.iter().map(|s| s.to_string()).collect();
    p.extend(settings.extra_deal_properties.iter().cloned());
    p
}

fn property<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .get("properties")
        .and_then(|p| p.get(name))
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
}

impl HubSpotConnector {
    /// Reads every deal, with its associated contacts, into `sink`, a page
    /// at a time.
    pub(crate) async fn read_deals(
        &self,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let schema = deals_schema(&self.settings.extra_deal_properties);
        let mut stats = ReadStats::default();
        let properties = properties(&self.settings);
        match self.settings.read_with {
            ReadWith::List => {
                let mut pager = self.pager(DEALS, &properties, &[("associations", "contacts")]);
                while let Some(page) = pager.next(self).await? {
                    let batch = self.deals_batch(&schema, page).await?;
                    self.write_page(batch, &mut stats, sink).await?;
                }
            }
            ReadWith::Search => {
                let pages = self.search_all(DEALS, &properties).await?;
                let mut pages = std::pin::pin!(pages);
                // Pages come with their contacts attached (search.rs).
                while let Some(page) = pages.next().await {
                    let page = page?;
                    let batch = self.deals_batch(&schema, page).await?;
                    self.write_page(batch, &mut stats, sink).await?;
                }
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}

impl HubSpotConnector {
    /// A page of deals as a batch.
    async fn deals_batch(
        &self,
        schema: &arrow::datatypes::SchemaRef,
        page: Page,
    ) -> Result<arrow::record_batch::RecordBatch, ConnectorError> {
        // Single-currency portals leave deal_currency_code empty: such
        // amounts are in the company currency, asked for only if needed.
        let currency = if page
            .objects
            .iter()
            .any(|d| property(d, "deal_currency_code").is_none())
        {
            Some(self.company_currency().await?)
        } else {
            None
        };
        let rows: Vec<Value> = page
            .objects
            .iter()
            .map(|d| deal_row(d, &self.settings, currency))
            .collect();
        json_rows_to_batch(schema, &rows).map_err(|e| self.convert_error(&page.origin, e))
    }
}

/// One deal as the stream's columns.
///
/// - `dealname`, `dealstage`, `pipeline`: `""` when absent. The columns are
///   not nullable, and a deal created through the API may lack a name.
/// - `hs_is_closed`, `hs_is_closed_won`: HubSpot computes them from the
///   stage; absent means HubSpot did not compute them, i.e. not closed.
/// - `createdate` falls back to the object's `createdAt`.
/// - `associated_contact_id`: the first contact listed in
///   `associations.contacts.results`; staging attributes a deal to one
///   contact.
fn deal_row(object: &Value, settings: &Settings, company_currency: Option<&str>) -> Value {
    let Some(obj) = object.as_object() else {
        return object.clone();
    };
    let mut row = Map::new();
    if let Some(id) = obj.get("id") {
        row.insert("id".into(), id.clone());
    }
    let text_or_empty = |name: &str| {
        property(object, name)
            .cloned()
            .unwrap_or_else(|| Value::from(""))
    };
    row.insert("dealname".into(), text_or_empty("dealname"));
    row.insert("dealstage".into(), text_or_empty("dealstage"));
    row.insert("pipeline".into(), text_or_empty("pipeline"));
    row.insert(
        "amount".into(),
        property(object, "amount").cloned().unwrap_or(Value::Null),
    );
    row.insert(
        "deal_currency_code".into(),
        property(object, "deal_currency_code")
            .cloned()
            .or_else(|| company_currency.map(Value::from))
            .unwrap_or(Value::Null),
    );
    row.insert(
        "createdate".into(),
        timestamp(property(object, "createdate").or(obj.get("createdAt"))),
    );
    row.insert("closedate".into(), timestamp(property(object, "closedate")));
    for flag in ["hs_is_closed", "hs_is_closed_won"] {
        row.insert(
            flag.into(),
            property(object, flag)
                .cloned()
                .unwrap_or(Value::Bool(false)),
        );
    }
    let contact = obj
        .get("associations")
        .and_then(|a| a.get("contacts"))
        .and_then(|c| c.get("results"))
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|first| first.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    row.insert("associated_contact_id".into(), contact);
    for name in &settings.extra_deal_properties {
        row.insert(
            name.clone(),
            property(object, name).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(row)
}
