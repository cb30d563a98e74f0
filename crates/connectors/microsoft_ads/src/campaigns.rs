//! The `campaigns` stream: Campaign Management's
//! `POST Campaigns/QueryByAccountId`, every campaign of each account with
//! its name, type and status, a snapshot. `ad_campaigns` is built from it
//! (the report names campaigns too, but only on the days they delivered,
//! and reading every day's report to list campaigns would open the whole
//! history whenever the engine starts).
//!
//! Without a `CampaignType` Microsoft returns search campaigns only, so the
//! request names every type kpi maps to a channel.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::{Map, Value, json};

/// The campaign types asked for (a space-separated flags value).
pub(crate) const CAMPAIGN_TYPES: &str = "Search Shopping DynamicSearchAds Audience PerformanceMax";

/// `campaigns`: the account and each campaign's id, name, type and status.
pub fn campaigns_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        utf8("account_id"),
        Field::new("id", DataType::Int64, false),
        utf8("name"),
        utf8("campaign_type"),
        utf8("status"),
    ]))
}

/// The request body for `account`.
pub(crate) fn query_body(account: &str) -> Value {
    let id: Value = account
        .parse::<i64>()
        .map_or_else(|_| Value::from(account), Value::from);
    json!({"AccountId": id, "CampaignType": CAMPAIGN_TYPES})
}

/// The rows of an answer; the error names the campaign at fault.
pub(crate) fn campaign_rows(body: &Value, account: &str) -> Result<Vec<Value>, String> {
    let campaigns = match body.get("Campaigns") {
        Some(Value::Array(c)) => c.as_slice(),
        // Microsoft answers null for an account without campaigns.
        Some(Value::Null) => &[],
        _ => return Err("the answer has no Campaigns array".into()),
    };
    campaigns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let id = c
                .get("Id")
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                .ok_or_else(|| format!("campaign {i}: no numeric Id"))?;
            let text = |k: &str| {
                c.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("campaign {id}: no {k}"))
            };
            let mut row = Map::new();
            row.insert("account_id".into(), Value::from(account));
            row.insert("id".into(), Value::from(id));
            row.insert("name".into(), Value::from(text("Name")?));
            row.insert("campaign_type".into(), Value::from(text("CampaignType")?));
            row.insert("status".into(), Value::from(text("Status")?));
            Ok(Value::Object(row))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_refusals() {
        let body = json!({"Campaigns": [
            {"Id": 531016227, "Name": "Brand", "CampaignType": "Search", "Status": "Active", "TimeZone": "x"},
            {"Id": "7", "Name": "Audience", "CampaignType": "Audience", "Status": "Paused"}
        ]});
        let rows = campaign_rows(&body, "150").unwrap();
        assert_eq!(
            rows[1],
            json!({"account_id": "150", "id": 7, "name": "Audience",
                                   "campaign_type": "Audience", "status": "Paused"})
        );
        assert!(
            campaign_rows(&json!({"Campaigns": null}), "1")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            campaign_rows(&json!({}), "1").unwrap_err(),
            "the answer has no Campaigns array"
        );
        assert_eq!(
            campaign_rows(&json!({"Campaigns": [{"Id": 3, "Name": "x"}]}), "1").unwrap_err(),
            "campaign 3: no CampaignType"
        );
        assert_eq!(query_body("150")["AccountId"], json!(150));
    }
}
