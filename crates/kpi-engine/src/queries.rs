//! The SQL and reference files, built in and overridable.
//!
//! The built-in `queries/` tree is compiled into the binary, so `kpi` runs from
//! any directory. A user points `[queries] dir` at a directory laid out the same
//! way; any file there replaces the built-in file with the same relative path.

use std::path::{Path, PathBuf};

use crate::EngineError;

macro_rules! builtin {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../queries/", $path)))),*]
    };
}

/// Every built-in file: `(path relative to queries/, contents)`.
pub const BUILTIN: &[(&str, &str)] = builtin![
    "kpis.toml",
    "reference/benchmarks.csv",
    "reference/campaign_overrides.csv",
    "reference/channel_mapping.csv",
    "reference/channels.csv",
    "reference/fx_rates.csv",
    "staging/_reference.sql",
    "staging/backlinks__backlinks.sql",
    "staging/costs__marketing_costs.sql",
    "staging/custom__ad_campaigns.sql",
    "staging/custom__ad_performance.sql",
    "staging/custom__crm_contacts.sql",
    "staging/custom__crm_deals.sql",
    "staging/custom__email_performance.sql",
    "staging/custom__web_traffic.sql",
    "staging/ga4__web_traffic.sql",
    "staging/google_ads__ad_campaigns.sql",
    "staging/google_ads__ad_performance.sql",
    "staging/hubspot__crm_contacts.sql",
    "staging/hubspot__crm_deals.sql",
    "staging/linkedin_ads__ad_campaigns.sql",
    "staging/linkedin_ads__ad_performance.sql",
    "staging/mailchimp__email_performance.sql",
    "staging/meta_ads__ad_campaigns.sql",
    "staging/microsoft_ads__ad_campaigns.sql",
    "staging/microsoft_ads__ad_performance.sql",
    "staging/meta_ads__ad_performance.sql",
    "staging/salesforce__crm_contacts.sql",
    "staging/salesforce__crm_deals.sql",
    "staging/search_console__search_performance.sql",
    "staging/social__social_performance.sql",
    "canonical/ad_campaigns.sql",
    "canonical/campaign_channels.sql",
    "canonical/ad_performance.sql",
    "canonical/web_traffic.sql",
    "canonical/crm_contacts.sql",
    "canonical/crm_deals.sql",
    "canonical/email_performance.sql",
    "canonical/search_performance.sql",
    "canonical/backlinks.sql",
    "canonical/social_performance.sql",
    "canonical/marketing_costs.sql",
    "checks/reference.sql",
    "kpis/10_facts.sql",
    "kpis/15_rollup.sql",
    "kpis/20_measures.sql",
    "kpis/30_kpi_values.sql",
    "compare.sql",
];

/// One query file: its text and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct QueryFile {
    /// Path relative to the queries tree (`kpis/20_measures.sql`).
    pub path: String,
    /// Where it was read from: `queries/kpis/20_measures.sql` (built in) or
    /// the override's path on disk.
    pub origin: String,
    /// The file's text.
    pub text: String,
}

/// The built-in files with a user's overrides laid over them.
#[derive(Debug, Clone)]
pub struct QuerySet {
    files: Vec<QueryFile>,
}

