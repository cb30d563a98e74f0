//! The Salesforce objects read, their fields, the streams they land in, the
//! SOQL that reads them and how a record becomes a row.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, SecondsFormat};
use kpi_connector::{CursorDef, StreamDef, SyncWindow, WriteMode};
use serde_json::{Map, Value};

/// `lake/raw/<source>/leads/`: Lead.
pub const LEADS: &str = "leads";
/// `lake/raw/<source>/contacts/`: Contact.
pub const CONTACTS: &str = "contacts";
/// `lake/raw/<source>/opportunities/`: Opportunity.
pub const OPPORTUNITIES: &str = "opportunities";
/// `lake/raw/<source>/campaigns/`: Campaign.
pub const CAMPAIGNS: &str = "campaigns";
/// `lake/raw/<source>/campaign_members/`: CampaignMember.
pub const CAMPAIGN_MEMBERS: &str = "campaign_members";

/// The field every incremental read filters and orders on: Salesforce sets
/// it on every change, system changes (a conversion, a roll-up) included,
/// which `LastModifiedDate` misses.
pub const CURSOR_FIELD: &str = "SystemModstamp";

/// How a field's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, never null (ids, required names).
    Key,
    /// Text.
    Text,
    /// A datetime, as a UTC millisecond timestamp.
    DateTime,
    /// A date.
    Date,
    /// A checkbox (never null in Salesforce).
    Bool,
    /// A number (currency, percent).
    Number,
    /// A custom Date or DateTime field named in the settings, kept as text:
    /// `YYYY-MM-DD` for a date, RFC 3339 in UTC for a datetime, so staging
    /// takes a date as that day and a datetime in the reporting time zone.
    DateOrDateTime,
}

/// One object read into one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// The stream's name.
    pub stream: &'static str,
    /// The sObject's API name.
    pub sobject: &'static str,
    /// The fields always read, as SOQL names them (`Owner.Name`), with how
    /// each is stored; the column is the name with `.` as `_`.
    pub fields: &'static [(&'static str, Kind)],
}

use Kind::*;

/// Every object read, in stream order.
pub const OBJECTS: [Object; 5] = [
    Object {
        stream: LEADS,
        sobject: "Lead",
        fields: &[
            ("Id", Key),
            ("CreatedDate", DateTime),
            ("SystemModstamp", DateTime),
            ("Status", Text),
            ("LeadSource", Text),
            ("IsConverted", Bool),
            ("ConvertedDate", Date),
            ("ConvertedContactId", Text),
            ("ConvertedOpportunityId", Text),
        ],
    },
    Object {
        stream: CONTACTS,
        sobject: "Contact",
        fields: &[
            ("Id", Key),
            ("CreatedDate", DateTime),
            ("SystemModstamp", DateTime),
            ("LeadSource", Text),
        ],
    },
    Object {
        stream: OPPORTUNITIES,
        sobject: "Opportunity",
        fields: &[
            ("Id", Key),
            ("Name", Key),
            ("CreatedDate", DateTime),
            ("SystemModstamp", DateTime),
            ("CloseDate", Date),
            ("StageName", Key),
            ("IsClosed", Bool),
            ("IsWon", Bool),
            ("Amount", Number),
            ("Type", Text),
            ("LeadSource", Text),
            ("ContactId", Text),
            ("Owner.Name", Text),
        ],
    },
    Object {
        stream: CAMPAIGNS,
        sobject: "Campaign",
        fields: &[
            ("Id", Key),
            ("Name", Key),
            ("Type", Text),
            ("Status", Text),
            ("StartDate", Date),
            ("SystemModstamp", DateTime),
        ],
    },
    Object {
        stream: CAMPAIGN_MEMBERS,
        sobject: "CampaignMember",
        fields: &[
            ("Id", Key),
            ("CampaignId", Key),
            ("LeadId", Text),
            ("ContactId", Text),
            ("CreatedDate", DateTime),
            ("FirstRespondedDate", Date),
            ("HasResponded", Bool),
            ("SystemModstamp", DateTime),
        ],
    },
];

/// Columns filled from a field the settings name (or, for the currency, by
/// the settings): `(stream, column, kind)`, after the object's own fields.
pub(crate) const CONFIGURED: [(&str, &str, Kind); 3] = [
    (LEADS, "mql_date", DateOrDateTime),
    (CONTACTS, "churn_date", DateOrDateTime),
    (OPPORTUNITIES, "CurrencyIsoCode", Key),
];

