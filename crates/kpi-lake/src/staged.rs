//! One read of a stream written into staged files, for
//! [`Lake::commit_source`](crate::Lake::commit_source): a daily stream's
//! rows are split by their date column into one file per day of the window
//! (the date names the partition, so it is not a column of the file), a
//! snapshot goes to one file. Every day of the window gets a file, so a day
//! the source no longer has rows for becomes empty instead of keeping old
//! rows.
//!
//! Whatever feeds it (a connector's pages during `kpi sync`) hands it Arrow
//! batches; a batch that does not fit (other columns than the lake's, a day
//! outside the window) is refused before anything of it is written.
//!
//! A snapshot read of only the records changed since the last sync
//! ([`StagedStream::merge_with_lake`]) keeps the keys it staged, and its
//! file gets, after them, every row of the lake's snapshot whose key did
//! not come again: a changed record replaces its earlier version, the
//! others stay, and the file still replaces the old one whole.

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Date32Type, Schema, SchemaRef};
use chrono::NaiveDate;

use crate::{Lake, LakeError, Layout, SnapshotWriter, StagedFile};

/// Why a batch could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The batch does not fit the stream; the message names the stream.
    #[error("{0}")]
    Refused(String),
    /// A staged file could not be written.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// The staged files of one read of `source.stream` over a window of days.
pub struct StagedStream {
    lake: Lake,
    source: String,
    stream: String,
    layout: Layout,
    schema: SchemaRef,
    /// The partition column of a daily stream.
    date_column: Option<String>,
    first_day: NaiveDate,
    last_day: NaiveDate,
    days: BTreeMap<NaiveDate, SnapshotWriter>,
    snapshot: Option<SnapshotWriter>,
    rows: u64,
    buffer_budget: usize,
    /// For a merged snapshot: the key columns, and the keys staged.
    merge: Option<(Vec<String>, HashSet<String>)>,
}

