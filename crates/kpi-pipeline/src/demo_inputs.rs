//! The demo's input files: what the synthetic company's finance team, SEO
//! tool and social tools would export, written where the demo's
//! `kpi.toml` file sources read them, in the layouts people get from those
//! tools:
//!
//! - `inputs/costs/costs-YYYY-MM.csv`: a Spanish spreadsheet's CSV, `;`
//!   between fields, decimal commas, `dd/mm/yyyy` dates, Spanish headers
//!   and a byte order mark, one file a month.
//! - `inputs/backlinks/ahrefs-overview-YYYY-MM.csv`: Ahrefs' header names,
//!   one file a month.
//! - `inputs/social/page_insights/page-insights-YYYY-MM.jsonl`: JSON Lines.
//! - `inputs/social/mentions/mentions-YYYY-MM.tsv`: tab-separated, with
//!   the listening tool's own headers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::util::display::array_value_to_string;
use chrono::NaiveDate;
use kpi_lake::StreamSpec;
use kpi_sandbox::{Company, RawSink, SinkError};

use crate::PipelineError;

/// The `[sources.*]` sections that load the files.
pub(crate) const SOURCES_TOML: &str = r#"# Sources that come as files (see the README). The demo wrote them to
# inputs/ as finance, Ahrefs and the social tools export them; `kpi sync`
# loads what is new or changed, and `kpi check` reads them without loading.
[sources.social]
type = "social"
[sources.social.page_insights]
path = "inputs/social/page_insights"     # JSON Lines, one object per network and day
[sources.social.mentions]
path = "inputs/social/mentions"          # the listening tool's tab-separated export
columns = { mentions_positive = "Positive", mentions_neutral = "Neutral", mentions_negative = "Negative" }

[sources.backlinks]
type = "backlinks"
path = "inputs/backlinks"
preset = "ahrefs"                        # Ahrefs' header names
values = { domain = "example.com" }      # the export is of one site

[sources.costs]
type = "costs"
path = "inputs/costs"                    # finance's monthly spreadsheets: ';' and decimal commas
date_format = "%d/%m/%Y"
[sources.costs.columns]
date = "Fecha"
vendor = "Proveedor"
category = "Categoría"
channel = "Canal"
campaign = "Campaña"
amount = "Importe"
currency = "Moneda"
"#;

/// Generates the company and writes its file sources' files under `dir`.
pub(crate) fn write(dir: &Path, company: &Company) -> Result<(), PipelineError> {
    let mut sink = Inputs::default();
    kpi_sandbox::generate(company, &mut sink).map_err(|e| PipelineError::Demo(e.to_string()))?;
    for (path, text) in sink.files {
        let file = dir.join(&path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&file, text).map_err(|e| io(&file, e))?;
    }
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::Demo(format!("{}: {e}", path.display()))
}

/// The files' text, by path under `inputs/`.
#[derive(Default)]
struct Inputs {
    files: BTreeMap<PathBuf, String>,
}

/// How one stream is written.
struct Layout {
    /// The file of a month, `{}` for `YYYY-MM`.
    file: &'static str,
    /// The header of each stream column, in file order (the date first).
    headers: &'static [&'static str],
    /// What starts the file (a header line, or nothing for JSON Lines).
    kind: Kind,
}

