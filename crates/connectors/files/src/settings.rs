//! The settings of one stream's files, as `kpi.toml` writes them, and their
//! checks (run by `kpi check` and before every load).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use serde::Deserialize;

use crate::types::FileStream;
use crate::value::{Decimal, parse_cell};

/// Where one stream's files are and how to read them.
///
/// ```toml
/// [sources.costs]
/// type = "costs"
/// path = "inputs/costs"          # every .csv, .tsv, .txt, .jsonl, .ndjson, .parquet in it
/// date_format = "%d/%m/%Y"
/// [sources.costs.columns]         # stream column = the file's header
/// amount = "Importe"
/// [sources.costs.values]          # a column the files lack, the same on every row
/// currency = "EUR"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// A folder (every file in it with a known extension, or the ones
    /// `pattern` matches; not its subfolders) or one file. Relative paths
    /// are relative to the folder of `kpi.toml`. Either this or `postgres`.
    pub path: Option<PathBuf>,
    /// Rows from a query against a PostgreSQL database instead of files
    /// (the company's warehouse or CRM tables).
    pub postgres: Option<PostgresInput>,
    /// Only the files whose name matches this pattern (`*` is any run of
    /// characters, `?` one character), e.g. `"costs-*.csv"`.
    pub pattern: Option<String>,
    /// `"csv"` (also tab- or semicolon-separated text), `"jsonl"` (one JSON
    /// object a line) or `"parquet"`; by default each file's extension says
    /// (`.csv`, `.tsv`, `.txt`; `.jsonl`, `.ndjson`; `.parquet`).
    pub format: Option<Format>,
    /// The CSV field separator; by default the one of `,` `;` tab `|` the
    /// header line uses most.
    pub delimiter: Option<char>,
    /// The decimal separator of numbers written as text, `"."` or `","`; by
    /// default `","` in a `;`-separated file (what spreadsheets in most of
    /// Europe export) and `"."` otherwise. The other one may group
    /// thousands (`1.234,56`), in groups of three digits only.
    pub decimal: Option<Decimal>,
    /// How dates are written, in strftime notation (`"%d/%m/%Y"`); by
    /// default ISO 8601 (`2026-10-31`, a time after it is ignored).
    pub date_format: Option<String>,
    /// The text encoding (a WHATWG label: `"windows-1252"`, `"utf-16le"`,
    /// `"iso-8859-15"`); by default UTF-8, or UTF-16 when the file starts
    /// with its byte order mark, or Windows-1252 when the file is not
    /// UTF-8 (Excel's "CSV" on Windows).
    pub encoding: Option<String>,
    /// A known export layout whose headers are recognised without
    /// `columns` (backlinks: `"ahrefs"`, `"semrush"`, `"moz"`).
    pub preset: Option<String>,
    /// The file's header for a stream column, where it is not the column's
    /// own name: `amount = "Importe"`. Headers match ignoring case, and
    /// spaces, dots and dashes match `_`.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// A value for a column the files do not have, the same on every row
    /// (`currency = "EUR"`, `domain = "example.com"`).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// What a file with bad rows (a number that is not one, a date that
    /// does not parse, a required value missing) does: `"reject_file"`
    /// (the default) fails the sync and loads nothing of the file;
    /// `"skip"` loads its other rows and writes the bad ones, with line,
    /// column and reason, to `<lake>/_rejects/<source>/`.
    #[serde(default)]
    pub on_bad_rows: OnBadRows,
}

/// A query whose rows load a stream, read as a file's would be: its
/// column names are the headers (`columns` maps them), its values are
/// read as text by the same rules.
///
/// ```toml
/// postgres = { url = { env = "FINANCE_DB_URL" }, query = "SELECT booked_on AS date, ... FROM costs", incremental = "updated_at" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresInput {
    /// The connection URL (`postgres://user:password@host:5432/db`), read
    /// from the environment variable named: it holds the password.
    pub url: kpi_connector::SecretRef,
    /// The query. Its rows are read in batches, never all at once.
    pub query: String,
    /// A PEM file of the certificate authority the server's certificate
    /// must be signed by (a cloud provider's own, like Amazon RDS's; the
    /// public ones count too), relative to the folder of `kpi.toml`. The
    /// URL's `sslmode` (`prefer` by default, `require`, `disable`) says
    /// whether to encrypt; as with `psql`, the certificate is checked only
    /// when this is set (then also for the host name).
    pub ca_file: Option<PathBuf>,
    /// A column of the query that grows whenever a row is added or changed
    /// (`updated_at`, an increasing id). A sync then reads again only the
    /// days that have a row past the greatest value read before; without
    /// it, every sync reads the whole query. A row deleted at the source
    /// leaves the lake only with `--full-refresh`.
    pub incremental: Option<String>,
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text.
    Csv,
    /// One JSON object a line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// What bad rows do to their file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadRows {
    /// Nothing of the file is loaded; the sync fails naming the rows.
    #[default]
    RejectFile,
    /// The other rows are loaded; the bad ones go to a rejects file.
    Skip,
}

