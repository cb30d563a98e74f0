//! `kpi-engine`: the DataFusion session that turns the lake into KPIs.
//!
//! It owns wiring, not arithmetic: every number is computed by the SQL in
//! `queries/` (built in, overridable per file). The engine registers the raw
//! streams of the lake, the reference tables and the config-derived tables
//! (`report_periods`, `kpi_targets`, `kpi_catalog`), creates the staging and
//! canonical views, and runs the KPI and comparison SQL for a period.
//!
//! Order of work, each step a directory of `queries/`:
//! 1. `staging/_reference.sql`: FX and mapping helper views;
//! 2. `canonical/<view>.sql` over the `UNION ALL` of `staging/<type>__<view>.sql`
//!    for every configured source of that type;
//! 3. `checks/*.sql`: any row returned is a problem that stops the run;
//! 4. `kpis/*.sql` in name order, materialising the views a file names in a
//!    `-- materialize:` line;
//! 5. `compare.sql`, read through [`Engine::kpis`].

mod adhoc;
pub mod describe;
pub mod history;
pub mod queries;
pub mod reference;
pub mod udf;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use kpi_core::{Catalog, Config, DateRange, ReportPeriods};
use kpi_lake::{Lake, RegisteredStream, StreamSpec};

pub use queries::{QueryFile, QuerySet};

/// The canonical views, in the order they are created (later ones use earlier
/// ones). This list is the analysts' documented interface.
pub const CANONICAL_VIEWS: &[&str] = &[
    "ad_campaigns",
    "campaign_channels",
    "ad_performance",
    "web_traffic",
    "crm_contacts",
    "crm_deals",
    "email_performance",
    "search_performance",
    "backlinks",
    "social_performance",
    "marketing_costs",
];

/// The columns `kpi kpis` prints, in order.
pub const KPI_COLUMNS: &[&str] = &[
    "grain",
    "channel",
    "campaign_type",
    "campaign",
    "kpi",
    "value",
    "previous",
    "last_year",
    "target",
    "benchmark",
    "change_vs_previous",
    "change_vs_last_year",
    "status",
];

/// Engine failures. Each names the file (and line) or table involved.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A SQL file failed to parse, plan or run.
    #[error("{origin}:{line}: {message}")]
    Query {
        /// The file, built in (`queries/...`) or the user's override.
        origin: String,
        /// Line where the failing statement starts.
        line: usize,
        /// DataFusion's message.
        message: String,
    },
    /// A query or reference file is missing or malformed.
    #[error("{origin}: {message}")]
    Queries {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A data check found problems.
    #[error("the data cannot be reported as it is:\n  {}", problems.join("\n  "))]
    Check {
        /// One line per problem.
        problems: Vec<String>,
    },
    /// The config refers to something that does not exist.
    #[error("{origin}: {message}")]
    Config {
        /// The config file.
        origin: String,
        /// Which setting and why.
        message: String,
    },
    /// The lake could not be read.
    #[error(transparent)]
    Lake(#[from] kpi_lake::LakeError),
    /// An ad-hoc query failed.
    #[error("{0}")]
    DataFusion(String),
}

/// One point of a KPI's cumulative trend (see [`Engine::kpis_and_series`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// The current period (true) or the previous one.
    pub current: bool,
    /// How many days of the period the point covers (1 = its first day).
    pub day: u32,
    /// Catalog key.
    pub kpi: String,
    /// The KPI over those days; `None` where it is undefined (e.g. no leads yet
    /// for a cost per lead).
    pub value: Option<f64>,
}

/// A DataFusion session over one lake, with every view registered.
pub struct Engine {
    ctx: SessionContext,
    queries: QuerySet,
    catalog: Catalog,
    config: Config,
    streams: Vec<RegisteredStream>,
    lake: Lake,
    /// Column comments of the canonical views, from their SQL files.
    comments: describe::Comments,
}

fn sql_str(s: &str) -> String {
    s.replace('\'', "''")
}

/// The KPI catalog `config` uses (the built-in `queries/kpis.toml` or the
/// user's override), without opening the lake: for validating names.
pub fn load_catalog(config: &Config) -> Result<Catalog, EngineError> {
    catalog_of(&QuerySet::load(config.queries_dir().as_deref())?)
}

fn catalog_of(queries: &QuerySet) -> Result<Catalog, EngineError> {
    let kpis = queries.get("kpis.toml").expect("built in");
    Catalog::parse(&kpis.text, &kpis.origin).map_err(|e| EngineError::Queries {
        origin: e.origin,
        message: e.message,
    })
}

