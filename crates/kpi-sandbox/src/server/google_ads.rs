//! The Google Ads API emulation: `POST /{version}/customers/{id}/googleAds:searchStream`
//! with a GAQL query, over the `google_ads/campaign_stats` and
//! `google_ads/campaigns` streams.
//!
//! It reads enough GAQL to answer what the connector asks and to refuse
//! the rest clearly: `SELECT <fields> FROM campaign|customer`, a `WHERE`
//! made of `segments.date` conditions (`BETWEEN 'a' AND 'b'`, `>=`, `<=`,
//! `>`, `<`, `=`), `ORDER BY` (accepted, rows come by date then campaign)
//! and `LIMIT`. Selecting `segments.date` reads the daily stream and needs
//! a finite date range; without it, `FROM campaign` reads the campaign list
//! (metrics without `segments.date` are refused: the sandbox keeps no
//! lifetime totals).
//!
//! The answer is the REST stream: a JSON array of `{results, fieldMask,
//! requestId}` batches of at most 10,000 rows, sent chunked, each row the
//! `GoogleAdsRow` in camelCase with a `resourceName` per resource; int64
//! values (ids, impressions, clicks, `costMicros`) are strings, doubles
//! (`conversions`, `conversionsValue`) numbers, money in micros of the
//! account currency, as the generator keeps it. Errors are the array form
//! `searchStream` uses, with a `GoogleAdsFailure` in `details`.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{GOOGLE_CAMPAIGNS, GOOGLE_STATS, float_at, int_at, str_at};
use super::ga4::google_error;
use super::http::{ApiRequest, Reply};
use super::oauth::TokenProblem;

/// Rows per stream batch, as the API sends them.
const BATCH_ROWS: usize = 10_000;
/// The account's name for `customer.descriptive_name`.
const DESCRIPTIVE_NAME: &str = "ExampleSoft";

