//! The HubSpot CRM v3 emulation over the `hubspot` snapshots:
//! `GET /crm/v3/objects/contacts` and `GET /crm/v3/objects/deals` with
//! `properties=`, `limit` (10 by default, at most 100), `after` and
//! `associations=` (deals -> contacts, contacts -> deals), and
//! `GET /account-info/v3/details` for the portal's company currency.
//!
//! `POST /crm/v3/objects/{contacts,deals}/search` takes filters on
//! `hs_object_id` (`EQ`, `GT`, `GTE`, `LT`, `LTE`; one filter group), a sort
//! on it, `properties`, `limit` (at most 200) and `after`; like HubSpot it
//! answers `total`, never returns associations, and refuses to page past
//! 10,000 results. `POST /crm/v4/associations/deals/contacts/batch/read`
//! returns the contacts of up to 1,000 deals.
//!
//! Objects come in id order, as HubSpot lists them, each with the requested
//! properties it knows (unknown names are left out, as HubSpot leaves them
//! out; known but empty ones are `null`), plus `hs_object_id`,
//! `createdAt`, `updatedAt` and `archived`. Every property value is a
//! string: timestamps ISO 8601 in UTC with milliseconds, amounts in the
//! shortest decimal that reads back as the generator's number, booleans
//! `"true"`/`"false"`. Paging is `paging.next.after` (and `link`) while
//! objects remain.
//!
//! Both a private app token ([`super::Credentials::hubspot_access_token`])
//! and an access token from the sandbox's `POST /oauth/v1/token` are
//! accepted. Errors are HubSpot's: `{"status": "error", "message",
//! "correlationId", "category"}`.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{HUBSPOT_CONTACTS, HUBSPOT_DEALS, bool_at, opt_float, opt_ms, opt_str, str_at};
use super::http::{ApiRequest, Reply, encode};
use super::oauth::TokenProblem;

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
const MAX_SEARCH_LIMIT: usize = 200;
/// HubSpot's search pages no further than this many results.
const SEARCH_WINDOW: usize = 10_000;
const MAX_BATCH_INPUTS: usize = 1_000;

/// Contact properties and how they are stored: `true` for timestamps.
const CONTACT_PROPERTIES: [(&str, bool); 12] = [
    ("createdate", true),
    ("lastmodifieddate", true),
    ("lifecyclestage", false),
    ("hs_lifecyclestage_lead_date", true),
    ("hs_lifecyclestage_marketingqualifiedlead_date", true),
    ("hs_lifecyclestage_salesqualifiedlead_date", true),
    ("hs_lifecyclestage_opportunity_date", true),
    ("hs_lifecyclestage_customer_date", true),
    ("churn_date", true),
    ("hs_analytics_source", false),
    ("hs_analytics_source_data_1", false),
    ("hs_analytics_source_data_2", false),
];
/// What HubSpot returns for contacts when `properties` is not given (those
/// the sandbox has).
const CONTACT_DEFAULTS: [&str; 2] = ["createdate", "lastmodifieddate"];

const DEAL_PROPERTIES: [&str; 9] = [
    "dealname",
    "amount",
    "deal_currency_code",
    "createdate",
    "closedate",
    "dealstage",
    "pipeline",
    "hs_is_closed",
    "hs_is_closed_won",
];
const DEAL_DEFAULTS: [&str; 6] = [
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "pipeline",
];

/// The contacts of every deal, reversed: contact id -> deal ids.
pub(crate) type ContactDeals = HashMap<String, Vec<String>>;

fn error(status: u16, message: &str, category: &str, request: u64) -> Reply {
    Reply::json(
        status,
        &json!({
            "status": "error",
            "message": message,
            "correlationId": correlation_id(request),
            "category": category,
        }),
    )
}

/// A UUID-shaped id, different for every request.
fn correlation_id(n: u64) -> String {
    format!("{:08x}-5a9d-4c3e-8b1f-{:012x}", n as u32, n)
}

