//! `kpi sql`: the lake's SQL session for analysts, one-shot (`kpi sql
//! "SELECT ..."`, `-f query.sql`), from standard input (`kpi sql <
//! q.sql`), or as an interactive shell when standard input is a terminal.
//!
//! All modes read their input the same way, line by line through
//! [`Session::line`]: statements end with `;` and may span lines, and a
//! line starting with `\` is a shell command (`\d`, `\d NAME`, `\timing`,
//! `\q`). As in psql, a command runs at once even in the middle of a
//! statement (whose lines stay buffered, never mixed with the command),
//! but inside an open quote or `/* ...` comment the line is part of them.
//! The shell differs only in that an error is printed and the session goes
//! on; a script stops at its first error, naming the line.
//!
//! Parameters (`--param start=2026-10-01`) are typed values bound to
//! `$start` by DataFusion, never text pasted into the SQL.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use arrow::array::StringArray;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use kpi_engine::Engine;
use kpi_engine::queries::{TextEnd, ends_statement, split_statements, text_end};

use crate::output::{self, Format};

/// How `kpi sql` writes results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// A readable table for the terminal.
    Table,
    /// CSV with a header row; NULL is an empty field.
    Csv,
    /// A JSON array of objects; NULL is `null`.
    Json,
    /// A Parquet file (needs --output; one result).
    Parquet,
}

/// What `kpi sql` was asked to run.
#[derive(Debug, Clone, clap::Args)]
pub struct SqlInput {
    /// The SQL to run: one or more statements separated by `;`. Without it
    /// (and without --file) the statements are read from standard input,
    /// or typed into a shell when standard input is a terminal.
    pub query: Option<String>,
    /// Run the statements of this file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "query"
    )]
    pub file: Option<PathBuf>,
    /// A value for `$NAME` in the SQL, as NAME=VALUE (repeatable). Its type
    /// is read from the value: 2026-10-01 is a date, 12 an integer, 1.5 a
    /// number, true/false a boolean, anything else text; or named, as
    /// NAME:date=, NAME:int=, NAME:float=, NAME:bool=, NAME:text=.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Write the results to this file instead of standard output (replaced
    /// whole once every statement ran; required for parquet). A csv, json
    /// or parquet file holds one result: a second statement returning rows
    /// is an error (statements returning none, like CREATE VIEW, may
    /// come first).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `input` on `engine`.
pub async fn run(engine: &Engine, input: SqlInput, lake: &Path) -> Result<()> {
    let params = input
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>>>()?;
    if input.format == SqlFormat::Parquet && input.output.is_none() {
        bail!("--format parquet writes a file: add --output FILE");
    }
    let mut session = Session {
        engine,
        params,
        format: input.format,
        output: input.output.clone(),
        results: Vec::new(),
        timing: false,
        interactive: false,
        buffer: String::new(),
        buffer_line: 0,
        origin: String::new(),
    };
    match (&input.query, &input.file) {
        (Some(sql), _) => {
            session.origin = "the query".into();
            session.script(sql).await?;
        }
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            session.origin = file.display().to_string();
            session.script(&text).await?;
        }
        (None, None) if std::io::stdin().is_terminal() => {
            session.interactive = true;
            session.origin = "the shell".into();
            shell(&mut session, lake).await?;
        }
        (None, None) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
            session.origin = "standard input".into();
            session.script(&text).await?;
        }
    }
    session.finish()
}

/// The state of one `kpi sql` run.
struct Session<'a> {
    engine: &'a Engine,
    params: Vec<(String, ScalarValue)>,
    format: SqlFormat,
    /// Where results go; `None`: standard output as they come.
    output: Option<PathBuf>,
    /// Results held for `output`, written by [`Session::finish`].
    results: Vec<Vec<RecordBatch>>,
    timing: bool,
    interactive: bool,
    /// Lines of a statement not yet ended by `;`.
    buffer: String,
    /// The input line the buffered statement starts on.
    buffer_line: usize,
    /// What the input is, for errors (`q.sql`, `standard input`).
    origin: String,
}

/// Whether the session goes on after a line.
#[derive(Debug, PartialEq)]
enum Step {
    Continue,
    Quit,
}

