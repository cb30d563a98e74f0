//! `kpi sync` and `kpi check`: connectors into the lake.
//!
//! The runner, not the connector, owns windows, lake writes and state. A
//! stream's window is cut into pieces (at most a month each) that are read
//! at once, as many as the source's `max_concurrency`, and sources run side
//! by side: the wall time of a sync is the API's latency divided by the
//! parallelism it allows, not the sum of every page's round trip. Each piece
//! writes one staged Parquet file per day as its pages arrive and closes
//! them when it ends, so a sync holds a few pages per piece in flight, never
//! a stream. Nothing replaces a file in the lake until every stream of the
//! source has been read; only then are the day files renamed into place
//! and, after them, the cursors saved, in one commit of the source that is
//! all or nothing ([`Lake::commit_source`]): a rename that fails half way
//! is undone, and so is one a kill interrupts, by the next sync. A failed or
//! killed sync leaves the lake and the state as they were. One sync writes
//! a lake at a time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use futures::StreamExt;
use kpi_connector::{
    BatchSink, Connector, ConnectorError, Context, Endpoints, StreamDef, SyncWindow, WriteMode,
};
use kpi_core::{Config, SourceConfig};
use kpi_lake::{Lake, LakeError, Layout, StagedFile, StagedStream, StreamCursor};

use crate::{PipelineError, registry};

/// How far back a first sync reads when `start_date` is not set: the 25 months
/// a report comparing with last year's previous period needs.
const DEFAULT_HISTORY_DAYS: u64 = 25 * 31;

/// The longest piece of a window one read covers: a month keeps each
/// piece's open day files few and its request small enough for any API.
const MAX_PIECE_DAYS: u32 = 31;

/// The most a piece's open day files may buffer before the largest are
/// written out as row groups. Four sources reading ten pieces each stay
/// within about 160 MB however many rows a day holds.
const PIECE_BUFFER_BYTES: usize = 1 << 20;

/// Where connectors read their secrets instead of the process environment
/// (the demo hands over the sandbox's credentials this way).
#[derive(Clone)]
pub struct SecretLookup(pub Arc<dyn Fn(&str) -> Option<String> + Send + Sync>);

impl std::fmt::Debug for SecretLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretLookup(..)")
    }
}

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Only this source (its name in kpi.toml).
    pub source: Option<String>,
    /// Explicit dates (inclusive) instead of the cursor window: a backfill.
    pub range: Option<(NaiveDate, NaiveDate)>,
    /// Ignore the cursors: read from `start_date` again.
    pub full_refresh: bool,
    /// Today in the reporting time zone (the window ends yesterday).
    pub today: NaiveDate,
    /// Secrets from here rather than the environment.
    pub secrets: Option<SecretLookup>,
    /// Whether day files are fsynced before they replace the old ones;
    /// `None` is [`Durability::Fsync`](kpi_lake::Durability::Fsync). The
    /// demo, whose lake is thrown away, skips it.
    pub durability: Option<kpi_lake::Durability>,
}

/// One stream's sync, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// `source.stream`.
    pub stream: String,
    /// The days read, or `None` when nothing was due.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Rows written.
    pub rows: u64,
    /// Pages (responses) read.
    pub pages: u64,
    /// HTTP requests made, retries among them.
    pub requests: u64,
    /// Retries after 5xx, timeouts, 429 or an expired token.
    pub retries: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// A source whose sync failed; its lake and cursors are as they were
/// unless `lake_unchanged` says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFailure {
    /// Source name.
    pub source: String,
    /// Why, naming the stream and with the API's own words, or the path
    /// whose replacement failed.
    pub error: String,
    /// False only when a commit failed and putting the old files back
    /// failed too: the source is part new until the next sync undoes it
    /// (`error` says where the old files are kept).
    pub lake_unchanged: bool,
}

/// What a sync did: the streams of the sources that were committed, and the
/// sources that failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncOutcome {
    /// Streams of committed sources, in config order.
    pub reports: Vec<StreamReport>,
    /// Sources that failed, in config order.
    pub failures: Vec<SourceFailure>,
}

