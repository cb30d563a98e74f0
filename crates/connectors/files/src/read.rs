//! Finding a stream's files and reading one into an Arrow batch of the
//! stream's schema, with every bad row named by line and column.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, Date32Type, Field};
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::settings::matches_pattern;
use crate::value::{Cell, Decimal, parse_cell};
use crate::{FileError, FileSettings, FileStream, Format, OnBadRows, Overlap};

/// One file of a stream's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the folder: the key of its load in the lake's state.
    pub name: String,
    /// SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// When it was last written, where the file system says.
    pub modified: Option<std::time::SystemTime>,
}

/// A row that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// `line 14` (text) or `row 14` (Parquet).
    pub at: String,
    /// The file's header of the cell, or `(row)` for the row as a whole.
    pub column: String,
    /// The cell as written.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column.as_str() {
            "(row)" => write!(f, "{}: {}", self.at, self.reason),
            c => write!(
                f,
                "{}, column {c}: \"{}\" {}",
                self.at, self.value, self.reason
            ),
        }
    }
}

/// A file read: its rows (date column included), the bad rows left out,
/// and the days it covers.
#[derive(Debug, Clone)]
pub struct ReadFile {
    /// The rows that read, in the stream's schema.
    pub batch: RecordBatch,
    /// The rows that did not (empty unless `on_bad_rows = "skip"`).
    pub bad: Vec<BadRow>,
    /// First and last day of its rows; `None` for a file without rows.
    pub days: Option<(NaiveDate, NaiveDate)>,
}

