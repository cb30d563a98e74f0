//! What an analyst is shown of the session (`kpi sql`'s `\d`): every table
//! by kind with what it holds, and a table's columns with their types and
//! comments.
//!
//! The comments of a canonical view live in its own SQL file, in the
//! leading comment block: the first line says what a row is
//! (`-- ad_performance: one row per ...`), and a line `-- @column text`
//! documents a column. One home: the file that computes the column says
//! what it is. The KPI history's columns are documented in
//! [`crate::history::COLUMNS`].

use std::collections::BTreeMap;

use arrow::array::AsArray;

use crate::{CANONICAL_VIEWS, Engine, EngineError, QuerySet, history};

/// Per canonical view: what a row is, and its columns' comments.
pub type Comments = BTreeMap<String, ViewDoc>;

/// A canonical view's documentation, from its SQL file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewDoc {
    /// What a row is (the text after `-- <view>:` on the first line).
    pub summary: String,
    /// Column name to comment (`-- @column text`).
    pub columns: BTreeMap<String, String>,
}

/// A table or view as `\d` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    /// The name to query it by (`google_ads.campaign_stats` for a raw stream).
    pub name: String,
    /// canonical view, raw stream, KPI history, reference, KPI, lake,
    /// period (with `--period`) or helper.
    pub kind: &'static str,
    /// What it holds.
    pub comment: String,
}

/// A column as `\d NAME` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Arrow type, as DataFusion prints it (`Utf8`, `Float64`, `Date32`).
    pub data_type: String,
    /// The Arrow type itself.
    pub arrow: arrow::datatypes::DataType,
    /// Whether it can be NULL.
    pub nullable: bool,
    /// What it holds, where documented.
    pub comment: String,
}

/// Reads the documentation block of every canonical view's file.
pub(crate) fn column_comments(queries: &QuerySet) -> Comments {
    let mut out = Comments::new();
    for view in CANONICAL_VIEWS {
        let Some(file) = queries.get(&format!("canonical/{view}.sql")) else {
            continue;
        };
        out.insert(view.to_string(), parse_doc(view, &file.text));
    }
    out
}

/// The doc of `view` from the comment lines before its SQL.
fn parse_doc(view: &str, text: &str) -> ViewDoc {
    let mut doc = ViewDoc::default();
    let mut in_summary = true;
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix("--") else {
            break;
        };
        let comment = comment.trim();
        if comment.starts_with("materialize:") {
            continue;
        }
        if let Some(rest) = comment.strip_prefix('@') {
            in_summary = false;
            let (name, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            doc.columns
                .insert(name.trim().to_string(), text.trim().to_string());
        } else if comment.is_empty() {
            in_summary = false;
        } else if in_summary {
            let text = comment
                .strip_prefix(&format!("{view}:"))
                .unwrap_or(comment)
                .trim();
            if !doc.summary.is_empty() {
                doc.summary.push(' ');
            }
            doc.summary.push_str(text);
        }
    }
    doc
}

/// Tables of the reference CSVs and the config, and what each holds.
const FIXED: &[(&str, &str, &str)] = &[
    (
        "benchmarks",
        "reference",
        "industry benchmarks with source and year (reference/benchmarks.csv)",
    ),
    (
        "ref_fx_rates",
        "reference",
        "currency rates per USD from a date on (reference/fx_rates.csv)",
    ),
    (
        "ref_channel_mapping",
        "reference",
        "a source's own channel names mapped to kpi's (reference/channel_mapping.csv)",
    ),
    (
        "ref_channels",
        "reference",
        "every channel with its campaign type (reference/channels.csv)",
    ),
    (
        "ref_campaign_overrides",
        "reference",
        "channel and type set by hand for a campaign (reference/campaign_overrides.csv)",
    ),
    (
        "kpi_catalog",
        "KPI",
        "every KPI with label, unit, direction and description",
    ),
    ("kpi_targets", "KPI", "the targets set in kpi.toml"),
    (
        "lake_streams",
        "lake",
        "every raw stream with its days of data",
    ),
    (
        "canonical_sources",
        "lake",
        "which sources feed each canonical view",
    ),
    (
        "report_periods",
        "period",
        "the periods of --period: current, previous, last_year",
    ),
    ("report_days", "period", "every day of each report period"),
    (
        "kpi_report",
        "period",
        "each KPI of --period beside its comparisons (what kpi kpis prints)",
    ),
    (
        "kpi_values",
        "period",
        "each KPI of each report period with its numerator and denominator",
    ),
    (
        "kpi_measures",
        "period",
        "the summed measures per period and grain the KPIs are computed from",
    ),
];

