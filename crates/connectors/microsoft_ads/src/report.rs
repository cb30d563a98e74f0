//! The `campaign_performance` stream: what a `CampaignPerformanceReportRequest`
//! asks for, what `GenerateReport/Poll` answers, and the report file turned
//! into rows.
//!
//! Columns asked for ([`COLUMNS`]), and why: `TimePeriod` (the day, with
//! `Aggregation: Daily`), `AccountId`/`AccountName` and `CampaignId`/
//! `CampaignName` (the keys and the names staging joins on),
//! `CampaignType` (Search, Shopping, Audience, ...: the channel),
//! `CampaignStatus`, `CurrencyCode` (spend and revenue
//! are in the account's currency, converted in staging), and the additive
//! measures `Impressions`, `Clicks`, `Spend`, `Conversions` and `Revenue`.
//! No ratio (`Ctr`, `AverageCpc`, `ConversionRate`...): ratios are
//! computed from summed measures, never stored. The campaign performance
//! report has no time-zone column: its days are the account's, and the
//! `ReportTimeZone` the request sent is kept on every row
//! (`report_time_zone`) to say what the request's "today" was.
//!
//! The file: a zip holding one CSV, which may start with a byte order mark
//! and report header rows (`"Report Name: ..."`, `"Report Time: ..."`,
//! `"Time Zone: ..."`, `"Rows: N"`, ...), then the column header line, the
//! data rows, and a footer (`"©2026 Microsoft Corporation. All rights
//! reserved. "`). The request asks Microsoft to leave header and footer
//! out, but neither is taken for data when they come anyway; a `Rows: N`
//! header is checked against the rows read. Numbers may be written with
//! thousands separators (`1,234.50`, `FormatVersion` 1.0) and `--` where
//! Microsoft has no value, which for these additive measures is none: 0.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use kpi_connector::SyncWindow;
use serde_json::{Value, json};

/// The report's columns, in the order asked for.
pub const COLUMNS: [&str; 13] = [
    "TimePeriod",
    "AccountId",
    "AccountName",
    "CampaignId",
    "CampaignName",
    "CampaignType",
    "CampaignStatus",
    "CurrencyCode",
    "Impressions",
    "Clicks",
    "Spend",
    "Conversions",
    "Revenue",
];

/// `campaign_performance`: the `date` partition column (the account's day),
/// the report's columns in snake_case, and the `ReportTimeZone` asked for.
pub fn campaign_performance_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        utf8("account_id"),
        utf8("account_name"),
        Field::new("campaign_id", DataType::Int64, false),
        utf8("campaign_name"),
        utf8("campaign_type"),
        utf8("campaign_status"),
        utf8("currency_code"),
        Field::new("impressions", DataType::Int64, false),
        Field::new("clicks", DataType::Int64, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("conversions", DataType::Float64, false),
        Field::new("revenue", DataType::Float64, false),
        utf8("report_time_zone"),
    ]))
}

fn date(d: NaiveDate) -> Value {
    json!({"Day": d.day(), "Month": d.month(), "Year": d.year()})
}

/// The `GenerateReport/Submit` body for `account` over `window`.
pub(crate) fn submit_body(account: &str, window: SyncWindow, time_zone: &str) -> Value {
    let account_id: Value = account
        .parse::<i64>()
        .map_or_else(|_| Value::from(account), Value::from);
    json!({
        "ReportRequest": {
            "Type": "CampaignPerformanceReportRequest",
            "ReportName": format!("kpi campaign_performance {account} {} {}", window.start, window.end),
            "Format": "Csv",
            "FormatVersion": "2.0",
            "ExcludeColumnHeaders": false,
            "ExcludeReportHeader": true,
            "ExcludeReportFooter": true,
            "ReturnOnlyCompleteData": false,
            "Aggregation": "Daily",
            "Columns": COLUMNS,
            "Scope": {"AccountIds": [account_id]},
            "Time": {
                "CustomDateRangeStart": date(window.start),
                "CustomDateRangeEnd": date(window.end),
                "ReportTimeZone": time_zone,
            },
        }
    })
}

