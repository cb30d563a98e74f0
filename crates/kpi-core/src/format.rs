//! Formatting KPI values for people: by unit and locale.
//!
//! Used by the terminal table of `kpi kpis` (and meant for the reports): a
//! currency with its code and separators, a fraction as a percentage, seconds
//! as minutes:seconds, NULL as "n/a".

use crate::Unit;

/// Number formatting conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    /// 1,234.56
    En,
    /// 1.234,56
    Es,
}

impl Locale {
    /// The locale for a `[reporting] locale` value (`en` or `es`).
    pub fn from_code(code: &str) -> Self {
        match code {
            "es" => Locale::Es,
            _ => Locale::En,
        }
    }
}

/// `value` with `decimals` decimals and thousands separators.
pub fn number(value: f64, decimals: usize, locale: Locale) -> String {
    let (thousands, decimal) = match locale {
        Locale::En => (',', '.'),
        Locale::Es => ('.', ','),
    };
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(thousands);
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{decimal}{frac}")
    }
}

/// A KPI value in its unit; `None` is "n/a".
pub fn value(value: Option<f64>, unit: Unit, currency: &str, locale: Locale) -> String {
    let Some(v) = value else {
        return "n/a".to_string();
    };
    match unit {
        Unit::Count => number(v, if v.fract() == 0.0 { 0 } else { 1 }, locale),
        Unit::Currency => format!("{} {currency}", number(v, 2, locale)),
        Unit::Percent => format!("{} %", number(v * 100.0, 2, locale)),
        Unit::Ratio => number(v, 2, locale),
        Unit::Position => number(v, 1, locale),
        Unit::Seconds => {
            let total = v.round() as i64;
            format!("{}:{:02}", total / 60, total % 60)
        }
    }
}

/// A relative change as a signed percentage (`+12.5 %`); `None` is "n/a".
pub fn change(value: Option<f64>, locale: Locale) -> String {
    match value {
        None => "n/a".to_string(),
        Some(v) => {
            let sign = if v > 0.0 { "+" } else { "" };
            format!("{sign}{} %", number(v * 100.0, 1, locale))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_unit_and_locale() {
        assert_eq!(
            value(Some(66347.2583), Unit::Currency, "EUR", Locale::En),
            "66,347.26 EUR"
        );
        assert_eq!(
            value(Some(66347.2583), Unit::Currency, "EUR", Locale::Es),
            "66.347,26 EUR"
        );
        assert_eq!(
            value(Some(0.0088795), Unit::Percent, "EUR", Locale::En),
            "0.89 %"
        );
        assert_eq!(
            value(Some(4321716.0), Unit::Count, "EUR", Locale::En),
            "4,321,716"
        );
        assert_eq!(value(Some(76.97), Unit::Seconds, "EUR", Locale::En), "1:17");
        assert_eq!(value(None, Unit::Ratio, "EUR", Locale::En), "n/a");
        assert_eq!(
            value(Some(-1234.5), Unit::Currency, "USD", Locale::En),
            "-1,234.50 USD"
        );
        assert_eq!(change(Some(0.1234), Locale::En), "+12.3 %");
        assert_eq!(change(Some(-0.05), Locale::Es), "-5,0 %");
        assert_eq!(number(-0.0001, 2, Locale::En), "0.00");
        assert_eq!(number(999.999, 2, Locale::En), "1,000.00");
    }
}
