//! The Microsoft Advertising emulation (Bing Ads API v13, REST) over the
//! `microsoft_ads` stream:
//!
//! - `POST /Reporting/v13/GenerateReport/Submit` with `{"ReportRequest":
//!   {"Type": "CampaignPerformanceReportRequest", "Aggregation": "Daily",
//!   "Columns": [...], "Scope": {"AccountIds": [...]}, "Time":
//!   {"CustomDateRangeStart": {"Day", "Month", "Year"}, "CustomDateRangeEnd":
//!   {...}, "ReportTimeZone": ...}, "Format": "Csv", ...}}`: records a
//!   report job and answers `{"ReportRequestId": "..."}`.
//! - `POST /Reporting/v13/GenerateReport/Poll` with `{"ReportRequestId"}`:
//!   `{"ReportRequestStatus": {"Status": "Pending"}}` for the first
//!   [`super::SandboxConfig::microsoft_pending_polls`] polls, then
//!   `Success` with a `ReportDownloadUrl` back into the sandbox, or with no
//!   URL when the report has no rows, as Microsoft answers.
//! - `GET /ReportDownload/{id}.zip?sv=...&sig=...`: the zip, pre-signed
//!   (no bearer token; a wrong `sig` is refused the way Azure blob storage
//!   refuses it), holding one CSV with the report header rows (`Report
//!   Name`, `Report Time`, `Time Zone`, ..., `Rows`), the requested columns
//!   in the requested order, the rows, and the copyright footer. The header
//!   and footer are written whatever `ExcludeReportHeader`/`Footer` say, so
//!   that a client which takes them for data is caught. With a
//!   `FormatVersion` other than `2.0`, amounts carry thousands separators
//!   (`1,234.56`), as Microsoft's format 1.0 does.
//! - `POST /CampaignManagement/v13/Campaigns/QueryByAccountId` with
//!   `{"AccountId", "CampaignType"}`: the account's campaigns of the types
//!   named (space-separated; only `Search` when none is), with `Id`,
//!   `Name`, `CampaignType`, `Status` and budget fields.
//! - `POST /CustomerManagement/v13/Account/Query` with `{"AccountId"}`:
//!   the account, with its currency and time zone.
//!
//! Every API call needs a bearer token from `POST
//! /common/oauth2/v2.0/token` and the `DeveloperToken`, `CustomerId` and
//! `CustomerAccountId` headers. Errors are Microsoft's `ApiFaultDetail`:
//! `{"OperationErrors": [{"Code", "ErrorCode", "Message", "Details"}],
//! "BatchErrors": [], "TrackingId", "Type"}` with 401 for code 105
//! (`InvalidCredentials`: a bad developer token or bearer token) and 109
//! (`AuthenticationTokenExpired`), 400 for code 106 (`UserIsNotAuthorized`:
//! another customer or account) and requests Microsoft would refuse, 429
//! for code 117 (`CallRateExceeded`, the rate-limit fault) and 500 for code
//! 0 (`InternalError`).

use std::collections::HashMap;
use std::io::Write as _;

use bytes::Bytes;
use chrono::NaiveDate;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::Shared;
use super::data::{MICROSOFT_CAMPAIGNS, MICROSOFT_PERFORMANCE, Store, float_at, int_at, str_at};
use super::emulation::Emulation;
use super::http::{ApiRequest, Reply};
use super::oauth::TokenProblem;
use super::patterns::{
    MICROSOFT_ACCOUNT, MICROSOFT_CAMPAIGNS as CAMPAIGNS, MICROSOFT_DOWNLOAD, MICROSOFT_POLL,
    MICROSOFT_SUBMIT,
};

/// The columns the sandbox can report, with the stream column each is
/// read from; `TimePeriod` is the day.
const COLUMNS: [(&str, &str); 13] = [
    ("TimePeriod", "date"),
    ("AccountId", "account_id"),
    ("AccountName", "account_name"),
    ("CampaignId", "campaign_id"),
    ("CampaignName", "campaign_name"),
    ("CampaignType", "campaign_type"),
    ("CampaignStatus", "campaign_status"),
    ("CurrencyCode", "currency_code"),
    ("Impressions", "impressions"),
    ("Clicks", "clicks"),
    ("Spend", "spend"),
    ("Conversions", "conversions"),
    ("Revenue", "revenue"),
];
/// The customer that owns the account, and the account's number, currency
/// and time zone.
const CUSTOMER_ID: &str = "251000123";
const ACCOUNT_NUMBER: &str = "F1500001";
const ACCOUNT_CURRENCY: &str = "EUR";
const ACCOUNT_TIME_ZONE: &str = "BrusselsCopenhagenMadridParis";