impl QuerySet {
    /// The built-in files with overrides from `dir`, if given. A missing
    /// override directory is an error (a typo would otherwise be silent).
    pub fn load(dir: Option<&Path>) -> Result<Self, EngineError> {
        let mut files: Vec<QueryFile> = BUILTIN
            .iter()
            .map(|(path, text)| QueryFile {
                path: path.to_string(),
                origin: format!("queries/{path}"),
                text: text.to_string(),
            })
            .collect();
        if let Some(dir) = dir {
            if !dir.is_dir() {
                return Err(EngineError::Queries {
                    origin: dir.display().to_string(),
                    message: "[queries] dir does not exist".into(),
                });
            }
            let mut found = Vec::new();
            walk(dir, dir, &mut found)?;
            for (rel, path) in found {
                let text = std::fs::read_to_string(&path).map_err(|e| EngineError::Queries {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let origin = path.display().to_string();
                match files.iter_mut().find(|f| f.path == rel) {
                    Some(f) => {
                        f.text = text;
                        f.origin = origin;
                    }
                    // New staging files (a source type of the user's own) are
                    // welcome; anything else unknown is probably a misspelling.
                    None if rel.starts_with("staging/") || rel.starts_with("checks/") => files
                        .push(QueryFile {
                            path: rel,
                            origin,
                            text,
                        }),
                    None => {}
                }
            }
        }
        Ok(Self { files })
    }

    /// The file at `path`.
    pub fn get(&self, path: &str) -> Option<&QueryFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Files under `dir/` in name order.
    pub fn under(&self, dir: &str) -> Vec<&QueryFile> {
        let prefix = format!("{dir}/");
        let mut v: Vec<&QueryFile> = self
            .files
            .iter()
            .filter(|f| f.path.starts_with(&prefix))
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), EngineError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EngineError::Queries {
        origin: dir.display().to_string(),
        message: e.to_string(),
    })?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path));
        }
    }
    Ok(())
}

/// One SQL statement of a file, with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// 1-based line of the statement's first non-blank character.
    pub line: usize,
    /// The statement without its trailing `;`.
    pub sql: String,
}

/// Splits SQL text into statements at `;`, ignoring semicolons inside quotes
/// and comments, and skipping statements that are only comments.
pub fn split_statements(text: &str) -> Vec<Statement> {
    let (mut out, tail, _) = split(text);
    out.extend(tail);
    out
}

/// Where the end of some SQL text is: what a shell needs to know to take
/// the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEnd {
    /// After the last statement's `;` (or only blanks and closed comments).
    Ended,
    /// Inside a statement not ended by `;` yet, outside quotes and comments.
    Statement,
    /// Inside a quoted string or identifier: the next line is part of it.
    Quote,
    /// Inside a `/* ...` comment not closed yet: the next line is part of it.
    Comment,
}

/// Where `text` ends (see [`TextEnd`]).
pub fn text_end(text: &str) -> TextEnd {
    let (_, tail, open) = split(text);
    match (open, tail) {
        (Some(open), _) => open,
        (None, Some(_)) => TextEnd::Statement,
        (None, None) => TextEnd::Ended,
    }
}

/// Whether `text` ends its last statement: nothing but blanks and closed
/// comments after the last `;` outside quotes. An interactive shell runs
/// what was typed once it does; a `/*` comment still open is not the end,
/// whatever it holds.
pub fn ends_statement(text: &str) -> bool {
    text_end(text) == TextEnd::Ended
}

/// The statements of `text` ended by `;`, the one after the last `;`, and
/// whether the text ends inside a quote or a block comment.
fn split(text: &str) -> (Vec<Statement>, Option<Statement>, Option<TextEnd>) {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start_line: Option<usize> = None;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let (mut in_quote, mut in_ident, mut in_line_comment, mut in_block_comment) =
        (false, false, false, false);
    let mut has_code = false;
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            in_line_comment = false;
        }
        if in_line_comment {
            current.push(c);
            continue;
        }
        if in_block_comment {
            current.push(c);
            if c == '*' && chars.peek() == Some(&'/') {
                current.push(chars.next().expect("peeked"));
                in_block_comment = false;
            }
            continue;
        }
        if in_quote {
            current.push(c);
            if c == '\'' {
                in_quote = false;
            }
            continue;
        }
        if in_ident {
            current.push(c);
            if c == '"' {
                in_ident = false;
            }
            continue;
        }
        match c {
            '-' if chars.peek() == Some(&'-') => {
                in_line_comment = true;
                current.push(c);
            }
            '/' if chars.peek() == Some(&'*') => {
                in_block_comment = true;
                current.push(c);
            }
            ';' => {
                if has_code {
                    out.push(Statement {
                        line: start_line.unwrap_or(line),
                        sql: std::mem::take(&mut current),
                    });
                }
                current.clear();
                has_code = false;
                start_line = None;
            }
            _ => {
                if c == '\'' {
                    in_quote = true;
                } else if c == '"' {
                    in_ident = true;
                }
                if !c.is_whitespace() && !has_code {
                    has_code = true;
                    start_line = Some(line);
                }
                current.push(c);
            }
        }
    }
    let tail = has_code.then(|| Statement {
        line: start_line.unwrap_or(line),
        sql: current,
    });
    let open = if in_block_comment {
        Some(TextEnd::Comment)
    } else if in_quote || in_ident {
        Some(TextEnd::Quote)
    } else {
        None
    };
    (out, tail, open)
}

