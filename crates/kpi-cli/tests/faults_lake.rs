//! Faults in the lake and in the names kpi.toml gives it, driven through the
//! `kpi` binary: an empty or cut-short Parquet file stops every command that
//! would read it (and a scheduled run sends nothing and tells its owner),
//! and a name that cannot be a folder or an SQL identifier is refused when
//! the config is loaded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const KPI: &str = env!("CARGO_BIN_EXE_kpi");
/// The demo's data ends 2026-11-23 (Madrid).
const AS_OF: &str = "2026-11-24";
/// 06:30 in Madrid on 24 November: the nightly (06:00) is due, for 23 November.
const NIGHTLY_DUE: &str = "2026-11-24T06:30:00+01:00";

/// One demo setup for the whole file, never changed: tests that damage a
/// lake damage a copy of it.
fn shared_demo() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(KPI)
            .args(["--as-of", AS_OF, "demo", "--months", "14", "--dir"])
            .arg(dir.path().join("demo"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A private copy of the demo setup (its paths are relative to kpi.toml),
/// with only the schedules in `keep` and an empty outbox.
struct Demo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Demo {
    fn copy(keep: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        copy_dir(&shared_demo().join("demo"), &root);
        for e in std::fs::read_dir(root.join("schedules")).unwrap() {
            let p = e.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if !keep.contains(&stem.as_str()) {
                std::fs::remove_file(p).unwrap();
            }
        }
        // The demo's own report is in the outbox; start from an empty one.
        let _ = std::fs::remove_dir_all(root.join("outbox"));
        Demo { _dir: dir, root }
    }

    fn lake(&self, rel: &str) -> PathBuf {
        self.root.join("lake").join(rel)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(KPI)
            .arg("--config")
            .arg(self.root.join("kpi.toml"))
            .args(["--as-of", AS_OF])
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kpi {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its stdout and stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "kpi {args:?} should fail:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
        text
    }

    /// Every message in the outbox, decoded enough to search
    /// (quoted-printable soft breaks joined, `=3D` read as `=`).
    fn outbox(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root.join("outbox"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        files
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }

    fn edit_schedule(&self, name: &str, from: &str, to: &str) {
        let p = self.root.join("schedules").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from} not in {}", p.display());
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn header<'a>(eml: &'a str, name: &str) -> &'a str {
    eml.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in\n{eml}"))
}

fn is_report(eml: &str) -> bool {
    eml.contains("multipart/related")
}

#[test]
fn an_empty_snapshot_file_stops_report_kpis_sql_and_materialize() {
    let demo = Demo::copy(&[]);
    let deals = demo.lake("raw/hubspot/deals/part-0.parquet");
    assert!(std::fs::metadata(&deals).unwrap().len() > 0);
    std::fs::write(&deals, b"").unwrap();
    let names_file_and_fix = |err: &str| {
        assert!(
            err.contains(&format!("{}: the file is empty (0 bytes)", deals.display())),
            "{err}"
        );
        assert!(
            err.contains("kpi sync --source hubspot --full-refresh"),
            "{err}"
        );
    };

    // The report: an error, no file, nothing sent.
    let out = demo.root.join("report.html");
    let err = demo.fails(&[
        "report",
        "leadership",
        "--out",
        out.to_str().unwrap(),
        "--send",
    ]);
    names_file_and_fix(&err);
    assert!(!out.exists() && !out.with_extension("txt").exists());
    assert!(demo.outbox().is_empty(), "nothing was sent");

    names_file_and_fix(&demo.fails(&["kpis", "--period", "previous_month"]));
    names_file_and_fix(&demo.fails(&["sql", "SELECT count(*) AS deals FROM hubspot.deals"]));
    names_file_and_fix(&demo.fails(&["sql", "SELECT sum(amount) FROM crm_deals"]));

    // materialize: the canonical files stay as they were.
    let canonical = demo.lake("canonical");
    let before = snapshot(&canonical);
    assert!(!before.is_empty());
    names_file_and_fix(&demo.fails(&["materialize"]));
    assert!(snapshot(&canonical) == before, "canonical files unchanged");

    // A canonical view's file read by its path: named, with `kpi materialize`.
    let view = canonical.join("ad_performance/part-0.parquet");
    std::fs::write(&view, b"").unwrap();
    let err = demo.fails(&["sql", &format!("SELECT count(*) FROM '{}'", view.display())]);
    assert!(
        err.contains(&format!("{}: the file is empty (0 bytes)", view.display()))
            && err.contains("\n  kpi materialize"),
        "{err}"
    );

    // A query that reads no file of it still runs.
    let out = demo.ok(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM google_ads.campaign_stats WHERE date = DATE '2026-11-23'",
    ]);
    assert!(out.starts_with("n\n"), "{out}");
}

#[test]
fn an_empty_or_cut_day_file_stops_the_queries_that_read_that_day_only() {
    let demo = Demo::copy(&[]);
    // A day of October 2026: previous_month as of 24 November.
    let day = demo.lake("raw/ga4/traffic/date=2026-10-14/part-0.parquet");
    assert!(
        std::fs::metadata(&day).unwrap().len() > 0,
        "{}",
        day.display()
    );
    let whole = std::fs::read(&day).unwrap();
    std::fs::write(&day, b"").unwrap();

    let check = |err: &str, why: &str| {
        assert!(err.contains(&format!("{}: {why}", day.display())), "{err}");
        assert!(
            err.contains("kpi sync --source ga4 --from 2026-10-14 --to 2026-10-14"),
            "{err}"
        );
    };
    check(
        &demo.fails(&["kpis", "--period", "previous_month", "--format", "csv"]),
        "the file is empty (0 bytes)",
    );
    check(
        &demo.fails(&["sql", "SELECT sum(sessions) FROM web_traffic"]),
        "the file is empty (0 bytes)",
    );
    let out = demo.root.join("report.html");
    check(
        &demo.fails(&["report", "leadership", "--out", out.to_str().unwrap()]),
        "the file is empty (0 bytes)",
    );
    assert!(!out.exists());

    // Days the query does not read are not opened: November still reports.
    let nov = demo.ok(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM ga4.traffic WHERE date >= DATE '2026-11-01'",
    ]);
    assert!(nov.starts_with("n\n") && !nov.contains("\n0\n"), "{nov}");

    // Cut short (a copy that stopped half way): the same, with the reason.
    std::fs::write(&day, &whole[..whole.len() / 2]).unwrap();
    check(
        &demo.fails(&["kpis", "--period", "previous_month"]),
        "no Parquet footer",
    );
    // Put back whole, the period reports again.
    std::fs::write(&day, &whole).unwrap();
    demo.ok(&["kpis", "--period", "previous_month", "--format", "csv"]);
}

#[test]
fn a_scheduled_run_over_an_empty_file_sends_nothing_and_tells_the_owner_once() {
    let demo = Demo::copy(&["nightly"]);
    demo.edit_schedule(
        "nightly",
        "# owner = \"analytics@example.com\"",
        "owner = \"ops@example.com\"",
    );
    // The nightly reports 23 November.
    let day = demo.lake("raw/ga4/traffic/date=2026-11-23/part-0.parquet");
    let whole = std::fs::read(&day).unwrap();
    std::fs::write(&day, b"").unwrap();

    let out = demo.fails(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(out.contains(": failed:"), "{out}");
    let mail = demo.outbox();
    assert_eq!(mail.len(), 1, "one notice, no report");
    let notice = &mail[0];
    assert!(!is_report(notice), "{notice}");
    assert_eq!(header(notice, "To"), "ops@example.com");
    assert!(header(notice, "Subject").contains("not sent"), "{notice}");
    assert!(notice.contains(&day.display().to_string()), "{notice}");
    assert!(notice.contains("the file is empty (0 bytes)"), "{notice}");
    assert!(
        notice.contains("kpi sync --source ga4 --from 2026-11-23 --to 2026-11-23"),
        "{notice}"
    );

    // The ledger has the failure with its error (a quoted, multi-line field).
    let ledger = demo.ok(&["ledger", "--format", "csv"]);
    assert!(
        ledger.contains("\nnightly,2026-11-23,2026-11-23_2026-11-23,failed,"),
        "{ledger}"
    );
    assert!(
        ledger.contains(&format!("{}: the file is empty", day.display())),
        "{ledger}"
    );

    // Still due: the next run-due fails again, and the owner is not told twice.
    let out = demo.fails(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(out.contains(": failed:"), "{out}");
    assert_eq!(demo.outbox().len(), 1);
    // `kpi run` says so too.
    let out = demo.fails(&["run", "nightly", "--now", NIGHTLY_DUE]);
    assert!(out.contains("the file is empty (0 bytes)"), "{out}");
    assert!(demo.outbox().iter().all(|m| !is_report(m)));

    // Once the day is whole again, the next run-due sends it.
    std::fs::write(&day, &whole).unwrap();
    let out = demo.ok(&["run-due", "--now", NIGHTLY_DUE]);
    assert!(out.contains(": sent:"), "{out}");
    assert_eq!(demo.outbox().iter().filter(|m| is_report(m)).count(), 1);
}

#[test]
fn names_that_cannot_be_folders_or_sql_identifiers_are_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    let cfg = dir.path().join("kpi.toml");
    let cfg_s = cfg.to_string_lossy().to_string();
    let run = |args: &[&str]| -> String {
        let out = Command::new(KPI)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "kpi {args:?} should fail:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
        text
    };
    // `costs` reads files: `kpi check` has nothing to probe over the network.
    let long = "a".repeat(300);
    std::fs::write(
        &cfg,
        format!("[reporting]\ncurrency = \"EUR\"\n[sources.{long}]\ntype = \"costs\"\n"),
    )
    .unwrap();
    for args in [
        &["check"][..],
        &["kpis"],
        &["sql", "SELECT 1"],
        &["sync", "--source", &long],
        &["materialize"],
        &["run-due"],
    ] {
        let err = run(args);
        assert!(
            err.contains(&format!(
                "{cfg_s}: line 3: sources.aaaaaaaaaaaaaaaaaaaaaaaa... (300 characters): a source \
                 name must start with a lowercase letter and hold only a-z, 0-9 and _, at most 63 \
                 characters"
            )),
            "{args:?}: {err}"
        );
        assert!(!err.contains(&long), "the name is shortened: {err}");
        assert!(!err.contains("too long"), "{err}");
    }
    // A name that is not an SQL identifier.
    std::fs::write(
        &cfg,
        "[reporting]\ncurrency = \"EUR\"\n[sources.2024ads]\ntype = \"costs\"\n",
    )
    .unwrap();
    let err = run(&["check"]);
    assert!(
        err.contains("sources.2024ads: a source name must start with a lowercase letter")
            && err.contains("this one starts with '2'"),
        "{err}"
    );

    // A report name.
    std::fs::write(
        &cfg,
        format!("[reporting]\ncurrency = \"EUR\"\n[reports.{long}]\nto = [\"a@example.com\"]\n"),
    )
    .unwrap();
    let err = run(&["check"]);
    assert!(
        err.contains("reports.aaaaaaaaaaaaaaaaaaaaaaaa... (300 characters): a report name")
            && err.contains("at most 63 characters"),
        "{err}"
    );

    // A schedule's name is its file name, and names ledger files.
    std::fs::write(&cfg, "[reporting]\ncurrency = \"EUR\"\n").unwrap();
    let schedules = dir.path().join("schedules");
    std::fs::create_dir(&schedules).unwrap();
    let name = "n".repeat(240);
    std::fs::write(
        schedules.join(format!("{name}.toml")),
        "cron = \"0 6 * * *\"\nperiod = \"yesterday\"\nto = [\"a@example.com\"]\n",
    )
    .unwrap();
    for args in [&["check"][..], &["schedules"], &["run-due"]] {
        let err = run(args);
        assert!(
            err.contains("a schedule's name is its file name")
                && err.contains("at most 63 characters"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("too long"), "{err}");
    }
}
