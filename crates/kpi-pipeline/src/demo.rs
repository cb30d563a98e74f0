//! `kpi demo`: a complete, working setup on the synthetic company.
//!
//! It writes a `kpi.toml` and a lake of 25 months of data ending yesterday into
//! a directory it owns (marked with [`DEMO_MARKER`]), so that it can rebuild
//! that directory on the next run and refuse to touch any other.
//!
//! The data arrives the way it does in production: the sandbox serves the
//! synthetic company through its emulation of every API that has a
//! connector, on a loopback port, and `kpi sync` (the same runner, connectors and
//! HTTP client) reads them into the lake. The sources that come as files
//! (costs, backlinks, social) arrive as a person would export them: the
//! generator writes them to `inputs/` in the layouts finance, Ahrefs and
//! the social tools use, and the same `kpi sync` loads them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use kpi_lake::{Durability, Lake};
use kpi_sandbox::Company;
use kpi_sandbox::server::{SandboxConfig, SandboxHandle};

use crate::registry;
use crate::sync::{SecretLookup, StreamReport, SyncOptions};
use crate::{PipelineError, RowCounts};

/// Where `kpi sandbox serve` listens by default, and so where the demo's
/// `kpi.toml` points its connector sources after the demo's own, short-lived
/// sandbox has gone.
pub const SANDBOX_DEFAULT_URL: &str = "http://127.0.0.1:8790";

/// The example schedules shipped in `schedules/`, copied into the demo.
const EXAMPLE_SCHEDULES: [(&str, &str); 3] = [
    (
        "nightly.toml",
        include_str!("../../../schedules/nightly.toml"),
    ),
    (
        "weekly.toml",
        include_str!("../../../schedules/weekly.toml"),
    ),
    (
        "monthly.toml",
        include_str!("../../../schedules/monthly.toml"),
    ),
];

/// File that marks a directory as made by `kpi demo`.
pub const DEMO_MARKER: &str = ".kpi-demo";

/// What to build.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Directory to create (or rebuild).
    pub dir: PathBuf,
    /// Last day of data, inclusive (yesterday).
    pub end_date: NaiveDate,
    /// Volume multiplier (1 = the default company).
    pub scale: f64,
    /// Months of history.
    pub months: u32,
}

/// What was built.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    /// The config file.
    pub config: PathBuf,
    /// The lake directory.
    pub lake: PathBuf,
    /// Rows written per `source.stream`.
    pub rows: RowCounts,
    /// Files written.
    pub files: u64,
    /// Bytes of Parquet written.
    pub bytes: u64,
    /// Rows per canonical view written to `lake/canonical/`.
    pub canonical: Vec<(String, u64)>,
    /// The HTML copy of the leadership report for the previous month.
    pub report_html: PathBuf,
    /// Where the report email went (an `.eml` file in the outbox).
    pub report_email: String,
    /// First day of data.
    pub first_day: NaiveDate,
    /// Last day of data.
    pub last_day: NaiveDate,
    /// The streams synced from the sandbox over HTTP.
    pub synced: Vec<StreamReport>,
    /// The streams loaded from the demo's files.
    pub loaded: Vec<StreamReport>,
    /// Where those files are.
    pub inputs: PathBuf,
    /// Where the demo's sandbox listened while it ran.
    pub sandbox_url: String,
}