/// Builds the connector of source `name`; `None` for a type with no
/// connector yet (its data is loaded another way, as the demo does).
/// Secrets come from `secrets` when given, else from the environment.
pub fn build_connector(
    name: &str,
    source: &SourceConfig,
    secrets: Option<&SecretLookup>,
) -> Result<Option<Box<dyn Connector>>, PipelineError> {
    let env = |k: &str| std::env::var(k).ok();
    let lookup: &dyn Fn(&str) -> Option<String> = match secrets {
        Some(s) => &*s.0,
        None => &env,
    };
    source_type(name, source)?
        .connect(name, &source.settings, lookup)
        .transpose()
        .map_err(|e| PipelineError::Sync(format!("sources.{name}: {e}")))
}

/// Where source `name` sends requests: its API's base URL and OAuth2
/// token endpoint, as its connector will use them (no secret is read).
/// `None` for a type with no connector. A `base_url` that is not the
/// real API with OAuth2 and no `token_url` is refused here, as in
/// [`build_connector`].
pub fn source_endpoints(
    name: &str,
    source: &SourceConfig,
) -> Result<Option<Endpoints>, PipelineError> {
    source_type(name, source)?
        .endpoints(name, &source.settings)
        .transpose()
        .map_err(|e| PipelineError::Sync(format!("sources.{name}: {e}")))
}

/// The registered type of source `name`.
fn source_type(
    name: &str,
    source: &SourceConfig,
) -> Result<&'static registry::SourceType, PipelineError> {
    registry::find(&source.kind).ok_or_else(|| {
        PipelineError::Sync(format!(
            "sources.{name}.type: unknown source type \"{}\"",
            source.kind
        ))
    })
}

/// The checked settings of each stream of source `name`, when its type
/// comes as files (`None`: it has a connector).
pub(crate) fn file_inputs(
    name: &str,
    source: &SourceConfig,
) -> Result<Option<Vec<crate::files::FileInput>>, PipelineError> {
    let t = source_type(name, source)?;
    let (Some(inputs), Some(streams)) = (t.file_inputs(&source.settings), t.file_streams()) else {
        return Ok(None);
    };
    let inputs = inputs.map_err(|e| PipelineError::Sync(format!("sources.{name}: {e}")))?;
    Ok(Some(
        inputs
            .into_iter()
            .map(|(stream, settings)| crate::files::FileInput {
                source_type: t.name,
                stream: streams
                    .iter()
                    .find(|s| s.def.name == stream)
                    .cloned()
                    .expect("a type's inputs are its streams"),
                settings,
            })
            .collect(),
    ))
}

/// The first day a first sync reads.
fn start_date(
    name: &str,
    source: &SourceConfig,
    today: NaiveDate,
) -> Result<NaiveDate, PipelineError> {
    Ok(first_day_setting(name, source)?
        .unwrap_or_else(|| today - chrono::Days::new(DEFAULT_HISTORY_DAYS)))
}

/// The source's `start_date` setting, if it has one.
pub(crate) fn first_day_setting(
    name: &str,
    source: &SourceConfig,
) -> Result<Option<NaiveDate>, PipelineError> {
    match source.settings.get("start_date") {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| {
                v.as_datetime().and_then(|d| d.date).and_then(|d| {
                    NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32)
                })
            })
            .ok_or_else(|| {
                PipelineError::Sync(format!(
                    "sources.{name}.start_date: '{v}' is not a date (YYYY-MM-DD)"
                ))
            })
            .map(Some),
    }
}

