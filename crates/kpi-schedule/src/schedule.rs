//! Schedule files: `schedules/<name>.toml`, one schedule per file.
//!
//! [`ScheduleFile`] is the file as written (its field docs are the user's
//! documentation); [`Schedule`] is the checked form the rest of the crate uses,
//! with the cron expression, time zone and period parsed.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use kpi_core::{NamedPeriod, PeriodError, PeriodSpec, ReportPeriods};
use serde::{Deserialize, Serialize};

use crate::cron::CronExpr;

/// One `schedules/<name>.toml` as written. The schedule's name is the file
/// name without `.toml`.
///
/// ```toml
/// cron = "0 7 2 * *"          # 07:00 on the 2nd of every month
/// timezone = "Europe/Madrid"
/// period = "previous_month"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// When the report is due: five cron fields, `minute hour day-of-month
    /// month day-of-week`, read on the wall clock of `timezone`. `L` in
    /// day-of-month is the last day of the month (`0 7 L * *`); months and
    /// weekdays may be named (`0 8 * * MON`, `0 7 1 JAN,JUL *`). A time the
    /// clocks skip when summer time starts runs once, as soon as the clocks
    /// have moved on (02:30 runs at 03:00); a time that happens twice when
    /// summer time ends runs once, the first time.
    pub cron: String,
    /// IANA time zone of the cron expression and of the period
    /// (`Europe/Madrid`, `America/New_York`). Defaults to
    /// `reporting.timezone` in kpi.toml.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Which report to send: the name of a `[reports.<name>]` section in
    /// kpi.toml, which sets its template, headline KPIs and recipients.
    #[serde(default = "default_report")]
    pub report: String,
    /// The period the report covers, counted back from the day the run is
    /// due, in `timezone`: `yesterday`, `previous_week`, `previous_month`,
    /// `previous_quarter`, `previous_year`, `week_to_date`, `month_to_date`,
    /// `quarter_to_date`, `year_to_date`, `last_7_days`, `last_28_days`,
    /// `last_30_days` or `last_90_days`. A monthly run due on 2 December
    /// with `previous_month` reports November.
    pub period: String,
    /// What the period is compared with: `previous` (the period before, of
    /// the same length), `last_year` (the same period a year earlier),
    /// `same_weekday_last_week` (for daily reports: the same weekday a week
    /// earlier). Defaults to `["previous", "last_year"]`.
    #[serde(default = "default_compare")]
    pub compare: Vec<Comparison>,
    /// Headline KPI keys (3 to 5, e.g. `["cpl", "roi", "leads"]`), replacing
    /// the report's own.
    #[serde(default)]
    pub headline: Option<Vec<String>>,
    /// Recipients, replacing the report's `to`.
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// Copy recipients, replacing the report's `cc`.
    #[serde(default)]
    pub cc: Option<Vec<String>>,
    /// Blind-copy recipients, replacing the report's `bcc`.
    #[serde(default)]
    pub bcc: Option<Vec<String>>,
    /// Email subject, replacing the report's.
    #[serde(default)]
    pub subject: Option<String>,
    /// Alert rules to evaluate (by name), replacing the report's.
    #[serde(default)]
    pub alerts: Option<Vec<String>>,
    /// Sync the sources before computing the report (`true`), or report on
    /// whatever the lake holds (`false`, the default: a separate sync job
    /// keeps it fresh).
    #[serde(default)]
    pub sync_first: bool,
    /// What to do about runs missed while nothing was running (machine off,
    /// daemon stopped): `none` runs a missed run only if it was due less than
    /// an hour ago; `latest` (the default) runs only the most recent missed
    /// run; `all` runs every missed run, oldest first. Runs that would report
    /// the same period are sent once.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// What to do when the data is older than the period needs: `skip` (the
    /// default) sends nothing and tells `owner`; `send` sends anyway, with the
    /// data freshness shown in the report's footer.
    #[serde(default)]
    pub freshness: Freshness,
    /// What to do with a send that was started but never confirmed (for
    /// example the process died between the mail server accepting the message
    /// and the ledger recording it): `hold` (the default) sends nothing more
    /// and tells `owner`, because the report may already be in inboxes;
    /// `resend` sends it again with the same Message-ID, which lets mail
    /// clients drop the duplicate.
    #[serde(default)]
    pub on_unconfirmed: OnUnconfirmed,
    /// Who is told when a report is skipped because the data is stale, held,
    /// or failed. Defaults to the report's recipients.
    #[serde(default)]
    pub owner: Option<String>,
    /// Set to `false` to stop the schedule without deleting its file.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_report() -> String {
    "leadership".to_string()
}
fn default_compare() -> Vec<Comparison> {
    vec![Comparison::Previous, Comparison::LastYear]
}
fn default_true() -> bool {
    true
}

