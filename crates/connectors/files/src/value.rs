//! One cell of text into the value of its column: numbers as spreadsheets
//! write them (decimal comma, grouped thousands, a currency sign), dates in
//! ISO 8601 or the configured format. A cell that does not parse is a bad
//! row, never a zero or a guess.

use arrow::datatypes::DataType;
use chrono::NaiveDate;
use serde::Deserialize;

/// The decimal separator of numbers written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Decimal {
    /// `1234.56`, thousands grouped with `,`.
    #[serde(rename = ".")]
    Point,
    /// `1234,56`, thousands grouped with `.`.
    #[serde(rename = ",")]
    Comma,
}

/// A parsed cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Date(NaiveDate),
    Bool(bool),
}

/// `text` (`None`: the file has no such column, or the JSON value is null)
/// as a value of `data_type`; the error says why not, in words that follow
/// the quoted cell ("is not a number").
pub(crate) fn parse_cell(
    text: Option<&str>,
    data_type: &DataType,
    nullable: bool,
    decimal: Decimal,
    date_format: Option<&str>,
) -> Result<Cell, String> {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    let Some(text) = text else {
        return match nullable {
            true => Ok(Cell::Null),
            false => Err("is empty, and the column needs a value".to_string()),
        };
    };
    match data_type {
        DataType::Utf8 => Ok(Cell::Str(text.to_string())),
        DataType::Float64 => parse_number(text, decimal)
            .map(Cell::Float)
            .ok_or_else(|| not_a_number(decimal)),
        DataType::Int64 => {
            let n = parse_number(text, decimal).ok_or_else(|| not_a_number(decimal))?;
            if n.fract() != 0.0 || n.abs() > 9.0e15 {
                return Err("is not a whole number".to_string());
            }
            Ok(Cell::Int(n as i64))
        }
        DataType::Date32 => parse_date(text, date_format).map(Cell::Date),
        DataType::Boolean => parse_bool(text)
            .map(Cell::Bool)
            .ok_or_else(|| "is not a yes/no value (true/false, yes/no, 1/0, t/f, y/n)".to_string()),
        other => Err(format!("cannot be read into a {other} column")),
    }
}

/// A yes/no cell as CRMs, spreadsheets and databases write it (PostgreSQL's
/// text form of a boolean is `t` / `f`).
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn not_a_number(decimal: Decimal) -> String {
    match decimal {
        Decimal::Point => "is not a number (read with `.` as the decimal separator; set \
                           decimal = \",\" if the file writes 12,5)"
            .to_string(),
        Decimal::Comma => "is not a number (read with `,` as the decimal separator; set \
                           decimal = \".\" if the file writes 12.5)"
            .to_string(),
    }
}

/// A number as people write it in a spreadsheet: an optional sign, digits
/// with the thousands grouped by the other separator (or a space) in
/// threes, the decimal separator, a currency sign or `%`-less amount. `None`
/// for anything else: `12,5` read with `.` decimals is not 125.
pub(crate) fn parse_number(text: &str, decimal: Decimal) -> Option<f64> {
    let (dec, group) = match decimal {
        Decimal::Point => ('.', ','),
        Decimal::Comma => (',', '.'),
    };
    let mut s = text.trim();
    // A currency sign before or after the amount (`€1.234,56`, `1 234,56 €`).
    for sign in ['€', '$', '£'] {
        s = s.trim_start_matches(sign).trim_end_matches(sign).trim();
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match s.split_once(dec) {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let is_space = |c: char| c == ' ' || c == '\u{a0}' || c == '\u{202f}';
    let groups: Vec<&str> = int.split(|c| c == group || is_space(c)).collect();
    if groups
        .iter()
        .any(|g| g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()))
    {
        // `.5` is a number; `1..2` and `1,,2` are not.
        if !(int.is_empty() && frac.is_some()) {
            return None;
        }
    }
    // Grouped thousands: a first group of 1 to 3 digits that is not 0
    // (`0.125` in a file with decimal commas is not 125), then threes.
    if groups.len() > 1
        && (groups[0].len() > 3
            || groups[0].starts_with('0')
            || groups[1..].iter().any(|g| g.len() != 3))
    {
        return None;
    }
    let mut digits: String = groups.concat();
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.push('.');
        digits.push_str(f);
    }
    if digits.is_empty() || digits == "." {
        return None;
    }
    let n: f64 = digits.parse().ok()?;
    Some(if negative { -n } else { n })
}

/// The years a marketing date can have: anything else is a misread (a
/// two-digit year taken as year 26, a spreadsheet's zero date 1899-12-30),
/// and would also make a sync rebuild centuries of days.
const YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;