/// The object of `stream`.
pub fn object(stream: &str) -> Option<&'static Object> {
    OBJECTS.iter().find(|o| o.stream == stream)
}

/// The column a SOQL field lands in: relationship paths joined by `_`, as
/// flattening names them (`Owner.Name` -> `Owner_Name`).
pub fn column(field: &str) -> String {
    field.replace('.', "_")
}

fn arrow_field(name: &str, kind: Kind) -> Field {
    let (t, nullable) = match kind {
        Key => (DataType::Utf8, false),
        Text | DateOrDateTime => (DataType::Utf8, true),
        DateTime => (
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Date => (DataType::Date32, true),
        Bool => (DataType::Boolean, false),
        Number => (DataType::Float64, true),
    };
    Field::new(name, t, nullable)
}

impl Object {
    /// Every column of the stream with its kind: the fields, then the
    /// configured ones.
    pub fn columns(&self) -> Vec<(String, Kind)> {
        let mut out: Vec<(String, Kind)> =
            self.fields.iter().map(|(f, k)| (column(f), *k)).collect();
        out.extend(
            CONFIGURED
                .iter()
                .filter(|(s, _, _)| *s == self.stream)
                .map(|(_, c, k)| (c.to_string(), *k)),
        );
        out
    }

    /// The stream's Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns()
                .iter()
                .map(|(c, k)| arrow_field(c, *k))
                .collect::<Vec<_>>(),
        ))
    }

    /// The stream: a snapshot merged by `Id`, read by `SystemModstamp`.
    pub fn stream_def(&self, lookback_days: u32) -> StreamDef {
        StreamDef {
            name: self.stream.to_string(),
            schema: self.schema(),
            primary_key: vec!["Id".into()],
            write_mode: WriteMode::Merge,
            cursor: Some(CursorDef {
                field: CURSOR_FIELD.into(),
                lookback_days,
            }),
        }
    }
}

/// The SOQL that reads `fields` of `sobject` changed in `window`: from the
/// window's first day (UTC midnight, so a sync's changes are never missed
/// in any time zone; a record read twice replaces itself), in
/// `SystemModstamp` order, or every record for a window of everything.
/// No upper bound: what changed since is read now rather than next time.
pub fn soql(sobject: &str, fields: &[String], window: SyncWindow) -> String {
    let mut q = format!("SELECT {} FROM {sobject}", fields.join(", "));
    if !window.is_everything() {
        q.push_str(&format!(
            " WHERE {CURSOR_FIELD} >= {}T00:00:00Z",
            window.start.format("%Y-%m-%d")
        ));
    }
    q.push_str(&format!(" ORDER BY {CURSOR_FIELD}, Id"));
    q
}

/// A Salesforce datetime (`2024-03-01T10:00:00.000+0000`, offset without a
/// colon) as RFC 3339 in UTC; anything else is passed on for the converter
/// to report with its row and field.
pub(crate) fn datetime(v: &Value) -> Value {
    let Some(s) = v.as_str().map(str::trim) else {
        return v.clone();
    };
    let parsed = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s));
    match parsed {
        Ok(t) => Value::from(
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        Err(_) => v.clone(),
    }
}

/// A custom Date or DateTime field's value as [`Kind::DateOrDateTime`]
/// keeps it.
fn date_or_datetime(v: &Value) -> Value {
    match v.as_str().map(str::trim) {
        Some(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => Value::from(s),
        Some(_) => datetime(v),
        None => v.clone(),
    }
}

/// A record flattened, without `attributes` at any level: `{"Owner":
/// {"attributes": ..., "Name": "Ana"}}` becomes `{"Owner_Name": "Ana"}`, and
/// a null relationship leaves its columns null.
pub(crate) fn flatten(record: &Value) -> Map<String, Value> {
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut Map<String, Value>) {
        for (k, v) in map {
            if k == "attributes" {
                continue;
            }
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}_{k}")
            };
            match v {
                Value::Object(inner) => walk(&name, inner, out),
                other => {
                    out.insert(name, other.clone());
                }
            }
        }
    }
    let mut out = Map::new();
    if let Some(map) = record.as_object() {
        walk("", map, &mut out);
    }
    out
}

/// Where a configured column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filled {
    /// The record's field of this (flattened) name.
    Field(String),
    /// The same value on every row (the org's currency).
    Value(Value),
}

