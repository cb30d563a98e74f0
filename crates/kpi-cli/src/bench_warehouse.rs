//! `kpi bench export` and `kpi bench sql`: the analysts' side on a demo
//! lake of a given size (built or reused as `kpi bench kpis` does), each
//! side by side with the tool an analyst would otherwise use: `psql \copy`
//! from CSV for loading the warehouse, DuckDB for SQL over the same
//! Parquet files. Figures only from a release build.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use kpi_core::Config;

use crate::bench_kpis::{BenchKpisArgs, lake, spread};

/// The demo lake a bench runs on.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchLakeArgs {
    /// Volume of the demo company (100 is about 100 times the rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Months of history in the lake.
    #[arg(long, default_value_t = 25)]
    pub months: u32,
    /// Where the demo lake is kept between runs (default: the folder
    /// `kpi bench kpis` uses for the same scale and months).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// What `kpi bench export` measures.
#[derive(Debug, clap::Args)]
pub struct BenchExportArgs {
    #[command(flatten)]
    pub lake: BenchLakeArgs,
    /// The environment variable holding the warehouse's URL.
    #[arg(long, value_name = "VAR", default_value = "KPI_WAREHOUSE_URL")]
    pub url_env: String,
    /// The schema the bench loads into (dropped and made again; the psql
    /// side uses `<schema>_psql`).
    #[arg(long, default_value = "kpi_bench")]
    pub schema: String,
}

/// What `kpi bench sql` measures.
#[derive(Debug, clap::Args)]
pub struct BenchSqlArgs {
    #[command(flatten)]
    pub lake: BenchLakeArgs,
    /// Timed runs of each query; the median is printed with the range.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

fn demo_lake(args: &BenchLakeArgs, as_of: NaiveDate) -> Result<(PathBuf, Config)> {
    let dir = lake(
        &BenchKpisArgs {
            scale: args.scale,
            months: args.months,
            runs: 1,
            dir: args.dir.clone(),
        },
        as_of,
    )?;
    let config = crate::load_config(&dir.join("kpi.toml"))?;
    Ok((dir, config))
}

/// Runs `psql` with `url` and `args`; its standard output.
fn psql(url: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", url])
        .args(args)
        .output()
        .context("starting psql (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Exports every default table with `kpi export`'s code, one table at a
/// time, then loads the same rows with `psql \copy` from the CSV `kpi sql`
/// writes, and prints both rates.
pub async fn bench_export(args: BenchExportArgs, as_of: Option<NaiveDate>) -> Result<()> {
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let Some(url) = std::env::var(&args.url_env).ok().filter(|u| !u.is_empty()) else {
        bail!(
            "the warehouse's URL is read from ${}, which is not set",
            args.url_env
        );
    };
    if !kpi_core::export::valid_schema(&args.schema) {
        bail!("--schema {}: letters, digits and _ only", args.schema);
    }
    let (dir, config) = demo_lake(&args.lake, as_of)?;
    let pg =
        crate::export_cmd::warehouse_config(&url, &args.url_env, std::env::var_os("PGPASSWORD"))?;
    let mut client = kpi_postgres::connect_with(&pg, None)
        .await
        .map_err(anyhow::Error::msg)?;
    let (ours, theirs) = (args.schema.clone(), format!("{}_psql", args.schema));
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {ours} CASCADE; DROP SCHEMA IF EXISTS {theirs} CASCADE; \
             CREATE SCHEMA {theirs};"
        ))
        .await?;
    let engine = kpi_pipeline::open_engine(&config).await?;
    let csv_dir = tempfile::tempdir_in(&dir)?;
    println!(
        "scale {}, {} months, as of {as_of} (debug builds are not for figures)",
        args.lake.scale, args.lake.months
    );
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>14} {:>12}",
        "table", "rows", "kpi export s", "rows/s", "psql \\copy s", "rows/s"
    );
    let (mut total_rows, mut total_ours, mut total_psql) = (0u64, 0.0, 0.0);
    for table in kpi_export::default_tables() {
        let started = Instant::now();
        let exported = kpi_export::export(
            &engine,
            &mut client,
            &kpi_export::ExportOptions {
                schema: ours.clone(),
                tables: vec![table.clone()],
                range: None,
            },
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        let rows: u64 = exported.iter().map(|e| e.rows).sum();

        // The same rows as CSV (written by kpi sql, not timed), into a
        // table of the same columns, by psql.
        let csv = csv_dir.path().join(format!("{table}.csv"));
        let written = Command::new(std::env::current_exe()?)
            .arg("--config")
            .arg(dir.join("kpi.toml"))
            .args(["sql", "--format", "csv", "-o"])
            .arg(&csv)
            .arg(format!("SELECT * FROM {table}"))
            .status()?;
        if !written.success() {
            bail!("kpi sql could not write {}", csv.display());
        }
        client
            .batch_execute(&format!(
                "CREATE TABLE {theirs}.{table} (LIKE {ours}.{table})"
            ))
            .await?;
        let started = Instant::now();
        psql(
            &url,
            &[
                "-c",
                &format!(
                    "\\copy {theirs}.{table} FROM '{}' WITH (FORMAT csv, HEADER true)",
                    csv.display()
                ),
            ],
        )?;
        let psql_secs = started.elapsed().as_secs_f64();
        let loaded: i64 = client
            .query_one(&format!("SELECT count(*) FROM {theirs}.{table}"), &[])
            .await?
            .get(0);
        if loaded as u64 != rows {
            bail!("{table}: psql loaded {loaded} rows, kpi export {rows}");
        }
        println!(
            "{table:<22} {rows:>10} {secs:>12.2} {:>12.0} {psql_secs:>14.2} {:>12.0}",
            rows as f64 / secs,
            rows as f64 / psql_secs
        );
        total_rows += rows;
        total_ours += secs;
        total_psql += psql_secs;
    }
    println!(
        "{:<22} {total_rows:>10} {total_ours:>12.2} {:>12.0} {total_psql:>14.2} {:>12.0}",
        "all",
        total_rows as f64 / total_ours,
        total_rows as f64 / total_psql
    );
    println!(
        "kpi export: binary COPY streamed from the lake's views (computing them included); \
         psql: text COPY of a CSV already written"
    );
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {ours} CASCADE; DROP SCHEMA IF EXISTS {theirs} CASCADE;"
        ))
        .await?;
    Ok(())
}

