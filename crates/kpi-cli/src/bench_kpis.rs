//! `kpi bench kpis`: what a user's `kpi kpis` and `kpi report` cost on a
//! demo lake of a given size, each run as its own process (the way a cron
//! job runs them) and timed whole, with that process's peak memory.
//!
//! The lake is built once per scale, months and end date (by `kpi demo`, in
//! a child process too) and reused by later runs. The report's cost is
//! printed against the KPI table's, the yardstick of the goal 3;
//! running it for 13 and 61 months gives goal 2's.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;

/// What `kpi bench kpis` measures.
#[derive(Debug, clap::Args)]
pub struct BenchKpisArgs {
    /// Volume of the demo company (100 is about 100 times the rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Months of history in the lake.
    #[arg(long, default_value_t = 25)]
    pub months: u32,
    /// Timed runs of each command; the median is printed with the range.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Where the demo lake is kept between runs (default: a folder per
    /// scale and months under the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// One timed run of a child `kpi`: wall seconds and peak RSS in bytes.
pub(crate) fn timed(args: &[String]) -> Result<(f64, u64)> {
    let exe = std::env::current_exe().context("finding the kpi binary")?;
    let started = Instant::now();
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting kpi")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 rather than Child::wait: it reports this child's own peak RSS
    // (RUSAGE_CHILDREN would keep the largest of every child so far).
    // SAFETY: pid is our child, status and usage point at live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if waited != pid {
        bail!(
            "waiting for kpi {}: {}",
            args.join(" "),
            std::io::Error::last_os_error()
        );
    }
    let exited = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!("kpi {} failed: {}", args.join(" "), err.trim());
    }
    // ru_maxrss is in KiB on Linux.
    Ok((seconds, usage.ru_maxrss as u64 * 1024))
}

/// The demo lake for these arguments, built by a child `kpi demo` unless
/// an earlier bench left it.
pub(crate) fn lake(args: &BenchKpisArgs, as_of: NaiveDate) -> Result<PathBuf> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "kpi-bench-{}x-{}m-{as_of}",
            args.scale, args.months
        ))
    });
    let stamp = dir.join(".kpi-bench");
    let wanted = format!(
        "scale={} months={} as_of={as_of}\n",
        args.scale, args.months
    );
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        eprintln!("reusing the demo lake in {}", dir.display());
        return Ok(dir);
    }
    eprintln!("building the demo lake in {} ...", dir.display());
    let (seconds, rss) = timed(&[
        "--as-of".into(),
        as_of.to_string(),
        "demo".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--scale".into(),
        args.scale.to_string(),
        "--months".into(),
        args.months.to_string(),
    ])?;
    eprintln!("  kpi demo: {seconds:.1} s, peak RSS {}", mib(rss));
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(dir)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1_048_576.0)
}

/// Median, least and most of `xs`.
pub(crate) fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let median = match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    };
    (median, xs[0], xs[xs.len() - 1])
}

/// Builds or reuses the lake, times `kpi kpis` and `kpi report leadership`
/// for the previous month, and prints both and their ratio.
pub fn bench_kpis(args: BenchKpisArgs, as_of: Option<NaiveDate>) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let dir = lake(&args, as_of)?;
    let config = dir.join("kpi.toml");
    let base = |cmd: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--config".into(),
            config.display().to_string(),
            "--as-of".into(),
            as_of.to_string(),
        ];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    };
    let html = dir.join("bench-report.html");
    let commands: [(&str, Vec<String>); 2] = [
        (
            "kpi kpis --period previous_month",
            base(&["kpis", "--period", "previous_month", "--format", "csv"]),
        ),
        (
            "kpi report leadership --period previous_month",
            base(&[
                "report",
                "leadership",
                "--period",
                "previous_month",
                "--out",
                &html.display().to_string(),
            ]),
        ),
    ];
    println!(
        "scale {}, {} months, as of {as_of}, {} runs each (debug builds are not for figures)",
        args.scale, args.months, args.runs
    );
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>10}",
        "command", "median s", "min s", "max s", "peak RSS"
    );
    let mut medians = Vec::new();
    for (label, argv) in &commands {
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..args.runs {
            let (s, rss) = timed(argv)?;
            times.push(s);
            peak = peak.max(rss);
        }
        let (median, min, max) = spread(times);
        println!(
            "{label:<48} {median:>9.2} {min:>9.2} {max:>9.2} {:>10}",
            mib(peak)
        );
        medians.push((median, peak));
    }
    let (k, r) = (medians[0], medians[1]);
    println!(
        "report / kpis: {:.2}x the time, {:.2}x the memory (goal: at most 1.5x)",
        r.0 / k.0,
        r.1 as f64 / k.1 as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }
}
