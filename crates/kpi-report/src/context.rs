//! The report context: the KPI rows a template needs, picked and formatted.
//!
//! Numbers are formatted here, once, by each KPI's unit and the reporting
//! locale, and each change carries a tone (`good`, `bad`, `neutral`) decided by
//! the KPI's direction, so that a falling CPL is never shown in red.

use chrono::NaiveDate;
use kpi_core::format::{self, Locale};
use kpi_core::{Catalog, Direction, ReportPeriods};
use serde_json::{Value, json};

use crate::{ReportError, Strings};

/// One row of `kpi kpis`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiRow {
    /// `total`, `channel`, `campaign_type` or `campaign`.
    pub grain: String,
    /// Channel, where the grain has one.
    pub channel: Option<String>,
    /// Campaign type, where the grain has one.
    pub campaign_type: Option<String>,
    /// Campaign key, at the campaign grain.
    pub campaign: Option<String>,
    /// Catalog key.
    pub kpi: String,
    /// Value in the current period.
    pub value: Option<f64>,
    /// Value in the previous period.
    pub previous: Option<f64>,
    /// Value in the same period last year.
    pub last_year: Option<f64>,
    /// Target, if configured.
    pub target: Option<f64>,
    /// Industry benchmark, if any.
    pub benchmark: Option<f64>,
    /// Relative change against the previous period.
    pub change_vs_previous: Option<f64>,
    /// Relative change against last year.
    pub change_vs_last_year: Option<f64>,
    /// Status from compare.sql.
    pub status: String,
}

/// When each source last delivered data.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    /// `source.stream`.
    pub stream: String,
    /// Last day with data, if any.
    pub last_day: Option<NaiveDate>,
}

/// A benchmark figure's origin, for the footer.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkSource {
    /// KPI key.
    pub kpi: String,
    /// Where the figure comes from.
    pub source: String,
    /// Year of the data, if known.
    pub year: Option<i64>,
}

/// Everything a report is made from.
pub struct ReportInput<'a> {
    /// Report title; `None` for the report language's own (`t.title`).
    pub title: Option<String>,
    /// The period and its comparisons.
    pub periods: &'a ReportPeriods,
    /// Every row of the KPI table for the period.
    pub rows: &'a [KpiRow],
    /// The KPI catalog (labels, units, directions).
    pub catalog: &'a Catalog,
    /// Reporting currency code.
    pub currency: String,
    /// Reporting time zone.
    pub timezone: String,
    /// Number format.
    pub locale: Locale,
    /// The 3 to 5 headline KPI keys.
    pub headline: Vec<String>,
    /// How many campaigns the top and bottom lists show.
    pub top_n: usize,
    /// Campaigns are ranked only with at least this many leads...
    pub rank_min_leads: f64,
    /// ... and this much cost.
    pub rank_min_cost: f64,
    /// Campaign keys to the name the ad platform shows (`brand_search_es`
    /// → `Brand Search ES`); a campaign not here shows its key.
    pub campaign_names: std::collections::BTreeMap<String, String>,
    /// Data freshness per stream.
    pub freshness: Vec<Freshness>,
    /// Benchmark sources used.
    pub benchmarks: Vec<BenchmarkSource>,
    /// The command that reproduces the numbers.
    pub reproduce: String,
    /// Alert rules to check.
    pub alerts: Vec<crate::AlertRule>,
    /// Subject template (`{{title}}, {{period.label}}`).
    pub subject: String,
    /// Cumulative trends of the headline KPIs, for their charts.
    pub trends: Vec<crate::Trend>,
    /// Streams whose data ends before the period does, when the report is
    /// sent anyway: shown as a warning at the top.
    pub stale: Vec<Freshness>,
}