impl StagedStream {
    /// A read of `source.stream`, kept as `layout` with the file schema
    /// `schema`. A daily stream names its date column (which batches carry
    /// and files do not) and gets a file for every day from `first_day` to
    /// `last_day`. Open day files buffer at most `buffer_budget` bytes
    /// together before the largest are written out as row groups.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lake: Lake,
        source: &str,
        stream: &str,
        layout: Layout,
        schema: SchemaRef,
        date_column: Option<String>,
        (first_day, last_day): (NaiveDate, NaiveDate),
        buffer_budget: usize,
    ) -> Result<Self, StageError> {
        if (layout == Layout::Daily) != date_column.is_some() {
            return Err(StageError::Refused(format!(
                "{source}.{stream}: a daily stream needs a date column, a snapshot has none \
                 (the lake keeps it as {layout:?})"
            )));
        }
        Ok(Self {
            lake,
            source: source.to_string(),
            stream: stream.to_string(),
            layout,
            schema,
            date_column,
            first_day,
            last_day,
            days: BTreeMap::new(),
            snapshot: None,
            rows: 0,
            buffer_budget,
            merge: None,
        })
    }

    /// Makes this snapshot read a merge into the lake's current snapshot
    /// on `key` (the stream's primary key): see the module's doc. Refused
    /// for a daily stream or a key that is not a column.
    pub fn merge_with_lake(mut self, key: Vec<String>) -> Result<Self, StageError> {
        let missing: Vec<&String> = key
            .iter()
            .filter(|k| self.schema.field_with_name(k).is_err())
            .collect();
        if self.layout != Layout::Snapshot || key.is_empty() || !missing.is_empty() {
            return Err(StageError::Refused(format!(
                "{}: a merge needs a snapshot stream and key columns of it (key {key:?})",
                self.label()
            )));
        }
        self.merge = Some((key, HashSet::new()));
        Ok(self)
    }

    /// Rows staged so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn label(&self) -> String {
        format!("{}.{}", self.source, self.stream)
    }

    /// `batch` without the partition column, checked against the lake's schema.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch, StageError> {
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| Some(batch.schema().field(i).name()) != self.date_column.as_ref())
            .collect();
        let projected = batch
            .project(&keep)
            .map_err(|e| StageError::Refused(e.to_string()))?;
        let want = self.schema.fields();
        let got = projected.schema();
        let same = want.len() == got.fields().len()
            && want
                .iter()
                .zip(got.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(StageError::Refused(format!(
                "{}: the connector's columns ({}) are not the lake's ({})",
                self.label(),
                describe(&got),
                describe(&self.schema)
            )));
        }
        RecordBatch::try_new(self.schema.clone(), projected.columns().to_vec())
            .map_err(|e| StageError::Refused(e.to_string()))
    }

    /// Stages `batch`: to the snapshot file, or split by day into the day
    /// files. Refused whole if it does not fit.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(col) = self.date_column.clone() else {
            let conformed = self.conform(batch)?;
            if self.snapshot.is_none() {
                self.snapshot = Some(self.lake.snapshot_writer(
                    &self.source,
                    &self.stream,
                    self.schema.clone(),
                )?);
            }
            if let Some((key, seen)) = &mut self.merge {
                let keys = row_keys(&conformed, key).map_err(StageError::Refused)?;
                seen.extend(keys);
            }
            self.snapshot
                .as_mut()
                .expect("just set")
                .write(&conformed)?;
            self.rows += conformed.num_rows() as u64;
            return Ok(());
        };
        let dates = batch.column_by_name(&col).ok_or_else(|| {
            StageError::Refused(format!(
                "{}: a batch without its `{col}` column",
                self.label()
            ))
        })?;
        if dates.data_type() != &DataType::Date32 || dates.null_count() > 0 {
            return Err(StageError::Refused(format!(
                "{}: `{col}` must be a non-null Date32 column, got {}",
                self.label(),
                dates.data_type()
            )));
        }
        let dates = dates.as_primitive::<Date32Type>();
        let mut by_day: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for i in 0..dates.len() {
            by_day.entry(dates.value(i)).or_default().push(i as u32);
        }
        // Every day is checked before any is written: a refused batch
        // leaves nothing of itself behind.
        let mut parts = Vec::with_capacity(by_day.len());
        for (day, rows) in by_day {
            let date = Date32Type::to_naive_date_opt(day).ok_or_else(|| {
                StageError::Refused(format!("{}: day {day} is out of range", self.label()))
            })?;
            if date < self.first_day || date > self.last_day {
                // Writing it would replace a day outside the window with a
                // part of its rows.
                return Err(StageError::Refused(format!(
                    "{}: the API returned rows for {date}, outside the requested {} to {}",
                    self.label(),
                    self.first_day,
                    self.last_day
                )));
            }
            parts.push((date, rows));
        }
        let conformed = self.conform(batch)?;
        for (date, rows) in parts {
            let idx = UInt32Array::from(rows);
            let part = arrow::compute::take_record_batch(&conformed, &idx)
                .map_err(|e| StageError::Refused(e.to_string()))?;
            if !self.days.contains_key(&date) {
                let w = self.lake.daily_writer(
                    &self.source,
                    &self.stream,
                    date,
                    self.schema.clone(),
                )?;
                self.days.insert(date, w);
            }
            self.days
                .get_mut(&date)
                .expect("just inserted")
                .write(&part)?;
            self.rows += part.num_rows() as u64;
        }
        Ok(self.bound_buffers()?)
    }

    /// Flushes the open day files with the most buffered, largest first,
    /// until they hold under half of the budget.
    fn bound_buffers(&mut self) -> Result<(), LakeError> {
        let budget = self.buffer_budget;
        let mut total: usize = self.days.values().map(SnapshotWriter::buffered_bytes).sum();
        if total <= budget {
            return Ok(());
        }
        let mut sizes: Vec<(usize, NaiveDate)> = self
            .days
            .iter()
            .map(|(d, w)| (w.buffered_bytes(), *d))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        for (size, day) in sizes {
            if total <= budget / 2 {
                break;
            }
            self.days.get_mut(&day).expect("listed").flush()?;
            total -= size;
        }
        Ok(())
    }

    /// Closes every file: the snapshot (empty if no batch came), or one file
    /// for every day of the window. Blocks on footers and syncs.
    pub fn finish(mut self) -> Result<Vec<StagedFile>, LakeError> {
        let mut files = Vec::new();
        match self.layout {
            Layout::Snapshot => {
                let mut w = match self.snapshot.take() {
                    Some(w) => w,
                    None => self.lake.snapshot_writer(
                        &self.source,
                        &self.stream,
                        self.schema.clone(),
                    )?,
                };
                if let Some((key, seen)) = self.merge.take() {
                    self.keep_unchanged(&mut w, &key, &seen)?;
                }
                files.push(w.finish()?);
            }
            Layout::Daily => {
                let mut d = self.first_day;
                while d <= self.last_day {
                    let w = match self.days.remove(&d) {
                        Some(w) => w,
                        None => self.lake.daily_writer(
                            &self.source,
                            &self.stream,
                            d,
                            self.schema.clone(),
                        )?,
                    };
                    // Closed now: its buffers are freed while other reads run.
                    files.push(w.finish()?);
                    d = d.succ_opt().expect("in range");
                }
            }
        }
        Ok(files)
    }
}