/// The full-history aggregates: (label, kpi SQL over the view, SQL over the
/// canonical file with `{file}` for its path).
fn queries() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "ad_performance by month, channel",
            "ad_performance",
            "SELECT date_trunc('month', date) AS month, channel, sum(spend) AS spend, \
             sum(clicks) AS clicks, sum(conversions) AS conversions FROM {from} \
             GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "crm_deals by month, channel",
            "crm_deals",
            "SELECT date_trunc('month', created_date) AS month, channel, count(*) AS deals, \
             sum(CASE WHEN is_won THEN amount ELSE 0 END) AS won, avg(amount) AS average \
             FROM {from} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
    ]
}

/// Times each aggregate in kpi (over the canonical view, computed from the
/// raw files, and over the canonical Parquet file) and, where `python3 -c
/// 'import duckdb'` works, in DuckDB over the same file.
pub async fn bench_sql(args: BenchSqlArgs, as_of: Option<NaiveDate>) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let (_, config) = demo_lake(&args.lake, as_of)?;
    let engine = kpi_pipeline::open_engine(&config).await?;
    // The canonical files as the views give them now.
    kpi_pipeline::materialize(&config).await?;
    let duckdb = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    println!(
        "scale {}, {} months, as of {as_of}, {} runs each, median (min-max) s{}",
        args.lake.scale,
        args.lake.months,
        args.runs,
        if duckdb {
            ""
        } else {
            "; no DuckDB (pip install duckdb)"
        }
    );
    println!(
        "{:<34} {:>8} {:>22} {:>22} {:>22}",
        "query", "rows", "kpi, view", "kpi, Parquet file", "DuckDB, Parquet file"
    );
    for (label, view, sql) in queries() {
        let file = canonical_file(&config, view);
        let on_file = sql.replace("{from}", &format!("'{}'", file.display()));
        let mut rows = 0;
        let mut view_times = Vec::new();
        let mut file_times = Vec::new();
        for _ in 0..args.runs {
            let started = Instant::now();
            let b = engine.sql(&sql.replace("{from}", view)).await?;
            view_times.push(started.elapsed().as_secs_f64());
            rows = b.iter().map(|b| b.num_rows()).sum::<usize>();
            let started = Instant::now();
            engine.sql(&on_file).await?;
            file_times.push(started.elapsed().as_secs_f64());
        }
        let duck = if duckdb {
            Some(duckdb_times(&on_file, args.runs)?)
        } else {
            None
        };
        let show = |xs: Vec<f64>| {
            let (m, lo, hi) = spread(xs);
            format!("{m:.3} ({lo:.3}-{hi:.3})")
        };
        println!(
            "{label:<34} {rows:>8} {:>22} {:>22} {:>22}",
            show(view_times),
            show(file_times),
            duck.map(show).unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}

fn canonical_file(config: &Config, view: &str) -> PathBuf {
    config
        .lake_path()
        .join("canonical")
        .join(view)
        .join("part-0.parquet")
}

/// `runs` timings of `sql` in DuckDB (one process, the connection made
/// before the clock starts).
fn duckdb_times(sql: &str, runs: usize) -> Result<Vec<f64>> {
    let script = "import duckdb, sys, time\n\
                  con = duckdb.connect()\n\
                  sql, runs = sys.argv[1], int(sys.argv[2])\n\
                  for _ in range(runs):\n\
                  \x20   t = time.perf_counter(); con.execute(sql).fetchall(); print(time.perf_counter() - t)\n";
    let out = Command::new("python3")
        .args(["-c", script, sql, &runs.to_string()])
        .output()
        .context("starting python3")?;
    if !out.status.success() {
        bail!(
            "DuckDB failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse::<f64>().context("reading DuckDB's timings"))
        .collect()
}
