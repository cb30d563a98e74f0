//! Rest.li 2.0 query syntax, which the versioned Marketing API requires
//! (with `X-Restli-Protocol-Version: 2.0.0`): records as
//! `(key:value,key:value)`, lists as `List(a,b)`, and only the values inside
//! percent-encoded. The structure's own `(`, `)`, `:` and `,` must reach
//! LinkedIn as they are, so these queries are written here and put in the
//! URL whole; a form encoder (`HttpRequest::query`) would escape them and
//! LinkedIn would read `%28start%3A...` as one opaque string.

use chrono::{Datelike, NaiveDate};
use kpi_connector::SyncWindow;
use serde_json::Value;

/// Percent-encodes a Rest.li value: everything but the unreserved
/// characters of RFC 3986 (`urn:li:x:1` becomes `urn%3Ali%3Ax%3A1`).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `(year:2024,month:6,day:1)`.
fn date(d: NaiveDate) -> String {
    format!("(year:{},month:{},day:{})", d.year(), d.month(), d.day())
}

/// `(start:(year:..,month:..,day:..),end:(...))`, both days included, as
/// `adAnalytics` reads `dateRange`.
pub(crate) fn date_range(w: SyncWindow) -> String {
    format!("(start:{},end:{})", date(w.start), date(w.end))
}

/// `List(a,b)` with each item encoded.
pub(crate) fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(encode).collect();
    format!("List({})", items.join(","))
}

/// `urn:li:sponsoredAccount:<id>`.
pub(crate) fn account_urn(id: &str) -> String {
    format!("urn:li:sponsoredAccount:{id}")
}

/// `url?k=v&k=v`, values already in Rest.li form.
pub(crate) fn with_query(url: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{url}?{}", query.join("&"))
}

/// The number at the end of `urn:li:<kind>:<number>`; a bare number too.
pub(crate) fn urn_number(value: &Value, kind: &str) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let digits = s
                .strip_prefix("urn:li:")
                .and_then(|rest| rest.strip_prefix(kind))
                .and_then(|rest| rest.strip_prefix(':'))
                .unwrap_or(s);
            digits.parse().ok()
        }
        _ => None,
    }
}

/// A Rest.li `Date` record, `{"year": 2024, "month": 6, "day": 1}`.
pub(crate) fn parse_date(value: &Value) -> Option<NaiveDate> {
    let part = |k: &str| value.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok());
    NaiveDate::from_ymd_opt(part("year")? as i32, part("month")?, part("day")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rest_li_syntax() {
        let w = SyncWindow {
            start: "2024-06-01".parse().unwrap(),
            end: "2024-06-30".parse().unwrap(),
        };
        assert_eq!(
            date_range(w),
            "(start:(year:2024,month:6,day:1),end:(year:2024,month:6,day:30))"
        );
        assert_eq!(
            list([account_urn("123").as_str()]),
            "List(urn%3Ali%3AsponsoredAccount%3A123)"
        );
        assert_eq!(encode("a b,(c)"), "a%20b%2C%28c%29");
        assert_eq!(
            with_query("http://x/rest/adAnalytics", &[("q", "analytics".into())]),
            "http://x/rest/adAnalytics?q=analytics"
        );
    }

    #[test]
    fn urn_numbers_and_dates() {
        let n = |v: Value| urn_number(&v, "sponsoredCampaign");
        assert_eq!(n(json!("urn:li:sponsoredCampaign:1111")), Some(1111));
        assert_eq!(n(json!(1111)), Some(1111));
        assert_eq!(n(json!("1111")), Some(1111));
        assert_eq!(n(json!("urn:li:sponsoredCreative:5")), None);
        assert_eq!(n(json!(null)), None);
        assert_eq!(
            parse_date(&json!({"month": 1, "day": 2, "year": 2023})),
            "2023-01-02".parse().ok()
        );
        assert_eq!(
            parse_date(&json!({"month": 2, "day": 30, "year": 2023})),
            None
        );
        assert_eq!(parse_date(&json!({"month": 2, "year": 2023})), None);
    }

    /// The URL crate keeps a query written whole as it is, so the structure
    /// reaches LinkedIn unescaped and the encoded URN stays encoded.
    #[test]
    fn urls_keep_the_rest_li_structure() {
        let url = with_query(
            "https://api.linkedin.com/rest/adAnalytics",
            &[
                ("dateRange", "(start:(year:2024,month:6,day:1))".into()),
                ("accounts", list(["urn:li:sponsoredAccount:1"])),
            ],
        );
        let parsed = kpi_connector::HttpRequest::get(&url)
            .query("pageToken", "a/b")
            .url()
            .unwrap();
        assert_eq!(
            parsed.as_str(),
            "https://api.linkedin.com/rest/adAnalytics?dateRange=(start:(year:2024,month:6,day:1))\
             &accounts=List(urn%3Ali%3AsponsoredAccount%3A1)&pageToken=a%2Fb"
        );
    }
}
