//! A source's files replaced together: all of them or none.
//!
//! A sync stages every file of a source (a file per day of each stream's
//! window, its snapshots, its cursors) and replaces them with one
//! [`Lake::commit_source`]. One rename is atomic; a few hundred are not: one
//! that fails half way (a partition that cannot be created, a full disk, an
//! I/O error) or a `kill -9` would leave the source part new and part old.
//! So a commit keeps what it needs to undo itself, in
//! `_tmp/<pid>-commit-<n>/`:
//!
//! 1. It plans every step before touching the lake: each new file's target,
//!    each old file it replaces or removes (a day is replaced whole, so that
//!    is every file of the day's partition) and each directory it creates.
//!    The plan is written, fsynced, as `journal.json`.
//! 2. It keeps each old file as a hard link in the commit directory (a copy
//!    where the file system has none). The lake does not change yet. Moving
//!    the old files aside instead would leave readers (`kpi sql`, DuckDB)
//!    without those days for as long as the commit runs.
//! 3. It renames each new file over its target, which readers see as one
//!    step per file as before, and removes the day's other old files. The
//!    cursors come last, so they never describe data that is not there.
//! 4. Deleting the journal is the commit point; the kept files go after.
//!
//! An error in 2 to 4 undoes the commit (`Lake::undo`): the new files of
//! targets that had none are taken back out, every kept file is renamed over
//! its original (restoring a replaced or removed file; where the original
//! was not touched yet it is the same file and the rename does nothing), and
//! the directories the commit created are removed. The undo reads only the
//! journal and the disk, and running it twice is running it once, so a sync
//! killed during a commit (or during its undo) is undone the same way by the
//! next sync, from the journal ([`Lake::recover_commits`]), before `_tmp` is
//! swept. It is undone rather than finished because the undo needs nothing
//! but the kept files, which are in the commit directory, and because the
//! old files match the old cursors: the next sync reads those days again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::write::{next_id, sync_dir, write_file};
use crate::{Durability, Lake, LakeError, SourceState, StagedFile, WriteLock, WriteStats};

/// The journal's name in a commit directory; its presence means "undo me".
const JOURNAL: &str = "journal.json";
/// In the name of a commit directory: `<pid>-commit-<n>`.
const COMMIT_TAG: &str = "-commit-";

/// What a commit does, written before it does it. Paths are relative to the
/// lake root, so a lake moved after a crash is still recovered.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The source committed, for messages.
    source: String,
    /// Old files the commit replaces or removes, each with its kept copy.
    kept: Vec<Kept>,
    /// New files, in the order they are renamed into place.
    placed: Vec<Place>,
    /// Directories the commit creates, parents first.
    created: Vec<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    original: PathBuf,
    copy: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Place {
    /// The new file's name under `_tmp/` until it is placed.
    staged: PathBuf,
    target: PathBuf,
    /// The target existed (its old file is among `kept`).
    had_file: bool,
    /// Old files of the target's partition removed once it is placed.
    remove: Vec<PathBuf>,
}

/// Where a step failed and why.
type StepError = (PathBuf, std::io::Error);

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

impl Lake {
    /// Replaces the files of one source and then its cursors, all together
    /// or not at all: on an error every file already replaced is put back
    /// and the error names the path that failed. `files` are the staged
    /// files of every stream of `source`; a daily file replaces its whole
    /// partition. Returns the rows and bytes of `files`.
    pub fn commit_source(
        &self,
        source: &str,
        files: Vec<StagedFile>,
        state: &SourceState,
    ) -> Result<WriteStats, LakeError> {
        self.commit_until(source, files, state, usize::MAX)
    }

