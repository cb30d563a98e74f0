//! The run ledger: records, decisions, durability and locking.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kpi_schedule::{
    Decision, DueRun, Entry, Ledger, LedgerError, OnUnconfirmed, Schedule, Status, decide,
};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn monthly() -> Schedule {
    Schedule::parse(
        "cron = \"0 7 2 * *\"\nperiod = \"previous_month\"\n",
        Path::new("schedules/monthly.toml"),
        chrono_tz::Europe::Madrid,
    )
    .unwrap()
}

fn run(due: &str) -> DueRun {
    monthly().run_at(utc(due)).unwrap()
}

fn recipients() -> Vec<String> {
    vec!["board@example.com".to_string()]
}

#[test]
fn intent_then_confirm_survives_reopening() {
    let lake = tempfile::tempdir().unwrap();
    let nov = run("2026-12-02T06:00:00Z");
    {
        let ledger = Ledger::open(lake.path()).unwrap();
        let lock = ledger.lock("monthly").unwrap();
        assert_eq!(lock.entry(&nov.period_key).unwrap(), None);
        let e = lock.record_intent(&nov, "<m1@kpi>", &recipients()).unwrap();
        assert_eq!((e.status, e.attempts), (Status::Sending, 1));
        // The intent is on disk before the transport is called.
        let on_disk = Ledger::open(lake.path())
            .unwrap()
            .entry("monthly", &nov.period_key)
            .unwrap()
            .unwrap();
        assert_eq!(on_disk.status, Status::Sending);
        assert_eq!(on_disk.message_id.as_deref(), Some("<m1@kpi>"));
        lock.confirm(&nov, "<m1@kpi>").unwrap();
    }
    let ledger = Ledger::open(lake.path()).unwrap();
    let e = ledger
        .entry("monthly", "2026-11-01_2026-11-30")
        .unwrap()
        .unwrap();
    assert_eq!(e.schedule, "monthly");
    assert_eq!(e.period_label, "November 2026");
    assert_eq!(e.status, Status::Sent);
    assert_eq!(e.due, utc("2026-12-02T06:00:00Z"));
    assert_eq!(e.recipients, recipients());
    assert!(e.sent_at.is_some());
    let steps: Vec<Status> = e.history.iter().map(|h| h.status).collect();
    assert_eq!(steps, vec![Status::Sending, Status::Sent]);
    assert_eq!(
        decide(Some(&e), OnUnconfirmed::Resend, false),
        Decision::SkipAlreadySent
    );
    // No temp files left behind.
    let names: Vec<String> = std::fs::read_dir(lake.path().join("_runs/monthly"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["2026-11-01_2026-11-30.json"]);
}

#[test]
fn failures_keep_history_and_attempts() {
    let lake = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(lake.path()).unwrap();
    let lock = ledger.lock("monthly").unwrap();
    let nov = run("2026-12-02T06:00:00Z");
    lock.record_intent(&nov, "<m1@kpi>", &recipients()).unwrap();
    let failed = lock.record_failure(&nov, "smtp: 451 try later").unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(
        decide(Some(&failed), OnUnconfirmed::Hold, false),
        Decision::Send {
            reuse_message_id: Some("<m1@kpi>".into())
        }
    );
    lock.record_intent(&nov, "<m1@kpi>", &recipients()).unwrap();
    let sent = lock.confirm(&nov, "<m1@kpi>").unwrap();
    assert_eq!(sent.attempts, 2);
    assert_eq!(sent.error.as_deref(), Some("smtp: 451 try later"));
    assert_eq!(sent.history.len(), 4);
}

#[test]
fn confirm_needs_a_matching_intent_and_the_right_lock() {
    let lake = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(lake.path()).unwrap();
    let lock = ledger.lock("monthly").unwrap();
    let nov = run("2026-12-02T06:00:00Z");
    assert!(matches!(
        lock.confirm(&nov, "<m1@kpi>"),
        Err(LedgerError::NoIntent { .. })
    ));
    lock.record_intent(&nov, "<m1@kpi>", &recipients()).unwrap();
    assert!(matches!(
        lock.confirm(&nov, "<other@kpi>"),
        Err(LedgerError::NoIntent { .. })
    ));
    let other = ledger.lock("nightly").unwrap();
    assert!(matches!(
        other.record_skip(&nov, "stale"),
        Err(LedgerError::WrongSchedule { .. })
    ));
    assert!(matches!(
        ledger.lock("../etc"),
        Err(LedgerError::BadName(_))
    ));
}

fn entry(status: Status, sent_before: bool) -> Entry {
    let now = utc("2026-12-02T06:00:05Z");
    Entry {
        schedule: "monthly".into(),
        period_key: "2026-11-01_2026-11-30".into(),
        period_label: "November 2026".into(),
        status,
        due: utc("2026-12-02T06:00:00Z"),
        message_id: Some("<m1@kpi>".into()),
        recipients: recipients(),
        attempts: 1,
        error: None,
        reason: None,
        sent_at: sent_before.then_some(now),
        created: now,
        updated: now,
        history: Vec::new(),
    }
}

#[test]
fn decide_every_case() {
    use Decision::*;
    use OnUnconfirmed::{Hold as H, Resend as R};
    let fresh = Send {
        reuse_message_id: None,
    };
    let reuse = Send {
        reuse_message_id: Some("<m1@kpi>".into()),
    };
    assert_eq!(decide(None, H, false), fresh);
    assert_eq!(decide(None, R, true), fresh);

    let sent = entry(Status::Sent, true);
    assert_eq!(decide(Some(&sent), H, false), SkipAlreadySent);
    assert_eq!(decide(Some(&sent), R, false), SkipAlreadySent);
    assert_eq!(decide(Some(&sent), H, true), fresh);

    let sending = entry(Status::Sending, false);
    assert_eq!(decide(Some(&sending), H, false), Hold);
    assert_eq!(decide(Some(&sending), R, false), reuse);
    assert_eq!(decide(Some(&sending), H, true), reuse);

    // A forced resend that was never confirmed: the period was delivered
    // once, so nothing automatic sends it again.
    let resending = entry(Status::Sending, true);
    assert_eq!(decide(Some(&resending), R, false), SkipAlreadySent);

    let held = entry(Status::Held, false);
    assert_eq!(decide(Some(&held), H, false), Hold);
    assert_eq!(decide(Some(&held), R, false), Hold);
    assert_eq!(decide(Some(&held), H, true), reuse);

    let failed = entry(Status::Failed, false);
    assert_eq!(decide(Some(&failed), H, false), reuse);
    let mut skipped = entry(Status::Skipped, false);
    skipped.message_id = None;
    assert_eq!(decide(Some(&skipped), H, false), fresh);
}

#[test]
fn listing_last_sent_and_checked() {
    let lake = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(lake.path()).unwrap();
    assert_eq!(ledger.entries().unwrap(), Vec::new());
    assert_eq!(ledger.last_checked("monthly").unwrap(), None);
    assert_eq!(ledger.last_sent("monthly").unwrap(), None);

    let lock = ledger.lock("monthly").unwrap();
    let oct = run("2026-11-02T06:00:00Z");
    let nov = run("2026-12-02T06:00:00Z");
    let dec = run("2027-01-02T06:00:00Z");
    lock.record_intent(&nov, "<nov@kpi>", &recipients())
        .unwrap();
    lock.confirm(&nov, "<nov@kpi>").unwrap();
    lock.record_intent(&oct, "<oct@kpi>", &recipients())
        .unwrap();
    lock.confirm(&oct, "<oct@kpi>").unwrap();
    lock.record_skip(&dec, "data is 3 days old").unwrap();
    lock.mark_checked(utc("2027-01-02T06:05:00Z")).unwrap();
    // Never backwards.
    lock.mark_checked(utc("2026-01-01T00:00:00Z")).unwrap();
    drop(lock);

    let nightly = Schedule::parse(
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\n",
        Path::new("nightly.toml"),
        chrono_tz::Europe::Madrid,
    )
    .unwrap();
    let n = nightly.run_at(utc("2026-12-15T05:00:00Z")).unwrap();
    let lock = ledger.lock("nightly").unwrap();
    lock.record_held(&n, "unconfirmed send").unwrap();
    drop(lock);

    let reopened = Ledger::open(lake.path()).unwrap();
    let listing: Vec<(String, String, Status)> = reopened
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.schedule, e.period_key, e.status))
        .collect();
    assert_eq!(
        listing,
        vec![
            (
                "monthly".into(),
                "2026-10-01_2026-10-31".into(),
                Status::Sent
            ),
            (
                "monthly".into(),
                "2026-11-01_2026-11-30".into(),
                Status::Sent
            ),
            (
                "nightly".into(),
                "2026-12-14_2026-12-14".into(),
                Status::Held
            ),
            (
                "monthly".into(),
                "2026-12-01_2026-12-31".into(),
                Status::Skipped
            ),
        ]
    );
    assert_eq!(
        reopened.last_sent("monthly").unwrap().unwrap().period_key,
        "2026-11-01_2026-11-30"
    );
    assert_eq!(
        reopened.last_checked("monthly").unwrap(),
        Some(utc("2027-01-02T06:05:00Z"))
    );
}

