//! The period each run reports, and which missed runs are caught up.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use kpi_schedule::{DueRun, Schedule};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn schedule(body: &str) -> Schedule {
    Schedule::parse(
        body,
        Path::new("schedules/s.toml"),
        chrono_tz::Europe::Madrid,
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn dues(runs: &[DueRun]) -> Vec<(String, String)> {
    runs.iter()
        .map(|r| (r.due.to_rfc3339(), r.period_key.clone()))
        .collect()
}

fn pair(due: &str, key: &str) -> (String, String) {
    (utc(due).to_rfc3339(), key.to_string())
}

#[test]
fn period_uses_the_local_date_of_the_due_instant() {
    let monthly = schedule("cron = \"0 7 2 * *\"\nperiod = \"previous_month\"\n");
    let p = monthly.period_for(utc("2026-12-02T06:00:00Z")).unwrap();
    assert_eq!(p.label, "November 2026");
    assert_eq!(
        p.current.start,
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    );
    assert_eq!(
        p.current.end,
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    );
    assert_eq!(
        monthly
            .run_at(utc("2026-12-02T06:00:00Z"))
            .unwrap()
            .period_key,
        "2026-11-01_2026-11-30"
    );
    // 2026-12-01 23:30 UTC is already 2 December in Madrid: still November,
    // not October.
    assert_eq!(
        monthly
            .run_at(utc("2026-12-01T23:30:00Z"))
            .unwrap()
            .period_key,
        "2026-11-01_2026-11-30"
    );
    // A nightly run at 00:30 CEST on 30 March reports 29 March.
    let nightly = schedule("cron = \"30 0 * * *\"\nperiod = \"yesterday\"\n");
    assert_eq!(
        nightly
            .run_at(utc("2026-03-29T22:30:00Z"))
            .unwrap()
            .period_key,
        "2026-03-29_2026-03-29"
    );
}

const DAILY: &str = "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\n";

fn daily(catch_up: &str) -> Schedule {
    schedule(&format!("{DAILY}catch_up = \"{catch_up}\"\n"))
}

// 06:00 CET is 05:00Z in early March.
#[test]
fn catch_up_all_runs_every_missed_run_in_order() {
    let runs = daily("all")
        .runs_to_do(
            Some(utc("2026-03-01T12:00:00Z")),
            utc("2026-03-04T12:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        dues(&runs),
        vec![
            pair("2026-03-02T05:00:00Z", "2026-03-01_2026-03-01"),
            pair("2026-03-03T05:00:00Z", "2026-03-02_2026-03-02"),
            pair("2026-03-04T05:00:00Z", "2026-03-03_2026-03-03"),
        ]
    );
    assert!(runs.iter().all(|r| r.schedule == "s"));
}

#[test]
fn catch_up_latest_runs_only_the_most_recent() {
    let runs = daily("latest")
        .runs_to_do(
            Some(utc("2026-03-01T12:00:00Z")),
            utc("2026-03-04T12:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        dues(&runs),
        vec![pair("2026-03-04T05:00:00Z", "2026-03-03_2026-03-03")]
    );
    // `latest` is the default.
    assert_eq!(schedule(DAILY).catch_up, kpi_schedule::CatchUp::Latest);
}

#[test]
fn catch_up_none_runs_only_what_is_within_the_grace() {
    let s = daily("none");
    let last = Some(utc("2026-03-01T12:00:00Z"));
    assert!(
        s.runs_to_do(last, utc("2026-03-04T12:00:00Z"))
            .unwrap()
            .is_empty()
    );
    // 30 minutes late: on time enough.
    assert_eq!(
        dues(&s.runs_to_do(last, utc("2026-03-04T05:30:00Z")).unwrap()),
        vec![pair("2026-03-04T05:00:00Z", "2026-03-03_2026-03-03")]
    );
    // Exactly the grace: still runs; one second more: does not.
    assert_eq!(
        s.runs_to_do(last, utc("2026-03-04T06:00:00Z"))
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.runs_to_do(last, utc("2026-03-04T06:00:01Z"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn first_run_ever_takes_only_the_most_recent_due_instant() {
    for mode in ["latest", "all"] {
        let runs = daily(mode)
            .runs_to_do(None, utc("2026-03-04T12:00:00Z"))
            .unwrap();
        assert_eq!(
            dues(&runs),
            vec![pair("2026-03-04T05:00:00Z", "2026-03-03_2026-03-03")],
            "{mode}"
        );
    }
    // `none` still applies its grace.
    assert!(
        daily("none")
            .runs_to_do(None, utc("2026-03-04T12:00:00Z"))
            .unwrap()
            .is_empty()
    );
    // A monthly schedule installed mid-month finds the run of the 2nd.
    let monthly = schedule("cron = \"0 7 2 * *\"\nperiod = \"previous_month\"\n");
    assert_eq!(
        dues(
            &monthly
                .runs_to_do(None, utc("2026-03-15T12:00:00Z"))
                .unwrap()
        ),
        vec![pair("2026-03-02T06:00:00Z", "2026-02-01_2026-02-28")]
    );
}

#[test]
fn runs_for_the_same_period_are_deduplicated() {
    // A daily cron reporting the previous month: 25 Feb to 3 Mar is two
    // periods, January and February, each run once, at its first due instant.
    let s = schedule("cron = \"0 6 * * *\"\nperiod = \"previous_month\"\ncatch_up = \"all\"\n");
    let runs = s
        .runs_to_do(
            Some(utc("2026-02-25T00:00:00Z")),
            utc("2026-03-03T12:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        dues(&runs),
        vec![
            pair("2026-02-25T05:00:00Z", "2026-01-01_2026-01-31"),
            pair("2026-03-01T05:00:00Z", "2026-02-01_2026-02-28"),
        ]
    );
}

#[test]
fn nothing_due_and_disabled() {
    let s = daily("all");
    assert!(
        s.runs_to_do(
            Some(utc("2026-03-04T05:00:00Z")),
            utc("2026-03-04T12:00:00Z")
        )
        .unwrap()
        .is_empty()
    );
    let off = schedule(&format!("{DAILY}enabled = false\n"));
    assert!(
        off.runs_to_do(None, utc("2026-03-04T12:00:00Z"))
            .unwrap()
            .is_empty()
    );
}
