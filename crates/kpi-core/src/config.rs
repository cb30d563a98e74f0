//! The configuration model: one `kpi.toml` per company (or per client, for an
//! agency).
//!
//! Every field's doc comment is the user's documentation of that setting.
//! Secrets never live here: sources name the environment variables they read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A whole `kpi.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How numbers are reported: currency, time zone, industry, margin.
    pub reporting: Reporting,
    /// Where the Parquet lake lives.
    #[serde(default)]
    pub lake: LakeConfig,
    /// Where to find your overrides of the built-in SQL and reference files.
    #[serde(default)]
    pub queries: QueriesConfig,
    /// Data sources, by the name their tables get in the lake
    /// (`[sources.google_ads]` lands in `lake/raw/google_ads/`).
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Targets for the total (company-wide) KPIs, by KPI key: `cpl = 45.0`.
    /// Percentages are fractions: `roi = 2.5` means 250 %.
    #[serde(default)]
    pub targets: BTreeMap<String, f64>,
    /// Targets per channel: `[channel_targets.paid_search]` then `cpl = 60.0`.
    #[serde(default)]
    pub channel_targets: BTreeMap<String, BTreeMap<String, f64>>,
    /// How reports are delivered: an outbox directory (the default) or SMTP.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Settings per report, by report name: `[reports.leadership]`.
    #[serde(default)]
    pub reports: BTreeMap<String, ReportConfig>,
    /// Where the schedule files are.
    #[serde(default)]
    pub schedules: SchedulesConfig,
    /// The warehouse `kpi sync` exports to after a successful sync.
    #[serde(default)]
    pub export: crate::export::ExportConfig,
    /// The directory the file was read from; relative paths start here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file the config was read from, for error messages.
    #[serde(skip)]
    pub origin: PathBuf,
    /// The line of every key of the file, so problems found after parsing
    /// (an unknown source type, a target for an unknown KPI) name it.
    #[serde(skip)]
    pub lines: KeyLines,
}

/// `[reporting]`: how numbers are reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reporting {
    /// ISO 4217 code every amount is converted to before it is summed (`EUR`).
    pub currency: String,
    /// IANA time zone that periods are computed in (`Europe/Madrid`); CRM
    /// timestamps are turned into dates in this zone.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Which industry's rows of the benchmark table to compare with
    /// (`Business and Finance`); rows for all industries are used otherwise.
    #[serde(default)]
    pub industry: Option<String>,
    /// Gross margin as a fraction (0.62), used by ROI and profit: revenue is not
    /// profit.
    #[serde(default = "default_margin")]
    pub gross_margin: f64,
    /// Language and number format of reports: `en` or `es`.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Relative change within which a KPI counts as "on target" (0.02 = ±2 %).
    #[serde(default = "default_tolerance")]
    pub on_target_tolerance: f64,
}

fn default_timezone() -> String {
    "UTC".to_string()
}
fn default_margin() -> f64 {
    1.0
}
fn default_locale() -> String {
    "en".to_string()
}
fn default_tolerance() -> f64 {
    0.02
}

/// `[reports.<name>]`: how one report is put together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Title at the top of the report; the report language's own title
    /// ("Marketing KPIs", "KPIs de marketing") when not set.
    #[serde(default)]
    pub title: Option<String>,
    /// The 3 to 5 KPI keys the report leads with.
    #[serde(default = "default_headline")]
    pub headline: Vec<String>,
    /// How many campaigns the best and worst lists show.
    #[serde(default = "default_top")]
    pub top_campaigns: usize,
    /// Campaigns are ranked (best and worst ROI and cost per lead) only with
    /// at least this many leads in the period (default 10), so that a
    /// campaign with one lucky lead does not top the list.
    #[serde(default = "default_rank_min_leads")]
    pub rank_min_leads: f64,
    /// ... and at least this much cost in the reporting currency (default 0).
    #[serde(default)]
    pub rank_min_cost: f64,
    /// Alert rules checked against the company totals, e.g. `"cpl > 80"`,
    /// `"change_vs_previous(bounce_rate) > 0.15"` (changes and percentages
    /// as fractions). Every rule that fires is listed in the report.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// A directory with your own copy of `report-templates/` (relative to
    /// kpi.toml); the built-in templates are used otherwise.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// Recipients (`"Ana <ana@example.com>"` or plain addresses).
    #[serde(default)]
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind-copy recipients.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Subject, with placeholders `{{title}}` and `{{period.label}}`.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// A `List-Unsubscribe` value (`<mailto:...>` or `<https://...>`), if any.
    #[serde(default)]
    pub list_unsubscribe: Option<String>,
    /// Language and number format of this report (`en` or `es`); defaults to
    /// `[reporting] locale`.
    #[serde(default)]
    pub locale: Option<String>,
}

