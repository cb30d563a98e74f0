//! Cheap checks that a lake file is a whole Parquet file.
//!
//! DataFusion's listing tables skip 0-byte files without a word, so an empty
//! day file would silently drop that day, and an empty snapshot its whole
//! stream. Every table the lake registers checks the files a query is about to
//! read (see `register.rs`) with [`check_parquet`]: the size, the `PAR1` magic
//! at both ends and the footer length. It reads 12 bytes a file, never the
//! data, and each file once per session.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// Parquet's magic number, at the start and the end of every file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Why `path` is not a readable Parquet file, or `Ok` when its envelope is
/// sound (magic at both ends, a footer that fits in the file). A damaged
/// footer's contents are found only when it is parsed.
pub fn check_parquet(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    if len == 0 {
        return Err("the file is empty (0 bytes)".into());
    }
    // Magic, footer length, magic: the smallest Parquet file is 12 bytes.
    if len < 12 {
        return Err(format!("the file is {len} bytes, too short to be Parquet"));
    }
    let mut head = [0u8; 4];
    let mut tail = [0u8; 8];
    file.read_exact(&mut head)
        .and_then(|_| file.seek(SeekFrom::End(-8)))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| format!("cannot be read: {e}"))?;
    if &head != MAGIC {
        return Err("not a Parquet file (it does not start with PAR1)".into());
    }
    if &tail[4..] != MAGIC {
        return Err(format!(
            "no Parquet footer (the {len}-byte file does not end with PAR1: cut short?)"
        ));
    }
    let footer = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
    if footer + 12 > len {
        return Err(format!(
            "the footer claims {footer} bytes, more than the {len}-byte file holds (cut short?)"
        ));
    }
    Ok(())
}

/// One data file a stream's table reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its day, for a daily stream's partition file.
    pub date: Option<NaiveDate>,
}

/// What a damaged file is to the lake, which says how it is written again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileRole {
    /// A raw stream's file, written by `kpi sync`.
    Raw {
        /// Source name (`[sources.<name>]`).
        source: String,
        /// Stream name.
        stream: String,
        /// The day of a daily stream's file; `None` for a snapshot.
        date: Option<NaiveDate>,
    },
    /// A canonical view's file, written by `kpi materialize`.
    Canonical {
        /// The view.
        view: String,
    },
    /// A file kpi did not write (read by its path in `kpi sql`).
    Other,
}

/// A file that cannot be read, with what it is and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadFile {
    /// What the file is.
    pub role: FileRole,
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// Data files a query needed and could not read: the query stops rather than
/// leave their rows out. The message names each file and the command that
/// writes it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnreadableFiles {
    /// The files, sorted.
    pub files: Vec<BadFile>,
}

/// How many files an error lists before it counts the rest.
const LISTED: usize = 10;

/// How many runs of days get a sync command each before one command covers
/// them all.
const MAX_RUNS: usize = 3;

impl UnreadableFiles {
    /// The commands that write the files again. Per source: its damaged days
    /// (a command per run of consecutive days, or one from the first to the
    /// last when they are scattered) or, for a snapshot, a full refresh; for
    /// canonical views, `kpi materialize`.
    pub fn fixes(&self) -> Vec<String> {
        let mut per_source: BTreeMap<&str, (BTreeSet<NaiveDate>, bool)> = BTreeMap::new();
        let mut canonical = false;
        for f in &self.files {
            match &f.role {
                FileRole::Raw { source, date, .. } => {
                    let (days, snapshot) = per_source.entry(source).or_default();
                    match date {
                        Some(d) => {
                            days.insert(*d);
                        }
                        None => *snapshot = true,
                    }
                }
                FileRole::Canonical { .. } => canonical = true,
                FileRole::Other => {}
            }
        }
        let mut out = Vec::new();
        for (source, (days, snapshot)) in per_source {
            if snapshot {
                // A full refresh reads every stream of the source again.
                out.push(format!("kpi sync --source {source} --full-refresh"));
                continue;
            }
            let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
            for d in days {
                match runs.last_mut() {
                    Some((_, end)) if end.succ_opt() == Some(d) => *end = d,
                    _ => runs.push((d, d)),
                }
            }
            if runs.len() > MAX_RUNS {
                runs = vec![(runs[0].0, runs[runs.len() - 1].1)];
            }
            for (from, to) in runs {
                out.push(format!(
                    "kpi sync --source {source} --from {from} --to {to}"
                ));
            }
        }
        if canonical {
            out.push("kpi materialize".to_string());
        }
        out
    }
}