#[test]
fn a_corrupt_record_is_reported_with_its_path() {
    let lake = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(lake.path()).unwrap();
    std::fs::create_dir_all(lake.path().join("_runs/monthly")).unwrap();
    std::fs::write(
        lake.path().join("_runs/monthly/2026-11-01_2026-11-30.json"),
        "{",
    )
    .unwrap();
    let err = ledger.entries().unwrap_err().to_string();
    assert!(
        err.contains("_runs/monthly/2026-11-01_2026-11-30.json"),
        "{err}"
    );
}

#[test]
fn a_second_locker_waits_for_the_first() {
    let lake = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(lake.path()).unwrap();
    let held = ledger.lock("monthly").unwrap();
    // Another schedule's lock is independent.
    assert!(ledger.try_lock("nightly").unwrap().is_some());
    assert!(ledger.try_lock("monthly").unwrap().is_none());

    let (tx, rx) = mpsc::channel();
    let other = ledger.clone();
    let waiter = std::thread::spawn(move || {
        tx.send(Instant::now()).unwrap();
        let _lock = other.lock("monthly").unwrap();
        Instant::now()
    });
    let started = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let released = Instant::now();
    drop(held);
    let acquired = waiter.join().unwrap();
    assert!(acquired >= released, "the second locker did not wait");
    assert!(acquired - started >= Duration::from_millis(250));
    // And once it is gone, the lock is free again.
    assert!(ledger.try_lock("monthly").unwrap().is_some());
}