pub(crate) fn auth_error(problem: TokenProblem, request: u64) -> Reply {
    match problem {
        TokenProblem::Expired => error(
            401,
            "The OAuth token used to make this call expired 0 second(s) ago.",
            "EXPIRED_AUTHENTICATION",
            request,
        ),
        TokenProblem::Missing | TokenProblem::Invalid => error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
            request,
        ),
    }
}

pub(crate) fn rate_limited(request: u64) -> Reply {
    Reply::json(
        429,
        &json!({
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(request),
            "policyName": "SECONDLY",
        }),
    )
}

pub(crate) fn internal_error(request: u64) -> Reply {
    error(500, "internal error", "INTERNAL_ERROR", request)
}

fn authorize(sb: &Shared, req: &ApiRequest, request: u64) -> Result<(), Reply> {
    let token = req.bearer();
    if token.is_some_and(|t| t == sb.config.credentials.hubspot_access_token) {
        return Ok(());
    }
    sb.tokens
        .check(token)
        .map_err(|problem| auth_error(problem, request))
}

/// `GET /crm/v3/objects/{object}`.
pub(crate) fn list(sb: &Shared, object: &str, req: &ApiRequest) -> Reply {
    let request = sb.request_seq();
    if let Err(reply) = authorize(sb, req, request) {
        return reply;
    }
    let invalid = |message: String| error(400, &message, "VALIDATION_ERROR", request);
    let limit = match req.param("limit").map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if n > 0 => n.min(MAX_LIMIT),
        Some(_) => return invalid("limit must be a positive integer".into()),
    };
    let from = match req.param("after").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return invalid(format!(
                "Unable to parse the 'after' paging token {:?}",
                req.param("after").unwrap_or_default()
            ));
        }
    };
    let names = |param: &str| -> Vec<String> {
        req.params(param)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut properties = names("properties");
    let associations = names("associations");
    let (key, known): (_, Vec<&str>) = match object {
        "contacts" => (
            HUBSPOT_CONTACTS,
            CONTACT_PROPERTIES.iter().map(|p| p.0).collect(),
        ),
        "deals" => (HUBSPOT_DEALS, DEAL_PROPERTIES.to_vec()),
        _ => unreachable!("routed for contacts and deals only"),
    };
    if properties.is_empty() {
        let defaults: &[&str] = if object == "contacts" {
            &CONTACT_DEFAULTS
        } else {
            &DEAL_DEFAULTS
        };
        properties = defaults.iter().map(|s| s.to_string()).collect();
    }
    // HubSpot drops names it does not know instead of failing the request.
    properties.retain(|p| known.contains(&p.as_str()));
    let snapshot = sb.store.snapshot(key);
    let results: Vec<Value> = snapshot
        .rows_from(from, limit)
        .map(|(b, i)| match object {
            "contacts" => contact(sb, b, i, &properties, &associations),
            _ => deal(b, i, &properties, &associations),
        })
        .collect();
    let mut body = json!({ "results": results });
    let next = from + results.len();
    if next < snapshot.rows {
        let query: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "after")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .chain([format!("after={next}")])
            .collect();
        body["paging"] = json!({"next": {
            "after": next.to_string(),
            "link": format!("{}{}?{}", sb.base_url, req.path, query.join("&")),
        }});
    }
    Reply::json(200, &body)
}

fn id_at(b: &arrow::record_batch::RecordBatch, i: usize) -> u64 {
    str_at(b, "id", i).parse().unwrap_or(u64::MAX)
}