/// Builds the demo directory: config, raw lake, and the canonical views
/// written out for other engines.
pub async fn run_demo(opts: &DemoOptions) -> Result<DemoOutcome, PipelineError> {
    let dir = &opts.dir;
    prepare_dir(dir)?;
    let lake_dir = dir.join("lake");
    Lake::create(&lake_dir)?;
    let company = Company {
        end_date: opts.end_date,
        months: opts.months,
        scale: opts.scale,
        ..Company::new(opts.end_date)
    };
    let sandbox = kpi_sandbox::server::serve(
        SandboxConfig {
            scale: opts.scale,
            months: opts.months,
            end_date: Some(opts.end_date),
            ..SandboxConfig::default()
        },
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .map_err(|e| PipelineError::Demo(format!("starting the sandbox: {e}")))?;

    // The files the file sources load, from the generator, while the
    // connector sources sync from the sandbox.
    let inputs = {
        let dir = dir.clone();
        let company = company.clone();
        tokio::task::spawn_blocking(move || write_inputs(&dir, &company))
    };
    let config_path = dir.join("kpi.toml");
    let text = demo_config(
        &sandbox.sources_toml_at(SANDBOX_DEFAULT_URL),
        company.start_date(),
    );
    std::fs::write(&config_path, &text).map_err(|e| io(&config_path, e))?;
    let synced = sync_from(Some(&sandbox), &config_path, opts.end_date).await;
    let sandbox_url = sandbox.base_url();
    sandbox.shutdown().await;
    inputs
        .await
        .map_err(|e| PipelineError::Demo(format!("generating the company: {e}")))??;
    let synced = synced?;
    let loaded = sync_from(None, &config_path, opts.end_date).await?;
    let mut rows = RowCounts::new();
    for r in synced.iter().chain(&loaded) {
        *rows.entry(r.stream.clone()).or_default() += r.rows;
    }
    // The demo's own query overrides: the campaigns only HubSpot and GA4
    // know, classed as the marketer would (see reference/campaign_overrides.csv).
    let overrides = dir.join("queries/reference");
    std::fs::create_dir_all(&overrides).map_err(|e| io(&overrides, e))?;
    let mut csv = String::from(
        "# Written by `kpi demo`: campaigns that only exist as utm_campaign values,\n\
         # classed by hand. Replaces the built-in (empty) file.\n\
         campaign_key,channel,campaign_type\n",
    );
    for (key, channel, kind) in kpi_sandbox::generator::campaign_overrides(&company) {
        csv.push_str(&format!("{key},{channel},{kind}\n"));
    }
    let file = overrides.join("campaign_overrides.csv");
    std::fs::write(&file, csv).map_err(|e| io(&file, e))?;
    // The three example schedules, ready for `kpi schedules` and `kpi run-due`.
    let schedules = dir.join("schedules");
    std::fs::create_dir_all(&schedules).map_err(|e| io(&schedules, e))?;
    for (name, text) in EXAMPLE_SCHEDULES {
        let file = schedules.join(name);
        std::fs::write(&file, text).map_err(|e| io(&file, e))?;
    }
    let config = kpi_core::Config::load(&config_path)?;
    let canonical = crate::materialize(&config).await?;

    // End the way a scheduled run does: render last month's leadership report
    // and deliver it (to the outbox: the demo has no mail server).
    let today = opts.end_date.succ_opt().unwrap_or(opts.end_date);
    let periods = kpi_core::ReportPeriods::resolve(
        &kpi_core::PeriodSpec::Named(kpi_core::NamedPeriod::PreviousMonth),
        today,
    )?;
    let reproduce = format!(
        "kpi --config {} kpis --from {} --to {}",
        config_path.display(),
        periods.current.start,
        periods.current.end
    );
    let rendered = crate::render_report(&config, "leadership", &periods, reproduce, today).await?;
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).map_err(|e| io(&reports, e))?;
    let report_html = reports.join(format!(
        "leadership-{}.html",
        periods.current.start.format("%Y-%m")
    ));
    std::fs::write(&report_html, rendered.standalone_html()).map_err(|e| io(&report_html, e))?;
    let delivered = crate::send_report(&config, "leadership", &rendered)?;

    let (files, bytes) = parquet_files(&lake_dir.join("raw"));
    Ok(DemoOutcome {
        config: config_path,
        canonical,
        report_html,
        report_email: delivered.location,
        lake: lake_dir,
        rows,
        files,
        bytes,
        first_day: company.start_date(),
        last_day: opts.end_date,
        synced,
        loaded,
        inputs: dir.join("inputs"),
        sandbox_url,
    })
}

/// Syncs the demo's connector sources from `sandbox`, with its
/// credentials, or (`None`) its file sources, as `kpi sync` would.
async fn sync_from(
    sandbox: Option<&SandboxHandle>,
    config_path: &Path,
    end_date: NaiveDate,
) -> Result<Vec<StreamReport>, PipelineError> {
    let mut config = kpi_core::Config::load(config_path)?;
    let files = sandbox.is_none();
    config
        .sources
        .retain(|_, s| registry::find(&s.kind).is_some_and(|t| t.is_files()) == files);
    let mut opts = SyncOptions {
        today: end_date.succ_opt().unwrap_or(end_date),
        durability: Some(Durability::Os),
        ..SyncOptions::default()
    };
    if let Some(sandbox) = sandbox {
        // The file names the address `kpi sandbox serve` uses; this sync
        // goes to the demo's own sandbox.
        for source in config.sources.values_mut() {
            point_at(&mut source.settings, &sandbox.base_url());
        }
        let credentials = sandbox.config().credentials.clone();
        opts.secrets = Some(SecretLookup(std::sync::Arc::new(move |name: &str| {
            credentials.lookup(name)
        })));
    }
    let outcome = crate::sync::sync(&config, &opts, &mut |_| {}).await?;
    if let Some(f) = outcome.failures.first() {
        let what = match files {
            true => "loading the demo's files",
            false => "syncing from the sandbox",
        };
        return Err(PipelineError::Demo(format!("{what}: {}", f.error)));
    }
    Ok(outcome.reports)
}

