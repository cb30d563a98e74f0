//! The Google Search Console API emulation over the
//! `search_console/search_analytics` stream:
//!
//! - `POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query`, the site
//!   percent-encoded in its path segment (`sc-domain%3Aexample.com`), with a
//!   JSON body: `startDate` and `endDate` (`YYYY-MM-DD`, both included),
//!   `dimensions` (any of `date`, `query` and `device`, the ones the stream
//!   holds, in any order; rows are grouped by them, clicks and impressions
//!   summed, `ctr` recomputed and `position` averaged by impressions, as
//!   Google aggregates), `type` (`web`, the default; the other search types
//!   have no data here), `dataState` (`final` or `all`; every stored day is
//!   final), `aggregationType` (`auto` or `byProperty`), `rowLimit` (1 to
//!   25,000, default 1,000) and `startRow` (default 0). The answer is
//!   `{"rows": [{"keys", "clicks", "impressions", "ctr", "position"}],
//!   "responseAggregationType": "byProperty"}`, `rows` left out when none
//!   match; keys come in the order the dimensions were asked for.
//! - `GET /webmasters/v3/sites/{siteUrl}`: the site and the account's
//!   `permissionLevel` (`siteOwner`), for `kpi check`.
//!
//! Rows come in the stored order (day, then the generator's query order),
//! which pages the same on every request; Google orders by clicks, which
//! a connector must not rely on either. Every request needs a bearer token
//! from Google's `POST /token`. Errors are Google's `{"error": {"code",
//! "message", "errors", "status"}}`: 401 `UNAUTHENTICATED`, 403
//! `PERMISSION_DENIED` for a site the account may not read (any but the
//! company's), 400 `INVALID_ARGUMENT` naming what is wrong (filters and the
//! `page`, `country` and `searchAppearance` dimensions are refused rather
//! than ignored), 429 `RESOURCE_EXHAUSTED` and 500 `INTERNAL` for the
//! faults.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use hyper::Method;
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{SEARCH_CONSOLE_ANALYTICS, Store, float_at, int_at, str_at};
use super::emulation::Emulation;
use super::http::{ApiRequest, Reply};
use super::oauth::TokenProblem;

const QUERY: &str = "POST /webmasters/v3/sites/{site_url}/searchAnalytics/query";
const SITE: &str = "GET /webmasters/v3/sites/{site_url}";

const DEFAULT_ROW_LIMIT: u64 = 1000;
const MAX_ROW_LIMIT: u64 = 25_000;
/// The company's property when the store has no row to read it from.
const DEFAULT_SITE: &str = "sc-domain:example.com";
/// The search types Google knows; only `web` has data here.
const SEARCH_TYPES: [&str; 6] = ["web", "image", "video", "news", "discover", "googlenews"];

/// The Search Console API.
pub(crate) struct SearchConsole;

/// Google's error body, with the older `errors[]` list Search Console
/// still sends beside `status`.
fn error(code: u16, status: &str, reason: &str, domain: &str, message: &str) -> Reply {
    Reply::json(
        code,
        &json!({"error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }}),
    )
}

fn invalid(message: &str) -> Reply {
    error(400, "INVALID_ARGUMENT", "badRequest", "global", message)
}

fn auth_error(problem: TokenProblem) -> Reply {
    let message = match problem {
        TokenProblem::Missing => {
            "Request is missing required authentication credential. Expected OAuth 2 access \
             token, login cookie or other valid authentication credential."
        }
        TokenProblem::Invalid | TokenProblem::Expired => {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential."
        }
    };
    error(401, "UNAUTHENTICATED", "authError", "global", message).header(
        "www-authenticate",
        "Bearer realm=\"https://accounts.google.com/\"",
    )
}

fn forbidden(site: &str) -> Reply {
    error(
        403,
        "PERMISSION_DENIED",
        "forbidden",
        "global",
        &format!(
            "User does not have sufficient permission for site '{site}'. See also: \
             https://support.google.com/webmasters/answer/2451999."
        ),
    )
}

/// The company's Search Console property.
fn site_of(store: &Store) -> String {
    store
        .first_string(SEARCH_CONSOLE_ANALYTICS, "site_url")
        .unwrap_or_else(|| DEFAULT_SITE.into())
}

/// Percent-decoding of a path segment (`+` stays a plus, as in paths).
fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded site of a request's path, and whether the account may read
/// it; `Err` is the answer.
fn authorize(sb: &Shared, req: &ApiRequest) -> Result<String, Reply> {
    sb.tokens.check(req.bearer()).map_err(auth_error)?;
    let segment = req.path.trim_matches('/').split('/').nth(3).unwrap_or("");
    let site = decode_segment(segment);
    if site != site_of(&sb.store) {
        return Err(forbidden(&site));
    }
    Ok(site)
}

/// What a query asks for.
struct Query {
    start: NaiveDate,
    end: NaiveDate,
    /// Stream columns of the requested dimensions, in order (`date` as "").
    dims: Vec<&'static str>,
    web: bool,
    row_limit: u64,
    start_row: u64,
}

fn date_field(body: &Value, name: &str) -> Result<NaiveDate, Reply> {
    match body.get(name) {
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            invalid(&format!(
                "Invalid value for {name}: '{s}' is not a date in YYYY-MM-DD format."
            ))
        }),
        Some(other) => Err(invalid(&format!(
            "Invalid value for {name}: {other} is not a string."
        ))),
        None => Err(invalid(&format!("Missing required field: {name}."))),
    }
}

