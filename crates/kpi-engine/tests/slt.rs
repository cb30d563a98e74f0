//! SQL golden tests: runs every `tests/slt/*.slt` file of the workspace with
//! sqllogictest, as DataFusion does for its own SQL.
//!
//! A test file builds a small lake by hand and then queries the KPI views:
//! - `CREATE SCHEMA <source_type>` and `CREATE TABLE <source_type>.<stream> AS
//!   SELECT ...` create raw rows in the shape of that stream (columns are
//!   matched by name and cast to the stream's schema; a missing nullable column
//!   is NULL; daily streams need a `date` column);
//! - `CONFIG <toml line>` adds a line to kpi.toml (the default has EUR, UTC and
//!   a gross margin of 0.5; a `[reporting]` line replaces that section);
//! - `OVERRIDE <path under queries/>` followed by lines of content writes a
//!   user override of that built-in file (e.g. `reference/campaign_overrides.csv`)
//!   and points `[queries] dir` at it;
//! - `KPIS <from> <to>` writes the raw tables into a temporary lake through the
//!   real lake writer, opens the real engine on it with every source type that
//!   has a table configured, and computes the KPIs for that period (compared
//!   with the previous period and last year). From then on every statement runs
//!   in the engine's session: `kpi_report`, `kpi_values`, `kpi_measures` and the
//!   canonical views can be queried.

use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use kpi_core::{Config, DateRange, PeriodSpec, ReportPeriods};
use kpi_engine::Engine;
use kpi_lake::{Lake, Layout, StreamSpec};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Error(String);

fn e(x: impl std::fmt::Display) -> Error {
    Error(x.to_string())
}

struct KpiDb {
    scratch: SessionContext,
    config_lines: Vec<String>,
    engine: Option<Engine>,
    dir: tempfile::TempDir,
}

