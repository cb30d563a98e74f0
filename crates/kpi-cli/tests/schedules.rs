//! Scheduled runs through the `kpi` binary: listing, due runs, exactly-once
//! delivery across concurrent processes and crashes, freshness, the daemon.
//! Each test has its own demo setup, because the run ledger lives in the lake.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::demo::{Demo, NIGHTLY_DUE, header, is_report};

#[test]
fn schedules_lists_due_times_in_local_time_and_utc_and_every_bad_file() {
    let demo = Demo::new(&["nightly", "weekly", "monthly"]);
    let out = demo.ok(&["schedules", "--now", "2026-11-24T12:00:00Z"]);
    // Nightly at 06:00 Madrid (CET, UTC+1): 05:00Z.
    assert!(
        out.contains("next: Wed 2026-11-25 06:00 CET  (2026-11-25T05:00:00Z)"),
        "{out}"
    );
    assert!(out.contains("next: Fri 2026-11-27 06:00 CET  (2026-11-27T05:00:00Z)"));
    // Weekly on Mondays 07:30; monthly on the 2nd at 07:00.
    assert!(out.contains("next: Mon 2026-11-30 07:30 CET  (2026-11-30T06:30:00Z)"));
    assert!(out.contains("next: Wed 2026-12-02 07:00 CET  (2026-12-02T06:00:00Z)"));
    assert!(out.contains("next: Sat 2027-01-02 07:00 CET  (2027-01-02T06:00:00Z)"));
    assert_eq!(out.matches("last delivery: never").count(), 3);

    // Three broken files: each is named with its field, and the good ones
    // are still listed.
    let dir = demo.root.join("schedules");
    std::fs::write(
        dir.join("bad_cron.toml"),
        "cron = \"61 * * * *\"\nperiod = \"yesterday\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad_zone.toml"),
        "cron = \"0 6 * * *\"\ntimezone = \"Europe/Madird\"\nperiod = \"yesterday\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad_kpi.toml"),
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\nheadline = [\"revenue\", \"cpx\", \"roi\"]\n",
    )
    .unwrap();
    let out = demo.run(&["schedules", "--now", "2026-11-24T12:00:00Z"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad_cron.toml") && err.contains("`cron`"),
        "{err}"
    );
    assert!(err.contains("61"), "{err}");
    assert!(
        err.contains("bad_zone.toml") && err.contains("`timezone`"),
        "{err}"
    );
    assert!(err.contains("Europe/Madird"), "{err}");
    assert!(
        err.contains("bad_kpi.toml") && err.contains("`headline`"),
        "{err}"
    );
    assert!(err.contains("cpx"), "{err}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("nightly") && listed.contains("monthly"));

    // Unknown schedule: the known ones are listed.
    let out = demo.run(&["run", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no schedule 'nope'") && err.contains("nightly"),
        "{err}"
    );
}

#[test]
fn two_run_due_processes_at_once_deliver_once() {
    let demo = Demo::new(&["nightly"]);
    let spawn = || {
        demo.cmd(&["run-due", "--now", NIGHTLY_DUE])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
    assert_eq!(both.matches(": sent:").count(), 1, "{both}");
    let mail = demo.outbox();
    assert_eq!(mail.len(), 1, "one delivery");
    // Yesterday vs the day before and the same weekday a week earlier.
    assert!(
        header(&mail[0], "Subject").contains("2026-11-23"),
        "{}",
        header(&mail[0], "Subject")
    );
    assert!(mail[0].contains("vs same weekday last week"));

    // The ledger has it, with its Message-ID.
    let ledger = demo.ok(&["ledger", "--format", "csv"]);
    let id = header(&mail[0], "Message-ID");
    let row = ledger
        .lines()
        .find(|l| l.starts_with("nightly,"))
        .unwrap_or_else(|| panic!("{ledger}"));
    assert!(row.contains(",2026-11-23_2026-11-23,sent,"), "{row}");
    assert!(row.contains(id), "{row}");

    // Again: nothing is due. `run` says it was sent; --force resends.
    assert!(
        demo.ok(&["run-due", "--now", NIGHTLY_DUE])
            .contains("nothing due")
    );
    let again = demo.ok(&["run", "nightly", "--now", NIGHTLY_DUE]);
    assert!(again.contains("already sent"), "{again}");
    assert_eq!(demo.outbox().len(), 1);
    demo.ok(&["run", "nightly", "--now", NIGHTLY_DUE, "--force"]);
    assert_eq!(demo.outbox().len(), 2);
    let shown = demo.ok(&["schedules", "--now", NIGHTLY_DUE]);
    assert!(shown.contains("last delivery: 2026-11-23"), "{shown}");
}

#[test]
fn a_crash_after_the_server_accepted_is_held_or_resent_with_the_same_message_id() {
    let demo = Demo::new(&["nightly"]);
    // Crash between the transport accepting the message and the ledger
    // recording it.
    let crashed = demo
        .cmd(&["run-due", "--now", NIGHTLY_DUE])
        .env("KPI_CRASH_AFTER_SEND", "1")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert_eq!(demo.outbox().len(), 1, "the message went out");
    let ledger = demo.ok(&["ledger", "--format", "csv"]);
    assert!(
        ledger.contains(",sending,"),
        "the intent is recorded: {ledger}"
    );

    // The default (hold): no second report; the owner is told.
    let out = demo.ok(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(out.contains(": held:"), "{out}");
    let mail = demo.outbox();
    assert_eq!(mail.iter().filter(|m| is_report(m)).count(), 1);
    let notice = mail
        .iter()
        .find(|m| !is_report(m))
        .expect("an owner notice");
    assert!(header(notice, "Subject").contains("held"), "{notice}");
    assert!(notice.contains("never confirmed"));
    assert!(demo.ok(&["ledger", "--format", "csv"]).contains(",held,"));

    // resend: the same Message-ID again, so the recipient's mail system shows one.
    demo.edit(
        "nightly",
        "catch_up = \"latest\"",
        "catch_up = \"latest\"\non_unconfirmed = \"resend\"",
    );
    let period = ["--from", "2026-11-22", "--to", "2026-11-22"];
    let crashed = demo
        .cmd(&[&["run", "nightly", "--now", NIGHTLY_DUE][..], &period[..]].concat())
        .env("KPI_CRASH_AFTER_SEND", "1")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    let out = demo.ok(&[&["run", "nightly", "--now", NIGHTLY_DUE][..], &period[..]].concat());
    assert!(out.contains(": sent:"), "{out}");
    let reports: Vec<String> = demo
        .outbox()
        .into_iter()
        .filter(|m| is_report(m) && header(m, "Subject").contains("2026-11-22"))
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        header(&reports[0], "Message-ID"),
        header(&reports[1], "Message-ID")
    );
}

#[test]
fn a_stale_source_skips_the_run_and_tells_the_owner_or_sends_with_a_note() {
    let demo = Demo::new(&["monthly"]);
    demo.edit(
        "monthly",
        "on_unconfirmed = \"hold\"",
        "on_unconfirmed = \"hold\"\nowner = \"ops@example.com\"",
    );
    // Due 2 December for November; the lake ends 23 November.
    let due = "2026-12-02T07:00:00+01:00";
    let out = demo.ok(&["run-due", "--now", due]);
    assert!(
        out.contains("November 2026") && out.contains(": skipped:"),
        "{out}"
    );
    let mail = demo.outbox();
    assert_eq!(mail.len(), 1);
    assert!(!is_report(&mail[0]));
    assert_eq!(header(&mail[0], "To"), "ops@example.com");
    assert!(
        mail[0].contains("google_ads.campaign_stats has data through 2026-11-23"),
        "{}",
        mail[0]
    );
    assert!(
        demo.ok(&["ledger", "--format", "csv"])
            .contains(",skipped,")
    );
    // Still due (the data may arrive); the owner is not told twice.
    let out = demo.ok(&["run-due", "--now", due]);
    assert!(out.contains(": skipped:"), "{out}");
    assert_eq!(demo.outbox().len(), 1);

    // freshness = "send": the report goes out with the stale data called out.
    demo.edit("monthly", "freshness = \"skip\"", "freshness = \"send\"");
    let out = demo.ok(&["run-due", "--now", due]);
    assert!(out.contains(": sent:"), "{out}");
    let report = demo.outbox().into_iter().find(|m| is_report(m)).unwrap();
    assert!(report.contains("Stale data"), "the note is in the report");
    assert!(report.contains("google_ads.campaign_stats (data through 2026-11-23)"));
}

#[test]
fn the_daemon_runs_what_is_due_and_stops_on_sigterm() {
    let demo = Demo::new(&[]);
    // Due every minute; with no ledger yet, the latest due minute runs at once.
    std::fs::write(
        demo.schedule("every_minute"),
        "cron = \"* * * * *\"\nperiod = \"yesterday\"\nfreshness = \"send\"\n",
    )
    .unwrap();
    let child = demo
        .cmd(&["daemon"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while demo.outbox().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(120), "nothing sent");
        std::thread::sleep(Duration::from_millis(200));
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("SIGTERM: stopping"), "{err}");
    assert!(err.contains("sleeping until the next due time"), "{err}");
    assert!(is_report(&demo.outbox()[0]));
}