/// A period the report's figures are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// The period just before, of the same length (calendar-aware).
    Previous,
    /// The same period one year earlier.
    LastYear,
    /// The same weekday one week earlier (for daily reports).
    SameWeekdayLastWeek,
}

impl Comparison {
    /// The name as written in schedule files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Comparison::Previous => "previous",
            Comparison::LastYear => "last_year",
            Comparison::SameWeekdayLastWeek => "same_weekday_last_week",
        }
    }
}

/// How runs missed while nothing was running are caught up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Run a missed run only if it is at most [`crate::NONE_GRACE`] late.
    None,
    /// Run only the most recent missed run.
    #[default]
    Latest,
    /// Run every missed run, oldest first.
    All,
}

/// What to do when the data is stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Send nothing; tell the owner.
    #[default]
    Skip,
    /// Send anyway.
    Send,
}

/// What to do with a send whose intent was recorded but never confirmed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnconfirmed {
    /// Send nothing; tell the owner, who can force a resend.
    #[default]
    Hold,
    /// Send again, reusing the Message-ID.
    Resend,
}

/// A checked schedule. Field meanings are those of [`ScheduleFile`].
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The file name without `.toml`; the key of its runs in the ledger.
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// When it is due, on the wall clock of `timezone`.
    pub cron: CronExpr,
    /// The time zone of `cron` and of the period.
    pub timezone: Tz,
    /// The `[reports.<name>]` section to send.
    pub report: String,
    /// The period each run reports.
    pub period: NamedPeriod,
    /// What the period is compared with.
    pub compare: Vec<Comparison>,
    /// Headline KPI keys replacing the report's.
    pub headline: Option<Vec<String>>,
    /// Recipients replacing the report's.
    pub to: Option<Vec<String>>,
    /// Copy recipients replacing the report's.
    pub cc: Option<Vec<String>>,
    /// Blind-copy recipients replacing the report's.
    pub bcc: Option<Vec<String>>,
    /// Subject replacing the report's.
    pub subject: Option<String>,
    /// Alert rules replacing the report's.
    pub alerts: Option<Vec<String>>,
    /// Sync sources before the report.
    pub sync_first: bool,
    /// How missed runs are caught up.
    pub catch_up: CatchUp,
    /// What to do with stale data.
    pub freshness: Freshness,
    /// What to do with an unconfirmed send.
    pub on_unconfirmed: OnUnconfirmed,
    /// Who gets skip, hold and failure notices (None: the recipients).
    pub owner: Option<String>,
    /// Whether runs are due at all.
    pub enabled: bool,
}

/// Why a schedule file could not be used. Every variant names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The file or directory could not be read.
    #[error("{}: cannot read: {message}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// Not valid TOML, an unknown field, a missing field or a wrong type.
    #[error("{}: {}{}{message}", path.display(),
        line.map(|l| format!("line {l}: ")).unwrap_or_default(),
        field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// The key on that line, when there is one.
        field: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A field's value is not acceptable.
    #[error("{}: field `{field}`: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, as written in the file.
        field: &'static str,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The file name cannot be a schedule name.
    #[error("{}: a schedule's name is its file name without .toml, which may hold only letters, digits, `-` and `_`, at most {} characters (it names files in the run ledger)", path.display(), kpi_core::config::MAX_NAME_CHARS)]
    BadName {
        /// The file.
        path: PathBuf,
    },
}

