//! Report periods and the periods they are compared with.
//!
//! A report asks for one period (a named one such as `previous_month`, or
//! explicit dates); the engine compares it with the previous period of the same
//! length and with the same period last year. Calendar periods (months,
//! quarters, years) compare with calendar periods; day and week windows compare
//! with windows shifted by whole weeks, so weekdays line up (a Monday is
//! compared with a Monday, which matters for B2B traffic).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate};

use crate::format::Locale;

/// An inclusive range of calendar dates in the reporting time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

impl DateRange {
    /// A range from `start` to `end`, both inclusive.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, PeriodError> {
        if end < start {
            return Err(PeriodError::Reversed { start, end });
        }
        Ok(Self { start, end })
    }

    /// Number of days in the range.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    /// Moves both ends back by `days`.
    pub fn back_days(&self, days: u64) -> Self {
        Self {
            start: self.start - Days::new(days),
            end: self.end - Days::new(days),
        }
    }

    /// Moves the range back by whole months. A range that ends on the last day
    /// of a month keeps ending on the last day of a month (March 1-31 becomes
    /// February 1-28), and a day past the end of a shorter month is clamped.
    pub fn back_months(&self, months: u32) -> Self {
        let start = shift_back_months(self.start, months);
        let end = if is_month_end(self.end) {
            month_end(shift_back_months(first_of_month(self.end), months))
        } else {
            shift_back_months(self.end, months)
        };
        Self { start, end }
    }

    /// Whole calendar months covered, if the range is exactly that.
    pub fn whole_months(&self) -> Option<u32> {
        if self.start.day() != 1 || !is_month_end(self.end) {
            return None;
        }
        let months = (self.end.year() - self.start.year()) * 12 + self.end.month() as i32
            - self.start.month() as i32
            + 1;
        u32::try_from(months).ok()
    }
}

/// The length of the periods a history is kept in (`kpi backfill-kpis
/// --grain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodGrain {
    /// One day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl DateRange {
    /// Every whole period of `grain` that overlaps this range, oldest first
    /// (a month grain over 2026-08-15..2026-10-03 gives August, September
    /// and October whole).
    pub fn periods(&self, grain: PeriodGrain) -> Vec<DateRange> {
        let mut out = Vec::new();
        let mut start = match grain {
            PeriodGrain::Day => self.start,
            PeriodGrain::Week => {
                self.start - Days::new(self.start.weekday().num_days_from_monday() as u64)
            }
            PeriodGrain::Month => first_of_month(self.start),
        };
        while start <= self.end {
            let end = match grain {
                PeriodGrain::Day => start,
                PeriodGrain::Week => start + Days::new(6),
                PeriodGrain::Month => month_end(start),
            };
            out.push(DateRange { start, end });
            let Some(next) = end.succ_opt() else { break };
            start = next;
        }
        out
    }
}

impl DateRange {
    /// The dates, joined by the locale's word for "to".
    pub fn display_in(&self, locale: Locale) -> String {
        match locale {
            Locale::En => self.to_string(),
            Locale::Es if self.start == self.end => self.start.to_string(),
            Locale::Es => format!("{} a {}", self.start, self.end),
        }
    }
}

impl fmt::Display for DateRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{} to {}", self.start, self.end)
        }
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists in every month")
}

fn month_end(d: NaiveDate) -> NaiveDate {
    let next = first_of_month(d) + Months::new(1);
    next.pred_opt().expect("a month start has a previous day")
}

fn is_month_end(d: NaiveDate) -> bool {
    d == month_end(d)
}

fn shift_back_months(d: NaiveDate, months: u32) -> NaiveDate {
    // chrono clamps to the last valid day (March 31 -> February 28).
    d.checked_sub_months(Months::new(months)).unwrap_or(d)
}

