//! `kpi-schedule`: when reports are due, and making sure each goes out once.
//!
//! It owns the schedule files (`schedules/<name>.toml`), cron expressions
//! evaluated on a time zone's wall clock with defined behaviour at DST
//! changes, the period each run reports, which missed runs to catch up, and
//! the run ledger under `<lake>/_runs/` with its per-schedule lock.
//!
//! Why a crate of its own: "exactly once per period, across retries,
//! restarts and overlapping runs" is a promise made to people's inboxes, and
//! it is easiest to keep when the rules live in one small place with no
//! engine, rendering or SMTP in it. `kpi-pipeline` wires it up: for each
//! schedule it asks [`Schedule::runs_to_do`], takes the [`LedgerLock`], asks
//! [`decide`], records the intent, sends, confirms, then
//! [`LedgerLock::mark_checked`].

mod cron;
mod due;
mod ledger;
mod schedule;

pub use cron::{CronExpr, CronExprError};
pub use due::{DueRun, NONE_GRACE, period_key};
pub use ledger::{Decision, Entry, Event, Ledger, LedgerError, LedgerLock, Status, decide};
pub use schedule::{
    CatchUp, Comparison, Freshness, OnUnconfirmed, Schedule, ScheduleError, ScheduleFile, load_dir,
};