/// The stream's files, sorted by name, each hashed. A folder's hidden
/// files, spreadsheet lock files (`~$...`) and files of no known format
/// (unless `format` is set) are not its files.
pub fn find_files(settings: &FileSettings, base_dir: &Path) -> Result<Vec<FoundFile>, FileError> {
    let path = settings.resolved_path(base_dir);
    let meta = std::fs::metadata(&path).map_err(|e| FileError::io(&path, e))?;
    let mut paths = Vec::new();
    if meta.is_file() {
        paths.push(path.clone());
    } else {
        let entries = std::fs::read_dir(&path).map_err(|e| FileError::io(&path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| FileError::io(&path, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let p = entry.path();
            if name.starts_with('.') || name.starts_with("~$") || !p.is_file() {
                continue;
            }
            let wanted = match &settings.pattern {
                Some(pattern) => matches_pattern(pattern, &name),
                None => settings.format.is_some() || Format::of_name(&name).is_some(),
            };
            if wanted {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let (sha256, bytes) = hash_file(&p)?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            Ok(FoundFile {
                path: p,
                name,
                sha256,
                bytes,
                modified,
            })
        })
        .collect()
}

fn hash_file(path: &Path) -> Result<(String, u64), FileError> {
    let mut file = std::fs::File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| FileError::io(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((format!("{:x}", hasher.finalize()), bytes))
}

/// Reads `file` into `stream`'s schema. A structural problem (no column
/// for a required field, unreadable JSON or Parquet) fails it; bad rows
/// fail it too unless `on_bad_rows = "skip"`, which leaves them out and
/// returns them.
pub fn read_file(
    file: &FoundFile,
    stream: &FileStream,
    settings: &FileSettings,
) -> Result<ReadFile, FileError> {
    let bytes = std::fs::read(&file.path).map_err(|e| FileError::io(&file.path, e))?;
    if format!("{:x}", Sha256::digest(&bytes)) != file.sha256 {
        return Err(FileError::Format {
            path: file.path.clone(),
            message: "it changed while the sync read it; sync again once it is written".into(),
        });
    }
    let format = settings
        .format
        .or_else(|| Format::of_name(&file.name))
        .ok_or_else(|| FileError::Format {
            path: file.path.clone(),
            message: "its extension names no format; set format = \"csv\", \"jsonl\" or \
                      \"parquet\""
                .into(),
        })?;
    let mut rows = Rows::new(stream, settings);
    let fail = |message: String| FileError::Format {
        path: file.path.clone(),
        message,
    };
    match format {
        Format::Csv => read_csv(&bytes, settings, &mut rows).map_err(fail)?,
        Format::Jsonl => read_jsonl(&bytes, settings, &mut rows).map_err(fail)?,
        Format::Parquet => read_parquet(bytes, &mut rows).map_err(fail)?,
    }
    if !rows.bad.is_empty() && settings.on_bad_rows == OnBadRows::RejectFile {
        return Err(FileError::BadRows {
            path: file.path.clone(),
            total: rows.bad.len(),
            rows: rows.bad.into_iter().take(10).collect(),
        });
    }
    let days = rows.days;
    let bad = std::mem::take(&mut rows.bad);
    Ok(ReadFile {
        batch: rows.finish(),
        bad,
        days,
    })
}

/// Text of `bytes` in the configured encoding, or the one its byte order
/// mark names, or UTF-8, or (not being UTF-8) Windows-1252.
fn decode(bytes: &[u8], settings: &FileSettings) -> Result<String, String> {
    let encoding = match &settings.encoding {
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or_else(|| format!("unknown encoding \"{label}\""))?,
        None => match encoding_rs::Encoding::for_bom(bytes) {
            Some((e, _)) => e,
            None if std::str::from_utf8(bytes).is_ok() => encoding_rs::UTF_8,
            None => encoding_rs::WINDOWS_1252,
        },
    };
    // `decode` strips a BOM of the encoding and replaces what is not valid
    // in it; a file that is not in the configured encoding is refused
    // rather than loaded with replacement characters.
    let (text, _, had_errors) = encoding.decode(bytes);
    if had_errors {
        return Err(format!(
            "it is not valid {}; set encoding to the file's own",
            encoding.name()
        ));
    }
    Ok(text.into_owned())
}

/// The separator of `,` `;` tab `|` the header line uses most (outside
/// quotes), `,` when it uses none.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    let mut counts = [(b',', 0), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|c| c.0 == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .filter(|c| c.1 > 0)
        .max_by_key(|c| c.1)
        .map_or(b',', |c| c.0)
}

fn read_csv(bytes: &[u8], settings: &FileSettings, rows: &mut Rows) -> Result<(), String> {
    let text = decode(bytes, settings)?;
    let delimiter = match settings.delimiter {
        Some(d) => d as u8,
        None => sniff_delimiter(&text),
    };
    rows.decimal = settings.decimal.unwrap_or(match delimiter {
        b';' => Decimal::Comma,
        _ => Decimal::Point,
    });
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("its header line cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err("it has no header line".into());
    }
    let map = rows.map_headers(&headers)?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.bad.push(BadRow {
                    at: format!("line {line}"),
                    column: "(row)".into(),
                    value: String::new(),
                    reason: format!("cannot be read: {e}"),
                });
                continue;
            }
        }
        let at = format!("line {}", record.position().map_or(0, |p| p.line()));
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // A separator at the end of the header or of the rows (what some
        // spreadsheets write) adds an empty field, not a column.
        let width = headers.len() - headers.iter().rev().take_while(|h| h.is_empty()).count();
        let extra_empty = record.iter().skip(width).all(|c| c.trim().is_empty());
        if record.len() < width || !extra_empty {
            rows.bad.push(BadRow {
                at,
                column: "(row)".into(),
                value: String::new(),
                reason: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        rows.push(&at, &map, |i| record.get(i).map(str::to_string));
    }
    Ok(())
}

fn read_jsonl(bytes: &[u8], settings: &FileSettings, rows: &mut Rows) -> Result<(), String> {
    let text = decode(bytes, settings)?;
    rows.decimal = settings.decimal.unwrap_or(Decimal::Point);
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}", i + 1);
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                rows.bad.push(BadRow {
                    at,
                    column: "(row)".into(),
                    value: String::new(),
                    reason: "is not a JSON object".into(),
                });
                continue;
            }
            Err(e) => {
                rows.bad.push(BadRow {
                    at,
                    column: "(row)".into(),
                    value: String::new(),
                    reason: format!("is not JSON: {e}"),
                });
                continue;
            }
        };
        // Each object's own keys are its header: exporters leave out the
        // keys of null values, so a key missing from one line says nothing
        // of the next.
        let keys: Vec<String> = object.keys().cloned().collect();
        let map = rows.map_headers_of(&keys, true)?;
        let comma = rows.decimal == Decimal::Comma;
        rows.push(&at, &map, |col| {
            let key = keys.get(col)?;
            match object.get(key)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                // A JSON number has a point whatever `decimal` says.
                serde_json::Value::Number(n) if comma => Some(n.to_string().replace('.', ",")),
                other => Some(other.to_string()),
            }
        });
    }
    Ok(())
}