/// What a poll said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Still being built.
    Pending,
    /// Built: the URL of its zip, or `None` when the report has no rows
    /// (Microsoft then sends no URL).
    Success(Option<String>),
    /// Microsoft could not build it.
    Error,
}

/// `{"ReportRequestStatus": {"Status": ..., "ReportDownloadUrl": ...}}`.
pub(crate) fn poll_status(body: &Value) -> Result<Status, String> {
    let status = body
        .get("ReportRequestStatus")
        .ok_or("the answer has no ReportRequestStatus")?;
    let url = status
        .get("ReportDownloadUrl")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    match status.get("Status").and_then(Value::as_str) {
        Some("Pending") => Ok(Status::Pending),
        Some("Success") => Ok(Status::Success(url)),
        Some("Error") => Ok(Status::Error),
        other => Err(format!(
            "ReportRequestStatus.Status is {}, not Pending, Success or Error",
            other.map_or_else(|| "missing".to_string(), |s| format!("{s:?}"))
        )),
    }
}

/// The one file of the report zip, as text.
pub(crate) fn unzip(bytes: &[u8]) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the download is not a zip archive: {e}"))?;
    if archive.len() != 1 {
        return Err(format!(
            "the report zip holds {} files, expected one CSV",
            archive.len()
        ));
    }
    let mut file = archive
        .by_index(0)
        .map_err(|e| format!("the report zip cannot be read: {e}"))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("{} in the report zip cannot be read: {e}", file.name()))?;
    Ok(text)
}

/// A row's measures, summed when a report has several rows for one
/// campaign and day (an hourly report: its hours add up to the day).
#[derive(Debug, Default, Clone)]
struct Measures {
    impressions: i64,
    clicks: i64,
    spend: f64,
    conversions: f64,
    revenue: f64,
}

#[derive(Debug, Clone)]
struct Row {
    account_name: String,
    campaign_name: String,
    campaign_type: String,
    campaign_status: String,
    currency_code: String,
    m: Measures,
}

/// Whether a record is one of the report's header rows (`Report Name: x`).
fn is_report_header(fields: &[String]) -> bool {
    let [one] = fields else { return false };
    let Some((label, _)) = one.split_once(':') else {
        return false;
    };
    !label.is_empty() && label.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
}

/// Whether a record is the copyright footer.
fn is_footer(fields: &[String]) -> bool {
    let [one] = fields else { return false };
    let t = one.trim();
    (t.starts_with('©') || t.starts_with('@') || t.starts_with("(c)"))
        && t.contains("Microsoft Corporation")
}

fn is_blank(fields: &[String]) -> bool {
    fields.iter().all(|f| f.trim().is_empty())
}

/// A count: `1234`, `1,234`, or `--`/empty for none.
fn count(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() || t == "--" {
        return Some(0);
    }
    t.replace(',', "").parse().ok()
}