/// What a metric or attribute is read from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    CustomerId,
    CustomerResource,
    DescriptiveName,
    Currency,
    TimeZone,
    CampaignId,
    CampaignResource,
    CampaignName,
    CampaignStatus,
    ChannelType,
    Date,
    /// An int64 metric column, sent as a string.
    IntMetric(&'static str),
    /// A double metric column, sent as a number; `true` if revisions
    /// multiply it.
    FloatMetric(&'static str, bool),
}

/// GAQL field -> where its value comes from.
const FIELDS: [(&str, Source); 16] = [
    ("customer.id", Source::CustomerId),
    ("customer.resource_name", Source::CustomerResource),
    ("customer.descriptive_name", Source::DescriptiveName),
    ("customer.currency_code", Source::Currency),
    ("customer.time_zone", Source::TimeZone),
    ("campaign.id", Source::CampaignId),
    ("campaign.resource_name", Source::CampaignResource),
    ("campaign.name", Source::CampaignName),
    ("campaign.status", Source::CampaignStatus),
    ("campaign.advertising_channel_type", Source::ChannelType),
    ("segments.date", Source::Date),
    (
        "metrics.impressions",
        Source::IntMetric("metrics_impressions"),
    ),
    ("metrics.clicks", Source::IntMetric("metrics_clicks")),
    (
        "metrics.cost_micros",
        Source::IntMetric("metrics_cost_micros"),
    ),
    (
        "metrics.conversions",
        Source::FloatMetric("metrics_conversions", true),
    ),
    (
        "metrics.conversions_value",
        Source::FloatMetric("metrics_conversions_value", true),
    ),
];

/// A parsed query.
#[derive(Debug, PartialEq)]
struct Gaql {
    fields: Vec<(String, Source)>,
    resource: String,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    limit: Option<usize>,
}

/// A query the sandbox refuses: Google's error code and message.
#[derive(Debug, PartialEq)]
struct QueryError {
    code: &'static str,
    message: String,
}

fn query_error(code: &'static str, message: impl Into<String>) -> QueryError {
    QueryError {
        code,
        message: message.into(),
    }
}

/// The `searchStream` error body: an array holding one Google error with a
/// `GoogleAdsFailure`.
fn ads_error(
    version: &str,
    http: u16,
    status: &str,
    message: &str,
    (kind, code): (&str, &str),
    detail: &str,
) -> Reply {
    let details = json!([{
        "@type": format!("type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure"),
        "errors": [{"errorCode": {kind: code}, "message": detail}],
        "requestId": "sandbox-error",
    }]);
    Reply::json(
        http,
        &Value::Array(vec![google_error(http, status, message, Some(details))]),
    )
}

pub(crate) fn auth_error(version: &str, problem: TokenProblem) -> Reply {
    let (message, code, detail) = match problem {
        TokenProblem::Missing => (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "NOT_ADS_USER",
            "Authentication of the request failed.",
        ),
        TokenProblem::Invalid => (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "OAUTH_TOKEN_INVALID",
            "Oauth token is invalid.",
        ),
        TokenProblem::Expired => (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "OAUTH_TOKEN_EXPIRED",
            "Oauth token is expired.",
        ),
    };
    ads_error(
        version,
        401,
        "UNAUTHENTICATED",
        message,
        ("authenticationError", code),
        detail,
    )
}

pub(crate) fn rate_limited(version: &str, retry_after_secs: u32) -> Reply {
    ads_error(
        version,
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        ("quotaError", "RESOURCE_EXHAUSTED"),
        &format!("Too many requests. Retry in {retry_after_secs} seconds."),
    )
}

pub(crate) fn internal_error(version: &str) -> Reply {
    ads_error(
        version,
        500,
        "INTERNAL",
        "Internal error encountered.",
        ("internalError", "INTERNAL_ERROR"),
        "An internal error has occurred.",
    )
}

/// `POST /{version}/customers/{customer}/googleAds:searchStream`.
pub(crate) fn search_stream(sb: &Shared, version: &str, customer: &str, req: &ApiRequest) -> Reply {
    if let Err(problem) = sb.tokens.check(req.bearer()) {
        return auth_error(version, problem);
    }
    match req.header("developer-token") {
        Some(t) if t == sb.config.credentials.developer_token => {}
        Some(_) => {
            return ads_error(
                version,
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                ("authenticationError", "DEVELOPER_TOKEN_INVALID"),
                "The developer token is not valid.",
            );
        }
        None => {
            return ads_error(
                version,
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                ("authenticationError", "DEVELOPER_TOKEN_PARAMETER_MISSING"),
                "The developer token is not on the header.",
            );
        }
    }
    if sb.accounts.google_customer.as_deref() != Some(customer) {
        return ads_error(
            version,
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            ("authorizationError", "USER_PERMISSION_DENIED"),
            "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header. See https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid",
        );
    }
    let invalid = |e: QueryError| {
        ads_error(
            version,
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            ("queryError", e.code),
            &e.message,
        )
    };
    let query = match req.json() {
        Ok(body) => match body.get("query").and_then(Value::as_str) {
            Some(q) => q.to_string(),
            None => return invalid(query_error("BAD_VALUE", "The request has no `query`.")),
        },
        Err(e) => return invalid(query_error("BAD_VALUE", e)),
    };
    let gaql = match parse(&query) {
        Ok(q) => q,
        Err(e) => return invalid(e),
    };
    let rows = match rows(sb, customer, &gaql) {
        Ok(rows) => rows,
        Err(e) => return invalid(e),
    };
    let field_mask = gaql
        .fields
        .iter()
        .map(|(f, _)| camel_path(f))
        .collect::<Vec<_>>()
        .join(",");
    let request_id = sb.request_id();
    let mut chunks = vec![Bytes::from_static(b"[")];
    let mut batches = rows.chunks(BATCH_ROWS).peekable();
    if batches.peek().is_none() {
        chunks.push(Bytes::from(
            json!({"fieldMask": field_mask, "requestId": request_id}).to_string(),
        ));
    }
    while let Some(batch) = batches.next() {
        let element = json!({"results": batch, "fieldMask": field_mask, "requestId": request_id});
        chunks.push(Bytes::from(element.to_string()));
        if batches.peek().is_some() {
            chunks.push(Bytes::from_static(b","));
        }
    }
    chunks.push(Bytes::from_static(b"]"));
    Reply::json_stream(200, chunks).header("request-id", request_id)
}

/// The `GoogleAdsRow`s of a query.
fn rows(sb: &Shared, customer: &str, q: &Gaql) -> Result<Vec<Value>, QueryError> {
    let accounts = &sb.accounts;
    let mut out = Vec::new();
    let selects = |s: fn(&Source) -> bool| q.fields.iter().any(|(_, f)| s(f));
    let has_date = selects(|f| *f == Source::Date);
    let has_metrics = selects(|f| matches!(f, Source::IntMetric(_) | Source::FloatMetric(..)));
    let limit = q.limit.unwrap_or(usize::MAX);
    match q.resource.as_str() {
        "customer" => {
            if let Some((f, _)) = q.fields.iter().find(|(f, _)| !f.starts_with("customer.")) {
                return Err(query_error(
                    "PROHIBITED_FIELD_IN_SELECT_CLAUSE",
                    format!(
                        "The following field may not be used in SELECT clause: '{f}'. (The kpi sandbox serves customer.* fields FROM customer.)"
                    ),
                ));
            }
            let currency = accounts.google_currency.as_deref().unwrap_or("EUR");
            let zone = accounts
                .google_time_zone
                .as_deref()
                .unwrap_or("Europe/Madrid");
            let row = build_row(&q.fields, |s| match s {
                Source::CustomerId => Value::from(customer),
                Source::CustomerResource => Value::from(format!("customers/{customer}")),
                Source::DescriptiveName => Value::from(DESCRIPTIVE_NAME),
                Source::Currency => Value::from(currency),
                Source::TimeZone => Value::from(zone),
                _ => Value::Null,
            });
            if limit > 0 {
                out.push(row);
            }
        }
        "campaign" if has_date => {
            let (Some(start), Some(end)) = (q.start, q.end) else {
                return Err(query_error(
                    "EXPECTED_FILTERS_ON_DATE_RANGE",
                    "Filters on date range are required: segments.date is selected, so the WHERE clause needs a finite date range.",
                ));
            };
            let statuses: HashMap<i64, &str> = sb
                .store
                .snapshot(GOOGLE_CAMPAIGNS)
                .all()
                .map(|(b, i)| (int_at(b, "campaign_id", i), str_at(b, "campaign_status", i)))
                .collect();
            'days: for (date, batch) in sb.store.days(GOOGLE_STATS, start, end) {
                let factor = sb.revision("google_ads/campaign_stats", date);
                let day = date.format("%Y-%m-%d").to_string();
                for i in 0..batch.num_rows() {
                    if out.len() >= limit {
                        break 'days;
                    }
                    let id = int_at(batch, "campaign_id", i);
                    out.push(build_row(&q.fields, |s| match *s {
                        Source::CustomerId => Value::from(str_at(batch, "customer_id", i)),
                        Source::CustomerResource => Value::from(format!("customers/{customer}")),
                        Source::DescriptiveName => Value::from(DESCRIPTIVE_NAME),
                        Source::Currency => Value::from(str_at(batch, "customer_currency_code", i)),
                        Source::TimeZone => Value::from(str_at(batch, "customer_time_zone", i)),
                        Source::CampaignId => Value::from(id.to_string()),
                        Source::CampaignResource => {
                            Value::from(format!("customers/{customer}/campaigns/{id}"))
                        }
                        Source::CampaignName => Value::from(str_at(batch, "campaign_name", i)),
                        Source::CampaignStatus => {
                            Value::from(statuses.get(&id).copied().unwrap_or("UNKNOWN"))
                        }
                        Source::ChannelType => {
                            Value::from(str_at(batch, "campaign_advertising_channel_type", i))
                        }
                        Source::Date => Value::from(day.as_str()),
                        Source::IntMetric(c) => Value::from(int_at(batch, c, i).to_string()),
                        Source::FloatMetric(c, revisable) => {
                            let v = float_at(batch, c, i);
                            match factor {
                                Some(f) if revisable => json!(round2(v * f)),
                                _ => json!(v),
                            }
                        }
                    }));
                }
            }
        }
        "campaign" if has_metrics => {
            return Err(query_error(
                "PROHIBITED_METRIC_IN_SELECT_OR_WHERE_CLAUSE",
                "The kpi sandbox serves metrics per day only: add segments.date to SELECT and a segments.date range to WHERE.",
            ));
        }
        "campaign" if q.start.is_some() || q.end.is_some() => {
            return Err(query_error(
                "EXPECTED_FILTERS_ON_DATE_RANGE",
                "The kpi sandbox filters on segments.date only when segments.date is selected.",
            ));
        }
        "campaign" => {
            let currency = accounts.google_currency.as_deref().unwrap_or("EUR");
            let zone = accounts
                .google_time_zone
                .as_deref()
                .unwrap_or("Europe/Madrid");
            for (b, i) in sb.store.snapshot(GOOGLE_CAMPAIGNS).all().take(limit) {
                let id = int_at(b, "campaign_id", i);
                out.push(build_row(&q.fields, |s| match *s {
                    Source::CustomerId => Value::from(str_at(b, "customer_id", i)),
                    Source::CustomerResource => Value::from(format!("customers/{customer}")),
                    Source::DescriptiveName => Value::from(DESCRIPTIVE_NAME),
                    Source::Currency => Value::from(currency),
                    Source::TimeZone => Value::from(zone),
                    Source::CampaignId => Value::from(id.to_string()),
                    Source::CampaignResource => {
                        Value::from(format!("customers/{customer}/campaigns/{id}"))
                    }
                    Source::CampaignName => Value::from(str_at(b, "campaign_name", i)),
                    Source::CampaignStatus => Value::from(str_at(b, "campaign_status", i)),
                    Source::ChannelType => {
                        Value::from(str_at(b, "campaign_advertising_channel_type", i))
                    }
                    _ => Value::Null,
                }));
            }
        }
        other => {
            return Err(query_error(
                "INVALID_RESOURCE_NAME",
                format!("The kpi sandbox serves FROM campaign and FROM customer, not '{other}'."),
            ));
        }
    }
    Ok(out)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A `GoogleAdsRow`: each selected field at its camelCase path, plus the
/// `resourceName` of every resource selected from, as the API adds it.
fn build_row(fields: &[(String, Source)], value: impl Fn(&Source) -> Value) -> Value {
    let mut row = Map::new();
    for (field, source) in fields {
        let (resource, attribute) = field.split_once('.').unwrap_or((field, ""));
        let object = row
            .entry(resource.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(o) = object {
            o.insert(camel(attribute), value(source));
        }
    }
    for (resource, source) in [
        ("customer", Source::CustomerResource),
        ("campaign", Source::CampaignResource),
    ] {
        if let Some(Value::Object(o)) = row.get_mut(resource) {
            o.insert("resourceName".into(), value(&source));
        }
    }
    Value::Object(row)
}

/// `advertising_channel_type` -> `advertisingChannelType`.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_path(field: &str) -> String {
    field.split('.').map(camel).collect::<Vec<_>>().join(".")
}

/// GAQL tokens: words (field names, keywords, numbers), quoted strings and
/// operators.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Op(String),
}

