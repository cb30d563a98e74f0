//! Registering raw streams as DataFusion tables.
//!
//! Each source becomes a schema and each stream a table in it
//! (`google_ads.campaign_stats`). Daily streams are listing tables with the
//! `date` partition column typed as DATE: a filter on `date` prunes whole
//! directories before any file is opened. Registration reads no data: the schema
//! comes from the stream's spec, not from the files. A stream with no data yet
//! is registered as an empty table of the same shape, so the SQL built on it
//! still plans and returns no rows.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

use crate::{Lake, LakeError, Layout, StreamContents, StreamSpec};

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
    let contents = lake.stream_contents(source, spec.stream)?;
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
        Arc::new(ListingTable::try_new(config).map_err(|e| err(e.to_string()))?)
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
