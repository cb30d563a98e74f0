//! `kpi-lake`: the Parquet lake on disk.
//!
//! It owns the layout (`raw/<source>/<stream>/date=YYYY-MM-DD/part-0.parquet`,
//! Hive style so DuckDB, Polars and Spark read it as is), atomic writes (a file
//! is written under `_tmp/` and renamed into place, so a reader never sees half
//! a partition and a re-synced day replaces the old one whole), a source's
//! files and cursors replaced all together or not at all (`commit.rs`: an
//! error or a kill half way is undone), cursor state
//! per source (`_state/<source>.json`), and registering streams as DataFusion
//! tables with the `date` partition column so that a one-month query over two
//! years of data only opens one month of files, and checking that the files a
//! query reads are whole Parquet files (an empty one is an error, not a day
//! without rows).

mod check;
mod commit;
mod lock;
mod register;
pub mod spec;
mod staged;
mod state;
mod write;

use std::path::{Path, PathBuf};

pub use check::{BadFile, FileRole, UnreadableFiles, check_parquet};
pub use lock::WriteLock;
pub use register::{RegisteredStream, enable_checked_url_tables, register_stream, table_schema};
pub use spec::{Layout, StreamSpec};
pub use staged::{StageError, StagedStream};
pub use state::{LoadedFile, SourceState, StreamCursor};
pub use write::{Durability, PART_FILE, SnapshotWriter, StagedFile, WriteStats};

/// Name of the file a lake root holds so that tools know what it is.
pub const LAKE_MARKER: &str = "_kpi_lake.json";

/// A lake rooted at a directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    durability: Durability,
}

