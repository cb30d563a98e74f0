//! The run ledger: what was sent, for which schedule and period, under
//! `<lake>/_runs/`.
//!
//! Exactly-once delivery rests on three things:
//!
//! * one lock per schedule (`_runs/<schedule>.lock`), held from deciding to
//!   recording, so overlapping `run-due` invocations and the daemon never
//!   both send the same period. It is an OS file lock: a crashed process
//!   releases it, no stale lock files to clean up;
//! * the intent (`sending`) is written and fsynced before the transport is
//!   called, and `sent` after it accepted, so a crash in between leaves
//!   evidence that the report may be in inboxes ([`decide`] then holds it or
//!   resends it with the same Message-ID, as the schedule says);
//! * every file is replaced atomically (temp file, fsync, rename, fsync of the
//!   directory), so a reader or a crash never sees half an entry.
//!
//! Layout: `_runs/<schedule>/<period_key>.json` per run,
//! `_runs/<schedule>.checked.json` for how far `run-due` has looked,
//! `_runs/<schedule>.lock`. Plain JSON, for people and `jq` as much as for us.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::due::DueRun;
use crate::schedule::{OnUnconfirmed, valid_name};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The send started (intent recorded) and was not confirmed, yet or ever.
    Sending,
    /// The transport accepted the message.
    Sent,
    /// The run failed before or during the send.
    Failed,
    /// Deliberately not sent (stale data, for instance).
    Skipped,
    /// Not sent because an earlier send was never confirmed; waits for a
    /// person to force it.
    Held,
}

impl Status {
    /// The name as stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Held => "held",
        }
    }
}

/// One step in a run's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The status it led to.
    pub status: Status,
    /// The Message-ID involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The error or reason, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The ledger's record of one schedule's run for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The schedule's name.
    pub schedule: String,
    /// The period's key (`2026-11-01_2026-11-30`).
    pub period_key: String,
    /// The period as people read it (`November 2026`).
    pub period_label: String,
    /// Where the run stands now.
    pub status: Status,
    /// When the run was due.
    pub due: DateTime<Utc>,
    /// Message-ID of the latest send attempt.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Recipients of the latest send attempt.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Send attempts started (intents recorded).
    #[serde(default)]
    pub attempts: u32,
    /// The latest error; kept when a later attempt succeeds, for the record.
    #[serde(default)]
    pub error: Option<String>,
    /// Why it was skipped or held, when it was.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the transport first accepted it. Set once, never cleared: a
    /// period that was delivered is not sent again unless forced.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// When the entry was created.
    pub created: DateTime<Utc>,
    /// When the entry last changed.
    pub updated: DateTime<Utc>,
    /// Every change, oldest first.
    #[serde(default)]
    pub history: Vec<Event>,
}

/// What to do about a run, given its ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it; reuse this Message-ID if given, so mail clients can drop a
    /// duplicate of an earlier attempt that may have arrived.
    Send {
        /// The earlier attempt's Message-ID, to reuse.
        reuse_message_id: Option<String>,
    },
    /// It was delivered already.
    SkipAlreadySent,
    /// An earlier send was never confirmed: do not send, tell the owner.
    Hold,
}

