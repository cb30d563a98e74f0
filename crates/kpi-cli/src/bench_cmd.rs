//! `kpi bench sync`: how fast a sync is and how much memory it takes,
//! measured against the sandbox in its own process (so that its memory is
//! not counted as the sync's), the way the closing notes report it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use kpi_pipeline::kpi_sandbox::server::{Banner, read_banner};
use kpi_pipeline::sync::{SecretLookup, SyncOptions};

/// What `kpi bench sync` measures.
#[derive(Debug, clap::Args)]
pub struct BenchSyncArgs {
    /// Volume of the synthetic company served (100 is about 100 times the rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Months of history served and synced.
    #[arg(long, default_value_t = 25)]
    pub months: u32,
    /// Milliseconds the sandbox adds to every request.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Requests the sandbox serves at once; each source may send this many.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Only this source (google_ads, meta_ads, ga4 or hubspot).
    #[arg(long)]
    pub source: Option<String>,
    /// Keep the synced lake here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// The sandbox child process; killed on drop.
struct Served {
    child: Child,
    banner: Banner,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &BenchSyncArgs, end: NaiveDate) -> Result<Served> {
    let exe = std::env::current_exe().context("finding the kpi binary")?;
    let mut child = Command::new(exe)
        .args(["sandbox", "serve", "--port", "0"])
        .args(["--scale", &args.scale.to_string()])
        .args(["--months", &args.months.to_string()])
        .args(["--end-date", &end.to_string()])
        .args(["--latency-ms", &args.latency_ms.to_string()])
        .args(["--max-concurrency", &args.concurrency.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting `kpi sandbox serve`")?;
    let stdout = child.stdout.take().expect("piped");
    let Some(banner) = read_banner(BufReader::new(stdout).lines())? else {
        bail!("`kpi sandbox serve` stopped before it was ready");
    };
    Ok(Served { child, banner })
}

/// Peak resident memory of this process so far, in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU seconds this process has used (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Serves the company from a child process, syncs it into a fresh lake,
/// and prints wall time against the ideal, rows per second and peak RSS.
pub async fn bench_sync(args: BenchSyncArgs) -> Result<()> {
    let end = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let started_serve = Instant::now();
    let served = serve(&args, end)?;
    eprintln!(
        "sandbox ready in {:.1} s at {} (latency {} ms, {} at once)",
        started_serve.elapsed().as_secs_f64(),
        served.banner.url,
        args.latency_ms,
        args.concurrency
    );
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let start = kpi_pipeline::kpi_sandbox::Company {
        months: args.months,
        scale: args.scale,
        ..kpi_pipeline::kpi_sandbox::Company::new(end)
    }
    .start_date();
    let http = format!(
        "http = {{ max_concurrency = {}, requests_per_second = 0 }}",
        args.concurrency
    );
    let mut text = String::from(
        "[reporting]\ncurrency = \"EUR\"\ntimezone = \"UTC\"\n\n[lake]\npath = \"lake\"\n",
    );
    for line in served.banner.sources.lines() {
        // The bench's own `http` settings replace the printed ones.
        if line.starts_with("http = ") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
        if line.starts_with("type = ") {
            text.push_str(&format!("start_date = \"{start}\"\n{http}\n"));
        }
    }
    let path = dir.join("kpi.toml");
    std::fs::write(&path, &text)?;
    let config = kpi_core::Config::load(&path)?;
    let banner = Arc::new(served.banner.clone());
    let opts = SyncOptions {
        source: args.source.clone(),
        today: end + chrono::Days::new(1),
        secrets: Some(SecretLookup(Arc::new(move |name: &str| {
            banner.lookup(name)
        }))),
        ..SyncOptions::default()
    };
    let rss_before = peak_rss();
    let cpu_before = cpu_seconds();
    let t0 = Instant::now();
    let outcome = kpi_pipeline::sync::sync(&config, &opts, &mut |_| {}).await?;
    let wall = t0.elapsed().as_secs_f64();
    if let Some(f) = outcome.failures.first() {
        bail!("the sync failed: {}", f.error);
    }
    let rows: u64 = outcome.reports.iter().map(|r| r.rows).sum();
    let pages: u64 = outcome.reports.iter().map(|r| r.pages).sum();
    let requests: u64 = outcome.reports.iter().map(|r| r.requests).sum();
    println!(
        "{:<32} {:>10} {:>7} {:>8} {:>8}",
        "stream", "rows", "pages", "requests", "seconds"
    );
    for r in &outcome.reports {
        println!(
            "{:<32} {:>10} {:>7} {:>8} {:>8.1}",
            r.stream, r.rows, r.pages, r.requests, r.seconds
        );
    }
    let ideal = requests as f64 * args.latency_ms as f64 / 1000.0 / args.concurrency as f64;
    println!(
        "scale {}: {rows} rows, {pages} pages, {requests} requests in {wall:.2} s = {:.0} rows/s",
        args.scale,
        rows as f64 / wall
    );
    if args.latency_ms > 0 {
        println!(
            "ideal (requests x {} ms / {}): {ideal:.2} s; wall time is {:.2}x of it",
            args.latency_ms,
            args.concurrency,
            wall / ideal
        );
    }
    if let (Some(a), Some(b)) = (cpu_before, cpu_seconds()) {
        println!(
            "CPU of the syncing process: {:.1} s (user + system) = {:.0} rows per CPU second",
            b - a,
            rows as f64 / (b - a).max(0.01)
        );
    }
    match (rss_before, peak_rss()) {
        (Some(b), Some(a)) => println!(
            "peak RSS of the syncing process: {:.1} MiB (before the sync: {:.1} MiB)",
            a as f64 / 1_048_576.0,
            b as f64 / 1_048_576.0
        ),
        _ => println!("peak RSS: not available on this system"),
    }
    Ok(())
}
