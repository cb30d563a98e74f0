//! Ad-hoc SQL, as an analyst types it into `kpi sql`: errors in words with
//! the line and column and the line itself, the closest table for a
//! misspelt one, and result columns named as the query wrote them.
//!
//! DataFusion's own messages are kept; this module only adds where they
//! point and what to try, and unwraps the parser's debug text
//! (`ParserError("Expected: ...")`).

use datafusion::common::{DataFusionError, Diagnostic};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// Tables that exist only once a period's KPIs are computed.
const PERIOD_TABLES: [&str; 3] = ["kpi_report", "kpi_values", "kpi_measures"];

/// `e` explained for someone who typed `sql`.
pub(crate) fn explain(ctx: &SessionContext, sql: &str, e: &DataFusionError) -> String {
    let root = e.find_root();
    if let DataFusionError::SQL(parser, _) = root {
        let message = match parser.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
            ParserError::RecursionLimitExceeded => "the query is nested too deeply".into(),
        };
        let (message, at) = split_location(&message);
        return with_place("syntax error", &message, at, sql);
    }
    let message = e.strip_backtrace();
    let at = e.diagnostic().and_then(place_of);
    let mut out = with_place("", &message, at, sql);
    if let Some(table) = missing_table(&message) {
        if PERIOD_TABLES.contains(&table.as_str()) {
            out.push_str(&format!(
                "\n  {table} holds the KPIs of a period: add --period NAME (e.g. --period \
                 previous_month) or --from DATE --to DATE"
            ));
        } else {
            let names = table_names(ctx);
            if let Some(best) = kpi_core::suggest::closest(&table, names.iter().map(String::as_str))
            {
                out.push_str(&format!("\n  did you mean {best}?"));
            }
        }
    }
    out
}

/// The message without the parser's trailing ` at Line: L, Column: C`, and
/// that place.
fn split_location(message: &str) -> (String, Option<(u64, u64)>) {
    let Some(i) = message.rfind(" at Line: ") else {
        return (message.to_string(), None);
    };
    let rest = &message[i + " at Line: ".len()..];
    let mut parts = rest.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let col = parts.next().and_then(|c| c.trim().parse().ok());
    match (line, col) {
        (Some(l), Some(c)) => (message[..i].to_string(), Some((l, c))),
        _ => (message.to_string(), None),
    }
}

fn place_of(d: &Diagnostic) -> Option<(u64, u64)> {
    let span = d.span?;
    (span.start.line > 0).then_some((span.start.line, span.start.column))
}

/// `what at line L, column C: message` (or `line L, column C: message`
/// with no `what`) and the line with a caret under the column; without a
/// known place, `what: message`.
fn with_place(what: &str, message: &str, at: Option<(u64, u64)>, sql: &str) -> String {
    // `what` is empty where DataFusion's message already says what it is
    // ("Schema error: ...").
    let Some((line, col)) = at else {
        return if what.is_empty() {
            message.to_string()
        } else {
            format!("{what}: {message}")
        };
    };
    let place = format!("line {line}, column {col}");
    let mut out = if what.is_empty() {
        format!("{place}: {message}")
    } else {
        format!("{what} at {place}: {message}")
    };
    if let Some(text) = sql.lines().nth(line.saturating_sub(1) as usize) {
        let pad: String = text
            .chars()
            .take(col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("\n  {text}\n  {pad}^"));
    }
    out
}

/// The table a "table '...' not found" error names, without its catalog and
/// schema when they are the defaults.
fn missing_table(message: &str) -> Option<String> {
    let rest = message.split("table '").nth(1)?;
    let name = rest.split("' not found").next()?;
    Some(
        name.strip_prefix("datafusion.public.")
            .or_else(|| name.strip_prefix("datafusion."))
            .unwrap_or(name)
            .to_string(),
    )
}

/// Every table and view the session has, as a query names it (`crm_deals`,
/// `hubspot.deals`).
fn table_names(ctx: &SessionContext) -> Vec<String> {
    let mut out = Vec::new();
    for catalog in ctx.catalog_names() {
        let Some(c) = ctx.catalog(&catalog) else {
            continue;
        };
        for schema in c.schema_names() {
            if schema == "information_schema" {
                continue;
            }
            let Some(s) = c.schema(&schema) else {
                continue;
            };
            for t in s.table_names() {
                out.push(if schema == "public" {
                    t
                } else {
                    format!("{schema}.{t}")
                });
            }
        }
    }
    out.sort();
    out
}

/// The result's column names as the query wrote them: an alias keeps its
/// case (`AS "Spend"` and `AS Spend` both give `Spend`), an expression
/// without one is named by its text (`sum(spend)`, not
/// `sum(ad_performance.spend)`), and a plain column keeps its name. `None`
/// when the query's columns cannot be matched one to one (`SELECT *`, not a
/// single SELECT), and then DataFusion's names stand.
pub(crate) fn written_names(sql: &str, count: usize) -> Option<Vec<Option<String>>> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    let mut body = query.body.as_ref();
    // A UNION takes its column names from its first branch.
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else {
        return None;
    };
    if select.projection.len() != count {
        return None;
    }
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(Some(alias.value.clone())),
            SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => {
                Some(None)
            }
            SelectItem::UnnamedExpr(expr) => Some(Some(expr.to_string())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_location_is_split_off() {
        let (m, at) =
            split_location("Expected: end of statement, found: FORM at Line: 2, Column: 9");
        assert_eq!(m, "Expected: end of statement, found: FORM");
        assert_eq!(at, Some((2, 9)));
        assert_eq!(split_location("no place").1, None);
    }

    #[test]
    fn names_come_from_the_query_text() {
        let names = written_names(
            "SELECT channel, sum(spend) AS \"Spend\", count(*) AS Rows, sum(clicks) FROM t GROUP BY 1",
            4,
        )
        .unwrap();
        assert_eq!(
            names,
            vec![
                None,
                Some("Spend".to_string()),
                Some("Rows".to_string()),
                Some("sum(clicks)".to_string())
            ]
        );
        assert_eq!(written_names("SELECT * FROM t", 3), None);
        assert_eq!(written_names("SELECT a, b FROM t", 3), None);
    }
}