/// Replaces `{{name}}` placeholders, and `{{name: arg}}` macros (whose value
/// holds `$1` where the argument goes); an unknown one is an error naming the
/// file and line.
pub fn substitute(
    text: &str,
    origin: &str,
    first_line: usize,
    values: &[(&str, String)],
) -> Result<String, EngineError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let line = first_line
            + text[..text.len() - rest.len() + start]
                .matches('\n')
                .count();
        let end = after.find("}}").ok_or_else(|| EngineError::Query {
            origin: origin.to_string(),
            line,
            message: "unclosed {{ placeholder".into(),
        })?;
        let (name, arg) = match after[..end].split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (after[..end].trim(), None),
        };
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| EngineError::Query {
                origin: origin.to_string(),
                line,
                message: format!(
                    "unknown placeholder {{{{{name}}}}}; known: {}",
                    values
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        // `{{name: arg}}` is a one-argument macro: `$1` in its value is the argument.
        match arg {
            Some(arg) => out.push_str(&value.replace("$1", arg)),
            None => out.push_str(value),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let text = "-- a; comment\nSELECT 'x;y';\n\n/* b; */ SELECT 2\n;\n-- only a comment\n";
        let s = split_statements(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].line, 2);
        assert!(s[0].sql.contains("'x;y'"));
        assert_eq!(s[1].line, 4);
    }

    #[test]
    fn a_statement_ends_at_a_semicolon_outside_quotes() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  -- done\n"));
        assert!(ends_statement(""));
        assert!(!ends_statement("SELECT 1"));
        assert!(!ends_statement("SELECT 'a;\nb"));
        assert!(!ends_statement("SELECT 1; SELECT\n2"));
        assert!(ends_statement("SELECT 1; SELECT\n2;"));
        // An open block comment is not an end, even with a `;` in it.
        assert!(!ends_statement("/* a comment\n"));
        assert!(!ends_statement("/* a comment;\n"));
        assert!(ends_statement("/* a comment\n over two lines */\n"));
        assert_eq!(text_end("SELECT 1 /* open\n"), TextEnd::Comment);
        assert_eq!(text_end("SELECT 'open\n"), TextEnd::Quote);
        assert_eq!(text_end("SELECT 1\n"), TextEnd::Statement);
    }

    #[test]
    fn substitutes_and_names_unknown_placeholders() {
        let v = [("a", "1".to_string())];
        assert_eq!(substitute("x {{a}} y", "f.sql", 1, &v).unwrap(), "x 1 y");
        let m = [("f", "($1 > 0)".to_string())];
        assert_eq!(
            substitute("{{f: t.x}}", "f.sql", 1, &m).unwrap(),
            "(t.x > 0)"
        );
        let err = substitute("x\n{{b}}", "f.sql", 10, &v)
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.sql:11"), "{err}");
    }

    #[test]
    fn every_file_in_queries_is_built_in() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk).unwrap();
        let mut on_disk: Vec<String> = on_disk
            .into_iter()
            .map(|(rel, _)| rel)
            .filter(|rel| !rel.ends_with(".md"))
            .collect();
        on_disk.sort();
        let mut built: Vec<String> = BUILTIN.iter().map(|(p, _)| p.to_string()).collect();
        built.sort();
        assert_eq!(on_disk, built);
    }
}