/// An amount: `12.5`, `1,234.50`, or `--`/empty for none.
fn amount(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() || t == "--" {
        return Some(0.0);
    }
    t.replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// `2026-10-31`, `2026-10-31|7` (hourly), or the older `10/31/2026` and
/// `10/31/2026 12:00:00 AM|7`.
fn day(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let t = t.split('|').next().unwrap_or(t).trim();
    let t = t.split(' ').next().unwrap_or(t);
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%m/%d/%Y"))
        .ok()
}

/// The report's rows as one batch of [`campaign_performance_schema`],
/// ordered by day and campaign; `None` when it has no rows. Every error
/// names the line and column.
pub(crate) fn parse_report(
    text: &str,
    window: SyncWindow,
    time_zone: &str,
) -> Result<Option<RecordBatch>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut index: Option<Vec<usize>> = None;
    let mut width = 0;
    let mut announced: Option<usize> = None;
    let mut data_rows = 0usize;
    let mut footer_seen = false;
    let mut rows: BTreeMap<(NaiveDate, String, i64), Row> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("the report CSV cannot be read: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<String> = record.iter().map(str::to_string).collect();
        if is_blank(&fields) {
            continue;
        }
        if is_footer(&fields) {
            footer_seen = true;
            continue;
        }
        if footer_seen {
            return Err(format!("line {line}: a row after the report's footer"));
        }
        let Some(idx) = &index else {
            if is_report_header(&fields) {
                if let Some(n) = fields[0].strip_prefix("Rows:") {
                    announced = n.trim().replace(',', "").parse().ok();
                }
                continue;
            }
            let position = |name: &str| fields.iter().position(|f| f.trim() == name);
            let found: Vec<Option<usize>> = COLUMNS.iter().map(|c| position(c)).collect();
            if found.iter().all(Option::is_none) {
                return Err(format!(
                    "line {line}: expected the report's column header line, found {:?}",
                    fields.join(",")
                ));
            }
            if let Some(missing) = COLUMNS.iter().zip(&found).find(|(_, f)| f.is_none()) {
                return Err(format!(
                    "line {line}: the report has no column {} (its columns: {})",
                    missing.0,
                    fields.join(", ")
                ));
            }
            width = fields.len();
            index = Some(found.into_iter().map(|f| f.expect("checked")).collect());
            continue;
        };
        if fields.len() != width {
            return Err(format!(
                "line {line}: {} fields where the header has {width}",
                fields.len()
            ));
        }
        data_rows += 1;
        let get = |c: usize| fields[idx[c]].trim();
        let bad = |c: usize, what: &str| {
            format!(
                "line {line}, column {}: `{}` is not {what}",
                COLUMNS[c], fields[idx[c]]
            )
        };
        let d = day(get(0)).ok_or_else(|| bad(0, "a date"))?;
        if !window.contains(d) {
            return Err(format!(
                "line {line}: TimePeriod {d} is outside the requested {} to {}",
                window.start, window.end
            ));
        }
        let account = get(1);
        if account.is_empty() {
            return Err(bad(1, "an account id"));
        }
        let campaign: i64 = get(3).parse().map_err(|_| bad(3, "a campaign id"))?;
        let m = Measures {
            impressions: count(get(8)).ok_or_else(|| bad(8, "a whole number"))?,
            clicks: count(get(9)).ok_or_else(|| bad(9, "a whole number"))?,
            spend: amount(get(10)).ok_or_else(|| bad(10, "an amount"))?,
            conversions: amount(get(11)).ok_or_else(|| bad(11, "a number"))?,
            revenue: amount(get(12)).ok_or_else(|| bad(12, "an amount"))?,
        };
        let currency = get(7);
        if currency.is_empty() {
            return Err(bad(7, "a currency code"));
        }
        let row = rows
            .entry((d, account.to_string(), campaign))
            .or_insert_with(|| Row {
                account_name: String::new(),
                campaign_name: String::new(),
                campaign_type: String::new(),
                campaign_status: String::new(),
                currency_code: currency.to_string(),
                m: Measures::default(),
            });
        if row.currency_code != currency {
            return Err(format!(
                "line {line}: campaign {campaign} on {d} is in {currency} here and in {} before",
                row.currency_code
            ));
        }
        row.account_name = get(2).to_string();
        row.campaign_name = get(4).to_string();
        row.campaign_type = get(5).to_string();
        row.campaign_status = get(6).to_string();
        row.m.impressions += m.impressions;
        row.m.clicks += m.clicks;
        row.m.spend += m.spend;
        row.m.conversions += m.conversions;
        row.m.revenue += m.revenue;
    }
    if index.is_none() && (data_rows > 0 || announced.is_some_and(|n| n > 0)) {
        return Err("the report has no column header line".into());
    }
    if let Some(n) = announced
        && n != data_rows
    {
        return Err(format!(
            "the report's header says Rows: {n}, but it holds {data_rows} data rows (cut short?)"
        ));
    }
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(into_batch(rows, time_zone)?))
}