/// The sources `opts` selects, by name.
fn selected<'a>(
    config: &'a Config,
    opts_source: Option<&str>,
) -> Result<Vec<(&'a String, &'a SourceConfig)>, PipelineError> {
    match opts_source {
        Some(name) => match config.sources.get_key_value(name) {
            Some(s) => Ok(vec![s]),
            None => Err(PipelineError::Sync(format!(
                "no source '{name}' in {}; there are: {}",
                config.origin.display(),
                config
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
        None => Ok(config.sources.iter().collect()),
    }
}

/// The pieces one read each: a daily stream's window cut so that `parallel`
/// reads have work, never more than [`MAX_PIECE_DAYS`] a piece; a snapshot
/// is one read.
fn pieces(window: SyncWindow, mode: &WriteMode, parallel: usize) -> Vec<SyncWindow> {
    match mode {
        WriteMode::Snapshot | WriteMode::Merge | WriteMode::Append => vec![window],
        WriteMode::ReplaceDays { .. } => {
            let per = window.days().div_ceil(parallel.max(1) as u32);
            window.chunks(per.clamp(1, MAX_PIECE_DAYS))
        }
    }
}

/// Syncs the selected sources side by side; `progress` hears about each
/// stream as it starts, advances and ends. Every source is tried: one that
/// fails keeps its lake and cursors as they were and is listed in
/// [`SyncOutcome::failures`], the others are committed.
pub async fn sync(
    config: &Config,
    opts: &SyncOptions,
    progress: &mut (dyn FnMut(SyncEvent) + Send),
) -> Result<SyncOutcome, PipelineError> {
    let mut lake = Lake::create(&config.lake_path())?;
    if let Some(d) = opts.durability {
        lake = lake.with_durability(d);
    }
    let lock = lake.lock_writes()?;
    // A commit a killed sync left half done is undone first, from its
    // journal: nothing is written over a half-replaced source.
    lake.recover_commits(&lock)?;
    // A killed sync's staged files: its lock is gone, so it is not coming back.
    lake.remove_orphaned_tmp();
    let sources = selected(config, opts.source.as_deref())?;
    let mut jobs = Vec::new();
    let mut file_jobs = Vec::new();
    for (name, source) in sources {
        if let Some(inputs) = file_inputs(name, source)? {
            file_jobs.push((name.clone(), inputs));
            continue;
        }
        let Some(connector) = build_connector(name, source, opts.secrets.as_ref())? else {
            return Err(PipelineError::Sync(format!(
                "sources.{name}: type \"{}\" has no connector in this build",
                source.kind
            )));
        };
        let first = start_date(name, source, opts.today)?;
        jobs.push((
            name.clone(),
            source,
            Arc::<dyn Connector>::from(connector),
            first,
        ));
    }
    let events = Mutex::new(progress);
    let emit = |e: SyncEvent| (events.lock().expect("progress lock"))(e);
    let runs = jobs.iter().map(|(name, source, connector, first)| {
        let (lake, emit) = (&lake, &emit);
        async move {
            let result =
                sync_source(lake, name, source, connector.clone(), *first, opts, emit).await;
            (name.clone(), result)
        }
    });
    let mut results = futures::future::join_all(runs).await;
    // Files are read from the local disk (or a query), one source after the
    // other, once the API reads are done: blocking this task on the disk
    // then keeps no request waiting.
    for (name, inputs) in file_jobs {
        let result =
            crate::files::sync_files(&lake, &name, &config.base_dir, &inputs, opts, &emit).await;
        results.push((name, result));
    }
    // In config order, as the summary lists them.
    let order: Vec<&String> = config.sources.keys().collect();
    results.sort_by_key(|(name, _)| order.iter().position(|n| *n == name));
    let mut outcome = SyncOutcome::default();
    for (source, result) in results {
        match result {
            Ok(reports) => outcome.reports.extend(reports),
            Err(e) => outcome.failures.push(SourceFailure {
                source,
                lake_unchanged: !matches!(e, PipelineError::Lake(LakeError::RollbackFailed { .. })),
                error: e.to_string(),
            }),
        }
    }
    Ok(outcome)
}

/// A spawned read, aborted (its staged files dropped, so deleted) when the
/// sync stops waiting for it: after another read failed, or a kill.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, PipelineError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| {
            r.map_err(|e| PipelineError::Sync(format!("a read stopped unexpectedly: {e}")))
        })
    }
}

/// One stream's plan within a source's sync.
struct Plan {
    def: StreamDef,
    spec: kpi_lake::StreamSpec,
    label: String,
    /// The days the read covers: the summary's, and the cursor's end.
    window: SyncWindow,
    /// The window the connector is handed (all of time for a whole read
    /// of a merged snapshot).
    read: SyncWindow,
    /// Whether the staged snapshot is merged into the lake's.
    merge: bool,
    pieces: usize,
}

