//! Printing Arrow batches as a terminal table, CSV or JSON, and the
//! `kpi kpis` filters and terminal layout.

use std::io::Write;

use std::sync::Arc;

use anyhow::{Result, bail};
use arrow::array::{Array, BooleanArray, StringArray};
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

/// Prints `batches` to standard output, floating-point numbers at 15
/// significant digits (see [`tidy_float`]).
pub fn print(batches: &[RecordBatch], format: Format) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_to(&mut out, batches, format)
}

/// [`print`] to `out`.
pub fn write_to(out: &mut dyn Write, batches: &[RecordBatch], format: Format) -> Result<()> {
    let batches: Vec<RecordBatch> = batches.iter().map(tidy_floats).collect::<Result<_>>()?;
    let batches = batches.as_slice();
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}")?;
        }
        // Each batch is encoded into memory and then written, so that a
        // closed pipe is an io::Error here (arrow's writers would turn it
        // into text) and `kpi ... | head` ends quietly.
        Format::Csv => {
            for (i, b) in batches.iter().enumerate() {
                let mut buf = Vec::new();
                arrow::csv::WriterBuilder::new()
                    .with_header(i == 0)
                    .build(&mut buf)
                    .write(b)?;
                out.write_all(&buf)?;
            }
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            out.write_all(&buf)?;
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

/// A KPI grain, as `kpi kpis --grain` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grain {
    /// The company total.
    Total,
    /// One row per channel.
    Channel,
    /// Inbound, outbound, unclassified.
    CampaignType,
    /// One row per campaign.
    Campaign,
}

impl Grain {
    fn as_str(self) -> &'static str {
        match self {
            Grain::Total => "total",
            Grain::Channel => "channel",
            Grain::CampaignType => "campaign_type",
            Grain::Campaign => "campaign",
        }
    }
}

/// What `kpi kpis --grain/--kpi/--channel` keeps.
#[derive(Debug, Clone, Default)]
pub struct KpiFilter {
    /// Only rows of these grains (all when empty).
    pub grains: Vec<Grain>,
    /// Only these KPI keys (all when empty).
    pub kpis: Vec<String>,
    /// Only rows of this channel (channel and campaign rows).
    pub channel: Option<String>,
}

impl KpiFilter {
    /// Refuses a KPI key the catalog does not have, suggesting the closest.
    pub fn check(&self, catalog: &kpi_core::Catalog) -> Result<()> {
        for k in &self.kpis {
            if catalog.get(k).is_none() {
                let hint =
                    kpi_core::suggest::closest(k, catalog.kpis.iter().map(|d| d.key.as_str()))
                        .map(|c| format!(" (did you mean '{c}'?)"))
                        .unwrap_or_default();
                bail!("--kpi: unknown KPI '{k}'{hint}; the keys are listed in queries/kpis.toml");
            }
        }
        Ok(())
    }

    /// The rows of `batches` (the KPI table) that pass. A channel that
    /// matches no row is an error naming the channels there are, so that a
    /// typo is not mistaken for a channel with no data.
    pub fn apply(&self, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        let text = |b: &RecordBatch, name: &str| -> Result<StringArray> {
            let col = b
                .column_by_name(name)
                .ok_or_else(|| anyhow::anyhow!("the KPI table has no {name} column"))?;
            let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)?;
            Ok(arrow::array::cast::as_string_array(&col).clone())
        };
        let mut out = Vec::new();
        let mut channels = std::collections::BTreeSet::new();
        for b in batches {
            let grain = text(b, "grain")?;
            let kpi = text(b, "kpi")?;
            let channel = text(b, "channel")?;
            channels.extend(channel.iter().flatten().map(str::to_string));
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    let g = grain.value(i);
                    let ok = (self.grains.is_empty()
                        || self.grains.iter().any(|x| x.as_str() == g))
                        && (self.kpis.is_empty() || self.kpis.iter().any(|k| k == kpi.value(i)))
                        && self
                            .channel
                            .as_deref()
                            .is_none_or(|c| channel.is_valid(i) && channel.value(i) == c);
                    Some(ok)
                })
                .collect();
            out.push(arrow::compute::filter_record_batch(b, &keep)?);
        }
        if let Some(c) = &self.channel
            && !channels.contains(c)
        {
            let hint = kpi_core::suggest::closest(c, channels.iter().map(String::as_str))
                .map(|x| format!(" (did you mean '{x}'?)"))
                .unwrap_or_default();
            bail!(
                "--channel: no channel '{c}' in this period's KPIs{hint}; there are: {}",
                channels.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(out)
    }
}