impl Lake {
    /// Opens an existing lake; fails with the path when it does not exist.
    pub fn open(root: &Path) -> Result<Self, LakeError> {
        if !root.is_dir() {
            return Err(LakeError::Missing(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            durability: Durability::Fsync,
        })
    }

    /// Creates the lake directory (and parents) if needed and opens it.
    pub fn create(root: &Path) -> Result<Self, LakeError> {
        std::fs::create_dir_all(root.join("raw")).map_err(|e| io(root, e))?;
        let marker = root.join(LAKE_MARKER);
        if !marker.exists() {
            std::fs::write(&marker, "{\"layout\": 1}\n").map_err(|e| io(&marker, e))?;
        }
        Self::open(root)
    }

    /// Chooses whether writes are flushed to disk before they are renamed into
    /// place. `Fsync` (the default) survives a power cut; `Os` leaves it to the
    /// operating system, for throw-away lakes such as the demo.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of one raw stream.
    pub fn stream_dir(&self, source: &str, stream: &str) -> PathBuf {
        self.root.join("raw").join(source).join(stream)
    }

    /// Directory of one daily partition.
    pub fn partition_dir(&self, source: &str, stream: &str, date: chrono::NaiveDate) -> PathBuf {
        self.stream_dir(source, stream)
            .join(format!("date={}", date.format("%Y-%m-%d")))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("_tmp")
    }

    /// What is in the lake for one stream: days present and files.
    pub fn stream_contents(&self, source: &str, stream: &str) -> Result<StreamContents, LakeError> {
        Ok(self.scan_stream(source, stream)?.0)
    }

    /// What one stream holds, and the data files its table reads: the
    /// `.parquet` files of each `date=` partition, or at the top of a
    /// snapshot stream's directory.
    pub(crate) fn scan_stream(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<(StreamContents, Vec<check::DataFile>), LakeError> {
        let dir = self.stream_dir(source, stream);
        let mut contents = StreamContents::default();
        let mut files = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((contents, files)),
            Err(e) => return Err(io(&dir, e)),
        };
        let is_parquet = |name: &std::ffi::OsStr| name.to_string_lossy().ends_with(".parquet");
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(d) = name.strip_prefix("date=") {
                if let Ok(date) = d.parse::<chrono::NaiveDate>() {
                    let before = files.len();
                    for f in std::fs::read_dir(entry.path())
                        .map_err(|e| io(&entry.path(), e))?
                        .filter_map(Result::ok)
                        .filter(|f| is_parquet(&f.file_name()))
                    {
                        files.push(check::DataFile {
                            path: f.path(),
                            date: Some(date),
                        });
                    }
                    if files.len() > before {
                        contents.days += 1;
                        contents.first_day = Some(contents.first_day.map_or(date, |f| f.min(date)));
                        contents.last_day = Some(contents.last_day.map_or(date, |l| l.max(date)));
                    }
                }
            } else if is_parquet(&entry.file_name()) {
                contents.snapshot = true;
                files.push(check::DataFile {
                    path: entry.path(),
                    date: None,
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((contents, files))
    }
}

impl Lake {
    /// Parquet files under `raw/` whose footer cannot be read, with the reason.
    /// Used to name the culprit when a query fails on a damaged file; it reads
    /// only footers, not data.
    pub fn damaged_files(&self) -> Vec<(PathBuf, String)> {
        let mut bad = Vec::new();
        let mut stack = vec![self.root.join("raw")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    let check = std::fs::File::open(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|f| {
                            parquet::file::reader::SerializedFileReader::new(f)
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        });
                    if let Err(e) = check {
                        bad.push((path, e));
                    }
                }
            }
        }
        bad.sort();
        bad
    }
}

/// What one stream holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamContents {
    /// Number of daily partitions with data.
    pub days: u64,
    /// Earliest partition date.
    pub first_day: Option<chrono::NaiveDate>,
    /// Latest partition date.
    pub last_day: Option<chrono::NaiveDate>,
    /// A snapshot file is present.
    pub snapshot: bool,
}

impl StreamContents {
    /// Whether the stream has any data at all.
    pub fn has_data(&self) -> bool {
        self.days > 0 || self.snapshot
    }
}

/// Lake failures; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake directory does not exist.
    #[error("lake directory {} does not exist (check [lake] path in kpi.toml, or run `kpi demo`)", .0.display())]
    Missing(PathBuf),
    /// A file operation failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// Writing Parquet failed.
    #[error("writing {}: {message}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The writer's reason.
        message: String,
    },
    /// A source's commit failed at `path`; every file it had replaced was
    /// put back, so the lake and the cursors of the source are as they were.
    #[error("{source_name}: replacing {}: {message}; no file of {source_name} was replaced (any already renamed were put back)", path.display())]
    Commit {
        /// The source.
        source_name: String,
        /// The file or directory that failed.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// A source's commit failed, and so did putting the old files back:
    /// the source is part new, part old until the next sync undoes it.
    #[error(
        "{source_name}: replacing {}: {message}; putting the old files back then failed at {undo}. \
         They are kept in {}; the next `kpi sync` puts them back before it writes anything",
        path.display(), kept.display()
    )]
    RollbackFailed {
        /// The source.
        source_name: String,
        /// The file or directory that failed first.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
        /// Where putting back failed, and why (`path: reason`).
        undo: String,
        /// The commit's directory (journal and old files).
        kept: PathBuf,
    },
    /// A commit a killed sync left half done could not be undone.
    #[error(
        "a sync was stopped while it replaced files, and undoing that failed at {}: {message}. \
         Nothing is synced until it is undone: fix the cause and run `kpi sync` again (the \
         journal and the old files are in {})",
        path.display(), dir.display()
    )]
    Recovery {
        /// The commit's directory.
        dir: PathBuf,
        /// The file that failed.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another process holds the lake's write lock.
    #[error("another sync is writing this lake ({holder}, lock {}); wait for it to finish", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as that process wrote it (`pid N`).
        holder: String,
    },
    /// The snapshot an incremental read merges into cannot be read, or
    /// holds other columns than the stream's.
    #[error("{}: {message}", path.display())]
    Merge {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong, and what to run.
        message: String,
    },
    /// A state file is not valid.
    #[error("cursor state {}: {message}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Data files a query needed cannot be read (empty, cut short, not
    /// Parquet).
    #[error(transparent)]
    Unreadable(#[from] UnreadableFiles),
    /// DataFusion refused a table.
    #[error("registering {table}: {message}")]
    Register {
        /// The table name.
        table: String,
        /// DataFusion's reason.
        message: String,
    },
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> LakeError {
    LakeError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
