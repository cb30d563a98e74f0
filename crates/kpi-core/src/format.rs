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
    /// What a missing value reads as: `n/a`, or `n/d` (no disponible).
    pub fn not_available(self) -> &'static str {
        match self {
            Locale::En => "n/a",
            Locale::Es => "n/d",
        }
    }

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
        return locale.not_available().to_string();
    };
    match unit {
        Unit::Count => number(v, if v.fract() == 0.0 { 0 } else { 1 }, locale),
        Unit::Currency => money(v, currency, locale),
        Unit::Percent => percent(number(v * 100.0, 2, locale), locale),
        Unit::Ratio => number(v, 2, locale),
        Unit::Position => number(v, 1, locale),
        Unit::Seconds => {
            let total = v.round() as i64;
            format!("{}:{:02}", total / 60, total % 60)
        }
    }
}

/// The space between a number and its unit where a language puts one: a
/// no-break space, so that "134,75" and "€" never wrap onto two lines.
pub const NBSP: char = '\u{a0}';

/// A number already scaled to percent, with the sign as each language writes
/// it: English `12.5%`, Spanish `12,5 %` (with a no-break space).
pub fn percent(n: String, locale: Locale) -> String {
    match locale {
        Locale::En => format!("{n}%"),
        Locale::Es => format!("{n}{NBSP}%"),
    }
}

/// An amount with its currency: the symbol where the currency has a
/// well-known one (before the number in English, after it in Spanish, as each
/// writes it), else the ISO code after the number.
pub fn money(v: f64, currency: &str, locale: Locale) -> String {
    money_with(v, 2, currency, locale)
}

/// An amount with its currency, rounded to whole units (`€296,853`), for
/// tables where the cents do not matter.
pub fn money_whole(v: f64, currency: &str, locale: Locale) -> String {
    money_with(v, 0, currency, locale)
}

fn money_with(v: f64, decimals: usize, currency: &str, locale: Locale) -> String {
    let symbol = match currency {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        _ => None,
    };
    let n = number(v.abs(), decimals, locale);
    let sign = if v < 0.0 && n.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match (symbol, locale) {
        (Some(sym), Locale::En) => format!("{sign}{sym}{n}"),
        (Some(sym), Locale::Es) => format!("{sign}{n}{NBSP}{sym}"),
        (None, _) => format!("{sign}{n}{NBSP}{currency}"),
    }
}

/// A relative change as a signed percentage (`+12.5 %`); `None` is "n/a".
pub fn change(value: Option<f64>, locale: Locale) -> String {
    match value {
        None => locale.not_available().to_string(),
        Some(v) => {
            let sign = if v > 0.0 { "+" } else { "" };
            percent(format!("{sign}{}", number(v * 100.0, 1, locale)), locale)
        }
    }
}

/// A change in percentage points (`+14.7 pp`, Spanish `+14,7 p. p.`), for
/// rates: `delta` is the difference of two fractions (0.147 is 14.7 points).
pub fn points(delta: Option<f64>, locale: Locale) -> String {
    match delta {
        None => locale.not_available().to_string(),
        Some(d) => {
            let n = number(d * 100.0, 1, locale);
            let sign = if d > 0.0 && n.chars().any(|c| c.is_ascii_digit() && c != '0') {
                "+"
            } else {
                ""
            };
            match locale {
                Locale::En => format!("{sign}{n}{NBSP}pp"),
                Locale::Es => format!("{sign}{n}{NBSP}p.{NBSP}p."),
            }
        }
    }
}

/// How a KPI moved against a comparison, as a reader expects it: rates (a
/// percentage such as MQL to SQL) in percentage points, from `current` and
/// `base`; amounts, counts and ratios by `relative` change. Also returns the
/// signed movement the tone is judged by.
pub fn kpi_change(
    unit: Unit,
    current: Option<f64>,
    base: Option<f64>,
    relative: Option<f64>,
    locale: Locale,
) -> (String, Option<f64>) {
    match unit {
        Unit::Percent => {
            let delta = current.zip(base).map(|(c, b)| c - b);
            (points(delta, locale), delta)
        }
        _ => (change(relative, locale), relative),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_unit_and_locale() {
        assert_eq!(
            value(Some(66347.2583), Unit::Currency, "EUR", Locale::En),
            "€66,347.26"
        );
        assert_eq!(
            value(Some(66347.2583), Unit::Currency, "EUR", Locale::Es),
            "66.347,26\u{a0}€"
        );
        assert_eq!(
            value(Some(12.0), Unit::Currency, "CHF", Locale::En),
            "12.00\u{a0}CHF"
        );
        assert_eq!(value(None, Unit::Ratio, "EUR", Locale::Es), "n/d");
        assert_eq!(
            value(Some(0.0088795), Unit::Percent, "EUR", Locale::Es),
            "0,89\u{a0}%"
        );
        assert_eq!(
            value(Some(0.0088795), Unit::Percent, "EUR", Locale::En),
            "0.89%"
        );
        assert_eq!(
            value(Some(4321716.0), Unit::Count, "EUR", Locale::En),
            "4,321,716"
        );
        assert_eq!(value(Some(76.97), Unit::Seconds, "EUR", Locale::En), "1:17");
        assert_eq!(value(None, Unit::Ratio, "EUR", Locale::En), "n/a");
        assert_eq!(
            value(Some(-1234.5), Unit::Currency, "USD", Locale::En),
            "-$1,234.50"
        );
        assert_eq!(change(Some(0.1234), Locale::En), "+12.3%");
        assert_eq!(change(Some(-0.05), Locale::Es), "-5,0\u{a0}%");
        assert_eq!(number(-0.0001, 2, Locale::En), "0.00");
        assert_eq!(number(999.999, 2, Locale::En), "1,000.00");
        assert_eq!(money_whole(296853.25, "EUR", Locale::En), "€296,853");
        assert_eq!(money_whole(296853.75, "EUR", Locale::Es), "296.854\u{a0}€");
        assert_eq!(money_whole(-1500.4, "CHF", Locale::En), "-1,500\u{a0}CHF");
    }

    #[test]
    fn rates_move_in_points_and_amounts_in_percent() {
        // MQL to SQL from 31.98 % to 46.69 %: +14.7 points, not +46.0 %.
        let (text, delta) = kpi_change(
            Unit::Percent,
            Some(0.4669),
            Some(0.3198),
            Some(0.46),
            Locale::En,
        );
        assert_eq!(text, "+14.7\u{a0}pp");
        assert!((delta.unwrap() - 0.1471).abs() < 1e-9);
        assert_eq!(
            kpi_change(Unit::Percent, Some(0.30), Some(0.35), None, Locale::Es).0,
            "-5,0\u{a0}p.\u{a0}p."
        );
        assert_eq!(
            kpi_change(Unit::Percent, Some(0.3), None, None, Locale::En).0,
            "n/a"
        );
        assert_eq!(
            kpi_change(
                Unit::Currency,
                Some(120.0),
                Some(100.0),
                Some(0.2),
                Locale::En
            )
            .0,
            "+20.0%"
        );
    }
}
