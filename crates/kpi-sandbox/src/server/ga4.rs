//! The GA4 Data API emulation: `POST /v1beta/properties/{id}:runReport`
//! over the `ga4/traffic` stream, and the Google error format it shares with
//! Google Ads.
//!
//! What it honours: one `dateRanges` entry (ISO dates, `today`,
//! `yesterday`, `NdaysAgo`, with "today" the day after the data ends); any
//! subset of the five dimensions the stream has (`date`, `sessionSource`,
//! `sessionMedium`, `sessionCampaignName`, `deviceCategory`) and of its
//! seven metrics, rows grouped by the requested dimensions with metrics
//! summed; `orderBys` on those dimensions and metrics; `limit` and `offset`
//! as numbers or strings (`limit` defaults to 10,000 and is capped at
//! 250,000, as the API does). Values are strings, `date` as `YYYYMMDD`;
//! `rowCount` is the total of rows before paging; `rows` and `rowCount` are
//! left out when there are none, as proto3 JSON does.
//!
//! Summing is exact for every metric but `totalUsers`, which GA4 itself
//! de-duplicates across rows; the sandbox has no users to de-duplicate, so
//! its totals are sums. Filters, pivots and comparisons are refused with a
//! 400 naming the field rather than silently ignored.
//!
//! A paged read asks for the same report again and again with a growing
//! `offset`; the last report built is cached (and dropped on any revision)
//! so each page costs a slice, not a regrouping of the whole window.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use serde_json::{Value, json};

use super::Shared;
use super::data::{GA4_TRAFFIC, float_at, int_at, number_text, str_at};
use super::http::{ApiRequest, Reply};
use super::oauth::TokenProblem;

/// `(API name, column)`; `date` has no column (it is the partition).
const DIMENSIONS: [(&str, &str); 5] = [
    ("date", ""),
    ("sessionSource", "session_source"),
    ("sessionMedium", "session_medium"),
    ("sessionCampaignName", "session_campaign_name"),
    ("deviceCategory", "device_category"),
];

/// `(API name, column, metric type, integer column)`.
const METRICS: [(&str, &str, &str, bool); 7] = [
    ("sessions", "sessions", "TYPE_INTEGER", true),
    ("totalUsers", "total_users", "TYPE_INTEGER", true),
    ("newUsers", "new_users", "TYPE_INTEGER", true),
    ("engagedSessions", "engaged_sessions", "TYPE_INTEGER", true),
    (
        "userEngagementDuration",
        "user_engagement_duration",
        "TYPE_SECONDS",
        false,
    ),
    ("screenPageViews", "screen_page_views", "TYPE_INTEGER", true),
    ("keyEvents", "key_events", "TYPE_INTEGER", false),
];
/// The metric a revision multiplies: key events are GA4's conversions.
const REVISED_METRIC: &str = "keyEvents";

const DEFAULT_LIMIT: u64 = 10_000;
const MAX_LIMIT: u64 = 250_000;

/// The one request member a report depends on besides paging.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    start: NaiveDate,
    end: NaiveDate,
    dims: Vec<usize>,
    mets: Vec<usize>,
    order: Vec<OrderBy>,
}

#[derive(Debug, Clone, PartialEq)]
enum OrderBy {
    /// Position in the requested dimensions, descending.
    Dimension(usize, bool),
    /// Position in the requested metrics, descending.
    Metric(usize, bool),
}

/// A grouped, ordered report, before paging.
#[derive(Debug)]
pub(crate) struct Report {
    rows: Vec<(Vec<String>, Vec<f64>)>,
}

/// The cache of the last report built: its key and the report.
pub(crate) type Cache = Option<(String, Arc<Report>)>;

/// A Google API error body (`google.rpc.Status` in JSON).
pub(crate) fn google_error(
    code: u16,
    status: &str,
    message: &str,
    details: Option<Value>,
) -> Value {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({ "error": error })
}

fn error_info(reason: &str) -> Value {
    json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "analyticsdata.googleapis.com",
            "method": "google.analytics.data.v1beta.BetaAnalyticsData.RunReport"
        }
    }])
}