fn number_field(body: &Value, name: &str, default: u64) -> Result<u64, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            invalid(&format!(
                "Invalid value for {name}: {n} is not a non-negative integer."
            ))
        }),
        // int32 fields also parse from strings in Google's JSON mapping.
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            invalid(&format!(
                "Invalid value for {name}: '{s}' is not a non-negative integer."
            ))
        }),
        Some(other) => Err(invalid(&format!(
            "Invalid value for {name}: {other} is not an integer."
        ))),
    }
}

/// A string enum field, lower-cased with `_` dropped (Google accepts
/// `BY_PROPERTY` and `byProperty` alike).
fn enum_field(body: &Value, name: &str) -> Result<Option<String>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.replace('_', "").to_ascii_lowercase())),
        Some(other) => Err(invalid(&format!(
            "Invalid value for {name}: {other} is not a string."
        ))),
    }
}

fn parse_query(req: &ApiRequest) -> Result<Query, Reply> {
    let body = req.json().map_err(|e| invalid(&e))?;
    if !body.is_object() {
        return Err(invalid("The request body must be a JSON object."));
    }
    let start = date_field(&body, "startDate")?;
    let end = date_field(&body, "endDate")?;
    if end < start {
        return Err(invalid(&format!(
            "endDate {end} is before startDate {start}."
        )));
    }
    let mut dims = Vec::new();
    if let Some(list) = body.get("dimensions") {
        let Some(items) = list.as_array() else {
            return Err(invalid("Invalid value for dimensions: expected a list."));
        };
        for item in items {
            let name = item.as_str().unwrap_or_default().to_ascii_lowercase();
            let column = match name.as_str() {
                "date" => "",
                "query" => "query",
                "device" => "device",
                "page" | "country" | "searchappearance" => {
                    return Err(invalid(&format!(
                        "The kpi sandbox does not have the dimension {item}: it holds date, \
                         query and device only."
                    )));
                }
                _ => return Err(invalid(&format!("Invalid dimension: {item}."))),
            };
            if dims.contains(&column) {
                return Err(invalid(&format!("Dimension {item} is listed twice.")));
            }
            dims.push(column);
        }
    }
    if body.get("dimensionFilterGroups").is_some() {
        return Err(invalid(
            "The kpi sandbox does not filter: leave dimensionFilterGroups out.",
        ));
    }
    match enum_field(&body, "aggregationType")?.as_deref() {
        None | Some("auto" | "byproperty") => {}
        Some(other) => {
            return Err(invalid(&format!(
                "The kpi sandbox aggregates by property only, not {other}."
            )));
        }
    }
    let kind = match enum_field(&body, "type")? {
        Some(t) => Some(t),
        None => enum_field(&body, "searchType")?,
    };
    let web = match kind.as_deref() {
        None | Some("web") => true,
        Some(t) if SEARCH_TYPES.contains(&t) => false,
        Some(t) => return Err(invalid(&format!("Invalid value for type: {t}."))),
    };
    match enum_field(&body, "dataState")?.as_deref() {
        None | Some("final" | "all") => {}
        Some(other) => {
            return Err(invalid(&format!(
                "Invalid value for dataState: {other} (expected final or all)."
            )));
        }
    }
    let row_limit = number_field(&body, "rowLimit", DEFAULT_ROW_LIMIT)?;
    if !(1..=MAX_ROW_LIMIT).contains(&row_limit) {
        return Err(invalid(&format!(
            "rowLimit must be between 1 and {MAX_ROW_LIMIT}, got {row_limit}."
        )));
    }
    Ok(Query {
        start,
        end,
        dims,
        web,
        row_limit,
        start_row: number_field(&body, "startRow", 0)?,
    })
}

/// A row as the API writes it.
fn row_json(keys: Vec<Value>, clicks: i64, impressions: i64, ctr: f64, position: f64) -> Value {
    json!({
        "keys": keys,
        "clicks": clicks,
        "impressions": impressions,
        "ctr": ctr,
        "position": position,
    })
}

fn keys_of(q: &Query, day: NaiveDate, b: &RecordBatch, i: usize) -> Vec<Value> {
    q.dims
        .iter()
        .map(|c| match *c {
            "" => Value::from(day.format("%Y-%m-%d").to_string()),
            column => Value::from(str_at(b, column, i)),
        })
        .collect()
}