impl ReportInput<'_> {
    fn row(&self, grain: &str, channel: Option<&str>, kpi: &str) -> Option<&KpiRow> {
        self.rows.iter().find(|r| {
            r.grain == grain
                && r.kpi == kpi
                && (grain != "channel" || r.channel.as_deref() == channel)
                && (grain != "campaign_type" || r.campaign_type.as_deref() == channel)
        })
    }
}

fn tone(change: Option<f64>, direction: Direction) -> &'static str {
    match (change, direction) {
        (None, _) | (_, Direction::Neutral) => "neutral",
        (Some(c), _) if c.abs() < 1e-9 => "neutral",
        (Some(c), Direction::Higher) if c > 0.0 => "good",
        (Some(c), Direction::Lower) if c < 0.0 => "good",
        _ => "bad",
    }
}

/// A KPI's label in the report's language: the locale file's, else the
/// catalog's, else the key.
fn label(strings: &Strings, catalog: &Catalog, key: &str) -> String {
    strings
        .kpi
        .get(key)
        .cloned()
        .or_else(|| catalog.get(key).map(|d| d.label.clone()))
        .unwrap_or_else(|| key.to_string())
}

/// A KPI row formatted for a template.
fn kpi_json(
    input: &ReportInput,
    strings: &Strings,
    row: Option<&KpiRow>,
    key: &str,
) -> Result<Value, ReportError> {
    let def = input.catalog.get(key).ok_or_else(|| {
        ReportError::Input(format!("unknown KPI '{key}' (see queries/kpis.toml)"))
    })?;
    let empty = KpiRow::default();
    let r = row.unwrap_or(&empty);
    // A cost per something of exactly zero means there was no cost: "€0.00"
    // would read as a free lead.
    let cost_per = def.unit == kpi_core::Unit::Currency && def.direction == Direction::Lower;
    let f = |v: Option<f64>| match v {
        Some(x) if cost_per && x == 0.0 => strings.text("no_cost").to_string(),
        _ => format::value(v, def.unit, &input.currency, input.locale),
    };
    let status = if r.status.is_empty() {
        "no data"
    } else {
        r.status.as_str()
    };
    // Rates move in percentage points, amounts and counts in percent.
    let (vs_previous, moved_previous) = format::kpi_change(
        def.unit,
        r.value,
        r.previous,
        r.change_vs_previous,
        input.locale,
    );
    let (vs_last_year, moved_last_year) = format::kpi_change(
        def.unit,
        r.value,
        r.last_year,
        r.change_vs_last_year,
        input.locale,
    );
    // In tables, amounts of a thousand or more without cents: the cents of
    // €296,853.25 tell a reader nothing and cost a column its width on a phone.
    let short = match r.value {
        Some(v) if def.unit == kpi_core::Unit::Currency && v.abs() >= 1000.0 => {
            format::money_whole(v, &input.currency, input.locale)
        }
        _ => f(r.value),
    };
    Ok(json!({
        "kpi": key,
        "label": label(strings, input.catalog, key),
        "unit": def.unit.as_str(),
        "value": f(r.value),
        "short": short,
        "previous": f(r.previous),
        "last_year": f(r.last_year),
        "target": r.target.map(|t| f(Some(t))),
        "benchmark": r.benchmark.map(|b| f(Some(b))),
        "change_vs_previous": vs_previous,
        "change_vs_last_year": vs_last_year,
        "tone_previous": tone(moved_previous, def.direction),
        "tone_last_year": tone(moved_last_year, def.direction),
        "status": status,
        "status_label": strings.status(status),
        "raw": r.value,
    }))
}

/// A campaign that qualifies for the best and worst lists.
struct Ranked {
    key: String,
    roi: Option<f64>,
    cpl: Option<f64>,
    cost: f64,
    leads: f64,
    /// The row as the templates show it.
    row: Value,
}

