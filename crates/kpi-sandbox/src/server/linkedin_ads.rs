//! The LinkedIn Marketing API emulation (versioned `/rest` endpoints,
//! Rest.li 2.0) over the `linkedin_ads` streams:
//!
//! - `GET /rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY
//!   &dateRange=(start:(year:Y,month:M,day:D),end:(...))
//!   &accounts=List(urn%3Ali%3AsponsoredAccount%3AN)&fields=...`: one
//!   element per campaign and day with `dateRange`, `pivotValues`
//!   (`["urn:li:sponsoredCampaign:N"]`) and the requested metrics, counts as
//!   integers and money as decimal strings. At most 20 fields a request and
//!   at most 15,000 elements an answer (the rest dropped without a word, as
//!   LinkedIn does); no paging.
//! - `GET /rest/adAccounts/{id}/adCampaigns?q=search`, with an optional
//!   `search=(status:(values:List(...)))`, `pageSize` (default 100, at most
//!   1,000) and `pageToken`; the next token in `metadata.nextPageToken`
//!   while campaigns remain.
//! - `GET /rest/adAccounts/{id}`: the account, with its `currency`.
//!
//! Every request needs a bearer token from `POST /oauth/v2/accessToken`, a
//! `Linkedin-Version: YYYYMM` header and `X-Restli-Protocol-Version:
//! 2.0.0`. Errors are LinkedIn's `{"status", "serviceErrorCode", "code",
//! "message"}`: 401 `INVALID_ACCESS_TOKEN`/`EXPIRED_ACCESS_TOKEN`, 403
//! `ACCESS_DENIED` for another account, 400 for a request LinkedIn would
//! refuse, 429 `TOO_MANY_REQUESTS` for the rate-limit fault.
//!
//! The Rest.li values are read from the decoded query, so a value whose
//! own text holds `,` or `)` would be misread; none of these requests has
//! one. The rows are the generator's, so a connector reading them back
//! gets the generator's numbers exactly.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use hyper::Method;
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{
    LINKEDIN_ANALYTICS, LINKEDIN_CAMPAIGNS, Store, float_at, int_at, number_text, str_at,
};
use super::emulation::Emulation;
use super::http::{ApiRequest, Reply};
use super::oauth::TokenProblem;

const ANALYTICS: &str = "GET /rest/adAnalytics";
const CAMPAIGNS: &str = "GET /rest/adAccounts/{account_id}/adCampaigns";
const ACCOUNT: &str = "GET /rest/adAccounts/{account_id}";

/// The most fields an `adAnalytics` request may name.
const MAX_FIELDS: usize = 20;
/// The most elements an `adAnalytics` answer holds.
const MAX_ELEMENTS: usize = 15_000;
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;
/// The ad account's name.
const ACCOUNT_NAME: &str = "ExampleSoft";

/// `adAnalytics` metrics: (field, column, money as a decimal string).
const METRICS: [(&str, &str, bool); 8] = [
    ("impressions", "impressions", false),
    ("clicks", "clicks", false),
    ("costInLocalCurrency", "cost_in_local_currency", true),
    ("costInUsd", "cost_in_usd", true),
    ("oneClickLeads", "one_click_leads", false),
    (
        "externalWebsiteConversions",
        "external_website_conversions",
        false,
    ),
    ("landingPageClicks", "landing_page_clicks", false),
    ("videoViews", "video_views", false),
];

/// The LinkedIn Marketing API.
pub(crate) struct LinkedInAds;

fn error(status: u16, service: u32, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"status": status, "serviceErrorCode": service, "code": code, "message": message}),
    )
}

fn bad_request(message: &str) -> Reply {
    error(400, 100, "ILLEGAL_ARGUMENT", message)
}

fn auth_error(problem: TokenProblem) -> Reply {
    match problem {
        TokenProblem::Missing => error(
            401,
            65600,
            "INVALID_ACCESS_TOKEN",
            "Empty oauth2 access token",
        ),
        TokenProblem::Invalid => error(401, 65600, "INVALID_ACCESS_TOKEN", "Invalid access token"),
        TokenProblem::Expired => error(
            401,
            65602,
            "EXPIRED_ACCESS_TOKEN",
            "The token used in the request has expired",
        ),
    }
}

fn access_denied(resource: &str, version: &str) -> Reply {
    error(
        403,
        100,
        "ACCESS_DENIED",
        &format!("Not enough permissions to access: {resource}.{version}01"),
    )
}

/// The generated company's ad account (digits) and its currency.
fn account_of(store: &Store) -> (String, String) {
    let id = store
        .first_string(LINKEDIN_CAMPAIGNS, "account_id")
        .or_else(|| store.first_string(LINKEDIN_ANALYTICS, "account_id"))
        .unwrap_or_else(|| "508000111".into());
    let currency = store
        .first_string(LINKEDIN_ANALYTICS, "currency")
        .unwrap_or_else(|| "USD".into());
    (id, currency)
}