/// Replaces [`SANDBOX_DEFAULT_URL`] with `base` in every URL of a source's
/// settings (`base_url`, the OAuth2 `token_url`).
fn point_at(settings: &mut toml::Table, base: &str) {
    fn walk(v: &mut toml::Value, base: &str) {
        match v {
            toml::Value::String(s) if s.starts_with(SANDBOX_DEFAULT_URL) => {
                *s = s.replacen(SANDBOX_DEFAULT_URL, base, 1);
            }
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| walk(v, base)),
            toml::Value::Array(a) => a.iter_mut().for_each(|v| walk(v, base)),
            _ => {}
        }
    }
    settings.iter_mut().for_each(|(_, v)| walk(v, base));
}

/// Parquet files under `dir` and their bytes.
fn parquet_files(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (files, bytes)
}

fn io(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::Demo(format!("{}: {e}", path.display()))
}

/// Creates `dir`, or empties it if an earlier demo made it; refuses anything else.
fn prepare_dir(dir: &Path) -> Result<(), PipelineError> {
    let marker = dir.join(DEMO_MARKER);
    if dir.exists() {
        if !dir.is_dir() {
            return Err(PipelineError::Demo(format!(
                "{} exists and is not a directory; choose another --dir",
                dir.display()
            )));
        }
        let empty = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .next()
            .is_none();
        if !empty && !marker.exists() {
            return Err(PipelineError::Demo(format!(
                "{} exists and was not created by `kpi demo` (it has no {DEMO_MARKER} file); \
                 refusing to touch it. Choose another --dir or remove it yourself.",
                dir.display()
            )));
        }
        // Only what the demo writes is removed: a user's extra files stay.
        for name in [
            "inputs",
            "lake",
            "kpi.toml",
            "queries",
            "outbox",
            "reports",
            "schedules",
        ] {
            let p = dir.join(name);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
            } else if p.exists() {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
            }
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::write(
        &marker,
        "This directory was created by `kpi demo`, which rebuilds it on every run.\n",
    )
    .map_err(|e| io(&marker, e))
}

/// Writes the demo's input files (see [`crate::demo_inputs`]).
fn write_inputs(dir: &Path, company: &Company) -> Result<(), PipelineError> {
    crate::demo_inputs::write(&dir.join("inputs"), company)
}

fn demo_config(sandbox_sources: &str, start: NaiveDate) -> String {
    // The company's first day, so that a first sync reads no empty months.
    let mut connectors = String::new();
    for line in sandbox_sources.trim_end().lines() {
        connectors.push_str(line);
        connectors.push('\n');
        if line.starts_with("type = ") {
            connectors.push_str(&format!("start_date = \"{start}\"\n"));
        }
    }
    DEMO_CONFIG
        .replace("{{sandbox_sources}}", connectors.trim_end())
        .replace(
            "{{file_sources}}",
            crate::demo_inputs::SOURCES_TOML.trim_end(),
        )
}

const DEMO_CONFIG: &str = r#"# kpi.toml written by `kpi demo` for the synthetic company "Example SaaS".
# Every setting is documented in the README; this is a working starting point.

[reporting]
currency = "EUR"                   # every amount is converted to this
timezone = "Europe/Madrid"         # periods and CRM dates are in this zone
industry = "Business and Finance"  # benchmark rows to compare with
gross_margin = 0.75                # for ROI and profit: revenue is not profit
locale = "en"

[lake]
path = "lake"

# Files here replace the built-in ones with the same path (see the README).
[queries]
dir = "queries"

# The source names are the table schemas (`SELECT * FROM google_ads.campaign_stats`).
#
# The sources with a connector were synced over HTTP from the kpi sandbox,
# which the demo ran on a loopback port while it worked. To sync again (or try
# `kpi check`), serve it where this file points and export its credentials:
#   kpi sandbox serve            # prints the export lines, listens on 8790
#   kpi --config kpi-demo/kpi.toml sync
{{sandbox_sources}}

{{file_sources}}

# Company-wide targets by KPI key (percentages as fractions).
[targets]
cpl = 80.0
cac = 4000.0
mql_to_sql = 0.40
roi = 3.0
bounce_rate = 0.45

[channel_targets.paid_search]
cpl = 70.0
ctr = 0.05

# Reports go to the outbox directory as .eml files; set transport = "smtp" and
# host to send them (credentials from SMTP_USERNAME / SMTP_PASSWORD).
[delivery]
transport = "outbox"
outbox = "outbox"
from = "KPI reports <kpi@example.com>"

# `kpi report leadership`: recipients, headline KPIs and alert rules.
[reports.leadership]
to = ["Leadership <leadership@example.com>"]
subject = "Marketing KPIs, {{period.label}}"
headline = ["revenue", "cpl", "cac", "roi", "mql_to_sql"]
top_campaigns = 5
alerts = [
    "cpl > 80",
    "change_vs_previous(bounce_rate) > 0.15",
    "change_vs_previous(revenue) < -0.1",
    "change_vs_previous(cac) > 0.2",
]
"#;
