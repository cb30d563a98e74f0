//! One writer at a time, and what a killed writer left behind.
//!
//! Two syncs of the same lake started by cron and by hand would interleave
//! their renames and leave a source half one run and half the other, so a
//! sync holds an exclusive lock on `<lake>/_state/sync.lock` for as long as
//! it stages and commits. The operating system drops the lock when the
//! process dies, even on `kill -9`, so there is nothing stale to clean.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::PathBuf;

use crate::{Lake, LakeError, io};

/// Held while a sync writes; released on drop or when the process ends.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

impl Lake {
    fn lock_path(&self) -> PathBuf {
        self.root().join("_state").join("sync.lock")
    }

    /// Takes the lake's write lock, or fails at once naming the process
    /// that holds it.
    pub fn lock_writes(&self) -> Result<WriteLock, LakeError> {
        let path = self.lock_path();
        let dir = path.parent().expect("lock path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LakeError::Busy {
                    path,
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(&path, e)),
        }
        // Who holds it, for the message another process prints.
        let _ = file.set_len(0);
        let _ = write!(file, "pid {}", std::process::id());
        Ok(WriteLock { _file: file })
    }

    /// Deletes temporary files under `_tmp/` left by writers that no longer
    /// run (a killed sync); files of live processes are left alone, and so
    /// are the directories of commits, which hold the only copy of what a
    /// half-done commit replaced: [`Lake::recover_commits`] is for those.
    /// Returns how many were removed.
    pub fn remove_orphaned_tmp(&self) -> usize {
        self.remove_tmp_files(|pid| pid != std::process::id() && !process_alive(pid))
    }

    /// Deletes the files (never directories) under `_tmp/` named after a
    /// process for which `dead(pid)` holds.
    pub(crate) fn remove_tmp_files(&self, dead: impl Fn(u32) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(self.tmp_dir()) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.filter_map(Result::ok) {
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if dead(pid) && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

/// Whether process `pid` exists. Where that cannot be known (no `/proc`),
/// it is assumed alive, so nothing is deleted by mistake.
fn process_alive(pid: u32) -> bool {
    let proc_root = std::path::Path::new("/proc");
    !proc_root.join("self").exists() || proc_root.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let first = lake.lock_writes().unwrap();
        let err = lake.lock_writes().unwrap_err().to_string();
        assert!(
            err.contains("another sync is writing")
                && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lake.lock_writes().unwrap();
    }

    #[test]
    fn orphaned_temporary_files_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let tmp = dir.path().join("_tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        // No process has pid 4194304 or more on Linux (pid_max's ceiling).
        let dead = tmp.join("4194305-7.parquet.tmp");
        let mine = tmp.join(format!("{}-1.parquet.tmp", std::process::id()));
        std::fs::write(&dead, b"x").unwrap();
        std::fs::write(&mine, b"x").unwrap();
        assert_eq!(lake.remove_orphaned_tmp(), 1);
        assert!(!dead.exists() && mine.exists());
    }
}