fn default_subject() -> String {
    "{{title}}, {{period.label}}".to_string()
}

/// `[delivery]`: where reports go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// `outbox` (the default): write each message as an `.eml` file a mail
    /// client opens; `smtp`: send it through `host`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Directory of the outbox, relative to kpi.toml.
    #[serde(default = "default_outbox")]
    pub outbox: PathBuf,
    /// SMTP server host name.
    #[serde(default)]
    pub host: Option<String>,
    /// SMTP port (default 587 for starttls, 465 for tls, 25 for none).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none`.
    #[serde(default = "default_tls")]
    pub tls: String,
    /// Allow sending the username and password over a connection without TLS.
    /// Off by default: credentials are never sent in clear unless you say so.
    #[serde(default)]
    pub allow_plaintext_auth: bool,
    /// A PEM file with an extra certificate authority to trust (a company's
    /// own mail server), relative to kpi.toml.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Sender, e.g. `"KPI reports <kpi@example.com>"`.
    #[serde(default = "default_from")]
    pub from: String,
    /// Reply-To address, if replies should go elsewhere.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Environment variable holding the SMTP user name (no AUTH when unset).
    #[serde(default = "default_user_env")]
    pub username_env: String,
    /// Environment variable holding the SMTP password.
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// Attempts for transient failures (connection refused, 4xx replies).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Seconds to wait for the server's reply to each SMTP command (default
    /// 30). A reply to the end of the message that does not come in time
    /// leaves the delivery unconfirmed: it is never retried blindly.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            transport: default_transport(),
            outbox: default_outbox(),
            host: None,
            port: None,
            tls: default_tls(),
            allow_plaintext_auth: false,
            ca_file: None,
            from: default_from(),
            reply_to: None,
            username_env: default_user_env(),
            password_env: default_password_env(),
            attempts: default_attempts(),
            timeout_secs: default_smtp_timeout(),
        }
    }
}

fn default_smtp_timeout() -> u64 {
    30
}

fn default_transport() -> String {
    "outbox".into()
}
fn default_outbox() -> PathBuf {
    PathBuf::from("outbox")
}
fn default_tls() -> String {
    "starttls".into()
}
fn default_from() -> String {
    "KPI reports <kpi@localhost>".into()
}
fn default_user_env() -> String {
    "SMTP_USERNAME".into()
}
fn default_password_env() -> String {
    "SMTP_PASSWORD".into()
}
fn default_attempts() -> u32 {
    3
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            title: None,
            headline: default_headline(),
            top_campaigns: default_top(),
            rank_min_leads: default_rank_min_leads(),
            rank_min_cost: 0.0,
            alerts: Vec::new(),
            templates: None,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: default_subject(),
            list_unsubscribe: None,
            locale: None,
        }
    }
}

fn default_rank_min_leads() -> f64 {
    10.0
}
fn default_headline() -> Vec<String> {
    ["revenue", "cpl", "cac", "roi", "mql_to_sql"]
        .map(String::from)
        .to_vec()
}
fn default_top() -> usize {
    5
}

/// `[lake]`: where the Parquet lake lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// Directory of the lake, relative to kpi.toml unless absolute.
    #[serde(default = "default_lake")]
    pub path: PathBuf,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            path: default_lake(),
        }
    }
}

fn default_lake() -> PathBuf {
    PathBuf::from("lake")
}

/// `[schedules]`: where `kpi run-due` and `kpi daemon` find schedules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesConfig {
    /// Directory of `<name>.toml` schedule files, relative to kpi.toml
    /// (default `schedules`).
    #[serde(default = "default_schedules_dir")]
    pub dir: PathBuf,
}

impl Default for SchedulesConfig {
    fn default() -> Self {
        Self {
            dir: default_schedules_dir(),
        }
    }
}

fn default_schedules_dir() -> PathBuf {
    PathBuf::from("schedules")
}

