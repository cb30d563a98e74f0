//! The Meta Marketing API (Graph API) emulation over the `meta_ads`
//! streams:
//!
//! - `GET /{version}/act_{id}/insights` with `level=campaign`,
//!   `time_increment=1`, `time_range={"since","until"}`, `fields`,
//!   `action_attribution_windows`, `limit` and `after`: one row per
//!   campaign and day, every number a string, `actions[]` and
//!   `action_values[]` with a `value` and one entry per requested window;
//! - the asynchronous report run: `POST /{version}/act_{id}/insights` (same
//!   parameters) answers `{"report_run_id"}`, `GET /{version}/{run_id}`
//!   reports `async_status` (`Job Running` for
//!   [`super::SandboxConfig::meta_async_running_polls`] polls, then
//!   `Job Completed` at 100%), `GET /{version}/{run_id}/insights` pages the
//!   result;
//! - `GET /{version}/act_{id}/campaigns` and the account itself,
//!   `GET /{version}/act_{id}?fields=name,currency,...`.
//!
//! Paging is Meta's: `paging.cursors.before/after` and, while rows remain,
//! `paging.next`, a full URL with the same parameters and the next cursor.
//! Per-window values of an action are split so that the requested windows
//! add up to the generator's count exactly (most of it in the first
//! window, the rest in the last): a connector summing the windows it asked
//! for reads the generator's number. Actions with no events are left out,
//! as Meta leaves them out.
//!
//! `account_id` is Meta's: digits without the `act_` of the paths. Errors are Graph API
//! errors (`{"error": {"message", "type", "code", "error_subcode",
//! "fbtrace_id"}}`); a bad token is `OAuthException` code 190 with HTTP 400.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{META_CAMPAIGNS, META_INSIGHTS, float_at, int_at, number_text, str_at};
use super::http::{ApiRequest, Reply, encode};

/// The insights fields the sandbox can answer.
const INSIGHT_FIELDS: [&str; 13] = [
    "account_id",
    "account_name",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "objective",
    "impressions",
    "clicks",
    "spend",
    "actions",
    "action_values",
    "date_start",
    "date_stop",
];
/// `actions[]` entries: (action type, column, revised by a revision).
const ACTIONS: [(&str, &str, bool); 3] = [
    ("link_click", "actions_link_click", false),
    ("lead", "actions_lead", true),
    ("purchase", "actions_purchase", true),
];
/// `action_values[]` entries.
const ACTION_VALUES: [(&str, &str, bool); 1] = [("purchase", "action_values_purchase", true)];
const CAMPAIGN_FIELDS: [&str; 5] = ["id", "account_id", "name", "objective", "status"];
/// The ad account's name, as `kpi check` shows it.
const ACCOUNT_NAME: &str = "ExampleSoft";
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 5000;
/// The share of an action's events put in the first requested window.
const FIRST_WINDOW_SHARE: f64 = 0.85;

/// An insights report: what one request (or one report run) asks for.
#[derive(Debug, Clone)]
pub(crate) struct InsightsQuery {
    account: String,
    start: NaiveDate,
    end: NaiveDate,
    fields: Vec<String>,
    windows: Vec<String>,
}

/// An asynchronous report run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    query: InsightsQuery,
    /// Polls still to answer `Job Running`.
    running_polls: u32,
}

fn error(status: u16, message: &str, kind: &str, code: u32, subcode: Option<u32>) -> Reply {
    let mut e = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": "AsandboxTrace",
    });
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    if matches!(code, 1 | 2 | 4 | 17 | 32 | 613 | 80000..=80014) {
        e["is_transient"] = json!(true);
    }
    Reply::json(status, &json!({ "error": e }))
}

fn bad_param(message: impl AsRef<str>) -> Reply {
    error(
        400,
        &format!("(#100) {}", message.as_ref()),
        "OAuthException",
        100,
        None,
    )
}

