//! The `ad_analytics` stream: `GET /rest/adAnalytics?q=analytics` pivoted
//! by campaign, one row per campaign and day, and the merge of the
//! requests one window takes.
//!
//! Request: `pivot=CAMPAIGN`, `timeGranularity=DAILY`, `dateRange` (both
//! days included), `accounts=List(<account URN>)` (one account a request,
//! since a campaign row does not say its account) and `fields`, which
//! LinkedIn limits to 20 per request. The metrics wanted are split into
//! requests of at most that many fields, each also asking for the key
//! fields `dateRange` and `pivotValues`, and the answers are merged by
//! (day, campaign). A campaign-day one answer lacks (LinkedIn leaves out a
//! row whose requested metrics are all zero) has zeros for those metrics.
//!
//! Response: `elements[]`, each with `dateRange.start` (`{year, month,
//! day}`, the day in UTC), `pivotValues` (`["urn:li:sponsoredCampaign:N"]`)
//! and the requested metrics: counts as JSON integers, money
//! (`costInLocalCurrency`, `costInUsd`) as decimal strings. The endpoint is
//! not paged: it returns at most [`MAX_ELEMENTS`] elements and silently
//! drops the rest, so an answer of exactly that many means the window must
//! be read in smaller pieces (the connector halves it).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use kpi_connector::{ConvertError, SyncWindow, json_rows_to_batch_chunked};
use serde_json::{Map, Value};

use crate::restli;

/// The most elements one `adAnalytics` answer holds.
pub const MAX_ELEMENTS: usize = 15_000;
/// The most fields one `adAnalytics` request may name (`fields`).
pub const MAX_FIELDS_PER_REQUEST: usize = 20;
/// Fields every request names, so that answers can be merged.
const KEY_FIELDS: [&str; 2] = ["dateRange", "pivotValues"];

/// How a metric arrives and is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A count: a JSON integer, stored as Int64.
    Count,
    /// Money: a decimal string (`"12.34"`), stored as Float64.
    Money,
}

/// A metric: LinkedIn's field name and the column it fills.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metric {
    pub api: &'static str,
    pub column: &'static str,
    pub kind: Kind,
}

const fn metric(api: &'static str, column: &'static str, kind: Kind) -> Metric {
    Metric { api, column, kind }
}

/// The metrics read, in column order. `costInLocalCurrency` is in the
/// account's currency (staging converts it); `oneClickLeads` are lead gen
/// form submissions and `externalWebsiteConversions` the Insight Tag's
/// conversions, which staging adds up to the platform's conversions.
pub(crate) const METRICS: [Metric; 8] = [
    metric("impressions", "impressions", Kind::Count),
    metric("clicks", "clicks", Kind::Count),
    metric("costInLocalCurrency", "cost_in_local_currency", Kind::Money),
    metric("costInUsd", "cost_in_usd", Kind::Money),
    metric("oneClickLeads", "one_click_leads", Kind::Count),
    metric(
        "externalWebsiteConversions",
        "external_website_conversions",
        Kind::Count,
    ),
    metric("landingPageClicks", "landing_page_clicks", Kind::Count),
    metric("videoViews", "video_views", Kind::Count),
];

/// `ad_analytics`: the `date` partition column (the UTC day), the account
/// and its currency, the campaign id (from the URN) and the metrics.
pub fn ad_analytics_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("date", DataType::Date32, false),
        Field::new("account_id", DataType::Utf8, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("campaign_id", DataType::Int64, false),
    ];
    for m in METRICS {
        let data_type = match m.kind {
            Kind::Count => DataType::Int64,
            Kind::Money => DataType::Float64,
        };
        fields.push(Field::new(m.column, data_type, false));
    }
    Arc::new(Schema::new(fields))
}

/// The metrics (indices into [`METRICS`]) of each request, so that no
/// request names more than `max_fields` fields, the key fields included.
pub(crate) fn field_chunks(max_fields: usize) -> Vec<Vec<usize>> {
    let per_request = max_fields.saturating_sub(KEY_FIELDS.len()).max(1);
    let all: Vec<usize> = (0..METRICS.len()).collect();
    all.chunks(per_request).map(<[usize]>::to_vec).collect()
}

/// The `adAnalytics` URL for `account`'s campaigns over `window`, asking
/// for the key fields and `metrics`.
pub(crate) fn analytics_url(
    base_url: &str,
    account: &str,
    window: SyncWindow,
    metrics: &[usize],
) -> String {
    let fields: Vec<&str> = KEY_FIELDS
        .iter()
        .copied()
        .chain(metrics.iter().map(|&i| METRICS[i].api))
        .collect();
    restli::with_query(
        &format!("{base_url}/rest/adAnalytics"),
        &[
            ("q", "analytics".into()),
            ("pivot", "CAMPAIGN".into()),
            ("timeGranularity", "DAILY".into()),
            ("dateRange", restli::date_range(window)),
            (
                "accounts",
                restli::list([restli::account_urn(account).as_str()]),
            ),
            ("fields", fields.join(",")),
        ],
    )
}