    /// [`Lake::commit_source`], stopping as if killed before step `stop`.
    fn commit_until(
        &self,
        source: &str,
        mut files: Vec<StagedFile>,
        state: &SourceState,
        stop: usize,
    ) -> Result<WriteStats, LakeError> {
        // A fixed order: the same commit fails at the same file every time.
        files.sort_by(|a, b| a.target.cmp(&b.target));
        let mut stats = WriteStats::default();
        for f in &files {
            stats.rows += f.stats().rows;
            stats.bytes += f.stats().bytes;
        }
        // Failures before the journal is on disk touched nothing in the lake.
        let untouched = |e: LakeError| match e {
            LakeError::Io { path, message } => LakeError::Commit {
                source_name: source.to_string(),
                path,
                message,
            },
            other => other,
        };
        files.push(self.stage_state(source, state).map_err(untouched)?);
        let dir = self
            .tmp_dir()
            .join(format!("{}{COMMIT_TAG}{}", std::process::id(), next_id()));
        let journal = self.plan(source, &files, &dir).map_err(untouched)?;
        if let Err(e) = self.write_journal(&journal, &dir) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(untouched(e));
        }
        let mut budget = stop;
        match self.apply(&journal, &dir, &mut budget) {
            // Killed after the commit point, before the kept files went.
            Ok(true) if budget == 0 => {
                std::mem::forget(files);
                Ok(stats)
            }
            Ok(true) => {
                for f in &mut files {
                    f.committed = true;
                }
                let _ = std::fs::remove_dir_all(&dir);
                Ok(stats)
            }
            Ok(false) => {
                // A test's kill: no destructor runs, the staged files stay.
                std::mem::forget(files);
                Ok(stats)
            }
            Err((path, e)) => match self.undo(&journal) {
                Ok(()) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    Err(LakeError::Commit {
                        source_name: source.to_string(),
                        path,
                        message: e.to_string(),
                    })
                }
                // The journal stays: the next sync undoes the rest.
                Err((undo_path, undo)) => Err(LakeError::RollbackFailed {
                    source_name: source.to_string(),
                    path,
                    message: e.to_string(),
                    undo: format!("{}: {undo}", undo_path.display()),
                    kept: dir,
                }),
            },
        }
    }

    /// Every step of committing `files`, from what is on disk now.
    fn plan(&self, source: &str, files: &[StagedFile], dir: &Path) -> Result<Journal, LakeError> {
        let root = self.root();
        let rel = |p: &Path| -> Result<PathBuf, LakeError> {
            p.strip_prefix(root)
                .map(Path::to_path_buf)
                .map_err(|_| LakeError::Io {
                    path: p.to_path_buf(),
                    message: format!("not inside the lake {}", root.display()),
                })
        };
        let mut journal = Journal {
            source: source.to_string(),
            kept: Vec::new(),
            placed: Vec::new(),
            created: Vec::new(),
        };
        let targets: std::collections::BTreeSet<&Path> =
            files.iter().map(|f| f.target.as_path()).collect();
        let keep = |original: PathBuf, journal: &mut Journal| -> Result<(), LakeError> {
            let original = rel(&original)?;
            if !journal.kept.iter().any(|k| k.original == original) {
                let copy = rel(&dir.join(journal.kept.len().to_string()))?;
                journal.kept.push(Kept { original, copy });
            }
            Ok(())
        };
        for f in files {
            let parent = f
                .target
                .parent()
                .expect("a target is a file in a directory");
            // Directories to create: the missing ancestors inside the lake.
            let mut missing = Vec::new();
            let mut d = parent;
            while d.starts_with(root) && d != root {
                match d.symlink_metadata() {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(rel(d)?),
                    Err(e) => return Err(crate::io(d, e)),
                }
                d = d.parent().unwrap_or(root);
            }
            for m in missing.into_iter().rev() {
                if !journal.created.contains(&m) {
                    journal.created.push(m);
                }
            }
            // The old files: the target, and for a day every file of its
            // partition (directories in it are not the lake's and stay).
            let mut had_file = false;
            let mut remove = Vec::new();
            if f.whole_dir {
                let entries = match std::fs::read_dir(parent) {
                    Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
                .map_err(|e| crate::io(parent, e))?;
                for e in entries {
                    let is_dir = e
                        .file_type()
                        .map_err(|err| crate::io(&e.path(), err))?
                        .is_dir();
                    if is_dir {
                        continue;
                    }
                    let path = e.path();
                    if path == f.target {
                        had_file = true;
                    } else if !targets.contains(path.as_path()) {
                        remove.push(rel(&path)?);
                    }
                    keep(path, &mut journal)?;
                }
            } else {
                match f.target.symlink_metadata() {
                    Ok(m) if !m.is_dir() => {
                        had_file = true;
                        keep(f.target.clone(), &mut journal)?;
                    }
                    // A directory in the way: the rename fails and is undone.
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(crate::io(&f.target, e)),
                }
            }
            journal.placed.push(Place {
                staged: rel(&f.tmp)?,
                target: rel(&f.target)?,
                had_file,
                remove,
            });
        }
        Ok(journal)
    }

    fn write_journal(&self, journal: &Journal, dir: &Path) -> Result<(), LakeError> {
        std::fs::create_dir_all(dir).map_err(|e| crate::io(dir, e))?;
        let text = serde_json::to_vec_pretty(journal).map_err(|e| LakeError::Io {
            path: dir.join(JOURNAL),
            message: e.to_string(),
        })?;
        // Complete before it has its name: a journal is never half written.
        let part = dir.join(format!("{JOURNAL}.part"));
        write_file(&part, &text, self.durability)?;
        let path = dir.join(JOURNAL);
        std::fs::rename(&part, &path).map_err(|e| crate::io(&path, e))?;
        if self.durability == Durability::Fsync {
            sync_dir(Some(dir));
            sync_dir(dir.parent());
        }
        Ok(())
    }

    /// Steps 2 to 4; `Ok(false)` when stopped (a test's kill) because
    /// `budget` steps were taken. Each step that changes the lake is one
    /// rename or removal.
    fn apply(&self, j: &Journal, dir: &Path, budget: &mut usize) -> Result<bool, StepError> {
        let root = self.root();
        let fsync = self.durability == Durability::Fsync;
        let mut step = || {
            let go = *budget > 0;
            *budget = budget.saturating_sub(1);
            go
        };
        for k in &j.kept {
            if !step() {
                return Ok(false);
            }
            keep(&root.join(&k.original), &root.join(&k.copy), fsync)?;
        }
        if fsync {
            sync_dir(Some(dir));
        }
        for p in &j.placed {
            let target = root.join(&p.target);
            let parent = target.parent().expect("a target has a parent");
            if !step() {
                return Ok(false);
            }
            std::fs::create_dir_all(parent).map_err(|e| (parent.to_path_buf(), e))?;
            std::fs::rename(root.join(&p.staged), &target).map_err(|e| (target.clone(), e))?;
            for r in &p.remove {
                if !step() {
                    return Ok(false);
                }
                let path = root.join(r);
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err((path, e)),
                    _ => {}
                }
            }
            if fsync {
                sync_dir(Some(parent));
            }
        }
        if !step() {
            return Ok(false);
        }
        // The commit point.
        let journal = dir.join(JOURNAL);
        std::fs::remove_file(&journal).map_err(|e| (journal, e))?;
        if fsync {
            sync_dir(Some(dir));
        }
        Ok(true)
    }

    /// Puts back what `j` changed, from whatever point it stopped at; see
    /// the module's notes. Doing it again changes nothing.
    fn undo(&self, j: &Journal) -> Result<(), StepError> {
        let root = self.root();
        // New files where there was none go back to their staged name, and
        // are deleted with it (by the staged file, or by the sweep of `_tmp`).
        for p in j.placed.iter().rev().filter(|p| !p.had_file) {
            let (staged, target) = (root.join(&p.staged), root.join(&p.target));
            if !exists(&staged) && exists(&target) {
                std::fs::rename(&target, &staged).map_err(|e| (target, e))?;
            }
        }
        // Old files back over their originals: a replaced or removed one is
        // restored; one not yet touched is the same file, and nothing happens.
        for k in j.kept.iter().rev() {
            let copy = root.join(&k.copy);
            if exists(&copy) {
                let original = root.join(&k.original);
                std::fs::rename(&copy, &original).map_err(|e| (original.clone(), e))?;
                if self.durability == Durability::Fsync {
                    sync_dir(original.parent());
                }
            }
        }
        // Directories it created, deepest first, if nothing else is in them.
        for d in j.created.iter().rev() {
            let _ = std::fs::remove_dir(root.join(d));
        }
        Ok(())
    }

    /// Undoes every commit that a killed sync left half done, from its
    /// journal, and removes the files finished commits kept. Taking the
    /// write lock proves no commit is running, so this runs before anything
    /// else in a sync (before [`Lake::remove_orphaned_tmp`] too). Fails,
    /// naming the commit and the path, when one cannot be undone: nothing
    /// should be written over a half-replaced source until it is. Returns
    /// how many commits were undone.
    pub fn recover_commits(&self, _lock: &WriteLock) -> Result<usize, LakeError> {
        let tmp = self.tmp_dir();
        let entries = match std::fs::read_dir(&tmp) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(crate::io(&tmp, e)),
        };
        let mut undone = 0;
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.contains(COMMIT_TAG) || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = e.path();
            let path = dir.join(JOURNAL);
            let failed = |path: &Path, message: String| LakeError::Recovery {
                dir: dir.clone(),
                path: path.to_path_buf(),
                message,
            };
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let journal: Journal = serde_json::from_slice(&bytes)
                        .map_err(|err| failed(&path, err.to_string()))?;
                    self.undo(&journal)
                        .map_err(|(p, err)| failed(&p, err.to_string()))?;
                    std::fs::remove_file(&path).map_err(|err| failed(&path, err.to_string()))?;
                    tracing::warn!(
                        source = %journal.source,
                        "undid the commit of {} that an earlier sync left half done",
                        journal.source
                    );
                    undone += 1;
                }
                // Committed (or never begun): the kept files are not needed.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(failed(&path, err.to_string())),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(undone)
    }
}