fn unknown_object(id: &str) -> Reply {
    error(
        400,
        &format!(
            "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
        "GraphMethodException",
        100,
        Some(33),
    )
}

pub(crate) fn token_expired() -> Reply {
    error(
        400,
        "Error validating access token: Session has expired on Thursday, 05-Jun-25 09:00:00 PDT. The current time is Friday, 06-Jun-25 02:13:11 PDT.",
        "OAuthException",
        190,
        Some(463),
    )
}

pub(crate) fn rate_limited() -> Reply {
    error(
        429,
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        "OAuthException",
        80004,
        Some(2446079),
    )
}

pub(crate) fn internal_error() -> Reply {
    error(
        500,
        "An unexpected error has occurred. Please retry your request later.",
        "OAuthException",
        2,
        None,
    )
}

/// The request's token: `Authorization: Bearer` or `access_token=`.
fn authorize(sb: &Shared, req: &ApiRequest) -> Result<(), Reply> {
    let token = req.bearer().or_else(|| req.param("access_token"));
    match token {
        Some(t) if t == sb.config.credentials.meta_access_token => Ok(()),
        Some(_) => Err(error(
            400,
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
            190,
            None,
        )),
        None => Err(error(
            400,
            "An active access token must be used to query information about the current user.",
            "OAuthException",
            2500,
            None,
        )),
    }
}

fn check_account(sb: &Shared, account: &str) -> Result<(), Reply> {
    if sb.accounts.meta_account.as_deref() == Some(account) {
        Ok(())
    } else {
        Err(unknown_object(&format!("act_{account}")))
    }
}

/// Query parameters plus, for a POST, form parameters of the body.
fn params(req: &ApiRequest) -> Vec<(String, String)> {
    let mut p = req.query.clone();
    if req.method == hyper::Method::POST {
        p.extend(req.form());
    }
    p
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_query(account: &str, p: &[(String, String)]) -> Result<InsightsQuery, Reply> {
    match get(p, "level") {
        Some("campaign") => {}
        other => {
            return Err(bad_param(format!(
                "the kpi sandbox serves level=campaign only, got {other:?}"
            )));
        }
    }
    if get(p, "time_increment") != Some("1") {
        return Err(bad_param(
            "the kpi sandbox serves time_increment=1 (daily rows) only",
        ));
    }
    let range: Value = get(p, "time_range")
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| bad_param("Param time_range must be a JSON object with since and until"))?;
    let day = |k: &str| {
        range
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| bad_param(format!("Param time_range[{k}] is not a valid date")))
    };
    let (start, end) = (day("since")?, day("until")?);
    if start > end {
        return Err(bad_param("Param time_range: since is after until"));
    }
    let fields: Vec<String> = get(p, "fields")
        .unwrap_or("date_start,date_stop,account_id,impressions,spend")
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if let Some(f) = fields
        .iter()
        .find(|f| !INSIGHT_FIELDS.contains(&f.as_str()))
    {
        return Err(bad_param(format!(
            "{f} is not valid for fields param. please check https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values"
        )));
    }
    let windows = match get(p, "action_attribution_windows") {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<String>>(text)
            .or_else(|_| {
                // Meta also takes a comma-separated list.
                Ok::<_, ()>(text.split(',').map(|w| w.trim().to_string()).collect())
            })
            .unwrap_or_default(),
    };
    Ok(InsightsQuery {
        account: account.to_string(),
        start,
        end,
        fields,
        windows,
    })
}

fn limit(p: &[(String, String)]) -> Result<usize, Reply> {
    match get(p, "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(MAX_LIMIT)),
            _ => Err(bad_param(format!(
                "Param limit must be a positive integer, got {l:?}"
            ))),
        },
    }
}

fn cursor(offset: usize) -> String {
    format!("c{offset:x}")
}

fn offset(p: &[(String, String)]) -> Result<usize, Reply> {
    match get(p, "after") {
        None => Ok(0),
        Some(c) => c
            .strip_prefix('c')
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad_param(format!("Invalid cursor {c:?}"))),
    }
}

/// `{"data": rows, "paging": ...}` with `next` while rows remain.
fn page(
    sb: &Shared,
    req: &ApiRequest,
    p: &[(String, String)],
    rows: Vec<Value>,
    from: usize,
    total: usize,
) -> Reply {
    let n = rows.len();
    let mut body = json!({ "data": rows });
    if n > 0 {
        let mut paging = json!({"cursors": {"before": cursor(from), "after": cursor(from + n)}});
        if from + n < total {
            let mut query: Vec<String> = p
                .iter()
                .filter(|(k, _)| k != "after")
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            query.push(format!("after={}", cursor(from + n)));
            paging["next"] = json!(format!("{}{}?{}", sb.base_url, req.path, query.join("&")));
        }
        body["paging"] = paging;
    }
    Reply::json(200, &body)
}

