//! The Salesforce REST API emulation over the `salesforce` snapshots (the
//! company's US business unit):
//!
//! - `POST /services/oauth2/token` with `grant_type=refresh_token`: an access
//!   token and, as Salesforce answers, the `instance_url` to call (this
//!   sandbox), a `signature` and no `expires_in`.
//! - `GET /services/data/vXX.X/query?q=<SOQL>`: `SELECT <fields> FROM
//!   <object> [WHERE SystemModstamp >|>= <datetime>] [ORDER BY
//!   SystemModstamp[, Id]] [LIMIT n]` over Lead, Contact, Opportunity,
//!   Campaign and CampaignMember. Fields are the objects' API names, with
//!   `Owner.Name` on Opportunity (answered nested, `{"Owner": {"attributes":
//!   ..., "Name": ...}}`) and the org's custom `MQL_Date__c` (Lead, a
//!   DateTime) and `Churn_Date__c` (Contact, a Date). The answer is
//!   `{"totalSize", "done", "nextRecordsUrl"?, "records": [{"attributes":
//!   {"type", "url"}, ...}]}` with nulls as `null`, datetimes as
//!   `2024-03-01T10:00:00.000+0000`, dates `YYYY-MM-DD`, checkboxes as
//!   booleans, amounts as numbers.
//! - `GET /services/data/vXX.X/query/<locator>-<offset>`: the next page of a
//!   query, `batchSize` records a page from `Sforce-Query-Options:
//!   batchSize=N` (2,000, Salesforce's most, by default; the sandbox takes
//!   any size from 1, Salesforce at least 200).
//! - `GET /services/data/vXX.X/limits`: `DailyApiRequests` {Max, Remaining}.
//!
//! Records come in the generator's order unless the query orders them by
//! `SystemModstamp`, as Salesforce does. Errors are Salesforce's JSON array
//! of `{message, errorCode}`: 401 `INVALID_SESSION_ID` for an expired or
//! unknown session, 400 `MALFORMED_QUERY`, `INVALID_FIELD` and
//! `INVALID_TYPE` naming what is wrong, 404 `INVALID_QUERY_LOCATOR`, 403
//! `REQUEST_LIMIT_EXCEEDED` (the daily limit) for the rate-limit fault and
//! 500 `UNKNOWN_EXCEPTION`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, TimestampMillisecondType};
use chrono::DateTime;
use hyper::Method;
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{Key, Store};
use super::emulation::Emulation;
use super::http::{ApiRequest, Reply};
use super::oauth::{Provider, TokenProblem};

const TOKEN: &str = "POST /services/oauth2/token";
const QUERY: &str = "GET /services/data/{version}/query";
const QUERY_MORE: &str = "GET /services/data/{version}/query/{locator}";
const LIMITS: &str = "GET /services/data/{version}/limits";

/// Records a page, at most (Salesforce's limit and default).
const MAX_BATCH: usize = 2000;
/// The org's daily API request allocation, as `limits` reports it.
const DAILY_REQUESTS: i64 = 100_000;

/// `(sObject, stream, custom fields: (API name, stored column))`.
const OBJECTS: [(&str, &str, &[(&str, &str)]); 5] = [
    ("Lead", "leads", &[("MQL_Date__c", "mql_date")]),
    ("Contact", "contacts", &[("Churn_Date__c", "churn_date")]),
    ("Opportunity", "opportunities", &[]),
    ("Campaign", "campaigns", &[]),
    ("CampaignMember", "campaign_members", &[]),
];

/// The Salesforce REST API.
pub(crate) struct Salesforce;

/// Salesforce's error body: an array of one `{message, errorCode}`.
fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!([{"message": message, "errorCode": code}]))
}

fn session_error() -> Reply {
    error(401, "INVALID_SESSION_ID", "Session expired or invalid")
}

/// Queries being paged, by locator.
#[derive(Default)]
pub(crate) struct State {
    cursors: Mutex<HashMap<String, Arc<Cursor>>>,
    /// Row order by (SystemModstamp, Id), per stream, built when first asked.
    by_modstamp: OnceLock<HashMap<&'static str, Vec<usize>>>,
}