/// Reads every stream of one source, then commits them and the cursors.
async fn sync_source(
    lake: &Lake,
    name: &str,
    source: &SourceConfig,
    connector: Arc<dyn Connector>,
    first: NaiveDate,
    opts: &SyncOptions,
    emit: &(dyn Fn(SyncEvent) + Sync),
) -> Result<Vec<StreamReport>, PipelineError> {
    let specs = crate::stream_specs();
    let mut state = lake.read_state(name)?;
    let parallel = connector.parallel_reads().max(1);
    let mut reports: Vec<StreamReport> = Vec::new();
    let mut plans: Vec<Plan> = Vec::new();
    for def in connector.streams() {
        let spec = specs
            .iter()
            .find(|s| s.source_type == source.kind && s.stream == def.name)
            .ok_or_else(|| {
                PipelineError::Sync(format!(
                    "sources.{name}: the connector's stream `{}` has no lake layout",
                    def.name
                ))
            })?;
        let label = format!("{name}.{}", def.name);
        let cursor = (!opts.full_refresh)
            .then(|| state.streams.get(&def.name).map(|c| c.synced_through))
            .flatten();
        let lookback = def.cursor.as_ref().map(|c| c.lookback_days).unwrap_or(0);
        // A snapshot is read whole; its window only dates the read.
        let whole = opts.today.pred_opt().map(|y| SyncWindow {
            start: first.min(y),
            end: y,
        });
        let days = || {
            kpi_connector::window_for(cursor, lookback, opts.today, first, opts.range)
                .map_err(|e| PipelineError::Sync(format!("{label}: {e}")))
        };
        // (the days the read covers, the window it is handed, merged or not)
        let (window, read, merge) = match def.write_mode {
            WriteMode::Snapshot => (whole, whole, false),
            // Without a cursor (a first sync, --full-refresh) a merged
            // snapshot reads every record and replaces the file; with one,
            // the records changed since the cursor's day minus the lookback.
            WriteMode::Merge if cursor.is_none() && opts.range.is_none() => {
                (whole, whole.map(|w| SyncWindow::everything(w.end)), false)
            }
            WriteMode::Merge => {
                let w = days()?;
                (w, w, true)
            }
            _ => {
                let w = days()?;
                (w, w, false)
            }
        };
        reports.push(StreamReport {
            stream: label.clone(),
            window: window.map(|w| (w.start, w.end)),
            rows: 0,
            pages: 0,
            requests: 0,
            retries: 0,
            seconds: 0.0,
        });
        if let (Some(window), Some(read)) = (window, read) {
            let n = pieces(read, &def.write_mode, parallel).len();
            plans.push(Plan {
                def,
                spec: spec.clone(),
                label,
                window,
                read,
                merge,
                pieces: n,
            });
        }
    }
    let started = Instant::now();
    for p in &plans {
        emit(SyncEvent::Started {
            stream: p.label.clone(),
            start: p.window.start,
            end: p.window.end,
            pieces: p.pieces as u64,
        });
    }
    let reads = plans
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            pieces(p.read, &p.def.write_mode, parallel)
                .into_iter()
                .map(move |piece| (i, piece))
        })
        .collect::<Vec<_>>();
    let mut left: Vec<usize> = plans.iter().map(|p| p.pieces).collect();
    let mut staged: Vec<Staged> = Vec::new();
    let plans = Arc::new(plans);
    let mut results = futures::stream::iter(reads)
        .map(|(i, piece)| {
            let (plans, connector, lake) = (plans.clone(), connector.clone(), lake.clone());
            let name = name.to_string();
            // A task per piece: pages of different pieces are parsed and
            // encoded on every core, not only the one polling the sync.
            AbortOnDrop(tokio::spawn(async move {
                let plan = &plans[i];
                let mut sink = LakeSink::new(
                    lake,
                    &name,
                    &plan.def,
                    plan.spec.layout,
                    plan.spec.schema.clone(),
                    piece,
                    plan.merge,
                )?;
                let (read, http) =
                    kpi_connector::counted(connector.read(&plan.def, piece, &mut sink)).await;
                let stats =
                    read.map_err(|e| PipelineError::Sync(format!("{}: {e}", plan.label)))?;
                let rows = sink.0.rows();
                // Closing a month of day files (footers, fsyncs) blocks: off
                // the workers that carry the other pieces' requests.
                let files = tokio::task::spawn_blocking(move || sink.finish())
                    .await
                    .map_err(|e| PipelineError::Sync(format!("{}: {e}", plan.label)))??;
                Ok::<_, PipelineError>((i, rows, stats.pages, http, files))
            }))
        })
        .buffer_unordered(parallel);
    // The first failure drops the reads still running, and with them their
    // staged files: the lake is not touched.
    while let Some(done) = results.next().await {
        let (i, rows, pages, http, files) = done??;
        let plan = &plans[i];
        let r = reports
            .iter_mut()
            .find(|r| r.stream == plan.label)
            .expect("a report per plan");
        r.rows += rows;
        r.pages += pages;
        r.requests += http.requests;
        r.retries += http.retries;
        staged.push(files);
        left[i] -= 1;
        emit(SyncEvent::Progress {
            stream: plan.label.clone(),
            rows: r.rows,
            pieces_done: (plan.pieces - left[i]) as u64,
        });
        if left[i] == 0 {
            r.seconds = started.elapsed().as_secs_f64();
            emit(SyncEvent::Read(r.clone()));
        }
    }
    drop(results);
    // Every stream read: replace the days, then move the cursors, in one
    // commit that puts every file back if any step fails.
    let files: Vec<StagedFile> = staged.into_iter().flat_map(|s| s.files).collect();
    let now = chrono::Utc::now().to_rfc3339();
    for p in plans.iter() {
        state.streams.insert(
            p.def.name.clone(),
            StreamCursor {
                synced_through: p.window.end,
                synced_at: now.clone(),
            },
        );
    }
    lake.commit_source(name, files, &state)?;
    Ok(reports)
}

