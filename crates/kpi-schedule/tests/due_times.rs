//! Due instants, checked against hand-worked UTC instants.
//!
//! Offsets used: Europe/Madrid CET = UTC+1, CEST = UTC+2; in 2026 summer time
//! starts 29 March (02:00 CET -> 03:00 CEST, at 01:00Z) and ends 25 October
//! (03:00 CEST -> 02:00 CET, at 01:00Z). America/New_York EST = UTC-5,
//! EDT = UTC-4; in 2026 summer time starts 8 March (02:00 EST -> 03:00 EDT, at
//! 07:00Z) and ends 1 November (02:00 EDT -> 01:00 EST, at 06:00Z).

use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use kpi_schedule::Schedule;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

fn schedule(cron: &str, tz: &str) -> Schedule {
    let text = format!("cron = \"{cron}\"\ntimezone = \"{tz}\"\nperiod = \"yesterday\"\n");
    Schedule::parse(&text, Path::new("schedules/test.toml"), chrono_tz::UTC)
        .unwrap_or_else(|e| panic!("{e:?}"))
}

const MADRID: &str = "Europe/Madrid";
const NEW_YORK: &str = "America/New_York";

#[test]
fn madrid_daily_in_the_spring_gap_runs_once_at_gap_end() {
    let s = schedule("30 2 * * *", MADRID);
    assert_eq!(
        s.next_n(utc("2026-03-28T12:00:00Z"), 3),
        utcs(&[
            "2026-03-29T01:00:00Z", // 02:30 does not exist; 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
            "2026-03-31T00:30:00Z",
        ])
    );
    assert_eq!(
        s.next_due_after(utc("2026-03-28T12:00:00Z")),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        s.local(utc("2026-03-29T01:00:00Z")).to_rfc3339(),
        "2026-03-29T03:00:00+02:00"
    );
}

#[test]
fn madrid_daily_in_the_autumn_overlap_runs_once_at_first_occurrence() {
    let s = schedule("30 2 * * *", MADRID);
    assert_eq!(
        s.next_n(utc("2026-10-24T12:00:00Z"), 2),
        utcs(&[
            "2026-10-25T00:30:00Z", // 02:30 CEST, the first of two 02:30s
            "2026-10-26T01:30:00Z", // 02:30 CET
        ])
    );
    // Asked from inside the second pass of the repeated hour (02:10 CET):
    // today's 02:30 already ran in the first pass.
    assert_eq!(
        s.next_due_after(utc("2026-10-25T01:10:00Z")),
        Some(utc("2026-10-26T01:30:00Z"))
    );
}

#[test]
fn madrid_quarter_hours_in_the_gap_fire_once_not_four_times() {
    let s = schedule("*/15 2 * * *", MADRID);
    assert_eq!(
        s.next_n(utc("2026-03-28T12:00:00Z"), 5),
        utcs(&[
            "2026-03-29T01:00:00Z", // 02:00-02:45 skipped: once, at 03:00 CEST
            "2026-03-30T00:00:00Z", // 02:00 CEST
            "2026-03-30T00:15:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-30T00:45:00Z",
        ])
    );
    assert_eq!(
        s.next_n(utc("2026-10-24T12:00:00Z"), 5),
        utcs(&[
            "2026-10-25T00:00:00Z", // 02:00 CEST; the CET pass does not repeat them
            "2026-10-25T00:15:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T00:45:00Z",
            "2026-10-26T01:00:00Z", // 02:00 CET next day
        ])
    );
}

#[test]
fn madrid_hourly_across_both_changes() {
    let s = schedule("0 * * * *", MADRID);
    assert_eq!(
        s.due_between(utc("2026-03-28T23:30:00Z"), utc("2026-03-29T03:30:00Z")),
        utcs(&[
            "2026-03-29T00:00:00Z", // 01:00 CET
            "2026-03-29T01:00:00Z", // 02:00 skipped and 03:00 CEST: one run
            "2026-03-29T02:00:00Z", // 04:00 CEST
            "2026-03-29T03:00:00Z", // 05:00 CEST
        ])
    );
    assert_eq!(
        s.due_between(utc("2026-10-24T22:30:00Z"), utc("2026-10-25T03:30:00Z")),
        utcs(&[
            "2026-10-24T23:00:00Z", // 01:00 CEST
            "2026-10-25T00:00:00Z", // 02:00 CEST; not again at 02:00 CET (01:00Z)
            "2026-10-25T02:00:00Z", // 03:00 CET
            "2026-10-25T03:00:00Z", // 04:00 CET
        ])
    );
    // From inside the repeated hour, the next run is 03:00 CET.
    let every_15 = schedule("*/15 * * * *", MADRID);
    assert_eq!(
        every_15.next_due_after(utc("2026-10-25T01:10:00Z")),
        Some(utc("2026-10-25T02:00:00Z"))
    );
}