fn invalid(message: &str) -> Reply {
    Reply::json(400, &google_error(400, "INVALID_ARGUMENT", message, None))
}

/// The 401 of a missing, unknown or expired access token.
pub(crate) fn auth_error(problem: TokenProblem) -> Reply {
    let (message, reason) = match problem {
        TokenProblem::Missing => (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "CREDENTIALS_MISSING",
        ),
        TokenProblem::Invalid => (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        ),
        TokenProblem::Expired => (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "ACCESS_TOKEN_EXPIRED",
        ),
    };
    Reply::json(
        401,
        &google_error(401, "UNAUTHENTICATED", message, Some(error_info(reason))),
    )
    .header(
        "www-authenticate",
        "Bearer realm=\"https://accounts.google.com/\"",
    )
}

pub(crate) fn rate_limited() -> Reply {
    Reply::json(
        429,
        &google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Exhausted concurrent requests quota.",
            None,
        ),
    )
}

pub(crate) fn internal_error() -> Reply {
    Reply::json(
        500,
        &google_error(500, "INTERNAL", "Internal error encountered.", None),
    )
}

/// `POST /v1beta/properties/{property}:runReport`.
pub(crate) fn run_report(sb: &Shared, property: &str, req: &ApiRequest) -> Reply {
    if let Err(problem) = sb.tokens.check(req.bearer()) {
        return auth_error(problem);
    }
    if sb.accounts.ga4_property.as_deref() != Some(property) {
        return Reply::json(
            403,
            &google_error(
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
                None,
            ),
        );
    }
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return invalid(&e),
    };
    let today = sb.config.end_date().succ_opt().unwrap_or(NaiveDate::MAX);
    let (query, limit, offset) = match parse(&body, today) {
        Ok(q) => q,
        Err(message) => return invalid(&message),
    };
    let report = report(sb, property, &query);
    let total = report.rows.len();
    let from = (offset as usize).min(total);
    let to = from.saturating_add(limit as usize).min(total);
    let rows: Vec<Value> = report.rows[from..to]
        .iter()
        .map(|(dims, mets)| {
            json!({
                "dimensionValues": dims.iter().map(|v| json!({"value": v})).collect::<Vec<_>>(),
                "metricValues": mets.iter().map(|v| json!({"value": number_text(*v)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut out = json!({
        "dimensionHeaders": query.dims.iter().map(|&d| json!({"name": DIMENSIONS[d].0})).collect::<Vec<_>>(),
        "metricHeaders": query.mets.iter().map(|&m| json!({"name": METRICS[m].0, "type": METRICS[m].2})).collect::<Vec<_>>(),
    });
    if !rows.is_empty() {
        out["rows"] = Value::Array(rows);
    }
    if total > 0 {
        out["rowCount"] = json!(total);
    }
    out["metadata"] = json!({"currencyCode": "EUR", "timeZone": "Europe/Madrid"});
    out["kind"] = json!("analyticsData#runReport");
    Reply::json(200, &out)
}

/// The report for `query`, from the cache when the same report was asked
/// for last (and nothing was revised since).
fn report(sb: &Shared, property: &str, query: &Query) -> Arc<Report> {
    let key = format!("{property}|{query:?}|{}", sb.revisions_generation());
    let mut cache = sb.ga4_cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, r)) = &*cache
        && *k == key
    {
        return Arc::clone(r);
    }
    let report = Arc::new(build(sb, query));
    *cache = Some((key, Arc::clone(&report)));
    report
}

fn build(sb: &Shared, q: &Query) -> Report {
    let mut groups: HashMap<Vec<String>, Vec<f64>> = HashMap::new();
    let revised = METRICS.iter().position(|m| m.0 == REVISED_METRIC);
    for (date, batch) in sb.store.days(GA4_TRAFFIC, q.start, q.end) {
        let factor = sb.revision("ga4/traffic", date);
        let day = date.format("%Y%m%d").to_string();
        for row in 0..batch.num_rows() {
            let key: Vec<String> = q
                .dims
                .iter()
                .map(|&d| match DIMENSIONS[d].1 {
                    "" => day.clone(),
                    column => str_at(batch, column, row).to_string(),
                })
                .collect();
            let sums = groups.entry(key).or_insert_with(|| vec![0.0; q.mets.len()]);
            for (sum, &m) in sums.iter_mut().zip(&q.mets) {
                let (_, column, _, integer) = METRICS[m];
                let mut v = if integer {
                    int_at(batch, column, row) as f64
                } else {
                    float_at(batch, column, row)
                };
                if let Some(f) = factor
                    && Some(m) == revised
                {
                    // Key events are counted in whole events.
                    v = (v * f).round();
                }
                *sum += v;
            }
        }
    }
    let mut rows: Vec<(Vec<String>, Vec<f64>)> = groups.into_iter().collect();
    rows.sort_by(|a, b| {
        for o in &q.order {
            let (ord, desc) = match *o {
                OrderBy::Dimension(i, desc) => (a.0[i].cmp(&b.0[i]), desc),
                OrderBy::Metric(i, desc) => (a.1[i].total_cmp(&b.1[i]), desc),
            };
            let ord = if desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        // A total order whatever was asked, so pages never overlap.
        a.0.cmp(&b.0)
    });
    Report { rows }
}

/// The report query, `limit` and `offset` of a `runReport` body.
fn parse(body: &Value, today: NaiveDate) -> Result<(Query, u64, u64), String> {
    for unsupported in [
        "dimensionFilter",
        "metricFilter",
        "cohortSpec",
        "comparisons",
        "pivots",
        "metricAggregations",
    ] {
        if body.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "{unsupported} is not supported by the kpi sandbox's GA4 emulation"
            ));
        }
    }
    let ranges = body
        .get("dateRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let [range] = ranges.as_slice() else {
        return Err(format!(
            "the kpi sandbox takes exactly one date range, got {}",
            ranges.len()
        ));
    };
    let date = |field: &str| -> Result<NaiveDate, String> {
        let text = range.get(field).and_then(Value::as_str).unwrap_or("");
        parse_date(text, today).ok_or_else(|| {
            format!(
                "Invalid value at 'date_ranges[0].{}' ({text:?})",
                snake(field)
            )
        })
    };
    let (start, end) = (date("startDate")?, date("endDate")?);
    if start > end {
        return Err(format!(
            "The dateRange startDate ({start}) must be before or on the endDate ({end})."
        ));
    }
    let names = |member: &str| -> Vec<String> {
        body.get(member)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|d| {
                        d.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let dims = names("dimensions")
        .iter()
        .map(|n| {
            DIMENSIONS.iter().position(|d| d.0 == n).ok_or_else(|| {
                format!("Field {n} is not a valid dimension. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema ")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mets = names("metrics")
        .iter()
        .map(|n| {
            METRICS.iter().position(|m| m.0 == n).ok_or_else(|| {
                format!("Field {n} is not a valid metric. For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema ")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if mets.is_empty() && dims.is_empty() {
        return Err("The request needs at least one dimension or metric.".into());
    }
    let mut order = Vec::new();
    for o in body
        .get("orderBys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let desc = o.get("desc").and_then(Value::as_bool).unwrap_or(false);
        if let Some(name) = o
            .pointer("/dimension/dimensionName")
            .and_then(Value::as_str)
        {
            let at = dims
                .iter()
                .position(|&d| DIMENSIONS[d].0 == name)
                .ok_or_else(|| {
                    format!("Dimension {name} in orderBys is not a requested dimension.")
                })?;
            order.push(OrderBy::Dimension(at, desc));
        } else if let Some(name) = o.pointer("/metric/metricName").and_then(Value::as_str) {
            let at = mets
                .iter()
                .position(|&m| METRICS[m].0 == name)
                .ok_or_else(|| format!("Metric {name} in orderBys is not a requested metric."))?;
            order.push(OrderBy::Metric(at, desc));
        } else {
            return Err("An orderBy needs a dimension or a metric.".into());
        }
    }
    let limit = int64(body.get("limit"), "limit")?
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    let offset = int64(body.get("offset"), "offset")?.unwrap_or(0);
    Ok((
        Query {
            start,
            end,
            dims,
            mets,
            order,
        },
        limit,
        offset,
    ))
}

/// An int64 request field: a JSON number or, as Google's JSON mapping
/// writes int64, a string.
fn int64(v: Option<&Value>, name: &str) -> Result<Option<u64>, String> {
    let parsed = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match parsed {
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        _ => Err(format!(
            "Invalid value at '{name}' ({})",
            v.map(Value::to_string).unwrap_or_default()
        )),
    }
}

/// `2024-03-01`, `today`, `yesterday` or `NdaysAgo`.
fn parse_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    match text {
        "today" => Some(today),
        "yesterday" => today.pred_opt(),
        _ => match text.strip_suffix("daysAgo") {
            Some(n) => today.checked_sub_days(Days::new(n.parse().ok()?)),
            None => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
        },
    }
}

fn snake(field: &str) -> String {
    field.replace("Date", "_date")
}

/// The GA4 Data API (`runReport`).
pub(crate) struct Ga4;

impl super::emulation::Emulation for Ga4 {
    fn name(&self) -> &'static str {
        "GA4"
    }

    fn route(&self, method: &hyper::Method, segments: &[&str]) -> Option<&'static str> {
        match segments {
            ["v1beta", "properties", p]
                if *method == hyper::Method::POST && p.ends_with(":runReport") =>
            {
                Some(super::patterns::RUN_REPORT)
            }
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, _pattern: &'static str, req: &ApiRequest) -> Reply {
        let segments = super::emulation::segments(&req.path);
        let property = segments[2].trim_end_matches(":runReport");
        run_report(sb, property, req)
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        rate_limited()
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        internal_error()
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        auth_error(TokenProblem::Expired)
    }

    fn sources_toml(&self, base: &str, store: &super::data::Store) -> String {
        let property = super::Accounts::of(store)
            .ga4_property
            .unwrap_or_else(|| "301234567".to_string());
        format!(
            r#"[sources.ga4]
type = "ga4"
property_ids = ["properties/{property}"]
base_url = "{base}"
token_url = "{base}/token"
auth = {{ type = "oauth2", client_id = {{ env = "GA4_CLIENT_ID" }}, client_secret = {{ env = "GA4_CLIENT_SECRET" }}, refresh_token = {{ env = "GA4_REFRESH_TOKEN" }} }}
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn request_parsing() {
        let body = json!({
            "dateRanges": [{"startDate": "7daysAgo", "endDate": "yesterday"}],
            "dimensions": [{"name": "date"}, {"name": "deviceCategory"}],
            "metrics": [{"name": "sessions"}],
            "orderBys": [{"metric": {"metricName": "sessions"}, "desc": true}],
            "limit": "50",
            "offset": 100,
        });
        let (q, limit, offset) = parse(&body, d("2024-03-10")).unwrap();
        assert_eq!((q.start, q.end), (d("2024-03-03"), d("2024-03-09")));
        assert_eq!((q.dims, q.mets), (vec![0, 4], vec![0]));
        assert_eq!(q.order, vec![OrderBy::Metric(0, true)]);
        assert_eq!((limit, offset), (50, 100));

        let err = |body: Value| parse(&body, d("2024-03-10")).unwrap_err();
        let range = json!([{"startDate": "2024-03-01", "endDate": "2024-03-02"}]);
        assert!(
            err(json!({"dateRanges": range, "dimensions": [{"name": "city"}]}))
                .starts_with("Field city is not a valid dimension")
        );
        assert!(
            err(json!({"dateRanges": range, "metrics": [{"name": "sessions"}], "limit": "-1"}))
                .starts_with("Invalid value at 'limit'")
        );
        assert!(err(json!({"dateRanges": range, "metrics": [{"name": "sessions"}], "dimensionFilter": {}}))
            .contains("dimensionFilter is not supported"));
        assert!(
            err(json!({"dateRanges": [], "metrics": [{"name": "sessions"}]}))
                .contains("exactly one date range")
        );
        let (_, limit, _) = parse(
            &json!({"dateRanges": range, "metrics": [{"name": "sessions"}], "limit": 900000}),
            d("2024-03-10"),
        )
        .unwrap();
        assert_eq!(limit, MAX_LIMIT);
    }
}