/// The token and the two headers every request carries; the version.
fn authorize(sb: &Shared, req: &ApiRequest) -> Result<String, Reply> {
    sb.tokens.check(req.bearer()).map_err(auth_error)?;
    let Some(version) = req.header("linkedin-version") else {
        return Err(error(
            400,
            0,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        ));
    };
    let valid = version.len() == 6
        && version.bytes().all(|b| b.is_ascii_digit())
        && version[4..]
            .parse::<u32>()
            .is_ok_and(|m| (1..=12).contains(&m));
    if !valid {
        return Err(error(
            400,
            0,
            "INVALID_VERSION",
            &format!("Invalid version {version}. Versions are of the form YYYYMM"),
        ));
    }
    if req.header("x-restli-protocol-version") != Some("2.0.0") {
        return Err(bad_request(
            "This request uses Rest.li 2.0 syntax and needs the header X-Restli-Protocol-Version: 2.0.0",
        ));
    }
    Ok(version.to_string())
}

// ---------------------------------------------------------------------------
// Rest.li 2.0 values
// ---------------------------------------------------------------------------

/// A Rest.li value: a record `(k:v,...)`, a list `List(...)` or text.
#[derive(Debug, Clone, PartialEq)]
enum Restli {
    Record(Vec<(String, Restli)>),
    List(Vec<Restli>),
    Text(String),
}

impl Restli {
    fn parse(text: &str) -> Result<Restli, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let v = p.value()?;
        if p.at != p.s.len() {
            return Err(format!("unexpected `{}` at {}", &text[p.at..], p.at));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Restli> {
        match self {
            Restli::Record(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Restli::Text(t) => Some(t),
            _ => None,
        }
    }

    fn date(&self) -> Option<NaiveDate> {
        let n = |k| self.get(k)?.text()?.parse::<u32>().ok();
        NaiveDate::from_ymd_opt(n("year")? as i32, n("month")?, n("day")?)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn value(&mut self) -> Result<Restli, String> {
        if self.s[self.at..].starts_with(b"List(") {
            self.at += 5;
            let mut items = Vec::new();
            if self.eat(b')') {
                return Ok(Restli::List(items));
            }
            loop {
                items.push(self.value()?);
                if self.eat(b')') {
                    return Ok(Restli::List(items));
                }
                self.expect(b',')?;
            }
        }
        if self.eat(b'(') {
            let mut fields = Vec::new();
            loop {
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at] != b':' {
                    self.at += 1;
                }
                let key = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
                self.expect(b':')?;
                fields.push((key, self.value()?));
                if self.eat(b')') {
                    return Ok(Restli::Record(fields));
                }
                self.expect(b',')?;
            }
        }
        let start = self.at;
        while self.at < self.s.len() && !matches!(self.s[self.at], b',' | b')') {
            self.at += 1;
        }
        Ok(Restli::Text(
            String::from_utf8_lossy(&self.s[start..self.at]).into_owned(),
        ))
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.s.get(self.at) == Some(&b);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected `{}` at {}", b as char, self.at))
        }
    }
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

fn analytics(sb: &Shared, req: &ApiRequest) -> Reply {
    let version = match authorize(sb, req) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let (own, _) = account_of(&sb.store);
    for (name, want) in [
        ("q", "analytics"),
        ("pivot", "CAMPAIGN"),
        ("timeGranularity", "DAILY"),
    ] {
        match req.param(name) {
            Some(v) if v == want => {}
            Some(v) => {
                return bad_request(&format!(
                    "The kpi sandbox answers {name}={want} only, not {name}={v}"
                ));
            }
            None => return bad_request(&format!("Missing required parameter: {name}")),
        }
    }
    let range = match req.param("dateRange").map(Restli::parse) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return bad_request(&format!("Invalid dateRange: {e}")),
        None => return bad_request("Missing required parameter: dateRange"),
    };
    let Some(start) = range.get("start").and_then(Restli::date) else {
        return bad_request("dateRange.start must be a date (year:Y,month:M,day:D)");
    };
    let end = match range.get("end") {
        None => sb.config.end_date(),
        Some(e) => match e.date() {
            Some(d) => d,
            None => return bad_request("dateRange.end must be a date (year:Y,month:M,day:D)"),
        },
    };
    if end < start {
        return bad_request("dateRange.end is before dateRange.start");
    }
    let accounts = match req.param("accounts").map(Restli::parse) {
        Some(Ok(Restli::List(items))) if !items.is_empty() => items,
        Some(_) => return bad_request("accounts must be a List of sponsoredAccount URNs"),
        None => return bad_request("Missing required parameter: accounts"),
    };
    for a in &accounts {
        let id = a
            .text()
            .and_then(|t| t.strip_prefix("urn:li:sponsoredAccount:"));
        match id {
            Some(id) if id == own => {}
            Some(_) => return access_denied("partnerApiAdAnalytics.FINDER-analytics", &version),
            None => return bad_request(&format!("Invalid account URN: {a:?}")),
        }
    }
    let Some(fields) = req.param("fields") else {
        return bad_request("The kpi sandbox needs the fields parameter");
    };
    let fields: Vec<&str> = fields.split(',').filter(|f| !f.is_empty()).collect();
    if fields.len() > MAX_FIELDS {
        return bad_request(&format!(
            "Requested {} fields; at most {MAX_FIELDS} fields can be requested",
            fields.len()
        ));
    }
    let mut metrics = Vec::new();
    for f in &fields {
        match *f {
            "dateRange" | "pivotValues" => {}
            other => match METRICS.iter().find(|(api, _, _)| *api == other) {
                Some(m) => metrics.push(*m),
                None => {
                    return bad_request(&format!(
                        "The kpi sandbox does not have the adAnalytics field {other}"
                    ));
                }
            },
        }
    }
    let want_range = fields.contains(&"dateRange");
    let want_pivot = fields.contains(&"pivotValues");
    let mut elements = Vec::new();
    'days: for (day, batch) in sb.store.days(LINKEDIN_ANALYTICS, start, end) {
        let date = json!({"year": day.year(), "month": day.month(), "day": day.day()});
        for i in 0..batch.num_rows() {
            if str_at(batch, "account_id", i) != own {
                continue;
            }
            if elements.len() == MAX_ELEMENTS {
                break 'days;
            }
            let mut e = Map::new();
            for (api, column, money) in &metrics {
                let v = if *money {
                    Value::from(number_text(float_at(batch, column, i)))
                } else {
                    Value::from(int_at(batch, column, i))
                };
                e.insert((*api).into(), v);
            }
            if want_pivot {
                e.insert(
                    "pivotValues".into(),
                    json!([format!(
                        "urn:li:sponsoredCampaign:{}",
                        int_at(batch, "campaign_id", i)
                    )]),
                );
            }
            if want_range {
                e.insert("dateRange".into(), json!({"start": date, "end": date}));
            }
            elements.push(Value::Object(e));
        }
    }
    Reply::json(
        200,
        &json!({"paging": {"start": 0, "count": 10, "links": []}, "elements": elements}),
    )
}

