//! Registering raw streams as DataFusion tables.
//!
//! Each source becomes a schema and each stream a table in it
//! (`google_ads.campaign_stats`). Daily streams are listing tables with the
//! `date` partition column typed as DATE: a filter on `date` prunes whole
//! directories before any file is opened. Registration reads no data: the schema
//! comes from the stream's spec, not from the files. A stream with no data yet
//! is registered as an empty table of the same shape, so the SQL built on it
//! still plans and returns no rows.
//!
//! A table with files checks, when a query plans a scan of it, that each file
//! the scan reads (after partition pruning, the same way DataFusion prunes) is
//! a whole Parquet file: DataFusion itself skips 0-byte files silently, which
//! would drop a day, or a whole snapshot, from the numbers. A file that fails
//! stops the query with [`crate::UnreadableFiles`], naming it and the sync
//! that writes it again. Files outside the scanned days are not opened.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, AsArray, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    DynamicFileCatalog, MemorySchemaProvider, ScanArgs, ScanResult, Session, TableProvider,
    UrlTableFactory,
};
use datafusion::common::{Constraints, DFSchema, Statistics, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::check::{DataFile, check_parquet};
use crate::{
    BadFile, FileRole, Lake, LakeError, Layout, StreamContents, StreamSpec, UnreadableFiles,
};

/// A stream as registered: where it is and what it holds.
#[derive(Debug, Clone)]
pub struct RegisteredStream {
    /// Source name (the schema the table is in).
    pub source: String,
    /// Connector type of the source.
    pub source_type: String,
    /// Stream name (the table name).
    pub stream: String,
    /// Daily or snapshot.
    pub layout: Layout,
    /// What the lake holds for it.
    pub contents: StreamContents,
}

/// The schema of a stream as SQL sees it: the file columns plus `date` for
/// daily streams.
pub fn table_schema(spec: &StreamSpec) -> SchemaRef {
    match spec.layout {
        Layout::Snapshot => spec.schema.clone(),
        Layout::Daily => {
            let mut fields: Vec<Field> = spec
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("date", DataType::Date32, false));
            Arc::new(Schema::new(fields))
        }
    }
}

/// Registers `source`'s stream `spec` in `ctx` as `<source>.<stream>`.
pub fn register_stream(
    ctx: &SessionContext,
    lake: &Lake,
    source: &str,
    spec: &StreamSpec,
) -> Result<RegisteredStream, LakeError> {
    let table = format!("{source}.{}", spec.stream);
    let err = |message: String| LakeError::Register {
        table: table.clone(),
        message,
    };
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| err("the default catalog is missing".into()))?;
    if catalog.schema(source).is_none() {
        catalog
            .register_schema(source, Arc::new(MemorySchemaProvider::new()))
            .map_err(|e| err(e.to_string()))?;
    }
    let (contents, mut files) = lake.scan_stream(source, spec.stream)?;
    if spec.layout == Layout::Daily {
        // As DataFusion: a daily table reads only files inside a partition.
        files.retain(|f| f.date.is_some());
    }
    let dir = lake.stream_dir(source, spec.stream);
    let provider: Arc<dyn datafusion::catalog::TableProvider> = if contents.has_data() {
        let dir = std::path::absolute(&dir).map_err(|e| crate::io(&dir, e))?;
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))
            .map_err(|e| err(e.to_string()))?;
        let mut options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if spec.layout == Layout::Daily {
            options =
                options.with_table_partition_cols(vec![("date".to_string(), DataType::Date32)]);
        }
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(spec.schema.clone());
        let listing = ListingTable::try_new(config).map_err(|e| err(e.to_string()))?;
        Arc::new(CheckedTable {
            inner: listing,
            source: source.to_string(),
            stream: spec.stream.to_string(),
            partitioned: spec.layout == Layout::Daily,
            checked: files.iter().map(|_| OnceLock::new()).collect(),
            files,
        })
    } else {
        Arc::new(
            MemTable::try_new(table_schema(spec), vec![vec![]]).map_err(|e| err(e.to_string()))?,
        )
    };
    ctx.register_table(TableReference::partial(source, spec.stream), provider)
        .map_err(|e| err(e.to_string()))?;
    Ok(RegisteredStream {
        source: source.to_string(),
        source_type: spec.source_type.to_string(),
        stream: spec.stream.to_string(),
        layout: spec.layout,
        contents,
    })
}

