//! The `campaigns` stream: `GET /rest/adAccounts/{id}/adCampaigns?q=search`
//! for every configured account, all statuses, paged by cursor (`pageSize`,
//! `pageToken`, the next one in `metadata.nextPageToken`, absent on the
//! last page). Staging takes campaign names from here: `adAnalytics` has
//! only the campaign URN.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use kpi_connector::CursorPaging;
use serde_json::{Map, Value};

use crate::restli;

/// Every campaign status the search knows. Without a status filter the
/// search leaves some out, and a campaign that ran last quarter and is now
/// `COMPLETED` or `ARCHIVED` still names rows of `ad_analytics`.
const ALL_STATUSES: &str = "(status:(values:List(ACTIVE,PAUSED,ARCHIVED,COMPLETED,CANCELED,DRAFT,PENDING_DELETION,REMOVED)))";

/// Cursor paging of LinkedIn's search finders (versions 202401 and later).
pub(crate) const SEARCH_PAGING: CursorPaging = CursorPaging {
    records: "/elements",
    page: "an adCampaigns search page",
    cursor: "/metadata/nextPageToken",
    has_next: None,
    param: "pageToken",
};

/// `campaigns`: one row per campaign, as of the sync.
pub fn campaigns_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        utf8("account_id"),
        Field::new("id", DataType::Int64, false),
        utf8("name"),
        utf8("type"),
        utf8("status"),
    ]))
}

/// The search URL of `account`'s campaigns, without paging parameters.
pub(crate) fn campaigns_url(base_url: &str, account: &str) -> String {
    restli::with_query(
        &format!("{base_url}/rest/adAccounts/{account}/adCampaigns"),
        &[("q", "search".into()), ("search", ALL_STATUSES.into())],
    )
}

/// A campaign element as the stream's row: the id as a number, the
/// account's digits from its URN (or the account searched). Other members
/// (targeting, budgets, schedules) are left out.
pub(crate) fn campaign_row(raw: &Value, account: &str, index: usize) -> Result<Value, String> {
    let obj = raw
        .as_object()
        .ok_or_else(|| format!("element {index}: expected an object, got {raw}"))?;
    let id = obj
        .get("id")
        .and_then(|v| restli::urn_number(v, "sponsoredCampaign"))
        .ok_or_else(|| {
            format!(
                "element {index}: `id` = {} is not a campaign id",
                obj.get("id").unwrap_or(&Value::Null)
            )
        })?;
    let account_id = obj
        .get("account")
        .and_then(|v| restli::urn_number(v, "sponsoredAccount"))
        .map_or_else(|| account.to_string(), |n| n.to_string());
    let mut row = Map::new();
    row.insert("account_id".into(), Value::from(account_id));
    row.insert("id".into(), Value::from(id));
    for f in ["name", "type", "status"] {
        if let Some(v) = obj.get(f) {
            row.insert(f.into(), v.clone());
        }
    }
    Ok(Value::Object(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_and_url() {
        let raw = json!({"id": 168387646, "account": "urn:li:sponsoredAccount:508720451",
                         "name": "Brand awareness", "type": "SPONSORED_UPDATES",
                         "status": "COMPLETED", "costType": "CPM"});
        assert_eq!(
            campaign_row(&raw, "1", 0).unwrap(),
            json!({"account_id": "508720451", "id": 168387646, "name": "Brand awareness",
                   "type": "SPONSORED_UPDATES", "status": "COMPLETED"})
        );
        let raw = json!({"id": "urn:li:sponsoredCampaign:5", "name": "x"});
        assert_eq!(campaign_row(&raw, "9", 0).unwrap()["account_id"], "9");
        assert_eq!(
            campaign_row(&json!({"name": "x"}), "9", 3).unwrap_err(),
            "element 3: `id` = null is not a campaign id"
        );
        assert_eq!(
            campaigns_url("http://x", "9"),
            "http://x/rest/adAccounts/9/adCampaigns?q=search&search=(status:(values:List(\
             ACTIVE,PAUSED,ARCHIVED,COMPLETED,CANCELED,DRAFT,PENDING_DELETION,REMOVED)))"
        );
    }
}
