//! The HubSpot CRM v3 emulation over the `hubspot` snapshots:
//! `GET /crm/v3/objects/contacts` and `GET /crm/v3/objects/deals` with
//! `properties=`, `limit` (10 by default, at most 100), `after` and
//! `associations=` (deals -> contacts, contacts -> deals), and
//! `GET /account-info/v3/details` for the portal's company currency.
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