/// Whether `name` can name a schedule: it becomes a file name in the ledger
/// (with suffixes such as `.checked.json`, so it is kept well below the file
/// system's 255 bytes).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= kpi_core::config::MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Schedule {
    /// Reads and checks one schedule file; `default_tz` is the reporting time
    /// zone from kpi.toml. Returns every problem found, not just the first.
    pub fn load(path: &Path, default_tz: Tz) -> Result<Self, Vec<ScheduleError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ScheduleError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }]
        })?;
        Self::parse(&text, path, default_tz)
    }

    /// Parses and checks schedule text; `path` gives the name (its stem) and
    /// names the file in errors.
    pub fn parse(text: &str, path: &Path, default_tz: Tz) -> Result<Self, Vec<ScheduleError>> {
        let mut errors = Vec::new();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !valid_name(&name) {
            errors.push(ScheduleError::BadName {
                path: path.to_path_buf(),
            });
        }
        let file: ScheduleFile = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                errors.push(syntax_error(path, text, &e));
                return Err(errors);
            }
        };
        let invalid = |field: &'static str, message: String| ScheduleError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };

        let cron = file
            .cron
            .parse::<CronExpr>()
            .map_err(|e| errors.push(invalid("cron", e.to_string())))
            .ok();
        let timezone = match &file.timezone {
            None => Some(default_tz),
            Some(tz) => tz
                .parse::<Tz>()
                .map_err(|_| {
                    errors.push(invalid(
                        "timezone",
                        format!(
                            "unknown time zone \"{tz}\"; use an IANA name such as Europe/Madrid or America/New_York"
                        ),
                    ))
                })
                .ok(),
        };
        let period = file
            .period
            .parse::<NamedPeriod>()
            .map_err(|_| {
                let names: Vec<&str> = NamedPeriod::ALL.iter().map(|(n, _)| *n).collect();
                errors.push(invalid(
                    "period",
                    format!(
                        "unknown period \"{}\"; use one of: {}",
                        file.period,
                        names.join(", ")
                    ),
                ))
            })
            .ok();
        if file.report.trim().is_empty() {
            errors.push(invalid(
                "report",
                "name a [reports.<name>] section of kpi.toml, or leave it out for \"leadership\""
                    .into(),
            ));
        }
        for (i, c) in file.compare.iter().enumerate() {
            if file.compare[..i].contains(c) {
                errors.push(invalid(
                    "compare",
                    format!("\"{}\" is listed twice", c.as_str()),
                ));
            }
        }
        if file.compare.contains(&Comparison::LastYear)
            && file.compare.contains(&Comparison::SameWeekdayLastWeek)
        {
            errors.push(invalid(
                "compare",
                "a report shows the previous period and one more comparison: choose \
                 last_year or same_weekday_last_week, not both"
                    .into(),
            ));
        }
        if let Some(h) = &file.headline
            && !(3..=5).contains(&h.len())
        {
            errors.push(invalid(
                "headline",
                format!("name 3 to 5 KPIs, not {}", h.len()),
            ));
        }
        if file.to.as_ref().is_some_and(|t| t.is_empty()) {
            errors.push(invalid(
                "to",
                "an empty list would send to nobody; leave `to` out to use the report's recipients"
                    .into(),
            ));
        }
        for (field, list) in [("to", &file.to), ("cc", &file.cc), ("bcc", &file.bcc)] {
            for addr in list.iter().flatten() {
                if !addr.contains('@') {
                    errors.push(invalid(
                        field,
                        format!("\"{addr}\" is not an email address"),
                    ));
                }
            }
        }
        if let Some(owner) = &file.owner
            && !owner.contains('@')
        {
            errors.push(invalid(
                "owner",
                format!("\"{owner}\" is not an email address"),
            ));
        }
        if file.subject.as_ref().is_some_and(|s| s.trim().is_empty()) {
            errors.push(invalid(
                "subject",
                "is empty; leave it out to use the report's".into(),
            ));
        }

        match (cron, timezone, period) {
            (Some(cron), Some(timezone), Some(period)) if errors.is_empty() => Ok(Schedule {
                name,
                path: path.to_path_buf(),
                cron,
                timezone,
                report: file.report,
                period,
                compare: file.compare,
                headline: file.headline,
                to: file.to,
                cc: file.cc,
                bcc: file.bcc,
                subject: file.subject,
                alerts: file.alerts,
                sync_first: file.sync_first,
                catch_up: file.catch_up,
                freshness: file.freshness,
                on_unconfirmed: file.on_unconfirmed,
                owner: file.owner,
                enabled: file.enabled,
            }),
            _ => Err(errors),
        }
    }

    /// `t` on the schedule's wall clock, for display.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.timezone)
    }

    /// The periods a run due at `due` reports: the schedule's period resolved
    /// with "today" being `due`'s date on the schedule's wall clock.
    pub fn period_for(&self, due: DateTime<Utc>) -> Result<ReportPeriods, PeriodError> {
        let today = self.local(due).date_naive();
        self.resolve(&PeriodSpec::Named(self.period), today)
    }

    /// `spec` (the schedule's own period, or one asked for with `kpi run
    /// --from --to`) resolved on `today` with the schedule's comparisons. The
    /// report has two comparison slots: the previous period, and a second one
    /// that is last year unless the schedule asks for a week ago.
    pub fn resolve(
        &self,
        spec: &PeriodSpec,
        today: chrono::NaiveDate,
    ) -> Result<ReportPeriods, PeriodError> {
        let periods = ReportPeriods::resolve(spec, today)?;
        Ok(if self.compare.contains(&Comparison::SameWeekdayLastWeek) {
            periods.with_week_ago()
        } else {
            periods
        })
    }
}