/// A date in `format`, or by default ISO 8601 (`2026-10-31`, or the day of
/// `2026-10-31T08:00:00Z` / `2026-10-31 08:00`). Only a time may follow the
/// date; the year must be in [`YEARS`].
pub(crate) fn parse_date(text: &str, format: Option<&str>) -> Result<NaiveDate, String> {
    let day = match format {
        Some(f) => {
            let a_time = |rest: &str| rest.is_empty() || rest.starts_with([' ', 'T']);
            NaiveDate::parse_and_remainder(text, f)
                .ok()
                .filter(|(_, rest)| a_time(rest))
                .map(|(d, _)| d)
                .ok_or_else(|| format!("is not a date in the format \"{f}\" (date_format)"))?
        }
        None => {
            let day = match text.get(10..11) {
                Some("T") | Some(" ") => &text[..10],
                _ => text,
            };
            // Four digits of year, two of month and day: chrono alone
            // would take `26-10-31` as the year 26.
            let shaped = day.len() == 10
                && day.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            shaped
                .then(|| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
                .flatten()
                .ok_or_else(|| {
                    "is not a date in YYYY-MM-DD; set date_format (e.g. \"%d/%m/%Y\") for \
                     another layout"
                        .to_string()
                })?
        }
    };
    use chrono::Datelike;
    if !YEARS.contains(&day.year()) {
        return Err(format!(
            "is read as {day}, outside {} to {}; check date_format",
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_either_separator() {
        let p = |s, d| parse_number(s, d);
        assert_eq!(p("1234.56", Decimal::Point), Some(1234.56));
        assert_eq!(p("1,234.56", Decimal::Point), Some(1234.56));
        assert_eq!(p("1.234,56", Decimal::Comma), Some(1234.56));
        assert_eq!(p("1 234,56 €", Decimal::Comma), Some(1234.56));
        assert_eq!(p("€1.234.567,5", Decimal::Comma), Some(1234567.5));
        assert_eq!(p("-12,5", Decimal::Comma), Some(-12.5));
        assert_eq!(p(",5", Decimal::Comma), Some(0.5));
        assert_eq!(p("42", Decimal::Comma), Some(42.0));
        // A comma where a point is expected is never silently dropped.
        assert_eq!(p("12,5", Decimal::Point), None);
        assert_eq!(p("1.5", Decimal::Comma), None);
        assert_eq!(p("0.125", Decimal::Comma), None);
        assert_eq!(p("0,125", Decimal::Point), None);
        assert_eq!(p("0,125", Decimal::Comma), Some(0.125));
        assert_eq!(p("1,2345.6", Decimal::Point), None);
        assert_eq!(p("12a", Decimal::Point), None);
        assert_eq!(p("1.2.3", Decimal::Point), None);
        assert_eq!(p("-", Decimal::Point), None);
        assert_eq!(p("n/a", Decimal::Point), None);
    }

    #[test]
    fn cells_by_type() {
        let c = |t, ty: DataType, null| parse_cell(t, &ty, null, Decimal::Comma, None);
        assert_eq!(
            c(Some("12,50"), DataType::Float64, false),
            Ok(Cell::Float(12.5))
        );
        assert_eq!(
            c(Some("1.200"), DataType::Int64, false),
            Ok(Cell::Int(1200))
        );
        assert_eq!(
            c(Some("3,5"), DataType::Int64, false),
            Err("is not a whole number".to_string())
        );
        assert_eq!(c(Some("  "), DataType::Utf8, true), Ok(Cell::Null));
        assert!(
            c(None, DataType::Float64, false)
                .unwrap_err()
                .contains("empty")
        );
        assert_eq!(
            c(Some(" Agencia "), DataType::Utf8, false),
            Ok(Cell::Str("Agencia".into()))
        );
        assert_eq!(
            c(Some("TRUE"), DataType::Boolean, false),
            Ok(Cell::Bool(true))
        );
        assert_eq!(
            c(Some("f"), DataType::Boolean, false),
            Ok(Cell::Bool(false))
        );
        assert_eq!(
            c(Some("No"), DataType::Boolean, false),
            Ok(Cell::Bool(false))
        );
        assert!(
            c(Some("won"), DataType::Boolean, false)
                .unwrap_err()
                .contains("yes/no")
        );
    }

    #[test]
    fn dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(parse_date("2026-10-31", None), Ok(d("2026-10-31")));
        assert_eq!(
            parse_date("2026-10-31T08:00:00Z", None),
            Ok(d("2026-10-31"))
        );
        assert_eq!(
            parse_date("31/10/2026", Some("%d/%m/%Y")),
            Ok(d("2026-10-31"))
        );
        assert_eq!(
            parse_date("31/10/2026 08:00", Some("%d/%m/%Y")),
            Ok(d("2026-10-31"))
        );
        assert!(
            parse_date("31/10/2026", None)
                .unwrap_err()
                .contains("date_format")
        );
        assert!(parse_date("2026-02-30", None).is_err());
        // Years chrono would take: two digits, or two left over.
        assert!(parse_date("26-10-31", None).is_err());
        assert!(
            parse_date("31/10/26", Some("%d/%m/%Y"))
                .unwrap_err()
                .contains("outside 1990 to 2100")
        );
        assert!(parse_date("31/10/2026", Some("%d/%m/%y")).is_err());
        assert!(
            parse_date("1899-12-30", None)
                .unwrap_err()
                .contains("outside")
        );
        assert!(parse_date("31/10/2026x", Some("%d/%m/%Y")).is_err());
        assert_eq!(
            parse_date("31/10/26", Some("%d/%m/%y")),
            Ok(d("2026-10-31"))
        );
        assert!(parse_date("10/31/2026", Some("%d/%m/%Y")).is_err());
    }
}