impl Session<'_> {
    /// Runs every line of `text`, stopping at the first error.
    async fn script(&mut self, text: &str) -> Result<()> {
        for (i, line) in text.lines().enumerate() {
            if self.line(line, i + 1).await? == Step::Quit {
                return Ok(());
            }
        }
        // A last statement without its `;` still runs.
        self.flush().await
    }

    /// Takes one input line (`number` counts from 1).
    async fn line(&mut self, line: &str, number: usize) -> Result<Step> {
        let end = text_end(&self.buffer);
        if let Some(command) = command_line(line, end) {
            return self.command(command).await;
        }
        if self.buffer.trim().is_empty() {
            self.buffer_line = number;
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if ends_statement(&self.buffer) {
            self.flush().await?;
        }
        Ok(Step::Continue)
    }

    /// Runs the buffered statements.
    async fn flush(&mut self) -> Result<()> {
        let text = std::mem::take(&mut self.buffer);
        for stmt in split_statements(&text) {
            let line = self.buffer_line + stmt.line - 1;
            self.statement(&stmt.sql).await.map_err(|e| {
                if self.interactive {
                    e
                } else {
                    e.context(format!("{}, statement at line {line}", self.origin))
                }
            })?;
        }
        Ok(())
    }

    async fn statement(&mut self, sql: &str) -> Result<()> {
        let started = Instant::now();
        let batches = self.engine.sql_with(sql, &self.params).await?;
        let elapsed = started.elapsed();
        let has_columns = batches.first().is_some_and(|b| b.num_columns() > 0);
        if has_columns {
            if self.output.is_some() {
                // A CSV file is one table and a JSON file one document: a
                // second result would be a header mid-file or a second
                // array. Statements that return nothing (CREATE VIEW) may
                // come before the one whose rows are written.
                if self.format != SqlFormat::Table && !self.results.is_empty() {
                    bail!(
                        "--output writes one result as {}, and this is the second statement \
                         that returns rows: write each to its own file (or use --format table)",
                        format_name(self.format)
                    );
                }
                self.results.push(batches.clone());
            } else {
                output::print(&batches, text_format(self.format))?;
            }
        }
        let mut out = std::io::stdout().lock();
        if self.interactive && has_columns && self.format == SqlFormat::Table {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
        }
        if self.timing {
            writeln!(out, "Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0)?;
        }
        Ok(())
    }

    /// A `\` command (without the backslash).
    async fn command(&mut self, command: &str) -> Result<Step> {
        // `\d foo;`: a `;` typed out of habit ends nothing here.
        let command = command.trim().trim_end_matches(';');
        let mut words = command.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        match (name, arg) {
            ("q" | "quit", _) => return Ok(Step::Quit),
            ("d", None) => {
                let tables = self.engine.tables().await?;
                let batch = RecordBatch::try_from_iter(vec![
                    ("name", text(tables.iter().map(|t| t.name.clone()))),
                    ("kind", text(tables.iter().map(|t| t.kind.to_string()))),
                    ("comment", text(tables.iter().map(|t| t.comment.clone()))),
                ])?;
                output::print(&[batch], Format::Table)?;
            }
            ("d", Some(table)) => {
                let Some(columns) = self.engine.describe(table).await? else {
                    let names: Vec<String> = self
                        .engine
                        .tables()
                        .await?
                        .into_iter()
                        .map(|t| t.name)
                        .collect();
                    let hint = kpi_core::suggest::closest(table, names.iter().map(String::as_str))
                        .map(|n| format!("; did you mean {n}?"))
                        .unwrap_or_default();
                    bail!("no table or view named {table}{hint} (\\d lists them)");
                };
                let batch = RecordBatch::try_from_iter(vec![
                    ("column", text(columns.iter().map(|c| c.name.clone()))),
                    ("type", text(columns.iter().map(|c| c.data_type.clone()))),
                    (
                        "null",
                        text(
                            columns
                                .iter()
                                .map(|c| if c.nullable { "yes" } else { "no" }.to_string()),
                        ),
                    ),
                    ("comment", text(columns.iter().map(|c| c.comment.clone()))),
                ])?;
                output::print(&[batch], Format::Table)?;
            }
            ("timing", arg) => {
                self.timing = match arg {
                    Some("on") => true,
                    Some("off") => false,
                    None => !self.timing,
                    Some(other) => bail!("\\timing takes on or off, not {other}"),
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ("?" | "h" | "help", _) => println!("{HELP}"),
            _ => bail!("unknown command \\{command} (\\? lists the commands)"),
        }
        Ok(Step::Continue)
    }

    /// Writes the held results to `--output`, replacing the file whole.
    fn finish(self) -> Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("writing {}", path.display()))?;
        match self.format {
            SqlFormat::Parquet => {
                let Some(batches) = self.results.first() else {
                    bail!(
                        "no statement returned rows, so there is nothing to write to {}",
                        path.display()
                    );
                };
                let schema = batches[0].schema();
                let mut w = parquet::arrow::ArrowWriter::try_new(tmp.as_file_mut(), schema, None)?;
                for b in batches {
                    w.write(b)?;
                }
                w.close()?;
            }
            format => {
                for batches in &self.results {
                    output::write_to(tmp.as_file_mut(), batches, text_format(format))?;
                }
            }
        }
        tmp.as_file_mut().flush()?;
        tmp.persist(path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

const HELP: &str = "\
Statements end with ; and may span lines.
  \\d          list the tables and views
  \\d NAME     the columns of NAME, with their types and comments
  \\timing     show how long each statement takes (\\timing on|off)
  \\q          quit (or Ctrl-D)";

fn text(values: impl Iterator<Item = String>) -> std::sync::Arc<dyn arrow::array::Array> {
    std::sync::Arc::new(StringArray::from(values.collect::<Vec<_>>()))
}

fn format_name(format: SqlFormat) -> &'static str {
    match format {
        SqlFormat::Table => "table",
        SqlFormat::Csv => "csv",
        SqlFormat::Json => "json",
        SqlFormat::Parquet => "parquet",
    }
}

fn text_format(format: SqlFormat) -> Format {
    match format {
        SqlFormat::Table => Format::Table,
        SqlFormat::Csv => Format::Csv,
        SqlFormat::Json | SqlFormat::Parquet => Format::Json,
    }
}

/// The `\` command `line` is (without its backslash), when the buffered text
/// ends at `end`: a line starting with `\` outside a quote or a comment.
fn command_line(line: &str, end: TextEnd) -> Option<&str> {
    match end {
        TextEnd::Ended | TextEnd::Statement => line.trim().strip_prefix('\\'),
        TextEnd::Quote | TextEnd::Comment => None,
    }
}

/// What the shell's history keeps: a statement as one entry however many
/// lines it was typed on (so that Up brings all of it back), and a `\`
/// command as its own entry, even one typed in the middle of a statement.
#[derive(Debug, Default)]
struct HistoryEntry {
    /// Lines of the statement being typed.
    lines: Vec<String>,
}

impl HistoryEntry {
    /// The entries to add after `line`, typed when the buffered text ended
    /// at `before` and leaving it at `after`.
    fn take(&mut self, line: &str, before: TextEnd, after: TextEnd) -> Vec<String> {
        if command_line(line, before).is_some() {
            return vec![line.trim().to_string()];
        }
        if self.lines.is_empty() && line.trim().is_empty() {
            return Vec::new();
        }
        self.lines.push(line.to_string());
        if after == TextEnd::Ended {
            let entry = std::mem::take(&mut self.lines).join("\n");
            return vec![entry.trim().to_string()];
        }
        Vec::new()
    }
}

/// The interactive shell: line editing and a history file.
async fn shell(session: &mut Session<'_>, lake: &Path) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new()?;
    let history = history_file();
    if let Some(h) = &history {
        // No history yet is the first run, not a problem.
        let _ = editor.load_history(h);
    }
    println!(
        "kpi sql on {}: statements end with ;  \\d lists the tables, \\? helps, \\q quits",
        lake.display()
    );
    let mut number = 0;
    let mut entry = HistoryEntry::default();
    loop {
        let prompt = if session.buffer.trim().is_empty() {
            "kpi> "
        } else {
            "...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                number += 1;
                let before = text_end(&session.buffer);
                let step = session.line(&line, number).await;
                if step.is_err() {
                    session.buffer.clear();
                }
                // A failed statement is kept too: it is the one to fix.
                for e in entry.take(&line, before, text_end(&session.buffer)) {
                    let _ = editor.add_history_entry(e.as_str());
                }
                match step {
                    Ok(Step::Quit) => break,
                    Ok(Step::Continue) => {}
                    Err(e) => eprintln!("error: {e:#}"),
                }
            }
            // Ctrl-C drops the statement being typed, as psql does.
            Err(ReadlineError::Interrupted) => {
                session.buffer.clear();
                entry = HistoryEntry::default();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// `$KPI_SQL_HISTORY`, else `~/.kpi_sql_history`.
fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KPI_SQL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kpi_sql_history"))
}

/// `NAME=VALUE` or `NAME:TYPE=VALUE` as a typed parameter.
pub fn parse_param(text: &str) -> Result<(String, ScalarValue)> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("--param {text}: expected NAME=VALUE");
    };
    let name = name.trim().trim_start_matches('$');
    let (name, kind) = match name.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (name, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        bail!("--param {text}: a name is letters, digits and _ (used as ${name} in the SQL)");
    }
    let bad = |kind: &str| anyhow::anyhow!("--param {text}: {value:?} is not a {kind}");
    let date = |v: &str| -> Option<ScalarValue> {
        let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        (v.len() == 10).then(|| ScalarValue::Date32(Some((d - epoch).num_days() as i32)))
    };
    let int = |v: &str| v.parse::<i64>().ok().map(|i| ScalarValue::Int64(Some(i)));
    let float = |v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| ScalarValue::Float64(Some(f)))
    };
    let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
        "true" => Some(ScalarValue::Boolean(Some(true))),
        "false" => Some(ScalarValue::Boolean(Some(false))),
        _ => None,
    };
    let scalar = match kind {
        Some("date") => date(value).ok_or_else(|| bad("date (YYYY-MM-DD)"))?,
        Some("int" | "integer" | "bigint") => int(value).ok_or_else(|| bad("whole number"))?,
        Some("float" | "double" | "number") => float(value).ok_or_else(|| bad("number"))?,
        Some("bool" | "boolean") => boolean(value).ok_or_else(|| bad("boolean"))?,
        Some("text" | "string" | "varchar") => ScalarValue::Utf8(Some(value.to_string())),
        Some(other) => {
            bail!("--param {text}: unknown type {other} (date, int, float, bool or text)")
        }
        None => {
            let digits = |v: &str| {
                let v = v.strip_prefix('-').unwrap_or(v);
                !v.is_empty() && v.chars().all(|c| c.is_ascii_digit())
            };
            let decimal = |v: &str| match v.split_once('.') {
                Some((a, b)) => (a.is_empty() || digits(a)) && !b.is_empty() && digits(b),
                None => false,
            };
            if digits(value) {
                int(value).ok_or_else(|| bad("whole number that fits in 64 bits"))?
            } else if decimal(value) {
                float(value).ok_or_else(|| bad("number"))?
            } else if let Some(d) = date(value) {
                d
            } else if let Some(b) = boolean(value) {
                b
            } else {
                ScalarValue::Utf8(Some(value.to_string()))
            }
        }
    };
    Ok((name.to_string(), scalar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_is_typed_by_its_look_or_its_name() {
        let p = |s: &str| parse_param(s).unwrap();
        assert_eq!(p("start=2026-10-01").1, ScalarValue::Date32(Some(20727)));
        assert_eq!(p("$n=12").1, ScalarValue::Int64(Some(12)));
        assert_eq!(p("n=-3").1, ScalarValue::Int64(Some(-3)));
        assert_eq!(p("x=1.5").1, ScalarValue::Float64(Some(1.5)));
        assert_eq!(p("ok=TRUE").1, ScalarValue::Boolean(Some(true)));
        assert_eq!(
            p("channel=paid_search").1,
            ScalarValue::Utf8(Some("paid_search".into()))
        );
        // A value that looks like something else, typed by name.
        assert_eq!(
            p("code:text=0042").1,
            ScalarValue::Utf8(Some("0042".into()))
        );
        assert_eq!(p("key=a=b").1, ScalarValue::Utf8(Some("a=b".into())));
        assert_eq!(
            p("d=2026-13-01").1,
            ScalarValue::Utf8(Some("2026-13-01".into()))
        );
    }

    #[test]
    fn a_bad_parameter_is_refused_naming_it() {
        let e = |s: &str| parse_param(s).unwrap_err().to_string();
        assert!(e("start").contains("NAME=VALUE"));
        assert!(e("d:date=2026-13-01").contains("not a date"));
        assert!(e("n:int=1.5").contains("not a whole number"));
        assert!(e("x:money=1").contains("unknown type money"));
        assert!(e("1x=1").contains("letters, digits"));
    }
}
