//! `kpi sync` and `kpi check`: connectors into the lake.
//!
//! The runner, not the connector, owns windows, lake writes and state. Each
//! stream's pages go to a sink that writes one staged Parquet file per day
//! (or one snapshot file) as they arrive, so a sync never holds a stream in
//! memory. Nothing replaces a file in the lake until every stream of the
//! source has been read; only then are the day files renamed into place and,
//! after them, the cursors saved. A failed or killed sync leaves the lake and
//! the state as they were (a kill during the renames leaves some days already
//! replaced with complete new data and the old cursor, so the next sync reads
//! them again).

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Date32Type, Schema, SchemaRef};
use chrono::NaiveDate;
use kpi_connector::{BatchSink, Connector, ConnectorError, Context, StreamDef, WriteMode};
use kpi_core::{Config, SourceConfig};
use kpi_lake::{Lake, Layout, SnapshotWriter, StreamCursor};

use crate::PipelineError;

/// Settings in `[sources.<name>]` that belong to the runner, not the connector.
const RUNNER_KEYS: [&str; 1] = ["start_date"];

/// How far back a first sync reads when `start_date` is not set: the 25 months
/// a report comparing with last year's previous period needs.
const DEFAULT_HISTORY_DAYS: u64 = 25 * 31;

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

/// The connector types this build has.
pub const CONNECTOR_TYPES: [&str; 4] = ["google_ads", "meta_ads", "ga4", "hubspot"];

/// Builds the connector of source `name`; `None` for a type with no
/// connector yet (its data is loaded another way, as the demo does).
pub fn build_connector(
    name: &str,
    source: &SourceConfig,
) -> Result<Option<Box<dyn Connector>>, PipelineError> {
    if !CONNECTOR_TYPES.contains(&source.kind.as_str()) {
        return Ok(None);
    }
    let mut settings = source.settings.clone();
    for k in RUNNER_KEYS {
        settings.remove(k);
    }
    let value = toml::Value::Table(settings);
    let bad = |e: String| PipelineError::Sync(format!("sources.{name}: {e}"));
    fn parse<T: serde::de::DeserializeOwned>(v: toml::Value) -> Result<T, String> {
        v.try_into::<T>()
            .map_err(|e| e.to_string().trim().to_string())
    }
    Ok(Some(match source.kind.as_str() {
        "google_ads" => Box::new(
            parse::<kpi_connector_google_ads::GoogleAdsConfig>(value)
                .map_err(bad)?
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "ga4" => Box::new(
            parse::<kpi_connector_ga4::Ga4Config>(value)
                .map_err(bad)?
                .build()
                .map_err(|e| bad(e.to_string()))?,
        ),
        "meta_ads" => Box::new(
            parse::<kpi_connector_meta_ads::MetaAdsConfig>(value)
                .map_err(bad)?
                .build(name)
                .map_err(|e| bad(e.to_string()))?,
        ),
        "hubspot" => Box::new(
            parse::<kpi_connector_hubspot::HubSpotConfig>(value)
                .map_err(bad)?
                .build(name)
                .map_err(|e| bad(e.to_string()))?,
        ),
        _ => unreachable!("checked against CONNECTOR_TYPES"),
    }))
}

/// The first day a first sync reads.
fn start_date(
    name: &str,
    source: &SourceConfig,
    today: NaiveDate,
) -> Result<NaiveDate, PipelineError> {
    match source.settings.get("start_date") {
        None => Ok(today - chrono::Days::new(DEFAULT_HISTORY_DAYS)),
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
            }),
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

/// Syncs the selected sources, one after the other; `progress` is told about
/// each stream as it starts and ends. Stops at the first failing source (its
/// lake and state untouched); sources synced before it stay synced.
pub async fn sync(
    config: &Config,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(SyncEvent),
) -> Result<Vec<StreamReport>, PipelineError> {
    let lake = Lake::create(&config.lake_path())?;
    let specs = crate::stream_specs();
    let mut reports = Vec::new();
    for (name, source) in selected(config, opts.source.as_deref())? {
        let Some(connector) = build_connector(name, source)? else {
            if opts.source.is_some() {
                return Err(PipelineError::Sync(format!(
                    "sources.{name}: type \"{}\" has no connector in this build yet (there \
                     are: {}); load its data into the lake another way",
                    source.kind,
                    CONNECTOR_TYPES.join(", ")
                )));
            }
            progress(SyncEvent::Skipped {
                source: name.clone(),
                kind: source.kind.clone(),
            });
            continue;
        };
        let first = start_date(name, source, opts.today)?;
        let mut state = lake.read_state(name)?;
        let mut staged: Vec<Staged> = Vec::new();
        let mut cursors: Vec<(String, NaiveDate)> = Vec::new();
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
            let window = match def.write_mode {
                // A snapshot is read whole; its window only dates the read.
                WriteMode::Snapshot => opts.today.pred_opt().map(|y| kpi_connector::SyncWindow {
                    start: first.min(y),
                    end: y,
                }),
                _ => kpi_connector::window_for(cursor, lookback, opts.today, first, opts.range)
                    .map_err(|e| PipelineError::Sync(format!("{label}: {e}")))?,
            };
            let Some(window) = window else {
                reports.push(StreamReport {
                    stream: label,
                    window: None,
                    rows: 0,
                    pages: 0,
                    requests: 0,
                    retries: 0,
                    seconds: 0.0,
                });
                continue;
            };
            progress(SyncEvent::Started {
                stream: label.clone(),
                start: window.start,
                end: window.end,
            });
            let started = Instant::now();
            let mut sink =
                LakeSink::new(&lake, name, &def, spec.layout, spec.schema.clone(), window)?;
            let stats = connector
                .read(&def, window, &mut sink)
                .await
                .map_err(|e| PipelineError::Sync(format!("{label}: {e}")))?;
            let report = StreamReport {
                stream: label.clone(),
                window: Some((window.start, window.end)),
                rows: sink.rows,
                pages: stats.pages,
                requests: stats.requests,
                retries: stats.retries,
                seconds: started.elapsed().as_secs_f64(),
            };
            progress(SyncEvent::Read(report.clone()));
            reports.push(report);
            staged.push(sink.finish()?);
            cursors.push((def.name.clone(), window.end));
        }
        // Every stream read: replace the days, then move the cursors.
        for s in staged {
            s.commit()?;
        }
        let now = chrono::Utc::now().to_rfc3339();
        for (stream, through) in cursors {
            state.streams.insert(
                stream,
                StreamCursor {
                    synced_through: through,
                    synced_at: now.clone(),
                },
            );
        }
        lake.write_state(name, &state)?;
    }
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
    },
    /// A stream was read and staged (not yet in the lake).
    Read(StreamReport),
    /// A source whose type has no connector was left as it is.
    Skipped {
        /// Source name.
        source: String,
        /// Its type.
        kind: String,
    },
}