fn read_parquet(bytes: Vec<u8>, rows: &mut Rows) -> Result<(), String> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    rows.decimal = Decimal::Point;
    rows.typed_dates = true;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| format!("it is not a readable Parquet file: {e}"))?;
    let mut map: Option<Vec<Source>> = None;
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| format!("it is not a readable Parquet file: {e}"))?;
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let m = match &map {
            Some(m) => m.clone(),
            None => {
                let m = rows.map_headers(&names)?;
                map = Some(m.clone());
                m
            }
        };
        // Every column as text, read by the same rules as a CSV cell.
        let text: Vec<arrow::array::StringArray> = batch
            .columns()
            .iter()
            .map(|c| {
                let c = match c.data_type() {
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
                        arrow::compute::cast(c, &DataType::Date32)?
                    }
                    _ => c.clone(),
                };
                let s = arrow::compute::cast(&c, &DataType::Utf8)?;
                Ok(s.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .cloned()
                    .expect("cast to Utf8"))
            })
            .collect::<Result<_, arrow::error::ArrowError>>()
            .map_err(|e| format!("a column cannot be read as text: {e}"))?;
        for r in 0..batch.num_rows() {
            row += 1;
            rows.push(&format!("row {row}"), &m, |col| {
                use arrow::array::Array;
                let a = text.get(col)?;
                (!a.is_null(r)).then(|| a.value(r).to_string())
            });
        }
    }
    Ok(())
}

/// Where a stream column's value comes from.
#[derive(Debug, Clone)]
enum Source {
    /// The file's column at this index.
    Column(usize),
    /// A fixed value from `values`.
    Fixed(String),
    /// Nowhere: a nullable column the file does not have.
    Missing,
}

/// The rows read so far, column by column, as the stream's types.
struct Rows<'a> {
    stream: &'a FileStream,
    settings: &'a FileSettings,
    decimal: Decimal,
    /// The file's header of each file column (by index), for messages and
    /// for JSON keys.
    mapped_headers: Vec<String>,
    cells: Vec<Vec<Cell>>,
    bad: Vec<BadRow>,
    days: Option<(NaiveDate, NaiveDate)>,
    /// The source has typed dates (Parquet, PostgreSQL), which come as
    /// ISO 8601 text whatever `date_format` says of text dates.
    typed_dates: bool,
}