/// One query's result: the rows in order and how to render them.
struct Cursor {
    object: &'static str,
    stream: &'static str,
    fields: Vec<Field>,
    rows: Vec<usize>,
    batch: usize,
}

/// A requested field: its SOQL name and where its value is stored.
#[derive(Clone)]
struct Field {
    name: String,
    column: String,
}

/// A parsed SOQL query.
struct Soql {
    fields: Vec<String>,
    object: String,
    /// `SystemModstamp >` (false) or `>=` (true) this instant, in ms.
    since: Option<(i64, bool)>,
    ordered: bool,
    limit: Option<usize>,
}

fn parse(q: &str) -> Result<Soql, String> {
    let words: Vec<&str> = q.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = |kw: &str| upper.iter().position(|w| w == kw);
    let (Some(0), Some(from)) = (at("SELECT"), at("FROM")) else {
        return Err("unexpected token: expected SELECT <fields> FROM <object>".into());
    };
    let fields: Vec<String> = words[1..from]
        .join(" ")
        .split(',')
        .map(|f| f.trim().to_string())
        .collect();
    if fields.iter().any(String::is_empty) {
        return Err(format!(
            "unexpected token: ',' in the field list {:?}",
            words[1..from].join(" ")
        ));
    }
    let object = words
        .get(from + 1)
        .ok_or("unexpected end of query: no object after FROM")?
        .to_string();
    let mut i = from + 2;
    let mut soql = Soql {
        fields,
        object,
        since: None,
        ordered: false,
        limit: None,
    };
    while i < words.len() {
        match upper[i].as_str() {
            "WHERE" => {
                let (field, op, value) =
                    match (words.get(i + 1), words.get(i + 2), words.get(i + 3)) {
                        (Some(f), Some(o), Some(v)) => (*f, *o, *v),
                        _ => return Err("unexpected end of query in WHERE".into()),
                    };
                if !field.eq_ignore_ascii_case("SystemModstamp") || !matches!(op, ">" | ">=") {
                    return Err(format!(
                        "the sandbox filters on SystemModstamp > or >= only, not {field} {op}"
                    ));
                }
                let t = DateTime::parse_from_rfc3339(value)
                    .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
                    .map_err(|_| format!("line 1:{i}: value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes: {value}"))?;
                soql.since = Some((t.timestamp_millis(), op == ">="));
                i += 4;
            }
            "ORDER" if upper.get(i + 1).map(String::as_str) == Some("BY") => {
                let mut j = i + 2;
                let mut keys = Vec::new();
                while j < words.len() && !["LIMIT", "WHERE"].contains(&upper[j].as_str()) {
                    keys.extend(
                        words[j]
                            .split(',')
                            .filter(|k| !k.is_empty())
                            .map(str::to_ascii_lowercase),
                    );
                    j += 1;
                }
                let ok = matches!(keys.first().map(String::as_str), Some("systemmodstamp"))
                    && keys[1..].iter().all(|k| k == "id" || k == "asc");
                if !ok {
                    return Err(format!(
                        "the sandbox orders by SystemModstamp[, Id] only, not {}",
                        keys.join(", ")
                    ));
                }
                soql.ordered = true;
                i = j;
            }
            "LIMIT" => {
                let n = words
                    .get(i + 1)
                    .and_then(|n| n.parse().ok())
                    .ok_or("LIMIT takes a number")?;
                soql.limit = Some(n);
                i += 2;
            }
            other => return Err(format!("unexpected token: '{other}'")),
        }
    }
    Ok(soql)
}

/// The stored column of `field` on `stream`, or `None` for a field the
/// object does not have.
fn column_of(stream: &'static str, custom: &[(&str, &str)], field: &str) -> Option<String> {
    if let Some((_, col)) = custom.iter().find(|(f, _)| f.eq_ignore_ascii_case(field)) {
        return Some(col.to_string());
    }
    let col = field.replace('.', "_");
    let schema = crate::streams::find("salesforce", stream)?.schema;
    let configured = ["mql_date", "churn_date"];
    schema
        .fields()
        .iter()
        .find(|f| f.name().eq_ignore_ascii_case(&col) && !configured.contains(&f.name().as_str()))
        .map(|f| f.name().clone())
}

