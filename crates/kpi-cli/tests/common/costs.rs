//! What the tests of file and query sources (costs, custom) read back.

use std::process::Output;

/// A run's standard output and error, for messages and `contains` checks.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `marketing_cost` in `kpi kpis --format csv` output, at `grain`:
/// `total`, or `channel,<name>`.
pub fn marketing_cost(csv: &str, grain: &str) -> Option<f64> {
    kpi_value(csv, grain, "marketing_cost")
}

/// KPI `kpi`'s value in `kpi kpis --format csv` output, at `grain`:
/// `total`, or `channel,<name>` (`None`: no such row, or an empty value).
pub fn kpi_value(csv: &str, grain: &str, kpi: &str) -> Option<f64> {
    let prefix = match grain {
        "total" => format!("total,,,,{kpi},"),
        _ => format!("{grain},,,{kpi},"),
    };
    csv.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|v| v.parse().ok())
}

/// The arguments of `kpi kpis` for October 2026 as CSV.
pub const OCTOBER: [&str; 7] = [
    "kpis",
    "--from",
    "2026-10-01",
    "--to",
    "2026-10-31",
    "--format",
    "csv",
];