/// A submitted report.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    account: String,
    start: NaiveDate,
    end: NaiveDate,
    columns: Vec<String>,
    time_zone: String,
    format_2: bool,
    polls: u32,
}

/// Reports submitted, by id.
pub(crate) type Jobs = HashMap<String, Job>;

/// The Microsoft Advertising API.
pub(crate) struct MicrosoftAds;

fn fault(status: u16, sb: Option<&Shared>, code: u32, name: &str, message: &str) -> Reply {
    let n = sb.map_or(0, Shared::request_seq);
    Reply::json(
        status,
        &json!({
            "OperationErrors": [{"Code": code, "Details": null, "ErrorCode": name, "Message": message}],
            "BatchErrors": [],
            "TrackingId": format!("5b0c{n:04x}-sbx0-4d6a-9c1e-{n:012x}"),
            "Type": "ApiFaultDetail",
        }),
    )
}

fn invalid(sb: &Shared, message: &str) -> Reply {
    fault(400, Some(sb), 100, "InvalidRequest", message)
}

fn not_authorized(sb: &Shared) -> Reply {
    fault(
        400,
        Some(sb),
        106,
        "UserIsNotAuthorized",
        "The user does not represent a authorized developer.",
    )
}

fn invalid_credentials(sb: &Shared) -> Reply {
    fault(
        401,
        Some(sb),
        105,
        "InvalidCredentials",
        "Authentication failed. Either supplied credentials are invalid or the account is inactive",
    )
}

fn token_expired() -> Reply {
    fault(
        401,
        None,
        109,
        "AuthenticationTokenExpired",
        "The OAuth access token has expired. Refresh the access token or request a new one.",
    )
}

/// The generated company's account (from its rows).
fn account_of(store: &Store) -> String {
    store
        .first_string(MICROSOFT_PERFORMANCE, "account_id")
        .unwrap_or_else(|| "150000001".into())
}

/// The bearer token, the developer token and the customer and account
/// headers; the account the call is for.
fn authorize(sb: &Shared, req: &ApiRequest) -> Result<String, Reply> {
    match sb.tokens.check(req.bearer()) {
        Ok(()) => {}
        Err(TokenProblem::Expired) => return Err(token_expired()),
        Err(_) => return Err(invalid_credentials(sb)),
    }
    if req.header("developertoken")
        != Some(sb.config.credentials.microsoft_developer_token.as_str())
    {
        return Err(invalid_credentials(sb));
    }
    let own = account_of(&sb.store);
    if req.header("customerid") != Some(CUSTOMER_ID)
        || req.header("customeraccountid") != Some(own.as_str())
    {
        return Err(not_authorized(sb));
    }
    Ok(own)
}

fn date(v: Option<&Value>) -> Option<NaiveDate> {
    let v = v?;
    let n = |k: &str| v.get(k)?.as_u64();
    NaiveDate::from_ymd_opt(n("Year")? as i32, n("Month")? as u32, n("Day")? as u32)
}