/// A header as matched: lower case, with spaces, dots, dashes and
/// slashes as `_`, and no `_` at the ends.
fn normal(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .map(|c| match c {
            ' ' | '.' | '-' | '/' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

impl<'a> Rows<'a> {
    fn new(stream: &'a FileStream, settings: &'a FileSettings) -> Self {
        Rows {
            stream,
            settings,
            decimal: Decimal::Point,
            mapped_headers: Vec::new(),
            cells: vec![Vec::new(); stream.def.schema.fields().len()],
            bad: Vec::new(),
            days: None,
            typed_dates: false,
        }
    }

    fn fields(&self) -> &[Arc<Field>] {
        self.stream.def.schema.fields()
    }

    /// Where each stream column comes from in a file with `headers`.
    fn map_headers(&mut self, headers: &[String]) -> Result<Vec<Source>, String> {
        self.map_headers_of(headers, false)
    }

    /// [`Rows::map_headers`]; `lenient` (one JSON object's keys) leaves a
    /// column it does not find empty, so that a required one makes a bad
    /// row rather than fail the file.
    fn map_headers_of(&mut self, headers: &[String], lenient: bool) -> Result<Vec<Source>, String> {
        self.mapped_headers = headers.to_vec();
        let normals: Vec<String> = headers.iter().map(|h| normal(h)).collect();
        let find = |h: &str| normals.iter().position(|n| *n == normal(h));
        let preset = self
            .settings
            .preset
            .as_deref()
            .and_then(|p| self.stream.preset(p));
        let mut out = Vec::new();
        for field in self.fields() {
            let column = field.name().as_str();
            if let Some(v) = self.settings.values.get(column) {
                out.push(Source::Fixed(v.clone()));
                continue;
            }
            if let Some(h) = self.settings.columns.get(column) {
                match find(h) {
                    Some(i) => out.push(Source::Column(i)),
                    None if lenient => out.push(Source::Missing),
                    None => {
                        return Err(format!(
                            "it has no column \"{h}\" (columns.{column}); its header is: {}",
                            headers.join(", ")
                        ));
                    }
                }
                continue;
            }
            let candidates: Vec<&str> = preset
                .and_then(|p| p.headers.iter().find(|(c, _)| *c == column))
                .map(|(_, hs)| hs.to_vec())
                .unwrap_or_default();
            let found = candidates
                .iter()
                .chain(std::iter::once(&column))
                .find_map(|h| find(h));
            match found {
                Some(i) => out.push(Source::Column(i)),
                None if field.is_nullable() || lenient => out.push(Source::Missing),
                None => {
                    return Err(format!(
                        "it has no column for `{column}`; its header is: {}. Name the header \
                         in columns ({column} = \"...\"){}",
                        headers.join(", "),
                        match field.data_type() {
                            DataType::Date32 => "",
                            _ => ", or give every row the same value in values",
                        }
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Adds one row whose file cells `cell(index)` gives; a cell that does
    /// not parse makes it a bad row instead.
    fn push(&mut self, at: &str, map: &[Source], cell: impl Fn(usize) -> Option<String>) {
        let mut parsed = Vec::with_capacity(map.len());
        for (field, source) in self.fields().iter().zip(map) {
            let (text, header) = match source {
                Source::Column(i) => (cell(*i), self.mapped_headers[*i].clone()),
                Source::Fixed(v) => (Some(v.clone()), format!("values.{}", field.name())),
                Source::Missing => (None, field.name().clone()),
            };
            let parse = |format: Option<&str>| {
                parse_cell(
                    text.as_deref(),
                    field.data_type(),
                    field.is_nullable(),
                    self.decimal,
                    format,
                )
            };
            let mut cell = parse(self.settings.date_format.as_deref());
            if cell.is_err() && self.typed_dates && *field.data_type() == DataType::Date32 {
                cell = parse(None);
            }
            match cell {
                Ok(c) => parsed.push(c),
                Err(reason) => {
                    self.bad.push(BadRow {
                        at: at.to_string(),
                        column: header,
                        value: text.unwrap_or_default(),
                        reason,
                    });
                    return;
                }
            }
        }
        let date_at = self
            .fields()
            .iter()
            .position(|f| f.name() == self.stream.date_column());
        if let Some(Cell::Date(d)) = date_at.map(|i| &parsed[i]) {
            self.days = Some(match self.days {
                None => (*d, *d),
                Some((a, b)) => (a.min(*d), b.max(*d)),
            });
        }
        for (column, c) in self.cells.iter_mut().zip(parsed) {
            column.push(c);
        }
    }

    fn finish(mut self) -> RecordBatch {
        self.take_batch()
    }

    /// The rows so far as a batch; the next ones start a new one.
    fn take_batch(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .fields()
            .iter()
            .zip(&self.cells)
            .map(|(f, cells)| build(f.data_type(), cells))
            .collect();
        for c in &mut self.cells {
            c.clear();
        }
        RecordBatch::try_new(self.stream.def.schema.clone(), arrays)
            .expect("cells were parsed into the schema's types")
    }
}

fn build(data_type: &DataType, cells: &[Cell]) -> ArrayRef {
    match data_type {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            for c in cells {
                match c {
                    Cell::Str(s) => b.append_value(s),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            for c in cells {
                b.append_option(match c {
                    Cell::Int(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::new();
            for c in cells {
                b.append_option(match c {
                    Cell::Float(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            for c in cells {
                b.append_option(match c {
                    Cell::Bool(v) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = Date32Builder::new();
            for c in cells {
                b.append_option(match c {
                    Cell::Date(d) => Some(Date32Type::from_naive_date(*d)),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
    }
}

/// The rows of `batch` whose date is in `[start, end]`.
pub fn rows_between(
    batch: &RecordBatch,
    date_column: &str,
    (start, end): (NaiveDate, NaiveDate),
) -> RecordBatch {
    use arrow::array::AsArray;
    let Ok(i) = batch.schema().index_of(date_column) else {
        return batch.clone();
    };
    let dates = batch.column(i).as_primitive::<Date32Type>();
    let (a, b) = (
        Date32Type::from_naive_date(start),
        Date32Type::from_naive_date(end),
    );
    let keep: arrow::array::BooleanArray = dates
        .iter()
        .map(|d| Some(d.is_some_and(|d| a <= d && d <= b)))
        .collect();
    arrow::compute::filter_record_batch(batch, &keep).expect("same length")
}

/// The rejects file of a load: one line per bad row (`at,column,value,reason`).
pub fn rejects_csv(file: &FoundFile, bad: &[BadRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["file", "at", "column", "value", "reason"]);
    for r in bad {
        let _ = w.write_record([&file.name, &r.at, &r.column, &r.value, &r.reason]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The rows of `batch` (one file's, the newest files given first) that
/// `overlap` keeps, given the keys `seen` in the files before it; adds
/// its keys to them.
pub fn rows_not_seen(
    batch: &RecordBatch,
    key: &[String],
    seen: &mut std::collections::HashSet<String>,
    overlap: Overlap,
) -> RecordBatch {
    use arrow::util::display::array_value_to_string;
    let columns: Vec<&ArrayRef> = key
        .iter()
        .filter_map(|k| batch.schema().index_of(k).ok().map(|i| batch.column(i)))
        .collect();
    let keys: Vec<String> = (0..batch.num_rows())
        .map(|row| {
            let k: Vec<String> = columns
                .iter()
                .map(|c| array_value_to_string(c, row).unwrap_or_default())
                .collect();
            k.join("\u{1f}")
        })
        .collect();
    let keep: arrow::array::BooleanArray = match overlap {
        Overlap::AddUp => return batch.clone(),
        Overlap::OneRowPerKey => keys.into_iter().map(|k| Some(seen.insert(k))).collect(),
        Overlap::NewestFilePerKey => {
            // Judged against the newer files only, then this file's keys
            // join them: its own rows of a key all stay.
            let keep = keys.iter().map(|k| Some(!seen.contains(k))).collect();
            seen.extend(keys);
            keep
        }
    };
    arrow::compute::filter_record_batch(batch, &keep).expect("same length")
}

/// Rows of text cells from elsewhere than a file (a database cursor), read
/// by the same rules as a file's and taken out in batches.
pub struct RowReader<'a> {
    rows: Rows<'a>,
    map: Vec<Source>,
}

impl<'a> RowReader<'a> {
    /// A reader of rows whose columns are `headers`; the error says which
    /// column of the stream has none.
    pub fn new(
        stream: &'a FileStream,
        settings: &'a FileSettings,
        headers: &[String],
    ) -> Result<Self, String> {
        let mut rows = Rows::new(stream, settings);
        rows.decimal = settings.decimal.unwrap_or(Decimal::Point);
        rows.typed_dates = true;
        let map = rows.map_headers(headers)?;
        Ok(RowReader { rows, map })
    }

    /// Adds one row (`at` names it in messages: `row 12`).
    pub fn push(&mut self, at: &str, cells: &[Option<String>]) {
        let map = std::mem::take(&mut self.map);
        self.rows
            .push(at, &map, |i| cells.get(i).cloned().flatten());
        self.map = map;
    }

    /// Rows held, not yet taken.
    pub fn len(&self) -> usize {
        self.rows.cells.first().map_or(0, Vec::len)
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows held as a batch of the stream's schema.
    pub fn take_batch(&mut self) -> RecordBatch {
        self.rows.take_batch()
    }

    /// The bad rows so far, and the first and last day of the good ones.
    pub fn bad_rows(&self) -> &[BadRow] {
        &self.rows.bad
    }

    /// The first and last day of the rows read.
    pub fn days(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.rows.days
    }
}