/// A Salesforce datetime.
fn datetime(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

/// One stored cell as Salesforce renders it.
fn cell(b: &RecordBatch, column: &str, i: usize) -> Value {
    let Some(a) = b.column_by_name(column) else {
        return Value::Null;
    };
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>().value(i);
            // A DateTime custom field is stored as RFC 3339 in UTC.
            match DateTime::parse_from_rfc3339(s) {
                Ok(t) if s.len() > 10 => Value::from(datetime(t.timestamp_millis())),
                _ => Value::from(s),
            }
        }
        DataType::Boolean => Value::from(a.as_boolean().value(i)),
        DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(i)),
        DataType::Date32 => Value::from(
            Date32Type::to_naive_date_opt(a.as_primitive::<Date32Type>().value(i))
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
        ),
        DataType::Timestamp(..) => Value::from(datetime(
            a.as_primitive::<TimestampMillisecondType>().value(i),
        )),
        _ => Value::Null,
    }
}

fn key(stream: &'static str) -> Key {
    ("salesforce", stream)
}

fn modstamp(b: &RecordBatch, i: usize) -> i64 {
    b.column_by_name("SystemModstamp")
        .map(|a| a.as_primitive::<TimestampMillisecondType>().value(i))
        .unwrap_or(0)
}

impl State {
    /// Row indices of `stream` by (SystemModstamp, Id).
    fn by_modstamp(&self, store: &Store, stream: &'static str) -> &[usize] {
        let all = self.by_modstamp.get_or_init(|| {
            OBJECTS
                .iter()
                .map(|(_, s, _)| {
                    let snap = store.snapshot(key(s));
                    let mut rows: Vec<(i64, String, usize)> = snap
                        .all()
                        .enumerate()
                        .map(|(n, (b, i))| {
                            (
                                modstamp(b, i),
                                b.column_by_name("Id")
                                    .map(|a| a.as_string::<i32>().value(i).to_string())
                                    .unwrap_or_default(),
                                n,
                            )
                        })
                        .collect();
                    rows.sort();
                    (*s, rows.into_iter().map(|r| r.2).collect())
                })
                .collect()
        });
        all.get(stream).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn authorize(sb: &Shared, req: &ApiRequest) -> Result<(), Reply> {
    match sb.tokens.check(req.bearer()) {
        Ok(()) => Ok(()),
        Err(TokenProblem::Missing | TokenProblem::Invalid | TokenProblem::Expired) => {
            Err(session_error())
        }
    }
}

/// `POST /services/oauth2/token`.
fn token(sb: &Shared, req: &ApiRequest) -> Reply {
    let form = req.form();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let creds = &sb.config.credentials;
    let oauth_error = |code: &str, description: &str| {
        Reply::json(
            400,
            &json!({"error": code, "error_description": description}),
        )
    };
    if get("grant_type") != Some("refresh_token") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if get("client_id") != Some(creds.client_id.as_str()) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if get("client_secret") != Some(creds.client_secret.as_str()) {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    if get("refresh_token") != Some(creds.refresh_token.as_str()) {
        return oauth_error("invalid_grant", "expired access/refresh token");
    }
    let (access, _) = sb.tokens.issue(Provider::Salesforce);
    Reply::json(
        200,
        &json!({
            "access_token": access,
            "signature": "c2FuZGJveC1zaWduYXR1cmU=",
            "scope": "refresh_token api",
            "instance_url": sb.base_url,
            "id": "https://login.salesforce.com/id/00D5g000004SBXEAA4/0055g00000ABCDEAA4",
            "token_type": "Bearer",
            "issued_at": "1730419200000",
        }),
    )
}

/// `GET .../query?q=`.
fn query(sb: &Shared, req: &ApiRequest) -> Reply {
    if let Err(r) = authorize(sb, req) {
        return r;
    }
    let Some(q) = req.param("q") else {
        return error(400, "MALFORMED_QUERY", "A query string has to be specified");
    };
    let soql = match parse(q) {
        Ok(s) => s,
        Err(m) => return error(400, "MALFORMED_QUERY", &m),
    };
    let Some((object, stream, custom)) = OBJECTS
        .iter()
        .find(|(o, _, _)| o.eq_ignore_ascii_case(&soql.object))
    else {
        return error(
            400,
            "INVALID_TYPE",
            &format!(
                "\n{q}\n^\nERROR at Row:1:Column:1\nsObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name.",
                soql.object
            ),
        );
    };
    let mut fields = Vec::new();
    for f in &soql.fields {
        match column_of(stream, custom, f) {
            Some(column) => fields.push(Field {
                name: f.clone(),
                column,
            }),
            None => {
                return error(
                    400,
                    "INVALID_FIELD",
                    &format!(
                        "\n{q}\n^\nERROR at Row:1:Column:8\nNo such column '{f}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                );
            }
        }
    }
    let snap = sb.store.snapshot(key(stream));
    let order: Vec<usize> = if soql.ordered || soql.since.is_some() {
        sb.salesforce.by_modstamp(&sb.store, stream).to_vec()
    } else {
        (0..snap.rows).collect()
    };
    let mut rows: Vec<usize> = match soql.since {
        None => order,
        Some((t, inclusive)) => order
            .into_iter()
            .filter(|&n| {
                let (b, i) = snap.row(n).expect("in range");
                let m = modstamp(b, i);
                m > t || (inclusive && m == t)
            })
            .collect(),
    };
    if let Some(n) = soql.limit {
        rows.truncate(n);
    }
    let batch = req
        .header("sforce-query-options")
        .and_then(|h| {
            h.split(',')
                .find_map(|kv| kv.trim().strip_prefix("batchSize="))
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .unwrap_or(MAX_BATCH)
        .clamp(1, MAX_BATCH);
    let cursor = Arc::new(Cursor {
        object,
        stream,
        fields,
        rows,
        batch,
    });
    let version = version(req);
    let locator = format!("01g5g{:010}SBXAA", sb.request_seq());
    sb.salesforce
        .cursors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(locator.clone(), cursor.clone());
    page(sb, &cursor, &version, &locator, 0)
}

/// The API version in the request's path (`v62.0`).
fn version(req: &ApiRequest) -> String {
    super::emulation::segments(&req.path)
        .get(2)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// `GET .../query/<locator>-<offset>`.
fn query_more(sb: &Shared, req: &ApiRequest) -> Reply {
    if let Err(r) = authorize(sb, req) {
        return r;
    }
    let segments = super::emulation::segments(&req.path);
    let last = segments.last().copied().unwrap_or("");
    let found = last.rsplit_once('-').and_then(|(locator, offset)| {
        let offset = offset.parse::<usize>().ok()?;
        let cursor = sb
            .salesforce
            .cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(locator)
            .cloned()?;
        Some((locator.to_string(), offset, cursor))
    });
    match found {
        Some((locator, offset, cursor)) if offset < cursor.rows.len() => {
            page(sb, &cursor, &version(req), &locator, offset)
        }
        _ => error(404, "INVALID_QUERY_LOCATOR", "invalid query locator"),
    }
}

fn page(sb: &Shared, c: &Cursor, version: &str, locator: &str, offset: usize) -> Reply {
    let snap = sb.store.snapshot(key(c.stream));
    let end = (offset + c.batch).min(c.rows.len());
    let records: Vec<Value> = c.rows[offset..end]
        .iter()
        .map(|&n| {
            let (b, i) = snap.row(n).expect("in range");
            let id = b
                .column_by_name("Id")
                .map(|a| a.as_string::<i32>().value(i).to_string())
                .unwrap_or_default();
            let mut r = Map::new();
            r.insert(
                "attributes".into(),
                json!({"type": c.object, "url": format!("/services/data/{version}/sobjects/{}/{id}", c.object)}),
            );
            for f in &c.fields {
                match f.name.split_once('.') {
                    Some((rel, inner)) => {
                        let v = cell(b, &f.column, i);
                        let nested = if v.is_null() {
                            Value::Null
                        } else {
                            json!({"attributes": {"type": "User", "url": format!("/services/data/{version}/sobjects/User/0055g00000ABCDEAA4")}, inner: v})
                        };
                        r.insert(rel.to_string(), nested);
                    }
                    None => {
                        r.insert(f.name.clone(), cell(b, &f.column, i));
                    }
                }
            }
            Value::Object(r)
        })
        .collect();
    let done = end >= c.rows.len();
    let mut body = json!({"totalSize": c.rows.len(), "done": done, "records": records});
    if !done {
        body["nextRecordsUrl"] =
            Value::from(format!("/services/data/{version}/query/{locator}-{end}"));
    }
    Reply::json(200, &body)
}

/// `GET .../limits`.
fn limits(sb: &Shared, req: &ApiRequest) -> Reply {
    if let Err(r) = authorize(sb, req) {
        return r;
    }
    let used = sb.request_seq() as i64;
    Reply::json(
        200,
        &json!({
            "DailyApiRequests": {"Max": DAILY_REQUESTS, "Remaining": (DAILY_REQUESTS - used).max(0)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        }),
    )
}

impl Emulation for Salesforce {
    fn name(&self) -> &'static str {
        "Salesforce"
    }

    fn route(&self, method: &Method, segments: &[&str]) -> Option<&'static str> {
        let get = *method == Method::GET;
        let version = |v: &str| v.starts_with('v') && v[1..].parse::<f64>().is_ok();
        match segments {
            ["services", "oauth2", "token"] if *method == Method::POST => Some(TOKEN),
            ["services", "data", v, "query"] if get && version(v) => Some(QUERY),
            ["services", "data", v, "query", _] if get && version(v) => Some(QUERY_MORE),
            ["services", "data", v, "limits"] if get && version(v) => Some(LIMITS),
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        match pattern {
            TOKEN => token(sb, req),
            QUERY => query(sb, req),
            QUERY_MORE => query_more(sb, req),
            _ => limits(sb, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1918404521-12345 (-1012543278)",
        )
    }

    fn token_expired(&self, req: &ApiRequest) -> Reply {
        if req.path.ends_with("/oauth2/token") {
            return Reply::json(
                400,
                &json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
            );
        }
        session_error()
    }

    fn sources_toml(&self, base: &str, _store: &Store) -> String {
        format!(
            r#"[sources.salesforce]
type = "salesforce"
# A connected app's OAuth2 refresh token (SALESFORCE_CLIENT_ID, ...). No
# base_url: the token response's instance_url names the instance to query,
# here the sandbox. A sandbox org logs in at test.salesforce.com instead.
token_url = "{base}/services/oauth2/token"
# The org's custom fields for the MQL date (a DateTime) and the churn date (a Date).
mql_date_field = "MQL_Date__c"
churn_date_field = "Churn_Date__c"
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_the_connector_sends_parses() {
        let q = parse(
            "SELECT Id, Owner.Name FROM Opportunity WHERE SystemModstamp >= 2026-10-30T00:00:00Z ORDER BY SystemModstamp, Id",
        )
        .unwrap();
        assert_eq!(q.fields, ["Id", "Owner.Name"]);
        assert_eq!(q.object, "Opportunity");
        assert_eq!(q.since, Some((1_793_318_400_000, true)));
        assert!(q.ordered);
        let q = parse(
            "select Id from Lead where SystemModstamp > 2026-10-30T00:00:00.000+0000 limit 5",
        )
        .unwrap();
        assert_eq!((q.since.map(|s| s.1), q.limit), (Some(false), Some(5)));
        assert!(parse("SELECT FROM Lead").is_err());
        assert!(parse("SELECT Id FROM Lead WHERE Name = 'x'").is_err());
        assert_eq!(datetime(1_709_287_200_000), "2024-03-01T10:00:00.000+0000");
    }
}