impl Engine {
    /// Opens the lake of `config`, registering raw streams for every configured
    /// source (`specs` lists the streams each source type has), reference tables
    /// and the staging and canonical views. Reads no data.
    pub async fn open(config: &Config, specs: &[StreamSpec]) -> Result<Self, EngineError> {
        let lake = Lake::open(&config.lake_path())?;
        let queries = QuerySet::load(config.queries_dir().as_deref())?;
        let catalog = catalog_of(&queries)?;
        let mut session = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("datafusion", "public");
        // Where in the query an error is, for `kpi sql`'s messages.
        session.options_mut().sql_parser.collect_spans = true;
        // Analysts can also query a Parquet file by its path
        // (`SELECT * FROM 'lake/canonical/ad_performance/part-0.parquet'`);
        // the files are checked as the lake's own tables' are.
        let ctx =
            kpi_lake::enable_checked_url_tables(SessionContext::new_with_config(session), &lake);
        for f in udf::all() {
            ctx.register_udf(f);
        }
        let mut engine = Self {
            ctx,
            queries,
            catalog,
            config: config.clone(),
            streams: Vec::new(),
            lake: lake.clone(),
            comments: Default::default(),
        };
        engine.check_config()?;
        engine.register_streams(&lake, specs)?;
        reference::register(&engine.ctx, &engine.queries)?;
        engine.register_config_tables()?;
        history::register(&engine.ctx, lake.root())?;
        engine.create_views().await?;
        engine.comments = describe::column_comments(&engine.queries);
        Ok(engine)
    }

    /// The DataFusion session, for ad-hoc SQL.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The KPI catalog in use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Raw streams as registered, with what the lake holds for each.
    pub fn streams(&self) -> &[RegisteredStream] {
        &self.streams
    }

    fn check_config(&self) -> Result<(), EngineError> {
        let origin = self.config.origin.display().to_string();
        let targets = self.config.targets.keys().map(|k| ("targets", k));
        let channel = self
            .config
            .channel_targets
            .iter()
            .flat_map(|(_, t)| t.keys().map(|k| ("channel_targets", k)));
        for (section, key) in targets.chain(channel) {
            if self.catalog.get(key).is_none() {
                return Err(EngineError::Config {
                    origin,
                    message: format!(
                        "[{section}]: unknown KPI '{key}' (the keys are listed in queries/kpis.toml)"
                    ),
                });
            }
        }
        Ok(())
    }

    fn register_streams(&mut self, lake: &Lake, specs: &[StreamSpec]) -> Result<(), EngineError> {
        let mut types: BTreeMap<&str, Vec<&StreamSpec>> = BTreeMap::new();
        for s in specs {
            types.entry(s.source_type).or_default().push(s);
        }
        let origin = self.config.origin.display().to_string();
        for (name, source) in &self.config.sources {
            let Some(type_specs) = types.get(source.kind.as_str()) else {
                return Err(EngineError::Config {
                    origin,
                    message: format!(
                        "sources.{name}: unknown type '{}'; known types: {}",
                        source.kind,
                        types.keys().copied().collect::<Vec<_>>().join(", ")
                    ),
                });
            };
            for spec in type_specs {
                self.streams
                    .push(kpi_lake::register_stream(&self.ctx, lake, name, spec)?);
            }
        }
        // A type with no configured source still gets empty tables under its
        // own name, so every staging file plans and contributes no rows.
        for (kind, type_specs) in &types {
            if self.config.sources.values().any(|s| s.kind == *kind) {
                continue;
            }
            let schema = if self.config.sources.contains_key(*kind) {
                format!("_none_{kind}")
            } else {
                kind.to_string()
            };
            for spec in type_specs {
                let empty = Lake::open(lake.root())?;
                let mut r = kpi_lake::register_stream(&self.ctx, &empty, &schema, spec)?;
                // Whatever is on disk under that name is not a configured source.
                r.contents = Default::default();
                self.streams.push(r);
            }
        }
        Ok(())
    }

    fn sources_of_type(&self, kind: &str) -> Vec<String> {
        let configured: Vec<String> = self
            .config
            .sources
            .iter()
            .filter(|(_, s)| s.kind == kind)
            .map(|(n, _)| n.clone())
            .collect();
        if !configured.is_empty() {
            return configured;
        }
        match self.streams.iter().find(|s| s.source_type == kind) {
            Some(s) => vec![s.source.clone()],
            None => Vec::new(),
        }
    }