/// `GET /{version}/act_{account}/insights`.
pub(crate) fn insights(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    let p = params(req);
    let result = authorize(sb, req)
        .and_then(|()| check_account(sb, account))
        .and_then(|()| parse_query(account, &p))
        .and_then(|q| Ok((q, limit(&p)?, offset(&p)?)));
    match result {
        Ok((q, limit, from)) => insights_page(sb, req, &p, &q, limit, from),
        Err(reply) => reply,
    }
}

/// `POST /{version}/act_{account}/insights`: starts a report run.
pub(crate) fn start_run(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    let p = params(req);
    let query = match authorize(sb, req)
        .and_then(|()| check_account(sb, account))
        .and_then(|()| parse_query(account, &p))
    {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let id = sb.meta_run_id();
    sb.meta_runs().insert(
        id.clone(),
        Run {
            query,
            running_polls: sb.config.meta_async_running_polls,
        },
    );
    Reply::json(200, &json!({ "report_run_id": id }))
}

/// `GET /{version}/{run_id}`: the run's status.
pub(crate) fn run_status(sb: &Shared, run_id: &str, req: &ApiRequest) -> Reply {
    if let Err(reply) = authorize(sb, req) {
        return reply;
    }
    let (query, running) = {
        let mut runs = sb.meta_runs();
        let Some(run) = runs.get_mut(run_id) else {
            return unknown_object(run_id);
        };
        let running = run.running_polls > 0;
        run.running_polls = run.running_polls.saturating_sub(1);
        (run.query.clone(), running)
    };
    let (status, percent) = if running {
        ("Job Running", 50)
    } else {
        ("Job Completed", 100)
    };
    let all = json!({
        "id": run_id,
        "account_id": query.account,
        "async_status": status,
        "async_percent_completion": percent,
        "date_start": query.start.to_string(),
        "date_stop": query.end.to_string(),
    });
    Reply::json(200, &select(&all, req.param("fields")))
}

/// `GET /{version}/{run_id}/insights`: the run's rows, paged.
pub(crate) fn run_insights(sb: &Shared, run_id: &str, req: &ApiRequest) -> Reply {
    if let Err(reply) = authorize(sb, req) {
        return reply;
    }
    let Some(run) = sb.meta_runs().get(run_id).cloned() else {
        return unknown_object(run_id);
    };
    if run.running_polls > 0 {
        return bad_param(format!(
            "report run {run_id} has not completed yet; poll it until async_status is Job Completed"
        ));
    }
    let p = params(req);
    match limit(&p).and_then(|l| Ok((l, offset(&p)?))) {
        Ok((limit, from)) => insights_page(sb, req, &p, &run.query, limit, from),
        Err(reply) => reply,
    }
}

/// The page of `q`'s rows at `from`, skipping whole days to get there.
fn insights_page(
    sb: &Shared,
    req: &ApiRequest,
    p: &[(String, String)],
    q: &InsightsQuery,
    limit: usize,
    from: usize,
) -> Reply {
    let mut rows = Vec::new();
    let mut seen = 0;
    for (date, batch) in sb.store.days(META_INSIGHTS, q.start, q.end) {
        let n = batch.num_rows();
        if seen + n <= from || rows.len() >= limit {
            seen += n;
            continue;
        }
        let factor = sb.revision("meta_ads/ads_insights", date);
        for i in from.saturating_sub(seen)..n {
            if rows.len() >= limit {
                break;
            }
            rows.push(insight_row(batch, i, date, q, factor));
        }
        seen += n;
    }
    page(sb, req, p, rows, from, seen)
}

fn insight_row(
    b: &arrow::record_batch::RecordBatch,
    i: usize,
    date: NaiveDate,
    q: &InsightsQuery,
    factor: Option<f64>,
) -> Value {
    let mut row = Map::new();
    let revised = |v: f64, revisable: bool, count: bool| match factor {
        Some(f) if revisable => {
            let v = v * f;
            // Events are whole; values have cents.
            if count {
                v.round()
            } else {
                (v * 100.0).round() / 100.0
            }
        }
        _ => v,
    };
    let entries = |list: &[(&str, &str, bool)], count: bool| -> Vec<Value> {
        list.iter()
            .filter_map(|(action_type, column, revisable)| {
                let total = revised(float_at(b, column, i), *revisable, count);
                (total != 0.0).then(|| action_entry(action_type, total, &q.windows))
            })
            .collect()
    };
    for f in &q.fields {
        let v = match f.as_str() {
            "account_id" => json!(q.account),
            "account_name" => json!(ACCOUNT_NAME),
            "account_currency" => json!(str_at(b, "account_currency", i)),
            "campaign_id" => json!(str_at(b, "campaign_id", i)),
            "campaign_name" => json!(str_at(b, "campaign_name", i)),
            "objective" => json!(str_at(b, "objective", i)),
            "impressions" => json!(int_at(b, "impressions", i).to_string()),
            "clicks" => json!(int_at(b, "clicks", i).to_string()),
            "spend" => json!(number_text(float_at(b, "spend", i))),
            "actions" => match entries(&ACTIONS, true) {
                e if e.is_empty() => continue,
                e => Value::Array(e),
            },
            "action_values" => match entries(&ACTION_VALUES, false) {
                e if e.is_empty() => continue,
                e => Value::Array(e),
            },
            // Always added below, as Meta does.
            _ => continue,
        };
        row.insert(f.clone(), v);
    }
    row.insert("date_start".into(), json!(date.to_string()));
    row.insert("date_stop".into(), json!(date.to_string()));
    Value::Object(row)
}

/// `{"action_type", "value", "<window>": ...}`: the windows' values add up
/// to `total` exactly (see the module docs).
fn action_entry(action_type: &str, total: f64, windows: &[String]) -> Value {
    let mut e = json!({"action_type": action_type, "value": number_text(total)});
    for (window, v) in split(total, windows) {
        e[window] = json!(number_text(v));
    }
    e
}

fn split(total: f64, windows: &[String]) -> Vec<(String, f64)> {
    match windows {
        [] => Vec::new(),
        [one] => vec![(one.clone(), total)],
        [first, .., last] => {
            let head = (total * FIRST_WINDOW_SHARE).round().min(total);
            // `head` is at least half of `total` when it matters, so this
            // difference is exact and head + rest == total in f64.
            let rest = total - head;
            [(first.clone(), head), (last.clone(), rest)]
                .into_iter()
                .filter(|(_, v)| *v != 0.0)
                .collect()
        }
    }
}

/// The members of `all` named in `fields` (every member if unset), and `id`.
fn select(all: &Value, fields: Option<&str>) -> Value {
    let Some(fields) = fields else {
        return all.clone();
    };
    let mut out = Map::new();
    for f in fields.split(',').map(str::trim).chain(["id"]) {
        if let Some(v) = all.get(f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// `GET /{version}/act_{account}/campaigns`.
pub(crate) fn campaigns(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    let p = params(req);
    let (limit, from) = match authorize(sb, req)
        .and_then(|()| check_account(sb, account))
        .and_then(|()| Ok((limit(&p)?, offset(&p)?)))
    {
        Ok(x) => x,
        Err(reply) => return reply,
    };
    let fields: Vec<&str> = get(&p, "fields")
        .unwrap_or("id")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if let Some(f) = fields.iter().find(|f| !CAMPAIGN_FIELDS.contains(f)) {
        return bad_param(format!(
            "Tried accessing nonexisting field ({f}) on node type (Campaign)"
        ));
    }
    let snapshot = sb.store.snapshot(META_CAMPAIGNS);
    let rows: Vec<Value> = snapshot
        .rows_from(from, limit)
        .map(|(b, i)| {
            let mut row = Map::new();
            for f in &fields {
                let v = match *f {
                    "account_id" => account.to_string(),
                    column => str_at(b, column, i).to_string(),
                };
                row.insert(f.to_string(), json!(v));
            }
            Value::Object(row)
        })
        .collect();
    page(sb, req, &p, rows, from, snapshot.rows)
}

/// `GET /{version}/act_{account}`: the ad account node.
pub(crate) fn account(sb: &Shared, account: &str, req: &ApiRequest) -> Reply {
    if let Err(reply) = authorize(sb, req).and_then(|()| check_account(sb, account)) {
        return reply;
    }
    let all = json!({
        "id": format!("act_{account}"),
        "account_id": account,
        "name": ACCOUNT_NAME,
        "currency": sb.accounts.meta_currency.as_deref().unwrap_or("USD"),
        "timezone_name": "Europe/Madrid",
        "account_status": 1,
    });
    Reply::json(
        200,
        &select(&all, Some(req.param("fields").unwrap_or("id"))),
    )
}

/// Report runs started so far, by id.
pub(crate) type Runs = HashMap<String, Run>;

/// The Meta Marketing API (Graph API edges of an ad account, and report runs).
pub(crate) struct MetaAds;

/// `v23.0`, the version segment of a Graph API path.
fn graph_version(s: &str) -> bool {
    use super::emulation::digits;
    s.strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The account digits of an `act_<digits>` node.
fn act(node: &str) -> Option<&str> {
    node.strip_prefix("act_")
        .filter(|a| super::emulation::digits(a))
}

impl super::emulation::Emulation for MetaAds {
    fn name(&self) -> &'static str {
        "Meta"
    }

    fn route(&self, method: &hyper::Method, segments: &[&str]) -> Option<&'static str> {
        use super::emulation::digits;
        use super::patterns::*;
        let get = *method == hyper::Method::GET;
        let post = *method == hyper::Method::POST;
        match segments {
            [v, node, "insights"] if graph_version(v) => match (act(node), get, post) {
                (Some(_), true, _) => Some(META_INSIGHTS),
                (Some(_), _, true) => Some(META_REPORT_RUN),
                (None, true, _) if digits(node) => Some(META_RUN_INSIGHTS),
                _ => None,
            },
            [v, node, "campaigns"] if get && graph_version(v) => act(node).map(|_| META_CAMPAIGNS),
            [v, node] if get && graph_version(v) => match act(node) {
                Some(_) => Some(META_ACCOUNT),
                None if digits(node) => Some(META_RUN_STATUS),
                None => None,
            },
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        use super::patterns::*;
        let segments = super::emulation::segments(&req.path);
        let node = segments[1];
        let account = act(node).unwrap_or(node);
        match pattern {
            META_INSIGHTS => insights(sb, account, req),
            META_REPORT_RUN => start_run(sb, account, req),
            META_RUN_STATUS => run_status(sb, node, req),
            META_RUN_INSIGHTS => run_insights(sb, node, req),
            META_CAMPAIGNS => campaigns(sb, account, req),
            _ => self::account(sb, account, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        rate_limited()
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        internal_error()
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        token_expired()
    }

    fn sources_toml(&self, base: &str, store: &super::data::Store) -> String {
        let meta = super::Accounts::of(store)
            .meta_account
            .unwrap_or_else(|| "5550001".to_string());
        format!(
            r#"[sources.meta_ads]
type = "meta_ads"
ad_account_ids = ["act_{meta}"]
base_url = "{base}"
access_token = {{ env = "META_ACCESS_TOKEN" }}
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn windows_add_up_to_the_total() {
        assert_eq!(
            split(20.0, &w(&["7d_click", "1d_view"])),
            vec![("7d_click".into(), 17.0), ("1d_view".into(), 3.0)]
        );
        assert_eq!(
            split(1.0, &w(&["7d_click", "1d_view"])),
            vec![("7d_click".into(), 1.0)]
        );
        assert_eq!(
            split(3.0, &w(&["28d_click"])),
            vec![("28d_click".into(), 3.0)]
        );
        assert!(split(3.0, &[]).is_empty());
        for total in [1234.56, 0.5, 7.0, 99999.99, 1e-3] {
            let sum: f64 = split(total, &w(&["7d_click", "1d_view"]))
                .iter()
                .map(|(_, v)| number_text(*v).parse::<f64>().unwrap())
                .sum();
            assert_eq!(sum, total);
        }
        let e = action_entry("lead", 5.0, &w(&["7d_click", "1d_view"]));
        assert_eq!(
            e,
            json!({"action_type": "lead", "value": "5", "7d_click": "4", "1d_view": "1"})
        );
    }

    #[test]
    fn cursors_round_trip() {
        let p = vec![("after".to_string(), cursor(300))];
        assert_eq!(offset(&p).ok(), Some(300));
        assert!(offset(&[("after".to_string(), "zz".to_string())]).is_err());
    }
}