/// What `sync` reports while it runs.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// A stream's read began.
    Started {
        /// `source.stream`.
        stream: String,
        /// First day.
        start: NaiveDate,
        /// Last day.
        end: NaiveDate,
        /// Pieces of the window read separately.
        pieces: u64,
    },
    /// One piece of a stream's window was read and staged.
    Progress {
        /// `source.stream`.
        stream: String,
        /// Rows so far.
        rows: u64,
        /// Pieces done so far.
        pieces_done: u64,
    },
    /// A stream was read and staged (not yet in the lake).
    Read(StreamReport),
    /// Something the sync of a stream wants the user to know (which files
    /// it loaded, bad rows left out).
    Note {
        /// `source.stream`.
        stream: String,
        /// One line.
        text: String,
    },
}

/// One source's probe for `kpi check`.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// Source name.
    pub source: String,
    /// Connector type.
    pub kind: String,
    /// Where its requests go (API and token endpoint); `None` when the type
    /// has no connector or its settings are refused (see `result`).
    pub endpoints: Option<Endpoints>,
    /// `Ok(who we are connected as)` or the API's own error; `Ok(None)`
    /// when the type has no connector to probe.
    pub result: Result<Option<String>, String>,
}

/// Probes every configured source (or one) with one cheap request each,
/// except those in `skip` (whose settings have a problem already reported).
pub async fn check(
    config: &Config,
    source: Option<&str>,
    today: NaiveDate,
    skip: &std::collections::BTreeSet<&str>,
) -> Result<Vec<CheckOutcome>, PipelineError> {
    let mut out = Vec::new();
    for (name, s) in selected(config, source)? {
        if skip.contains(name.as_str()) {
            continue;
        }
        let endpoints = source_endpoints(name, s).ok().flatten();
        if let Some(inputs) = file_inputs(name, s).transpose() {
            out.push(CheckOutcome {
                source: name.clone(),
                kind: s.kind.clone(),
                endpoints,
                result: match inputs {
                    Ok(i) => crate::files::check_files(&config.base_dir, &i).await,
                    Err(e) => Err(e),
                }
                .map(Some)
                .map_err(|e| e.to_string()),
            });
            continue;
        }
        let result = match build_connector(name, s, None) {
            Err(e) => Err(e.to_string()),
            Ok(None) => Ok(None),
            Ok(Some(c)) => c
                .check(&Context {
                    source: name.clone(),
                    today,
                })
                .await
                .map(|r| Some(r.summary))
                .map_err(|e| e.to_string()),
        };
        out.push(CheckOutcome {
            source: name.clone(),
            kind: s.kind.clone(),
            endpoints,
            result,
        });
    }
    Ok(out)
}