/// Keeps `original` as `copy`: a hard link (instant, and the lake keeps the
/// file), or a full copy where hard links are not supported.
fn keep(original: &Path, copy: &Path, fsync: bool) -> Result<(), StepError> {
    if std::fs::hard_link(original, copy).is_ok() {
        return Ok(());
    }
    // Complete before it has its name: the undo renames whatever is there
    // over the original.
    let part = copy.with_extension("part");
    let copied = std::fs::copy(original, &part).and_then(|_| {
        if fsync {
            std::fs::File::open(&part)?.sync_all()?;
        }
        std::fs::rename(&part, copy)
    });
    copied.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        (original.to_path_buf(), e)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use chrono::NaiveDate;

    use super::*;
    use crate::StreamCursor;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]))
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, d).unwrap()
    }

    /// A staged day file of `src/stats` holding the one value `v`.
    fn staged_day(lake: &Lake, d: u32, v: i64) -> StagedFile {
        let mut w = lake.daily_writer("src", "stats", day(d), schema()).unwrap();
        let batch =
            RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(vec![v]))]).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap()
    }

    fn state(through: u32) -> SourceState {
        let mut s = SourceState::default();
        s.streams.insert(
            "stats".into(),
            StreamCursor {
                synced_through: day(through),
                synced_at: "2026-11-01T06:00:00Z".into(),
            },
        );
        s
    }

    /// Every file and directory under the root, files with their bytes.
    fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.file_name().is_some_and(|n| n == "sync.lock") {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    out.insert(p.clone(), None);
                    stack.push(p);
                } else {
                    out.insert(p.clone(), std::fs::read(&p).ok());
                }
            }
        }
        out
    }

    /// Days 1 to 3 committed with value 1, and an older writer's extra file
    /// in day 2, which a re-sync of day 2 removes.
    fn lake_with_three_days(dir: &Path) -> Lake {
        let lake = Lake::create(dir).unwrap();
        let files = (1..=3).map(|d| staged_day(&lake, d, 1)).collect();
        lake.commit_source("src", files, &state(3)).unwrap();
        let extra = lake
            .partition_dir("src", "stats", day(2))
            .join("part-1.parquet");
        std::fs::write(extra, b"an older writer's file").unwrap();
        lake
    }

    #[test]
    fn a_commit_replaces_each_day_whole_and_then_the_cursors() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake_with_three_days(dir.path());
        let files = (2..=4).map(|d| staged_day(&lake, d, 2)).collect();
        lake.commit_source("src", files, &state(4)).unwrap();
        let day2 = lake.partition_dir("src", "stats", day(2));
        let names: Vec<_> = std::fs::read_dir(&day2)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![crate::PART_FILE]);
        assert!(
            lake.partition_dir("src", "stats", day(4))
                .join(crate::PART_FILE)
                .exists()
        );
        assert_eq!(lake.read_state("src").unwrap(), state(4));
        // Nothing is left in _tmp: no staged file, no kept file, no journal.
        assert_eq!(
            std::fs::read_dir(dir.path().join("_tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_failed_commit_puts_back_every_file_it_had_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake_with_three_days(dir.path());
        let before = tree(dir.path());
        // Days 2 to 5; day 5's staged file disappears, so its rename fails
        // after days 2 to 4 were renamed into place (day 4 a new partition)
        // and day 2's extra file was removed.
        let files: Vec<StagedFile> = (2..=5).map(|d| staged_day(&lake, d, 2)).collect();
        std::fs::remove_file(&files[3].tmp).unwrap();
        let err = lake.commit_source("src", files, &state(5)).unwrap_err();
        assert!(matches!(err, LakeError::Commit { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("date=2026-10-05/part-0.parquet"), "{text}");
        assert_eq!(tree(dir.path()), before, "the lake changed");
        // The next commit of the same days works.
        let files = (2..=5).map(|d| staged_day(&lake, d, 2)).collect();
        lake.commit_source("src", files, &state(5)).unwrap();
        assert_eq!(lake.read_state("src").unwrap(), state(5));
    }

    #[test]
    fn a_commit_killed_at_any_step_is_undone_by_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake_with_three_days(dir.path());
        let before = tree(dir.path());
        let lock = lake.lock_writes().unwrap();
        // 3 + 1 old files kept, 5 files placed (4 days and the state), one
        // extra removed, the commit point: 11 steps; killed before each.
        for stop in 0..11 {
            let files = (2..=5).map(|d| staged_day(&lake, d, 2)).collect();
            lake.commit_until("src", files, &state(5), stop).unwrap();
            assert_ne!(tree(dir.path()), before, "killed before step {stop}");
            assert_eq!(lake.recover_commits(&lock).unwrap(), 1, "step {stop}");
            // Undoing twice is undoing once.
            assert_eq!(lake.recover_commits(&lock).unwrap(), 0);
            // What the sweep then removes: the staged files of the "killed" commit.
            lake.remove_tmp_files(|_| true);
            assert_eq!(tree(dir.path()), before, "killed before step {stop}");
        }
        // Killed after the commit point: the commit stands.
        let files = (2..=5).map(|d| staged_day(&lake, d, 2)).collect();
        lake.commit_until("src", files, &state(5), 11).unwrap();
        assert!(dir.path().join("_tmp").read_dir().unwrap().count() > 0);
        assert_eq!(lake.recover_commits(&lock).unwrap(), 0);
        assert_eq!(lake.read_state("src").unwrap(), state(5));
        assert!(
            !lake
                .partition_dir("src", "stats", day(2))
                .join("part-1.parquet")
                .exists()
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("_tmp")).unwrap().count(),
            0
        );
    }
}
