//! Faults around delivery and the run ledger, driven through the `kpi`
//! binary: a mail server that stores the report and answers too late, a
//! damaged ledger record, temporary files left by an interrupted write, and
//! what cron's log file and `jq` get to read.

mod common;

use std::time::Duration;

use common::demo::{Demo, NIGHTLY_DUE, header, is_report};
use kpi_testkit::{Received, SmtpOptions, SmtpServer};

/// Points the demo's `[delivery]` at `server` (STARTTLS, AUTH, its CA), with
/// a 1 s reply timeout.
fn use_smtp(demo: &Demo, server: &SmtpServer) {
    let ca = server.write_ca(&demo.root);
    let cfg = demo.root.join("kpi.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let smtp = format!(
        "[delivery]\ntransport = \"smtp\"\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\n\
         ca_file = \"{}\"\ntimeout_secs = 1\nattempts = 3\n\
         username_env = \"KPI_TEST_SMTP_USER\"\npassword_env = \"KPI_TEST_SMTP_PASS\"\n",
        server.port(),
        ca.display()
    );
    let text = text.replacen("[delivery]\ntransport = \"outbox\"\n", &smtp, 1);
    assert!(text.contains("timeout_secs = 1"));
    std::fs::write(cfg, text).unwrap();
}

fn smtp_cmd(demo: &Demo, args: &[&str]) -> std::process::Output {
    demo.cmd(args)
        .env("KPI_TEST_SMTP_USER", "reporter")
        .env("KPI_TEST_SMTP_PASS", "s3cret")
        .output()
        .unwrap()
}