fn submit(sb: &Shared, req: &ApiRequest) -> Reply {
    let own = match authorize(sb, req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = match req.json() {
        Ok(b) => b,
        Err(e) => return invalid(sb, &e),
    };
    let Some(r) = body.get("ReportRequest").filter(|r| r.is_object()) else {
        return fault(
            400,
            Some(sb),
            100,
            "NullRequest",
            "The request message is null.",
        );
    };
    let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    if text("Type") != "CampaignPerformanceReportRequest" {
        return invalid(
            sb,
            &format!(
                "The kpi sandbox serves CampaignPerformanceReportRequest only, not {:?}",
                text("Type")
            ),
        );
    }
    if text("Aggregation") != "Daily" || !matches!(text("Format"), "" | "Csv") {
        return invalid(
            sb,
            "The kpi sandbox serves Daily aggregation in Csv format only",
        );
    }
    let columns: Vec<String> = r
        .get("Columns")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if columns.is_empty() {
        return invalid(sb, "The report request must include at least one column.");
    }
    if let Some(unknown) = columns
        .iter()
        .find(|c| !COLUMNS.iter().any(|(n, _)| n == c))
    {
        return invalid(
            sb,
            &format!("The kpi sandbox does not report the column {unknown}"),
        );
    }
    let accounts: Vec<String> = r
        .pointer("/Scope/AccountIds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.to_string().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default();
    if accounts.is_empty() {
        return invalid(sb, "The report scope must include at least one account id.");
    }
    if accounts.iter().any(|a| *a != own) {
        return not_authorized(sb);
    }
    let time = r.get("Time");
    let (Some(start), Some(end)) = (
        date(time.and_then(|t| t.get("CustomDateRangeStart"))),
        date(time.and_then(|t| t.get("CustomDateRangeEnd"))),
    ) else {
        return invalid(
            sb,
            "The kpi sandbox needs CustomDateRangeStart and CustomDateRangeEnd (Day, Month, Year)",
        );
    };
    if end < start {
        return invalid(
            sb,
            "The custom date range end date is before its start date.",
        );
    }
    let id = format!("3000{:010}", sb.request_seq());
    sb.microsoft_jobs().insert(
        id.clone(),
        Job {
            account: own,
            start,
            end,
            columns,
            time_zone: time
                .and_then(|t| t.get("ReportTimeZone"))
                .and_then(Value::as_str)
                .unwrap_or("PacificTimeUSCanadaTijuana")
                .to_string(),
            format_2: text("FormatVersion") == "2.0",
            polls: 0,
        },
    );
    Reply::json(200, &json!({ "ReportRequestId": id }))
}

/// The pre-signed download's signature of report `id`.
fn signature(id: &str) -> String {
    let sum: u64 = id.bytes().fold(1469598103934665603, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    });
    format!("{sum:016x}sbx")
}

fn poll(sb: &Shared, req: &ApiRequest) -> Reply {
    if let Err(r) = authorize(sb, req) {
        return r;
    }
    let id = match req
        .json()
        .ok()
        .and_then(|b| b.get("ReportRequestId").cloned())
    {
        Some(Value::String(id)) => id,
        _ => return invalid(sb, "The report request id is missing."),
    };
    let pending = sb.config.microsoft_pending_polls;
    let job = {
        let mut jobs = sb.microsoft_jobs();
        let Some(job) = jobs.get_mut(&id) else {
            return fault(
                400,
                Some(sb),
                2100,
                "InvalidReportId",
                "The specified report request identifier is not valid.",
            );
        };
        job.polls += 1;
        job.clone()
    };
    if job.polls <= pending {
        return Reply::json(
            200,
            &json!({"ReportRequestStatus": {"ReportDownloadUrl": null, "Status": "Pending"}}),
        );
    }
    let has_rows = sb
        .store
        .days(MICROSOFT_PERFORMANCE, job.start, job.end)
        .any(|(_, b)| (0..b.num_rows()).any(|i| str_at(b, "account_id", i) == job.account));
    let url = has_rows.then(|| {
        format!(
            "{}/ReportDownload/{id}.zip?sv=2024-08-04&se=2026-12-31T00%3A00%3A00Z&sr=b&sp=r&sig={}",
            sb.base_url,
            signature(&id)
        )
    });
    Reply::json(
        200,
        &json!({"ReportRequestStatus": {"ReportDownloadUrl": url, "Status": "Success"}}),
    )
}

fn quoted(fields: impl IntoIterator<Item = String>) -> String {
    let fields: Vec<String> = fields
        .into_iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect();
    fields.join(",") + "\r\n"
}

/// `1234.5` as `1,234.50` (format 1.0) or `1234.50` (2.0).
fn money(v: f64, grouped: bool) -> String {
    let plain = format!("{v:.2}");
    if !grouped {
        return plain;
    }
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, "00"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}.{frac}")
}

