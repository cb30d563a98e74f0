//! Cron expressions evaluated on the wall clock of a time zone.
//!
//! `croner` parses the expression and says whether a wall clock time matches
//! it; turning matching wall clock times into instants is done here, because
//! croner's own time zone search does not give the rules this project promises
//! (DESIGN.md, "Schedules") for every kind of expression:
//!
//! * croner runs a fixed-time job (`30 2 * * *`) once at the end of a
//!   spring-forward gap and once at the first of two repeated times, as we want;
//! * but it drops an interval job's times that fall in a gap (`*/15 2 * * *`
//!   does not run at all on the day the clocks go forward) and runs them twice
//!   in a repeated hour (`0 * * * *` runs at 02:00 CEST and again at 02:00 CET).
//!
//! Our rule, for every expression: each matching wall clock time runs once.
//! A time that does not exist (skipped by a gap) runs at the first instant
//! after the gap; a time that exists twice runs at its first occurrence.
//! Several times that land on the same instant (`*/15 2 * * *` in a gap, all
//! moved to 03:00) run once. Consequently, in a repeated hour nothing runs
//! during its second pass: `*/15 * * * *` in Europe/Madrid on 2026-10-25 runs
//! at 02:00, 02:15, 02:30, 02:45 CEST and next at 03:00 CET, an hour later.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The five fields, their names in error messages, and their ranges.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Longest stretch of wall clock time a zone has ever skipped (Samoa skipped
/// 2011-12-30 entirely); the gap search gives up beyond it.
const MAX_GAP: TimeDelta = TimeDelta::hours(48);

/// A parsed five-field cron expression:
/// `minute hour day-of-month month day-of-week`.
///
/// Accepted: numbers, `*`, lists (`1,15`), ranges (`1-5`), steps (`*/15`),
/// month names in the month field (`JAN`), day names in the day-of-week field
/// (`MON`, 0 and 7 are Sunday), `L` in day-of-month for the last day of the
/// month, and croner's `W`, `#` and `5L` extensions. As in Vixie cron, when
/// both day-of-month and day-of-week are restricted a day matching either runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    text: String,
    cron: Cron,
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression \"{expr}\": {reason}")]
pub struct CronExprError {
    /// The expression as written.
    pub expr: String,
    /// Which field is wrong and why.
    pub reason: String,
}

impl FromStr for CronExpr {
    type Err = CronExprError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| CronExprError {
            expr: text.to_string(),
            reason,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        for (i, field) in fields.iter().enumerate() {
            check_field(i, field).map_err(fail)?;
        }
        let parser = parser();
        let cron = match parser.parse(text) {
            Ok(cron) => cron,
            Err(whole) => {
                // croner's messages do not say which field is wrong; find it by
                // parsing each field alone.
                for (i, field) in fields.iter().enumerate() {
                    let mut alone = ["*"; 5];
                    alone[i] = field;
                    if let Err(e) = parser.parse(&alone.join(" ")) {
                        return Err(fail(format!("{} \"{field}\": {e}", FIELDS[i].0)));
                    }
                }
                return Err(fail(whole.to_string()));
            }
        };
        // `0 0 31 2 *` parses but never runs; say so now rather than letting
        // the schedule sit silently forever. croner searches about 3000 years
        // before giving up, which takes some milliseconds, once per load.
        let epoch = NaiveDateTime::parse_from_str("2000-01-01 00:00", "%Y-%m-%d %H:%M")
            .expect("valid literal");
        if cron.find_next_occurrence(&epoch, true).is_err() {
            return Err(fail("it never matches a real date".to_string()));
        }
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// Range and name checks croner does not report precisely: it says "Number
/// out of bounds" without the field, and it accepts `MON` in the month field
/// (as January), because it replaces names before splitting the fields.
fn check_field(index: usize, field: &str) -> Result<(), String> {
    let (name, min, max) = FIELDS[index];
    for item in field.split(',') {
        if item.is_empty() {
            return Err(format!("{name} \"{field}\" has an empty list item"));
        }
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err(format!(
                        "{name} step \"{step}\" must be a whole number of at least 1"
                    ));
                }
            }
        }
        // `5#2` (second Friday): only the weekday is a value of this field.
        let base = match (index, base.split_once('#')) {
            (4, Some((day, _))) => day,
            _ => base,
        };
        for part in base.split('-') {
            let upper = part.to_ascii_uppercase();
            if part.is_empty() || part == "*" || part == "?" {
                continue;
            }
            if let Ok(value) = part.parse::<u32>() {
                if value < min || value > max {
                    return Err(format!("{name} {value} out of range ({min}-{max})"));
                }
                continue;
            }
            let known = match index {
                2 => {
                    matches!(upper.as_str(), "L" | "W" | "LW")
                        || upper
                            .strip_suffix('W')
                            .is_some_and(|d| d.parse::<u32>().is_ok())
                }
                3 => MONTH_NAMES.contains(&upper.as_str()),
                4 => {
                    DAY_NAMES.contains(&upper.as_str())
                        || upper == "L"
                        || upper.strip_suffix('L').is_some_and(|d| {
                            DAY_NAMES.contains(&d) || d.parse::<u32>().is_ok_and(|n| n <= 7)
                        })
                }
                _ => false,
            };
            if !known {
                let hint = match index {
                    3 => " (use 1-12 or JAN-DEC)",
                    4 => " (use 0-7 or SUN-SAT)",
                    2 => " (use 1-31 or L for the last day)",
                    _ => "",
                };
                return Err(format!("{name} \"{part}\" is not a valid value{hint}"));
            }
        }
    }
    Ok(())
}

