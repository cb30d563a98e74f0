//! `kpi demo`: a complete, working setup on the synthetic company.
//!
//! It writes a `kpi.toml` and a lake of 25 months of data ending yesterday into
//! a directory it owns (marked with [`DEMO_MARKER`]), so that it can rebuild
//! that directory on the next run and refuse to touch any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use kpi_lake::{Durability, Lake, SnapshotWriter, StreamSpec};
use kpi_sandbox::{Company, RawSink, SinkError};

use crate::{PipelineError, RowCounts};

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
}

/// Builds the demo directory: config, raw lake, and the canonical views
/// written out for other engines.
pub async fn run_demo(opts: &DemoOptions) -> Result<DemoOutcome, PipelineError> {
    let dir = &opts.dir;
    prepare_dir(dir)?;
    let lake_dir = dir.join("lake");
    let lake = Lake::create(&lake_dir)?.with_durability(Durability::Os);
    let company = Company {
        end_date: opts.end_date,
        months: opts.months,
        scale: opts.scale,
        ..Company::new(opts.end_date)
    };
    let mut sink = LakeSink {
        lake: &lake,
        snapshots: BTreeMap::new(),
        rows: BTreeMap::new(),
        files: 0,
        bytes: 0,
    };
    kpi_sandbox::generate(&company, &mut sink).map_err(|e| PipelineError::Demo(e.to_string()))?;
    // Snapshots become visible only now, each replacing the previous one whole.
    for writer in std::mem::take(&mut sink.snapshots).into_values() {
        let stats = writer.commit()?;
        sink.files += 1;
        sink.bytes += stats.bytes;
    }
    // The sandbox data is complete through the end date: record it as synced,
    // as a real sync would.
    let now = chrono::Utc::now().to_rfc3339();
    let mut states: BTreeMap<&str, kpi_lake::SourceState> = BTreeMap::new();
    for spec in crate::stream_specs() {
        states.entry(spec.source_type).or_default().streams.insert(
            spec.stream.to_string(),
            kpi_lake::StreamCursor {
                synced_through: opts.end_date,
                synced_at: now.clone(),
            },
        );
    }
    for (source, state) in &states {
        lake.write_state(source, state)?;
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
    let config_path = dir.join("kpi.toml");
    std::fs::write(&config_path, demo_config()).map_err(|e| io(&config_path, e))?;
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
    let rendered = crate::render_report(&config, "leadership", &periods, reproduce).await?;
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).map_err(|e| io(&reports, e))?;
    let report_html = reports.join(format!(
        "leadership-{}.html",
        periods.current.start.format("%Y-%m")
    ));
    std::fs::write(&report_html, rendered.standalone_html()).map_err(|e| io(&report_html, e))?;
    let delivered = crate::send_report(&config, "leadership", &rendered)?;

    Ok(DemoOutcome {
        config: config_path,
        canonical,
        report_html,
        report_email: delivered.location,
        lake: lake_dir,
        rows: sink.rows,
        files: sink.files,
        bytes: sink.bytes,
        first_day: company.start_date(),
        last_day: opts.end_date,
    })
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

struct LakeSink<'a> {
    lake: &'a Lake,
    snapshots: BTreeMap<(String, String), SnapshotWriter>,
    rows: RowCounts,
    files: u64,
    bytes: u64,
}

impl RawSink for LakeSink<'_> {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        batch: RecordBatch,
    ) -> Result<(), SinkError> {
        let stats = self
            .lake
            .write_daily(
                spec.source_type,
                spec.stream,
                date,
                spec.schema.clone(),
                &[batch],
            )
            .map_err(|e| SinkError(e.to_string()))?;
        *self
            .rows
            .entry(format!("{}.{}", spec.source_type, spec.stream))
            .or_default() += stats.rows;
        self.files += 1;
        self.bytes += stats.bytes;
        Ok(())
    }

    fn snapshot(&mut self, spec: &StreamSpec, batch: RecordBatch) -> Result<(), SinkError> {
        let key = (spec.source_type.to_string(), spec.stream.to_string());
        if !self.snapshots.contains_key(&key) {
            let w = self
                .lake
                .snapshot_writer(spec.source_type, spec.stream, spec.schema.clone())
                .map_err(|e| SinkError(e.to_string()))?;
            self.snapshots.insert(key.clone(), w);
        }
        let w = self.snapshots.get_mut(&key).expect("inserted");
        w.write(&batch).map_err(|e| SinkError(e.to_string()))?;
        *self
            .rows
            .entry(format!("{}.{}", spec.source_type, spec.stream))
            .or_default() += batch.num_rows() as u64;
        Ok(())
    }
}

fn demo_config() -> String {
    r#"# kpi.toml written by `kpi demo` for the synthetic company "Example SaaS".
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

# The demo's data was generated by the kpi sandbox straight into the lake; the
# source names below are the table schemas (`SELECT * FROM google_ads.campaign_stats`).
[sources.google_ads]
type = "google_ads"

[sources.meta_ads]
type = "meta_ads"

[sources.linkedin_ads]
type = "linkedin_ads"

[sources.ga4]
type = "ga4"

[sources.search_console]
type = "search_console"

[sources.hubspot]
type = "hubspot"

[sources.mailchimp]
type = "mailchimp"

[sources.social]
type = "social"

[sources.backlinks]
type = "backlinks"

[sources.costs]
type = "costs"

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
"#
    .to_string()
}
