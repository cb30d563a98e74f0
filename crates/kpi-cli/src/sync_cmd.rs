//! `kpi sync` and `kpi check`: progress and summaries; the work is the
//! pipeline's.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kpi_core::Config;
use kpi_pipeline::sync::{self, SyncEvent, SyncOptions};
use kpi_pipeline::validate;

/// `kpi sync`: a bar per stream on a terminal (pieces of its window read,
/// rows so far), plain lines otherwise, then a summary table. Exits non-zero
/// when any source failed, after committing the others.
pub async fn sync(config: &Config, opts: &SyncOptions) -> Result<()> {
    let tty = std::io::stderr().is_terminal();
    let bars = MultiProgress::new();
    let mut open: HashMap<String, ProgressBar> = HashMap::new();
    let style = ProgressStyle::with_template(
        "{spinner} {prefix:<32} [{bar:20}] {pos}/{len} {msg} {elapsed}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut progress = |e: SyncEvent| match e {
        SyncEvent::Started {
            stream,
            start,
            end,
            pieces,
        } => {
            if tty {
                let bar = bars.add(ProgressBar::new(pieces).with_style(style.clone()));
                bar.set_prefix(stream.clone());
                bar.set_message(format!("{start}..{end}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                open.insert(stream, bar);
            } else {
                eprintln!("{stream}: reading {start} to {end} in {pieces} piece(s)");
            }
        }
        SyncEvent::Progress {
            stream,
            rows,
            pieces_done,
        } => {
            if let Some(bar) = open.get(&stream) {
                bar.set_position(pieces_done);
                bar.set_message(format!("{rows} rows"));
            }
        }
        SyncEvent::Note { stream, text } => {
            let line = format!("{stream}: {text}");
            if tty {
                let _ = bars.println(line);
            } else {
                eprintln!("{line}");
            }
        }
        SyncEvent::Read(r) => {
            let text = format!(
                "{} rows, {} pages, {} retries, {:.1} s (staged)",
                r.rows, r.pages, r.retries, r.seconds
            );
            match open.remove(&r.stream) {
                Some(bar) => bar.finish_with_message(text),
                None => eprintln!("{}: {text}", r.stream),
            }
        }
    };
    let result = sync::sync(config, opts, &mut progress).await;
    for (_, bar) in open.drain() {
        bar.abandon();
    }
    let outcome = result?;
    if !outcome.reports.is_empty() {
        println!(
            "{:<32} {:<25} {:>10} {:>7} {:>8} {:>8} {:>8}",
            "stream", "days", "rows", "pages", "requests", "retries", "seconds"
        );
    }
    for r in &outcome.reports {
        let days = r
            .window
            .map(|(a, b)| format!("{a}..{b}"))
            .unwrap_or_else(|| "up to date".into());
        println!(
            "{:<32} {:<25} {:>10} {:>7} {:>8} {:>8} {:>8.1}",
            r.stream, days, r.rows, r.pages, r.requests, r.retries, r.seconds
        );
    }
    for f in &outcome.failures {
        eprintln!("error: {}", f.error);
        if f.lake_unchanged {
            eprintln!("  {}: lake and cursors left as they were", f.source);
        } else {
            eprintln!(
                "  {}: NOT left as it was: run `kpi sync` again to put the old files back",
                f.source
            );
        }
    }
    if outcome.failures.is_empty() {
        println!("synced into {}", config.lake_path().display());
        Ok(())
    } else {
        let synced: std::collections::BTreeSet<&str> = outcome
            .reports
            .iter()
            .filter_map(|r| r.stream.split('.').next())
            .collect();
        if !synced.is_empty() {
            println!(
                "synced {} into {}",
                synced.into_iter().collect::<Vec<_>>().join(", "),
                config.lake_path().display()
            );
        }
        bail!(
            "{} source(s) failed: {}",
            outcome.failures.len(),
            outcome
                .failures
                .iter()
                .map(|f| f.source.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `kpi check`: the config and schedules parse; each source answers, and
/// where its requests go (base URL, OAuth2 token URL) is shown.
pub async fn check(config: &Config, source: Option<&str>, today: chrono::NaiveDate) -> Result<()> {
    let mut problems = validate::problems(config, validate::Scope::Everything);
    problems.extend(crate::export_cmd::problems(config));
    if problems.is_empty() {
        println!("{}: OK", config.origin.display());
    }
    for p in &problems {
        println!("{p}");
    }
    let schedules = kpi_pipeline::schedules::load_schedules(config)?;
    for e in &schedules.errors {
        println!("schedule: {e}");
    }
    if schedules.errors.is_empty() {
        println!(
            "{}: {} schedule(s) OK",
            schedules.dir.display(),
            schedules.valid.len()
        );
    }
    // A source with a problem above is not probed: its request would fail
    // for the reason already given.
    let flawed: std::collections::BTreeSet<&str> = config
        .sources
        .keys()
        .filter(|name| problems.iter().any(|p| p.is_in_source(name)))
        .map(String::as_str)
        .collect();
    let outcomes = sync::check(config, source, today, &flawed).await?;
    if config.sources.is_empty() {
        println!("no sources configured ([sources.<name>] in kpi.toml)");
    }
    let mut failed = 0;
    for o in &outcomes {
        match &o.result {
            Ok(Some(summary)) => println!("{} ({}): OK, {summary}", o.source, o.kind),
            Ok(None) => println!(
                "{} ({}): not checked, this build has no connector for the type",
                o.source, o.kind
            ),
            Err(e) => {
                failed += 1;
                println!("{} ({}): FAILED: {e}", o.source, o.kind);
            }
        }
        // Where its requests go, the OAuth2 token request among them.
        if let Some(endpoints) = &o.endpoints {
            println!("  {endpoints}");
        }
    }
    if failed > 0 || !schedules.errors.is_empty() || !problems.is_empty() {
        bail!(
            "{} problem(s) in {}, {failed} source(s) failed their check, {} schedule problem(s)",
            problems.len(),
            config.origin.display(),
            schedules.errors.len()
        );
    }
    Ok(())
}