impl Format {
    /// The format a file name's extension says, if it says one.
    pub fn of_name(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

impl FileSettings {
    /// The folder or file, resolved against `base_dir` (the folder of
    /// `kpi.toml`); empty for a query.
    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        match &self.path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => base_dir.join(p),
            None => PathBuf::new(),
        }
    }

    /// Checks the settings against the stream they load: every column they
    /// name is one of its columns, the preset exists, the date format, the
    /// encoding and each fixed value can be used.
    pub fn validate(&self, stream: &FileStream) -> Result<(), String> {
        match (&self.path, &self.postgres) {
            (Some(_), Some(_)) => {
                return Err(
                    "path and postgres are both set; a stream reads files or a query".into(),
                );
            }
            (None, None) => {
                return Err(
                    "missing field `path` (the folder of the files), or `postgres` for a query"
                        .into(),
                );
            }
            _ => {}
        }
        let schema = &stream.def.schema;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for (what, map) in [("columns", &self.columns), ("values", &self.values)] {
            for key in map.keys() {
                if !names.contains(&key.as_str()) {
                    return Err(format!(
                        "{what}.{key}: `{key}` is not a column of {}; its columns are {}",
                        stream.def.name,
                        names.join(", ")
                    ));
                }
            }
        }
        if let Some(key) = self.columns.keys().find(|k| self.values.contains_key(*k)) {
            return Err(format!(
                "`{key}` is in both columns and values; keep one (values is for a column the \
                 files do not have)"
            ));
        }
        if let Some(p) = &self.preset
            && !stream.presets.iter().any(|x| x.name == p)
        {
            let known: Vec<&str> = stream.presets.iter().map(|x| x.name).collect();
            return Err(match known.is_empty() {
                true => format!("preset: {} has no presets", stream.def.name),
                false => format!(
                    "preset: unknown preset \"{p}\"; the presets are {}",
                    known.join(", ")
                ),
            });
        }
        if let Some(f) = &self.date_format {
            use chrono::format::{Item, StrftimeItems};
            if StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                return Err(format!(
                    "date_format: \"{f}\" is not a strftime format (e.g. \"%d/%m/%Y\")"
                ));
            }
        }
        if let Some(label) = &self.encoding
            && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
        {
            return Err(format!(
                "encoding: \"{label}\" is not an encoding name (e.g. \"windows-1252\", \"utf-16le\")"
            ));
        }
        if self
            .delimiter
            .is_some_and(|d| matches!(d, '"' | '\n' | '\r') || !d.is_ascii())
        {
            return Err(
                "delimiter: must be one ASCII character other than a quote or a line \
                 break (\",\", \";\", \"\\t\", \"|\")"
                    .to_string(),
            );
        }
        for (key, text) in &self.values {
            let field = schema.field_with_name(key).map_err(|e| e.to_string())?;
            let decimal = self.decimal.unwrap_or(Decimal::Point);
            if let Err(reason) = parse_cell(
                Some(text),
                field.data_type(),
                field.is_nullable(),
                decimal,
                self.date_format.as_deref(),
            ) {
                return Err(format!("values.{key}: \"{text}\" {reason}"));
            }
            if matches!(field.data_type(), DataType::Date32) {
                return Err(format!(
                    "values.{key}: the date of a row must come from its file"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character),
/// ignoring ASCII case.
pub(crate) fn matches_pattern(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // Iterative wildcard match with one backtrack point (the last `*`).
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches_pattern("costs-*.csv", "costs-2026-10.CSV"));
        assert!(matches_pattern("*", "x"));
        assert!(matches_pattern("a?c", "abc"));
        assert!(!matches_pattern("a?c", "abbc"));
        assert!(!matches_pattern("costs-*.csv", "costs-2026-10.csv.bak"));
        assert!(matches_pattern("*a*b", "xxaxxb"));
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(Format::of_name("a.TSV"), Some(Format::Csv));
        assert_eq!(Format::of_name("a.ndjson"), Some(Format::Jsonl));
        assert_eq!(Format::of_name("a.parquet"), Some(Format::Parquet));
        assert_eq!(Format::of_name("a.xlsx"), None);
        assert_eq!(Format::of_name("README"), None);
    }
}
