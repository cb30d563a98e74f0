//! Atomic Parquet writes.
//!
//! Every file is written under `<lake>/_tmp/` and renamed over its final name.
//! `rename(2)` replaces the old file in one step on the same file system, so a
//! reader sees either the old partition or the new one, and a crash leaves at
//! most a stray temporary file that the next write ignores.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{Lake, LakeError, io};

/// Whether a file is flushed to disk before it is renamed into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` the file before the rename: survives a power cut.
    Fsync,
    /// Leave flushing to the operating system.
    Os,
}

/// What a write put on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Rows written.
    pub rows: u64,
    /// Bytes of Parquet written.
    pub bytes: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A number no other temporary name of this process has used.
pub(crate) fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The file name every partition's data is written under.
pub const PART_FILE: &str = "part-0.parquet";

fn props() -> WriterProperties {
    // Snappy is read by every engine analysts use and is cheap to write.
    // Row groups of 128k rows keep a writer's buffer small (a large snapshot
    // streams through in bounded memory) and give readers min/max statistics
    // fine enough to skip most of a file.
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build()
}

impl Lake {
    /// A fresh name under `_tmp/`, `<pid>-<n>.<ext>.tmp`: the pid lets the
    /// next sync tell a killed writer's files from a live one's.
    pub(crate) fn tmp_file(&self, ext: &str) -> Result<PathBuf, LakeError> {
        let dir = self.tmp_dir();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let n = next_id();
        Ok(dir.join(format!("{}-{n}.{ext}.tmp", std::process::id())))
    }