enum Kind {
    /// Delimited text: separator, decimal comma, date format, byte order mark.
    Text(u8, bool, &'static str, bool),
    /// One JSON object a line, keys the stream's columns.
    Json,
}

fn layout(spec: &StreamSpec) -> Option<Layout> {
    Some(match (spec.source_type, spec.stream) {
        ("costs", "marketing_costs") => Layout {
            file: "costs/costs-{}.csv",
            headers: &[
                "Fecha",
                "Proveedor",
                "Categoría",
                "Canal",
                "Campaña",
                "Importe",
                "Moneda",
            ],
            kind: Kind::Text(b';', true, "%d/%m/%Y", true),
        },
        ("backlinks", "snapshots") => Layout {
            // The site is the export's subject, not a column (see `values`).
            file: "backlinks/ahrefs-overview-{}.csv",
            headers: &[
                "Date",
                "",
                "Referring domains",
                "Backlinks",
                "Domain Rating",
            ],
            kind: Kind::Text(b',', false, "%Y-%m-%d", false),
        },
        ("social", "page_insights") => Layout {
            file: "social/page_insights/page-insights-{}.jsonl",
            headers: &[],
            kind: Kind::Json,
        },
        ("social", "mentions") => Layout {
            file: "social/mentions/mentions-{}.tsv",
            headers: &["Date", "Network", "Positive", "Neutral", "Negative"],
            kind: Kind::Text(b'\t', false, "%Y-%m-%d", false),
        },
        _ => return None,
    })
}

impl RawSink for Inputs {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        batch: RecordBatch,
    ) -> Result<(), SinkError> {
        let Some(layout) = layout(spec) else {
            // A connector's stream: the sandbox serves it.
            return Ok(());
        };
        let path = PathBuf::from(layout.file.replace("{}", &date.format("%Y-%m").to_string()));
        let text = self.files.entry(path).or_default();
        let fail = |e: arrow::error::ArrowError| SinkError(e.to_string());
        match layout.kind {
            Kind::Json => {
                for row in 0..batch.num_rows() {
                    let mut object = serde_json::Map::new();
                    object.insert("date".into(), date.to_string().into());
                    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                        let value = array_value_to_string(column, row).map_err(fail)?;
                        let value = match value.parse::<i64>() {
                            Ok(n) if field.data_type().is_integer() => serde_json::Value::from(n),
                            _ => serde_json::Value::from(value),
                        };
                        object.insert(field.name().clone(), value);
                    }
                    text.push_str(&serde_json::Value::Object(object).to_string());
                    text.push('\n');
                }
            }
            Kind::Text(delimiter, comma, date_format, bom) => {
                let mut w = csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .from_writer(Vec::new());
                if text.is_empty() {
                    if bom {
                        text.push('\u{feff}');
                    }
                    let headers: Vec<&str> = layout
                        .headers
                        .iter()
                        .copied()
                        .filter(|h| !h.is_empty())
                        .collect();
                    w.write_record(&headers)
                        .map_err(|e| SinkError(e.to_string()))?;
                }
                for row in 0..batch.num_rows() {
                    let mut record = vec![date.format(date_format).to_string()];
                    for (i, (field, column)) in batch
                        .schema()
                        .fields()
                        .iter()
                        .zip(batch.columns())
                        .enumerate()
                    {
                        if layout.headers.get(i + 1) == Some(&"") {
                            continue;
                        }
                        let mut value = if column.is_null(row) {
                            String::new()
                        } else {
                            array_value_to_string(column, row).map_err(fail)?
                        };
                        if comma && field.data_type().is_floating() {
                            value = value.replace('.', ",");
                        }
                        record.push(value);
                    }
                    w.write_record(&record)
                        .map_err(|e| SinkError(e.to_string()))?;
                }
                let bytes = w.into_inner().map_err(|e| SinkError(e.to_string()))?;
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        Ok(())
    }

    fn snapshot(&mut self, _spec: &StreamSpec, _batch: RecordBatch) -> Result<(), SinkError> {
        // Every snapshot stream belongs to a connector.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generated row of the file types, as text: `type.stream`, date,
    /// then the columns in the stream's order.
    #[derive(Default)]
    struct Collect(Vec<String>);

    fn row(label: &str, date: NaiveDate, batch: &RecordBatch, r: usize, skip: &str) -> String {
        let mut cells = vec![label.to_string(), date.to_string()];
        for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
            if f.name() != skip {
                cells.push(array_value_to_string(c, r).unwrap());
            }
        }
        cells.join("|")
    }

    impl RawSink for Collect {
        fn daily(
            &mut self,
            spec: &StreamSpec,
            date: NaiveDate,
            b: RecordBatch,
        ) -> Result<(), SinkError> {
            if layout(spec).is_some() {
                let label = format!("{}.{}", spec.source_type, spec.stream);
                self.0
                    .extend((0..b.num_rows()).map(|r| row(&label, date, &b, r, "date")));
            }
            Ok(())
        }
        fn snapshot(&mut self, _: &StreamSpec, _: RecordBatch) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// The demo's files, read by the file sources the demo configures, give
    /// back exactly the generator's rows: every value of every row survives
    /// the decimal commas, Spanish dates, preset headers, JSON and TSV.
    #[test]
    fn the_demo_files_load_back_into_the_generators_rows() {
        let end = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let company = Company {
            end_date: end,
            months: 3,
            scale: 0.5,
            ..Company::new(end)
        };
        let mut expected = Collect::default();
        kpi_sandbox::generate(&company, &mut expected).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("inputs"), &company).unwrap();

        let sources: toml::Table = toml::from_str(SOURCES_TOML).unwrap();
        let mut got = Vec::new();
        for (name, section) in sources["sources"].as_table().unwrap() {
            let mut settings = section.as_table().unwrap().clone();
            // `type` is the config's, not the section's settings.
            let kind = settings.remove("type").unwrap();
            let kind = kind.as_str().unwrap();
            let t = crate::registry::find(kind).unwrap();
            let streams = t.file_streams().unwrap();
            for (stream, s) in t.file_inputs(&settings).unwrap().unwrap() {
                let fs = streams.iter().find(|f| f.def.name == stream).unwrap();
                let label = format!("{name}.{stream}");
                for f in kpi_connector_files::find_files(&s, dir.path()).unwrap() {
                    let r = kpi_connector_files::read_file(&f, fs, &s).unwrap();
                    assert!(r.bad.is_empty(), "{}", f.name);
                    let b = &r.batch;
                    let dates = b.column_by_name("date").unwrap();
                    for i in 0..b.num_rows() {
                        let date: NaiveDate =
                            array_value_to_string(dates, i).unwrap().parse().unwrap();
                        got.push(row(&label, date, b, i, "date"));
                    }
                }
            }
        }
        let mut expected = expected.0;
        expected.sort();
        got.sort();
        assert!(expected.len() > 1000, "{}", expected.len());
        for kind in [
            "costs.",
            "backlinks.",
            "social.page_insights",
            "social.mentions",
        ] {
            assert!(expected.iter().any(|r| r.starts_with(kind)), "{kind}");
        }
        assert_eq!(got, expected);
    }
}
