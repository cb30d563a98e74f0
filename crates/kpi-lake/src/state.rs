//! Cursor state per source, in `<lake>/_state/<source>.json`.
//!
//! The runner saves a cursor only after the data it covers is on disk, and
//! saves it atomically (temporary file, then rename), so a failed or killed
//! sync leaves the previous cursor in place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Lake, LakeError, io};

/// The cursors of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// Cursor per stream name.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamCursor>,
    /// For a source that comes as files: what each stream has loaded, by
    /// stream and then by file name. A file whose content hash is here is
    /// not loaded again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, BTreeMap<String, LoadedFile>>,
}

/// One file as a sync loaded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedFile {
    /// SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// A fingerprint of the settings that read it: read with other
    /// settings (a fixed column mapping), the file is loaded again.
    #[serde(default)]
    pub read_with: String,
    /// Rows loaded from it.
    pub rows: u64,
    /// Bad rows left out of it (`on_bad_rows = "skip"`).
    #[serde(default)]
    pub rejected: u64,
    /// The first and last day of its rows (`None`: it had none).
    pub days: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// When it was loaded (UTC, RFC 3339).
    pub loaded_at: String,
    /// A file skipped as a copy of this one (same content when it
    /// came): it holds no rows of its own, even after the other changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// For a query: the greatest value of its incremental column read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// How far one stream has been synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// Last day whose data is complete in the lake (inclusive).
    pub synced_through: chrono::NaiveDate,
    /// When the sync that wrote it finished (UTC, RFC 3339).
    pub synced_at: String,
}

impl Lake {
    fn state_path(&self, source: &str) -> PathBuf {
        self.root().join("_state").join(format!("{source}.json"))
    }

    /// Reads the state of `source`; an unsynced source has an empty state.
    pub fn read_state(&self, source: &str) -> Result<SourceState, LakeError> {
        let path = self.state_path(source);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| LakeError::State {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SourceState::default()),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The state of `source` as a staged file, for [`Lake::commit_source`]
    /// to put in place after the data it covers.
    pub(crate) fn stage_state(
        &self,
        source: &str,
        state: &SourceState,
    ) -> Result<crate::StagedFile, LakeError> {
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        crate::StagedFile::from_bytes(self, "json", self.state_path(source), text.as_bytes())
    }

    /// Replaces the state of `source` atomically.
    pub fn write_state(&self, source: &str, state: &SourceState) -> Result<(), LakeError> {
        let path = self.state_path(source);
        let dir = path.parent().expect("state path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_defaults_to_empty() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        assert_eq!(lake.read_state("ga4").unwrap(), SourceState::default());
        let mut s = SourceState::default();
        s.streams.insert(
            "traffic".into(),
            StreamCursor {
                synced_through: "2026-11-23".parse().unwrap(),
                synced_at: "2026-11-24T06:00:00Z".into(),
            },
        );
        lake.write_state("ga4", &s).unwrap();
        assert_eq!(lake.read_state("ga4").unwrap(), s);
        std::fs::write(dir.path().join("_state/ga4.json"), "{nope").unwrap();
        let err = lake.read_state("ga4").unwrap_err().to_string();
        assert!(err.contains("_state/ga4.json"), "{err}");
    }
}
