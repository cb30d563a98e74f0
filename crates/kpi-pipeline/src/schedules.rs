//! Scheduled runs: which reports are due, and sending each one exactly once.
//!
//! `kpi-schedule` decides *when* and keeps the ledger; this module does the
//! work of a run in the order that makes "exactly once" hold: check the
//! ledger under the schedule's lock, check freshness, render everything,
//! build the message, record the intent with its Message-ID, hand it to the
//! transport, and only then record the delivery as confirmed.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use kpi_core::{Config, ReportConfig};
use kpi_report::Freshness;
use kpi_schedule::{
    Decision, DueRun, Ledger, LedgerLock, Schedule, ScheduleError, Status, decide, load_dir,
};

use crate::PipelineError;

/// Environment variable that makes a run stop dead right after the transport
/// accepted a message and before the ledger records it: the crash the ledger's
/// intent record exists for. For tests and drills only.
pub const CRASH_AFTER_SEND_ENV: &str = "KPI_CRASH_AFTER_SEND";

/// The schedules of a config, with every problem found in any file.
pub struct Schedules {
    /// Where they were read from.
    pub dir: PathBuf,
    /// The valid schedules, by name.
    pub valid: Vec<Schedule>,
    /// One message per problem, each naming the file and the field.
    pub errors: Vec<String>,
}

/// Loads `[schedules] dir` and checks each schedule against the config: its
/// report, headline KPIs, alert rules and recipients.
pub fn load_schedules(config: &Config) -> Result<Schedules, PipelineError> {
    let dir = config.schedules_dir();
    let (loaded, errors) = load_dir(&dir, config.timezone());
    let mut errors: Vec<String> = errors.iter().map(ScheduleError::to_string).collect();
    let catalog = kpi_engine::load_catalog(config)?;
    let mut valid = Vec::new();
    for s in loaded {
        let file = s.path.display().to_string();
        let mut problems = Vec::new();
        if s.report != "leadership" && !config.reports.contains_key(&s.report) {
            problems.push(format!(
                "{file}: field `report`: there is no [reports.{}] in {}",
                s.report,
                config.origin.display()
            ));
        }
        let settings = settings_for(config, &s);
        for k in &settings.headline {
            if catalog.get(k).is_none() {
                problems.push(format!(
                    "{file}: field `headline`: unknown KPI '{k}' (see queries/kpis.toml)"
                ));
            }
        }
        for rule in &settings.alerts {
            if let Err(e) =
                kpi_report::AlertRule::parse(rule, &format!("{file}: field `alerts`"), &catalog)
            {
                problems.push(e);
            }
        }
        if settings.to.is_empty() && settings.cc.is_empty() && settings.bcc.is_empty() {
            problems.push(format!(
                "{file}: field `to`: no recipients here or in [reports.{}] to",
                s.report
            ));
        }
        if problems.is_empty() {
            valid.push(s);
        } else {
            errors.extend(problems);
        }
    }
    Ok(Schedules { dir, valid, errors })
}

/// The report settings a schedule runs with: the report's own, with the
/// schedule's overrides on top.
pub fn settings_for(config: &Config, s: &Schedule) -> ReportConfig {
    let mut r = config.reports.get(&s.report).cloned().unwrap_or_default();
    if let Some(h) = &s.headline {
        r.headline = h.clone();
    }
    if let Some(to) = &s.to {
        r.to = to.clone();
        // New recipients replace the report's whole audience.
        r.cc = s.cc.clone().unwrap_or_default();
        r.bcc = s.bcc.clone().unwrap_or_default();
    } else {
        if let Some(cc) = &s.cc {
            r.cc = cc.clone();
        }
        if let Some(bcc) = &s.bcc {
            r.bcc = bcc.clone();
        }
    }
    if let Some(subject) = &s.subject {
        r.subject = subject.clone();
    }
    if let Some(alerts) = &s.alerts {
        r.alerts = alerts.clone();
    }
    r
}

/// What happened to one schedule-period.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Schedule name.
    pub schedule: String,
    /// The ledger key of the period.
    pub period_key: String,
    /// The period's label.
    pub label: String,
    /// `sent`, `already sent`, `held`, `skipped` or `failed`.
    pub status: String,
    /// Where it went, or why not.
    pub detail: String,
}

impl RunOutcome {
    /// Whether the run needs someone's attention (the command exits non-zero):
    /// it failed, its delivery is unconfirmed, or its ledger record is
    /// damaged.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "unconfirmed") || self.detail.starts_with(DAMAGED)
    }
}

/// How the detail of a run held for a damaged ledger record begins.
const DAMAGED: &str = "damaged ledger record";