    fn register_config_tables(&self) -> Result<(), EngineError> {
        // kpi_catalog
        let k = &self.catalog.kpis;
        let str_col = |f: &dyn Fn(&kpi_core::KpiDef) -> String| -> ArrayRef {
            Arc::new(StringArray::from(k.iter().map(f).collect::<Vec<_>>()))
        };
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("kpi", DataType::Utf8, false),
                Field::new("label", DataType::Utf8, false),
                Field::new("unit", DataType::Utf8, false),
                Field::new("direction", DataType::Utf8, false),
                Field::new("kind", DataType::Utf8, false),
                Field::new("formula", DataType::Utf8, false),
                Field::new("description", DataType::Utf8, false),
                Field::new("position", DataType::Int64, false),
            ])),
            vec![
                str_col(&|d| d.key.clone()),
                str_col(&|d| d.label.clone()),
                str_col(&|d| d.unit.as_str().to_string()),
                str_col(&|d| d.direction.as_str().to_string()),
                str_col(&|d| d.kind.clone()),
                str_col(&|d| d.formula.clone()),
                str_col(&|d| d.description.clone()),
                Arc::new(Int64Array::from_iter_values(0..k.len() as i64)),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("kpi_catalog", batch)?;

        // kpi_targets
        let mut rows: Vec<(String, Option<String>, String, f64)> = self
            .config
            .targets
            .iter()
            .map(|(k, v)| ("total".to_string(), None, k.clone(), *v))
            .collect();
        for (channel, t) in &self.config.channel_targets {
            for (k, v) in t {
                rows.push(("channel".into(), Some(channel.clone()), k.clone(), *v));
            }
        }
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("grain", DataType::Utf8, false),
                Field::new("channel", DataType::Utf8, true),
                Field::new("kpi", DataType::Utf8, false),
                Field::new("target", DataType::Float64, false),
            ])),
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("kpi_targets", batch)?;

        // lake_streams
        let s = &self.streams;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        let day = |d: Option<NaiveDate>| d.map(|d| (d - epoch).num_days() as i32);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("source", DataType::Utf8, false),
                Field::new("source_type", DataType::Utf8, false),
                Field::new("stream", DataType::Utf8, false),
                Field::new("layout", DataType::Utf8, false),
                Field::new("has_data", DataType::Boolean, false),
                Field::new("days", DataType::Int64, false),
                Field::new("first_day", DataType::Date32, true),
                Field::new("last_day", DataType::Date32, true),
            ])),
            vec![
                Arc::new(StringArray::from(
                    s.iter().map(|r| r.source.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    s.iter().map(|r| r.source_type.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    s.iter().map(|r| r.stream.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    s.iter()
                        .map(|r| match r.layout {
                            kpi_lake::Layout::Daily => "daily",
                            kpi_lake::Layout::Snapshot => "snapshot",
                        })
                        .collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    s.iter().map(|r| r.contents.has_data()).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    s.iter().map(|r| r.contents.days as i64).collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    s.iter()
                        .map(|r| day(r.contents.first_day))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    s.iter()
                        .map(|r| day(r.contents.last_day))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("lake_streams", batch)?;
        Ok(())
    }

    fn register_batch(&self, name: &str, batch: RecordBatch) -> Result<(), EngineError> {
        self.replace_table(name, batch.schema(), vec![batch])
    }

    /// Registers `batches` as table `name`, replacing whatever had that name.
    fn replace_table(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(), EngineError> {
        let mem = MemTable::try_new(schema, vec![batches])
            .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        // Deregistering a name that is not there is not an error worth reporting.
        let _ = self.ctx.deregister_table(name);
        self.ctx
            .register_table(name, Arc::new(mem))
            .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        Ok(())
    }

    fn base_values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("currency", sql_str(&self.config.reporting.currency)),
            ("timezone", sql_str(&self.config.reporting.timezone)),
        ]
    }

    /// Runs every statement of `file` with `values` substituted.
    async fn run_file(
        &self,
        file: &QueryFile,
        values: &[(&str, String)],
    ) -> Result<(), EngineError> {
        for stmt in queries::split_statements(&file.text) {
            let sql = queries::substitute(&stmt.sql, &file.origin, stmt.line, values)?;
            self.run_statement(&sql, &file.origin, stmt.line).await?;
        }
        Ok(())
    }

    /// DataFusion's message, plus the damaged lake files when it is a Parquet
    /// error (DataFusion does not say which file it was reading).
    fn explain(&self, e: datafusion::error::DataFusionError) -> String {
        let message = e.strip_backtrace();
        if !message.contains("Parquet error") {
            return message;
        }
        let bad = self.lake.damaged_files();
        if bad.is_empty() {
            return message;
        }
        let mut out = format!("{message}\n  damaged lake files (re-sync those days):");
        for (path, why) in bad.iter().take(10) {
            out.push_str(&format!("\n    {}: {why}", path.display()));
        }
        if bad.len() > 10 {
            out.push_str(&format!("\n    ... and {} more", bad.len() - 10));
        }
        out
    }

    async fn run_statement(&self, sql: &str, origin: &str, line: usize) -> Result<(), EngineError> {
        self.query_at(sql, origin, line).await.map(|_| ())
    }

    async fn create_views(&self) -> Result<(), EngineError> {
        let values = self.base_values();
        let reference = self
            .queries
            .get("staging/_reference.sql")
            .expect("built in");
        self.run_file(reference, &values).await?;

        let mut presence: Vec<(String, bool, String)> = Vec::new();
        for view in CANONICAL_VIEWS {
            let path = format!("canonical/{view}.sql");
            let file = self
                .queries
                .get(&path)
                .ok_or_else(|| EngineError::Queries {
                    origin: format!("queries/{path}"),
                    message: "missing".into(),
                })?;
            let suffix = format!("__{view}.sql");
            let mut inputs = Vec::new();
            let mut has_data = false;
            let mut sources = Vec::new();
            for staging in self.queries.under("staging") {
                let name = staging.path.trim_start_matches("staging/");
                let Some(kind) = name.strip_suffix(&suffix) else {
                    continue;
                };
                for source in self.sources_of_type(kind) {
                    let mut v = values.clone();
                    // Quoted: a source may be called `table` or `order`,
                    // words SQL keeps for itself (names are checked to hold
                    // only a-z, 0-9 and _, so no quote can be inside).
                    v.push(("source", format!("\"{source}\"")));
                    // The name as a string, for a row's platform and the
                    // source's own channel mappings.
                    v.push(("source_name", source.clone()));
                    let stmts = queries::split_statements(&staging.text);
                    let [stmt] = stmts.as_slice() else {
                        return Err(EngineError::Query {
                            origin: staging.origin.clone(),
                            line: 1,
                            message: format!(
                                "a staging file holds exactly one SELECT, found {}",
                                stmts.len()
                            ),
                        });
                    };
                    let sql = queries::substitute(&stmt.sql, &staging.origin, stmt.line, &v)?;
                    // Plan each input on its own first, so an error names its file.
                    self.ctx.sql(&sql).await.map_err(|e| EngineError::Query {
                        origin: staging.origin.clone(),
                        line: stmt.line,
                        message: e.strip_backtrace(),
                    })?;
                    inputs.push(format!("SELECT * FROM ({sql}\n)"));
                    if self.stream_has_data(&source, &staging.text) {
                        has_data = true;
                        sources.push(source.clone());
                    }
                }
            }
            let stmts = queries::split_statements(&file.text);
            let [stmt] = stmts.as_slice() else {
                return Err(EngineError::Query {
                    origin: file.origin.clone(),
                    line: 1,
                    message: "a canonical file holds exactly one SELECT".into(),
                });
            };
            let mut v = values.clone();
            let uses_inputs = stmt.sql.contains("{{inputs}}");
            if uses_inputs && inputs.is_empty() {
                return Err(EngineError::Queries {
                    origin: file.origin.clone(),
                    message: format!(
                        "no staging file feeds {view} (expected staging/<type>{suffix})"
                    ),
                });
            }
            v.push(("inputs", inputs.join("\nUNION ALL\n")));
            let body = queries::substitute(&stmt.sql, &file.origin, stmt.line, &v)?;
            self.run_statement(
                &format!("CREATE VIEW {view} AS\n{body}"),
                &file.origin,
                stmt.line,
            )
            .await?;
            if materialized(&file.text).iter().any(|m| m == view) {
                self.materialize(view, &file.origin).await?;
            }
            if uses_inputs {
                presence.push((view.to_string(), has_data, sources.join(", ")));
            }
        }
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("view", DataType::Utf8, false),
                Field::new("has_data", DataType::Boolean, false),
                Field::new("sources", DataType::Utf8, false),
            ])),
            vec![
                Arc::new(StringArray::from(
                    presence.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    presence.iter().map(|p| p.1).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    presence.iter().map(|p| p.2.clone()).collect::<Vec<_>>(),
                )),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("canonical_sources", batch)?;
        Ok(())
    }

    /// Whether any stream of `source` that `staging_sql` reads
    /// (`{{source}}.<stream>`) has data.
    fn stream_has_data(&self, source: &str, staging_sql: &str) -> bool {
        self.streams.iter().any(|s| {
            s.source == source
                && s.contents.has_data()
                && staging_sql.contains(&format!("{{{{source}}}}.{}", s.stream))
        })
    }

    /// Registers `report_periods` and the KPI views for `periods`, runs the data
    /// checks, and returns the KPI table (columns [`KPI_COLUMNS`]).
    pub async fn kpis(&self, periods: &ReportPeriods) -> Result<Vec<RecordBatch>, EngineError> {
        Ok(self.kpis_and_series(periods, &[], 0).await?.0)
    }

    /// [`Engine::kpis`], and in the same pass over the data the cumulative
    /// trend of `series_kpis` (company total) through the current period and
    /// through the previous one: point `day` is the KPI computed by the same
    /// SQL over the period's first `day` days, so the last point of `current`
    /// is the period's value. At most about `max_points` points per period
    /// (evenly spaced, always ending on its last day). Each point is one more
    /// report period of the same queries, kept at the total grain only.
    pub async fn kpis_and_series(
        &self,
        periods: &ReportPeriods,
        series_kpis: &[String],
        max_points: usize,
    ) -> Result<(Vec<RecordBatch>, Vec<SeriesPoint>), EngineError> {
        let mut windows = Vec::new();
        if !series_kpis.is_empty() {
            for (series, range) in [("current", periods.current), ("previous", periods.previous)] {
                for day in series_days(range.days() as u32, max_points) {
                    let end = range.start + chrono::Days::new(day as u64 - 1);
                    let window = DateRange::new(range.start, end)
                        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
                    windows.push((format!("{series}:{day}"), window));
                }
            }
        }
        self.prepare(periods, &windows).await?;
        let cols = KPI_COLUMNS.join(", ");
        let sql = format!(
            "SELECT {cols} FROM kpi_report ORDER BY grain_position, channel NULLS FIRST, \
             campaign_type NULLS FIRST, campaign NULLS FIRST, kpi_position"
        );
        let batches = self.query(&sql).await?;
        let points = self.series_points(series_kpis).await?;
        // A period with days still to come (this month, a range through
        // next week) has part of its numbers: kept, it would stand in the
        // history as the whole period, in place of the one recorded once
        // it is over.
        if !periods.is_over() {
            tracing::info!(
                "the KPI history keeps periods that are over: {} is not (today is {})",
                periods.current,
                periods.today
            );
            return Ok((batches, points));
        }
        // The history is the analysts' copy: a lake that cannot take it
        // (read-only, full) does not stop the report leadership reads.
        if let Err(e) = self.record_history(periods).await {
            tracing::warn!(
                "the KPI history was not updated for {}: {e}",
                periods.current
            );
        }
        Ok((batches, points))
    }

    /// Writes the KPIs of the periods `prepare_kpis` registered last to the
    /// lake's KPI history, replacing what an earlier run wrote for the same
    /// dates. Returns the rows written.
    pub async fn record_history(&self, periods: &ReportPeriods) -> Result<u64, EngineError> {
        let range = &periods.current;
        let sql = history::rows_sql(periods, &self.config.reporting.currency);
        let batches = history::conform(self.query(&sql).await?, chrono::Utc::now())?;
        let path = format!(
            "{}/{}",
            history::partition_dir(range.start),
            history::file_name(range.end)
        );
        let mut writer = self.lake.file_writer(&path, history::file_schema())?;
        for b in &batches {
            writer.write(b)?;
        }
        let stats = writer.commit()?;
        // This session reads what was just written, like the next one.
        history::register(&self.ctx, self.lake.root())?;
        Ok(stats.rows)
    }

    /// Registers `report_periods`, runs the checks and creates (and materialises)
    /// the KPI views, so that `kpi_values` and `kpi_report` can be queried.
    pub async fn prepare_kpis(&self, periods: &ReportPeriods) -> Result<(), EngineError> {
        self.prepare(periods, &[]).await
    }

    /// [`Engine::prepare_kpis`] with `windows` as more report periods,
    /// computed at the total grain only (`full` is false in `report_periods`).
    async fn prepare(
        &self,
        periods: &ReportPeriods,
        windows: &[(String, DateRange)],
    ) -> Result<(), EngineError> {
        let mut all: Vec<(String, DateRange, bool)> = periods
            .named()
            .iter()
            .map(|(n, r)| (n.to_string(), *r, true))
            .collect();
        all.extend(windows.iter().map(|(n, r)| (n.clone(), *r, false)));
        let mut values = self.register_periods(&all)?;
        values.extend([
            ("current_end", periods.current.end.to_string()),
            (
                "tolerance",
                format!("{:?}", self.config.reporting.on_target_tolerance),
            ),
            (
                "industry",
                sql_str(self.config.reporting.industry.as_deref().unwrap_or("All")),
            ),
        ]);
        let mut problems = Vec::new();
        for check in self.queries.under("checks") {
            for stmt in queries::split_statements(&check.text) {
                let sql = queries::substitute(&stmt.sql, &check.origin, stmt.line, &values)?;
                let batches = self.query_at(&sql, &check.origin, stmt.line).await?;
                for b in batches.iter().filter(|b| b.num_rows() > 0) {
                    // Whatever string type the check returns, read it as text.
                    let col = arrow::compute::cast(b.column(0), &DataType::Utf8).map_err(|e| {
                        EngineError::Query {
                            origin: check.origin.clone(),
                            line: stmt.line,
                            message: format!("a check must return one text column: {e}"),
                        }
                    })?;
                    let col = arrow::array::cast::as_string_array(&col);
                    problems.extend(col.iter().flatten().map(str::to_string));
                }
            }
        }
        if !problems.is_empty() {
            problems.truncate(20);
            return Err(EngineError::Check { problems });
        }

        self.run_kpi_files(&values, true).await
    }

    /// The trend points of `kpis` from the windows [`Engine::kpis_and_series`]
    /// registered (periods named `current:<day>` and `previous:<day>`).
    async fn series_points(&self, kpis: &[String]) -> Result<Vec<SeriesPoint>, EngineError> {
        let list = kpis
            .iter()
            .map(|k| format!("'{}'", sql_str(k)))
            .collect::<Vec<_>>()
            .join(", ");
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let batches = self
            .query(&format!(
                "SELECT period, kpi, value FROM kpi_values \
                 WHERE grain = 'total' AND kpi IN ({list}) AND period LIKE '%:%' \
                 ORDER BY kpi, period"
            ))
            .await?;
        let mut points = Vec::new();
        for b in &batches {
            let period = arrow::compute::cast(b.column(0), &DataType::Utf8)
                .map_err(|e| EngineError::DataFusion(e.to_string()))?;
            let kpi = arrow::compute::cast(b.column(1), &DataType::Utf8)
                .map_err(|e| EngineError::DataFusion(e.to_string()))?;
            let value = arrow::compute::cast(b.column(2), &DataType::Float64)
                .map_err(|e| EngineError::DataFusion(e.to_string()))?;
            let (period, kpi) = (period.as_string::<i32>(), kpi.as_string::<i32>());
            let value = value.as_primitive::<arrow::datatypes::Float64Type>();
            for i in 0..b.num_rows() {
                let Some((series, day)) = period.value(i).split_once(':') else {
                    continue;
                };
                points.push(SeriesPoint {
                    current: series == "current",
                    day: day.parse().unwrap_or(0),
                    kpi: kpi.value(i).to_string(),
                    value: (!value.is_null(i)).then(|| value.value(i)),
                });
            }
        }
        points.sort_by(|a, b| (&a.kpi, !a.current, a.day).cmp(&(&b.kpi, !b.current, b.day)));
        Ok(points)
    }

    /// Registers `report_periods` and `report_days` for `windows` (name and
    /// dates) and returns the placeholder values the KPI SQL needs for them.
    fn register_periods(
        &self,
        windows: &[(String, DateRange, bool)],
    ) -> Result<Vec<(&'static str, String)>, EngineError> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        let day = |d: NaiveDate| (d - epoch).num_days() as i32;
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("period", DataType::Utf8, false),
                Field::new("start_date", DataType::Date32, false),
                Field::new("end_date", DataType::Date32, false),
                Field::new("ttm_start", DataType::Date32, false),
                Field::new("days", DataType::Int64, false),
                // A report period computed at every grain; false for a
                // trend chart's window (the total only).
                Field::new("full", DataType::Boolean, false),
            ])),
            vec![
                Arc::new(StringArray::from(
                    windows
                        .iter()
                        .map(|(n, _, _)| n.as_str())
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    windows
                        .iter()
                        .map(|(_, r, _)| day(r.start))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    windows
                        .iter()
                        .map(|(_, r, _)| day(r.end))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    windows
                        .iter()
                        .map(|(_, r, _)| day(r.end) - 364)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    windows.iter().map(|(_, r, _)| r.days()).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    windows.iter().map(|(_, _, f)| *f).collect::<Vec<_>>(),
                )),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("report_periods", batch)?;

        // report_days: every day of every period, for equality joins.
        let mut day_period: Vec<&str> = Vec::new();
        let mut day_date: Vec<i32> = Vec::new();
        for (name, range, _) in windows {
            let mut d = range.start;
            while d <= range.end {
                day_period.push(name);
                day_date.push(day(d));
                d = d.succ_opt().expect("in range");
            }
        }
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("period", DataType::Utf8, false),
                Field::new("date", DataType::Date32, false),
            ])),
            vec![
                Arc::new(StringArray::from(day_period)),
                Arc::new(Date32Array::from(day_date)),
            ],
        )
        .map_err(|e| EngineError::DataFusion(e.to_string()))?;
        self.register_batch("report_days", batch)?;

        let ranges: Vec<DateRange> = windows.iter().map(|(_, r, _)| *r).collect();
        let mut values = self.base_values();
        values.extend([
            ("in_periods", in_periods(&ranges)),
            (
                "deals_from",
                ranges
                    .iter()
                    .map(|r| r.start.min(r.end - chrono::Days::new(364)))
                    .min()
                    .expect("at least one period")
                    .to_string(),
            ),
            (
                "deals_to",
                ranges
                    .iter()
                    .map(|r| r.end)
                    .max()
                    .expect("at least one period")
                    .to_string(),
            ),
            (
                "gross_margin",
                format!("{:?}", self.config.reporting.gross_margin),
            ),
        ]);
        Ok(values)
    }

    /// Runs `queries/kpis/*.sql` (and `compare.sql` when asked) with `values`
    /// for the periods registered last.
    async fn run_kpi_files(
        &self,
        values: &[(&'static str, String)],
        compare: bool,
    ) -> Result<(), EngineError> {
        let mut files = self.queries.under("kpis");
        if compare {
            files.push(self.queries.get("compare.sql").expect("built in"));
        }
        for file in files {
            let started = std::time::Instant::now();
            for stmt in queries::split_statements(&file.text) {
                let sql = queries::substitute(&stmt.sql, &file.origin, stmt.line, values)?;
                // A view from an earlier call for another period is replaced.
                if let Some(name) = created_view(&sql) {
                    let _ = self.ctx.deregister_table(name.as_str());
                }
                self.run_statement(&sql, &file.origin, stmt.line).await?;
            }
            for name in materialized(&file.text) {
                self.materialize(&name, &file.origin).await?;
            }
            tracing::info!(file = %file.origin, elapsed_ms = started.elapsed().as_millis() as u64, "ran");
        }
        Ok(())
    }

    /// Replaces view `name` by a memory table of its rows: later queries read
    /// it once instead of recomputing it, and the planner knows its size (it
    /// then builds hash joins on it rather than on the big side).
    async fn materialize(&self, name: &str, origin: &str) -> Result<(), EngineError> {
        let batches = self
            .query_at(&format!("SELECT * FROM {name}"), origin, 1)
            .await?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => Arc::new(
                self.ctx
                    .table(name)
                    .await
                    .map_err(|e| EngineError::DataFusion(e.strip_backtrace()))?
                    .schema()
                    .as_arrow()
                    .clone(),
            ),
        };
        self.replace_table(name, schema, batches)
    }

    async fn query_at(
        &self,
        sql: &str,
        origin: &str,
        line: usize,
    ) -> Result<Vec<RecordBatch>, EngineError> {
        self.collect(sql).await.map_err(|e| match unreadable(&e) {
            Some(files) => files.into(),
            None => EngineError::Query {
                origin: origin.to_string(),
                line,
                message: self.explain(e),
            },
        })
    }

    async fn collect(
        &self,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, datafusion::error::DataFusionError> {
        self.collect_with(sql, &[]).await
    }

    async fn collect_with(
        &self,
        sql: &str,
        params: &[(String, datafusion::scalar::ScalarValue)],
    ) -> Result<Vec<RecordBatch>, datafusion::error::DataFusionError> {
        // Bound in the plan before it runs: `SessionContext::sql` runs DDL
        // (CREATE VIEW, CREATE TABLE AS) at once, before a DataFrame's
        // parameters could be given, which left a view holding `$name`.
        let mut plan = self.ctx.state().create_logical_plan(sql).await?;
        let wanted = plan.get_parameter_types()?;
        if !wanted.is_empty() {
            let mut missing: Vec<&String> = wanted
                .keys()
                .filter(|k| {
                    let name = k.trim_start_matches('$');
                    !params.iter().any(|(n, _)| n == name)
                })
                .collect();
            missing.sort();
            if let Some(name) = missing.first() {
                return Err(datafusion::error::DataFusionError::Plan(format!(
                    "{name} has no value (kpi sql takes one as --param {}=VALUE)",
                    name.trim_start_matches('$')
                )));
            }
            plan = plan.with_param_values(params.to_vec())?;
        }
        let df = self.ctx.execute_logical_plan(plan).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.collect().await?;
        // An empty result still carries its columns, so that CSV has a header
        // and a table its column names.
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(batches)
    }

    /// The earliest `date` in any canonical view that has one: the first
    /// day the lake holds data for (`None` for an empty lake). A period
    /// before it would be computed as zeros.
    pub async fn first_day(&self) -> Result<Option<NaiveDate>, EngineError> {
        let mut parts = Vec::new();
        for view in CANONICAL_VIEWS {
            let dated = self.describe(view).await?.is_some_and(|cols| {
                cols.iter()
                    .any(|c| c.name == "date" && c.arrow == DataType::Date32)
            });
            if dated {
                parts.push(format!("SELECT min(date) AS d FROM {view}"));
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let sql = format!("SELECT min(d) AS d FROM ({})", parts.join(" UNION ALL "));
        let batches = self.query(&sql).await?;
        let day = batches.first().and_then(|b| {
            let a = b.column(0).as_any().downcast_ref::<Date32Array>()?;
            a.is_valid(0).then(|| a.value_as_date(0)).flatten()
        });
        Ok(day)
    }

    /// Writes every canonical view to `<lake>/canonical/<view>/part-0.parquet`,
    /// so that DuckDB, Polars or Spark read the same cleaned, converted and
    /// classified data as `kpi sql`. Each view streams into one file (row groups
    /// carry min/max statistics on `date`, so readers still skip what they do
    /// not need) that replaces the previous one atomically. No file is
    /// replaced unless every view was computed, so a failure (an unreadable
    /// lake file, say) leaves the previous set whole. Returns `(view, rows)`.
    pub async fn materialize_canonical(&self) -> Result<Vec<(String, u64)>, EngineError> {
        use futures::StreamExt;
        let mut staged = Vec::new();
        for view in CANONICAL_VIEWS {
            let err = |e: datafusion::error::DataFusionError| match unreadable(&e) {
                Some(files) => files.into(),
                None => EngineError::DataFusion(format!(
                    "writing canonical/{view}: {}",
                    self.explain(e)
                )),
            };
            let df = self.ctx.table(*view).await.map_err(err)?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let mut stream = df.execute_stream().await.map_err(err)?;
            let mut writer = self
                .lake
                .table_writer(&format!("canonical/{view}"), schema)?;
            while let Some(batch) = stream.next().await {
                writer.write(&batch.map_err(err)?)?;
            }
            staged.push((view.to_string(), writer.finish()?));
        }
        let mut written = Vec::new();
        for (view, file) in staged {
            let stats = file.commit()?;
            written.push((view, stats.rows));
        }
        Ok(written)
    }

    /// Runs an analyst's query (`kpi sql`): an error says where in `sql` it
    /// is and suggests the table meant, and the result's columns are named
    /// as the query wrote them (see [`adhoc`]).
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        self.sql_with(sql, &[]).await
    }

    /// [`Engine::sql`] with named parameters: `$name` in `sql` takes the
    /// value of `name` as a typed value (a date stays a date), never as
    /// text pasted into the query.
    pub async fn sql_with(
        &self,
        sql: &str,
        params: &[(String, datafusion::scalar::ScalarValue)],
    ) -> Result<Vec<RecordBatch>, EngineError> {
        let batches = self
            .collect_with(sql, params)
            .await
            .map_err(|e| match unreadable(&e) {
                Some(files) => files.into(),
                None if e.strip_backtrace().contains("Parquet error") => {
                    EngineError::DataFusion(self.explain(e))
                }
                None => EngineError::DataFusion(adhoc::explain(&self.ctx, sql, &e)),
            })?;
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(batches);
        };
        let Some(names) = adhoc::written_names(sql, schema.fields().len()) else {
            return Ok(batches);
        };
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(names)
            .map(|(f, n)| match n {
                Some(n) => f.as_ref().clone().with_name(n),
                None => f.as_ref().clone(),
            })
            .collect();
        let renamed = Arc::new(Schema::new(fields));
        batches
            .into_iter()
            .map(|b| RecordBatch::try_new(renamed.clone(), b.columns().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::DataFusion(e.to_string()))
    }

    /// Runs one SQL statement, with DataFusion's own error and column names.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        self.collect(sql).await.map_err(|e| match unreadable(&e) {
            Some(files) => files.into(),
            None => EngineError::DataFusion(self.explain(e)),
        })
    }
}

