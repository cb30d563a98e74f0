//! `kpi report`: the KPI table of a period rendered as the leadership report.
//!
//! Nothing is written unless every query and the render succeed.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use kpi_core::{Config, ReportPeriods};
use kpi_report::{BenchmarkSource, Freshness, KpiRow, Renderer, ReportInput};

use crate::PipelineError;

fn strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, PipelineError> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| PipelineError::Report(format!("the KPI table has no column {name}")))?;
    let col = arrow::compute::cast(col, &DataType::Utf8)
        .map_err(|e| PipelineError::Report(e.to_string()))?;
    let col = col.as_string::<i32>();
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| col.value(i).to_string()))
        .collect())
}

fn floats(b: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, PipelineError> {
    let col = b
        .column_by_name(name)
        .ok_or_else(|| PipelineError::Report(format!("the KPI table has no column {name}")))?;
    let col = arrow::compute::cast(col, &DataType::Float64)
        .map_err(|e| PipelineError::Report(e.to_string()))?;
    let col = col.as_primitive::<Float64Type>();
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| col.value(i)))
        .collect())
}

/// The rows of `kpi kpis` as structs.
pub fn kpi_rows(batches: &[RecordBatch]) -> Result<Vec<KpiRow>, PipelineError> {
    let mut rows = Vec::new();
    for b in batches {
        let (grain, channel, ctype, campaign, kpi, status) = (
            strings(b, "grain")?,
            strings(b, "channel")?,
            strings(b, "campaign_type")?,
            strings(b, "campaign")?,
            strings(b, "kpi")?,
            strings(b, "status")?,
        );
        // The numeric columns of the KPI table, value to change_vs_last_year,
        // in the engine's order (KPI_COLUMNS is the one definition).
        let nums: Vec<Vec<Option<f64>>> = kpi_engine::KPI_COLUMNS[5..12]
            .iter()
            .map(|n| floats(b, n))
            .collect::<Result<_, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(KpiRow {
                grain: grain[i].clone().unwrap_or_default(),
                channel: channel[i].clone(),
                campaign_type: ctype[i].clone(),
                campaign: campaign[i].clone(),
                kpi: kpi[i].clone().unwrap_or_default(),
                value: nums[0][i],
                previous: nums[1][i],
                last_year: nums[2][i],
                target: nums[3][i],
                benchmark: nums[4][i],
                change_vs_previous: nums[5][i],
                change_vs_last_year: nums[6][i],
                status: status[i].clone().unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}

/// Points per period in a headline trend chart: enough for a smooth line in
/// 160 px, few enough that the windows stay cheap to compute.
const TREND_POINTS: usize = 16;

/// Groups the engine's trend points by KPI.
fn trends(points: Vec<kpi_engine::SeriesPoint>) -> Vec<kpi_report::Trend> {
    let mut out: Vec<kpi_report::Trend> = Vec::new();
    for p in points {
        if out.last().is_none_or(|t| t.kpi != p.kpi) {
            out.push(kpi_report::Trend {
                kpi: p.kpi.clone(),
                ..Default::default()
            });
        }
        let t = out.last_mut().expect("just pushed");
        if p.current {
            t.current.push((p.day, p.value));
        } else {
            t.previous.push((p.day, p.value));
        }
    }
    out
}

/// Renders report `name` for `periods` (asked for on `today`). `reproduce`
/// is the command line shown in the footer. A period that has not started
/// is refused: there is nothing to report, and a report of zeros and -100 %
/// changes would be read as a collapse. A period the data does not cover to
/// its end (one still running, or a source behind) is rendered with the
/// stale-data note at the top, as a scheduled run sent anyway would be.
pub async fn render_report(
    config: &Config,
    name: &str,
    periods: &ReportPeriods,
    reproduce: String,
    today: chrono::NaiveDate,
) -> Result<kpi_report::Rendered, PipelineError> {
    if periods.current.start >= today {
        return Err(PipelineError::Report(format!(
            "the period {} ({}) has not started yet on {today}: there is no data to report; \
             choose a period that has (--period previous_month, or --from/--to before {today})",
            periods.label, periods.current
        )));
    }
    let settings = config.reports.get(name).cloned().unwrap_or_default();
    let engine = crate::open_engine(config).await?;
    let stale = stale_streams(config, &engine, periods.current.end)?;
    render_with(config, name, &settings, periods, reproduce, stale).await
}

/// The configured streams whose data ends before `end`.
pub fn stale_streams(
    config: &Config,
    engine: &kpi_engine::Engine,
    end: chrono::NaiveDate,
) -> Result<Vec<Freshness>, PipelineError> {
    Ok(freshness(config, engine)?
        .into_iter()
        .filter(|f| f.last_day.is_none_or(|d| d < end))
        .collect())
}

/// The name each campaign has where its cost comes from (the ad platform,
/// else the cost file) in `periods`' current period, the latest if it was
/// renamed, by campaign key.
async fn campaign_names(
    engine: &kpi_engine::Engine,
    periods: &ReportPeriods,
) -> Result<std::collections::BTreeMap<String, String>, PipelineError> {
    let (from, to) = (periods.current.start, periods.current.end);
    let sql = format!(
        "SELECT campaign_key, last_value(campaign_name ORDER BY source, date) AS name
         FROM (
             SELECT campaign_key, campaign_name, date, 1 AS source FROM marketing_costs
             WHERE date BETWEEN DATE '{from}' AND DATE '{to}'
             UNION ALL
             SELECT campaign_key, campaign_name, date, 2 AS source FROM ad_performance
             WHERE date BETWEEN DATE '{from}' AND DATE '{to}'
         )
         WHERE campaign_key IS NOT NULL AND campaign_name IS NOT NULL
         GROUP BY campaign_key"
    );
    let mut out = std::collections::BTreeMap::new();
    for b in engine.query(&sql).await? {
        let (keys, names) = (strings(&b, "campaign_key")?, strings(&b, "name")?);
        for (k, n) in keys.into_iter().zip(names) {
            if let (Some(k), Some(n)) = (k, n) {
                out.insert(k, n);
            }
        }
    }
    Ok(out)
}

/// When each configured source's streams last have data (the last synced day
/// from the lake's state, else the last day with files).
pub fn freshness(
    config: &Config,
    engine: &kpi_engine::Engine,
) -> Result<Vec<Freshness>, PipelineError> {
    let lake = kpi_lake::Lake::open(&config.lake_path())?;
    let mut out = Vec::new();
    for s in engine
        .streams()
        .iter()
        .filter(|s| config.sources.contains_key(&s.source))
    {
        let state = lake.read_state(&s.source)?;
        let synced = state.streams.get(&s.stream).map(|c| c.synced_through);
        out.push(Freshness {
            stream: format!("{}.{}", s.source, s.stream),
            last_day: synced.or(s.contents.last_day),
        });
    }
    Ok(out)
}

/// Renders report `name` with `settings` (the report's own, or a schedule's
/// overrides of them); `stale` lists the streams the report warns about.
pub async fn render_with(
    config: &Config,
    name: &str,
    settings: &kpi_core::ReportConfig,
    periods: &ReportPeriods,
    reproduce: String,
    stale: Vec<Freshness>,
) -> Result<kpi_report::Rendered, PipelineError> {
    let templates = settings.templates.as_ref().map(|t| config.base_dir.join(t));
    // Load the templates first: a broken template fails before any query runs.
    let renderer = Renderer::load(name, templates.as_deref())?;
    let engine = crate::open_engine(config).await?;
    let origin = config.origin.display().to_string();
    let alerts = settings
        .alerts
        .iter()
        .map(|rule| {
            kpi_report::AlertRule::parse(
                rule,
                &format!("{origin}: reports.{name}.alerts"),
                engine.catalog(),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(PipelineError::Report)?;
    // The trend charts' points come from the same pass as the KPI table.
    let (batches, points) = engine
        .kpis_and_series(periods, &settings.headline, TREND_POINTS)
        .await?;
    let trends = trends(points);
    let rows = kpi_rows(&batches)?;

    let freshness = freshness(config, &engine)?;
    let campaign_names = campaign_names(&engine, periods).await?;

    let industry = config
        .reporting
        .industry
        .as_deref()
        .unwrap_or("All")
        .replace('\'', "''");
    let sql = format!(
        "SELECT kpi, source, year FROM (
             SELECT b.kpi, b.source, b.year, row_number() OVER (
                 PARTITION BY b.kpi, coalesce(b.channel, '')
                 ORDER BY CASE WHEN b.industry = '{industry}' THEN 0 ELSE 1 END, b.year DESC) AS rn
             FROM benchmarks b
             WHERE b.industry IN ('{industry}', 'All')
               AND b.kpi IN (SELECT kpi FROM kpi_report WHERE benchmark IS NOT NULL)
         ) WHERE rn = 1 ORDER BY kpi, source"
    );
    let mut benchmarks = Vec::new();
    for b in engine.query(&sql).await? {
        let (kpi, source) = (strings(&b, "kpi")?, strings(&b, "source")?);
        let year = arrow::compute::cast(b.column(2), &DataType::Int64)
            .map_err(|e| PipelineError::Report(e.to_string()))?;
        let year = Arc::clone(&year);
        let year = year.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            benchmarks.push(BenchmarkSource {
                kpi: kpi[i].clone().unwrap_or_default(),
                source: source[i].clone().unwrap_or_default(),
                year: (!year.is_null(i)).then(|| year.value(i)),
            });
        }
    }

    let input = ReportInput {
        title: settings.title.clone(),
        periods,
        rows: &rows,
        catalog: engine.catalog(),
        currency: config.reporting.currency.clone(),
        timezone: config.reporting.timezone.clone(),
        locale: kpi_core::format::Locale::from_code(
            settings
                .locale
                .as_deref()
                .unwrap_or(&config.reporting.locale),
        ),
        headline: settings.headline.clone(),
        top_n: settings.top_campaigns,
        rank_min_leads: settings.rank_min_leads,
        rank_min_cost: settings.rank_min_cost,
        campaign_names,
        freshness,
        benchmarks,
        reproduce,
        alerts,
        subject: settings.subject.clone(),
        trends,
        stale,
    };
    Ok(renderer.render(&input)?)
}

/// Builds the email for `rendered` and delivers it as `[delivery]` says
/// (an `.eml` in the outbox by default). The message is complete before the
/// transport is touched.
pub fn send_report(
    config: &Config,
    name: &str,
    rendered: &kpi_report::Rendered,
) -> Result<kpi_deliver::Delivered, PipelineError> {
    let settings = config.reports.get(name).cloned().unwrap_or_default();
    let email = build_email(config, name, &settings, rendered, None)?;
    deliver_email(config, &email)
}

/// The complete message for `rendered`, to the recipients in `settings`;
/// `message_id` reuses an ID (a resend), else a new one is made.
pub fn build_email(
    config: &Config,
    name: &str,
    settings: &kpi_core::ReportConfig,
    rendered: &kpi_report::Rendered,
    message_id: Option<String>,
) -> Result<kpi_deliver::Email, PipelineError> {
    let envelope = kpi_deliver::Envelope {
        from: config.delivery.from.clone(),
        reply_to: config.delivery.reply_to.clone(),
        to: settings.to.clone(),
        cc: settings.cc.clone(),
        bcc: settings.bcc.clone(),
        subject: rendered.subject.clone(),
        list_unsubscribe: settings.list_unsubscribe.clone(),
        message_id,
    };
    let images: Vec<kpi_deliver::InlineImage> = rendered
        .images
        .iter()
        .map(|c| kpi_deliver::InlineImage {
            id: c.cid.clone(),
            png: c.png.clone(),
        })
        .collect();
    kpi_deliver::build(&envelope, &rendered.html, &rendered.text, &images).map_err(|e| {
        PipelineError::Report(format!("{}: {e}", config.origin.display()).replace("<name>", name))
    })
}

/// Hands `email` to the configured transport.
pub fn deliver_email(
    config: &Config,
    email: &kpi_deliver::Email,
) -> Result<kpi_deliver::Delivered, PipelineError> {
    kpi_deliver::deliver(email, &config.delivery, &config.base_dir).map_err(|e| {
        let text = format!("{}: {e}", config.origin.display());
        if e.maybe_delivered() {
            PipelineError::Unconfirmed(text)
        } else {
            PipelineError::Report(text)
        }
    })
}