fn page_token(offset: usize) -> String {
    format!("DgG{offset:010x}sbx")
}

fn page_offset(token: &str) -> Option<usize> {
    let hex = token.strip_prefix("DgG")?.strip_suffix("sbx")?;
    usize::from_str_radix(hex, 16).ok()
}

fn campaigns(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    let version = match authorize(sb, req) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let (own, _) = account_of(&sb.store);
    if account != own {
        return access_denied("adCampaigns.FINDER-search", &version);
    }
    if req.param("q") != Some("search") {
        return bad_request("The kpi sandbox answers adCampaigns with q=search only");
    }
    let statuses: Option<HashSet<String>> = match req.param("search").map(Restli::parse) {
        None => None,
        Some(Ok(s)) => match s.get("status").and_then(|st| st.get("values")) {
            Some(Restli::List(values)) => Some(
                values
                    .iter()
                    .filter_map(|v| v.text().map(str::to_string))
                    .collect(),
            ),
            _ => return bad_request("The kpi sandbox searches by status:(values:List(...)) only"),
        },
        Some(Err(e)) => return bad_request(&format!("Invalid search: {e}")),
    };
    let size = match req.param("pageSize").map(str::parse::<usize>) {
        None => DEFAULT_PAGE_SIZE,
        Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => {
            return bad_request(&format!("pageSize must be between 1 and {MAX_PAGE_SIZE}"));
        }
    };
    let offset = match req.param("pageToken") {
        None => 0,
        Some(t) => match page_offset(t) {
            Some(o) => o,
            None => return error(400, 100, "INVALID_PAGE_TOKEN", "Invalid page token"),
        },
    };
    let matching: Vec<_> = sb
        .store
        .snapshot(LINKEDIN_CAMPAIGNS)
        .all()
        .filter(|(b, i)| str_at(b, "account_id", *i) == account)
        .filter(|(b, i)| {
            statuses
                .as_ref()
                .is_none_or(|s| s.contains(str_at(b, "status", *i)))
        })
        .collect();
    let elements: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|(b, i)| {
            let id = int_at(b, "id", *i);
            json!({
                "test": false,
                "costType": "CPC",
                "locale": {"country": "US", "language": "en"},
                "type": str_at(b, "type", *i),
                "id": id,
                "campaignGroup": format!("urn:li:sponsoredCampaignGroup:{}", 615_000_000 + id % 1000),
                "name": str_at(b, "name", *i),
                "account": format!("urn:li:sponsoredAccount:{account}"),
                "status": str_at(b, "status", *i),
            })
        })
        .collect();
    let mut body = json!({ "elements": elements });
    if offset + size < matching.len() {
        body["metadata"] = json!({"nextPageToken": page_token(offset + size)});
    }
    Reply::json(200, &body)
}

