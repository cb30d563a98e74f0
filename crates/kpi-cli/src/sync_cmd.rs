//! `kpi sync` and `kpi check`: progress and summaries; the work is the
//! pipeline's.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kpi_core::Config;
use kpi_pipeline::sync::{self, SyncEvent, SyncOptions};

/// `kpi sync`: a spinner per stream on a terminal, plain lines otherwise, then
/// a summary table.
pub async fn sync(config: &Config, opts: &SyncOptions) -> Result<()> {
    let tty = std::io::stderr().is_terminal();
    let bars = MultiProgress::new();
    let mut current: Option<ProgressBar> = None;
    let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template");
    let mut progress = |e: SyncEvent| match e {
        SyncEvent::Started { stream, start, end } => {
            let text = format!("{stream}: reading {start} to {end}");
            if tty {
                let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_message(text);
                bar.enable_steady_tick(Duration::from_millis(120));
                current = Some(bar);
            } else {
                eprintln!("{text}");
            }
        }
        SyncEvent::Skipped { source, kind } => {
            eprintln!("{source}: type {kind} has no connector in this build: left as it is");
        }
        SyncEvent::Read(r) => {
            let text = format!(
                "{}: {} rows, {} pages, {} retries, {:.1} s (staged)",
                r.stream, r.rows, r.pages, r.retries, r.seconds
            );
            match current.take() {
                Some(bar) => bar.finish_with_message(text),
                None => eprintln!("{text}"),
            }
        }
    };
    let result = sync::sync(config, opts, &mut progress).await;
    if let Some(bar) = current.take() {
        bar.abandon();
    }
    let reports = result?;
    println!(
        "{:<32} {:<25} {:>10} {:>7} {:>8} {:>8}",
        "stream", "days", "rows", "pages", "retries", "seconds"
    );
    for r in &reports {
        let days = r
            .window
            .map(|(a, b)| format!("{a}..{b}"))
            .unwrap_or_else(|| "up to date".into());
        println!(
            "{:<32} {:<25} {:>10} {:>7} {:>8} {:>8.1}",
            r.stream, days, r.rows, r.pages, r.retries, r.seconds
        );
    }
    println!("synced into {}", config.lake_path().display());
    Ok(())
}

/// `kpi check`: the config and schedules parse; each source answers.
pub async fn check(config: &Config, source: Option<&str>, today: chrono::NaiveDate) -> Result<()> {
    println!("{}: OK", config.origin.display());
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
    let outcomes = sync::check(config, source, today).await?;
    if outcomes.is_empty() {
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
    }
    if failed > 0 || !schedules.errors.is_empty() {
        bail!(
            "{failed} source(s) failed their check, {} schedule problem(s)",
            schedules.errors.len()
        );
    }
    Ok(())
}