fn quarter_start(d: NaiveDate) -> NaiveDate {
    let m = (d.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(d.year(), m, 1).expect("quarter start exists")
}

fn week_start(d: NaiveDate) -> NaiveDate {
    d - Days::new(d.weekday().num_days_from_monday() as u64)
}

/// A period a report can ask for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedPeriod {
    /// The day before today.
    Yesterday,
    /// The last full ISO week (Monday to Sunday) before this one.
    PreviousWeek,
    /// The last full calendar month.
    PreviousMonth,
    /// The last full calendar quarter.
    PreviousQuarter,
    /// The last full calendar year.
    PreviousYear,
    /// From Monday of yesterday's week through yesterday.
    WeekToDate,
    /// From the 1st of yesterday's month through yesterday.
    MonthToDate,
    /// From the start of yesterday's quarter through yesterday.
    QuarterToDate,
    /// From January 1st of yesterday's year through yesterday.
    YearToDate,
    /// The 7 days ending yesterday.
    Last7Days,
    /// The 28 days ending yesterday.
    Last28Days,
    /// The 30 days ending yesterday.
    Last30Days,
    /// The 90 days ending yesterday.
    Last90Days,
}

impl NamedPeriod {
    /// Every named period with its name, in the order help texts list them.
    pub const ALL: [(&'static str, NamedPeriod); 13] = [
        ("yesterday", NamedPeriod::Yesterday),
        ("previous_week", NamedPeriod::PreviousWeek),
        ("previous_month", NamedPeriod::PreviousMonth),
        ("previous_quarter", NamedPeriod::PreviousQuarter),
        ("previous_year", NamedPeriod::PreviousYear),
        ("week_to_date", NamedPeriod::WeekToDate),
        ("month_to_date", NamedPeriod::MonthToDate),
        ("quarter_to_date", NamedPeriod::QuarterToDate),
        ("year_to_date", NamedPeriod::YearToDate),
        ("last_7_days", NamedPeriod::Last7Days),
        ("last_28_days", NamedPeriod::Last28Days),
        ("last_30_days", NamedPeriod::Last30Days),
        ("last_90_days", NamedPeriod::Last90Days),
    ];

    /// The period's name as written in config and on the command line.
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| p == self)
            .map(|(n, _)| *n)
            .expect("every period is listed")
    }
}

impl FromStr for NamedPeriod {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, p)| *p)
            .ok_or_else(|| PeriodError::Unknown(s.to_string()))
    }
}

/// What a user asked for: a named period or explicit dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSpec {
    /// A named period relative to today.
    Named(NamedPeriod),
    /// Explicit dates, both inclusive.
    Range(DateRange),
}

/// How a period is compared with earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shift {
    /// Back by this many calendar months; last year is 12 months back.
    Months(u32),
    /// Back by this many days, rounded up to whole weeks when the period is a
    /// day or week window; last year is 52 weeks back (same weekdays).
    Days(u64),
    /// Same days of the previous month (or quarter or year) for *_to_date.
    ToDate(u32),
}

/// The current period with everything it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPeriods {
    /// How the period was asked for (`previous_month`, or `custom`).
    pub name: String,
    /// A human label (`October 2026`, `2026-11-16 to 2026-11-22`).
    pub label: String,
    /// The period being reported.
    pub current: DateRange,
    /// The period before it, of the same length (calendar-aware).
    pub previous: DateRange,
    /// The same period one year earlier.
    pub last_year: DateRange,
    /// The period before `previous` (for growth rates of the previous period).
    pub previous_2: DateRange,
    /// The period before `last_year` (for growth rates of last year's period).
    pub last_year_previous: DateRange,
    /// What `last_year` holds: the same period last year, or (for a daily
    /// digest) the same days one week earlier.
    pub second: SecondComparison,
    /// The "today" the periods were resolved on: a period ending before it
    /// is over (every one of its days has passed).
    pub today: NaiveDate,
}

/// The second comparison of a report, shown beside "vs previous".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecondComparison {
    /// The same period one year earlier (52 weeks back for day and week
    /// windows, so weekdays line up).
    #[default]
    LastYear,
    /// The same days one week earlier: the same weekday last week.
    WeekAgo,
}

impl ReportPeriods {
    /// Resolves `spec` with `today` as the current date in the reporting zone.
    pub fn resolve(spec: &PeriodSpec, today: NaiveDate) -> Result<Self, PeriodError> {
        let yesterday = today.pred_opt().ok_or(PeriodError::OutOfRange)?;
        let (name, current, shift) = match spec {
            PeriodSpec::Range(r) => {
                let shift = match r.whole_months() {
                    Some(m) => Shift::Months(m),
                    None => Shift::Days(r.days() as u64),
                };
                ("custom".to_string(), *r, shift)
            }
            PeriodSpec::Named(p) => {
                let (range, shift) = named_range(*p, today, yesterday)?;
                (p.name().to_string(), range, shift)
            }
        };
        let (previous, last_year) = compare_ranges(&current, shift);
        let (previous_2, _) = compare_ranges(&previous, shift);
        let (last_year_previous, _) = compare_ranges(&last_year, shift);
        Ok(Self {
            name,
            label: label(&current),
            current,
            previous,
            last_year,
            previous_2,
            last_year_previous,
            second: SecondComparison::LastYear,
            today,
        })
    }

