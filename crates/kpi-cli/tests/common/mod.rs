//! Helpers shared by the CLI test files.
#![allow(dead_code)]

pub mod costs;
pub mod csv;
pub mod demo;
pub mod pg;
pub mod run;
pub mod sandbox;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under the lake with its contents, to compare before and
/// after, but the write lock (which only names the last process that held
/// it).
pub fn lake_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "sync.lock") {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