impl StagedStream {
    /// Writes the rows of the lake's snapshot whose key is not in `seen`
    /// to `w`. No snapshot yet: nothing to keep.
    fn keep_unchanged(
        &self,
        w: &mut SnapshotWriter,
        key: &[String],
        seen: &HashSet<String>,
    ) -> Result<(), LakeError> {
        let path = self
            .lake
            .stream_dir(&self.source, &self.stream)
            .join(crate::PART_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(crate::io(&path, e)),
        };
        let refresh = format!(
            "run `kpi sync --source {} --full-refresh` to read every record again",
            self.source
        );
        let bad = |message: String| LakeError::Merge {
            path: path.clone(),
            message: format!("{message}; {refresh}"),
        };
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| bad(format!("the snapshot to merge into is not readable: {e}")))?;
        let same = {
            let have = reader.schema().fields();
            let want = self.schema.fields();
            have.len() == want.len()
                && have
                    .iter()
                    .zip(want)
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
        };
        if !same {
            return Err(bad(format!(
                "the snapshot to merge into has other columns ({}) than the stream ({})",
                describe(reader.schema()),
                describe(&self.schema)
            )));
        }
        let reader = reader
            .build()
            .map_err(|e| bad(format!("the snapshot to merge into is not readable: {e}")))?;
        for batch in reader {
            let batch = batch
                .map_err(|e| bad(format!("the snapshot to merge into is not readable: {e}")))?;
            let keys = row_keys(&batch, key).map_err(bad)?;
            let keep: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|&i| !seen.contains(&keys[i as usize]))
                .collect();
            if keep.is_empty() {
                continue;
            }
            let kept = arrow::compute::take_record_batch(&batch, &UInt32Array::from(keep))
                .map_err(|e| bad(e.to_string()))?;
            // The file's own schema may differ in metadata only.
            let kept = RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())
                .map_err(|e| bad(e.to_string()))?;
            w.write(&kept)?;
        }
        Ok(())
    }
}