    /// Replaces the daily partition `date` of `source/stream` with `batches`.
    pub fn write_daily(
        &self,
        source: &str,
        stream: &str,
        date: chrono::NaiveDate,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<WriteStats, LakeError> {
        let dir = self.partition_dir(source, stream, date);
        let mut w = SnapshotWriter::start(self, dir.join(PART_FILE), schema, true)?;
        for b in batches {
            w.write(b)?;
        }
        let stats = w.commit()?;
        // A partition holds one file; remove files an older writer left beside it.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.filter_map(Result::ok) {
                if e.file_name() != PART_FILE {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(stats)
    }

    /// Starts replacing the daily partition `date` of `source/stream` with
    /// batches written one by one; nothing changes in the lake until
    /// [`SnapshotWriter::commit`] (which leaves other files the partition may
    /// hold: remove them after, as [`Lake::write_daily`] does) or until the
    /// [`StagedFile`] it finishes as is committed by [`Lake::commit_source`]
    /// (which replaces the partition whole).
    pub fn daily_writer(
        &self,
        source: &str,
        stream: &str,
        date: chrono::NaiveDate,
        schema: SchemaRef,
    ) -> Result<SnapshotWriter, LakeError> {
        SnapshotWriter::start(
            self,
            self.partition_dir(source, stream, date).join(PART_FILE),
            schema,
            true,
        )
    }

    /// Starts replacing the snapshot of `source/stream`; nothing changes in the
    /// lake until [`SnapshotWriter::commit`].
    pub fn snapshot_writer(
        &self,
        source: &str,
        stream: &str,
        schema: SchemaRef,
    ) -> Result<SnapshotWriter, LakeError> {
        SnapshotWriter::start(
            self,
            self.stream_dir(source, stream).join(PART_FILE),
            schema,
            false,
        )
    }

    /// Starts replacing the single-file table at `<lake>/<relative_dir>/`
    /// (such as `canonical/ad_performance`), committed the same way.
    pub fn table_writer(
        &self,
        relative_dir: &str,
        schema: SchemaRef,
    ) -> Result<SnapshotWriter, LakeError> {
        SnapshotWriter::start(
            self,
            self.root().join(relative_dir).join(PART_FILE),
            schema,
            false,
        )
    }

    /// Starts replacing the one file at `<lake>/<relative_path>` (such as
    /// a KPI history period), leaving its siblings alone; committed the
    /// same way.
    pub fn file_writer(
        &self,
        relative_path: &str,
        schema: SchemaRef,
    ) -> Result<SnapshotWriter, LakeError> {
        SnapshotWriter::start(self, self.root().join(relative_path), schema, false)
    }
}

/// Writes one Parquet file to a temporary name, then renames it into place.
pub struct SnapshotWriter {
    tmp: PathBuf,
    target: PathBuf,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
    durability: Durability,
    whole_dir: bool,
}

impl SnapshotWriter {
    fn start(
        lake: &Lake,
        target: PathBuf,
        schema: SchemaRef,
        whole_dir: bool,
    ) -> Result<Self, LakeError> {
        let tmp = lake.tmp_file("parquet")?;
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let writer =
            ArrowWriter::try_new(file, schema, Some(props())).map_err(|e| LakeError::Parquet {
                path: target.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            tmp,
            target,
            writer: Some(writer),
            rows: 0,
            durability: lake.durability,
            whole_dir,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        let w = self.writer.as_mut().expect("not committed");
        w.write(batch).map_err(|e| LakeError::Parquet {
            path: self.target.clone(),
            message: e.to_string(),
        })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Bytes buffered for the row group being built.
    pub fn buffered_bytes(&self) -> usize {
        self.writer.as_ref().map_or(0, |w| w.in_progress_size())
    }

    /// Writes the buffered rows out as a row group, freeing the buffer. A
    /// writer with many open siblings calls it to bound their memory.
    pub fn flush(&mut self) -> Result<(), LakeError> {
        let w = self.writer.as_mut().expect("not committed");
        w.flush().map_err(|e| LakeError::Parquet {
            path: self.target.clone(),
            message: e.to_string(),
        })
    }

    /// Finishes the file and renames it over the target.
    pub fn commit(self) -> Result<WriteStats, LakeError> {
        self.finish()?.commit()
    }

    /// Finishes the file under its temporary name without touching the
    /// lake: the writer's buffers are freed and the file is complete on
    /// disk, ready for [`StagedFile::commit`]. A sync stages every file of a
    /// source this way and commits them only once every stream was read.
    pub fn finish(mut self) -> Result<StagedFile, LakeError> {
        let w = self.writer.take().expect("not finished");
        let file = match w.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&self.tmp);
                return Err(LakeError::Parquet {
                    path: self.target.clone(),
                    message: e.to_string(),
                });
            }
        };
        let mut staged = StagedFile {
            tmp: std::mem::take(&mut self.tmp),
            target: std::mem::take(&mut self.target),
            rows: self.rows,
            bytes: 0,
            durability: self.durability,
            whole_dir: self.whole_dir,
            committed: false,
        };
        if self.durability == Durability::Fsync {
            file.sync_all().map_err(|e| io(&staged.tmp, e))?;
        }
        staged.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(staged)
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Abandoned (error or panic before commit): the lake keeps the old file.
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A complete Parquet file under its temporary name, waiting to be renamed
/// over its target. Dropped without [`StagedFile::commit`], it is deleted
/// and the lake keeps what it had.
#[derive(Debug)]
pub struct StagedFile {
    pub(crate) tmp: PathBuf,
    pub(crate) target: PathBuf,
    rows: u64,
    bytes: u64,
    durability: Durability,
    /// The target's directory is a daily partition, which the file replaces
    /// whole: [`Lake::commit_source`] removes the other files it holds.
    pub(crate) whole_dir: bool,
    pub(crate) committed: bool,
}

impl StagedFile {
    /// The file it will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Rows and bytes in the file.
    pub fn stats(&self) -> WriteStats {
        WriteStats {
            rows: self.rows,
            bytes: self.bytes,
        }
    }

    /// Renames the file over its target, alone: other files of its partition
    /// stay. A sync commits all files of a source together instead, with
    /// [`Lake::commit_source`].
    pub fn commit(mut self) -> Result<WriteStats, LakeError> {
        if let Some(parent) = self.target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| io(&self.target, e))?;
        self.committed = true;
        if self.durability == Durability::Fsync {
            sync_dir(self.target.parent());
        }
        Ok(self.stats())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl StagedFile {
    /// A staged file of `bytes` (such as a cursor state) for `target`.
    pub(crate) fn from_bytes(
        lake: &Lake,
        ext: &str,
        target: PathBuf,
        bytes: &[u8],
    ) -> Result<StagedFile, LakeError> {
        let tmp = lake.tmp_file(ext)?;
        let staged = StagedFile {
            tmp,
            target,
            rows: 0,
            bytes: bytes.len() as u64,
            durability: lake.durability,
            whole_dir: false,
            committed: false,
        };
        // Dropped on error, so the partial file is deleted.
        write_file(&staged.tmp, bytes, lake.durability)?;
        Ok(staged)
    }
}

/// Writes `bytes` to `path`, fsynced when `durability` asks for it.
pub(crate) fn write_file(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), LakeError> {
    use std::io::Write;
    let mut f = File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    if durability == Durability::Fsync {
        f.sync_all().map_err(|e| io(path, e))?;
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: Option<&Path>) {
    // Makes the rename itself durable; best effort, not every platform allows it.
    if let Some(d) = dir
        && let Ok(f) = File::open(d)
    {
        let _ = f.sync_all();
    }
}
