//! `kpi-pipeline`: the jobs the CLI and the daemon run, end to end.
//!
//! It knows which stream each source type has, builds the demo company's lake
//! and config, and opens the engine over a config's lake. It holds no KPI
//! arithmetic (that is `queries/`) and no argument parsing (that is `kpi-cli`).

mod demo;
mod demo_inputs;
mod files;
pub mod registry;
mod report;
pub mod schedules;
pub mod sync;
pub mod validate;

use std::collections::BTreeMap;

pub use demo::{DEMO_MARKER, DemoOptions, DemoOutcome, SANDBOX_DEFAULT_URL, run_demo};
use kpi_core::{Config, ConfigError, PeriodError, PeriodSpec, ReportPeriods};
use kpi_engine::{Engine, EngineError};
use kpi_lake::StreamSpec;
pub use kpi_report::KpiRow;
pub use kpi_sandbox;
pub use kpi_schedule;
pub use report::{
    build_email, deliver_email, freshness, kpi_rows, render_report, render_with, send_report,
    stale_streams,
};

/// Every raw stream of every registered source type: a connector's own
/// streams, or for a type without one the shapes the demo generator writes.
pub fn stream_specs() -> Vec<StreamSpec> {
    registry::stream_specs()
}

/// Pipeline failures, each with the file or setting involved.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The requested period is not valid.
    #[error(transparent)]
    Period(#[from] PeriodError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The lake could not be written or read.
    #[error(transparent)]
    Lake(#[from] kpi_lake::LakeError),
    /// The demo could not be built.
    #[error("{0}")]
    Demo(String),
    /// A report could not be rendered.
    #[error(transparent)]
    Render(#[from] kpi_report::ReportError),
    /// The KPI table could not be read for a report.
    #[error("{0}")]
    Report(String),
    /// A sync or a connector check failed.
    #[error("{0}")]
    Sync(String),
    /// The run ledger could not be read or written.
    #[error("run ledger: {0}")]
    Schedule(String),
    /// A run ledger record could not be read or written.
    #[error("run ledger: {0}")]
    Ledger(#[from] kpi_schedule::LedgerError),
    /// The message went out in full but its delivery was never confirmed:
    /// it may be in the recipients' inboxes. Not to be retried blindly.
    #[error("{0}")]
    Unconfirmed(String),
}

/// Opens the engine over the lake of `config`.
pub async fn open_engine(config: &Config) -> Result<Engine, PipelineError> {
    Ok(Engine::open(config, &stream_specs()).await?)
}

/// Writes the canonical views of `config`'s lake to `lake/canonical/`.
pub async fn materialize(config: &Config) -> Result<Vec<(String, u64)>, PipelineError> {
    let engine = open_engine(config).await?;
    Ok(engine.materialize_canonical().await?)
}

/// Resolves `spec` against `today` (the `--as-of` date or today in the
/// reporting time zone).
pub fn resolve_period(
    spec: &PeriodSpec,
    today: chrono::NaiveDate,
) -> Result<ReportPeriods, PipelineError> {
    Ok(ReportPeriods::resolve(spec, today)?)
}

/// Row counts per `source.stream`, for summaries.
pub type RowCounts = BTreeMap<String, u64>;