    /// Compares with the same days one week earlier instead of last year: a
    /// nightly digest's "vs the same weekday last week".
    pub fn with_week_ago(mut self) -> Self {
        self.last_year = self.current.back_days(7);
        self.last_year_previous = self.last_year.back_days(self.current.days() as u64);
        self.second = SecondComparison::WeekAgo;
        self
    }

    /// Whether every day of the current period has passed.
    pub fn is_over(&self) -> bool {
        self.current.end < self.today
    }

    /// The period's label in `locale` (`label` is the English one).
    pub fn label_in(&self, locale: Locale) -> String {
        label_in(&self.current, locale)
    }

    /// The earliest and latest day any of the periods touch: the range a query
    /// must read.
    pub fn span(&self) -> DateRange {
        let all = [
            self.current,
            self.previous,
            self.last_year,
            self.previous_2,
            self.last_year_previous,
        ];
        DateRange {
            start: all.iter().map(|r| r.start).min().expect("non-empty"),
            end: all.iter().map(|r| r.end).max().expect("non-empty"),
        }
    }

    /// `(name, range)` for every period, in the order the engine registers them.
    pub fn named(&self) -> [(&'static str, DateRange); 5] {
        [
            ("current", self.current),
            ("previous", self.previous),
            ("last_year", self.last_year),
            ("previous_2", self.previous_2),
            ("last_year_previous", self.last_year_previous),
        ]
    }
}

fn named_range(
    p: NamedPeriod,
    today: NaiveDate,
    y: NaiveDate,
) -> Result<(DateRange, Shift), PeriodError> {
    use NamedPeriod::*;
    let r = |start: NaiveDate, end: NaiveDate| DateRange { start, end };
    Ok(match p {
        Yesterday => (r(y, y), Shift::Days(1)),
        PreviousWeek => {
            let start = week_start(today) - Days::new(7);
            (r(start, start + Days::new(6)), Shift::Days(7))
        }
        PreviousMonth => {
            let start = first_of_month(today) - Months::new(1);
            (r(start, month_end(start)), Shift::Months(1))
        }
        PreviousQuarter => {
            let start = quarter_start(today) - Months::new(3);
            (
                r(start, month_end(start + Months::new(2))),
                Shift::Months(3),
            )
        }
        PreviousYear => {
            let start =
                NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).ok_or(PeriodError::OutOfRange)?;
            let end =
                NaiveDate::from_ymd_opt(today.year() - 1, 12, 31).ok_or(PeriodError::OutOfRange)?;
            (r(start, end), Shift::Months(12))
        }
        WeekToDate => (r(week_start(y), y), Shift::Days(7)),
        MonthToDate => (r(first_of_month(y), y), Shift::ToDate(1)),
        QuarterToDate => (r(quarter_start(y), y), Shift::ToDate(3)),
        YearToDate => (
            r(
                NaiveDate::from_ymd_opt(y.year(), 1, 1).ok_or(PeriodError::OutOfRange)?,
                y,
            ),
            Shift::ToDate(12),
        ),
        Last7Days => (r(y - Days::new(6), y), Shift::Days(7)),
        Last28Days => (r(y - Days::new(27), y), Shift::Days(28)),
        Last30Days => (r(y - Days::new(29), y), Shift::Days(30)),
        Last90Days => (r(y - Days::new(89), y), Shift::Days(90)),
    })
}