/// One record as the stream's row: its columns converted by kind, a
/// configured column as `from` says (null when it says nothing).
pub(crate) fn row(object: &Object, record: &Value, from: &[(&str, Filled)]) -> Value {
    if !record.is_object() {
        return record.clone();
    }
    let flat = flatten(record);
    let configured: Vec<&str> = CONFIGURED.iter().map(|c| c.1).collect();
    let mut out = Map::new();
    for (col, kind) in object.columns() {
        let value = match from.iter().find(|(c, _)| *c == col) {
            Some((_, Filled::Field(f))) => flat.get(&column(f)).cloned().unwrap_or(Value::Null),
            Some((_, Filled::Value(v))) => v.clone(),
            None if configured.contains(&col.as_str()) => Value::Null,
            None => flat.get(&col).cloned().unwrap_or(Value::Null),
        };
        let value = match kind {
            DateTime if !value.is_null() => datetime(&value),
            DateOrDateTime if !value.is_null() => date_or_datetime(&value),
            _ => value,
        };
        out.insert(col, value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn soql_reads_changes_from_the_windows_first_day_or_everything() {
        let fields = vec!["Id".to_string(), "Owner.Name".to_string()];
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let w = SyncWindow {
            start: d("2026-10-30"),
            end: d("2026-10-31"),
        };
        assert_eq!(
            soql("Opportunity", &fields, w),
            "SELECT Id, Owner.Name FROM Opportunity WHERE SystemModstamp >= 2026-10-30T00:00:00Z ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            soql("Lead", &fields, SyncWindow::everything(d("2026-10-31"))),
            "SELECT Id, Owner.Name FROM Lead ORDER BY SystemModstamp, Id"
        );
    }

    #[test]
    fn records_are_flattened_and_converted() {
        let opp = object(OPPORTUNITIES).unwrap();
        let record = json!({
            "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/006x"},
            "Id": "006x", "Name": "Acme", "CreatedDate": "2024-03-01T10:00:00.000+0000",
            "CloseDate": "2024-04-02", "Amount": null,
            "Owner": {"attributes": {"type": "User"}, "Name": "Ana"},
        });
        let r = row(
            opp,
            &record,
            &[("CurrencyIsoCode", Filled::Value(json!("EUR")))],
        );
        assert_eq!(r["CreatedDate"], json!("2024-03-01T10:00:00.000Z"));
        assert_eq!(r["Owner_Name"], json!("Ana"));
        assert_eq!(r["Amount"], Value::Null);
        assert_eq!(r["ContactId"], Value::Null);
        assert_eq!(r["CurrencyIsoCode"], json!("EUR"));
        assert!(r.get("attributes").is_none() && r.get("Owner_attributes_type").is_none());
        // A null relationship leaves its column null; the currency comes
        // from the record's field in a multi-currency org.
        let r = row(
            opp,
            &json!({"Id": "006y", "Owner": null, "CurrencyIsoCode": "USD"}),
            &[("CurrencyIsoCode", Filled::Field("CurrencyIsoCode".into()))],
        );
        assert_eq!(r["Owner_Name"], Value::Null);
        assert_eq!(r["CurrencyIsoCode"], json!("USD"));
        let lead = object(LEADS).unwrap();
        let r = row(
            lead,
            &json!({"Id": "00Q1", "MQL_Date__c": "2024-03-01T23:30:00.000+0000", "mql_date": "x"}),
            &[("mql_date", Filled::Field("MQL_Date__c".into()))],
        );
        assert_eq!(r["mql_date"], json!("2024-03-01T23:30:00.000Z"));
        // Not configured: null, whatever the record holds.
        assert_eq!(
            row(lead, &json!({"Id": "00Q1", "mql_date": "x"}), &[])["mql_date"],
            Value::Null
        );
        assert_eq!(date_or_datetime(&json!("2024-03-01")), json!("2024-03-01"));
        assert_eq!(
            date_or_datetime(&json!("2024-03-01T23:30:00.000+0000")),
            json!("2024-03-01T23:30:00.000Z")
        );
        let names: Vec<String> = opp.columns().into_iter().map(|c| c.0).collect();
        assert_eq!(names.last().map(String::as_str), Some("CurrencyIsoCode"));
        assert!(names.contains(&"Owner_Name".to_string()));
    }
}