/// Each row's key: its `key` columns as text, joined by a separator no id
/// holds. A null key column is refused: that row could not be matched.
fn row_keys(batch: &RecordBatch, key: &[String]) -> Result<Vec<String>, String> {
    let mut parts = Vec::with_capacity(key.len());
    for k in key {
        let col = batch
            .column_by_name(k)
            .ok_or_else(|| format!("no key column `{k}`"))?;
        if col.null_count() > 0 {
            return Err(format!("a row without its key `{k}`"));
        }
        let text = arrow::compute::cast(col, &DataType::Utf8).map_err(|e| e.to_string())?;
        parts.push(text);
    }
    Ok((0..batch.num_rows())
        .map(|i| {
            parts
                .iter()
                .map(|p| p.as_string::<i32>().value(i))
                .collect::<Vec<_>>()
                .join("\u{1f}")
        })
        .collect())
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Int64Array};
    use arrow::datatypes::Field;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A batch of `dates` with a `clicks` column.
    fn days(dates: &[&str]) -> RecordBatch {
        let epoch = d("1970-01-01");
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("clicks", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from_iter_values(
                    dates.iter().map(|s| (d(s) - epoch).num_days() as i32),
                )),
                Arc::new(Int64Array::from_iter_values(0..dates.len() as i64)),
            ],
        )
        .unwrap()
    }

    /// A daily `src.stats` whose files hold one Int64 column, `column`.
    fn staged(dir: &tempfile::TempDir, column: &str, first: &str, last: &str) -> StagedStream {
        let lake = Lake::create(dir.path()).unwrap();
        let file_schema = Arc::new(Schema::new(vec![Field::new(
            column,
            DataType::Int64,
            false,
        )]));
        StagedStream::new(
            lake,
            "src",
            "stats",
            Layout::Daily,
            file_schema,
            Some("date".into()),
            (d(first), d(last)),
            1 << 20,
        )
        .unwrap()
    }

    #[test]
    fn rows_go_to_their_day_and_a_batch_that_does_not_fit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = staged(&dir, "clicks", "2026-10-01", "2026-10-03");
        s.write(&days(&["2026-10-01", "2026-10-01", "2026-10-03"]))
            .unwrap();
        assert_eq!(s.rows(), 3);
        // One day inside the window, one outside: refused whole.
        let e = s
            .write(&days(&["2026-10-02", "2026-10-04"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "src.stats: the API returned rows for 2026-10-04, outside the requested 2026-10-01 to 2026-10-03"
        );
        assert_eq!(s.rows(), 3, "nothing of the refused batch was staged");
        // A file for every day of the window, the empty day included.
        let files = s.finish().unwrap();
        assert_eq!(
            files.iter().map(|f| f.stats().rows).collect::<Vec<_>>(),
            vec![2, 0, 1]
        );
    }

    /// A snapshot `src.leads` of `id` and `stage`.
    fn leads(rows: &[(&str, &str)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("stage", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::StringArray::from_iter_values(
                    rows.iter().map(|r| r.0),
                )),
                Arc::new(arrow::array::StringArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
            ],
        )
        .unwrap()
    }

    fn snapshot_rows(lake: &Lake) -> Vec<(String, String)> {
        let path = lake.stream_dir("src", "leads").join(crate::PART_FILE);
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for b in reader {
            let b = b.unwrap();
            for i in 0..b.num_rows() {
                let s = |c: usize| b.column(c).as_string::<i32>().value(i).to_string();
                out.push((s(0), s(1)));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_merged_snapshot_replaces_changed_records_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let schema = leads(&[]).schema();
        let stage = |merge: bool| {
            let s = StagedStream::new(
                lake.clone(),
                "src",
                "leads",
                Layout::Snapshot,
                schema.clone(),
                None,
                (d("2026-10-01"), d("2026-10-31")),
                1 << 20,
            )
            .unwrap();
            if merge {
                s.merge_with_lake(vec!["id".into()]).unwrap()
            } else {
                s
            }
        };
        let commit = |s: StagedStream| {
            lake.commit_source("src", s.finish().unwrap(), &crate::SourceState::default())
                .unwrap()
        };
        // Nothing to merge into yet: the read alone.
        let mut s = stage(true);
        s.write(&leads(&[("a", "lead"), ("b", "lead")])).unwrap();
        commit(s);
        let mut s = stage(true);
        s.write(&leads(&[("b", "mql"), ("c", "lead")])).unwrap();
        commit(s);
        let row = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            snapshot_rows(&lake),
            vec![row("a", "lead"), row("b", "mql"), row("c", "lead")]
        );
        // A read without changes keeps everything.
        commit(stage(true));
        assert_eq!(snapshot_rows(&lake).len(), 3);
        // A whole read (no merge) replaces it.
        let mut s = stage(false);
        s.write(&leads(&[("c", "sql")])).unwrap();
        commit(s);
        assert_eq!(snapshot_rows(&lake), vec![row("c", "sql")]);
        // A key that is not a column, or a daily stream, is refused.
        assert!(stage(false).merge_with_lake(vec!["nope".into()]).is_err());
        let daily = staged(&dir, "clicks", "2026-10-01", "2026-10-01");
        assert!(daily.merge_with_lake(vec!["clicks".into()]).is_err());
    }

    #[test]
    fn other_columns_than_the_lakes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = staged(&dir, "impressions", "2026-10-01", "2026-10-01");
        let e = s.write(&days(&["2026-10-01"])).unwrap_err().to_string();
        assert_eq!(
            e,
            "src.stats: the connector's columns (clicks Int64) are not the lake's (impressions Int64)"
        );
    }
}
