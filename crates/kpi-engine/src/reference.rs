//! Reference tables: channel mapping, channel types, campaign overrides, FX
//! rates and benchmarks, read from CSV with a fixed schema each so that a
//! malformed file fails with its name and line instead of producing wrong
//! numbers.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::EngineError;
use crate::queries::QuerySet;

/// `(file under reference/, table name, schema)` for every reference table.
pub fn tables() -> Vec<(&'static str, &'static str, SchemaRef)> {
    let s = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    vec![
        (
            "channel_mapping.csv",
            "ref_channel_mapping",
            Arc::new(Schema::new(vec![
                s("system", false),
                s("key", false),
                s("channel", false),
            ])),
        ),
        (
            "channels.csv",
            "ref_channels",
            Arc::new(Schema::new(vec![
                s("channel", false),
                s("campaign_type", false),
                s("label", true),
            ])),
        ),
        (
            "campaign_overrides.csv",
            "ref_campaign_overrides",
            Arc::new(Schema::new(vec![
                s("campaign_key", false),
                s("channel", false),
                s("campaign_type", true),
            ])),
        ),
        (
            "fx_rates.csv",
            "ref_fx_rates",
            Arc::new(Schema::new(vec![
                Field::new("valid_from", DataType::Date32, false),
                s("currency", false),
                Field::new("per_usd", DataType::Float64, false),
            ])),
        ),
        (
            "benchmarks.csv",
            "benchmarks",
            Arc::new(Schema::new(vec![
                s("kpi", false),
                s("channel", true),
                s("industry", false),
                f("value"),
                f("low"),
                f("high"),
                s("currency", true),
                s("source", false),
                Field::new("year", DataType::Int64, true),
                s("quality", true),
                s("note", true),
            ])),
        ),
    ]
}

/// Reads every reference file and registers it.
pub fn register(ctx: &SessionContext, queries: &QuerySet) -> Result<(), EngineError> {
    for (file, table, schema) in tables() {
        let path = format!("reference/{file}");
        let q = queries.get(&path).ok_or_else(|| EngineError::Queries {
            origin: format!("queries/{path}"),
            message: "missing".into(),
        })?;
        let batches = read_csv(&q.text, &q.origin, schema.clone())?;
        let mem = MemTable::try_new(schema, vec![batches]).map_err(|e| EngineError::Queries {
            origin: q.origin.clone(),
            message: e.to_string(),
        })?;
        ctx.register_table(table, Arc::new(mem))
            .map_err(|e| EngineError::DataFusion(e.to_string()))?;
    }
    Ok(())
}

/// Parses CSV text with a header and `#` comment lines against `schema`.
pub fn read_csv(
    text: &str,
    origin: &str,
    schema: SchemaRef,
) -> Result<Vec<RecordBatch>, EngineError> {
    let err = |message: String| EngineError::Queries {
        origin: origin.to_string(),
        message,
    };
    // Check the header ourselves: the CSV reader would match columns by position.
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .ok_or_else(|| err("no header line".into()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let expected: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names != expected {
        return Err(err(format!(
            "header is `{header}`, expected `{}`",
            expected.join(",")
        )));
    }
    let reader = arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .with_comment(b'#')
        .build(std::io::Cursor::new(text.as_bytes()))
        .map_err(|e| err(e.to_string()))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| err(e.to_string()))?);
    }
    Ok(batches)
}
