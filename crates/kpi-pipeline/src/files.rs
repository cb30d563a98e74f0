//! `kpi sync` of a source that comes as files (costs, backlinks, social,
//! custom) or a PostgreSQL query.
//!
//! The runner keeps, in the source's state, every file it loaded: name,
//! content hash, rows and days. A sync loads only what is new or changed:
//!
//! - A file whose name and content hash (and the settings that read it)
//!   are in the state is not read again, nor is a file with the same
//!   content as another one of the folder: the same export saved twice is
//!   loaded once.
//! - A new or changed file replaces the days it covers (and a changed
//!   file's old days). Those days are rebuilt from every file of the
//!   folder that has rows on them, so two files with rows on one day (two
//!   vendors' invoices) both stay.
//! - A file loaded before that is no longer in the folder keeps its rows,
//!   unless a day it covered has to be rebuilt: then the sync stops and
//!   says so, rather than drop those rows. `--full-refresh` makes the lake
//!   match the folder.
//!
//! Bad rows fail the source (nothing of it is written) unless the stream
//! says `on_bad_rows = "skip"`: then they go to
//! `<lake>/_rejects/<source>/<stream>/<file>.csv`. As for a connector, the
//! days and then the state are replaced in one all-or-nothing commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use kpi_connector_files::{FileSettings, FileStream, FoundFile, ReadFile};
use kpi_lake::{Lake, Layout, LoadedFile, SourceState, StagedFile, StagedStream, StreamCursor};
use sha2::{Digest, Sha256};

use crate::PipelineError;
use crate::sync::{StreamReport, SyncEvent, SyncOptions};

/// Day files buffered before they are written out as row groups.
const BUFFER_BYTES: usize = 4 << 20;

/// One stream of a file source, as configured.
pub(crate) struct FileInput {
    /// The source type (`costs`), whose lake layout the stream has.
    pub source_type: &'static str,
    pub stream: FileStream,
    pub settings: FileSettings,
}

/// What one stream's sync staged and what its state becomes.
struct StreamLoad {
    report: StreamReport,
    files: Vec<StagedFile>,
    ledger: BTreeMap<String, LoadedFile>,
    rejects: Vec<(PathBuf, String)>,
    /// Rejects lists of files that now loaded whole, removed after the commit.
    stale_rejects: Vec<PathBuf>,
    notes: Vec<String>,
}

/// Loads the new and changed files of every stream of source `name`, then
/// commits them with the state.
pub(crate) async fn sync_files(
    lake: &Lake,
    name: &str,
    base_dir: &Path,
    inputs: &[FileInput],
    opts: &SyncOptions,
    emit: &(dyn Fn(SyncEvent) + Sync),
) -> Result<Vec<StreamReport>, PipelineError> {
    let mut state = lake.read_state(name)?;
    let mut loads = Vec::new();
    for input in inputs {
        let label = format!("{name}.{}", input.stream.def.name);
        let load = match &input.settings.postgres {
            Some(pg) => load_query(lake, name, base_dir, input, pg, &state, opts).await,
            None => load_stream(lake, name, base_dir, input, &state, opts),
        }
        .map_err(|e| PipelineError::Sync(format!("{label}: {e}")))?;
        for note in &load.notes {
            emit(SyncEvent::Note {
                stream: label.clone(),
                text: note.clone(),
            });
        }
        emit(SyncEvent::Read(load.report.clone()));
        loads.push(load);
    }
    let now = chrono::Utc::now().to_rfc3339();
    let mut files = Vec::new();
    let mut reports = Vec::new();
    let mut stale = Vec::new();
    for (input, load) in inputs.iter().zip(loads) {
        let stream = input.stream.def.name.clone();
        // The cursor says through which day the files have data; a stream
        // with nothing new keeps it as it was.
        let last = load
            .ledger
            .values()
            .filter_map(|f| f.days.map(|d| d.1))
            .max();
        let moved = last != state.streams.get(&stream).map(|c| c.synced_through);
        match last {
            Some(last) if moved || load.report.window.is_some() => {
                state.streams.insert(
                    stream.clone(),
                    StreamCursor {
                        synced_through: last,
                        synced_at: now.clone(),
                    },
                );
            }
            // No file has a row any more (a full refresh of an emptied
            // folder): no day is synced.
            None => {
                state.streams.remove(&stream);
            }
            Some(_) => {}
        }
        state.files.insert(stream, load.ledger);
        for (path, text) in &load.rejects {
            write_rejects(path, text)?;
        }
        stale.extend(load.stale_rejects);
        files.extend(load.files);
        reports.push(load.report);
    }
    lake.commit_source(name, files, &state)?;
    // A file loaded without bad rows now: its old rejects list is wrong.
    for path in stale {
        let _ = std::fs::remove_file(path);
    }
    Ok(reports)
}

