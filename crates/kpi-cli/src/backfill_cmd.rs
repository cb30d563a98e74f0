//! `kpi backfill-kpis`: the KPI history for past periods, one period of
//! the grain at a time, so an analyst can chart a KPI from the first month
//! the lake holds.

use anyhow::{Result, bail};
use chrono::NaiveDate;
use kpi_core::{Config, DateRange, PeriodGrain, PeriodSpec};

/// The length of the periods to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grain {
    /// Calendar months.
    Month,
    /// Weeks, Monday to Sunday.
    Week,
    /// Days.
    Day,
}

/// Computes and records the KPIs of every whole period of `grain` that
/// overlaps `from..=to`, is over by `today` and starts on or after the
/// lake's first day with data.
pub async fn backfill(
    config: &Config,
    from: NaiveDate,
    to: NaiveDate,
    grain: Grain,
    today: NaiveDate,
) -> Result<()> {
    let range = DateRange::new(from, to)?;
    let grain = match grain {
        Grain::Month => PeriodGrain::Month,
        Grain::Week => PeriodGrain::Week,
        Grain::Day => PeriodGrain::Day,
    };
    let all = range.periods(grain);
    // A period that is not over yet would be recorded with part of its days.
    let (periods, open): (Vec<DateRange>, Vec<DateRange>) =
        all.into_iter().partition(|p| p.end < today);
    if periods.is_empty() {
        bail!("no whole period between {from} and {to} is over yet (today is {today})");
    }
    let engine = kpi_pipeline::open_engine(config).await?;
    let Some(first) = engine.first_day().await? else {
        bail!("the lake holds no data yet, so there is no KPI to record: run kpi sync first");
    };
    // Before the lake's first day every KPI would be recorded as 0, and a
    // period it cuts through would be recorded with part of its days.
    let (early, periods): (Vec<DateRange>, Vec<DateRange>) =
        periods.into_iter().partition(|p| p.start < first);
    if periods.is_empty() {
        bail!(
            "every period between {from} and {to} starts before {first}, the lake's first day \
             with data: nothing was recorded (backfill from {first} on)"
        );
    }
    if let (Some(a), Some(b)) = (early.first(), early.last()) {
        println!(
            "skipped {} period{} from {} to {}: the lake's first day with data is {first}",
            early.len(),
            if early.len() == 1 { "" } else { "s" },
            a.start,
            b.end
        );
    }
    let mut total = 0;
    for p in &periods {
        let resolved = kpi_pipeline::resolve_period(&PeriodSpec::Range(*p), today)?;
        engine.prepare_kpis(&resolved).await?;
        let rows = engine.record_history(&resolved).await?;
        total += rows;
        println!("{p}: {rows} KPI rows");
    }
    if let Some(p) = open.first() {
        println!("left out {p}: it is not over yet");
    }
    println!(
        "{} periods, {total} rows written to {}",
        periods.len(),
        config.lake_path().join(kpi_engine::history::DIR).display()
    );
    Ok(())
}
