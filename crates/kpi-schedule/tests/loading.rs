//! Schedule files: defaults, error messages, and the shipped examples.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use kpi_core::NamedPeriod;
use kpi_schedule::{
    CatchUp, Comparison, Freshness, OnUnconfirmed, Schedule, ScheduleError, load_dir,
};

const MADRID: Tz = chrono_tz::Europe::Madrid;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn errors_of(text: &str, file: &str) -> Vec<String> {
    Schedule::parse(text, Path::new(file), MADRID)
        .map(|_| panic!("{file} should not load"))
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn defaults() {
    let s = Schedule::parse(
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\n",
        Path::new("schedules/nightly.toml"),
        MADRID,
    )
    .unwrap();
    assert_eq!(s.name, "nightly");
    assert_eq!(s.timezone, MADRID);
    assert_eq!(s.report, "leadership");
    assert_eq!(s.period, NamedPeriod::Yesterday);
    assert_eq!(s.compare, vec![Comparison::Previous, Comparison::LastYear]);
    assert_eq!(s.catch_up, CatchUp::Latest);
    assert_eq!(s.freshness, Freshness::Skip);
    assert_eq!(s.on_unconfirmed, OnUnconfirmed::Hold);
    assert!(s.enabled && !s.sync_first);
    assert!(s.to.is_none() && s.owner.is_none() && s.headline.is_none());
}

#[test]
fn invalid_cron_names_file_and_field() {
    let e = errors_of(
        "cron = \"61 * * * *\"\nperiod = \"yesterday\"\n",
        "schedules/nightly.toml",
    );
    assert_eq!(
        e,
        vec![
            "schedules/nightly.toml: field `cron`: invalid cron expression \"61 * * * *\": minute 61 out of range (0-59)"
        ]
    );
}

#[test]
fn unknown_time_zone_names_file_field_and_value() {
    let e = errors_of(
        "cron = \"0 6 * * *\"\ntimezone = \"Europe/Madird\"\nperiod = \"yesterday\"\n",
        "schedules/tz.toml",
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("schedules/tz.toml: field `timezone`: "),
        "{}",
        e[0]
    );
    assert!(e[0].contains("\"Europe/Madird\""), "{}", e[0]);
}

#[test]
fn unknown_period_lists_valid_names() {
    let e = errors_of(
        "cron = \"0 6 * * *\"\nperiod = \"last_week\"\n",
        "schedules/p.toml",
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("schedules/p.toml: field `period`: "),
        "{}",
        e[0]
    );
    for name in [
        "\"last_week\"",
        "yesterday",
        "previous_week",
        "last_90_days",
    ] {
        assert!(e[0].contains(name), "{name} in {}", e[0]);
    }
}

#[test]
fn unknown_field_names_file_line_and_field() {
    let e = errors_of(
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\nrecipients = [\"a@example.com\"]\n",
        "schedules/u.toml",
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("schedules/u.toml: line 3: "), "{}", e[0]);
    assert!(e[0].contains("unknown field `recipients`"), "{}", e[0]);
}

#[test]
fn syntax_errors_and_bad_values_give_line_and_field() {
    let e = errors_of(
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\ncatch_up = \"sometimes\"\n",
        "schedules/c.toml",
    );
    assert!(
        e[0].starts_with("schedules/c.toml: line 3: field `catch_up`: "),
        "{}",
        e[0]
    );
    assert!(
        e[0].contains("sometimes") && e[0].contains("latest"),
        "{}",
        e[0]
    );

    let e = errors_of(
        "period = \"yesterday\"\ncron = \"0 6 * * *\nenabled = true\n",
        "schedules/s.toml",
    );
    assert!(e[0].starts_with("schedules/s.toml: line 2: "), "{}", e[0]);

    let e = errors_of(
        "period = \"yesterday\"\ncompare = [\"previous\", \"last_month\"]\ncron = \"0 6 * * *\"\n",
        "schedules/m.toml",
    );
    assert!(e[0].contains("field `compare`"), "{}", e[0]);
    assert!(e[0].contains("same_weekday_last_week"), "{}", e[0]);

    let e = errors_of("period = \"yesterday\"\n", "schedules/r.toml");
    assert_eq!(e, vec!["schedules/r.toml: missing field `cron`"]);
}

#[test]
fn every_bad_field_of_a_file_is_reported() {
    let e = errors_of(
        "cron = \"0 25 * * *\"\ntimezone = \"Nowhere\"\nperiod = \"soon\"\nheadline = [\"cpl\"]\nto = [\"boss\"]\n",
        "schedules/all.toml",
    );
    let fields: Vec<&str> = ["cron", "timezone", "period", "headline", "to"].to_vec();
    assert_eq!(e.len(), fields.len(), "{e:#?}");
    for (msg, field) in e.iter().zip(fields) {
        assert!(
            msg.starts_with(&format!("schedules/all.toml: field `{field}`: ")),
            "{msg}"
        );
    }
}

#[test]
fn load_dir_reports_every_bad_file_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "good.toml",
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\n",
    );
    write(
        d,
        "another.toml",
        "cron = \"0 7 2 * *\"\nperiod = \"previous_month\"\ntimezone = \"America/New_York\"\n",
    );
    let bad_cron = write(
        d,
        "bad_cron.toml",
        "cron = \"61 * * * *\"\nperiod = \"yesterday\"\n",
    );
    let bad_tz = write(
        d,
        "bad_tz.toml",
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\ntimezone = \"Mars/Base\"\n",
    );
    let unknown = write(
        d,
        "unknown.toml",
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\nsend_at = 7\n",
    );
    write(d, "README.md", "not a schedule");
    let bad_name = write(
        d,
        "bad name.toml",
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\n",
    );

    let (schedules, errors) = load_dir(d, MADRID);
    let names: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["another", "good"]);
    assert_eq!(schedules[0].timezone, chrono_tz::America::New_York);
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{messages:#?}");
    let mentions = |path: &Path, needle: &str| {
        messages
            .iter()
            .any(|m| m.contains(&path.display().to_string()) && m.contains(needle))
    };
    assert!(mentions(&bad_cron, "field `cron`"), "{messages:#?}");
    assert!(mentions(&bad_tz, "field `timezone`"), "{messages:#?}");
    assert!(
        mentions(&unknown, "unknown field `send_at`"),
        "{messages:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ScheduleError::BadName { path } if *path == bad_name)),
        "{messages:#?}"
    );
}