fn compare_ranges(current: &DateRange, shift: Shift) -> (DateRange, DateRange) {
    match shift {
        Shift::Months(m) => (current.back_months(m), current.back_months(12)),
        Shift::ToDate(m) => {
            // Same number of days from the start of the earlier month/quarter/year,
            // clamped to its end: Mar 1-31 MTD compares with Feb 1-28.
            // The same calendar dates of the earlier month, quarter or year,
            // clamped to its end: Mar 1-30 MTD compares with Feb 1-28, and a
            // quarter-to-date through Mar 31 with all of Q4.
            let to_date = |months: u32| {
                let shifted = current.back_months(months);
                let full_end = month_end(shifted.start + Months::new(m - 1));
                DateRange {
                    start: shifted.start,
                    end: shifted.end.min(full_end),
                }
            };
            (to_date(m), to_date(12))
        }
        Shift::Days(days) => {
            let last_year = current.back_days(364);
            (current.back_days(days), last_year)
        }
    }
}

/// English month names, January first.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Spanish month names, enero first (lower case, as Spanish writes them).
pub const MONTH_NAMES_ES: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

fn label(r: &DateRange) -> String {
    label_in(r, Locale::En)
}

/// A human label for `r` in `locale`: `October 2026` / `octubre de 2026`,
/// `Q4 2026` / `4T 2026`, `2026`, else the dates.
pub fn label_in(r: &DateRange, locale: Locale) -> String {
    let month = r.start.month0() as usize;
    match (r.whole_months(), locale) {
        (Some(1), Locale::En) => format!("{} {}", MONTH_NAMES[month], r.start.year()),
        (Some(1), Locale::Es) => format!("{} de {}", MONTH_NAMES_ES[month], r.start.year()),
        (Some(3), Locale::En) if month % 3 == 0 => {
            format!("Q{} {}", month / 3 + 1, r.start.year())
        }
        (Some(3), Locale::Es) if month % 3 == 0 => {
            format!("{}T {}", month / 3 + 1, r.start.year())
        }
        (Some(12), _) if r.start.month() == 1 => format!("{}", r.start.year()),
        _ => r.display_in(locale),
    }
}