fn reports(got: &[Received]) -> Vec<&Received> {
    got.iter().filter(|m| is_report(&m.data)).collect()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_server_that_answers_data_too_late_gets_one_copy_and_the_run_is_held() {
    let demo = Demo::new(&["nightly"]);
    // Stores the message, then answers the end of DATA after 3 s; kpi waits 1 s.
    let server = SmtpServer::start(SmtpOptions {
        reply_delay: Duration::from_secs(3),
        ..Default::default()
    });
    use_smtp(&demo, &server);

    let out = smtp_cmd(&demo, &["run", "nightly", "--now", NIGHTLY_DUE]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("timed out after 1 s waiting for the server's reply to DATA"),
        "{said}"
    );
    assert!(said.contains("may have arrived"), "{said}");
    assert!(!said.contains("was not sent"), "{said}");
    let got = server.wait_for(2, Duration::from_secs(5));
    assert_eq!(reports(&got).len(), 1, "one copy, not one per attempt");
    let id = header(&reports(&got)[0].data, "Message-ID").to_string();

    // The ledger holds it (the default on_unconfirmed = "hold") and says why.
    let ledger = demo.ok(&["ledger", "--format", "csv"]);
    assert!(ledger.contains(",held,"), "{ledger}");
    assert!(ledger.contains(&id), "{ledger}");
    // The owner was told (the notice went through the same slow server).
    assert!(
        got.iter()
            .any(|m| !is_report(&m.data) && header(&m.data, "Subject").contains("unconfirmed")),
        "no owner notice"
    );

    // The next scheduled run sends nothing.
    server.set_options(SmtpOptions::default());
    let again = smtp_cmd(&demo, &["run-due", "--now", NIGHTLY_DUE]);
    assert!(text(&again).contains(": held:"), "{}", text(&again));
    assert_eq!(reports(&server.received()).len(), 1, "not sent again");

    // A person who checked forces it: the same Message-ID.
    let forced = smtp_cmd(&demo, &["run", "nightly", "--now", NIGHTLY_DUE, "--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    let got = server.received();
    let sent = reports(&got);
    assert_eq!(sent.len(), 2);
    assert_eq!(header(&sent[1].data, "Message-ID"), id);
    assert!(demo.ok(&["ledger", "--format", "csv"]).contains(",sent,"));
}

#[test]
fn with_resend_an_unconfirmed_send_goes_again_with_the_same_message_id() {
    let demo = Demo::new(&["nightly"]);
    demo.edit(
        "nightly",
        "catch_up = \"latest\"",
        "catch_up = \"latest\"\non_unconfirmed = \"resend\"",
    );
    let server = SmtpServer::start(SmtpOptions {
        reply_delay: Duration::from_secs(3),
        ..Default::default()
    });
    use_smtp(&demo, &server);
    let out = smtp_cmd(&demo, &["run-due", "--now", NIGHTLY_DUE]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(": unconfirmed:"), "{}", text(&out));
    assert_eq!(
        reports(&server.wait_for(1, Duration::from_secs(5))).len(),
        1
    );
    let ledger = demo.ok(&["ledger", "--format", "csv"]);
    assert!(ledger.contains(",sending,"), "{ledger}");

    // Still due: the next run-due resends it, with the same Message-ID.
    server.set_options(SmtpOptions::default());
    let out = smtp_cmd(&demo, &["run-due", "--now", NIGHTLY_DUE]);
    assert!(out.status.success(), "{}", text(&out));
    let got = server.received();
    let sent = reports(&got);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        header(&sent[0].data, "Message-ID"),
        header(&sent[1].data, "Message-ID")
    );
    // And only once: it is now sent.
    let out = smtp_cmd(&demo, &["run-due", "--now", NIGHTLY_DUE]);
    assert!(text(&out).contains("nothing due"), "{}", text(&out));
    assert_eq!(reports(&server.received()).len(), 2);
}

#[test]
fn a_damaged_ledger_record_holds_only_its_own_schedule() {
    let demo = Demo::new(&["nightly"]);
    // A second schedule due at the same time.
    std::fs::copy(demo.schedule("nightly"), demo.schedule("nightly_copy")).unwrap();
    let record = demo
        .root
        .join("lake/_runs/nightly/2026-11-23_2026-11-23.json");
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::write(&record, "{\"schedule\": \"nightly\", \"stat").unwrap();

    let out = demo.run(&["run-due", "--now", NIGHTLY_DUE]);
    let said = text(&out);
    assert!(!out.status.success(), "the damage needs a person: {said}");
    assert!(
        said.contains("nightly_copy") && said.contains(": sent:"),
        "the other schedule ran: {said}"
    );
    assert!(
        said.contains("nightly: held: damaged ledger record"),
        "{said}"
    );
    assert!(said.contains(&record.display().to_string()), "{said}");
    let mail = demo.outbox();
    assert_eq!(mail.iter().filter(|m| is_report(m)).count(), 1);
    let notice = mail
        .iter()
        .find(|m| !is_report(m))
        .expect("an owner notice");
    assert!(header(notice, "Subject").contains("damaged"), "{notice}");
    assert!(
        std::fs::read_to_string(&record).unwrap().ends_with("stat"),
        "the damaged file is kept as evidence"
    );

    // The listings show everything else and name the damaged file.
    let out = demo.run(&["ledger", "--format", "csv"]);
    let (listed, errors) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(!out.status.success(), "{listed}{errors}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("nightly_copy,") && l.contains(",sent,")),
        "the other schedule's run is listed: {listed}"
    );
    assert!(
        errors.contains("damaged ledger record: ")
            && errors.contains(&record.display().to_string()),
        "{errors}"
    );
    let out = demo.run(&["schedules", "--now", NIGHTLY_DUE]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("last delivery: unknown: "), "{said}");
    let copy = &said[said
        .find("nightly_copy  (")
        .expect("nightly_copy is listed")..];
    assert!(copy.contains("last delivery: 2026-11-23 ("), "{said}");

    // Repaired (removed): nightly runs.
    std::fs::remove_file(&record).unwrap();
    let out = demo.ok(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(
        out.contains("nightly 2026-11-23") && out.contains(": sent:"),
        "{out}"
    );
}

#[test]
fn temporary_files_of_an_interrupted_write_are_swept() {
    let demo = Demo::new(&["nightly"]);
    // What a killed run or a full disk leaves behind.
    let runs = demo.root.join("lake/_runs/nightly");
    std::fs::create_dir_all(&runs).unwrap();
    let ledger_tmp = runs.join("2026-11-22_2026-11-22.json.4242.tmp");
    std::fs::write(&ledger_tmp, "{\"half").unwrap();
    let checked_tmp = demo.root.join("lake/_runs/nightly.checked.json.4242.tmp");
    std::fs::write(&checked_tmp, "{").unwrap();
    let outbox = demo.root.join("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    let old_eml = outbox.join(".1700000000-abc.eml.tmp");
    std::fs::write(&old_eml, "From: half").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old_eml)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    // One being written right now by another run stays.
    let fresh_eml = outbox.join(".1800000000-def.eml.tmp");
    std::fs::write(&fresh_eml, "From: in progress").unwrap();

    demo.ok(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(!ledger_tmp.exists() && !checked_tmp.exists());
    assert!(!old_eml.exists(), "a stale outbox temp file is removed");
    assert!(fresh_eml.exists(), "a fresh one may be another run's");
    assert_eq!(demo.outbox().len(), 1);
}

#[test]
fn logs_to_a_file_are_plain_and_ledger_json_has_numbers() {
    let demo = Demo::new(&["nightly"]);
    demo.ok(&["run-due", "--now", NIGHTLY_DUE]);
    // stderr is a pipe here, as in cron's `>> kpi.log`.
    let out = demo.run(&["-v", "run-due", "--now", NIGHTLY_DUE]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INFO"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no ANSI codes in a log file: {err:?}"
    );

    let json = demo.ok(&["ledger", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["attempts"], serde_json::json!(1), "{json}");
    assert_eq!(rows[0]["status"], "sent");
}