#[test]
fn missing_dir_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (schedules, errors) = load_dir(&dir.path().join("schedules"), MADRID);
    assert!(schedules.is_empty() && errors.is_empty());
}

#[test]
fn shipped_examples_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schedules");
    let (schedules, errors) = load_dir(&dir, MADRID);
    assert!(errors.is_empty(), "{errors:#?}");
    let names: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["monthly", "nightly", "weekly"]);

    let nightly = &schedules[1];
    assert_eq!(nightly.cron.as_str(), "0 6 * * *");
    assert_eq!(nightly.period, NamedPeriod::Yesterday);
    assert_eq!(
        nightly.compare,
        vec![Comparison::Previous, Comparison::SameWeekdayLastWeek]
    );
    let weekly = &schedules[2];
    assert_eq!(weekly.period, NamedPeriod::PreviousWeek);
    // 2026-12-25 is a Friday; Monday 28 December 07:30 CET is 06:30Z.
    assert_eq!(
        weekly.next_due_after("2026-12-25T00:00:00Z".parse().unwrap()),
        Some("2026-12-28T06:30:00Z".parse().unwrap())
    );
    let monthly = &schedules[0];
    assert_eq!(monthly.period, NamedPeriod::PreviousMonth);
    assert_eq!(monthly.report, "leadership");
    assert_eq!(
        monthly.next_due_after("2026-11-15T00:00:00Z".parse().unwrap()),
        Some("2026-12-02T06:00:00Z".parse().unwrap())
    );
}
