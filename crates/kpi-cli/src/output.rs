//! Printing Arrow batches as a terminal table, CSV or JSON.

use std::io::Write;

use std::sync::Arc;

use anyhow::Result;
use arrow::record_batch::RecordBatch;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable table for the terminal.
    Table,
    /// CSV with a header row; NULL is an empty field.
    Csv,
    /// A JSON array of objects; NULL is `null`.
    Json,
}

/// Prints `batches` to standard output.
pub fn print(batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// The `kpi kpis` table for a terminal: every value in its unit (currency,
/// percent, minutes:seconds), changes as signed percentages, NULL as "n/a".
/// CSV and JSON keep the raw numbers.
pub fn kpi_table(
    batches: &[RecordBatch],
    catalog: &kpi_core::Catalog,
    currency: &str,
    locale: kpi_core::format::Locale,
) -> Result<Vec<RecordBatch>> {
    use arrow::array::{Array, AsArray, StringArray};
    use arrow::datatypes::Float64Type;
    use kpi_core::format;
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str| -> Result<Vec<Option<String>>> {
            let col = b
                .column_by_name(name)
                .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
            // Strings may come as Utf8View from Parquet: normalise.
            let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)?;
            let col = col.as_string::<i32>();
            Ok((0..col.len())
                .map(|i| (!col.is_null(i)).then(|| col.value(i).to_string()))
                .collect())
        };
        let num = |name: &str| -> Result<Vec<Option<f64>>> {
            let col = b
                .column_by_name(name)
                .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
            let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Float64)?;
            let col = col.as_primitive::<Float64Type>();
            Ok((0..col.len())
                .map(|i| (!col.is_null(i)).then(|| col.value(i)))
                .collect())
        };
        let kpis = text("kpi")?;
        let units: Vec<kpi_core::Unit> = kpis
            .iter()
            .map(|k| {
                k.as_deref()
                    .and_then(|k| catalog.get(k))
                    .map(|d| d.unit)
                    .unwrap_or(kpi_core::Unit::Ratio)
            })
            .collect();
        let mut columns: Vec<(String, Arc<dyn Array>)> = Vec::new();
        for name in ["grain", "channel", "campaign_type", "campaign", "kpi"] {
            columns.push((name.into(), Arc::new(StringArray::from(text(name)?))));
        }
        for name in ["value", "previous", "last_year", "target", "benchmark"] {
            let values: Vec<String> = num(name)?
                .into_iter()
                .zip(&units)
                .map(|(v, u)| format::value(v, *u, currency, locale))
                .collect();
            columns.push((name.into(), Arc::new(StringArray::from(values))));
        }
        for name in ["change_vs_previous", "change_vs_last_year"] {
            let values: Vec<String> = num(name)?
                .into_iter()
                .map(|v| format::change(v, locale))
                .collect();
            columns.push((name.into(), Arc::new(StringArray::from(values))));
        }
        columns.push((
            "status".into(),
            Arc::new(StringArray::from(text("status")?)),
        ));
        out.push(RecordBatch::try_from_iter(columns)?);
    }
    Ok(out)
}