/// The report's CSV, as Microsoft writes it.
fn report_csv(sb: &Shared, id: &str, job: &Job) -> String {
    let mut rows = Vec::new();
    for (day, b) in sb.store.days(MICROSOFT_PERFORMANCE, job.start, job.end) {
        for i in 0..b.num_rows() {
            if str_at(b, "account_id", i) != job.account {
                continue;
            }
            let field = |column: &str| -> String {
                let (_, source) = COLUMNS.iter().find(|(n, _)| *n == column).expect("checked");
                match *source {
                    "date" => day.format("%Y-%m-%d").to_string(),
                    "campaign_id" | "impressions" | "clicks" => int_at(b, source, i).to_string(),
                    "spend" | "revenue" => money(float_at(b, source, i), !job.format_2),
                    "conversions" => format!("{:.2}", float_at(b, source, i)),
                    text => str_at(b, text, i).to_string(),
                }
            };
            rows.push(quoted(job.columns.iter().map(|c| field(c))));
        }
    }
    let us = |d: NaiveDate| d.format("%-m/%-d/%Y").to_string();
    let mut out = String::from("\u{feff}");
    for line in [
        format!("Report Name: kpi {id}"),
        format!("Report Time: {}, {}", us(job.start), us(job.end)),
        format!("Time Zone: {} (kpi sandbox)", job.time_zone),
        format!(
            "Last Completed Available Day: {} 10:15:00 PM (GMT)",
            us(sb.config.end_date())
        ),
        format!(
            "Last Completed Available Hour: {} 10:15:00 PM (GMT)",
            us(sb.config.end_date())
        ),
        "Report Aggregation: Daily".to_string(),
        "Report Filter: ".to_string(),
        "Potential Incomplete Data: false".to_string(),
        format!("Rows: {}", rows.len()),
    ] {
        out.push_str(&quoted([line]));
    }
    out.push_str("\r\n");
    out.push_str(&quoted(job.columns.iter().cloned()));
    for r in rows {
        out.push_str(&r);
    }
    out.push_str("\r\n");
    out.push_str(&quoted([format!(
        "©{} Microsoft Corporation. All rights reserved. ",
        sb.config.end_date().format("%Y")
    )]));
    out
}

fn download(sb: &Shared, req: &ApiRequest) -> Reply {
    let file = req.path.rsplit('/').next().unwrap_or("");
    let id = file.strip_suffix(".zip").unwrap_or("");
    let job = sb.microsoft_jobs().get(id).cloned();
    let blob_error = |status: u16, code: &str, message: &str| {
        let mut r = Reply::json(status, &Value::Null);
        r.headers = vec![("content-type", "application/xml".into())];
        r.chunks = vec![Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ))];
        r
    };
    let Some(job) = job.filter(|j| j.polls > sb.config.microsoft_pending_polls) else {
        return blob_error(404, "BlobNotFound", "The specified blob does not exist.");
    };
    if req.param("sig") != Some(signature(id).as_str()) {
        return blob_error(
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        );
    }
    let csv = report_csv(sb, id, &job);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let written = zip
        .start_file(format!("{id}.csv"), options)
        .and_then(|()| zip.write_all(csv.as_bytes()).map_err(Into::into))
        .and_then(|()| zip.finish());
    let bytes = match written {
        Ok(cursor) => cursor.into_inner(),
        Err(e) => return blob_error(500, "InternalError", &e.to_string()),
    };
    let mut reply = Reply::json(200, &Value::Null);
    reply.status = StatusCode::OK;
    reply.headers = vec![("content-type", "application/x-zip-compressed".into())];
    reply.chunks = vec![Bytes::from(bytes)];
    reply
}