/// Decides whether to send a run, from its ledger entry.
///
/// * no entry: send;
/// * ever delivered (`sent`, or `sent_at` set by an earlier confirmed send):
///   never again, unless `force`;
/// * `sending` (an intent never confirmed): the report may be in inboxes, so
///   `on_unconfirmed` decides: `hold`, or `resend` with the same Message-ID;
/// * `held`: stays held until a person forces it;
/// * `failed`, `skipped`: send, reusing any earlier Message-ID (a failure can
///   be ambiguous: a timeout after the server got the message);
/// * `force` sends whatever the entry says; it reuses the Message-ID of an
///   unconfirmed attempt, and uses a new one after a confirmed send (a forced
///   resend of a delivered report is a new message).
pub fn decide(entry: Option<&Entry>, on_unconfirmed: OnUnconfirmed, force: bool) -> Decision {
    let Some(entry) = entry else {
        return Decision::Send {
            reuse_message_id: None,
        };
    };
    let unconfirmed_id = || match entry.status {
        Status::Sending | Status::Held | Status::Failed | Status::Skipped => {
            entry.message_id.clone()
        }
        Status::Sent => None,
    };
    if force {
        return Decision::Send {
            reuse_message_id: unconfirmed_id(),
        };
    }
    if entry.status == Status::Sent || entry.sent_at.is_some() {
        return Decision::SkipAlreadySent;
    }
    match (entry.status, on_unconfirmed) {
        (Status::Sending, OnUnconfirmed::Hold) | (Status::Held, _) => Decision::Hold,
        _ => Decision::Send {
            reuse_message_id: unconfirmed_id(),
        },
    }
}

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A ledger file is not valid JSON or not an entry.
    #[error("{}: not a ledger record: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The JSON parser's message.
        message: String,
    },
    /// A schedule name or period key that cannot be a file name.
    #[error(
        "\"{0}\" cannot name a schedule or period in the ledger (letters, digits, - and _ only)"
    )]
    BadName(String),
    /// A write for another schedule than the one locked.
    #[error("the ledger lock held is for schedule `{locked}`, not `{asked}`")]
    WrongSchedule {
        /// The locked schedule.
        locked: String,
        /// The schedule written to.
        asked: String,
    },
    /// A confirm without a matching recorded intent.
    #[error(
        "cannot confirm {schedule} {period_key}: no send with Message-ID {message_id} was recorded as started"
    )]
    NoIntent {
        /// The schedule.
        schedule: String,
        /// The period.
        period_key: String,
        /// The Message-ID confirmed.
        message_id: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The ledger under `<lake>/_runs/`. Reading needs no lock (files are
/// replaced atomically); writing goes through a [`LedgerLock`].
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Checked {
    checked_through: DateTime<Utc>,
}

impl Ledger {
    /// The ledger of the lake at `lake_root`, creating `_runs/` if needed.
    pub fn open(lake_root: &Path) -> Result<Self, LedgerError> {
        let dir = lake_root.join("_runs");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    /// The `_runs` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_path(&self, schedule: &str) -> Result<PathBuf, LedgerError> {
        check_name(schedule)?;
        Ok(self.dir.join(format!("{schedule}.lock")))
    }

    fn open_lock_file(&self, schedule: &str) -> Result<(PathBuf, File), LedgerError> {
        let path = self.lock_path(schedule)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok((path, file))
    }

    /// Takes the schedule's lock, waiting for whoever holds it. Released when
    /// the returned guard is dropped, or by the OS when the process dies.
    pub fn lock(&self, schedule: &str) -> Result<LedgerLock, LedgerError> {
        let (path, file) = self.open_lock_file(schedule)?;
        file.lock().map_err(io(&path))?;
        self.remove_orphaned_tmp(schedule);
        Ok(LedgerLock {
            ledger: self.clone(),
            schedule: schedule.to_string(),
            _file: file,
        })
    }

    /// Takes the schedule's lock if it is free; `None` if someone holds it
    /// (the daemon uses this to move on instead of queueing behind a run).
    pub fn try_lock(&self, schedule: &str) -> Result<Option<LedgerLock>, LedgerError> {
        let (path, file) = self.open_lock_file(schedule)?;
        match file.try_lock() {
            Ok(()) => Ok(Some({
                self.remove_orphaned_tmp(schedule);
                LedgerLock {
                    ledger: self.clone(),
                    schedule: schedule.to_string(),
                    _file: file,
                }
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// Removes the temporary files a writer of `schedule` left when it was
    /// killed or its disk filled up. Called with the schedule's lock held:
    /// every writer holds it, so none of these files is being written.
    fn remove_orphaned_tmp(&self, schedule: &str) {
        let prefix = format!("{schedule}.checked.json.");
        let in_dir = std::fs::read_dir(self.dir.join(schedule))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path());
        let beside = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            });
        for path in in_dir.chain(beside) {
            if path.extension().is_some_and(|x| x == "tmp") && std::fs::remove_file(&path).is_ok() {
                tracing::info!(file = %path.display(), "removed a temporary ledger file left by an interrupted write");
            }
        }
    }

    fn entry_path(&self, schedule: &str, period_key: &str) -> Result<PathBuf, LedgerError> {
        check_name(schedule)?;
        check_name(period_key)?;
        Ok(self.dir.join(schedule).join(format!("{period_key}.json")))
    }

    fn checked_path(&self, schedule: &str) -> Result<PathBuf, LedgerError> {
        check_name(schedule)?;
        Ok(self.dir.join(format!("{schedule}.checked.json")))
    }

    /// The record of `schedule`'s run for `period_key`, if there is one.
    pub fn entry(&self, schedule: &str, period_key: &str) -> Result<Option<Entry>, LedgerError> {
        read_json(&self.entry_path(schedule, period_key)?)
    }

    /// Every record of one schedule, by due time.
    pub fn schedule_entries(&self, schedule: &str) -> Result<Vec<Entry>, LedgerError> {
        check_name(schedule)?;
        let mut out = Vec::new();
        self.read_schedule_dir(&self.dir.join(schedule), &mut out)?;
        sort_entries(&mut out);
        Ok(out)
    }

    /// Every record of every schedule, by due time (then schedule name).
    /// Fails on the first damaged record; see [`Ledger::listing`].
    pub fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        let mut out = Vec::new();
        self.read_all(&mut out, &mut None)?;
        Ok(out)
    }

    /// What `kpi ledger` shows: every readable record (of `schedule`, or of
    /// all), by due time, and beside them the records that are damaged, as
    /// errors naming each file: one bad file hides none of the others.
    pub fn listing(
        &self,
        schedule: Option<&str>,
    ) -> Result<(Vec<Entry>, Vec<LedgerError>), LedgerError> {
        let mut out = Vec::new();
        let mut damaged = Some(Vec::new());
        match schedule {
            Some(s) => {
                check_name(s)?;
                self.read_schedule_dir_into(&self.dir.join(s), &mut out, &mut damaged)?;
                sort_entries(&mut out);
            }
            None => self.read_all(&mut out, &mut damaged)?,
        }
        Ok((out, damaged.unwrap_or_default()))
    }

    fn read_all(
        &self,
        out: &mut Vec<Entry>,
        damaged: &mut Option<Vec<LedgerError>>,
    ) -> Result<(), LedgerError> {
        for item in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let item = item.map_err(io(&self.dir))?;
            let path = item.path();
            let is_schedule = path.is_dir()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(valid_name);
            if is_schedule {
                self.read_schedule_dir_into(&path, out, damaged)?;
            }
        }
        sort_entries(out);
        Ok(())
    }

    fn read_schedule_dir(&self, dir: &Path, out: &mut Vec<Entry>) -> Result<(), LedgerError> {
        self.read_schedule_dir_into(dir, out, &mut None)
    }

    /// Reads the records in `dir`; a damaged one goes to `damaged` when
    /// given, else stops the read.
    fn read_schedule_dir_into(
        &self,
        dir: &Path,
        out: &mut Vec<Entry>,
        damaged: &mut Option<Vec<LedgerError>>,
    ) -> Result<(), LedgerError> {
        let items = match std::fs::read_dir(dir) {
            Ok(items) => items,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir)(e)),
        };
        for item in items {
            let path = item.map_err(io(dir))?.path();
            // Temp files of an interrupted write end in `.tmp`; skip them.
            if path.extension().is_some_and(|x| x == "json") {
                match (read_json(&path), damaged.as_mut()) {
                    (Ok(Some(entry)), _) => out.push(entry),
                    (Ok(None), _) => {}
                    (Err(e @ LedgerError::Corrupt { .. }), Some(d)) => d.push(e),
                    (Err(e), _) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The schedule's most recently due run that was delivered.
    pub fn last_sent(&self, schedule: &str) -> Result<Option<Entry>, LedgerError> {
        Ok(self
            .schedule_entries(schedule)?
            .into_iter()
            .rfind(|e| e.sent_at.is_some()))
    }

    /// Up to when `run-due` has dealt with the schedule's due instants; `None`
    /// if it never has. Pass it to `Schedule::runs_to_do`.
    pub fn last_checked(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        Ok(read_json::<Checked>(&self.checked_path(schedule)?)?.map(|c| c.checked_through))
    }
}

fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        (a.due, &a.schedule, &a.period_key).cmp(&(b.due, &b.schedule, &b.period_key))
    });
}

fn check_name(name: &str) -> Result<(), LedgerError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(LedgerError::BadName(name.to_string()))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LedgerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LedgerError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Replaces `path` with `value` so that a crash leaves either the old file or
/// the new one, and the new one is on disk when this returns.
fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), LedgerError> {
    let dir = path.parent().expect("ledger paths have a parent");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut json = serde_json::to_vec_pretty(value).expect("ledger records serialize");
    json.push(b'\n');
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("ledger paths have a file name");
    // Writers hold the schedule's lock; the pid only keeps a writer that
    // bypassed it from sharing a temp file.
    let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let written = File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_all()
        })
        .map_err(io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io(path)));
    if let Err(e) = written {
        // A half-written record (disk full) must not stay behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// The exclusive right to write one schedule's ledger records. Dropping it
/// releases the lock.
#[derive(Debug)]
pub struct LedgerLock {
    ledger: Ledger,
    schedule: String,
    // Held only for the OS lock on it; closing the file releases the lock.
    _file: File,
}

impl LedgerLock {
    /// The schedule this lock is for.
    pub fn schedule(&self) -> &str {
        &self.schedule
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The record for `period_key` of the locked schedule.
    pub fn entry(&self, period_key: &str) -> Result<Option<Entry>, LedgerError> {
        self.ledger.entry(&self.schedule, period_key)
    }

    fn update(
        &self,
        run: &DueRun,
        status: Status,
        message_id: Option<&str>,
        detail: Option<&str>,
        change: impl FnOnce(&mut Entry),
    ) -> Result<Entry, LedgerError> {
        if run.schedule != self.schedule {
            return Err(LedgerError::WrongSchedule {
                locked: self.schedule.clone(),
                asked: run.schedule.clone(),
            });
        }
        let path = self.ledger.entry_path(&self.schedule, &run.period_key)?;
        let now = Utc::now();
        let mut entry = read_json::<Entry>(&path)?.unwrap_or_else(|| Entry {
            schedule: run.schedule.clone(),
            period_key: run.period_key.clone(),
            period_label: run.periods.label.clone(),
            status,
            due: run.due,
            message_id: None,
            recipients: Vec::new(),
            attempts: 0,
            error: None,
            reason: None,
            sent_at: None,
            created: now,
            updated: now,
            history: Vec::new(),
        });
        entry.status = status;
        entry.updated = now;
        change(&mut entry);
        entry.history.push(Event {
            at: now,
            status,
            message_id: message_id.map(str::to_string),
            detail: detail.map(str::to_string),
        });
        write_json_atomic(&path, &entry)?;
        Ok(entry)
    }

    /// Records that a send is about to start. Call it, and let it return,
    /// before handing the message to the transport: it is what a crash leaves
    /// behind.
    pub fn record_intent(
        &self,
        run: &DueRun,
        message_id: &str,
        recipients: &[String],
    ) -> Result<Entry, LedgerError> {
        self.update(run, Status::Sending, Some(message_id), None, |e| {
            e.message_id = Some(message_id.to_string());
            e.recipients = recipients.to_vec();
            e.attempts += 1;
            e.reason = None;
        })
    }

    /// Records that the transport accepted the message recorded by
    /// [`Self::record_intent`] with the same `message_id`.
    pub fn confirm(&self, run: &DueRun, message_id: &str) -> Result<Entry, LedgerError> {
        let current = self.entry(&run.period_key)?;
        let intended = current.as_ref().is_some_and(|e| {
            e.status == Status::Sending && e.message_id.as_deref() == Some(message_id)
        });
        if !intended {
            return Err(LedgerError::NoIntent {
                schedule: run.schedule.clone(),
                period_key: run.period_key.clone(),
                message_id: message_id.to_string(),
            });
        }
        self.update(run, Status::Sent, Some(message_id), None, |e| {
            let now = e.updated;
            e.sent_at.get_or_insert(now);
        })
    }

    /// Records that the send recorded by [`Self::record_intent`] went out in
    /// full but was never confirmed (the reply to the end of DATA did not
    /// come): the entry stays `sending`, with the error, so that
    /// [`decide`] treats it as the unconfirmed send it is.
    pub fn record_unconfirmed(
        &self,
        run: &DueRun,
        message_id: &str,
        error: &str,
    ) -> Result<Entry, LedgerError> {
        self.update(run, Status::Sending, Some(message_id), Some(error), |e| {
            e.error = Some(error.to_string());
        })
    }

    /// Records that the run failed (query, render or transport).
    pub fn record_failure(&self, run: &DueRun, error: &str) -> Result<Entry, LedgerError> {
        self.update(run, Status::Failed, None, Some(error), |e| {
            e.error = Some(error.to_string());
        })
    }

    /// Records that the run was deliberately not sent, and why.
    pub fn record_skip(&self, run: &DueRun, reason: &str) -> Result<Entry, LedgerError> {
        self.update(run, Status::Skipped, None, Some(reason), |e| {
            e.reason = Some(reason.to_string());
        })
    }

    /// Records that the run is held: an earlier send was never confirmed.
    pub fn record_held(&self, run: &DueRun, reason: &str) -> Result<Entry, LedgerError> {
        self.update(run, Status::Held, None, Some(reason), |e| {
            e.reason = Some(reason.to_string());
        })
    }

    /// Remembers that due instants up to `through` have been dealt with. It
    /// never moves back, so a clock set back cannot make old runs due again.
    pub fn mark_checked(&self, through: DateTime<Utc>) -> Result<(), LedgerError> {
        let previous = self.ledger.last_checked(&self.schedule)?;
        if previous.is_some_and(|p| p >= through) {
            return Ok(());
        }
        write_json_atomic(
            &self.ledger.checked_path(&self.schedule)?,
            &Checked {
                checked_through: through,
            },
        )
    }
}
