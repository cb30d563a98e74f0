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
    rows: &[kpi_pipeline::KpiRow],
    catalog: &kpi_core::Catalog,
    currency: &str,
    locale: kpi_core::format::Locale,
) -> Result<Vec<RecordBatch>> {
    use arrow::array::{Array, StringArray};
    use kpi_core::format;
    let unit = |k: &str| {
        catalog
            .get(k)
            .map(|d| d.unit)
            .unwrap_or(kpi_core::Unit::Ratio)
    };
    let text = |f: &dyn Fn(&kpi_pipeline::KpiRow) -> Option<String>| -> Arc<dyn Array> {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let value = |f: &dyn Fn(&kpi_pipeline::KpiRow) -> Option<f64>| -> Arc<dyn Array> {
        text(&|r| Some(format::value(f(r), unit(&r.kpi), currency, locale)))
    };
    let change = |f: &dyn Fn(&kpi_pipeline::KpiRow) -> Option<f64>| -> Arc<dyn Array> {
        text(&|r| Some(format::change(f(r), locale)))
    };
    let columns: Vec<(&str, Arc<dyn Array>)> = vec![
        ("grain", text(&|r| Some(r.grain.clone()))),
        ("channel", text(&|r| r.channel.clone())),
        ("campaign_type", text(&|r| r.campaign_type.clone())),
        ("campaign", text(&|r| r.campaign.clone())),
        ("kpi", text(&|r| Some(r.kpi.clone()))),
        ("value", value(&|r| r.value)),
        ("previous", value(&|r| r.previous)),
        ("last_year", value(&|r| r.last_year)),
        ("target", value(&|r| r.target)),
        ("benchmark", value(&|r| r.benchmark)),
        ("change_vs_previous", change(&|r| r.change_vs_previous)),
        ("change_vs_last_year", change(&|r| r.change_vs_last_year)),
        ("status", text(&|r| Some(r.status.clone()))),
    ];
    Ok(vec![RecordBatch::try_from_iter(columns)?])
}
