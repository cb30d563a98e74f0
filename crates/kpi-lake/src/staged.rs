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

use std::collections::BTreeMap;

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
        })
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
                let w = match self.snapshot.take() {
                    Some(w) => w,
                    None => self.lake.snapshot_writer(
                        &self.source,
                        &self.stream,
                        self.schema.clone(),
                    )?,
                };
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