/// One account's rows of one window, merged from the answers of every
/// field chunk, by (day, campaign id).
#[derive(Debug, Default)]
pub(crate) struct Rows {
    rows: BTreeMap<(NaiveDate, i64), Vec<Option<Value>>>,
}

impl Rows {
    /// Campaign-days held.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds the elements of one answer that asked for `metrics`; returns
    /// how many elements it had. The error says which element is wrong.
    pub(crate) fn add(
        &mut self,
        body: &Value,
        metrics: &[usize],
        window: SyncWindow,
    ) -> Result<usize, String> {
        let Some(elements) = body.get("elements").and_then(Value::as_array) else {
            return Err("the body has no `elements` array (expected an adAnalytics answer)".into());
        };
        let mut seen = HashSet::with_capacity(elements.len());
        for (i, element) in elements.iter().enumerate() {
            let (day, campaign) = key(element, window).map_err(|m| format!("element {i}: {m}"))?;
            if !seen.insert((day, campaign)) {
                return Err(format!(
                    "element {i}: a second element for campaign {campaign} on {day} \
                     (pivot=CAMPAIGN with timeGranularity=DAILY has one per campaign and day)"
                ));
            }
            let row = self
                .rows
                .entry((day, campaign))
                .or_insert_with(|| vec![None; METRICS.len()]);
            for &m in metrics {
                let Metric { api, kind, .. } = METRICS[m];
                let value = match element.get(api) {
                    None | Some(Value::Null) => continue,
                    Some(v) => v,
                };
                let parsed = match kind {
                    Kind::Count => count(value).map(Value::from),
                    Kind::Money => money(value).map(Value::from),
                };
                row[m] = Some(parsed.ok_or_else(|| {
                    format!(
                        "element {i} (campaign {campaign}, {day}): `{api}` = {value} is not {}",
                        match kind {
                            Kind::Count => "a whole number",
                            Kind::Money => "an amount",
                        }
                    )
                })?);
            }
        }
        Ok(elements.len())
    }

    /// The rows as one batch of [`ad_analytics_schema`], ordered by day and
    /// campaign. A metric no answer had is 0.
    pub(crate) fn into_batch(
        self,
        account_id: &str,
        currency: &str,
    ) -> Result<RecordBatch, ConvertError> {
        let rows = self.rows.into_iter().map(|((day, campaign), values)| {
            let mut row = Map::with_capacity(4 + METRICS.len());
            row.insert(
                "date".into(),
                Value::from(day.format("%Y-%m-%d").to_string()),
            );
            row.insert("account_id".into(), Value::from(account_id));
            row.insert("currency".into(), Value::from(currency));
            row.insert("campaign_id".into(), Value::from(campaign));
            for (m, value) in METRICS.iter().zip(values) {
                let zero = match m.kind {
                    Kind::Count => Value::from(0),
                    Kind::Money => Value::from(0.0),
                };
                row.insert(m.column.into(), value.unwrap_or(zero));
            }
            Value::Object(row)
        });
        json_rows_to_batch_chunked(&ad_analytics_schema(), rows)
    }
}

/// The element's day and campaign id.
fn key(element: &Value, window: SyncWindow) -> Result<(NaiveDate, i64), String> {
    let range = element.get("dateRange");
    let start = range
        .and_then(|r| r.get("start"))
        .and_then(restli::parse_date)
        .ok_or("no valid dateRange.start")?;
    if let Some(end) = range
        .and_then(|r| r.get("end"))
        .and_then(restli::parse_date)
        && end != start
    {
        return Err(format!(
            "dateRange {start} to {end} is not one day (timeGranularity=DAILY)"
        ));
    }
    if !window.contains(start) {
        return Err(format!(
            "{start} is outside the requested {} to {}",
            window.start, window.end
        ));
    }
    let pivot = element.get("pivotValues").and_then(|p| p.get(0));
    let campaign = pivot
        .and_then(|p| restli::urn_number(p, "sponsoredCampaign"))
        .ok_or_else(|| {
            format!(
                "pivotValues {} is not a campaign URN",
                element.get("pivotValues").unwrap_or(&Value::Null)
            )
        })?;
    Ok((start, campaign))
}