/// `POST /crm/v3/objects/{object}/search`.
pub(crate) fn search(sb: &Shared, object: &str, req: &ApiRequest) -> Reply {
    let request = sb.request_seq();
    if let Err(reply) = authorize(sb, req, request) {
        return reply;
    }
    let invalid = |message: String| error(400, &message, "VALIDATION_ERROR", request);
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return invalid(format!("Invalid input JSON on line 1: {e}")),
    };
    let limit = match body.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 && n as usize <= MAX_SEARCH_LIMIT => n as usize,
            _ => {
                return invalid(format!(
                    "limit must be between 1 and {MAX_SEARCH_LIMIT}, got {v}"
                ));
            }
        },
    };
    let after = match body.get("after") {
        None | Some(Value::Null) => 0,
        Some(v) => match v
            .as_str()
            .map(str::parse::<usize>)
            .or(v.as_u64().map(|n| Ok(n as usize)))
        {
            Some(Ok(n)) => n,
            _ => return invalid(format!("Unable to parse the 'after' paging token {v}")),
        },
    };
    if after + limit > SEARCH_WINDOW {
        return invalid(format!(
            "Search results are limited to {SEARCH_WINDOW}; page with filters instead (after={after}, limit={limit})"
        ));
    }
    // One filter group of hs_object_id bounds: [lo, hi).
    let (mut lo, mut hi) = (0u64, u64::MAX);
    let groups = body
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if groups.len() > 1 {
        return invalid("the sandbox takes at most one filter group".into());
    }
    for f in groups
        .first()
        .and_then(|g| g.get("filters"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = f.get("propertyName").and_then(Value::as_str).unwrap_or("");
        if name != "hs_object_id" {
            return invalid(format!(
                "the sandbox filters on hs_object_id only, not {name:?}"
            ));
        }
        let value = f
            .get("value")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or(v.as_u64().map(|n| n.to_string()))
            })
            .and_then(|v| v.parse::<u64>().ok());
        let Some(value) = value else {
            return invalid(format!("filter {f}: value must be an object id"));
        };
        match f.get("operator").and_then(Value::as_str) {
            Some("EQ") => {
                lo = lo.max(value);
                hi = hi.min(value.saturating_add(1));
            }
            Some("GT") => lo = lo.max(value.saturating_add(1)),
            Some("GTE") => lo = lo.max(value),
            Some("LT") => hi = hi.min(value),
            Some("LTE") => hi = hi.min(value.saturating_add(1)),
            other => return invalid(format!("operator {other:?} is not supported here")),
        }
    }
    let descending = match body
        .get("sorts")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
    {
        None => false,
        Some(sort) => {
            if sort.get("propertyName").and_then(Value::as_str) != Some("hs_object_id") {
                return invalid("the sandbox sorts by hs_object_id only".into());
            }
            sort.get("direction").and_then(Value::as_str) == Some("DESCENDING")
        }
    };
    let (key, known): (_, Vec<&str>) = match object {
        "contacts" => (
            HUBSPOT_CONTACTS,
            CONTACT_PROPERTIES.iter().map(|p| p.0).collect(),
        ),
        _ => (HUBSPOT_DEALS, DEAL_PROPERTIES.to_vec()),
    };
    let mut properties: Vec<String> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    properties.retain(|p| known.contains(&p.as_str()));
    let snapshot = sb.store.snapshot(key);
    let first = snapshot.partition_point(|b, i| id_at(b, i) < lo);
    let end = snapshot.partition_point(|b, i| id_at(b, i) < hi);
    let total = end.saturating_sub(first);
    let take = limit.min(total.saturating_sub(after));
    let start = if descending {
        end.saturating_sub(after + take)
    } else {
        first + after
    };
    let mut results: Vec<Value> = snapshot
        .rows_from(start, take)
        .map(|(b, i)| match object {
            "contacts" => contact(sb, b, i, &properties, &[]),
            _ => deal(b, i, &properties, &[]),
        })
        .collect();
    if descending {
        results.reverse();
    }
    let mut reply = json!({ "total": total, "results": results });
    let next = after + take;
    if next < total {
        reply["paging"] = json!({"next": {"after": next.to_string()}});
    }
    Reply::json(200, &reply)
}