/// Staged files of one piece of a stream, for [`Lake::commit_source`]
/// (which replaces a day's partition whole: files an older writer left
/// beside the day's file go).
struct Staged {
    files: Vec<StagedFile>,
}

/// A connector's pages into the lake's staged files ([`StagedStream`]),
/// with the stream's write mode checked against how the lake keeps it.
struct LakeSink(StagedStream);

impl LakeSink {
    fn new(
        lake: Lake,
        source: &str,
        def: &StreamDef,
        layout: Layout,
        schema: SchemaRef,
        window: SyncWindow,
        merge: bool,
    ) -> Result<Self, PipelineError> {
        let date_column = match (&def.write_mode, layout) {
            (WriteMode::ReplaceDays { date_column }, Layout::Daily) => Some(date_column.clone()),
            (WriteMode::Snapshot | WriteMode::Merge, Layout::Snapshot) => None,
            (mode, layout) => {
                return Err(PipelineError::Sync(format!(
                    "{source}.{}: the connector writes {mode:?} but the lake keeps the stream as {layout:?}",
                    def.name
                )));
            }
        };
        StagedStream::new(
            lake,
            source,
            &def.name,
            layout,
            schema,
            date_column,
            (window.start, window.end),
            PIECE_BUFFER_BYTES,
        )
        .and_then(|s| match merge {
            true => s.merge_with_lake(def.primary_key.clone()),
            false => Ok(s),
        })
        .map(LakeSink)
        .map_err(|e| PipelineError::Sync(e.to_string()))
    }

    fn finish(self) -> Result<Staged, PipelineError> {
        Ok(Staged {
            files: self.0.finish()?,
        })
    }
}