impl KpiDb {
    fn new() -> Self {
        Self {
            scratch: SessionContext::new(),
            config_lines: Vec::new(),
            engine: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn ctx(&self) -> &SessionContext {
        self.engine
            .as_ref()
            .map(Engine::context)
            .unwrap_or(&self.scratch)
    }

    async fn build(&mut self, from: &str, to: &str) -> Result<(), Error> {
        let lake_dir = self.dir.path().join("lake");
        let lake = Lake::create(&lake_dir).map_err(e)?;
        let mut types = Vec::new();
        let catalog = self.scratch.catalog("datafusion").expect("default catalog");
        for schema_name in catalog.schema_names() {
            if schema_name == "public" || schema_name == "information_schema" {
                continue;
            }
            let schema = catalog.schema(&schema_name).expect("listed");
            for table in schema.table_names() {
                let spec = find_stream(&schema_name, &table).ok_or_else(|| {
                    Error(format!("{schema_name}.{table} is not a known raw stream"))
                })?;
                let df = self
                    .scratch
                    .sql(&format!("SELECT * FROM {schema_name}.{table}"))
                    .await
                    .map_err(e)?;
                let batches = df.collect().await.map_err(e)?;
                let all = arrow::compute::concat_batches(
                    &batches
                        .first()
                        .map(|b| b.schema())
                        .unwrap_or_else(|| spec.schema.clone()),
                    &batches,
                )
                .map_err(e)?;
                match spec.layout {
                    Layout::Snapshot => {
                        let batch = conform(&all, &spec.schema)?;
                        let mut w = lake
                            .snapshot_writer(&schema_name, &table, spec.schema.clone())
                            .map_err(e)?;
                        w.write(&batch).map_err(e)?;
                        w.commit().map_err(e)?;
                    }
                    Layout::Daily => {
                        let dates = all.column_by_name("date").ok_or_else(|| {
                            Error(format!("{schema_name}.{table} needs a date column"))
                        })?;
                        let dates = cast(dates, &DataType::Date32).map_err(e)?;
                        let dates = dates
                            .as_any()
                            .downcast_ref::<arrow::array::Date32Array>()
                            .expect("date32");
                        let mut distinct: Vec<i32> = dates.iter().flatten().collect();
                        distinct.sort();
                        distinct.dedup();
                        for d in distinct {
                            let mask: arrow::array::BooleanArray =
                                dates.iter().map(|x| Some(x == Some(d))).collect();
                            let part =
                                arrow::compute::filter_record_batch(&all, &mask).map_err(e)?;
                            let batch = conform(&part, &spec.schema)?;
                            let date = chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
                                .expect("date");
                            lake.write_daily(
                                &schema_name,
                                &table,
                                date,
                                spec.schema.clone(),
                                &[batch],
                            )
                            .map_err(e)?;
                        }
                    }
                }
            }
            types.push(schema_name);
        }
        let mut toml = String::new();
        if !self.config_lines.iter().any(|l| l.trim() == "[reporting]") {
            toml.push_str(
                "[reporting]\ncurrency = \"EUR\"\ntimezone = \"UTC\"\ngross_margin = 0.5\n",
            );
        }
        for t in &types {
            toml.push_str(&format!("[sources.{t}]\ntype = \"{t}\"\n"));
        }
        for l in &self.config_lines {
            toml.push_str(l);
            toml.push('\n');
        }
        let path = self.dir.path().join("kpi.toml");
        std::fs::write(&path, &toml).map_err(e)?;
        let config = Config::load(&path).map_err(e)?;
        let engine = Engine::open(&config, &raw_streams()).await.map_err(e)?;
        let range = DateRange::new(from.parse().map_err(e)?, to.parse().map_err(e)?).map_err(e)?;
        let periods = ReportPeriods::resolve(&PeriodSpec::Range(range), range.end).map_err(e)?;
        engine.prepare_kpis(&periods).await.map_err(e)?;
        self.engine = Some(engine);
        Ok(())
    }
}

/// The raw streams a test can create: the demo's, and the custom type's
/// (a company's own rows, of which the demo has none), as the lake keeps
/// them (a daily stream's `date` is its partition, not a column).
fn raw_streams() -> Vec<StreamSpec> {
    use kpi_connector_files::FileType;
    let mut all = kpi_sandbox::raw_streams();
    for s in kpi_connector_files::CustomSource::streams() {
        let fields: Vec<_> = s
            .def
            .schema
            .fields()
            .iter()
            .filter(|f| f.name() != "date")
            .cloned()
            .collect();
        all.push(StreamSpec {
            source_type: kpi_connector_files::CustomSource::TYPE,
            stream: Box::leak(s.def.name.into_boxed_str()),
            layout: Layout::Daily,
            schema: std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        });
    }
    all
}

fn find_stream(source_type: &str, stream: &str) -> Option<StreamSpec> {
    raw_streams()
        .into_iter()
        .find(|s| s.source_type == source_type && s.stream == stream)
}

/// Casts `batch` to `schema` by column name; absent nullable columns are NULL.
fn conform(
    batch: &RecordBatch,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch, Error> {
    let mut cols = Vec::new();
    for f in schema.fields() {
        match batch.column_by_name(f.name()) {
            Some(c) => {
                cols.push(cast(c, f.data_type()).map_err(|x| Error(format!("{}: {x}", f.name())))?)
            }
            None if f.is_nullable() => cols.push(new_null_array(f.data_type(), batch.num_rows())),
            None => return Err(Error(format!("missing column {}", f.name()))),
        }
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(e)
}

#[async_trait]
impl AsyncDB for KpiDb {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let trimmed = sql.trim();
        if let Some(line) = trimmed.strip_prefix("CONFIG ") {
            self.config_lines.push(line.to_string());
            return Ok(DBOutput::StatementComplete(0));
        }
        if let Some(rest) = trimmed.strip_prefix("OVERRIDE ") {
            let (path, content) = rest.split_once('\n').unwrap_or((rest, ""));
            let file = self.dir.path().join("queries").join(path.trim());
            std::fs::create_dir_all(file.parent().expect("has a parent")).map_err(e)?;
            std::fs::write(&file, format!("{}\n", content.trim())).map_err(e)?;
            if !self.config_lines.iter().any(|l| l == "[queries]") {
                self.config_lines.push("[queries]".into());
                self.config_lines.push("dir = \"queries\"".into());
            }
            return Ok(DBOutput::StatementComplete(0));
        }
        if let Some(args) = trimmed.strip_prefix("KPIS ") {
            let parts: Vec<&str> = args.split_whitespace().collect();
            let [from, to] = parts.as_slice() else {
                return Err(Error("usage: KPIS <from> <to>".into()));
            };
            self.build(from, to).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let df = self
            .ctx()
            .sql(sql)
            .await
            .map_err(|x| Error(x.strip_backtrace()))?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await.map_err(|x| Error(x.strip_backtrace()))?;
        let is_statement =
            schema.fields().is_empty() || trimmed.to_ascii_uppercase().starts_with("CREATE");
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for b in &batches {
            let formatters: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(e)?;
            for r in 0..b.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| {
                            let s = f.value(r).to_string();
                            if s.is_empty() {
                                "(empty)".to_string()
                            } else {
                                s
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; schema.fields().len()],
            rows,
        })
    }

    async fn shutdown(&mut self) {}
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::main]
async fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut failed = 0;
    let mut passed = 0;
    for file in slt_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let mut runner = sqllogictest::Runner::new(|| async { Ok(KpiDb::new()) });
        runner.with_column_validator(|_, _| true);
        match runner.run_file_async(&file).await {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(err) => {
                failed += 1;
                println!("FAIL {name}\n{err}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