impl From<kpi_lake::UnreadableFiles> for EngineError {
    fn from(files: kpi_lake::UnreadableFiles) -> Self {
        EngineError::Lake(files.into())
    }
}

/// The lake's error when a query stopped before reading data files that
/// cannot be read (see [`kpi_lake::UnreadableFiles`]): it is reported as
/// it is, naming the files and the fix, not as a failure of whichever SQL
/// file happened to read them.
fn unreadable(e: &datafusion::error::DataFusionError) -> Option<kpi_lake::UnreadableFiles> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(files) = err.downcast_ref::<kpi_lake::UnreadableFiles>() {
            return Some(files.clone());
        }
        next = err.source();
    }
    None
}

/// The `{{in_periods: col}}` macro: a predicate on a partition column that
/// covers every report period, one `BETWEEN` per run of overlapping or
/// adjacent periods, so that a monthly report reads its months and not the
/// year between them.
/// The days of a `days`-long period a trend is computed at: every
/// `ceil(days / max_points)`-th day and always the last one.
fn series_days(days: u32, max_points: usize) -> Vec<u32> {
    let step = days.div_ceil(max_points.max(1) as u32).max(1);
    let mut out: Vec<u32> = (1..=days).filter(|d| d % step == 0).collect();
    if out.last() != Some(&days) {
        out.push(days);
    }
    out
}

fn in_periods(ranges: &[DateRange]) -> String {
    let mut ranges = ranges.to_vec();
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<DateRange> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end + chrono::Days::new(1) => {
                last.end = last.end.max(r.end)
            }
            _ => merged.push(r),
        }
    }
    let parts: Vec<String> = merged
        .iter()
        .map(|r| format!("$1 BETWEEN DATE '{}' AND DATE '{}'", r.start, r.end))
        .collect();
    format!("({})", parts.join(" OR "))
}

/// The view a `CREATE VIEW name AS` statement creates.
fn created_view(sql: &str) -> Option<String> {
    let mut words = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .flat_map(str::split_whitespace);
    loop {
        let w = words.next()?;
        if w.eq_ignore_ascii_case("create") {
            let next = words.next()?;
            if next.eq_ignore_ascii_case("view") {
                return words.next().map(str::to_string);
            }
            return None;
        }
    }
}

/// Views a file asks to materialise with `-- materialize: a, b`.
fn materialized(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-- materialize:"))
        .flat_map(|rest| rest.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "none")
        .collect()
}