impl CronExpr {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a wall clock time matches the expression (seconds ignored).
    pub fn matches_local(&self, local: NaiveDateTime) -> bool {
        let minute = local.with_second(0).and_then(|t| t.with_nanosecond(0));
        minute.is_some_and(|t| self.cron.is_time_matching(&t).unwrap_or(false))
    }

    /// The first instant strictly after `after` at which the expression runs
    /// on `tz`'s wall clock, with the DST rules of this module. `None` only
    /// past the end of the supported calendar.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Mapping wall clock times to instants (gap -> gap end, repeat ->
        // first occurrence) never goes backwards, so every wall clock time
        // before `after`'s own maps to an instant at or before `after`; the
        // walk can start there. It must start *at* it, not after it: in the
        // second pass of a repeated hour, `after`'s wall clock time is already
        // past the instant it maps to, and the loop skips such times.
        let mut cursor = after.with_timezone(&tz).naive_local();
        let mut inclusive = true;
        loop {
            let local = self.cron.find_next_occurrence(&cursor, inclusive).ok()?;
            let at = resolve_local(tz, local)?;
            if at > after {
                return Some(at);
            }
            cursor = local;
            inclusive = false;
        }
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The instant a wall clock time runs at: itself, the first of two, or the
/// end of the gap that swallowed it.
pub(crate) fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.to_utc()),
        LocalResult::None => {
            // Transitions happen on whole minutes (in every zone since the
            // 19th century's local mean times), so the first valid whole
            // minute after the skipped time is exactly the gap's end.
            let mut probe = local.with_second(0)?.with_nanosecond(0)?;
            let limit = local + MAX_GAP;
            while probe < limit {
                probe += TimeDelta::minutes(1);
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(t) => return Some(t.to_utc()),
                    LocalResult::Ambiguous(first, _) => return Some(first.to_utc()),
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expr: &str) -> String {
        expr.parse::<CronExpr>().unwrap_err().to_string()
    }

    #[test]
    fn names_the_field_that_is_wrong() {
        assert_eq!(
            err("61 * * * *"),
            "invalid cron expression \"61 * * * *\": minute 61 out of range (0-59)"
        );
        assert!(err("0 24 * * *").contains("hour 24 out of range (0-23)"));
        assert!(err("0 7 32 * *").contains("day-of-month 32 out of range (1-31)"));
        assert!(err("0 7 * 13 *").contains("month 13 out of range (1-12)"));
        assert!(err("0 7 * * 8").contains("day-of-week 8 out of range (0-7)"));
        assert!(err("0 7 * MON *").contains("month \"MON\" is not a valid value"));
        assert!(err("0 7 * * JAN").contains("day-of-week \"JAN\""));
        assert!(err("*/0 * * * *").contains("minute step \"0\""));
        assert!(err("0 7 * *").contains("expected 5 fields"));
        assert!(err("0 0 7 * * *").contains("found 6"));
        assert!(err("0 0 31 2 *").contains("never matches"));
        assert!(
            err("5-1 * * * *").contains("minute \"5-1\""),
            "{}",
            err("5-1 * * * *")
        );
    }

    #[test]
    fn accepts_names_last_day_and_lists() {
        for ok in [
            "0 7 L * *",
            "0 8 * * MON",
            "0 8 * * mon-fri",
            "30 7 1,15 JAN-MAR *",
            "*/15 2 * * *",
            "0 9 * * 5L",
            "0 9 * * 1#1",
            "0 7 ? * 0",
            "0 7 * * 7",
        ] {
            ok.parse::<CronExpr>()
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
