//! `kpi`: the command-line interface. Argument parsing and output only; the
//! work is done by `kpi-pipeline`.

mod backfill_cmd;
mod bench_cmd;
mod bench_kpis;
mod bench_warehouse;
mod export_cmd;
mod output;
mod sandbox_cmd;
mod schedule_cmd;
mod sql_cmd;
mod sync_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use kpi_core::{Config, DateRange, NamedPeriod, PeriodSpec};

use crate::output::Format;
use kpi_pipeline::validate::Scope;

/// Marketing and sales KPIs from ad platforms, analytics, CRM and email data.
#[derive(Debug, Parser)]
#[command(name = "kpi", version, about, long_about = None)]
struct Cli {
    /// Path of kpi.toml.
    #[arg(long, global = true, env = "KPI_CONFIG", default_value = "kpi.toml")]
    config: PathBuf,

    /// Use this date as "today" (YYYY-MM-DD) for every period computation.
    #[arg(long, global = true, value_name = "DATE")]
    as_of: Option<NaiveDate>,

    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a demo setup (kpi.toml and a lake of 25 months of synthetic data
    /// ending yesterday) with no network and no credentials.
    Demo {
        /// Directory to create; rebuilt if an earlier `kpi demo` made it.
        #[arg(long, default_value = "kpi-demo")]
        dir: PathBuf,
        /// Volume multiplier (100 gives about 100 times the rows).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Months of history.
        #[arg(long, default_value_t = 25)]
        months: u32,
    },
    /// Print the full KPI set for a period, with comparisons.
    Kpis {
        #[command(flatten)]
        period: PeriodArgs,
        /// Output format. The table fits the terminal (columns with nothing
        /// in them and then the least useful ones are left out); CSV and
        /// JSON carry every column.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only these grains (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',')]
        grain: Vec<output::Grain>,
        /// Only these KPIs, by key (comma-separated: `cpl,cac,roi`).
        #[arg(long, value_delimiter = ',', value_name = "KEY")]
        kpi: Vec<String>,
        /// Only the rows of this channel (its channel and campaign rows).
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
    },
    /// Render a report (e.g. `leadership`) for a period to HTML and text files.
    Report {
        /// Report name: a folder of report-templates/ (built in: leadership).
        name: String,
        #[command(flatten)]
        period: PeriodArgs,
        /// Where to write the HTML (it opens in a browser as the email would).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Deliver it to the report's recipients as [delivery] says (an .eml
        /// in the outbox unless SMTP is configured).
        #[arg(long)]
        send: bool,
        /// Where to write the text/plain version (default: next to --out, .txt).
        #[arg(long, value_name = "FILE")]
        text: Option<PathBuf>,
    },
    /// Compute the KPIs of every past period of --grain between --from and
    /// --to and keep them in the KPI history (lake/marts/kpi_values/, the
    /// kpi_history table), replacing what was kept for the same periods.
    BackfillKpis {
        /// First day (its whole period is included).
        #[arg(long)]
        from: NaiveDate,
        /// Last day (its whole period is included, if it is over).
        #[arg(long)]
        to: NaiveDate,
        /// The length of the periods.
        #[arg(long, value_enum, default_value_t = backfill_cmd::Grain::Month)]
        grain: backfill_cmd::Grain,
    },
    /// Load the lake into a warehouse: `kpi export postgres`.
    Export {
        #[command(subcommand)]
        target: ExportTarget,
    },
    /// Write the canonical views to <lake>/canonical/ as Parquet, for DuckDB,
    /// Polars or Spark (run it after loading new data).
    Materialize,
    /// Sync every configured source (or one) from its API into the lake:
    /// incremental from each stream's cursor minus its lookback window.
    Sync {
        /// Only this source (its name in kpi.toml).
        #[arg(long)]
        source: Option<String>,
        /// First day of a backfill (inclusive), instead of the cursor window.
        #[arg(long, requires = "to")]
        from: Option<NaiveDate>,
        /// Last day of a backfill (inclusive).
        #[arg(long, requires = "from")]
        to: Option<NaiveDate>,
        /// Ignore the cursors and read again from each source's start_date.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        full_refresh: bool,
    },
    /// Validate kpi.toml and the schedules, and probe each source's
    /// credentials with one cheap request.
    Check {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// List the schedules (schedules/*.toml) with their next three due times,
    /// in local time and UTC, and the last delivery of each.
    Schedules {
        /// Pretend it is this time (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = schedule_cmd::parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run every schedule that has fallen due since the last check, then exit
    /// (for cron or a systemd timer). Exits non-zero if a run failed.
    RunDue {
        /// Pretend it is this time (RFC 3339), e.g. 2026-12-02T07:00:00+01:00.
        #[arg(long, value_name = "TIME", value_parser = schedule_cmd::parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run one schedule now, for its own period or the one given (e.g. to
    /// resend a period with --force).
    Run {
        /// Schedule name (its file name without .toml).
        schedule: String,
        #[command(flatten)]
        period: OptionalPeriodArgs,
        /// Send even if this period was already delivered or is held.
        #[arg(long)]
        force: bool,
        /// Pretend it is this time (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = schedule_cmd::parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run schedules as they fall due, until SIGTERM (which lets the run in
    /// progress finish). Re-reads schedule files when they change.
    Daemon,
    /// Show past scheduled runs: schedule, period, status, Message-ID, error.
    Ledger {
        /// Only this schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Measure: `kpi bench sync` syncs the sandbox's company through its
    /// emulated APIs and reports wall time, rows per second and peak memory;
    /// `kpi bench kpis` times the KPI table and the report on a demo lake.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The API sandbox: the synthetic company served through emulations of
    /// the APIs kpi has a connector for, for trying the connectors.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Run SQL against the lake (canonical views, raw streams, reference
    /// tables, the KPI history): a query, a file, standard input, or a shell
    /// when none is given on a terminal.
    Sql {
        #[command(flatten)]
        input: sql_cmd::SqlInput,
        /// Also register kpi_values and kpi_report for this period.
        #[command(flatten)]
        period: OptionalPeriodArgs,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Sync the sandbox (served by a child process with --latency-ms and
    /// --concurrency) into a fresh lake; print wall time against
    /// requests x latency / concurrency, rows per second and peak RSS.
    Sync(bench_cmd::BenchSyncArgs),
    /// Build (or reuse) a demo lake of --scale and --months, then time
    /// `kpi kpis` and `kpi report leadership` for the previous month, each
    /// as its own process, with its peak RSS and the report/kpis ratio.
    Kpis(bench_kpis::BenchKpisArgs),
    /// Build (or reuse) a demo lake, export every canonical view and the
    /// KPI history to the PostgreSQL in --url-env (KPI_WAREHOUSE_URL), and
    /// print rows per second beside `psql \copy` of the same rows from CSV.
    Export(bench_warehouse::BenchExportArgs),
    /// Build (or reuse) a demo lake and time full-history aggregates of
    /// ad_performance and crm_deals in kpi (over the view, and over the
    /// canonical Parquet file) and in DuckDB over the same file.
    Sql(bench_warehouse::BenchSqlArgs),
}

#[derive(Debug, Subcommand)]
enum ExportTarget {
    /// The canonical views and the KPI history into PostgreSQL, with COPY,
    /// in one transaction: tables created with comments on the first run,
    /// the exported rows replaced on later ones.
    Postgres(export_cmd::PostgresArgs),
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Serve the sandbox on a loopback port until Ctrl-C; prints the
    /// credentials to export and the [sources.*] to put in kpi.toml.
    Serve(sandbox_cmd::ServeArgs),
}

#[derive(Debug, clap::Args)]
struct PeriodArgs {
    /// A named period: yesterday, previous_week, previous_month,
    /// previous_quarter, previous_year, week_to_date, month_to_date,
    /// quarter_to_date, year_to_date, last_7_days, last_28_days, last_30_days,
    /// last_90_days.
    #[arg(long, default_value = "previous_month", conflicts_with_all = ["from", "to"])]
    period: String,
    /// First day of an explicit period (inclusive).
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last day of an explicit period (inclusive).
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
}

#[derive(Debug, clap::Args)]
struct OptionalPeriodArgs {
    /// Register the KPI views for this named period.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    period: Option<String>,
    /// First day of an explicit period (inclusive).
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last day of an explicit period (inclusive).
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
}

fn period_spec(
    period: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Option<PeriodSpec>> {
    if let (Some(from), Some(to)) = (from, to) {
        return Ok(Some(PeriodSpec::Range(DateRange::new(from, to)?)));
    }
    match period {
        Some(p) => Ok(Some(PeriodSpec::Named(p.parse::<NamedPeriod>()?))),
        None => Ok(None),
    }
}

fn main() -> ExitCode {
    // A panic is a bug in kpi: say so in one line, without a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        // `println!` to a closed pipe (`kpi ... | head`) panics; the reader
        // has what it wanted, so that is a quiet success.
        if info.to_string().contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!(
            "error: internal error in kpi ({info}); please report it with the command you ran"
        );
    }));
    let cli = Cli::parse();
    // The daemon's log is its record of every decision: info by default.
    init_logging(cli.verbose + u8::from(matches!(cli.command, Command::Daemon)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KPI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .try_init();
}

/// Colour in log lines only on a terminal, and never when `NO_COLOR` is set
/// to anything non-empty (no-color.org): a cron job's `>> kpi.log` gets
/// plain text.
fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Loads the config and runs the checks of `kpi check` that a command
/// reading the lake needs (see [`load_config_for`]).
fn load_config(path: &PathBuf) -> Result<Config> {
    load_config_for(path, Scope::Offline)
}

/// Loads the config and runs the checks of `kpi check` that `scope` needs
/// (all but the secrets, which the connectors read when they start): what
/// `check` rejects in that scope is rejected here too, every problem listed.
fn load_config_for(path: &PathBuf, scope: Scope) -> Result<Config> {
    let config = Config::load(path)?;
    let problems = kpi_pipeline::validate::problems(&config, scope);
    if !problems.is_empty() {
        bail!(
            "{}\n{} problem(s) in {}; `kpi check` lists them all",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            problems.len(),
            path.display()
        );
    }
    Ok(config)
}

fn today(cli_as_of: Option<NaiveDate>, config: &Config) -> NaiveDate {
    cli_as_of.unwrap_or_else(|| config.today())
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { dir, scale, months } => {
            if !(scale.is_finite() && scale > 0.0) {
                bail!("--scale must be a positive number, got {scale}");
            }
            if months == 0 {
                bail!("--months must be at least 1");
            }
            let today = cli.as_of.unwrap_or_else(|| {
                chrono::Utc::now()
                    .with_timezone(&chrono_tz::Europe::Madrid)
                    .date_naive()
            });
            let end_date = today.pred_opt().context("--as-of is out of range")?;
            let started = std::time::Instant::now();
            let outcome = kpi_pipeline::run_demo(&kpi_pipeline::DemoOptions {
                dir: dir.clone(),
                end_date,
                scale,
                months,
            })
            .await?;
            let rows: u64 = outcome.rows.values().sum();
            println!(
                "Demo company written in {:.1} s: {rows} rows in {} Parquet files ({:.1} MiB), {} to {}.",
                started.elapsed().as_secs_f64(),
                outcome.files,
                outcome.bytes as f64 / 1_048_576.0,
                outcome.first_day,
                outcome.last_day
            );
            let requests: u64 = outcome.synced.iter().map(|r| r.requests).sum();
            let synced: u64 = outcome.synced.iter().map(|r| r.rows).sum();
            println!(
                "  synced: {synced} rows of {} from the sandbox at {} ({requests} HTTP requests)",
                kpi_pipeline::kpi_sandbox::server::apis_served(),
                outcome.sandbox_url
            );
            let loaded: u64 = outcome.loaded.iter().map(|r| r.rows).sum();
            let streams: Vec<&str> = outcome.loaded.iter().map(|r| r.stream.as_str()).collect();
            println!(
                "  loaded: {loaded} rows of {} from the exports in {}",
                streams.join(", "),
                outcome.inputs.display()
            );
            println!("  config: {}", outcome.config.display());
            println!("  lake:   {}", outcome.lake.display());
            println!("  report: {}", outcome.report_html.display());
            println!("  email:  {}", outcome.report_email);
            println!(
                "  canonical views for DuckDB, Polars, Spark: {} ({} tables)",
                outcome.lake.join("canonical").display(),
                outcome.canonical.len()
            );
            println!();
            println!("Try:");
            let cfg = outcome.config.display();
            let as_of = cli
                .as_of
                .map(|d| format!(" --as-of {d}"))
                .unwrap_or_default();
            println!("  kpi --config {cfg}{as_of} kpis --period previous_month");
            println!(
                "  kpi --config {cfg} sql \"SELECT channel, sum(spend) AS spend FROM ad_performance GROUP BY 1 ORDER BY 2 DESC\""
            );
            println!(
                "  duckdb -c \"SELECT channel, sum(spend) FROM '{}/canonical/ad_performance/part-0.parquet' GROUP BY 1\"",
                outcome.lake.display()
            );
            Ok(())
        }
        Command::Kpis {
            period,
            format,
            grain,
            kpi,
            channel,
        } => {
            let config = load_config(&cli.config)?;
            let spec = period_spec(Some(&period.period), period.from, period.to)?
                .expect("a default period");
            let periods = kpi_pipeline::resolve_period(&spec, today(cli.as_of, &config))?;
            let engine = kpi_pipeline::open_engine(&config).await?;
            let filter = output::KpiFilter {
                grains: grain,
                kpis: kpi,
                channel,
            };
            filter.check(engine.catalog())?;
            let batches = filter.apply(&engine.kpis(&periods).await?)?;
            if format != Format::Table {
                return output::print(&batches, format);
            }
            let locale = kpi_core::format::Locale::from_code(&config.reporting.locale);
            let rows = kpi_pipeline::kpi_rows(&batches)?;
            let table =
                output::kpi_table(&rows, engine.catalog(), &config.reporting.currency, locale)?;
            let (table, hidden) = output::fit(
                table.into_iter().next().context("an empty KPI table")?,
                output::terminal_width(),
            )?;
            {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{} ({}), compared with {} and {}; amounts in {}",
                    periods.label,
                    periods.current,
                    periods.previous,
                    periods.last_year,
                    config.reporting.currency
                )?;
            }
            output::print(&[table], format)?;
            if !hidden.is_empty() {
                eprintln!(
                    "({} left out to fit the terminal; --format csv has every column)",
                    hidden.join(", ")
                );
            }
            Ok(())
        }
        Command::Report {
            name,
            period,
            out,
            send,
            text,
        } => {
            if out.is_none() && !send {
                bail!(
                    "nothing to do: give --out FILE to write the report, --send to deliver it, or both"
                );
            }
            let config = load_config(&cli.config)?;
            let spec = period_spec(Some(&period.period), period.from, period.to)?
                .expect("a default period");
            let today = today(cli.as_of, &config);
            let periods = kpi_pipeline::resolve_period(&spec, today)?;
            let reproduce = format!(
                "kpi --config {} kpis --from {} --to {}",
                cli.config.display(),
                periods.current.start,
                periods.current.end
            );
            let rendered =
                kpi_pipeline::render_report(&config, &name, &periods, reproduce, today).await?;
            // Written and sent only once everything rendered: a failure leaves
            // no half report and sends nothing.
            if let Some(out) = out {
                let text_path = text.unwrap_or_else(|| out.with_extension("txt"));
                // The saved copy carries its charts as data: URIs so that it
                // opens in a browser looking like the email.
                std::fs::write(&out, rendered.standalone_html())
                    .with_context(|| format!("writing {}", out.display()))?;
                std::fs::write(&text_path, &rendered.text)
                    .with_context(|| format!("writing {}", text_path.display()))?;
                println!(
                    "{} report for {} written to {} (email HTML {} KB, {} charts) and {}",
                    name,
                    periods.label,
                    out.display(),
                    rendered.html.len() / 1024,
                    rendered.images.len(),
                    text_path.display()
                );
            }
            if send {
                let delivered = kpi_pipeline::send_report(&config, &name, &rendered)?;
                println!(
                    "sent \"{}\" as {} to {}",
                    rendered.subject, delivered.message_id, delivered.location
                );
            }
            Ok(())
        }
        Command::BackfillKpis { from, to, grain } => {
            let config = load_config(&cli.config)?;
            backfill_cmd::backfill(&config, from, to, grain, today(cli.as_of, &config)).await
        }
        Command::Export {
            target: ExportTarget::Postgres(args),
        } => {
            let config = load_config(&cli.config)?;
            export_cmd::postgres(&config, args).await
        }
        Command::Materialize => {
            let config = load_config(&cli.config)?;
            let written = kpi_pipeline::materialize(&config).await?;
            for (view, rows) in &written {
                println!("{view}: {rows} rows");
            }
            println!(
                "written to {}",
                config.lake_path().join("canonical").display()
            );
            Ok(())
        }
        Command::Sync {
            source,
            from,
            to,
            full_refresh,
        } => {
            let config = load_config_for(&cli.config, Scope::Connectors)?;
            let opts = kpi_pipeline::sync::SyncOptions {
                source,
                range: from.zip(to),
                full_refresh,
                today: today(cli.as_of, &config),
                secrets: None,
                durability: None,
            };
            sync_cmd::sync(&config, &opts).await?;
            // Only after a sync in which nothing failed (`sync` returned an
            // error otherwise): the warehouse never gets half a day. The
            // whole tables are exported: simpler than tracking which days
            // each view and the history changed for, and a replacement in
            // one transaction either way.
            if config.export.export_after_sync {
                export_cmd::postgres(&config, export_cmd::configured(&config))
                    .await
                    .context(
                        "the sync is done and the lake is synced, but the export after it \
                         ([export] in kpi.toml) failed",
                    )?;
            }
            Ok(())
        }
        Command::Check { source } => {
            // Every problem is listed, then the sources without one are probed.
            let config = match Config::load(&cli.config) {
                Ok(c) => c,
                Err(kpi_core::ConfigError::Invalid { problems }) => {
                    for p in &problems {
                        println!("{p}");
                    }
                    bail!("{} problem(s) in {}", problems.len(), cli.config.display());
                }
                Err(e) => return Err(e.into()),
            };
            sync_cmd::check(&config, source.as_deref(), today(cli.as_of, &config)).await
        }
        Command::Schedules { now } => {
            let config = load_config(&cli.config)?;
            schedule_cmd::list(&config, now.unwrap_or_else(chrono::Utc::now))
        }
        Command::RunDue { now } => {
            let config = load_config_for(&cli.config, Scope::Connectors)?;
            schedule_cmd::run_due(&config, now.unwrap_or_else(chrono::Utc::now)).await
        }
        Command::Run {
            schedule,
            period,
            force,
            now,
        } => {
            let config = load_config_for(&cli.config, Scope::Connectors)?;
            let spec = period_spec(period.period.as_deref(), period.from, period.to)?;
            schedule_cmd::run_one(
                &config,
                &schedule,
                now.unwrap_or_else(chrono::Utc::now),
                spec,
                force,
            )
            .await
        }
        Command::Daemon => {
            let config = load_config_for(&cli.config, Scope::Connectors)?;
            schedule_cmd::daemon(&config).await
        }
        Command::Ledger { schedule, format } => {
            let config = load_config(&cli.config)?;
            schedule_cmd::ledger(&config, schedule.as_deref(), format)
        }
        Command::Bench {
            command: BenchCommand::Sync(args),
        } => bench_cmd::bench_sync(args).await,
        Command::Bench {
            command: BenchCommand::Kpis(args),
        } => bench_kpis::bench_kpis(args, cli.as_of),
        Command::Bench {
            command: BenchCommand::Export(args),
        } => bench_warehouse::bench_export(args, cli.as_of).await,
        Command::Bench {
            command: BenchCommand::Sql(args),
        } => bench_warehouse::bench_sql(args, cli.as_of).await,
        Command::Sandbox {
            command: SandboxCommand::Serve(args),
        } => sandbox_cmd::serve_cmd(args).await,
        Command::Sql { input, period } => {
            let config = load_config(&cli.config)?;
            let engine = kpi_pipeline::open_engine(&config).await?;
            if let Some(spec) = period_spec(period.period.as_deref(), period.from, period.to)? {
                let periods = kpi_pipeline::resolve_period(&spec, today(cli.as_of, &config))?;
                engine.prepare_kpis(&periods).await?;
            }
            sql_cmd::run(&engine, input, &config.lake_path()).await
        }
    }
}