fn campaigns(sb: &Shared, req: &ApiRequest) -> Reply {
    let own = match authorize(sb, req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let body = req.json().unwrap_or_default();
    let asked = body
        .get("AccountId")
        .map(|v| v.to_string().trim_matches('"').to_string());
    if asked.as_deref() != Some(own.as_str()) {
        return not_authorized(sb);
    }
    let types: Vec<&str> = body
        .get("CampaignType")
        .and_then(Value::as_str)
        .unwrap_or("Search")
        .split([' ', ','])
        .filter(|t| !t.is_empty())
        .collect();
    let zone = sb
        .store
        .first_string(MICROSOFT_PERFORMANCE, "report_time_zone")
        .unwrap_or_else(|| ACCOUNT_TIME_ZONE.into());
    let list: Vec<Value> = sb
        .store
        .snapshot(MICROSOFT_CAMPAIGNS)
        .all()
        .filter(|(b, i)| str_at(b, "account_id", *i) == own)
        .filter(|(b, i)| types.contains(&str_at(b, "campaign_type", *i)))
        .map(|(b, i)| {
            json!({
                "AudienceAdsBidAdjustment": null,
                "BiddingScheme": {"Type": "EnhancedCpc"},
                "BudgetType": "DailyBudgetStandard",
                "DailyBudget": 50.0,
                "Id": int_at(b, "id", i),
                "Name": str_at(b, "name", i),
                "Status": str_at(b, "status", i),
                "CampaignType": str_at(b, "campaign_type", i),
                "TimeZone": zone,
            })
        })
        .collect();
    Reply::json(200, &json!({ "Campaigns": list }))
}

fn account(sb: &Shared, req: &ApiRequest) -> Reply {
    let own = match authorize(sb, req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let asked = req.json().ok().and_then(|b| {
        b.get("AccountId")
            .map(|v| v.to_string().trim_matches('"').to_string())
    });
    if asked.as_deref() != Some(own.as_str()) {
        return not_authorized(sb);
    }
    let name = sb
        .store
        .first_string(MICROSOFT_PERFORMANCE, "account_name")
        .unwrap_or_default();
    Reply::json(
        200,
        &json!({"Account": {
            "Id": own.parse::<i64>().unwrap_or_default(),
            "Name": name,
            "Number": ACCOUNT_NUMBER,
            "CurrencyCode": ACCOUNT_CURRENCY,
            "TimeZone": ACCOUNT_TIME_ZONE,
            "AccountLifeCycleStatus": "Active",
            "ParentCustomerId": CUSTOMER_ID.parse::<i64>().unwrap_or_default(),
            "PauseReason": null,
        }}),
    )
}

impl Emulation for MicrosoftAds {
    fn name(&self) -> &'static str {
        "Microsoft Advertising"
    }

    fn route(&self, method: &Method, segments: &[&str]) -> Option<&'static str> {
        match (method.clone(), segments) {
            (Method::POST, ["Reporting", "v13", "GenerateReport", "Submit"]) => {
                Some(MICROSOFT_SUBMIT)
            }
            (Method::POST, ["Reporting", "v13", "GenerateReport", "Poll"]) => Some(MICROSOFT_POLL),
            (Method::GET, ["ReportDownload", file]) if file.ends_with(".zip") => {
                Some(MICROSOFT_DOWNLOAD)
            }
            (Method::POST, ["CustomerManagement", "v13", "Account", "Query"]) => {
                Some(MICROSOFT_ACCOUNT)
            }
            (Method::POST, ["CampaignManagement", "v13", "Campaigns", "QueryByAccountId"]) => {
                Some(CAMPAIGNS)
            }
            _ => None,
        }
    }

    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        match pattern {
            MICROSOFT_SUBMIT => submit(sb, req),
            MICROSOFT_POLL => poll(sb, req),
            MICROSOFT_DOWNLOAD => download(sb, req),
            CAMPAIGNS => campaigns(sb, req),
            _ => account(sb, req),
        }
    }

    fn rate_limited(&self, _req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        fault(
            429,
            None,
            117,
            "CallRateExceeded",
            "You have exceeded the number of calls that you are allowed to make in a minute. Please reduce the number of calls that you make per minute.",
        )
    }

    fn internal_error(&self, _req: &ApiRequest) -> Reply {
        fault(
            500,
            None,
            0,
            "InternalError",
            "An internal error has occurred.",
        )
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        token_expired()
    }

    fn sources_toml(&self, base: &str, store: &Store) -> String {
        let account = account_of(store);
        let zone = store
            .first_string(MICROSOFT_PERFORMANCE, "report_time_zone")
            .unwrap_or_else(|| ACCOUNT_TIME_ZONE.into());
        format!(
            r#"[sources.microsoft_ads]
type = "microsoft_ads"
customer_id = "{CUSTOMER_ID}"
account_ids = ["{account}"]
report_time_zone = "{zone}"
base_url = "{base}"
token_url = "{base}/common/oauth2/v2.0/token"
"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |m: Method, p: &str| {
            let segments: Vec<&str> = p.trim_matches('/').split('/').collect();
            MicrosoftAds.route(&m, &segments)
        };
        assert_eq!(
            r(Method::POST, "/Reporting/v13/GenerateReport/Submit"),
            Some(MICROSOFT_SUBMIT)
        );
        assert_eq!(
            r(Method::POST, "/Reporting/v13/GenerateReport/Poll"),
            Some(MICROSOFT_POLL)
        );
        assert_eq!(
            r(Method::GET, "/ReportDownload/30001.zip"),
            Some(MICROSOFT_DOWNLOAD)
        );
        assert_eq!(r(Method::GET, "/ReportDownload/30001.csv"), None);
        assert_eq!(
            r(Method::POST, "/CustomerManagement/v13/Account/Query"),
            Some(MICROSOFT_ACCOUNT)
        );
        assert_eq!(r(Method::GET, "/Reporting/v13/GenerateReport/Submit"), None);
    }

    #[test]
    fn amounts_in_both_formats() {
        assert_eq!(money(1234567.5, true), "1,234,567.50");
        assert_eq!(money(999.0, true), "999.00");
        assert_eq!(money(-1234.0, true), "-1,234.00");
        assert_eq!(money(1234.5, false), "1234.50");
        assert_eq!(
            quoted(["a\"b".to_string(), "c".into()]),
            "\"a\"\"b\",\"c\"\r\n"
        );
    }
}