impl fmt::Display for UnreadableFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} data file(s) cannot be read, so their rows would be missing; nothing was computed:",
            self.files.len()
        )?;
        for b in self.files.iter().take(LISTED) {
            write!(f, "\n  {}: {}", b.path.display(), b.reason)?;
        }
        if self.files.len() > LISTED {
            write!(f, "\n  ... and {} more", self.files.len() - LISTED)?;
        }
        let fixes = self.fixes();
        if !fixes.is_empty() {
            write!(
                f,
                "\nfix: write them again (each command replaces those days, snapshots or views \
                 whole), then re-run:"
            )?;
            for fix in fixes {
                write!(f, "\n  {fix}")?;
            }
        }
        if self
            .files
            .iter()
            .any(|b| matches!(b.role, FileRole::Raw { .. }))
        {
            write!(
                f,
                "\n(a source kpi does not sync: load those files again the way they were loaded)"
            )?;
        }
        if self.files.iter().any(|b| b.role == FileRole::Other) {
            write!(
                f,
                "\n(a file kpi did not write: put a whole copy in its place)"
            )?;
        }
        Ok(())
    }
}

impl crate::Lake {
    /// Checks every Parquet file at `path` (a file, or a directory and all
    /// under it) with [`check_parquet`], for a query that reads it by its
    /// path; each bad file is classified by where it is in this lake. A path
    /// that does not exist is left to the query to report.
    pub fn check_path(&self, path: &Path) -> Result<(), UnreadableFiles> {
        let mut files = Vec::new();
        let mut stack = vec![path.to_path_buf()];
        while let Some(p) = stack.pop() {
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&p) {
                    stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
                }
            } else if p.extension().is_some_and(|e| e == "parquet") {
                files.push(p);
            }
        }
        let root = std::fs::canonicalize(self.root()).ok();
        let mut bad = Vec::new();
        for p in files {
            if let Err(reason) = check_parquet(&p) {
                let role = root
                    .as_deref()
                    .and_then(|root| role_in(root, &p))
                    .unwrap_or(FileRole::Other);
                bad.push(BadFile {
                    role,
                    path: p,
                    reason,
                });
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        bad.sort();
        Err(UnreadableFiles { files: bad })
    }
}