/// One source's probe for `kpi check`.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// Source name.
    pub source: String,
    /// Connector type.
    pub kind: String,
    /// `Ok(who we are connected as)` or the API's own error; `Ok(None)`
    /// when the type has no connector to probe.
    pub result: Result<Option<String>, String>,
}

/// Probes every configured source (or one) with one cheap request each.
pub async fn check(
    config: &Config,
    source: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<CheckOutcome>, PipelineError> {
    let mut out = Vec::new();
    for (name, s) in selected(config, source)? {
        let result = match build_connector(name, s) {
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
            result,
        });
    }
    Ok(out)
}

/// Staged files of one stream, renamed into place by [`Staged::commit`].
struct Staged {
    files: Vec<(Option<std::path::PathBuf>, SnapshotWriter)>,
}

impl Staged {
    fn commit(self) -> Result<(), PipelineError> {
        for (dir, w) in self.files {
            w.commit()?;
            // A partition holds one file: drop what an older writer left there.
            if let Some(dir) = dir
                && let Ok(entries) = std::fs::read_dir(&dir)
            {
                for e in entries.filter_map(Result::ok) {
                    if e.file_name() != kpi_lake::PART_FILE {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes a stream's batches to staged files: one per day for daily streams
/// (rows split by the date column, which becomes the partition), one for a
/// snapshot.
struct LakeSink<'a> {
    lake: &'a Lake,
    source: String,
    stream: String,
    layout: Layout,
    schema: SchemaRef,
    date_column: Option<String>,
    window: kpi_connector::SyncWindow,
    days: BTreeMap<NaiveDate, SnapshotWriter>,
    snapshot: Option<SnapshotWriter>,
    rows: u64,
}

impl<'a> LakeSink<'a> {
    fn new(
        lake: &'a Lake,
        source: &str,
        def: &StreamDef,
        layout: Layout,
        schema: SchemaRef,
        window: kpi_connector::SyncWindow,
    ) -> Result<Self, PipelineError> {
        let date_column = match (&def.write_mode, layout) {
            (WriteMode::ReplaceDays { date_column }, Layout::Daily) => Some(date_column.clone()),
            (WriteMode::Snapshot, Layout::Snapshot) => None,
            (mode, layout) => {
                return Err(PipelineError::Sync(format!(
                    "{source}.{}: the connector writes {mode:?} but the lake keeps the stream as {layout:?}",
                    def.name
                )));
            }
        };
        Ok(Self {
            lake,
            source: source.to_string(),
            stream: def.name.clone(),
            layout,
            schema,
            date_column,
            window,
            days: BTreeMap::new(),
            snapshot: None,
            rows: 0,
        })
    }

    fn label(&self) -> String {
        format!("{}.{}", self.source, self.stream)
    }

    /// `batch` without the partition column, checked against the lake's schema.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch, ConnectorError> {
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| Some(batch.schema().field(i).name()) != self.date_column.as_ref())
            .collect();
        let projected = batch
            .project(&keep)
            .map_err(|e| ConnectorError::sink(e.to_string()))?;
        let want = self.schema.fields();
        let got = projected.schema();
        let same = want.len() == got.fields().len()
            && want
                .iter()
                .zip(got.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(ConnectorError::sink(format!(
                "{}: the connector's columns ({}) are not the lake's ({})",
                self.label(),
                describe(&got),
                describe(&self.schema)
            )));
        }
        RecordBatch::try_new(self.schema.clone(), projected.columns().to_vec())
            .map_err(|e| ConnectorError::sink(e.to_string()))
    }

    fn finish(mut self) -> Result<Staged, PipelineError> {
        let mut files = Vec::new();
        match self.layout {
            Layout::Snapshot => {
                let w = match self.snapshot.take() {
                    Some(w) => w,
                    None => self.lake.snapshot_writer(
                        &self.source,
                        &self.stream,
                        self.schema.clone(),
                    )?,
                };
                files.push((None, w));
            }
            Layout::Daily => {
                // Every day of the window is replaced: a day the API no longer
                // returns rows for becomes empty rather than keeping old rows.
                let mut d = self.window.start;
                while d <= self.window.end {
                    let w = match self.days.remove(&d) {
                        Some(w) => w,
                        None => self.lake.daily_writer(
                            &self.source,
                            &self.stream,
                            d,
                            self.schema.clone(),
                        )?,
                    };
                    files.push((
                        Some(self.lake.partition_dir(&self.source, &self.stream, d)),
                        w,
                    ));
                    d = d.succ_opt().expect("in range");
                }
            }
        }
        Ok(Staged { files })
    }
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait::async_trait]
impl BatchSink for LakeSink<'_> {
    async fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let sink_err = |e: kpi_lake::LakeError| ConnectorError::sink(e.to_string());
        let Some(col) = self.date_column.clone() else {
            let conformed = self.conform(&batch)?;
            if self.snapshot.is_none() {
                self.snapshot = Some(
                    self.lake
                        .snapshot_writer(&self.source, &self.stream, self.schema.clone())
                        .map_err(sink_err)?,
                );
            }
            self.snapshot
                .as_mut()
                .expect("just set")
                .write(&conformed)
                .map_err(sink_err)?;
            self.rows += conformed.num_rows() as u64;
            return Ok(());
        };
        let dates = batch.column_by_name(&col).ok_or_else(|| {
            ConnectorError::sink(format!(
                "{}: a batch without its `{col}` column",
                self.label()
            ))
        })?;
        if dates.data_type() != &DataType::Date32 || dates.null_count() > 0 {
            return Err(ConnectorError::sink(format!(
                "{}: `{col}` must be a non-null Date32 column, got {}",
                self.label(),
                dates.data_type()
            )));
        }
        let dates = dates.as_primitive::<Date32Type>();
        let mut by_day: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for i in 0..dates.len() {
            by_day.entry(dates.value(i)).or_default().push(i as u32);
        }
        let conformed = self.conform(&batch)?;
        for (day, rows) in by_day {
            let date = Date32Type::to_naive_date_opt(day).ok_or_else(|| {
                ConnectorError::sink(format!("{}: day {day} is out of range", self.label()))
            })?;
            if date < self.window.start || date > self.window.end {
                // Writing it would replace a day outside the window with a
                // part of its rows.
                return Err(ConnectorError::sink(format!(
                    "{}: the API returned rows for {date}, outside the requested {} to {}",
                    self.label(),
                    self.window.start,
                    self.window.end
                )));
            }
            let idx = UInt32Array::from(rows);
            let part = arrow::compute::take_record_batch(&conformed, &idx)
                .map_err(|e| ConnectorError::sink(e.to_string()))?;
            if !self.days.contains_key(&date) {
                let w = self
                    .lake
                    .daily_writer(&self.source, &self.stream, date, self.schema.clone())
                    .map_err(sink_err)?;
                self.days.insert(date, w);
            }
            self.days
                .get_mut(&date)
                .expect("just inserted")
                .write(&part)
                .map_err(sink_err)?;
            self.rows += part.num_rows() as u64;
        }
        Ok(())
    }
}