/// `[queries]`: overrides of the built-in SQL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueriesConfig {
    /// A directory laid out like the built-in `queries/`; a file there with the
    /// same relative path (`reference/channel_mapping.csv`,
    /// `reference/benchmarks.csv`, `staging/ga4.sql`) replaces the built-in
    /// one. Relative to kpi.toml.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// `[sources.<name>]`: one data source.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceConfig {
    /// Connector type: `google_ads`, `meta_ads`, `linkedin_ads`, `ga4`,
    /// `search_console`, `hubspot`, `mailchimp`, `social`, `backlinks`, `costs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The connector's own settings (account ids, lookback, base URL).
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut config = Self::parse(&text, path)?;
        config.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.origin = origin.to_path_buf();
        config.base_dir = PathBuf::from(".");
        config.lines = KeyLines::of(text);
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid { problems });
        }
        Ok(config)
    }

    /// A problem with the setting at `key` (`["sources", "ads", "type"]`),
    /// naming this file and the key's line (or its section's).
    pub fn problem(&self, key: &[&str], message: impl Into<String>) -> Problem {
        Problem {
            file: self.origin.clone(),
            line: self.lines.line(key),
            setting: key.iter().map(|k| k.to_string()).collect(),
            message: message.into(),
        }
    }

    /// Every value that is out of range, not only the first.
    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut invalid = |key: &[&str], message: String| out.push(self.problem(key, message));
        let config = self;
        let r = &config.reporting;
        if r.currency.len() != 3 || !r.currency.chars().all(|c| c.is_ascii_uppercase()) {
            invalid(
                &["reporting", "currency"],
                format!(
                    "reporting.currency: '{}' is not an ISO 4217 code such as EUR or USD",
                    r.currency
                ),
            );
        }
        if r.timezone.parse::<chrono_tz::Tz>().is_err() {
            invalid(
                &["reporting", "timezone"],
                format!(
                    "reporting.timezone: '{}' is not an IANA time zone such as Europe/Madrid",
                    r.timezone
                ),
            );
        }
        if !(r.gross_margin > 0.0 && r.gross_margin <= 1.0) {
            invalid(
                &["reporting", "gross_margin"],
                format!(
                    "reporting.gross_margin: {} must be a fraction above 0 and at most 1",
                    r.gross_margin
                ),
            );
        }
        if !matches!(r.locale.as_str(), "en" | "es") {
            invalid(
                &["reporting", "locale"],
                format!(
                    "reporting.locale: '{}' is not supported; use en or es",
                    r.locale
                ),
            );
        }
        let d = &config.delivery;
        if !matches!(d.transport.as_str(), "outbox" | "smtp") {
            invalid(
                &["delivery", "transport"],
                format!(
                    "delivery.transport: '{}' is not outbox or smtp",
                    d.transport
                ),
            );
        }
        if !matches!(d.tls.as_str(), "starttls" | "tls" | "none") {
            invalid(
                &["delivery", "tls"],
                format!("delivery.tls: '{}' is not starttls, tls or none", d.tls),
            );
        }
        if d.transport == "smtp" && d.host.as_deref().unwrap_or("").is_empty() {
            invalid(
                &["delivery", "host"],
                "delivery.host: transport = \"smtp\" needs a host".into(),
            );
        }
        for (name, r) in &config.reports {
            if let Some(problem) = report_name_problem(name) {
                invalid(
                    &["reports", name],
                    format!("reports.{}: {REPORT_NAME_RULE}; {problem}", shorten(name)),
                );
            }
            if !(3..=5).contains(&r.headline.len()) {
                invalid(
                    &["reports", name, "headline"],
                    format!(
                        "reports.{name}.headline: name 3 to 5 KPIs, not {}",
                        r.headline.len()
                    ),
                );
            }
            if let Some(l) = r.locale.as_deref().filter(|l| !matches!(*l, "en" | "es")) {
                invalid(
                    &["reports", name, "locale"],
                    format!("reports.{name}.locale: '{l}' is not supported; use en or es"),
                );
            }
        }
        let e = &config.export;
        if !crate::export::valid_schema(&e.schema) {
            invalid(
                &["export", "schema"],
                format!("export.schema: '{}': letters, digits and _ only", e.schema),
            );
        }
        if e.url_env.is_empty() {
            invalid(
                &["export", "url_env"],
                "export.url_env: name the environment variable holding the URL".into(),
            );
        }
        for (name, s) in &config.sources {
            if let Some(problem) = source_name_problem(name) {
                invalid(
                    &["sources", name],
                    format!("sources.{}: {SOURCE_NAME_RULE}; {problem}", shorten(name)),
                );
            }
            if s.kind.is_empty() {
                invalid(
                    &["sources", name, "type"],
                    format!("sources.{name}.type is empty"),
                );
            }
        }
        out
    }

    /// The time zone periods are computed in.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.reporting.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Absolute or config-relative path of the lake.
    pub fn lake_path(&self) -> PathBuf {
        self.base_dir.join(&self.lake.path)
    }

    /// Directory of the schedule files.
    pub fn schedules_dir(&self) -> PathBuf {
        self.base_dir.join(&self.schedules.dir)
    }

    /// Directory of query overrides, if configured.
    pub fn queries_dir(&self) -> Option<PathBuf> {
        self.queries.dir.as_ref().map(|d| self.base_dir.join(d))
    }

    /// Today's date in the reporting time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.timezone())
            .date_naive()
    }
}

