//! The `contacts` stream: every contact with its lifecycle stage dates and
//! original source.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use kpi_connector::{
    BatchSink, ConnectorError, ReadStats, StreamDef, WriteMode, json_rows_to_batch,
};
use serde_json::{Map, Value};

use crate::config::CONTACT_PROPERTIES;
use crate::config::ReadWith;
use crate::connector::{HubSpotConnector, Page, Settings, timestamp};
use futures::StreamExt;

/// The stream's name: `lake/raw/<source>/contacts/`.
pub const CONTACTS: &str = "contacts";

/// Columns holding timestamps (UTC milliseconds); the other properties are text.
const TIMESTAMPS: [&str; 8] = [
    "createdate",
    "lastmodifieddate",
    "hs_lifecyclestage_lead_date",
    "hs_lifecyclestage_marketingqualifiedlead_date",
    "hs_lifecyclestage_salesqualifiedlead_date",
    "hs_lifecyclestage_opportunity_date",
    "hs_lifecyclestage_customer_date",
    "churn_date",
];

fn ts(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

/// The Arrow schema of `contacts` batches: the raw stream's columns as
/// staging reads them, then one nullable text column per extra property.
pub fn contacts_schema(extra_properties: &[String]) -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, true);
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        ts("createdate"),
        ts("lastmodifieddate"),
        utf8("lifecyclestage"),
        ts("hs_lifecyclestage_lead_date"),
        ts("hs_lifecyclestage_marketingqualifiedlead_date"),
        ts("hs_lifecyclestage_salesqualifiedlead_date"),
        ts("hs_lifecyclestage_opportunity_date"),
        ts("hs_lifecyclestage_customer_date"),
        ts("churn_date"),
        utf8("hs_analytics_source"),
        utf8("hs_analytics_source_data_1"),
        utf8("hs_analytics_source_data_2"),
    ];
    fields.extend(extra_properties.iter().map(|p| utf8(p)));
    Arc::new(Schema::new(fields))
}

/// Contacts change in place (a lifecycle stage date is set, a source is
/// corrected), so each sync replaces the whole table.
pub(crate) fn stream_def(extra_properties: &[String]) -> StreamDef {
    StreamDef {
        name: CONTACTS.to_string(),
        schema: contacts_schema(extra_properties),
        primary_key: vec!["id".into()],
        write_mode: WriteMode::Snapshot,
        cursor: None,
    }
}

fn properties(settings: &Settings) -> Vec<String> {
    let mut p: Vec<String> = CONTACT_PROPERTIES.iter().map(|s| s.to_string()).collect();
    if let Some(churn) = &settings.churn_date_property
        && !p.contains(churn)
    {
        p.push(churn.clone());
    }
    p.extend(settings.extra_contact_properties.iter().cloned());
    p
}

impl HubSpotConnector {
    /// Reads every contact into `sink`, a page at a time.
    pub(crate) async fn read_contacts(
        &self,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let schema = contacts_schema(&self.settings.extra_contact_properties);
        let mut stats = ReadStats::default();
        let properties = properties(&self.settings);
        let batch = |page: Page| {
            let rows: Vec<Value> = page
                .objects
                .iter()
                .map(|o| contact_row(o, &self.settings))
                .collect();
            json_rows_to_batch(&schema, &rows).map_err(|e| self.convert_error(&page.origin, e))
        };
        match self.settings.read_with {
            ReadWith::List => {
                let mut pager = self.pager(CONTACTS, &properties, &[]);
                while let Some(page) = pager.next(self).await? {
                    self.write_page(batch(page)?, &mut stats, sink).await?;
                }
            }
            ReadWith::Search => {
                let pages = self.search_all(CONTACTS, &properties).await?;
                let mut pages = std::pin::pin!(pages);
                while let Some(page) = pages.next().await {
                    self.write_page(batch(page?)?, &mut stats, sink).await?;
                }
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}

/// One contact as the stream's columns. `createdate` and `lastmodifieddate`
/// fall back to the object's `createdAt`/`updatedAt`, which HubSpot always
/// sends and which hold the same instants.
fn contact_row(object: &Value, settings: &Settings) -> Value {
    let Some(obj) = object.as_object() else {
        return object.clone();
    };
    let empty = Map::new();
    let props = obj
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut row = Map::new();
    if let Some(id) = obj.get("id") {
        row.insert("id".into(), id.clone());
    }
    for name in CONTACT_PROPERTIES {
        let value = props.get(name);
        let value = if TIMESTAMPS.contains(&name) {
            let fallback = match name {
                "createdate" => obj.get("createdAt"),
                "lastmodifieddate" => obj.get("updatedAt"),
                _ => None,
            };
            timestamp(value.filter(|v| !v.is_null()).or(fallback))
        } else {
            value.cloned().unwrap_or(Value::Null)
        };
        row.insert(name.into(), value);
    }
    let churn = settings
        .churn_date_property
        .as_ref()
        .and_then(|p| props.get(p));
    row.insert("churn_date".into(), timestamp(churn));
    for name in &settings.extra_contact_properties {
        row.insert(
            name.clone(),
            props.get(name).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(row)
}