fn tokenize(query: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(word));
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(ch) => text.push(ch),
                    None => {
                        return Err(query_error(
                            "UNEXPECTED_END_OF_QUERY",
                            "Unexpected end of query: a string is not closed.",
                        ));
                    }
                }
            }
            out.push(Token::Text(text));
        } else {
            chars.next();
            let mut op = c.to_string();
            if matches!(c, '>' | '<' | '!') && chars.peek() == Some(&'=') {
                op.push('=');
                chars.next();
            }
            out.push(Token::Op(op));
        }
    }
    Ok(out)
}

fn is_word(t: Option<&Token>, keyword: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

/// `SELECT f, ... FROM r [WHERE c AND ...] [ORDER BY ...] [LIMIT n]`.
fn parse(query: &str) -> Result<Gaql, QueryError> {
    let tokens = tokenize(query)?;
    let mut t = tokens.iter().peekable();
    if !is_word(t.next(), "SELECT") {
        return Err(query_error(
            "EXPECTED_SELECT",
            "Expected SELECT at the start of the query.",
        ));
    }
    let mut fields = Vec::new();
    loop {
        match t.next() {
            Some(Token::Word(w)) => {
                let source = FIELDS
                    .iter()
                    .find(|(f, _)| f == w)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| {
                        query_error(
                            "UNRECOGNIZED_FIELD",
                            format!("Unrecognized field in the query: '{w}'."),
                        )
                    })?;
                fields.push((w.clone(), source));
            }
            _ => {
                return Err(query_error(
                    "EXPECTED_FROM",
                    "Expected a field name in SELECT.",
                ));
            }
        }
        match t.peek() {
            Some(Token::Op(o)) if o == "," => {
                t.next();
            }
            _ => break,
        }
    }
    if !is_word(t.next(), "FROM") {
        return Err(query_error(
            "EXPECTED_FROM",
            "Expected FROM after the SELECT fields.",
        ));
    }
    let resource = match t.next() {
        Some(Token::Word(w)) => w.clone(),
        _ => {
            return Err(query_error(
                "EXPECTED_FROM",
                "Expected a resource after FROM.",
            ));
        }
    };
    let mut gaql = Gaql {
        fields,
        resource,
        start: None,
        end: None,
        limit: None,
    };
    let date = |t: Option<&Token>| -> Result<NaiveDate, QueryError> {
        match t {
            Some(Token::Text(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                query_error(
                    "INVALID_VALUE_WITH_BETWEEN_OPERATOR",
                    format!("Invalid date '{s}'."),
                )
            }),
            _ => Err(query_error(
                "BAD_VALUE_IN_WHERE_CLAUSE",
                "Expected a quoted date ('YYYY-MM-DD').",
            )),
        }
    };
    if is_word(t.peek().copied(), "WHERE") {
        t.next();
        loop {
            match t.next() {
                Some(Token::Word(w)) if w == "segments.date" => {}
                Some(Token::Word(w)) => {
                    return Err(query_error(
                        "PROHIBITED_FIELD_IN_WHERE_CLAUSE",
                        format!("The kpi sandbox filters on segments.date only, not '{w}'."),
                    ));
                }
                _ => {
                    return Err(query_error(
                        "BAD_FIELD_NAME",
                        "Expected a field name in WHERE.",
                    ));
                }
            }
            let narrow_start =
                |g: &mut Gaql, d: NaiveDate| g.start = Some(g.start.map_or(d, |s| s.max(d)));
            let narrow_end =
                |g: &mut Gaql, d: NaiveDate| g.end = Some(g.end.map_or(d, |e| e.min(d)));
            match t.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("BETWEEN") => {
                    let a = date(t.next())?;
                    if !is_word(t.next(), "AND") {
                        return Err(query_error(
                            "EXPECTED_AND",
                            "Expected AND between the two dates of BETWEEN.",
                        ));
                    }
                    let b = date(t.next())?;
                    narrow_start(&mut gaql, a);
                    narrow_end(&mut gaql, b);
                }
                Some(Token::Op(op)) => {
                    let d = date(t.next())?;
                    match op.as_str() {
                        "=" => {
                            narrow_start(&mut gaql, d);
                            narrow_end(&mut gaql, d);
                        }
                        ">=" => narrow_start(&mut gaql, d),
                        ">" => narrow_start(&mut gaql, d.succ_opt().unwrap_or(d)),
                        "<=" => narrow_end(&mut gaql, d),
                        "<" => narrow_end(&mut gaql, d.pred_opt().unwrap_or(d)),
                        other => {
                            return Err(query_error(
                                "INVALID_OPERATOR",
                                format!(
                                    "The kpi sandbox does not take the operator {other} on segments.date."
                                ),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(query_error(
                        "INVALID_OPERATOR",
                        "The kpi sandbox takes BETWEEN, =, >=, >, <= and < on segments.date (not DURING or IN).",
                    ));
                }
            }
            if is_word(t.peek().copied(), "AND") {
                t.next();
            } else {
                break;
            }
        }
    }
    if is_word(t.peek().copied(), "ORDER") {
        t.next();
        if !is_word(t.next(), "BY") {
            return Err(query_error("EXPECTED_BY", "Expected BY after ORDER."));
        }
        // Accepted and skipped: rows come by date, then campaign.
        while let Some(tok) = t.peek() {
            if is_word(Some(*tok), "LIMIT") || is_word(Some(*tok), "PARAMETERS") {
                break;
            }
            t.next();
        }
    }
    if is_word(t.peek().copied(), "LIMIT") {
        t.next();
        match t.next() {
            Some(Token::Word(n)) if n.parse::<usize>().is_ok() => gaql.limit = n.parse().ok(),
            _ => {
                return Err(query_error(
                    "LIMIT_VALUE_CANNOT_CONTAIN_NON_NUMERIC_CHARACTERS",
                    "LIMIT needs a number.",
                ));
            }
        }
    }
    if is_word(t.peek().copied(), "PARAMETERS") {
        // `PARAMETERS include_drafts=true` and the like change nothing here.
        t.by_ref().for_each(drop);
    }
    if let Some(extra) = t.next() {
        return Err(query_error(
            "UNEXPECTED_INPUT",
            format!("Unexpected input in the query: {extra:?}."),
        ));
    }
    Ok(gaql)
}

/// The Google Ads API (`googleAds:searchStream`).
pub(crate) struct GoogleAds;

/// `v26`, the version segment of a Google Ads path.
fn ads_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(super::emulation::digits)
}

/// The API version a request names (its first path segment), for errors
/// in that version's format.
fn version_of(req: &ApiRequest) -> &str {
    req.path.trim_matches('/').split('/').next().unwrap_or("v0")
}

impl super::emulation::Emulation for GoogleAds {
    fn name(&self) -> &'static str {
        "Google Ads"
    }

    fn route(&self, method: &hyper::Method, segments: &[&str]) -> Option<&'static str> {
        match segments {
            [v, "customers", _, "googleAds:searchStream"]
                if *method == hyper::Method::POST && ads_version(v) =>
            {
                Some(super::patterns::SEARCH_STREAM)
            }
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, _pattern: &'static str, req: &ApiRequest) -> Reply {
        let segments = super::emulation::segments(&req.path);
        search_stream(sb, segments[0], segments[2], req)
    }

    fn rate_limited(&self, req: &ApiRequest, retry_after_secs: u32) -> Reply {
        rate_limited(version_of(req), retry_after_secs)
    }

    fn internal_error(&self, req: &ApiRequest) -> Reply {
        internal_error(version_of(req))
    }

    fn token_expired(&self, req: &ApiRequest) -> Reply {
        auth_error(version_of(req), TokenProblem::Expired)
    }

    fn sources_toml(&self, base: &str, store: &super::data::Store) -> String {
        let accounts = super::Accounts::of(store);
        let customer = accounts
            .google_customer
            .unwrap_or_else(|| "1234567890".to_string());
        format!(
            r#"[sources.google_ads]
type = "google_ads"
customer_ids = ["{customer}"]
base_url = "{base}"
token_url = "{base}/token"
auth = {{ type = "oauth2", client_id = {{ env = "GOOGLE_ADS_CLIENT_ID" }}, client_secret = {{ env = "GOOGLE_ADS_CLIENT_SECRET" }}, refresh_token = {{ env = "GOOGLE_ADS_REFRESH_TOKEN" }} }}
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
    fn the_connectors_queries_parse() {
        let q = parse("SELECT customer.id, campaign.advertising_channel_type, segments.date, metrics.cost_micros FROM campaign WHERE segments.date BETWEEN '2024-03-01' AND '2024-03-31'").unwrap();
        assert_eq!(q.resource, "campaign");
        assert_eq!(
            (q.start, q.end),
            (Some(d("2024-03-01")), Some(d("2024-03-31")))
        );
        assert_eq!(q.fields[3].1, Source::IntMetric("metrics_cost_micros"));
        let q =
            parse("SELECT customer.id, customer.descriptive_name FROM customer LIMIT 1").unwrap();
        assert_eq!((q.resource.as_str(), q.limit), ("customer", Some(1)));
        let q = parse("select campaign.id from campaign where segments.date >= '2024-01-01' and segments.date < \"2024-02-01\" order by campaign.id desc").unwrap();
        assert_eq!(
            (q.start, q.end),
            (Some(d("2024-01-01")), Some(d("2024-01-31")))
        );
    }

    #[test]
    fn bad_queries_name_the_problem() {
        let e = parse("SELECT campaign.foo FROM campaign").unwrap_err();
        assert_eq!(
            e.message,
            "Unrecognized field in the query: 'campaign.foo'."
        );
        let e = parse("SELECT campaign.id FROM campaign WHERE campaign.status = 'ENABLED'")
            .unwrap_err();
        assert_eq!(e.code, "PROHIBITED_FIELD_IN_WHERE_CLAUSE");
        let e = parse("SELECT campaign.id FROM campaign WHERE segments.date DURING LAST_7_DAYS")
            .unwrap_err();
        assert_eq!(e.code, "INVALID_OPERATOR");
        assert_eq!(
            parse("SELECT campaign.id FROM campaign WHERE segments.date = '2024-13-01'")
                .unwrap_err()
                .code,
            "INVALID_VALUE_WITH_BETWEEN_OPERATOR"
        );
        assert_eq!(
            parse("campaign.id FROM campaign").unwrap_err().code,
            "EXPECTED_SELECT"
        );
        assert_eq!(
            parse("SELECT campaign.id FROM campaign LIMIT 1 x")
                .unwrap_err()
                .code,
            "UNEXPECTED_INPUT"
        );
    }

    #[test]
    fn rows_are_nested_camel_case() {
        let fields = vec![
            (
                "campaign.advertising_channel_type".to_string(),
                Source::ChannelType,
            ),
            ("metrics.cost_micros".to_string(), Source::IntMetric("x")),
        ];
        let row = build_row(&fields, |s| match s {
            Source::ChannelType => json!("SEARCH"),
            Source::CampaignResource => json!("customers/1/campaigns/2"),
            _ => json!("5"),
        });
        assert_eq!(
            row,
            json!({"campaign": {"advertisingChannelType": "SEARCH", "resourceName": "customers/1/campaigns/2"},
                   "metrics": {"costMicros": "5"}})
        );
        assert_eq!(
            camel_path("metrics.conversions_value"),
            "metrics.conversionsValue"
        );
    }
}
