//! `kpi schedules`, `kpi run-due`, `kpi run`, `kpi daemon` and `kpi ledger`:
//! output and the daemon's loop; the runs themselves are the pipeline's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use kpi_core::Config;
use kpi_pipeline::kpi_schedule::{Ledger, Schedule};
use kpi_pipeline::schedules::{self, RunOutcome, Schedules};

use crate::output::{self, Format};

/// Parses `--now` (RFC 3339, any offset).
pub fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{s}' is not an RFC 3339 time such as 2026-12-02T07:00:00+01:00 ({e})")
        })
}

fn local(s: &Schedule, t: DateTime<Utc>) -> String {
    s.local(t).format("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// Loads the schedules; every bad file is printed to stderr.
fn load(config: &Config) -> Result<Schedules> {
    let set = schedules::load_schedules(config)?;
    for e in &set.errors {
        eprintln!("error: {e}");
    }
    Ok(set)
}

/// `kpi schedules`: each schedule, its next three due times and last delivery.
pub fn list(config: &Config, now: DateTime<Utc>) -> Result<()> {
    let set = load(config)?;
    let ledger = Ledger::open(&config.lake_path())?;
    if set.valid.is_empty() && set.errors.is_empty() {
        println!("no schedules in {}", set.dir.display());
    }
    let mut damaged = 0;
    for s in &set.valid {
        println!(
            "{}  ({})\n  cron \"{}\" in {}, report {}, period {}{}",
            s.name,
            s.path.display(),
            s.cron.as_str(),
            s.timezone,
            s.report,
            s.period.name(),
            if s.enabled { "" } else { ", DISABLED" }
        );
        for t in s.next_n(now, 3) {
            println!(
                "  next: {}  ({})",
                local(s, t),
                t.format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        let last = match ledger.last_sent(&s.name) {
            Ok(last) => last,
            // One schedule's damaged record does not hide the others.
            Err(e) => {
                println!("  last delivery: unknown: {e}");
                damaged += 1;
                continue;
            }
        };
        match last {
            Some(e) => println!(
                "  last delivery: {} ({}), {} at {}",
                e.period_label,
                e.period_key,
                e.message_id.unwrap_or_default(),
                e.sent_at
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default()
            ),
            None => println!("  last delivery: never"),
        }
    }
    if !set.errors.is_empty() || damaged > 0 {
        bail!(
            "{} problem(s) in the schedule files, {damaged} damaged ledger record(s) (listed above)",
            set.errors.len()
        );
    }
    Ok(())
}

fn print_outcomes(outcomes: &[RunOutcome]) {
    for o in outcomes {
        if o.period_key.is_empty() {
            // The schedule as a whole (its ledger could not be read).
            println!("{}: {}: {}", o.schedule, o.status, o.detail);
        } else {
            println!(
                "{} {} ({}): {}: {}",
                o.schedule, o.label, o.period_key, o.status, o.detail
            );
        }
    }
}

/// `kpi run-due`: everything due up to `now`, then exit. Non-zero when a
/// schedule file is bad or a run failed.
pub async fn run_due(config: &Config, now: DateTime<Utc>) -> Result<()> {
    let set = load(config)?;
    let outcomes = schedules::run_due(config, &set.valid, now).await?;
    if outcomes.is_empty() {
        println!("nothing due at {}", now.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    print_outcomes(&outcomes);
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    if failed > 0 || !set.errors.is_empty() {
        bail!(
            "{failed} run(s) failed, {} problem(s) in schedule files",
            set.errors.len()
        );
    }
    Ok(())
}

/// `kpi run SCHEDULE`: one schedule now, for its own period or the one given.
pub async fn run_one(
    config: &Config,
    name: &str,
    now: DateTime<Utc>,
    period: Option<kpi_core::PeriodSpec>,
    force: bool,
) -> Result<()> {
    let set = schedules::load_schedules(config)?;
    let Some(s) = set.valid.iter().find(|s| s.name == name) else {
        let problems: Vec<&String> = set
            .errors
            .iter()
            .filter(|e| e.contains(&format!("{name}.toml")))
            .collect();
        if !problems.is_empty() {
            for e in &problems {
                eprintln!("error: {e}");
            }
            bail!("schedule '{name}' has problems (listed above)");
        }
        let names: Vec<&str> = set.valid.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "no schedule '{name}' in {}; there are: {}",
            set.dir.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let run = schedules::run_for(s, now, period.as_ref())?;
    let outcome = schedules::run_one(config, s, &run, force).await?;
    print_outcomes(std::slice::from_ref(&outcome));
    if outcome.status == "unconfirmed" || outcome.detail.contains("did not confirm") {
        bail!(
            "{}: the delivery was not confirmed; it may have arrived (see above)",
            outcome.label
        );
    }
    if outcome.failed() || outcome.status == "held" {
        bail!("{} was not sent", outcome.label);
    }
    Ok(())
}

/// `kpi ledger`: past runs, newest last.
pub fn ledger(config: &Config, schedule: Option<&str>, format: Format) -> Result<()> {
    let ledger = Ledger::open(&config.lake_path())?;
    // A damaged record is named after the listing of all the others.
    let (entries, damaged) = ledger.listing(schedule)?;
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let cols: Vec<(&str, Vec<Option<String>>)> = vec![
        (
            "schedule",
            entries.iter().map(|e| Some(e.schedule.clone())).collect(),
        ),
        (
            "period",
            entries
                .iter()
                .map(|e| Some(e.period_label.clone()))
                .collect(),
        ),
        (
            "period_key",
            entries.iter().map(|e| Some(e.period_key.clone())).collect(),
        ),
        (
            "status",
            entries
                .iter()
                .map(|e| Some(e.status.as_str().to_string()))
                .collect(),
        ),
        ("due", entries.iter().map(|e| time(Some(e.due))).collect()),
        ("sent_at", entries.iter().map(|e| time(e.sent_at)).collect()),
        (
            "message_id",
            entries.iter().map(|e| e.message_id.clone()).collect(),
        ),
        (
            "error",
            entries
                .iter()
                .map(|e| e.error.clone().or_else(|| e.reason.clone()))
                .collect(),
        ),
    ];
    // Text columns, with `attempts` (a count: a number in JSON and CSV)
    // after `sent_at`, as people read them.
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<arrow::array::ArrayRef> = Vec::new();
    for (i, (name, values)) in cols.into_iter().enumerate() {
        fields.push(Field::new(name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(values)));
        if i == 5 {
            fields.push(Field::new("attempts", DataType::UInt32, false));
            arrays.push(Arc::new(arrow::array::UInt32Array::from_iter_values(
                entries.iter().map(|e| e.attempts),
            )));
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    output::print(&[batch], format)?;
    for e in &damaged {
        eprintln!("damaged ledger record: {e}");
    }
    if !damaged.is_empty() {
        bail!(
            "{} damaged ledger record(s), listed above; the schedules they belong to are held \
             until each file is repaired or removed",
            damaged.len()
        );
    }
    Ok(())
}

/// Fingerprint of the schedule directory: names and modification times, to
/// notice edits without a file watcher.
fn fingerprint(config: &Config) -> Vec<(String, Option<SystemTime>)> {
    let mut out: Vec<_> = std::fs::read_dir(config.schedules_dir())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                e.metadata().and_then(|m| m.modified()).ok(),
            )
        })
        .collect();
    out.sort();
    out
}

/// How often the daemon looks at the schedule files while it waits.
const POLL: Duration = Duration::from_secs(15);

/// `kpi daemon`: run what is due, sleep until the next due time, repeat.
/// Schedule files are re-read when they change; SIGTERM or Ctrl-C stops it
/// after the run in progress.
pub async fn daemon(config: &Config) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut seen = fingerprint(config);
    let mut set = load(config)?;
    tracing::info!(
        schedules = set.valid.len(),
        dir = %set.dir.display(),
        "daemon started"
    );
    loop {
        let now = Utc::now();
        // Signals that arrive during a run are queued and seen below: the run
        // in progress always finishes (its ledger record included).
        match schedules::run_due(config, &set.valid, now).await {
            Ok(outcomes) => {
                for o in &outcomes {
                    tracing::info!(schedule = %o.schedule, period = %o.period_key, status = %o.status, "{}", o.detail);
                }
                print_outcomes(&outcomes);
            }
            Err(e) => tracing::error!("run failed: {e:#}"),
        }
        let next = set
            .valid
            .iter()
            .filter(|s| s.enabled)
            .filter_map(|s| s.next_due_after(now).map(|t| (t, s.name.clone())))
            .min();
        match &next {
            Some((t, name)) => {
                tracing::info!(next = %t.to_rfc3339(), schedule = %name, "sleeping until the next due time")
            }
            None => tracing::info!("no schedule is due ever; waiting for schedule files to change"),
        }
        // Sleep until the next due time, waking every POLL to pick up edited
        // schedule files.
        loop {
            let wait = next
                .as_ref()
                .map(|(t, _)| (*t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(POLL)
                .min(POLL);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return Ok(()); }
                _ = int.recv() => { tracing::info!("interrupted: stopping"); return Ok(()); }
            }
            let now_fp = fingerprint(config);
            if now_fp != seen {
                seen = now_fp;
                // A broken edit keeps the schedules that were running.
                match load(config) {
                    Ok(new) => {
                        set = new;
                        tracing::info!(
                            schedules = set.valid.len(),
                            "schedule files changed: reloaded"
                        );
                    }
                    Err(e) => tracing::error!("schedule files changed but cannot be read: {e:#}"),
                }
                break;
            }
            if next.as_ref().is_some_and(|(t, _)| Utc::now() >= *t) {
                break;
            }
        }
    }
}
