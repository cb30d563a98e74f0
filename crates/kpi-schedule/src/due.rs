//! When a schedule is due, which period each run reports, and which missed
//! runs to catch up.

use chrono::{DateTime, TimeDelta, Utc};
use kpi_core::{PeriodError, ReportPeriods};

use crate::schedule::{CatchUp, Schedule};

/// How late a missed run may be and still run under `catch_up = "none"`.
///
/// An hour absorbs what delays a run that was not really "missed": a systemd
/// timer with `RandomizedDelaySec`, a cron line that runs `kpi run-due` every
/// 15 or 30 minutes, a daemon busy with a slow `sync_first` of another
/// schedule, a laptop waking from sleep shortly after the due time. Anything
/// later is treated as missed, and `none` means missed runs are not sent.
pub const NONE_GRACE: TimeDelta = TimeDelta::hours(1);

/// Look-back windows for the most recent due instant, shortest first: a
/// frequent schedule is found in the first, a leap-day one (`0 7 29 2 *`) in
/// the last (2096 to 2104 has no 29 February).
const LOOK_BACK_DAYS: [i64; 6] = [1, 8, 32, 367, 1462, 2923];

/// One run to do: a due instant and the period it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRun {
    /// The schedule's name.
    pub schedule: String,
    /// When the run was due.
    pub due: DateTime<Utc>,
    /// The ledger key of the period, see [`period_key`].
    pub period_key: String,
    /// The period and what it is compared with.
    pub periods: ReportPeriods,
}

/// The ledger key of a run's period: `<start>_<end>` of the current period
/// (`2026-11-01_2026-11-30`). Two runs reporting the same dates share it, so
/// a report goes out once per period however many due instants map to it.
pub fn period_key(periods: &ReportPeriods) -> String {
    format!("{}_{}", periods.current.start, periods.current.end)
}

impl Schedule {
    /// The first due instant strictly after `after`.
    pub fn next_due_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.next_after(self.timezone, after)
    }

    /// Every due instant in `(from_exclusive, to_inclusive]`, in order.
    /// The caller bounds the window: a minutely cron over a year is half a
    /// million instants.
    pub fn due_between(
        &self,
        from_exclusive: DateTime<Utc>,
        to_inclusive: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from_exclusive;
        while let Some(next) = self.next_due_after(t) {
            if next > to_inclusive {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    /// The next `n` due instants after `after`.
    pub fn next_n(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_due_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The most recent due instant at or before `now`, if any in the last
    /// eight years.
    pub fn last_due_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        for days in LOOK_BACK_DAYS {
            let mut t = now - TimeDelta::days(days);
            let mut last = None;
            while let Some(next) = self.next_due_after(t) {
                if next > now {
                    break;
                }
                last = Some(next);
                t = next;
            }
            if last.is_some() {
                return last;
            }
        }
        None
    }

    /// The run due at `due`, with its period.
    pub fn run_at(&self, due: DateTime<Utc>) -> Result<DueRun, PeriodError> {
        let periods = self.period_for(due)?;
        Ok(DueRun {
            schedule: self.name.clone(),
            due,
            period_key: period_key(&periods),
            periods,
        })
    }

    /// The runs to do now, given that due instants up to `last_checked` have
    /// already been dealt with (see `Ledger::last_checked`).
    ///
    /// The candidates are the due instants in `(last_checked, now]`; when
    /// nothing has been checked yet (first run ever) only the most recent due
    /// instant is a candidate, so installing a schedule never floods anyone
    /// with old reports. Of the candidates, `catch_up` picks:
    /// `none` the most recent if it is at most [`NONE_GRACE`] old, `latest` the
    /// most recent, `all` every one, oldest first. Candidates that report the
    /// same period run once, at the earliest of them (a daily cron with a
    /// monthly period yields one run per month). A disabled schedule has
    /// nothing to do.
    ///
    /// Whether a run was already sent is the ledger's business, not this
    /// function's: see [`crate::decide`].
    pub fn runs_to_do(
        &self,
        last_checked: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DueRun>, PeriodError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        let candidates = match last_checked {
            Some(last) => self.due_between(last, now),
            None => self.last_due_at_or_before(now).into_iter().collect(),
        };
        let chosen: Vec<DateTime<Utc>> = match self.catch_up {
            CatchUp::None => candidates
                .last()
                .filter(|due| now - **due <= NONE_GRACE)
                .into_iter()
                .copied()
                .collect(),
            CatchUp::Latest => candidates.last().into_iter().copied().collect(),
            CatchUp::All => candidates,
        };
        let mut runs: Vec<DueRun> = Vec::with_capacity(chosen.len());
        for due in chosen {
            let run = self.run_at(due)?;
            if !runs.iter().any(|r| r.period_key == run.period_key) {
                runs.push(run);
            }
        }
        Ok(runs)
    }
}