/// The longest name a source or report may have, in characters. A source's
/// name becomes a folder of the lake and an SQL schema, a report's a folder
/// of templates: 63 is PostgreSQL's identifier limit, and far below any file
/// system's.
pub const MAX_NAME_CHARS: usize = 63;

/// The rule for `[sources.<name>]`, as errors state it.
const SOURCE_NAME_RULE: &str = "a source name must start with a lowercase letter and hold only \
     a-z, 0-9 and _, at most 63 characters (it becomes the lake folder raw/<name>/ and the SQL \
     schema of its tables)";

/// The rule for `[reports.<name>]`, as errors state it.
const REPORT_NAME_RULE: &str = "a report name must start with a letter and hold only letters, \
     digits, - and _, at most 63 characters (it names the report's templates folder)";

/// What is wrong with `name` as a source name, if anything: see
/// [`SOURCE_NAME_RULE`].
fn source_name_problem(name: &str) -> Option<String> {
    name_problem(
        name,
        |c| c.is_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
    )
}

/// What is wrong with `name` as a report name, if anything: see
/// [`REPORT_NAME_RULE`].
fn report_name_problem(name: &str) -> Option<String> {
    name_problem(
        name,
        |c| c.is_ascii_alphabetic(),
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
    )
}

fn name_problem(
    name: &str,
    first_ok: impl Fn(char) -> bool,
    ok: impl Fn(char) -> bool,
) -> Option<String> {
    let len = name.chars().count();
    let Some(first) = name.chars().next() else {
        return Some("this one is empty".into());
    };
    if len > MAX_NAME_CHARS {
        return Some(format!("this one has {len} characters"));
    }
    if !first_ok(first) {
        return Some(format!("this one starts with {first:?}"));
    }
    name.chars()
        .find(|c| !ok(*c))
        .map(|c| format!("this one holds {c:?}"))
}

/// `name` as an error message shows it: whole, or its start and its length
/// when it is too long to read.
fn shorten(name: &str) -> String {
    const SHOWN: usize = 24;
    let len = name.chars().count();
    if len <= MAX_NAME_CHARS {
        return name.to_string();
    }
    let start: String = name.chars().take(SHOWN).collect();
    format!("{start}... ({len} characters)")
}

/// Why a config could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}: {message}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The file is not valid TOML or has an unknown or mistyped field.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Values are out of range: every one found, each with its line.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Which settings and why.
        problems: Vec<Problem>,
    },
}

/// One thing wrong with a setting: the file, the line of the setting where it
/// is known, and what is wrong. Shown as `kpi.toml: line 12: sources.ads.type: ...`,
/// the form schedule files use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line of the setting (or of its section) in `file`.
    pub line: Option<usize>,
    /// The setting's path (`["sources", "ads", "type"]`), so that a caller
    /// can tell which source or report a problem belongs to.
    pub setting: Vec<String>,
    /// Which setting and why.
    pub message: String,
}