fn into_batch(
    rows: BTreeMap<(NaiveDate, String, i64), Row>,
    time_zone: &str,
) -> Result<RecordBatch, String> {
    let n = rows.len();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let mut dates = arrow::array::Date32Builder::with_capacity(n);
    let text = || StringBuilder::with_capacity(n, n * 16);
    let (mut account, mut account_name, mut campaign_name) = (text(), text(), text());
    let (mut campaign_type, mut status, mut currency, mut zone) = (text(), text(), text(), text());
    let mut campaign = Int64Builder::with_capacity(n);
    let (mut impressions, mut clicks) = (
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let mut spend = Float64Builder::with_capacity(n);
    let mut conversions = Float64Builder::with_capacity(n);
    let mut revenue = Float64Builder::with_capacity(n);
    for ((d, a, c), r) in rows {
        dates.append_value((d - epoch).num_days() as i32);
        account.append_value(a);
        account_name.append_value(r.account_name);
        campaign.append_value(c);
        campaign_name.append_value(r.campaign_name);
        campaign_type.append_value(r.campaign_type);
        status.append_value(r.campaign_status);
        currency.append_value(r.currency_code);
        impressions.append_value(r.m.impressions);
        clicks.append_value(r.m.clicks);
        // Sums of cents in binary floating point: round back to the cent.
        spend.append_value((r.m.spend * 100.0).round() / 100.0);
        conversions.append_value((r.m.conversions * 100.0).round() / 100.0);
        revenue.append_value((r.m.revenue * 100.0).round() / 100.0);
        zone.append_value(time_zone);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(dates.finish()),
        Arc::new(account.finish()),
        Arc::new(account_name.finish()),
        Arc::new(campaign.finish()),
        Arc::new(campaign_name.finish()),
        Arc::new(campaign_type.finish()),
        Arc::new(status.finish()),
        Arc::new(currency.finish()),
        Arc::new(impressions.finish()),
        Arc::new(clicks.finish()),
        Arc::new(spend.finish()),
        Arc::new(conversions.finish()),
        Arc::new(revenue.finish()),
        Arc::new(zone.finish()),
    ];
    RecordBatch::try_new(campaign_performance_schema(), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> SyncWindow {
        SyncWindow {
            start: "2026-10-01".parse().unwrap(),
            end: "2026-10-31".parse().unwrap(),
        }
    }

    const HEADER: &str = "\"TimePeriod\",\"AccountId\",\"AccountName\",\"CampaignId\",\"CampaignName\",\
        \"CampaignType\",\"CampaignStatus\",\"CurrencyCode\",\"Impressions\",\"Clicks\",\"Spend\",\
        \"Conversions\",\"Revenue\"";

    #[test]
    fn header_rows_and_footer_are_not_data() {
        let text = format!(
            "\u{feff}\"Report Name: kpi\"\n\"Report Time: 10/1/2026, 10/31/2026\"\n\
             \"Time Zone: (GMT+01:00) Brussels, Copenhagen, Madrid, Paris\"\n\"Rows: 2\"\n\n{HEADER}\n\
             \"2026-10-02\",\"150\",\"Example\",\"7\",\"Brand, ES\",\"Search & content\",\"Active\",\"EUR\",\"1,200\",\"34\",\"1,012.50\",\"2.5\",\"--\"\n\
             \"2026-10-01\",\"150\",\"Example\",\"7\",\"Brand, ES\",\"Search & content\",\"Active\",\"EUR\",\"10\",\"1\",\"0.75\",\"0\",\"90.00\"\n\
             \n\"©2026 Microsoft Corporation. All rights reserved. \"\n"
        );
        let batch = parse_report(&text, window(), "BrusselsCopenhagenMadridParis")
            .unwrap()
            .unwrap();
        let shown = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(shown.contains("| 2026-10-01 | 150        | Example      | 7           | Brand, ES     | Search & content | Active          | EUR           | 10          | 1      | 0.75   | 0.0         | 90.0    | BrusselsCopenhagenMadridParis |"), "{shown}");
        assert!(shown.contains("| 2026-10-02 | 150        | Example      | 7           | Brand, ES     | Search & content | Active          | EUR           | 1200        | 34     | 1012.5 | 2.5         | 0.0     |"), "{shown}");
    }

    #[test]
    fn wrong_reports_are_named() {
        let parse = |t: &str| parse_report(t, window(), "X").unwrap_err();
        let row = "\"2026-10-02\",\"150\",\"A\",\"7\",\"C\",\"Search\",\"Active\",\"EUR\",\"1\",\"1\",\"1\",\"0\",\"0\"";
        assert_eq!(
            parse(&format!("\"Rows: 2\"\n{HEADER}\n{row}\n")),
            "the report's header says Rows: 2, but it holds 1 data rows (cut short?)"
        );
        assert_eq!(
            parse("\"TimePeriod\",\"AccountId\"\n"),
            "line 1: the report has no column AccountName (its columns: TimePeriod, AccountId)"
        );
        assert_eq!(
            parse(&format!(
                "{HEADER}\n{}\n",
                row.replace("\"1\",\"1\",\"1\"", "\"1\",\"1\",\"n/a\"")
            )),
            "line 2, column Spend: `n/a` is not an amount"
        );
        assert_eq!(
            parse(&format!(
                "{HEADER}\n{}\n",
                row.replace("2026-10-02", "2026-11-02")
            )),
            "line 2: TimePeriod 2026-11-02 is outside the requested 2026-10-01 to 2026-10-31"
        );
        assert_eq!(
            parse(&format!("{HEADER}\n\"2026-10-02\",\"150\"\n")),
            "line 2: 2 fields where the header has 13"
        );
        assert!(parse("garbage,here\n").starts_with("line 1: expected the report's column header"));
        // No rows at all, with or without the header rows, is no data.
        assert!(
            parse_report("\"Rows: 0\"\n", window(), "X")
                .unwrap()
                .is_none()
        );
        assert!(
            parse_report(&format!("{HEADER}\n"), window(), "X")
                .unwrap()
                .is_none()
        );
        assert!(parse_report("", window(), "X").unwrap().is_none());
    }

    #[test]
    fn dates_and_numbers() {
        assert_eq!(day("2026-10-31|7"), "2026-10-31".parse().ok());
        assert_eq!(day("10/31/2026 12:00:00 AM|7"), "2026-10-31".parse().ok());
        assert_eq!(day("31.10.2026"), None);
        assert_eq!(count("1,234"), Some(1234));
        assert_eq!(count("--"), Some(0));
        assert_eq!(count("1.5"), None);
        assert_eq!(amount("1,234.50"), Some(1234.5));
        assert_eq!(amount("NaN"), None);
    }

    #[test]
    fn the_request_and_the_poll() {
        let body = submit_body("150000001", window(), "BrusselsCopenhagenMadridParis");
        let r = &body["ReportRequest"];
        assert_eq!(r["Type"], "CampaignPerformanceReportRequest");
        assert_eq!(r["Aggregation"], "Daily");
        assert_eq!(r["Scope"]["AccountIds"], json!([150000001]));
        assert_eq!(
            r["Time"]["CustomDateRangeStart"],
            json!({"Day": 1, "Month": 10, "Year": 2026})
        );
        assert_eq!(
            r["Time"]["CustomDateRangeEnd"],
            json!({"Day": 31, "Month": 10, "Year": 2026})
        );
        assert_eq!(r["Columns"].as_array().unwrap().len(), COLUMNS.len());
        let s = |v: Value| poll_status(&v);
        assert_eq!(
            s(json!({"ReportRequestStatus": {"Status": "Pending"}})),
            Ok(Status::Pending)
        );
        assert_eq!(
            s(
                json!({"ReportRequestStatus": {"Status": "Success", "ReportDownloadUrl": "http://x/r.zip"}})
            ),
            Ok(Status::Success(Some("http://x/r.zip".into())))
        );
        assert_eq!(
            s(json!({"ReportRequestStatus": {"Status": "Success", "ReportDownloadUrl": null}})),
            Ok(Status::Success(None))
        );
        assert_eq!(
            s(json!({"ReportRequestStatus": {"Status": "Error"}})),
            Ok(Status::Error)
        );
        assert!(
            s(json!({"ReportRequestStatus": {"Status": "Done"}}))
                .unwrap_err()
                .contains("\"Done\"")
        );
        assert!(s(json!({})).is_err());
    }
}