/// Builds the JSON context the templates render.
pub fn build_context(input: &ReportInput, strings: &Strings) -> Result<Value, ReportError> {
    let p = input.periods;
    let headline = input
        .headline
        .iter()
        .map(|k| kpi_json(input, strings, input.row("total", None, k), k))
        .collect::<Result<Vec<_>, _>>()?;

    // The funnel: each stage with its conversion from the stage before, and the
    // stage whose conversion fell most against the previous period.
    let stages = [
        "sessions",
        "leads",
        "mqls",
        "sqls",
        "opportunities",
        "new_customers",
    ];
    let rates = [
        None,
        Some("traffic_to_lead"),
        Some("lead_to_mql"),
        Some("mql_to_sql"),
        Some("sql_to_opportunity"),
        None,
    ];
    let mut funnel = Vec::new();
    let mut worst: Option<(f64, String)> = None;
    for (stage, rate) in stages.iter().zip(rates) {
        let mut s = kpi_json(input, strings, input.row("total", None, stage), stage)?;
        let rate_key = match (*stage, rate) {
            ("new_customers", _) => Some("opportunity_to_customer"),
            (_, r) => r,
        };
        if let Some(rk) = rate_key.filter(|k| input.catalog.get(k).is_some()) {
            let rate_row = input.row("total", None, rk);
            s["rate"] = kpi_json(input, strings, rate_row, rk)?;
            // The drop in points of the conversion rate.
            if let Some(c) = rate_row.and_then(|r| r.value.zip(r.previous).map(|(v, p)| v - p)) {
                if worst.as_ref().is_none_or(|(w, _)| c < *w) {
                    worst = Some((c, s["label"].as_str().unwrap_or_default().to_string()));
                }
            }
        }
        funnel.push(s);
    }
    let leak = worst.filter(|(c, _)| *c < 0.0).map(|(c, stage)| {
        // "fell 4.2 pp": the word carries the sign.
        json!({ "stage": stage, "change": format::points(Some(c.abs()), input.locale).trim_start_matches('+') })
    });

    // Channels: the main KPIs for each channel, in the order of spend.
    let channel_kpis = [
        "marketing_cost",
        "sessions",
        "leads",
        "cpl",
        "new_customers",
        "cac",
        "revenue",
        "roi",
    ];
    let mut channel_names: Vec<&str> = input
        .rows
        .iter()
        .filter(|r| r.grain == "channel")
        .filter_map(|r| r.channel.as_deref())
        .collect();
    channel_names.dedup();
    // The columns a phone-width email leaves out (CPL, CAC and ROI carry
    // cost and revenue in them).
    let optional = |k: &str| matches!(k, "marketing_cost" | "sessions" | "revenue");
    let mut channels = Vec::new();
    for ch in channel_names {
        let mut cells = Vec::new();
        for k in channel_kpis {
            let mut cell = kpi_json(input, strings, input.row("channel", Some(ch), k), k)?;
            cell["optional"] = json!(optional(k));
            cells.push(cell);
        }
        let revenue = input
            .row("channel", Some(ch), "revenue")
            .and_then(|r| r.value)
            .unwrap_or(0.0);
        channels.push((
            revenue,
            json!({ "channel": ch, "channel_label": strings.channel(ch), "cells": cells }),
        ));
    }
    channels.sort_by(|a, b| b.0.total_cmp(&a.0));
    let channel_header: Vec<Value> = channel_kpis
        .iter()
        .map(|k| {
            // Tables use the short column names (`CAC`), cards the full label.
            let short = format!("col_{k}");
            let label = strings
                .text
                .get(&short)
                .cloned()
                .unwrap_or_else(|| label(strings, input.catalog, k));
            json!({ "label": label, "optional": optional(k) })
        })
        .collect();

    // Inbound vs outbound CPL.
    let mut types = Vec::new();
    for t in ["inbound", "outbound"] {
        types.push(json!({
            "campaign_type": t,
            "campaign_type_label": strings.campaign_type(t),
            "cpl": kpi_json(input, strings, input.row("campaign_type", Some(t), "cpl"), "cpl")?,
            "leads": kpi_json(input, strings, input.row("campaign_type", Some(t), "leads"), "leads")?,
        }));
    }

    // Campaigns ranked by ROI and by CPL, among campaigns with cost and with
    // enough volume for the ranking to mean something.
    let mut campaigns: Vec<Ranked> = Vec::new();
    let mut with_cost = 0usize;
    let keys: Vec<(&str, &str)> = input
        .rows
        .iter()
        .filter(|r| {
            r.grain == "campaign" && r.kpi == "marketing_cost" && r.value.unwrap_or(0.0) > 0.0
        })
        .filter_map(|r| Some((r.campaign.as_deref()?, r.channel.as_deref().unwrap_or(""))))
        .collect();
    for (c, ch) in keys {
        let find = |k: &str| {
            input.rows.iter().find(|r| {
                r.grain == "campaign"
                    && r.campaign.as_deref() == Some(c)
                    && r.channel.as_deref() == Some(ch)
                    && r.kpi == k
            })
        };
        with_cost += 1;
        let volume = |k: &str| find(k).and_then(|r| r.value).unwrap_or(0.0);
        if volume("leads") < input.rank_min_leads || volume("marketing_cost") < input.rank_min_cost
        {
            continue;
        }
        let row = json!({
            "campaign": input.campaign_names.get(c).map(String::as_str).unwrap_or(c),
            "campaign_key": c,
            "channel": ch,
            "channel_label": strings.channel(ch),
            "cost": kpi_json(input, strings, find("marketing_cost"), "marketing_cost")?,
            "leads": kpi_json(input, strings, find("leads"), "leads")?,
            "cpl": kpi_json(input, strings, find("cpl"), "cpl")?,
            "roi": kpi_json(input, strings, find("roi"), "roi")?,
        });
        campaigns.push(Ranked {
            key: c.to_string(),
            roi: find("roi").and_then(|r| r.value),
            cpl: find("cpl").and_then(|r| r.value),
            cost: volume("marketing_cost"),
            leads: volume("leads"),
            row,
        });
    }
    let n = input.top_n.max(1);
    // Best first; the worst list holds the other end and never repeats a
    // campaign of the best list (with few campaigns, each gets half).
    let ranked = |by_roi: bool, best: bool| -> Vec<Value> {
        let mut v: Vec<&Ranked> = campaigns
            .iter()
            .filter(|c| {
                if by_roi {
                    c.roi.is_some()
                } else {
                    c.cpl.is_some()
                }
            })
            .collect();
        // Best first: the highest ROI, the lowest CPL. Among equal ROIs the
        // bigger cost sorts later, so the worst list (read from the end)
        // leads with the campaign that lost the most; among equal CPLs, the
        // one with more leads comes first.
        v.sort_by(|a, b| {
            let ord = if by_roi {
                b.roi
                    .unwrap_or(0.0)
                    .total_cmp(&a.roi.unwrap_or(0.0))
                    .then(a.cost.total_cmp(&b.cost))
            } else {
                a.cpl
                    .unwrap_or(0.0)
                    .total_cmp(&b.cpl.unwrap_or(0.0))
                    .then(b.leads.total_cmp(&a.leads))
            };
            ord.then_with(|| a.key.cmp(&b.key))
        });
        let top = n.min(v.len().div_ceil(2));
        let picked: Vec<_> = if best {
            v.iter().take(top).collect()
        } else {
            let rest = &v[top..];
            rest.iter().rev().take(n).collect()
        };
        picked.into_iter().map(|c| c.row.clone()).collect()
    };
    let ranked_note = strings
        .text(if input.rank_min_cost > 0.0 {
            "ranked_rule_cost"
        } else {
            "ranked_rule"
        })
        .replace(
            "{leads}",
            &format::number(input.rank_min_leads, 0, input.locale),
        )
        .replace(
            "{cost}",
            &format::money(input.rank_min_cost, &input.currency, input.locale),
        )
        .replace("{ranked}", &campaigns.len().to_string())
        .replace("{all}", &with_cost.to_string());

    let alerts: Vec<Value> = input
        .alerts
        .iter()
        .filter(|a| a.fires(input.rows))
        .map(|a| {
            let def = input.catalog.get(&a.kpi);
            let observed = a.observed(input.rows);
            let shown = match (a.measure, def) {
                (crate::alerts::Measure::Value, Some(d)) => {
                    format::value(observed, d.unit, &input.currency, input.locale)
                }
                _ => format::change(observed, input.locale),
            };
            json!({
                "rule": a.text,
                "label": label(strings, input.catalog, &a.kpi),
                "observed": shown,
            })
        })
        .collect();

    Ok(json!({
        "title": input.title.as_deref().unwrap_or(strings.text("title")),
        "alerts": alerts,
        "alert_rules": input.alerts.len(),
        "lang": crate::strings::code(input.locale),
        "stale": input.stale.iter().map(|f| json!({
            "stream": f.stream,
            "last_day": f.last_day.map(|d| d.to_string()).unwrap_or_else(|| strings.text("no_data").to_string()),
        })).collect::<Vec<_>>(),
        "t": strings.text,
        "na": input.locale.not_available(),
        "subtitle": strings.text(match p.second {
            kpi_core::SecondComparison::LastYear => "subtitle",
            kpi_core::SecondComparison::WeekAgo => "subtitle_week_ago",
        }),
        "vs_second": strings.text(match p.second {
            kpi_core::SecondComparison::LastYear => "vs_last_year",
            kpi_core::SecondComparison::WeekAgo => "vs_last_week",
        }),
        "kpi_labels": input.catalog.kpis.iter().map(|d| (d.key.clone(), json!(label(strings, input.catalog, &d.key)))).collect::<serde_json::Map<_, _>>(),
        "period": {
            "name": p.name,
            "label": p.label_in(input.locale),
            "current": p.current.display_in(input.locale),
            "previous": p.previous.display_in(input.locale),
            "last_year": p.last_year.display_in(input.locale),
        },
        "currency": input.currency,
        "timezone": input.timezone,
        "headline": headline,
        "funnel": funnel,
        "leak": leak,
        "channel_header": channel_header,
        "channels": channels.into_iter().map(|c| c.1).collect::<Vec<_>>(),
        "campaign_types": types,
        "campaigns": {
            "top_roi": ranked(true, true),
            "bottom_roi": ranked(true, false),
            "top_cpl": ranked(false, true),
            "bottom_cpl": ranked(false, false),
            "count": n,
            "ranked_note": ranked_note,
        },
        "footer": {
            "freshness": input.freshness.iter().map(|f| json!({
                "stream": f.stream,
                "last_day": f.last_day.map(|d| d.to_string()).unwrap_or_else(|| strings.text("no_data").to_string()),
            })).collect::<Vec<_>>(),
            "benchmarks": input.benchmarks.iter().map(|b| json!({
                "kpi": label(strings, input.catalog, &b.kpi),
                "source": strings.benchmark_source(&b.source),
                "year": b.year.map(|y| y.to_string()).unwrap_or_else(|| strings.text("year_not_given").to_string()),
            })).collect::<Vec<_>>(),
            "reproduce": input.reproduce,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_follows_the_kpi_direction() {
        assert_eq!(
            tone(Some(-0.1), Direction::Lower),
            "good",
            "a falling CPL is good"
        );
        assert_eq!(tone(Some(0.1), Direction::Lower), "bad");
        assert_eq!(tone(Some(0.1), Direction::Higher), "good");
        assert_eq!(tone(Some(-0.1), Direction::Higher), "bad");
        assert_eq!(tone(Some(0.1), Direction::Neutral), "neutral");
        assert_eq!(tone(None, Direction::Higher), "neutral");
    }
}