#[async_trait::async_trait]
impl BatchSink for LakeSink {
    async fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError> {
        self.0
            .write(&batch)
            .map_err(|e| ConnectorError::sink(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Schema};

    fn source(kind: &str, settings: &str) -> SourceConfig {
        SourceConfig {
            kind: kind.to_string(),
            settings: toml::from_str(settings).unwrap(),
        }
    }

    /// Every connector's streams are exactly the lake's streams of its type,
    /// column for column (the date column is the partition, not a column), so
    /// what a sync writes is what the staging SQL reads.
    #[test]
    fn connector_streams_match_the_lake_layout() {
        let secrets = SecretLookup(Arc::new(|_: &str| Some("x-secret".to_string())));
        let sources = [
            source("google_ads", r#"customer_ids = ["1234567890"]"#),
            source(
                "meta_ads",
                r#"ad_account_ids = ["act_1"]
access_token = { env = "T" }"#,
            ),
            source("linkedin_ads", r#"account_ids = ["508000111"]"#),
            source(
                "microsoft_ads",
                r#"customer_id = "251000123"
account_ids = ["150000001"]"#,
            ),
            source("ga4", r#"property_ids = ["properties/1"]"#),
            source("search_console", r#"site_urls = ["sc-domain:example.com"]"#),
            source(
                "hubspot",
                r#"auth = { type = "bearer", token = { env = "T" } }"#,
            ),
            source("mailchimp", r#"base_url = "http://127.0.0.1:9""#),
            source("salesforce", ""),
        ];
        let specs = crate::stream_specs();
        for s in &sources {
            let c = build_connector(&s.kind, s, Some(&secrets))
                .unwrap()
                .expect("a connector");
            let mut defs = c.streams();
            defs.sort_by(|a, b| a.name.cmp(&b.name));
            let mut lake: Vec<_> = specs.iter().filter(|p| p.source_type == s.kind).collect();
            lake.sort_by_key(|p| p.stream);
            assert_eq!(
                defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
                lake.iter().map(|p| p.stream).collect::<Vec<_>>(),
                "{}: streams",
                s.kind
            );
            for (def, spec) in defs.iter().zip(lake) {
                def.validate().unwrap();
                let date = match &def.write_mode {
                    WriteMode::ReplaceDays { date_column } => Some(date_column.as_str()),
                    _ => None,
                };
                let got: Vec<_> = def
                    .schema
                    .fields()
                    .iter()
                    .filter(|f| Some(f.name().as_str()) != date)
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect();
                let want: Vec<_> = spec
                    .schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect();
                assert_eq!(got, want, "{}.{}", s.kind, def.name);
                assert_eq!(
                    date.is_some(),
                    spec.layout == Layout::Daily,
                    "{}.{}: layout",
                    s.kind,
                    def.name
                );
            }
        }
    }

    #[test]
    fn pieces_keep_every_reader_busy_but_stay_under_a_month() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let days = WriteMode::ReplaceDays {
            date_column: "date".into(),
        };
        let w = |a: &str, b: &str| SyncWindow {
            start: d(a),
            end: d(b),
        };
        // 25 months, 10 at once: month-long pieces, contiguous, covering it all.
        let p = pieces(w("2024-10-01", "2026-10-31"), &days, 10);
        assert_eq!(p.len(), 25);
        assert!(p.iter().all(|x| x.days() <= 31));
        assert_eq!(p[0].start, d("2024-10-01"));
        assert_eq!(p[24].end, d("2026-10-31"));
        assert!(
            p.windows(2)
                .all(|x| x[0].end.succ_opt() == Some(x[1].start))
        );
        // A 31-day lookback, 10 at once: 4-day pieces, 8 of them.
        let p = pieces(w("2026-10-01", "2026-10-31"), &days, 10);
        assert_eq!(p.len(), 8);
        assert_eq!(p[7], w("2026-10-29", "2026-10-31"));
        // One day, or a snapshot: one read.
        assert_eq!(pieces(w("2026-10-31", "2026-10-31"), &days, 10).len(), 1);
        assert_eq!(
            pieces(w("2024-10-01", "2026-10-31"), &WriteMode::Snapshot, 10).len(),
            1
        );
    }

    /// Day files over the buffer budget are written out as row groups as
    /// the pages arrive, and every row still lands in its day once.
    #[tokio::test]
    async fn buffered_days_are_flushed_without_losing_rows() {
        use arrow::array::{Date32Array, Int64Array, StringArray};
        use arrow::datatypes::Field;
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let lake_schema = Arc::new(Schema::new(vec![
            Field::new("campaign", DataType::Utf8, false),
            Field::new("clicks", DataType::Int64, false),
        ]));
        let def = StreamDef {
            name: "stats".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("date", DataType::Date32, false),
                Field::new("campaign", DataType::Utf8, false),
                Field::new("clicks", DataType::Int64, false),
            ])),
            primary_key: vec!["date".into(), "campaign".into()],
            write_mode: WriteMode::ReplaceDays {
                date_column: "date".into(),
            },
            cursor: None,
        };
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let window = SyncWindow {
            start: d("2026-10-01"),
            end: d("2026-10-03"),
        };
        // A budget of one byte: every page forces a flush.
        let mut sink = LakeSink(
            StagedStream::new(
                lake.clone(),
                "src",
                &def.name,
                Layout::Daily,
                lake_schema,
                Some("date".into()),
                (window.start, window.end),
                1,
            )
            .unwrap(),
        );
        let epoch = d("1970-01-01");
        for page in 0..5i64 {
            let days: Vec<i32> = (0..300)
                .map(|i| (d("2026-10-01") - epoch).num_days() as i32 + (i % 3))
                .collect();
            let batch = RecordBatch::try_new(
                def.schema.clone(),
                vec![
                    Arc::new(Date32Array::from(days)),
                    Arc::new(StringArray::from_iter_values(
                        (0..300).map(|i| format!("c{page}-{i}")),
                    )),
                    Arc::new(Int64Array::from_iter_values((0..300).map(|i| i + page))),
                ],
            )
            .unwrap();
            sink.write(batch).await.unwrap();
        }
        assert_eq!(sink.0.rows(), 1500);
        lake.commit_source(
            "src",
            sink.finish().unwrap().files,
            &kpi_lake::SourceState::default(),
        )
        .unwrap();
        for day in ["2026-10-01", "2026-10-02", "2026-10-03"] {
            let path = lake
                .partition_dir("src", "stats", d(day))
                .join(kpi_lake::PART_FILE);
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap();
            // One row group per page: the buffer was written out each time.
            assert_eq!(reader.metadata().num_row_groups(), 5, "{day}");
            let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
            assert_eq!(rows, 500, "{day}");
        }
    }
}