/// What `file` is in the lake at `root` (canonical), from its place in the
/// layout.
fn role_in(root: &Path, file: &Path) -> Option<FileRole> {
    let rel = std::fs::canonicalize(file).ok()?;
    let rel = rel.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    match parts.as_slice() {
        [raw, source, stream, day, _file] if raw == "raw" => {
            let date = day.strip_prefix("date=")?.parse().ok()?;
            Some(FileRole::Raw {
                source: source.clone(),
                stream: stream.clone(),
                date: Some(date),
            })
        }
        [raw, source, stream, _file] if raw == "raw" => Some(FileRole::Raw {
            source: source.clone(),
            stream: stream.clone(),
            date: None,
        }),
        [canonical, view, _file] if canonical == "canonical" => {
            Some(FileRole::Canonical { view: view.clone() })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn empty_short_foreign_and_cut_files_are_named_and_whole_ones_pass() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let why = |name: &str, bytes: &[u8]| check_parquet(&write(d, name, bytes)).unwrap_err();
        assert!(why("empty.parquet", b"").contains("empty (0 bytes)"));
        assert!(why("short.parquet", b"PAR1PAR1").contains("too short"));
        assert!(
            why("csv.parquet", b"date,spend\n2026-11-03,1.0\n")
                .contains("does not start with PAR1")
        );
        assert!(
            why(
                "cut.parquet",
                b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00"
            )
            .contains("does not end with PAR1")
        );
        let mut long_footer = b"PAR1abcd".to_vec();
        long_footer.extend_from_slice(&1000u32.to_le_bytes());
        long_footer.extend_from_slice(b"PAR1");
        assert!(why("footer.parquet", &long_footer).contains("claims 1000 bytes"));
        assert!(
            check_parquet(&d.join("missing.parquet"))
                .unwrap_err()
                .contains("cannot be opened")
        );

        // A real file, and the same file cut short by one byte.
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int64, false),
        ]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                1, 2, 3,
            ]))],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        check_parquet(&write(d, "whole.parquet", &bytes)).unwrap();
        assert!(
            check_parquet(&write(d, "cut1.parquet", &bytes[..bytes.len() - 1]))
                .unwrap_err()
                .contains("does not end with PAR1")
        );
    }

    #[test]
    fn the_message_names_each_file_and_one_sync_per_source() {
        let bad = |source: &str, stream: &str, date: Option<&str>, path: &str| BadFile {
            role: FileRole::Raw {
                source: source.into(),
                stream: stream.into(),
                date: date.map(|d| d.parse().unwrap()),
            },
            path: path.into(),
            reason: "the file is empty (0 bytes)".into(),
        };
        let e = UnreadableFiles {
            files: vec![
                bad(
                    "ga4",
                    "traffic",
                    Some("2026-11-03"),
                    "lake/raw/ga4/traffic/date=2026-11-03/part-0.parquet",
                ),
                bad(
                    "ga4",
                    "traffic",
                    Some("2026-11-05"),
                    "lake/raw/ga4/traffic/date=2026-11-05/part-0.parquet",
                ),
                bad(
                    "ga4",
                    "conversions",
                    Some("2026-11-04"),
                    "lake/raw/ga4/conversions/date=2026-11-04/part-0.parquet",
                ),
                bad(
                    "ga4",
                    "traffic",
                    Some("2026-11-20"),
                    "lake/raw/ga4/traffic/date=2026-11-20/part-0.parquet",
                ),
                bad(
                    "hubspot",
                    "deals",
                    None,
                    "lake/raw/hubspot/deals/part-0.parquet",
                ),
            ],
        };
        assert_eq!(
            e.fixes(),
            [
                "kpi sync --source ga4 --from 2026-11-03 --to 2026-11-05",
                "kpi sync --source ga4 --from 2026-11-20 --to 2026-11-20",
                "kpi sync --source hubspot --full-refresh"
            ]
        );
        let text = e.to_string();
        assert!(
            text.contains(
                "lake/raw/ga4/traffic/date=2026-11-03/part-0.parquet: the file is empty (0 bytes)"
            ),
            "{text}"
        );
        assert!(
            text.contains("lake/raw/hubspot/deals/part-0.parquet"),
            "{text}"
        );
        assert!(
            text.contains("\n  kpi sync --source hubspot --full-refresh"),
            "{text}"
        );
    }

    #[test]
    fn a_path_read_by_sql_is_checked_and_its_files_named_by_their_place_in_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::create(dir.path()).unwrap();
        let view = dir.path().join("canonical/crm_deals");
        let day = dir.path().join("raw/ga4/traffic/date=2026-11-03");
        for d in [&view, &day] {
            std::fs::create_dir_all(d).unwrap();
            write(d, "part-0.parquet", b"");
        }
        write(dir.path(), "notes.csv", b"a,b\n");
        let e = lake.check_path(&dir.path().join("canonical")).unwrap_err();
        assert_eq!(
            e.files[0].role,
            FileRole::Canonical {
                view: "crm_deals".into()
            }
        );
        assert_eq!(e.fixes(), ["kpi materialize"]);
        let e = lake.check_path(&view.join("part-0.parquet")).unwrap_err();
        assert_eq!(e.files.len(), 1);
        let e = lake.check_path(dir.path()).unwrap_err();
        assert_eq!(e.files.len(), 2);
        assert!(
            e.fixes()
                .contains(&"kpi sync --source ga4 --from 2026-11-03 --to 2026-11-03".to_string())
        );
        lake.check_path(&dir.path().join("notes.csv")).unwrap();
        lake.check_path(&dir.path().join("nowhere.parquet"))
            .unwrap();
        // Outside the lake: named, with no command to write it.
        let other = tempfile::tempdir().unwrap();
        let file = write(other.path(), "x.parquet", b"");
        let e = lake.check_path(&file).unwrap_err();
        assert_eq!(e.files[0].role, FileRole::Other);
        assert!(e.to_string().contains("a file kpi did not write"), "{e}");
    }
}
