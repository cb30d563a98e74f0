//! The KPI catalog: every KPI's key, label, unit, direction and description,
//! read from `queries/kpis.toml`.
//!
//! The catalog is what a report needs to format and colour a number; the SQL in
//! `queries/kpis/` is what computes it. A test keeps the two in step.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;

/// The unit a KPI is expressed in, which decides how it is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A plain count.
    Count,
    /// Money in the reporting currency.
    Currency,
    /// A fraction shown as a percentage (0.05 is 5 %).
    Percent,
    /// A plain ratio (3.2x).
    Ratio,
    /// A duration in seconds.
    Seconds,
    /// A search ranking position (lower is better).
    Position,
}

impl Unit {
    /// The name used in the catalog and in SQL.
    pub fn as_str(&self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Currency => "currency",
            Unit::Percent => "percent",
            Unit::Ratio => "ratio",
            Unit::Seconds => "seconds",
            Unit::Position => "position",
        }
    }
}

/// Which way is good for a KPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher values are better (revenue, CTR).
    Higher,
    /// Lower values are better (CPL, bounce rate).
    Lower,
    /// Neither: shown without good/bad colouring.
    Neutral,
}

impl Direction {
    /// The name used in the catalog and in SQL.
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
            Direction::Neutral => "neutral",
        }
    }
}

/// One KPI or base measure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiDef {
    /// The key used in SQL, config (`[targets]`) and output (`cpl`).
    #[serde(skip)]
    pub key: String,
    /// Human label for reports (`Cost per lead`).
    pub label: String,
    /// How the value is expressed.
    pub unit: Unit,
    /// Which way is good.
    pub direction: Direction,
    /// What it measures and how, for readers of the report and the lake.
    pub description: String,
    /// The formula in words (`marketing_cost / leads`).
    #[serde(default)]
    pub formula: String,
    /// `measure` for base measures that are summed, `kpi` for derived KPIs.
    #[serde(default = "default_kind")]
    pub kind: String,
}

fn default_kind() -> String {
    "kpi".to_string()
}

/// The whole catalog, in file order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every entry, in the order of the file.
    pub kpis: Vec<KpiDef>,
}

impl Catalog {
    /// Parses the catalog; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, CatalogError> {
        // toml keeps tables in key order; read the order from the text so the
        // catalog stays in the author's order.
        let table: toml::Table = toml::from_str(text).map_err(|e| CatalogError {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut kpis = Vec::new();
        let mut by_key: BTreeMap<String, KpiDef> = BTreeMap::new();
        for (key, value) in table {
            let mut def: KpiDef = value
                .try_into()
                .map_err(|e: toml::de::Error| CatalogError {
                    origin: origin.to_string(),
                    message: format!("[{key}]: {e}"),
                })?;
            def.key = key.clone();
            by_key.insert(key, def);
        }
        for line in text.lines() {
            let line = line.trim();
            if let Some(key) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                if let Some(def) = by_key.remove(key.trim()) {
                    kpis.push(def);
                }
            }
        }
        kpis.extend(by_key.into_values());
        Ok(Self { kpis })
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&KpiDef> {
        self.kpis.iter().find(|k| k.key == key)
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        toml::Value::String(s.to_string())
            .try_into()
            .map_err(|_| format!("unknown unit '{s}'"))
    }
}

/// A catalog file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct CatalogError {
    /// The file.
    pub origin: String,
    /// What is wrong, with the line where the parser knows it.
    pub message: String,
}