/// `ctx` with tables named by a file's path (`SELECT * FROM
/// 'lake/canonical/crm_deals/part-0.parquet'`), as DataFusion's
/// `SessionContext::enable_url_table` gives, except that the files such a
/// table reads are checked first with [`Lake::check_path`]: DataFusion would
/// read an empty file as a table without rows.
pub fn enable_checked_url_tables(ctx: SessionContext, lake: &Lake) -> SessionContext {
    let current = Arc::clone(ctx.state().catalog_list());
    let factory = Arc::new(DynamicListTableFactory::default());
    let checked = Arc::new(CheckedUrlTables {
        inner: Arc::clone(&factory),
        lake: lake.clone(),
    });
    let catalogs = Arc::new(DynamicFileCatalog::new(
        current,
        checked as Arc<dyn UrlTableFactory>,
    ));
    let session_id = ctx.session_id();
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalogs)
        .build()
        .into();
    factory.session_store().with_state(ctx.state_weak_ref());
    ctx
}

/// DataFusion's tables by path, with their files checked.
#[derive(Debug)]
struct CheckedUrlTables {
    inner: Arc<DynamicListTableFactory>,
    lake: Lake,
}

#[async_trait::async_trait]
impl UrlTableFactory for CheckedUrlTables {
    async fn try_new(&self, url: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        // Only a name DataFusion can read as a table is a path worth checking.
        let Some(table) = self.inner.try_new(url).await? else {
            return Ok(None);
        };
        let path = url.strip_prefix("file://").unwrap_or(url);
        if !path.contains("://") {
            self.lake
                .check_path(std::path::Path::new(path))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        }
        Ok(Some(table))
    }
}

/// A stream's listing table that checks the files a scan will read before
/// DataFusion reads (or silently skips) them.
#[derive(Debug)]
struct CheckedTable {
    inner: ListingTable,
    source: String,
    stream: String,
    /// Whether files carry the `date` partition.
    partitioned: bool,
    /// The stream's files as registration found them.
    files: Vec<DataFile>,
    /// Each file's check, done at most once per session.
    checked: Vec<OnceLock<Result<(), String>>>,
}