#[test]
fn new_york_daily_gap_and_overlap() {
    let s = schedule("30 2 * * *", NEW_YORK);
    assert_eq!(
        s.next_n(utc("2026-03-07T12:00:00Z"), 2),
        utcs(&[
            "2026-03-08T07:00:00Z", // 02:30 does not exist; 03:00 EDT
            "2026-03-09T06:30:00Z", // 02:30 EDT
        ])
    );
    let s = schedule("30 1 * * *", NEW_YORK);
    assert_eq!(
        s.next_n(utc("2026-10-31T12:00:00Z"), 2),
        utcs(&[
            "2026-11-01T05:30:00Z", // 01:30 EDT, the first of two
            "2026-11-02T06:30:00Z", // 01:30 EST
        ])
    );
}

#[test]
fn new_york_quarter_hours_across_both_changes() {
    let s = schedule("*/15 * * * *", NEW_YORK);
    assert_eq!(
        s.due_between(utc("2026-03-08T06:30:00Z"), utc("2026-03-08T07:20:00Z")),
        utcs(&[
            "2026-03-08T06:45:00Z", // 01:45 EST
            "2026-03-08T07:00:00Z", // 02:00-02:45 skipped and 03:00 EDT: one run
            "2026-03-08T07:15:00Z", // 03:15 EDT
        ])
    );
    assert_eq!(
        s.due_between(utc("2026-11-01T05:30:00Z"), utc("2026-11-01T07:10:00Z")),
        utcs(&[
            "2026-11-01T05:45:00Z", // 01:45 EDT; 01:00-01:45 EST do not repeat
            "2026-11-01T07:00:00Z", // 02:00 EST
        ])
    );
}

#[test]
fn last_day_of_month_including_leap_years() {
    let s = schedule("0 7 L * *", MADRID);
    assert_eq!(
        s.next_n(utc("2026-02-01T00:00:00Z"), 3),
        utcs(&[
            "2026-02-28T06:00:00Z", // 07:00 CET
            "2026-03-31T05:00:00Z", // 07:00 CEST
            "2026-04-30T05:00:00Z",
        ])
    );
    assert_eq!(
        s.next_due_after(utc("2028-02-01T00:00:00Z")),
        Some(utc("2028-02-29T06:00:00Z"))
    );
}

#[test]
fn second_of_the_month_across_the_year_end() {
    let s = schedule("0 7 2 * *", MADRID);
    assert_eq!(
        s.next_n(utc("2026-11-15T00:00:00Z"), 3),
        utcs(&[
            "2026-12-02T06:00:00Z",
            "2027-01-02T06:00:00Z",
            "2027-02-02T06:00:00Z",
        ])
    );
}

#[test]
fn mondays_by_name_across_the_year_end() {
    let s = schedule("0 8 * * MON", MADRID);
    // 2026-12-25 is a Friday; 2026-12-28 and 2027-01-04 are Mondays.
    assert_eq!(
        s.next_n(utc("2026-12-25T00:00:00Z"), 2),
        utcs(&["2026-12-28T07:00:00Z", "2027-01-04T07:00:00Z"])
    );
}

#[test]
fn strictly_after_and_window_bounds() {
    let s = schedule("0 6 * * *", "UTC");
    assert_eq!(
        s.next_due_after(utc("2026-05-01T06:00:00Z")),
        Some(utc("2026-05-02T06:00:00Z"))
    );
    assert_eq!(
        s.next_due_after(utc("2026-05-01T05:59:59.5Z")),
        Some(utc("2026-05-01T06:00:00Z"))
    );
    // (from, to]: `from` itself excluded, `to` included.
    assert_eq!(
        s.due_between(utc("2026-05-01T06:00:00Z"), utc("2026-05-03T06:00:00Z")),
        utcs(&["2026-05-02T06:00:00Z", "2026-05-03T06:00:00Z"])
    );
    assert_eq!(
        s.last_due_at_or_before(utc("2026-05-03T05:00:00Z")),
        Some(utc("2026-05-02T06:00:00Z"))
    );
    let _: Tz = s.timezone;
}
