//! `kpi sandbox serve`: the API emulator as a standalone server, so that a
//! user can point a real `kpi.toml` at it and try the connectors.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use kpi_pipeline::kpi_sandbox::server::{FaultRule, SandboxConfig, serve};

/// What `kpi sandbox serve` was asked for.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8790)]
    pub port: u16,
    /// Address to listen on; the sandbox has no real security, keep it local.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Volume of the synthetic company (100 is about 100 times the rows).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Months of history.
    #[arg(long, default_value_t = 25)]
    pub months: u32,
    /// Last day with data (default: yesterday, UTC).
    #[arg(long, value_name = "DATE")]
    pub end_date: Option<NaiveDate>,
    /// Milliseconds added to every API request, like a real round trip.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// API requests served at once; more wait for a slot (default: no limit).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// A JSON file with fault rules in force from the start (the body
    /// `POST /_sandbox/faults` takes).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
}

/// Serves until SIGINT or SIGTERM. The last line printed before serving is
/// `kpi sandbox ready at <url>`, for scripts waiting on it.
pub async fn serve_cmd(args: ServeArgs) -> Result<()> {
    let faults: Vec<FaultRule> = match &args.faults {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON list of fault rules", path.display()))?
        }
    };
    let config = SandboxConfig {
        scale: args.scale,
        months: args.months,
        end_date: args.end_date,
        latency_ms: args.latency_ms,
        max_concurrency: args.max_concurrency,
        faults,
        ..SandboxConfig::default()
    };
    let addr = SocketAddr::new(args.host, args.port);
    eprintln!("generating the synthetic company (scale {})...", args.scale);
    let sandbox = serve(config, addr).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(sandbox.banner().as_bytes())?;
    out.flush()?;
    drop(out);
    wait_for_stop().await?;
    sandbox.shutdown().await;
    eprintln!("kpi sandbox stopped");
    Ok(())
}

async fn wait_for_stop() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