/// `POST /crm/v4/associations/deals/contacts/batch/read`.
pub(crate) fn deal_contacts(sb: &Shared, req: &ApiRequest) -> Reply {
    let request = sb.request_seq();
    if let Err(reply) = authorize(sb, req, request) {
        return reply;
    }
    let invalid = |message: String| error(400, &message, "VALIDATION_ERROR", request);
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return invalid(format!("Invalid input JSON on line 1: {e}")),
    };
    let Some(inputs) = body.get("inputs").and_then(Value::as_array) else {
        return invalid("inputs: an array of {\"id\": ...} is required".into());
    };
    if inputs.len() > MAX_BATCH_INPUTS {
        return invalid(format!(
            "at most {MAX_BATCH_INPUTS} inputs per batch, got {}",
            inputs.len()
        ));
    }
    let snapshot = sb.store.snapshot(HUBSPOT_DEALS);
    let mut results = Vec::new();
    for input in inputs {
        let Some(id) = input.get("id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or(v.as_u64().map(|n| n.to_string()))
        }) else {
            return invalid(format!("input {input}: no id"));
        };
        let Ok(n) = id.parse::<u64>() else { continue };
        let at = snapshot.partition_point(|b, i| id_at(b, i) < n);
        let Some((b, i)) = snapshot.row(at).filter(|(b, i)| id_at(b, *i) == n) else {
            continue;
        };
        if let Some(contact) = opt_str(b, "associated_contact_id", i) {
            results.push(json!({
                "from": {"id": id},
                "to": [{
                    "toObjectId": contact.parse::<u64>().map(Value::from).unwrap_or(Value::from(contact)),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}]
                }]
            }));
        }
    }
    Reply::json(200, &json!({"status": "COMPLETE", "results": results}))
}