/// A count: an integer, an integral float or an integer string.
fn count(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An amount: a decimal string (`"209.449"`, `"-2E-18"`) or a number.
fn money(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn window() -> SyncWindow {
        SyncWindow {
            start: "2024-06-01".parse().unwrap(),
            end: "2024-06-02".parse().unwrap(),
        }
    }

    fn element(day: u32, campaign: i64, metrics: Value) -> Value {
        let mut e = json!({
            "dateRange": {"start": {"year": 2024, "month": 6, "day": day},
                          "end": {"year": 2024, "month": 6, "day": day}},
            "pivotValues": [format!("urn:li:sponsoredCampaign:{campaign}")],
        });
        e.as_object_mut()
            .unwrap()
            .extend(metrics.as_object().unwrap().clone());
        e
    }

    #[test]
    fn fields_are_split_below_the_limit() {
        assert_eq!(
            field_chunks(MAX_FIELDS_PER_REQUEST),
            vec![(0..8).collect::<Vec<_>>()]
        );
        let chunks = field_chunks(5);
        assert_eq!(chunks, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]);
        assert_eq!(field_chunks(0).len(), METRICS.len());
        let url = analytics_url("http://x", "42", window(), &chunks[1]);
        assert_eq!(
            url,
            "http://x/rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY\
             &dateRange=(start:(year:2024,month:6,day:1),end:(year:2024,month:6,day:2))\
             &accounts=List(urn%3Ali%3AsponsoredAccount%3A42)\
             &fields=dateRange,pivotValues,costInUsd,oneClickLeads,externalWebsiteConversions"
        );
    }

    #[test]
    fn answers_merge_by_day_and_campaign() {
        let mut rows = Rows::default();
        let first = json!({"elements": [
            element(1, 7, json!({"impressions": 100, "clicks": 3, "costInLocalCurrency": "12.5"})),
            element(2, 7, json!({"impressions": 80, "clicks": 0})),
        ]});
        assert_eq!(rows.add(&first, &[0, 1, 2], window()).unwrap(), 2);
        // The second answer lacks day 2 (all zero) and adds a campaign.
        let second = json!({"elements": [
            element(1, 7, json!({"costInUsd": "13.75", "oneClickLeads": 2})),
            element(1, 8, json!({"costInUsd": "1", "videoViews": 4})),
        ]});
        rows.add(&second, &[3, 4, 7], window()).unwrap();
        assert_eq!(rows.len(), 3);
        let batch = rows.into_batch("42", "EUR").unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(text.contains("| 2024-06-01 | 42         | EUR      | 7           | 100         | 3      | 12.5                   | 13.75       | 2               | 0                            | 0                   | 0           |"), "{text}");
        assert!(text.contains("| 2024-06-01 | 42         | EUR      | 8           | 0           | 0      | 0.0                    | 1.0         | 0               | 0                            | 0                   | 4           |"), "{text}");
        assert!(text.contains("| 2024-06-02 | 42         | EUR      | 7           | 80          | 0      | 0.0                    | 0.0         |"), "{text}");
    }

    #[test]
    fn wrong_elements_are_named() {
        let add = |body: Value| Rows::default().add(&body, &[0, 2], window()).unwrap_err();
        assert_eq!(
            add(json!({"paging": {}})),
            "the body has no `elements` array (expected an adAnalytics answer)"
        );
        assert_eq!(
            add(json!({"elements": [element(1, 7, json!({})), element(1, 7, json!({}))]})),
            "element 1: a second element for campaign 7 on 2024-06-01 \
             (pivot=CAMPAIGN with timeGranularity=DAILY has one per campaign and day)"
        );
        assert_eq!(
            add(json!({"elements": [element(3, 7, json!({}))]})),
            "element 0: 2024-06-03 is outside the requested 2024-06-01 to 2024-06-02"
        );
        assert_eq!(
            add(json!({"elements": [element(1, 7, json!({"impressions": 1.5}))]})),
            "element 0 (campaign 7, 2024-06-01): `impressions` = 1.5 is not a whole number"
        );
        assert_eq!(
            add(json!({"elements": [element(1, 7, json!({"costInLocalCurrency": "n/a"}))]})),
            "element 0 (campaign 7, 2024-06-01): `costInLocalCurrency` = \"n/a\" is not an amount"
        );
        let mut e = element(1, 7, json!({}));
        e["pivotValues"] = json!(["urn:li:sponsoredCreative:9"]);
        assert_eq!(
            add(json!({"elements": [e]})),
            "element 0: pivotValues [\"urn:li:sponsoredCreative:9\"] is not a campaign URN"
        );
        let mut e = element(1, 7, json!({}));
        e["dateRange"]["end"]["day"] = json!(2);
        assert_eq!(
            add(json!({"elements": [e]})),
            "element 0: dateRange 2024-06-01 to 2024-06-02 is not one day (timeGranularity=DAILY)"
        );
    }

    #[test]
    fn numbers_in_every_spelling() {
        assert_eq!(count(&json!(3)), Some(3));
        assert_eq!(count(&json!(19464.0)), Some(19464));
        assert_eq!(count(&json!("12")), Some(12));
        assert_eq!(count(&json!(0.5)), None);
        assert_eq!(money(&json!("209.449")), Some(209.449));
        assert_eq!(money(&json!("-2E-18")), Some(-2e-18));
        assert_eq!(money(&json!(99.5)), Some(99.5));
        assert_eq!(money(&json!("NaN")), None);
    }
}