fn account(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    let version = match authorize(sb, req) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let (own, currency) = account_of(&sb.store);
    if account != own {
        return access_denied("adAccounts.GET", &version);
    }
    Reply::json(
        200,
        &json!({
            "test": false,
            "notifiedOnCreativeRejection": false,
            "notifiedOnNewFeaturesEnabled": false,
            "notifiedOnEndOfCampaign": false,
            "servingStatuses": ["RUNNABLE"],
            "notifiedOnCampaignOptimization": false,
            "type": "BUSINESS",
            "version": {"versionTag": "4"},
            "reference": "urn:li:organization:70000111",
            "notifiedOnCreativeApproval": false,
            "name": ACCOUNT_NAME,
            "currency": currency,
            "id": account.parse::<i64>().unwrap_or_default(),
            "status": "ACTIVE",
        }),
    )
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Emulation for LinkedInAds {
    fn name(&self) -> &'static str {
        "LinkedIn Ads"
    }

    fn route(&self, method: &Method, segments: &[&str]) -> Option<&'static str> {
        if *method != Method::GET {
            return None;
        }
        match segments {
            ["rest", "adAnalytics"] => Some(ANALYTICS),
            ["rest", "adAccounts", id, "adCampaigns"] if digits(id) => Some(CAMPAIGNS),
            ["rest", "adAccounts", id] if digits(id) => Some(ACCOUNT),
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        let id = req.path.trim_matches('/').split('/').nth(2).unwrap_or("");
        match pattern {
            ANALYTICS => analytics(sb, req),
            CAMPAIGNS => campaigns(sb, id, req),
            _ => account(sb, id, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        error(
            429,
            0,
            "TOO_MANY_REQUESTS",
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        )
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        error(500, 0, "INTERNAL_SERVER_ERROR", "Internal Server Error")
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        auth_error(TokenProblem::Expired)
    }

    fn sources_toml(&self, base: &str, store: &Store) -> String {
        let (account, _) = account_of(store);
        format!(
            r#"[sources.linkedin_ads]
type = "linkedin_ads"
account_ids = ["{account}"]
base_url = "{base}"
token_url = "{base}/oauth/v2/accessToken"
auth = {{ type = "oauth2", client_id = {{ env = "LINKEDIN_CLIENT_ID" }}, client_secret = {{ env = "LINKEDIN_CLIENT_SECRET" }}, refresh_token = {{ env = "LINKEDIN_REFRESH_TOKEN" }} }}
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_li_values() {
        let r = Restli::parse("(start:(year:2024,month:6,day:1),end:(year:2024,month:6,day:30))")
            .unwrap();
        assert_eq!(r.get("start").unwrap().date(), "2024-06-01".parse().ok());
        assert_eq!(r.get("end").unwrap().date(), "2024-06-30".parse().ok());
        let l = Restli::parse("List(urn:li:sponsoredAccount:1,urn:li:sponsoredAccount:2)").unwrap();
        assert_eq!(
            l,
            Restli::List(vec![
                Restli::Text("urn:li:sponsoredAccount:1".into()),
                Restli::Text("urn:li:sponsoredAccount:2".into()),
            ])
        );
        let s = Restli::parse("(status:(values:List(ACTIVE,PAUSED)))").unwrap();
        assert!(
            matches!(s.get("status").unwrap().get("values"), Some(Restli::List(v)) if v.len() == 2)
        );
        assert!(Restli::parse("(start:(year:2024)").is_err());
        assert!(Restli::parse("List(a))").is_err());
        assert_eq!(page_offset(&page_token(1234)), Some(1234));
        assert_eq!(page_offset("nope"), None);
    }

    #[test]
    fn routes() {
        let r = |p: &str| {
            let segments: Vec<&str> = p.trim_matches('/').split('/').collect();
            LinkedInAds.route(&Method::GET, &segments)
        };
        assert_eq!(r("/rest/adAnalytics"), Some(ANALYTICS));
        assert_eq!(r("/rest/adAccounts/508000111/adCampaigns"), Some(CAMPAIGNS));
        assert_eq!(r("/rest/adAccounts/508000111"), Some(ACCOUNT));
        assert_eq!(r("/rest/adAccounts/x"), None);
        assert_eq!(r("/v2/adAnalyticsV2"), None);
    }
}