/// The page of rows `q` asks for.
fn rows(sb: &Shared, site: &str, q: &Query) -> Vec<Value> {
    if !q.web {
        return Vec::new();
    }
    let matching = sb
        .store
        .days(SEARCH_CONSOLE_ANALYTICS, q.start, q.end)
        .flat_map(|(day, b)| (0..b.num_rows()).map(move |i| (day, b, i)))
        .filter(|(_, b, i)| str_at(b, "site_url", *i) == site);
    let (skip, take) = (q.start_row as usize, q.row_limit as usize);
    if q.dims.len() == 3 {
        // Every stored row is one key of all three: served as stored.
        return matching
            .skip(skip)
            .take(take)
            .map(|(day, b, i)| {
                row_json(
                    keys_of(q, day, b, i),
                    int_at(b, "clicks", i),
                    int_at(b, "impressions", i),
                    float_at(b, "ctr", i),
                    float_at(b, "position", i),
                )
            })
            .collect();
    }
    // Fewer dimensions: one row per key, in first-seen order, summed.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(Vec<Value>, i64, i64, f64)> = Vec::new();
    for (day, b, i) in matching {
        let keys = keys_of(q, day, b, i);
        let at = *index
            .entry(Value::Array(keys.clone()).to_string())
            .or_insert_with(|| {
                groups.push((keys, 0, 0, 0.0));
                groups.len() - 1
            });
        let impressions = int_at(b, "impressions", i);
        let g = &mut groups[at];
        g.1 += int_at(b, "clicks", i);
        g.2 += impressions;
        g.3 += float_at(b, "position", i) * impressions as f64;
    }
    groups
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|(keys, clicks, impressions, weighted)| {
            let shown = impressions.max(1) as f64;
            row_json(
                keys,
                clicks,
                impressions,
                clicks as f64 / shown,
                weighted / shown,
            )
        })
        .collect()
}

fn query(sb: &Shared, req: &ApiRequest) -> Reply {
    let site = match authorize(sb, req) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let q = match parse_query(req) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let mut body = Map::new();
    let page = rows(sb, &site, &q);
    if !page.is_empty() {
        body.insert("rows".into(), Value::Array(page));
    }
    body.insert("responseAggregationType".into(), json!("byProperty"));
    Reply::json(200, &Value::Object(body))
}

fn site(sb: &Shared, req: &ApiRequest) -> Reply {
    match authorize(sb, req) {
        Ok(site) => Reply::json(
            200,
            &json!({"siteUrl": site, "permissionLevel": "siteOwner"}),
        ),
        Err(reply) => reply,
    }
}

impl Emulation for SearchConsole {
    fn name(&self) -> &'static str {
        "Search Console"
    }

    fn route(&self, method: &Method, segments: &[&str]) -> Option<&'static str> {
        match segments {
            ["webmasters", "v3", "sites", s, "searchAnalytics", "query"]
                if *method == Method::POST && !s.is_empty() =>
            {
                Some(QUERY)
            }
            ["webmasters", "v3", "sites", s] if *method == Method::GET && !s.is_empty() => {
                Some(SITE)
            }
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        match pattern {
            QUERY => query(sb, req),
            _ => site(sb, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        error(
            429,
            "RESOURCE_EXHAUSTED",
            "rateLimitExceeded",
            "usageLimits",
            "Search Analytics QPS quota exceeded",
        )
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        error(
            500,
            "INTERNAL",
            "backendError",
            "global",
            "Internal error encountered.",
        )
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        auth_error(TokenProblem::Expired)
    }

    fn sources_toml(&self, base: &str, store: &Store) -> String {
        let site = site_of(store);
        format!(
            r#"[sources.search_console]
type = "search_console"
site_urls = ["{site}"]
base_url = "{base}"
token_url = "{base}/token"
auth = {{ type = "oauth2", client_id = {{ env = "SEARCH_CONSOLE_CLIENT_ID" }}, client_secret = {{ env = "SEARCH_CONSOLE_CLIENT_SECRET" }}, refresh_token = {{ env = "SEARCH_CONSOLE_REFRESH_TOKEN" }} }}
# The sandbox has no quota; against Google, leave the default (20 requests a
# second: 1,200 a minute per site and user).
http = {{ requests_per_second = 0 }}
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_decode_from_their_segment() {
        assert_eq!(
            decode_segment("sc-domain%3Aexample.com"),
            "sc-domain:example.com"
        );
        assert_eq!(
            decode_segment("https%3A%2F%2Fwww.example.com%2F"),
            "https://www.example.com/"
        );
        assert_eq!(decode_segment("a+b%zz%4"), "a+b%zz%4");
    }

    #[test]
    fn routes() {
        let seg = |p: &str| -> Vec<String> { p.split('/').map(str::to_string).collect() };
        let s = seg("webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query");
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(SearchConsole.route(&Method::POST, &s), Some(QUERY));
        assert_eq!(SearchConsole.route(&Method::GET, &s), None);
        assert_eq!(
            SearchConsole.route(&Method::GET, &s[..4]),
            Some(SITE),
            "{s:?}"
        );
    }
}