/// The TOML parser's error as `line N: field `x`: message`. The field is read
/// off the offending line, because toml's message for a bad value (an unknown
/// `catch_up` variant, say) does not name the key.
fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> ScheduleError {
    let message = e.message().trim_end().to_string();
    // A missing field's span is the whole document: no line to point at.
    let span = e.span().filter(|_| !message.starts_with("missing field"));
    let (line, field) = match span {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line_text = text.lines().nth(line_no - 1).unwrap_or("");
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| valid_name(k));
            // An unknown-field message already names the field.
            let key = key.filter(|_| !message.starts_with("unknown field"));
            (Some(line_no), key)
        }
        None => (None, None),
    };
    ScheduleError::Syntax {
        path: path.to_path_buf(),
        line,
        field,
        message,
    }
}

/// Loads every `*.toml` in `dir`, sorted by name, with every bad file's
/// errors (a bad file does not hide the others). A missing directory has no
/// schedules, which is not an error.
pub fn load_dir(dir: &Path, default_tz: Tz) -> (Vec<Schedule>, Vec<ScheduleError>) {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Vec::new(), Vec::new()),
        Err(e) => {
            return (
                Vec::new(),
                vec![ScheduleError::Read {
                    path: dir.to_path_buf(),
                    message: e.to_string(),
                }],
            );
        }
    };
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for entry in read {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                    paths.push(path);
                }
            }
            Err(e) => errors.push(ScheduleError::Read {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }
    paths.sort();
    let mut schedules = Vec::new();
    for path in paths {
        match Schedule::load(&path, default_tz) {
            Ok(s) => schedules.push(s),
            Err(mut e) => errors.append(&mut e),
        }
    }
    schedules.sort_by(|a, b| a.name.cmp(&b.name));
    (schedules, errors)
}