/// The width `kpi kpis` fits its table to: `$COLUMNS` when set, else the
/// terminal's; `None` when standard output is not a terminal (a file or a
/// pipe gets every column).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| cols as usize)
}

/// Columns of the `kpi kpis` table that go first when it is wider than the
/// terminal, least useful first.
const DROP_ORDER: [&str; 8] = [
    "benchmark",
    "target",
    "change_vs_last_year",
    "last_year",
    "campaign_type",
    "status",
    "previous",
    "grain",
];

/// `table` (one batch of text columns) without its columns that hold nothing
/// (all NULL, such as `campaign` when only totals are shown) and, when
/// `width` is given, without the least useful columns until it fits.
/// Returns the table and the names of the columns it hid for width.
pub fn fit(table: RecordBatch, width: Option<usize>) -> Result<(RecordBatch, Vec<String>)> {
    let empty = |c: &dyn Array| c.null_count() == c.len();
    let keep: Vec<usize> = (0..table.num_columns())
        .filter(|&i| !empty(table.column(i).as_ref()) || table.num_rows() == 0)
        .collect();
    let mut table = table.project(&keep)?;
    let mut hidden = Vec::new();
    let Some(width) = width else {
        return Ok((table, hidden));
    };
    // A pretty table's width: each column's widest cell plus 3, plus 1.
    let measure = |t: &RecordBatch| -> usize {
        let schema = t.schema();
        1 + (0..t.num_columns())
            .map(|i| {
                let col = arrow::array::cast::as_string_array(t.column(i));
                let cells = col.iter().map(|v| v.map_or(0, |s| s.chars().count()));
                cells
                    .chain([schema.field(i).name().chars().count()])
                    .max()
                    .unwrap_or(0)
                    + 3
            })
            .sum::<usize>()
    };
    for name in DROP_ORDER {
        if measure(&table) <= width {
            break;
        }
        if let Ok(i) = table.schema().index_of(name) {
            let rest: Vec<usize> = (0..table.num_columns()).filter(|&j| j != i).collect();
            table = table.project(&rest)?;
            hidden.push(name.to_string());
        }
    }
    Ok((table, hidden))
}

/// Whether `err` is a write to a closed pipe (`kpi kpis | head`): not a
/// failure of kpi, so the command ends quietly with success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<arrow::error::ArrowError>()
                .is_some_and(|a| {
                    matches!(a, arrow::error::ArrowError::IoError(_, io)
                    if io.kind() == std::io::ErrorKind::BrokenPipe)
                })
    })
}

/// `v` rounded to 15 significant digits, the most a double carries exactly
/// through decimal text: a sum of amounts such as 400.07309999999995 (the
/// binary rounding of adding 0.1s) prints as 400.0731, as a spreadsheet or
/// DuckDB shows it, while every digit the data had is kept.
pub fn tidy_float(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

fn tidy_floats(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::{Float32Array, Float64Array};
    use arrow::datatypes::DataType;
    let columns: Vec<Arc<dyn Array>> = batch
        .columns()
        .iter()
        .map(|c| -> Arc<dyn Array> {
            match c.data_type() {
                DataType::Float64 => {
                    let a =
                        arrow::array::cast::as_primitive_array::<arrow::datatypes::Float64Type>(c);
                    Arc::new(
                        a.iter()
                            .map(|v| v.map(tidy_float))
                            .collect::<Float64Array>(),
                    )
                }
                DataType::Float32 => {
                    let a =
                        arrow::array::cast::as_primitive_array::<arrow::datatypes::Float32Type>(c);
                    Arc::new(
                        a.iter()
                            .map(|v| v.map(|x| format!("{x:.6e}").parse().unwrap_or(x)))
                            .collect::<Float32Array>(),
                    )
                }
                _ => c.clone(),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::tidy_float;

    #[test]
    fn floats_keep_their_digits_and_lose_the_binary_noise() {
        assert_eq!(tidy_float(400.07309999999995).to_string(), "400.0731");
        assert_eq!(tidy_float(0.1 + 0.2).to_string(), "0.3");
        assert_eq!(tidy_float(1234567.891).to_string(), "1234567.891");
        assert_eq!(tidy_float(-2.5e-7).to_string(), "-0.00000025");
        assert_eq!(tidy_float(123456789012345.6).to_string(), "123456789012346");
        assert!(tidy_float(f64::NAN).is_nan());
    }
}