impl CheckedTable {
    /// Indexes of the files a scan with `filters` reads: those of the
    /// partitions the filters on `date` keep, as `ListingTable` prunes them.
    fn selected(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<usize>> {
        let all = || (0..self.files.len()).collect();
        if !self.partitioned {
            return Ok(all());
        }
        let on_date = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&["date"], f))
            .cloned();
        let Some(predicate) = conjunction(on_date) else {
            return Ok(all());
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            "date",
            DataType::Date32,
            true,
        )]));
        let df_schema = DFSchema::try_from(schema.clone())?;
        let predicate = state.create_physical_expr(predicate, &df_schema)?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        let dates = Date32Array::from(
            self.files
                .iter()
                .map(|f| f.date.map(|d| (d - epoch).num_days() as i32))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(schema, vec![Arc::new(dates)])?;
        let keep = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let keep = keep.as_boolean();
        Ok((0..self.files.len())
            .filter(|&i| keep.is_valid(i) && keep.value(i))
            .collect())
    }

    /// Fails with every unreadable file among those a scan reads.
    fn check(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<()> {
        let mut bad = Vec::new();
        for i in self.selected(state, filters)? {
            let file = &self.files[i];
            if let Err(reason) = self.checked[i].get_or_init(|| check_parquet(&file.path)) {
                bad.push(BadFile {
                    role: FileRole::Raw {
                        source: self.source.clone(),
                        stream: self.stream.clone(),
                        date: file.date,
                    },
                    path: file.path.clone(),
                    reason: reason.clone(),
                });
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort();
        Err(DataFusionError::External(Box::new(UnreadableFiles {
            files: bad,
        })))
    }
}

#[async_trait::async_trait]
impl TableProvider for CheckedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.check(state, filters)?;
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        self.check(state, args.filters().unwrap_or(&[]))?;
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.insert_into(state, input, insert_op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn spec(layout: Layout) -> StreamSpec {
        StreamSpec {
            source_type: "test",
            stream: "facts",
            layout,
            schema: Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        }
    }

    fn batch(spec: &StreamSpec) -> RecordBatch {
        RecordBatch::try_new(
            spec.schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .unwrap()
    }

    async fn count(ctx: &SessionContext, sql: &str) -> DfResult<usize> {
        let b = ctx.sql(sql).await?.collect().await?;
        Ok(b.iter().map(RecordBatch::num_rows).sum())
    }

    fn unreadable(e: &DataFusionError) -> UnreadableFiles {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(u) = err.downcast_ref::<UnreadableFiles>() {
                return u.clone();
            }
            next = err.source();
        }
        panic!("not an UnreadableFiles error: {e}")
    }

    #[tokio::test]
    async fn an_empty_file_stops_the_scans_that_read_its_day_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let spec = spec(Layout::Daily);
        let days: Vec<chrono::NaiveDate> = (1..=30)
            .map(|d| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
            .collect();
        for d in &days {
            lake.write_daily("src", "facts", *d, spec.schema.clone(), &[batch(&spec)])
                .unwrap();
        }
        let empty = lake
            .partition_dir("src", "facts", days[2])
            .join(crate::PART_FILE);
        std::fs::write(&empty, b"").unwrap();
        let ctx = SessionContext::new();
        register_stream(&ctx, &lake, "src", &spec).unwrap();

        // DataFusion alone would return 29 rows without a word.
        let e = count(&ctx, "SELECT * FROM src.facts").await.unwrap_err();
        let u = unreadable(&e);
        assert_eq!(u.files.len(), 1);
        assert_eq!(u.files[0].path, empty);
        assert_eq!(
            u.files[0].role,
            FileRole::Raw {
                source: "src".into(),
                stream: "facts".into(),
                date: Some(days[2])
            }
        );
        assert_eq!(
            u.fixes(),
            ["kpi sync --source src --from 2026-11-03 --to 2026-11-03"]
        );
        assert!(
            count(
                &ctx,
                "SELECT * FROM src.facts WHERE date BETWEEN DATE '2026-11-02' AND DATE '2026-11-04'"
            )
            .await
            .is_err()
        );
        // Days around it are read as before, and the file is not opened.
        let n = count(
            &ctx,
            "SELECT * FROM src.facts WHERE date >= DATE '2026-11-04' OR date = DATE '2026-11-01'",
        )
        .await
        .unwrap();
        assert_eq!(n, 28);
    }

    #[tokio::test]
    async fn an_empty_snapshot_is_an_error_not_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let spec = spec(Layout::Snapshot);
        let mut w = lake
            .snapshot_writer("src", "facts", spec.schema.clone())
            .unwrap();
        w.write(&batch(&spec)).unwrap();
        w.commit().unwrap();
        let file = lake.stream_dir("src", "facts").join(crate::PART_FILE);
        std::fs::write(&file, b"").unwrap();
        let ctx = SessionContext::new();
        register_stream(&ctx, &lake, "src", &spec).unwrap();
        let e = count(&ctx, "SELECT count(*) FROM src.facts")
            .await
            .unwrap_err();
        let u = unreadable(&e);
        assert_eq!(u.files[0].path, file);
        assert_eq!(u.fixes(), ["kpi sync --source src --full-refresh"]);
    }
}