fn write_rejects(path: &Path, text: &str) -> Result<(), PipelineError> {
    let fail = |e: std::io::Error| PipelineError::Sync(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

/// The fingerprint of the settings that read a file's rows (not where the
/// files are): a file read with other settings (a fixed column mapping,
/// another date format) is read again.
fn settings_hash(settings: &FileSettings) -> String {
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        settings.format,
        settings.delimiter,
        settings.decimal,
        settings.date_format,
        settings.encoding,
        settings.preset,
        settings.columns,
        settings.values,
        settings.on_bad_rows,
        settings
            .postgres
            .as_ref()
            .map(|p| (&p.query, &p.incremental)),
    );
    format!("{:x}", Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// The report of `stream` before anything is read.
fn empty_report(stream: String) -> StreamReport {
    StreamReport {
        stream,
        window: None,
        rows: 0,
        pages: 0,
        requests: 0,
        retries: 0,
        seconds: 0.0,
    }
}

fn overlaps(a: (NaiveDate, NaiveDate), b: (NaiveDate, NaiveDate)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

fn widen(window: &mut Option<(NaiveDate, NaiveDate)>, days: (NaiveDate, NaiveDate)) {
    *window = Some(match *window {
        None => days,
        Some((a, b)) => (a.min(days.0), b.max(days.1)),
    });
}

fn load_stream(
    lake: &Lake,
    source: &str,
    base_dir: &Path,
    input: &FileInput,
    state: &SourceState,
    opts: &SyncOptions,
) -> Result<StreamLoad, String> {
    let started = Instant::now();
    let stream_name = &input.stream.def.name;
    let label = format!("{source}.{stream_name}");
    let settings = &input.settings;
    let fingerprint = settings_hash(settings);
    let found = kpi_connector_files::find_files(settings, base_dir).map_err(|e| e.to_string())?;
    let empty = BTreeMap::new();
    let old = match opts.full_refresh {
        // Ignored, except for the days its files covered, which are rebuilt.
        true => &empty,
        false => state.files.get(stream_name).unwrap_or(&empty),
    };
    let previous = state.files.get(stream_name).unwrap_or(&empty);
    let mut notes = Vec::new();
    let now = chrono::Utc::now().to_rfc3339();
    let same = |l: &LoadedFile, f: &FoundFile| l.sha256 == f.sha256 && l.read_with == fingerprint;
    // What the state will say of the files that are not read: copies
    // kept out, renamed files, files gone.
    let mut kept = old.clone();
    // Which files to read: new or changed ones (or read with other
    // settings), and of several with the same content only the first.
    let mut unchanged: Vec<&FoundFile> = Vec::new();
    let mut others: Vec<&FoundFile> = Vec::new();
    for f in &found {
        match old.get(&f.name) {
            // A copy kept out when it came stays out, whatever its twin does.
            Some(l) if same(l, f) && l.duplicate_of.is_some() => {}
            Some(l) if same(l, f) => unchanged.push(f),
            _ => others.push(f),
        }
    }
    let mut seen: BTreeMap<&str, &str> = unchanged
        .iter()
        .map(|f| (f.sha256.as_str(), f.name.as_str()))
        .collect();
    let is_gone = |name: &str| !found.iter().any(|f| f.name == name);
    let mut fresh: Vec<&FoundFile> = Vec::new();
    for f in others {
        // A file loaded before under another name that is gone: renamed.
        let renamed = old
            .iter()
            .find(|(n, l)| is_gone(n) && l.duplicate_of.is_none() && same(l, f))
            .map(|(n, l)| (n.clone(), l.clone()));
        if let Some((from, l)) = renamed {
            kept.remove(&from);
            kept.insert(f.name.clone(), l);
            notes.push(format!("{} is {from} renamed: not loaded again", f.name));
            seen.insert(&f.sha256, &f.name);
            unchanged.push(f);
            continue;
        }
        match seen.get(f.sha256.as_str()) {
            Some(other) => {
                notes.push(format!(
                    "{} has the same content as {other}: not loaded twice",
                    f.name
                ));
                kept.insert(
                    f.name.clone(),
                    LoadedFile {
                        sha256: f.sha256.clone(),
                        read_with: fingerprint.clone(),
                        rows: 0,
                        rejected: 0,
                        days: None,
                        loaded_at: now.clone(),
                        duplicate_of: Some(other.to_string()),
                        cursor: None,
                    },
                );
            }
            None => {
                seen.insert(&f.sha256, &f.name);
                fresh.push(f);
            }
        }
    }
    let missing: Vec<(&String, &LoadedFile)> = kept
        .iter()
        .filter(|(n, l)| is_gone(n) && l.duplicate_of.is_none())
        .collect();
    let mut report = empty_report(label.clone());
    if fresh.is_empty() && !opts.full_refresh && opts.range.is_none() {
        if !unchanged.is_empty() {
            notes.push(format!("{} file(s), all loaded already", unchanged.len()));
        }
        return Ok(StreamLoad {
            report,
            files: Vec::new(),
            ledger: kept,
            rejects: Vec::new(),
            stale_rejects: Vec::new(),
            notes,
        });
    }
    // Read the new and changed files first: their days are the window.
    let mut read: BTreeMap<String, ReadFile> = BTreeMap::new();
    let mut window: Option<(NaiveDate, NaiveDate)> = None;
    for f in &fresh {
        let r = kpi_connector_files::read_file(f, &input.stream, settings)
            .map_err(|e| e.to_string())?;
        if let Some(d) = r.days {
            widen(&mut window, d);
        }
        if let Some(d) = previous.get(&f.name).and_then(|l| l.days) {
            widen(&mut window, d);
        }
        read.insert(f.name.clone(), r);
    }
    if opts.full_refresh {
        // Every day any file covered, then or now, is rebuilt.
        for d in previous.values().filter_map(|l| l.days) {
            widen(&mut window, d);
        }
    }
    // `kpi sync --from --to` rebuilds those days from the files (a damaged
    // day file is written again).
    if let Some(range) = opts.range {
        widen(&mut window, range);
    }
    // Rows of a file no longer in the folder would be lost on a rebuilt day.
    if let Some(w) = window {
        for (name, l) in &missing {
            if let Some(d) = l.days.filter(|d| overlaps(*d, w)) {
                return Err(format!(
                    "{name} was loaded before and is no longer in {}; its rows of {} to {} are \
                     on days the new files replace and would be lost. Put it back, or run \
                     `kpi sync --source {source} --full-refresh` to make the lake match the \
                     folder",
                    settings.resolved_path(base_dir).display(),
                    d.0,
                    d.1
                ));
            }
        }
    }
    // The files loaded before whose rows share the rebuilt days.
    for f in &unchanged {
        let days = kept.get(&f.name).and_then(|l| l.days);
        if let (Some(d), Some(w)) = (days, window)
            && overlaps(d, w)
        {
            let r = kpi_connector_files::read_file(f, &input.stream, settings)
                .map_err(|e| e.to_string())?;
            read.insert(f.name.clone(), r);
        }
    }
    let mut ledger = kept;
    let mut rejects = Vec::new();
    let mut stale_rejects = Vec::new();
    for f in fresh.iter().chain(&unchanged) {
        let Some(r) = read.get(&f.name) else {
            continue;
        };
        let fresh_file = fresh.iter().any(|x| x.name == f.name);
        if fresh_file || opts.full_refresh {
            ledger.insert(
                f.name.clone(),
                LoadedFile {
                    sha256: f.sha256.clone(),
                    read_with: fingerprint.clone(),
                    rows: r.batch.num_rows() as u64,
                    rejected: r.bad.len() as u64,
                    days: r.days,
                    loaded_at: now.clone(),
                    duplicate_of: None,
                    cursor: None,
                },
            );
        }
        let path = lake
            .root()
            .join("_rejects")
            .join(source)
            .join(stream_name)
            .join(format!("{}.csv", f.name));
        if fresh_file && r.bad.is_empty() && path.exists() {
            stale_rejects.push(path.clone());
        }
        if fresh_file && !r.bad.is_empty() {
            notes.push(format!(
                "{}: {} bad row(s) left out, listed in {}",
                f.name,
                r.bad.len(),
                path.display()
            ));
            rejects.push((path, kpi_connector_files::rejects_csv(f, &r.bad)));
        }
    }
    let fresh_names: Vec<&str> = fresh.iter().map(|f| f.name.as_str()).collect();
    notes.insert(
        0,
        format!(
            "{} file(s) loaded: {}{}",
            fresh.len(),
            fresh_names.join(", "),
            match unchanged.len() {
                0 => String::new(),
                n => format!("; {n} loaded already"),
            }
        ),
    );
    let mut files = Vec::new();
    if let Some(w) = window {
        let spec = crate::stream_specs()
            .into_iter()
            .find(|s| s.source_type == input.source_type && s.stream == stream_name.as_str())
            .ok_or_else(|| format!("{label}: the stream has no lake layout"))?;
        let date_column = input.stream.date_column().to_string();
        let mut staged = StagedStream::new(
            lake.clone(),
            source,
            stream_name,
            Layout::Daily,
            spec.schema.clone(),
            Some(date_column.clone()),
            w,
            BUFFER_BYTES,
        )
        .map_err(|e| e.to_string())?;
        // Newest first: files of this sync by name, descending (the
        // export of November over that of October), then the others by
        // when they were loaded. The stream's overlap rule says which of
        // two files' rows with one key stay.
        let mut order: Vec<(&String, &ReadFile)> = read.iter().collect();
        let rank = |name: &str| {
            let fresh = fresh.iter().find(|f| f.name == name);
            let at = match fresh {
                // When it was last written; then when it was loaded.
                Some(f) => f
                    .modified
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()),
                None => ledger.get(name).map(|l| l.loaded_at.clone()),
            };
            (fresh.is_some(), at.unwrap_or_default(), name.to_string())
        };
        order.sort_by_key(|(name, _)| std::cmp::Reverse(rank(name)));
        let mut seen = std::collections::HashSet::new();
        for (_, r) in order {
            let mut rows = kpi_connector_files::rows_between(&r.batch, &date_column, w);
            rows = kpi_connector_files::rows_not_seen(
                &rows,
                &input.stream.def.primary_key,
                &mut seen,
                input.stream.overlap,
            );
            if rows.num_rows() > 0 {
                staged.write(&rows).map_err(|e| e.to_string())?;
            }
        }
        report.rows = staged.rows();
        files = staged.finish().map_err(|e| e.to_string())?;
        report.window = Some(w);
    }
    report.pages = read.len() as u64;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(StreamLoad {
        report,
        files,
        ledger,
        rejects,
        stale_rejects,
        notes,
    })
}

/// `kpi check` of a file source: every file of every stream found and
/// read (nothing written), as "3 files, 1,204 rows, 2025-11-01 to
/// 2026-11-23", or the first file that would fail the sync; a query is
/// run for the days it covers.
pub(crate) async fn check_files(
    base_dir: &Path,
    inputs: &[FileInput],
) -> Result<String, PipelineError> {
    let mut parts = Vec::new();
    for input in inputs {
        let stream = &input.stream.def.name;
        if let Some(pg) = &input.settings.postgres {
            let fail = |e: String| PipelineError::Sync(format!("{stream}: {e}"));
            let url = pg.url.resolve().map_err(|e| fail(e.to_string()))?;
            let q = kpi_connector_files::QueryInput::connect(
                url.expose(),
                pg,
                &input.stream,
                &input.settings,
                base_dir,
            )
            .await
            .map_err(fail)?;
            let days = match q.changes(None).await.map_err(fail)? {
                Some(c) => format!("rows from {} to {}", c.days.0, c.days.1),
                None => "no rows".to_string(),
            };
            parts.push(format!("{stream}: the query answers, {days}"));
            continue;
        }
        let fail =
            |e: kpi_connector_files::FileError| PipelineError::Sync(format!("{stream}: {e}"));
        let found = kpi_connector_files::find_files(&input.settings, base_dir).map_err(fail)?;
        let (mut rows, mut bad, mut window) = (0u64, 0usize, None);
        for f in &found {
            let r =
                kpi_connector_files::read_file(f, &input.stream, &input.settings).map_err(fail)?;
            rows += r.batch.num_rows() as u64;
            bad += r.bad.len();
            if let Some(d) = r.days {
                widen(&mut window, d);
            }
        }
        let days = window.map_or(String::new(), |(a, b)| format!(", {a} to {b}"));
        let skipped = match bad {
            0 => String::new(),
            n => format!(", {n} bad row(s) to skip"),
        };
        parts.push(format!(
            "{stream}: {} file(s) in {}, {rows} rows{days}{skipped}",
            found.len(),
            input.settings.resolved_path(base_dir).display()
        ));
    }
    Ok(parts.join("; "))
}

/// The key of a query's record among a stream's loaded "files".
const QUERY_KEY: &str = "(postgres query)";

/// Loads the days of a query input with new or changed rows.
async fn load_query(
    lake: &Lake,
    source: &str,
    base_dir: &Path,
    input: &FileInput,
    pg: &kpi_connector_files::PostgresInput,
    state: &SourceState,
    opts: &SyncOptions,
) -> Result<StreamLoad, String> {
    let started = Instant::now();
    let stream_name = &input.stream.def.name;
    let settings = &input.settings;
    let fingerprint = settings_hash(settings);
    let empty = BTreeMap::new();
    let previous = state.files.get(stream_name).unwrap_or(&empty);
    let before = previous.get(QUERY_KEY);
    // Read again from the start on a full refresh, or when the settings
    // that read the rows changed.
    let old = before.filter(|l| !opts.full_refresh && l.read_with == fingerprint);
    let env = |k: &str| std::env::var(k).ok();
    let lookup: &dyn Fn(&str) -> Option<String> = match &opts.secrets {
        Some(s) => &*s.0,
        None => &env,
    };
    let url = pg.url.resolve_with(lookup).map_err(|e| e.to_string())?;
    let q = kpi_connector_files::QueryInput::connect(
        url.expose(),
        pg,
        &input.stream,
        settings,
        base_dir,
    )
    .await?;
    let cursor = old.and_then(|l| l.cursor.as_deref());
    let mut report = empty_report(format!("{source}.{stream_name}"));
    let Some(changes) = q.changes(cursor).await? else {
        return Ok(StreamLoad {
            report,
            files: Vec::new(),
            ledger: previous.clone(),
            rejects: Vec::new(),
            stale_rejects: Vec::new(),
            notes: vec!["no new or changed rows".to_string()],
        });
    };
    let mut window = Some(changes.days);
    if old.is_none() {
        // Days an earlier read covered that the query no longer has.
        if let Some(d) = before.and_then(|l| l.days) {
            widen(&mut window, d);
        }
    }
    let w = window.expect("set above");
    let spec = crate::stream_specs()
        .into_iter()
        .find(|s| s.source_type == input.source_type && s.stream == stream_name.as_str())
        .ok_or_else(|| "the stream has no lake layout".to_string())?;
    let mut staged = StagedStream::new(
        lake.clone(),
        source,
        stream_name,
        Layout::Daily,
        spec.schema.clone(),
        Some(input.stream.date_column().to_string()),
        w,
        BUFFER_BYTES,
    )
    .map_err(|e| e.to_string())?;
    let mut batches = 0u64;
    let bad = q
        .read_days(w, |batch| {
            batches += 1;
            staged.write(&batch).map_err(|e| e.to_string())
        })
        .await?;
    report.rows = staged.rows();
    report.pages = batches;
    let files = staged.finish().map_err(|e| e.to_string())?;
    report.window = Some(w);
    report.seconds = started.elapsed().as_secs_f64();
    let mut days = Some(w);
    if let Some(d) = old.and_then(|l| l.days) {
        widen(&mut days, d);
    }
    let mut ledger = previous.clone();
    ledger.insert(
        QUERY_KEY.to_string(),
        LoadedFile {
            sha256: String::new(),
            read_with: fingerprint,
            rows: report.rows,
            rejected: bad.len() as u64,
            days,
            loaded_at: chrono::Utc::now().to_rfc3339(),
            duplicate_of: None,
            cursor: changes
                .cursor
                .or_else(|| old.and_then(|l| l.cursor.clone())),
        },
    );
    let mut notes = vec![match cursor {
        Some(c) => format!("the days with rows changed after {c}: {} to {}", w.0, w.1),
        None => format!("every day of the query: {} to {}", w.0, w.1),
    }];
    let mut rejects = Vec::new();
    if !bad.is_empty() {
        let path = lake
            .root()
            .join("_rejects")
            .join(source)
            .join(stream_name)
            .join("postgres-query.csv");
        notes.push(format!(
            "{} bad row(s) left out, listed in {}",
            bad.len(),
            path.display()
        ));
        let pseudo = FoundFile {
            path: PathBuf::new(),
            name: QUERY_KEY.to_string(),
            sha256: String::new(),
            bytes: 0,
            modified: None,
        };
        rejects.push((path, kpi_connector_files::rejects_csv(&pseudo, &bad)));
    }
    Ok(StreamLoad {
        report,
        files,
        ledger,
        rejects,
        stale_rejects: Vec::new(),
        notes,
    })
}