/// Runs every enabled schedule's due runs up to `now` (catch-up rules
/// apply), one schedule at a time under its ledger lock.
pub async fn run_due(
    config: &Config,
    schedules: &[Schedule],
    now: DateTime<Utc>,
) -> Result<Vec<RunOutcome>, PipelineError> {
    let ledger = Ledger::open(&config.lake_path()).map_err(schedule_err)?;
    let mut outcomes = Vec::new();
    for s in schedules.iter().filter(|s| s.enabled) {
        // One schedule's trouble (a damaged ledger record, a full disk) is
        // that schedule's: it is reported and its owner told, and the other
        // schedules still run.
        if let Err(e) = run_schedule(config, &ledger, s, now, &mut outcomes).await {
            tracing::error!(schedule = %s.name, "{e}");
            outcomes.push(trouble(config, s, now, &e));
        }
    }
    Ok(outcomes)
}

/// Every due run of one schedule, under its ledger lock.
async fn run_schedule(
    config: &Config,
    ledger: &Ledger,
    s: &Schedule,
    now: DateTime<Utc>,
    outcomes: &mut Vec<RunOutcome>,
) -> Result<(), PipelineError> {
    // Blocks while another process runs this schedule; the ledger is read
    // only once the lock is held, so that process's sends are seen.
    let lock = ledger.lock(&s.name).map_err(schedule_err)?;
    let last = ledger.last_checked(&s.name).map_err(schedule_err)?;
    let runs = s.runs_to_do(last, now)?;
    tracing::info!(schedule = %s.name, due = runs.len(), "checked");
    let mut settled = true;
    for run in &runs {
        let outcome = execute(config, s, &lock, run, false).await?;
        // A failed, stale or unconfirmed run stays due: the next run-due
        // deals with it again.
        settled &= !matches!(
            outcome.status.as_str(),
            "failed" | "skipped" | "unconfirmed"
        );
        outcomes.push(outcome);
    }
    if settled {
        lock.mark_checked(now).map_err(schedule_err)?;
    }
    Ok(())
}

/// The outcome of a schedule that could not be run at all, after its owner
/// was told. A damaged ledger record holds the schedule: nothing is sent
/// until a person has looked at the file (sending could repeat a delivered
/// report, or the damage could hide one that was never confirmed).
fn trouble(config: &Config, s: &Schedule, now: DateTime<Utc>, e: &PipelineError) -> RunOutcome {
    let (status, detail) = match e {
        PipelineError::Ledger(kpi_schedule::LedgerError::Corrupt { path, message }) => (
            "held",
            format!(
                "{DAMAGED} {}: {message}. Nothing of schedule {} is sent until it is \
                 repaired or removed: check `kpi ledger --schedule {}` and the recipients' \
                 inboxes, fix or delete the file, then run `kpi run-due` again",
                path.display(),
                s.name,
                s.name
            ),
        ),
        other => ("failed", other.to_string()),
    };
    let subject = if status == "held" {
        "held: damaged ledger record"
    } else {
        "failed"
    };
    notify_owner(config, s, None, now, subject, &detail);
    RunOutcome {
        schedule: s.name.clone(),
        period_key: String::new(),
        label: String::new(),
        status: status.into(),
        detail,
    }
}

/// The run of schedule `s` at `now` for `period` (explicit dates, or a named
/// period resolved on `now`'s local date), or for its own period when `None`.
pub fn run_for(
    s: &Schedule,
    now: DateTime<Utc>,
    period: Option<&kpi_core::PeriodSpec>,
) -> Result<DueRun, PipelineError> {
    let Some(spec) = period else {
        return Ok(s.run_at(now)?);
    };
    let today = s.local(now).date_naive();
    let periods = s.resolve(spec, today)?;
    Ok(DueRun {
        schedule: s.name.clone(),
        due: now,
        period_key: kpi_schedule::period_key(&periods),
        periods,
    })
}

/// Runs `run` now, whatever the schedule's cron says. Without `force` a period
/// already delivered is not sent again (and an unconfirmed one is held).
pub async fn run_one(
    config: &Config,
    s: &Schedule,
    run: &DueRun,
    force: bool,
) -> Result<RunOutcome, PipelineError> {
    let ledger = Ledger::open(&config.lake_path()).map_err(schedule_err)?;
    let lock = ledger.lock(&s.name).map_err(schedule_err)?;
    execute(config, s, &lock, run, force).await
}

fn schedule_err(e: kpi_schedule::LedgerError) -> PipelineError {
    PipelineError::Ledger(e)
}

