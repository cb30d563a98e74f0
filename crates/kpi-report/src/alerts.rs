//! Alert rules: `cpl > 80`, `change_vs_previous(bounce_rate) > 0.15`,
//! `change_vs_last_year(revenue) < -0.1`, checked against the total row of the
//! KPI table. A rule that fires appears in the report with the rule written out.

use kpi_core::Catalog;

use crate::KpiRow;

/// Which number of a KPI row a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The value in the period.
    Value,
    /// The relative change against the previous period.
    ChangeVsPrevious,
    /// The relative change against the same period last year.
    ChangeVsLastYear,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The rule as the user wrote it.
    pub text: String,
    /// What is compared.
    pub measure: Measure,
    /// KPI key.
    pub kpi: String,
    /// Operator.
    pub op: Op,
    /// Threshold (percentages and changes as fractions).
    pub threshold: f64,
}

impl AlertRule {
    /// Parses `rule`; `setting` names where it came from in errors. Unknown
    /// KPIs are refused so a typo does not silently never fire.
    pub fn parse(rule: &str, setting: &str, catalog: &Catalog) -> Result<Self, String> {
        let err = |why: &str| {
            format!(
                "{setting}: cannot read alert rule '{rule}': {why} \
                 (write e.g. `cpl > 80` or `change_vs_previous(bounce_rate) > 0.15`)"
            )
        };
        let ops = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)];
        let (pos, op_text, op) = ops
            .iter()
            .filter_map(|(t, o)| rule.find(t).map(|p| (p, *t, *o)))
            .min_by_key(|(p, t, _)| (*p, std::cmp::Reverse(t.len())))
            .ok_or_else(|| err("no comparison operator"))?;
        let left = rule[..pos].trim();
        let right = rule[pos + op_text.len()..].trim();
        let threshold: f64 = right
            .parse()
            .map_err(|_| err("the right side is not a number"))?;
        let (measure, kpi) = if let Some(inner) = left
            .strip_prefix("change_vs_previous(")
            .and_then(|s| s.strip_suffix(')'))
        {
            (Measure::ChangeVsPrevious, inner.trim())
        } else if let Some(inner) = left
            .strip_prefix("change_vs_last_year(")
            .and_then(|s| s.strip_suffix(')'))
        {
            (Measure::ChangeVsLastYear, inner.trim())
        } else {
            (Measure::Value, left)
        };
        if catalog.get(kpi).is_none() {
            return Err(err(&format!("unknown KPI '{kpi}'")));
        }
        Ok(Self {
            text: rule.trim().to_string(),
            measure,
            kpi: kpi.to_string(),
            op,
            threshold,
        })
    }

    /// The number the rule reads from the total row, if there is one.
    pub fn observed(&self, rows: &[KpiRow]) -> Option<f64> {
        let row = rows
            .iter()
            .find(|r| r.grain == "total" && r.kpi == self.kpi)?;
        match self.measure {
            Measure::Value => row.value,
            Measure::ChangeVsPrevious => row.change_vs_previous,
            Measure::ChangeVsLastYear => row.change_vs_last_year,
        }
    }

    /// Whether the rule fires; a missing value never fires.
    pub fn fires(&self, rows: &[KpiRow]) -> bool {
        self.observed(rows).is_some_and(|v| match self.op {
            Op::Gt => v > self.threshold,
            Op::Ge => v >= self.threshold,
            Op::Lt => v < self.threshold,
            Op::Le => v <= self.threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::parse(
            "[cpl]\nlabel=\"CPL\"\nunit=\"currency\"\ndirection=\"lower\"\ndescription=\"\"\n\
             [bounce_rate]\nlabel=\"Bounce\"\nunit=\"percent\"\ndirection=\"lower\"\ndescription=\"\"\n",
            "kpis.toml",
        )
        .unwrap()
    }

    fn row(kpi: &str, value: f64, change: f64) -> KpiRow {
        KpiRow {
            grain: "total".into(),
            kpi: kpi.into(),
            value: Some(value),
            change_vs_previous: Some(change),
            ..Default::default()
        }
    }

    #[test]
    fn parses_and_evaluates_rules() {
        let c = catalog();
        let rows = [row("cpl", 85.0, 0.05), row("bounce_rate", 0.5, 0.2)];
        let r = AlertRule::parse("cpl > 80", "x", &c).unwrap();
        assert!(r.fires(&rows));
        assert!(!AlertRule::parse("cpl >= 90", "x", &c).unwrap().fires(&rows));
        let r = AlertRule::parse("change_vs_previous(bounce_rate) > 0.15", "x", &c).unwrap();
        assert_eq!(r.measure, Measure::ChangeVsPrevious);
        assert!(r.fires(&rows));
        assert!(
            AlertRule::parse("change_vs_last_year(cpl) < 0", "x", &c)
                .unwrap()
                .observed(&rows)
                .is_none()
        );
        let e = AlertRule::parse("cpx > 1", "reports.leadership.alerts", &c).unwrap_err();
        assert!(
            e.contains("reports.leadership.alerts") && e.contains("unknown KPI 'cpx'"),
            "{e}"
        );
        assert!(AlertRule::parse("cpl is high", "x", &c).is_err());
        assert!(AlertRule::parse("cpl > lots", "x", &c).is_err());
    }
}
