//! A stream's rows from a PostgreSQL query ([`PostgresInput`]): which days
//! changed since the last read, then those days' rows, streamed in batches
//! of [`BATCH_ROWS`] so that a table of millions of rows is never held
//! whole. Every value is read as PostgreSQL's text form and parsed like a
//! file's cell, so `numeric` amounts keep every digit until they become
//! the stream's `Float64` and a bad value is named by row and column.

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use futures::{StreamExt, pin_mut};
use std::path::Path;

use kpi_postgres::{pg_error, quote};
use tokio_postgres::Client;

use crate::read::RowReader;
use crate::{FileSettings, FileStream, OnBadRows, PostgresInput};

/// Rows a batch holds.
pub const BATCH_ROWS: usize = 8192;

/// A connected query input.
pub struct QueryInput<'a> {
    client: Client,
    input: &'a PostgresInput,
    stream: &'a FileStream,
    settings: &'a FileSettings,
    /// The query's column names, in order.
    columns: Vec<String>,
    /// The query's column that dates a row.
    date: String,
}

/// The days a read covers and the incremental value it reads up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// First and last day with a new or changed row.
    pub days: (NaiveDate, NaiveDate),
    /// The greatest value of the incremental column among them.
    pub cursor: Option<String>,
}

impl<'a> QueryInput<'a> {
    /// Connects with `url` and looks at the query's columns (without
    /// reading a row). The errors are PostgreSQL's, never the URL.
    pub async fn connect(
        url: &str,
        input: &'a PostgresInput,
        stream: &'a FileStream,
        settings: &'a FileSettings,
        base_dir: &Path,
    ) -> Result<QueryInput<'a>, String> {
        let ca_file = input.ca_file.as_ref().map(|ca| base_dir.join(ca));
        let client = kpi_postgres::connect(url, ca_file.as_deref()).await?;
        let probe = format!("SELECT * FROM ({}) AS q LIMIT 0", input.query);
        let statement = client
            .prepare(&probe)
            .await
            .map_err(|e| format!("the query: {}", pg_error(&e)))?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        // Which column is the date, as the file readers would find it.
        let probe_reader = RowReader::new(stream, settings, &columns)
            .map_err(|e| e.replacen("it has no column", "the query has no column", 1))?;
        drop(probe_reader);
        let wanted = settings
            .columns
            .get(stream.date_column())
            .cloned()
            .unwrap_or_else(|| stream.date_column().to_string());
        let date = columns
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&wanted))
            .cloned()
            .ok_or_else(|| format!("the query has no column `{wanted}` for the date"))?;
        if let Some(inc) = &input.incremental
            && !columns.iter().any(|c| c == inc)
        {
            return Err(format!(
                "the query has no column `{inc}` (incremental); its columns are {}",
                columns.join(", ")
            ));
        }
        Ok(QueryInput {
            client,
            input,
            stream,
            settings,
            columns,
            date,
        })
    }

    /// The days with a row past `cursor` (every day, with no cursor or no
    /// incremental column), or `None` when nothing changed.
    pub async fn changes(&self, cursor: Option<&str>) -> Result<Option<Changes>, String> {
        let date = quote(&self.date);
        let (max_inc, filter) = match (&self.input.incremental, cursor) {
            (Some(inc), Some(_)) => (
                format!("max(q.{})::text", quote(inc)),
                // The cursor back in the column's own type: text would
                // order 9 after 10.
                format!(
                    "WHERE q.{0} > (SELECT $1::text::{1})",
                    quote(inc),
                    self.type_of(inc).await?
                ),
            ),
            (Some(inc), None) => (format!("max(q.{})::text", quote(inc)), String::new()),
            (None, _) => ("NULL::text".to_string(), String::new()),
        };
        let sql = format!(
            "SELECT min(q.{date})::date::text, max(q.{date})::date::text, {max_inc} \
             FROM ({}) AS q {filter}",
            self.input.query
        );
        let params: Vec<String> = match (&self.input.incremental, cursor) {
            (Some(_), Some(c)) => vec![c.to_string()],
            _ => Vec::new(),
        };
        let row = self
            .client
            .query_one(
                &sql,
                &params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect::<Vec<_>>(),
            )
            .await
            .map_err(|e| format!("the query: {}", pg_error(&e)))?;
        let day = |i: usize| -> Result<Option<NaiveDate>, String> {
            row.get::<_, Option<String>>(i)
                .map(|t| t.parse().map_err(|_| format!("`{t}` is not a date")))
                .transpose()
        };
        Ok(match (day(0)?, day(1)?) {
            (Some(a), Some(b)) => Some(Changes {
                days: (a, b),
                cursor: row.get::<_, Option<String>>(2),
            }),
            _ => None,
        })
    }

    async fn type_of(&self, column: &str) -> Result<String, String> {
        let sql = format!(
            "SELECT q.{} FROM ({}) AS q LIMIT 0",
            quote(column),
            self.input.query
        );
        let statement = self
            .client
            .prepare(&sql)
            .await
            .map_err(|e| format!("the query: {}", pg_error(&e)))?;
        Ok(statement.columns()[0].type_().name().to_string())
    }

    /// Streams the rows of the days `days` into `each`, a batch at a time;
    /// returns the bad rows left out (an error instead, with the first of
    /// them, unless `on_bad_rows = "skip"`).
    pub async fn read_days<F>(
        &self,
        days: (NaiveDate, NaiveDate),
        mut each: F,
    ) -> Result<Vec<crate::BadRow>, String>
    where
        F: FnMut(RecordBatch) -> Result<(), String>,
    {
        let select: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("q.{}::text", quote(c)))
            .collect();
        let sql = format!(
            "SELECT {} FROM ({}) AS q WHERE q.{}::date BETWEEN $1::text::date AND $2::text::date",
            select.join(", "),
            self.input.query,
            quote(&self.date)
        );
        let (a, b) = (days.0.to_string(), days.1.to_string());
        let rows = self
            .client
            .query_raw(&sql, [&a, &b])
            .await
            .map_err(|e| format!("the query: {}", pg_error(&e)))?;
        pin_mut!(rows);
        let mut reader = RowReader::new(self.stream, self.settings, &self.columns)?;
        let mut n = 0usize;
        let mut cells: Vec<Option<String>> = Vec::with_capacity(self.columns.len());
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| format!("the query: {}", pg_error(&e)))?;
            n += 1;
            cells.clear();
            for i in 0..self.columns.len() {
                cells.push(row.get::<_, Option<String>>(i));
            }
            reader.push(&format!("row {n}"), &cells);
            if self.settings.on_bad_rows == OnBadRows::RejectFile
                && let Some(bad) = reader.bad_rows().first()
            {
                return Err(format!(
                    "a bad row, so nothing was loaded: {bad}. Fix it at the source, or set \
                     on_bad_rows = \"skip\""
                ));
            }
            if reader.len() >= BATCH_ROWS {
                each(reader.take_batch())?;
            }
        }
        if !reader.is_empty() {
            each(reader.take_batch())?;
        }
        Ok(reader.bad_rows().to_vec())
    }
}