impl Engine {
    /// Every table and view of the session, canonical views first, then
    /// the KPI history, raw streams, reference, KPI, lake and period
    /// tables, and last the helper views the SQL builds on.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, EngineError> {
        let batches = self
            .query(
                "SELECT table_schema, table_name FROM information_schema.tables \
                 WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name",
            )
            .await?;
        let mut out = Vec::new();
        for b in &batches {
            let schema = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| EngineError::DataFusion(e.to_string()))?;
            let name = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| EngineError::DataFusion(e.to_string()))?;
            let (schema, name) = (schema.as_string::<i32>(), name.as_string::<i32>());
            for i in 0..b.num_rows() {
                out.push(self.table_info(schema.value(i), name.value(i)));
            }
        }
        let rank = |kind: &str| {
            [
                "canonical view",
                "KPI history",
                "raw stream",
                "reference",
                "KPI",
                "lake",
                "period",
                "helper",
            ]
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(usize::MAX)
        };
        out.sort_by_key(|t| {
            let canonical = CANONICAL_VIEWS.iter().position(|v| *v == t.name);
            (rank(t.kind), canonical, t.name.clone())
        });
        Ok(out)
    }

    fn table_info(&self, schema: &str, name: &str) -> TableInfo {
        if schema != "public" {
            let stream = self
                .streams
                .iter()
                .find(|s| s.source == schema && s.stream == name);
            let comment = match stream {
                Some(s) => {
                    let days = match (s.contents.first_day, s.contents.last_day) {
                        (Some(a), Some(b)) => format!(", {} days from {a} to {b}", s.contents.days),
                        _ if s.contents.has_data() => String::new(),
                        _ => ", no data yet".to_string(),
                    };
                    format!("{} source, as the API sends it{days}", s.source_type)
                }
                None => String::new(),
            };
            return TableInfo {
                name: format!("{schema}.{name}"),
                kind: "raw stream",
                comment,
            };
        }
        if let Some(doc) = self.comments.get(name) {
            return TableInfo {
                name: name.to_string(),
                kind: "canonical view",
                comment: doc.summary.clone(),
            };
        }
        if name == history::TABLE {
            return TableInfo {
                name: name.to_string(),
                kind: "KPI history",
                comment: format!(
                    "every report period computed so far, from {}/ in the lake",
                    history::DIR
                ),
            };
        }
        match FIXED.iter().find(|f| f.0 == name) {
            Some((_, kind, comment)) => TableInfo {
                name: name.to_string(),
                kind,
                comment: comment.to_string(),
            },
            None => TableInfo {
                name: name.to_string(),
                kind: "helper",
                comment: "a step of the KPI SQL in queries/".to_string(),
            },
        }
    }

    /// The columns of table `name` (as [`Engine::tables`] names it), with
    /// types and comments; `None` when there is no such table.
    pub async fn describe(&self, name: &str) -> Result<Option<Vec<ColumnInfo>>, EngineError> {
        let Ok(df) = self.ctx.table(name).await else {
            return Ok(None);
        };
        let doc = self.comments.get(name);
        let history = (name == history::TABLE).then_some(history::COLUMNS);
        let columns = df
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let comment = doc
                    .and_then(|d| d.columns.get(f.name()).cloned())
                    .or_else(|| {
                        history.and_then(|h| {
                            h.iter().find(|c| c.0 == f.name()).map(|c| c.1.to_string())
                        })
                    })
                    .unwrap_or_default();
                ColumnInfo {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    arrow: f.data_type().clone(),
                    nullable: f.is_nullable(),
                    comment,
                }
            })
            .collect();
        Ok(Some(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_file_documents_itself_and_its_columns() {
        let doc = parse_doc(
            "ad_performance",
            "-- materialize: x\n-- ad_performance: one row per platform,\n-- campaign and day.\n--\n\
             -- @spend   in the reporting currency\n-- @date the day\nSELECT 1\n-- @late no",
        );
        assert_eq!(doc.summary, "one row per platform, campaign and day.");
        assert_eq!(doc.columns["spend"], "in the reporting currency");
        assert_eq!(doc.columns["date"], "the day");
        assert!(!doc.columns.contains_key("late"));
    }
}