fn iso(ms: Option<i64>) -> Value {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| Value::from(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

fn contact(
    sb: &Shared,
    b: &arrow::record_batch::RecordBatch,
    i: usize,
    properties: &[String],
    associations: &[String],
) -> Value {
    let id = str_at(b, "id", i);
    let mut props = Map::new();
    for p in properties {
        let timestamp = CONTACT_PROPERTIES.iter().any(|(n, ts)| n == p && *ts);
        let v = if timestamp {
            iso(opt_ms(b, p, i))
        } else {
            opt_str(b, p, i).map_or(Value::Null, Value::from)
        };
        props.insert(p.clone(), v);
    }
    props.insert("hs_object_id".into(), json!(id));
    let mut o = json!({
        "id": id,
        "properties": props,
        "createdAt": iso(opt_ms(b, "createdate", i)),
        "updatedAt": iso(opt_ms(b, "lastmodifieddate", i)),
        "archived": false,
    });
    if associations.iter().any(|a| a == "deals") {
        let deals = sb.contact_deals();
        if let Some(ids) = deals.get(id) {
            let results: Vec<Value> = ids
                .iter()
                .map(|d| json!({"id": d, "type": "contact_to_deal"}))
                .collect();
            o["associations"] = json!({"deals": {"results": results}});
        }
    }
    o
}

fn deal(
    b: &arrow::record_batch::RecordBatch,
    i: usize,
    properties: &[String],
    associations: &[String],
) -> Value {
    let id = str_at(b, "id", i);
    let created = opt_ms(b, "createdate", i);
    let closed = opt_ms(b, "closedate", i);
    let mut props = Map::new();
    for p in properties {
        let v = match p.as_str() {
            "amount" => {
                opt_float(b, p, i).map_or(Value::Null, |a| Value::from(super::data::number_text(a)))
            }
            "createdate" | "closedate" => iso(opt_ms(b, p, i)),
            "hs_is_closed" | "hs_is_closed_won" => Value::from(bool_at(b, p, i).to_string()),
            text => opt_str(b, text, i).map_or(Value::Null, Value::from),
        };
        props.insert(p.clone(), v);
    }
    props.insert("hs_object_id".into(), json!(id));
    let mut o = json!({
        "id": id,
        "properties": props,
        "createdAt": iso(created),
        "updatedAt": iso(created.max(closed)),
        "archived": false,
    });
    if associations.iter().any(|a| a == "contacts")
        && let Some(contact) = opt_str(b, "associated_contact_id", i)
    {
        o["associations"] = json!({"contacts": {"results": [
            {"id": contact, "type": "deal_to_contact"}
        ]}});
    }
    o
}

/// Contact id -> its deals, for `associations=deals` on contacts.
pub(crate) fn contact_deals(sb: &Shared) -> ContactDeals {
    let mut map: ContactDeals = HashMap::new();
    for (b, i) in sb.store.snapshot(HUBSPOT_DEALS).all() {
        if let Some(contact) = opt_str(b, "associated_contact_id", i) {
            map.entry(contact.to_string())
                .or_default()
                .push(str_at(b, "id", i).to_string());
        }
    }
    map
}

/// `GET /account-info/v3/details`.
pub(crate) fn account_details(sb: &Shared, req: &ApiRequest) -> Reply {
    let request = sb.request_seq();
    if let Err(reply) = authorize(sb, req, request) {
        return reply;
    }
    Reply::json(
        200,
        &json!({
            "portalId": 145_000_001,
            "accountType": "STANDARD",
            "timeZone": "Europe/Madrid",
            "companyCurrency": "EUR",
            "additionalCurrencies": ["USD"],
            "utcOffset": "+01:00",
            "utcOffsetMilliseconds": 3_600_000,
            "uiDomain": "app-eu1.hubspot.com",
            "dataHostingLocation": "eu1",
        }),
    )
}

/// The HubSpot CRM v3 API (object lists and searches, deal-to-contact
/// associations, the account's details).
pub(crate) struct HubSpot;

impl super::emulation::Emulation for HubSpot {
    fn name(&self) -> &'static str {
        "HubSpot"
    }

    fn route(&self, method: &hyper::Method, segments: &[&str]) -> Option<&'static str> {
        use super::patterns::*;
        let get = *method == hyper::Method::GET;
        let post = *method == hyper::Method::POST;
        match segments {
            ["crm", "v3", "objects", "contacts"] if get => Some(HUBSPOT_CONTACTS),
            ["crm", "v3", "objects", "deals"] if get => Some(HUBSPOT_DEALS),
            ["crm", "v3", "objects", "contacts", "search"] if post => Some(HUBSPOT_CONTACTS_SEARCH),
            ["crm", "v3", "objects", "deals", "search"] if post => Some(HUBSPOT_DEALS_SEARCH),
            [
                "crm",
                "v4",
                "associations",
                "deals",
                "contacts",
                "batch",
                "read",
            ] if post => Some(HUBSPOT_DEAL_CONTACTS),
            ["account-info", "v3", "details"] if get => Some(HUBSPOT_ACCOUNT),
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        use super::patterns::*;
        match pattern {
            HUBSPOT_CONTACTS => list(sb, "contacts", req),
            HUBSPOT_DEALS => list(sb, "deals", req),
            HUBSPOT_CONTACTS_SEARCH => search(sb, "contacts", req),
            HUBSPOT_DEALS_SEARCH => search(sb, "deals", req),
            HUBSPOT_DEAL_CONTACTS => deal_contacts(sb, req),
            _ => account_details(sb, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        rate_limited(0)
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        internal_error(0)
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        auth_error(TokenProblem::Expired, 0)
    }

    fn sources_toml(&self, base: &str, _store: &super::data::Store) -> String {
        format!(
            r#"[sources.hubspot]
type = "hubspot"
base_url = "{base}"
auth = {{ type = "bearer", token = {{ env = "HUBSPOT_TOKEN" }} }}
# Or a public app's OAuth2 refresh token (HUBSPOT_CLIENT_ID, ...):
# token_url = "{base}/oauth/v1/token"
# auth = {{ type = "oauth2", client_id = {{ env = "HUBSPOT_CLIENT_ID" }}, client_secret = {{ env = "HUBSPOT_CLIENT_SECRET" }}, refresh_token = {{ env = "HUBSPOT_REFRESH_TOKEN" }} }}
# The sandbox has no quota; against HubSpot, leave the defaults (10 requests
# and 4 searches per second).
http = {{ requests_per_second = 0 }}
search_requests_per_second = 0
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_with_millis() {
        assert_eq!(
            iso(Some(1_709_287_200_000)),
            json!("2024-03-01T10:00:00.000Z")
        );
        assert_eq!(iso(None), Value::Null);
        assert_ne!(correlation_id(1), correlation_id(2));
    }
}