/// One schedule-period, under the schedule's lock.
async fn execute(
    config: &Config,
    s: &Schedule,
    lock: &LedgerLock,
    run: &DueRun,
    force: bool,
) -> Result<RunOutcome, PipelineError> {
    let outcome = |status: &str, detail: String| RunOutcome {
        schedule: s.name.clone(),
        period_key: run.period_key.clone(),
        label: run.periods.label.clone(),
        status: status.to_string(),
        detail,
    };
    let entry = lock.entry(&run.period_key).map_err(schedule_err)?;
    let reuse = match decide(entry.as_ref(), s.on_unconfirmed, force) {
        Decision::SkipAlreadySent => {
            let id = entry.and_then(|e| e.message_id).unwrap_or_default();
            return Ok(outcome("already sent", format!("as {id}")));
        }
        Decision::Hold => {
            let id = entry
                .as_ref()
                .and_then(|e| e.message_id.clone())
                .unwrap_or_default();
            let reason = format!(
                "a send of {id} was started and never confirmed (the process stopped \
                 between the mail server accepting it and the ledger recording it); \
                 it may or may not have arrived. Check the recipients' inboxes, then \
                 `kpi run {} --from {} --to {} --force` to send it again",
                s.name, run.periods.current.start, run.periods.current.end
            );
            if entry.as_ref().is_some_and(|e| e.status != Status::Held) {
                lock.record_held(run, &reason).map_err(schedule_err)?;
                notify_owner(
                    config,
                    s,
                    Some(run),
                    Utc::now(),
                    "held: delivery unconfirmed",
                    &reason,
                );
            }
            return Ok(outcome("held", reason));
        }
        Decision::Send { reuse_message_id } => reuse_message_id,
    };

    // `sync_first`: bring the lake up to date. A source that fails to sync
    // keeps its old data; the freshness check below then decides, and the
    // owner's notice says why the data is old.
    let mut sync_problem = None;
    if s.sync_first {
        // Through the day before the run was due, in the schedule's zone.
        let opts = crate::sync::SyncOptions {
            today: s.local(run.due).date_naive(),
            ..Default::default()
        };
        match crate::sync::sync(config, &opts, &mut |_| {}).await {
            Ok(o) if o.failures.is_empty() => {
                tracing::info!("{}: synced {} stream(s) first", s.name, o.reports.len());
            }
            Ok(o) => {
                let list: Vec<String> = o.failures.iter().map(|f| f.error.clone()).collect();
                sync_problem = Some(list.join("; "));
            }
            Err(e) => sync_problem = Some(e.to_string()),
        }
        if let Some(p) = &sync_problem {
            tracing::warn!("{}: sync_first failed: {p}", s.name);
        }
    }

    // A run that fails before the transport is touched (the lake, a query,
    // the render) sends nothing, is recorded, and its owner is told, once
    // per error: the next run-due retries it.
    let fail = |error: String| -> Result<RunOutcome, PipelineError> {
        let told = entry.as_ref().is_some_and(|e| {
            e.status == Status::Failed && e.error.as_deref() == Some(error.as_str())
        });
        lock.record_failure(run, &error).map_err(schedule_err)?;
        if !told {
            notify_owner(
                config,
                s,
                Some(run),
                Utc::now(),
                "not sent: the run failed",
                &error,
            );
        }
        Ok(outcome("failed", error))
    };

    // Freshness: every configured source must have data through the period's end.
    let end = run.periods.current.end;
    let stale = match crate::open_engine(config).await {
        Ok(engine) => crate::report::stale_streams(config, &engine, end),
        Err(e) => Err(e),
    };
    let stale: Vec<Freshness> = match stale {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    if !stale.is_empty() && s.freshness == kpi_schedule::Freshness::Skip {
        let list = stale_list(&stale);
        let mut reason = format!("stale data: {list} (the period ends {end})");
        if let Some(p) = &sync_problem {
            reason.push_str(&format!("; the sync before it failed: {p}"));
        }
        let already = entry.as_ref().is_some_and(|e| e.status == Status::Skipped);
        lock.record_skip(run, &reason).map_err(schedule_err)?;
        if !already {
            notify_owner(
                config,
                s,
                Some(run),
                Utc::now(),
                "not sent: stale data",
                &reason,
            );
        }
        return Ok(outcome("skipped", reason));
    }

    let settings = settings_for(config, s);
    let reproduce = format!(
        "kpi --config {} kpis --from {} --to {}",
        config.origin.display(),
        run.periods.current.start,
        run.periods.current.end
    );
    let rendered = match crate::report::render_with(
        config,
        &s.report,
        &settings,
        &run.periods,
        reproduce,
        stale,
    )
    .await
    {
        Ok(r) => r,
        // Nothing was built, nothing is sent.
        Err(e) => return fail(e.to_string()),
    };
    let email = match crate::report::build_email(config, &s.report, &settings, &rendered, reuse) {
        Ok(e) => e,
        Err(e) => return fail(e.to_string()),
    };
    let recipients: Vec<String> = settings
        .to
        .iter()
        .chain(&settings.cc)
        .chain(&settings.bcc)
        .cloned()
        .collect();
    // The intent is durable before the transport is touched: a crash after
    // the server accepted the message leaves this record, not silence.
    lock.record_intent(run, &email.message_id, &recipients)
        .map_err(schedule_err)?;
    match crate::report::deliver_email(config, &email) {
        Ok(delivered) => {
            if std::env::var_os(CRASH_AFTER_SEND_ENV).is_some() {
                eprintln!("{CRASH_AFTER_SEND_ENV} is set: stopping before the ledger confirms");
                std::process::abort();
            }
            lock.confirm(run, &delivered.message_id)
                .map_err(schedule_err)?;
            Ok(outcome(
                "sent",
                format!("{} to {}", delivered.message_id, delivered.location),
            ))
        }
        Err(PipelineError::Unconfirmed(error)) => {
            // The message may be in the inboxes: this is not a failure to
            // retry but an unconfirmed send, which `on_unconfirmed` decides.
            lock.record_unconfirmed(run, &email.message_id, &error)
                .map_err(schedule_err)?;
            let id = &email.message_id;
            let (what, reason) = match s.on_unconfirmed {
                kpi_schedule::OnUnconfirmed::Hold => {
                    let reason = format!(
                        "the mail server did not confirm the delivery of {id} ({error}); it may \
                         or may not have arrived. It is held: check the recipients' inboxes, \
                         then `kpi run {} --from {} --to {} --force` to send it again with the \
                         same Message-ID",
                        s.name, run.periods.current.start, run.periods.current.end
                    );
                    lock.record_held(run, &reason).map_err(schedule_err)?;
                    ("held: delivery unconfirmed", reason)
                }
                kpi_schedule::OnUnconfirmed::Resend => (
                    "delivery unconfirmed, will be resent",
                    format!(
                        "the mail server did not confirm the delivery of {id} ({error}); it may \
                         or may not have arrived. on_unconfirmed = \"resend\": the next \
                         `kpi run-due` sends it again with the same Message-ID, so mail \
                         systems that deduplicate show one message"
                    ),
                ),
            };
            notify_owner(config, s, Some(run), Utc::now(), what, &reason);
            Ok(outcome("unconfirmed", reason))
        }
        // The owner's notice would go through the transport that just
        // failed: the ledger and the exit code carry this one.
        Err(e) => {
            lock.record_failure(run, &e.to_string())
                .map_err(schedule_err)?;
            Ok(outcome("failed", e.to_string()))
        }
    }
}

fn stale_list(stale: &[Freshness]) -> String {
    stale
        .iter()
        .map(|f| match f.last_day {
            Some(d) => format!("{} has data through {d}", f.stream),
            None => format!("{} has no data", f.stream),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Tells the schedule's owner (`owner`, else `[delivery] reply_to`, else the
/// sender address) what happened. Best effort: a failed notice is logged, it
/// does not change the run's outcome.
fn notify_owner(
    config: &Config,
    s: &Schedule,
    run: Option<&DueRun>,
    now: DateTime<Utc>,
    what: &str,
    detail: &str,
) {
    let owner = s
        .owner
        .clone()
        .or_else(|| config.delivery.reply_to.clone())
        .unwrap_or_else(|| config.delivery.from.clone());
    let envelope = kpi_deliver::Envelope {
        from: config.delivery.from.clone(),
        to: vec![owner.clone()],
        subject: match run {
            Some(run) => format!("[kpi] {}: {} {what}", s.name, run.periods.label),
            None => format!("[kpi] {}: {what}", s.name),
        },
        ..Default::default()
    };
    let about = match run {
        Some(run) => format!(
            "for {} ({}), due {}",
            run.periods.label,
            run.period_key,
            run.due.to_rfc3339()
        ),
        None => format!("checked at {}", now.to_rfc3339()),
    };
    let text = format!(
        "Schedule {} ({}) {about}:\n\n{what}.\n{detail}\n",
        s.name,
        s.path.display(),
    );
    let sent = kpi_deliver::build_text(&envelope, &text)
        .map_err(|e| e.to_string())
        .and_then(|email| crate::report::deliver_email(config, &email).map_err(|e| e.to_string()));
    match sent {
        Ok(_) => tracing::info!(schedule = %s.name, owner = %owner, "owner notified: {what}"),
        Err(e) => {
            tracing::warn!(schedule = %s.name, owner = %owner, "could not notify the owner: {e}")
        }
    }
}