impl Problem {
    /// Whether the problem is in `[sources.<source>]`.
    pub fn is_in_source(&self, source: &str) -> bool {
        self.setting.first().is_some_and(|s| s == "sources")
            && self.setting.get(1).is_some_and(|s| s == source)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The line of every key in a TOML file, by dotted path (`sources.ads.type`).
#[derive(Debug, Clone, Default)]
pub struct KeyLines(BTreeMap<Vec<String>, usize>);

impl KeyLines {
    /// Indexes `text`; text that does not parse gives an empty index (the
    /// parser's own error names the line then).
    pub fn of(text: &str) -> Self {
        let mut lines = BTreeMap::new();
        if let Ok(table) = toml::de::DeTable::parse(text) {
            let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
            fn walk(
                table: &toml::de::DeTable<'_>,
                prefix: &mut Vec<String>,
                line_at: &dyn Fn(usize) -> usize,
                out: &mut BTreeMap<Vec<String>, usize>,
            ) {
                for (key, value) in table {
                    prefix.push(key.get_ref().to_string());
                    out.entry(prefix.clone())
                        .or_insert_with(|| line_at(key.span().start));
                    if let toml::de::DeValue::Table(inner) = value.get_ref() {
                        walk(inner, prefix, line_at, out);
                    }
                    prefix.pop();
                }
            }
            walk(table.get_ref(), &mut Vec::new(), &line_at, &mut lines);
        }
        KeyLines(lines)
    }

    /// The line of `key`, or of the nearest section that holds it.
    pub fn line(&self, key: &[&str]) -> Option<usize> {
        (1..=key.len()).rev().find_map(|n| {
            let path: Vec<String> = key[..n].iter().map(|k| k.to_string()).collect();
            self.0.get(&path).copied()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_the_file_on_error() {
        let ok = Config::parse(
            "[reporting]\ncurrency = \"EUR\"\ntimezone = \"Europe/Madrid\"\ngross_margin = 0.6\n[targets]\ncpl = 45.0\n[sources.ads]\ntype = \"google_ads\"\ncustomer_ids = [\"1\"]\n",
            Path::new("kpi.toml"),
        )
        .unwrap();
        assert_eq!(ok.targets["cpl"], 45.0);
        assert_eq!(ok.sources["ads"].kind, "google_ads");
        assert!(ok.sources["ads"].settings.contains_key("customer_ids"));

        let err = Config::parse("[reporting]\ncurrency = EUR\n", Path::new("x/kpi.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x/kpi.toml: "), "{err}");
        assert!(err.contains("line 2"), "{err}");

        let err = Config::parse(
            "[reporting]\ncurrency = \"EUR\"\ntimezone = \"Mars/Base\"\n",
            Path::new("kpi.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("reporting.timezone"), "{err}");

        let err = Config::parse(
            "[reporting]\ncurrency = \"EUR\"\n[target]\ncpl = 1.0\n",
            Path::new("kpi.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `target`"), "{err}");
    }

    #[test]
    fn source_and_report_names_follow_the_rule_and_errors_name_the_setting() {
        let parse = |section: &str| {
            Config::parse(
                &format!("[reporting]\ncurrency = \"EUR\"\n{section}\n"),
                Path::new("kpi.toml"),
            )
        };
        let long = "a".repeat(300);
        let err = parse(&format!("[sources.{long}]\ntype = \"ga4\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "kpi.toml: line 3: sources.aaaaaaaaaaaaaaaaaaaaaaaa... (300 characters): "
            ) && err.contains("at most 63 characters")
                && err.contains("this one has 300 characters"),
            "{err}"
        );
        assert!(!err.contains(&long), "the name is shortened: {err}");
        for (name, why) in [
            ("1ads", "starts with '1'"),
            ("_ads", "starts with '_'"),
            ("google-ads", "holds '-'"),
            ("Ads", "starts with 'A'"),
            ("\"\"", "is empty"),
        ] {
            let err = parse(&format!("[sources.{name}]\ntype = \"ga4\""))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("a source name must start with a lowercase letter")
                    && err.contains(why),
                "{name}: {err}"
            );
        }
        let ok = "a".repeat(63);
        parse(&format!(
            "[sources.{ok}]\ntype = \"ga4\"\n[sources.ga4_2]\ntype = \"ga4\""
        ))
        .unwrap();

        let err = parse(&format!("[reports.{long}]")).unwrap_err().to_string();
        assert!(
            err.contains("reports.aaaaaaaaaaaaaaaaaaaaaaaa... (300 characters): a report name")
                && err.contains("this one has 300 characters"),
            "{err}"
        );
        let err = parse("[reports.\"weekly digest\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reports.weekly digest: ") && err.contains("holds ' '"),
            "{err}"
        );
        parse("[reports.weekly-digest_2]").unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_line() {
        let err = Config::parse(
            "[reporting]\ncurrency = \"eur\"\ntimezone = \"Mars/Base\"\n\n[delivery]\ntransport = \"pigeon\"\n\n[sources.Ads]\ntype = \"ga4\"\n",
            Path::new("kpi.toml"),
        )
        .unwrap_err();
        let ConfigError::Invalid { problems } = &err else {
            panic!("{err}");
        };
        let lines: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(
            lines,
            vec![
                (Some(2), "reporting.currency"),
                (Some(3), "reporting.timezone"),
                (Some(6), "delivery.transport"),
                (Some(8), "sources.Ads"),
            ]
        );
        let text = err.to_string();
        assert!(
            text.lines()
                .next()
                .unwrap()
                .starts_with("kpi.toml: line 2: reporting.currency: 'eur'"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4, "{text}");
    }
}