/// Why a period could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    /// The name is not one of the named periods.
    #[error("unknown period '{0}'; use one of: {names}, or --from/--to", names = NamedPeriod::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    /// `--to` is before `--from`.
    #[error("the period ends ({end}) before it starts ({start})")]
    Reversed {
        /// Requested start.
        start: NaiveDate,
        /// Requested end.
        end: NaiveDate,
    },
    /// Date arithmetic left the supported calendar.
    #[error("the period falls outside the supported calendar")]
    OutOfRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn rng(a: &str, b: &str) -> DateRange {
        DateRange::new(d(a), d(b)).unwrap()
    }
    fn named(p: NamedPeriod, today: &str) -> ReportPeriods {
        ReportPeriods::resolve(&PeriodSpec::Named(p), d(today)).unwrap()
    }

    #[test]
    fn a_range_splits_into_the_whole_periods_it_touches() {
        let r = rng("2026-08-15", "2026-10-03");
        assert_eq!(
            r.periods(PeriodGrain::Month),
            vec![
                rng("2026-08-01", "2026-08-31"),
                rng("2026-09-01", "2026-09-30"),
                rng("2026-10-01", "2026-10-31")
            ]
        );
        // 2026-11-25 is a Wednesday: its week starts on Monday the 23rd.
        assert_eq!(
            rng("2026-11-25", "2026-12-01").periods(PeriodGrain::Week),
            vec![
                rng("2026-11-23", "2026-11-29"),
                rng("2026-11-30", "2026-12-06")
            ]
        );
        let days = rng("2026-02-27", "2026-03-01").periods(PeriodGrain::Day);
        assert_eq!(days.len(), 3);
        assert_eq!(days[1], rng("2026-02-28", "2026-02-28"));
    }

    #[test]
    fn previous_month_compares_calendar_months() {
        let p = named(NamedPeriod::PreviousMonth, "2026-03-15");
        assert_eq!(p.current, rng("2026-02-01", "2026-02-28"));
        assert_eq!(p.previous, rng("2026-01-01", "2026-01-31"));
        assert_eq!(p.last_year, rng("2025-02-01", "2025-02-28"));
        assert_eq!(p.previous_2, rng("2025-12-01", "2025-12-31"));
        assert_eq!(p.last_year_previous, rng("2025-01-01", "2025-01-31"));
        assert_eq!(p.label, "February 2026");
        // A leap February compares with a 28-day February last year.
        let p = named(NamedPeriod::PreviousMonth, "2024-03-01");
        assert_eq!(p.current, rng("2024-02-01", "2024-02-29"));
        assert_eq!(p.last_year, rng("2023-02-01", "2023-02-28"));
        // March (31 days) compares with February (28).
        let p = named(NamedPeriod::PreviousMonth, "2026-04-02");
        assert_eq!(p.previous, rng("2026-02-01", "2026-02-28"));
    }

    #[test]
    fn previous_quarter_and_year() {
        let p = named(NamedPeriod::PreviousQuarter, "2026-05-10");
        assert_eq!(p.current, rng("2026-01-01", "2026-03-31"));
        assert_eq!(p.previous, rng("2025-10-01", "2025-12-31"));
        assert_eq!(p.last_year, rng("2025-01-01", "2025-03-31"));
        assert_eq!(p.label, "Q1 2026");
        let p = named(NamedPeriod::PreviousYear, "2026-05-10");
        assert_eq!(p.current, rng("2025-01-01", "2025-12-31"));
        assert_eq!(p.previous, rng("2024-01-01", "2024-12-31"));
    }

    #[test]
    fn day_and_week_windows_keep_weekdays() {
        // 2026-11-24 is a Tuesday.
        let p = named(NamedPeriod::Yesterday, "2026-11-24");
        assert_eq!(p.current, rng("2026-11-23", "2026-11-23"));
        assert_eq!(p.previous, rng("2026-11-22", "2026-11-22"));
        // 364 days back is also a Monday.
        assert_eq!(p.last_year, rng("2025-11-24", "2025-11-24"));
        let p = named(NamedPeriod::PreviousWeek, "2026-11-24");
        assert_eq!(p.current, rng("2026-11-16", "2026-11-22"));
        assert_eq!(p.previous, rng("2026-11-09", "2026-11-15"));
        let p = named(NamedPeriod::Last28Days, "2026-11-24");
        assert_eq!(p.current, rng("2026-10-27", "2026-11-23"));
        assert_eq!(p.previous, rng("2026-09-29", "2026-10-26"));
    }

    #[test]
    fn to_date_periods_compare_same_days() {
        let p = named(NamedPeriod::MonthToDate, "2026-03-31");
        assert_eq!(p.current, rng("2026-03-01", "2026-03-30"));
        // February has only 28 days: clamp.
        assert_eq!(p.previous, rng("2026-02-01", "2026-02-28"));
        assert_eq!(p.last_year, rng("2025-03-01", "2025-03-30"));
        let p = named(NamedPeriod::QuarterToDate, "2026-05-11");
        assert_eq!(p.current, rng("2026-04-01", "2026-05-10"));
        assert_eq!(p.previous, rng("2026-01-01", "2026-02-10"));
        // Run on the first day of a quarter: all of Q1 against all of Q4.
        let p = named(NamedPeriod::QuarterToDate, "2026-04-01");
        assert_eq!(p.current, rng("2026-01-01", "2026-03-31"));
        assert_eq!(p.previous, rng("2025-10-01", "2025-12-31"));
        assert_eq!(p.last_year, rng("2025-01-01", "2025-03-31"));
        // Year to date on January 1st: all of last year against the year before.
        let p = named(NamedPeriod::YearToDate, "2026-01-01");
        assert_eq!(p.current, rng("2025-01-01", "2025-12-31"));
        assert_eq!(p.previous, rng("2024-01-01", "2024-12-31"));
        let p = named(NamedPeriod::YearToDate, "2024-07-01");
        assert_eq!(p.previous, rng("2023-01-01", "2023-06-30"));
    }

    #[test]
    fn explicit_ranges() {
        let r = rng("2026-01-01", "2026-03-31");
        let p = ReportPeriods::resolve(&PeriodSpec::Range(r), d("2026-11-24")).unwrap();
        assert_eq!(p.previous, rng("2025-10-01", "2025-12-31"));
        assert_eq!(p.last_year, rng("2025-01-01", "2025-03-31"));
        let r = rng("2026-01-10", "2026-01-19");
        let p = ReportPeriods::resolve(&PeriodSpec::Range(r), d("2026-11-24")).unwrap();
        assert_eq!(p.previous, rng("2025-12-31", "2026-01-09"));
        assert!(DateRange::new(d("2026-01-02"), d("2026-01-01")).is_err());
        assert!("last_month".parse::<NamedPeriod>().is_err());
    }
}
