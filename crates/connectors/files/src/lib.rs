//! `kpi-connector-files`: the sources that arrive as files a person or
//! another system exports: marketing costs outside the ad platforms
//! (`type = "costs"`), an SEO tool's backlink history (`type =
//! "backlinks"`: Ahrefs, Semrush and Moz layouts) and organic social page
//! insights and listening mentions (`type = "social"`), and rows for any
//! other canonical view no connector feeds, in that view's terms (`type =
//! "custom"`: another ad platform, offline conversions, a homegrown CRM).
//!
//! It owns what loading such files takes: their streams' schemas (the
//! lake's), finding a stream's files in a folder and hashing them (a file
//! already loaded, by content, is not loaded again), reading CSV, JSON
//! Lines and Parquet, the text encodings and separators spreadsheets
//! export (`;` with decimal commas, UTF-16, Windows-1252), the mapping of a
//! file's headers to the stream's columns, and bad rows named by file,
//! line and column. The same streams can come from a PostgreSQL query
//! instead of files (`postgres = { url, query, incremental }`), read in
//! batches by the same rules. Which files are new, which days they replace and the
//! record of what was loaded are the runner's (`kpi-pipeline`), as a
//! connector's window and cursor are.
//!
//! ```
//! use kpi_connector_files::CostsSource;
//!
//! let c: CostsSource = toml::from_str(r#"
//! path = "inputs/costs"
//! date_format = "%d/%m/%Y"
//! columns = { amount = "Importe" }
//! "#).unwrap();
//! assert_eq!(c.0.columns["amount"], "Importe");
//! ```

mod custom;
mod postgres;
mod read;
mod settings;
mod types;
mod value;

use std::path::{Path, PathBuf};

pub use custom::{CUSTOM_VIEWS, CustomSource};
pub use postgres::{BATCH_ROWS, Changes, QueryInput};
pub use read::{
    BadRow, FoundFile, ReadFile, RowReader, find_files, read_file, rejects_csv, rows_between,
    rows_not_seen,
};
pub use settings::{FileSettings, Format, OnBadRows, PostgresInput};
pub use types::{
    BacklinksSource, CostsSource, FileStream, FileType, MARKETING_COSTS, MENTIONS, Overlap,
    PAGE_INSIGHTS, Preset, SNAPSHOTS, SocialSource,
};
pub use value::Decimal;

/// Why a stream's files could not be loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The folder or a file could not be read.
    #[error("{}: {message}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's words.
        message: String,
    },
    /// The file as a whole cannot be used (no column for a required field,
    /// not the format it claims).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Rows that do not read; nothing of the file was loaded.
    #[error(
        "{}: {total} bad row{}, so nothing of the file was loaded:\n{}{}\nFix them, or set \
         on_bad_rows = \"skip\" to load the other rows and write these to the lake's _rejects \
         folder",
        path.display(),
        if *total == 1 { "" } else { "s" },
        rows.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"),
        if *total > rows.len() { format!("\n  ... and {} more", total - rows.len()) } else { String::new() }
    )]
    BadRows {
        /// The file.
        path: PathBuf,
        /// The first bad rows.
        rows: Vec<BadRow>,
        /// How many there are.
        total: usize,
    },
}

impl FileError {
    fn io(path: &Path, e: std::io::Error) -> Self {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
            _ => e.to_string(),
        };
        FileError::Io {
            path: path.to_path_buf(),
            message,
        }
    }
}
