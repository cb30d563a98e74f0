//! `kpi-export`: the lake's canonical views and KPI history loaded into a
//! PostgreSQL warehouse, for the BI tools that read it.
//!
//! It owns the mapping from the lake's Arrow columns to PostgreSQL's types,
//! the tables it creates (with the views' and columns' comments), and the
//! load itself: one transaction for the whole export, so a reader of the
//! warehouse sees the previous rows until every table is loaded, and a
//! failure half way leaves them all as they were. Within it each table's
//! exported range is deleted and its rows copied in with `COPY ... FROM
//! STDIN (FORMAT binary)`, streamed batch by batch from DataFusion: a re-run
//! of the same dates replaces them, it adds no duplicate.
//!
//! What a row of each table means, and its columns, is the engine's
//! ([`kpi_engine::Engine::describe`]); connecting is `kpi-postgres`'s.

use std::pin::pin;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int32Type, Int64Type, TimeUnit};
use futures::StreamExt;
use kpi_core::DateRange;
use kpi_engine::{CANONICAL_VIEWS, Engine, history};
use kpi_postgres::{pg_error, quote};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

mod numeric;
pub use numeric::Numeric;

/// Export failures; each names the table it was loading.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// PostgreSQL refused a statement (its own words, never the URL).
    #[error("{table}: {message}")]
    Postgres {
        /// `schema.table`, or `the export` for the transaction itself.
        table: String,
        /// PostgreSQL's message.
        message: String,
    },
    /// The lake's side failed (a view that cannot be computed).
    #[error("{table}: {message}")]
    Lake {
        /// The view.
        table: String,
        /// The engine's message.
        message: String,
    },
    /// A table that cannot be exported was asked for.
    #[error("{0}")]
    Request(String),
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The PostgreSQL schema the tables go to (created if missing).
    pub schema: String,
    /// The lake tables to export; empty: every canonical view and the KPI
    /// history.
    pub tables: Vec<String>,
    /// Only these days (of `date`, or `period_start` for the history);
    /// `None`: every row, replacing the whole table. A table without a date
    /// column is always replaced whole.
    pub range: Option<DateRange>,
}

/// One exported table.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// `schema.table`.
    pub table: String,
    /// Rows copied in.
    pub rows: u64,
    /// Rows the export replaced (deleted first, in the same transaction).
    pub replaced: u64,
    /// Whether the table was created by this export.
    pub created: bool,
    /// What was not done but did not stop the load (comments the export's
    /// role may not set on a table it does not own).
    pub warnings: Vec<String>,
}

/// The tables exported when none are named.
pub fn default_tables() -> Vec<String> {
    let mut t: Vec<String> = CANONICAL_VIEWS.iter().map(|v| v.to_string()).collect();
    t.push(history::TABLE.to_string());
    t
}

/// Every table an export can be asked for: the defaults and the KPI
/// catalog.
pub fn exportable_tables() -> Vec<String> {
    let mut t = default_tables();
    t.push("kpi_catalog".to_string());
    t
}

/// The column a table's rows are dated by, for a partial export.
fn date_column(table: &str, columns: &[Column]) -> Option<&'static str> {
    let wanted = if table == history::TABLE {
        history::PARTITION
    } else {
        "date"
    };
    columns
        .iter()
        .any(|c| c.name == wanted && c.pg == Type::DATE)
        .then_some(wanted)
}

/// A column as exported.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    pg: Type,
    comment: String,
}

/// PostgreSQL's type for an Arrow type (text for anything else, cast).
/// `numeric` for what `bigint` cannot hold: a UInt64 past 2^63 and a
/// decimal, which keeps its digits exactly.
fn pg_type(t: &DataType) -> Type {
    match t {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::Int32 => Type::INT4,
        DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => Type::INT8,
        DataType::UInt64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Type::FLOAT8,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        _ => Type::TEXT,
    }
}

/// The type as `CREATE TABLE` and `information_schema` spell it.
fn type_name(t: &Type) -> &'static str {
    match *t {
        Type::BOOL => "boolean",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::DATE => "date",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        _ => "text",
    }
}

/// The Arrow type a column is cast to before it is copied (`numeric` goes
/// as its decimal text, which [`Numeric`] encodes).
fn copy_type(t: &Type) -> DataType {
    match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT8 => DataType::Float64,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => DataType::Utf8,
    }
}

/// Exports `options.tables` of `engine`'s lake into `client`'s database,
/// all in one transaction.
pub async fn export(
    engine: &Engine,
    client: &mut Client,
    options: &ExportOptions,
) -> Result<Vec<Exported>, ExportError> {
    let known = engine.tables().await.map_err(|e| ExportError::Lake {
        table: "the lake".into(),
        message: e.to_string(),
    })?;
    let exportable: Vec<&kpi_engine::describe::TableInfo> = known
        .iter()
        .filter(|t| matches!(t.kind, "canonical view" | "KPI history" | "KPI"))
        .collect();
    let tables = if options.tables.is_empty() {
        default_tables()
    } else {
        options.tables.clone()
    };
    for t in &tables {
        if !exportable.iter().any(|e| e.name == *t) {
            let names: Vec<&str> = exportable.iter().map(|e| e.name.as_str()).collect();
            let hint = kpi_core::suggest::closest(t, names.iter().copied())
                .map(|n| format!("; did you mean {n}?"))
                .unwrap_or_default();
            return Err(ExportError::Request(format!(
                "{t} cannot be exported{hint} (the canonical views, kpi_history and kpi_catalog can: {})",
                names.join(", ")
            )));
        }
    }
    let schema = quote(&options.schema);
    let mut tx = client
        .transaction()
        .await
        .map_err(|e| ExportError::Postgres {
            table: "the export".into(),
            message: pg_error(&e),
        })?;
    let pg = |table: &str| {
        let table = table.to_string();
        move |e: tokio_postgres::Error| ExportError::Postgres {
            table: table.clone(),
            message: pg_error(&e),
        }
    };
    // One export of a schema at a time: two overlapping runs (cron and a
    // hand run) would each delete the rows the other had not committed yet,
    // then both insert, doubling the warehouse's numbers.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('kpi export ' || $1))",
        &[&options.schema],
    )
    .await
    .map_err(pg(&options.schema))?;
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .map_err(pg(&options.schema))?;
    let mut out = Vec::new();
    for name in &tables {
        let full = format!("{}.{name}", options.schema);
        let info = exportable
            .iter()
            .find(|e| e.name == *name)
            .expect("checked");
        let described = engine
            .describe(name)
            .await
            .map_err(|e| ExportError::Lake {
                table: name.clone(),
                message: e.to_string(),
            })?
            .expect("listed");
        let columns: Vec<Column> = described
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                pg: pg_type(&c.arrow),
                comment: c.comment.clone(),
            })
            .collect();
        let target = format!("{schema}.{}", quote(name));
        let created = ensure_table(&tx, &options.schema, name, &target, &columns)
            .await
            .map_err(|m| ExportError::Postgres {
                table: full.clone(),
                message: m,
            })?;
        let mut comments = format!(
            "COMMENT ON TABLE {target} IS {};",
            literal(&format!("{} (exported by kpi)", info.comment))
        );
        for c in columns.iter().filter(|c| !c.comment.is_empty()) {
            comments.push_str(&format!(
                "COMMENT ON COLUMN {target}.{} IS {};",
                quote(&c.name),
                literal(&c.comment)
            ));
        }
        // Comments are the owner's to set: a role that may load a table
        // someone else created still loads it, and is told what it left.
        let mut warnings = Vec::new();
        let sp = tx.savepoint("kpi_comments").await.map_err(pg(&full))?;
        match sp.batch_execute(&comments).await {
            Ok(()) => sp.commit().await.map_err(pg(&full))?,
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
            {
                sp.rollback().await.map_err(pg(&full))?;
                warnings.push(format!(
                    "{full}: its comments were not updated ({}); the rows were",
                    pg_error(&e)
                ));
            }
            Err(e) => return Err(pg(&full)(e)),
        }

        let dated = date_column(name, &columns);
        let (delete, select) = match (options.range, dated) {
            (Some(r), Some(col)) => (
                format!(
                    "DELETE FROM {target} WHERE {} BETWEEN DATE '{}' AND DATE '{}'",
                    quote(col),
                    r.start,
                    r.end
                ),
                format!(
                    "SELECT * FROM {name} WHERE {col} BETWEEN DATE '{}' AND DATE '{}'",
                    r.start, r.end
                ),
            ),
            _ => (
                format!("DELETE FROM {target}"),
                format!("SELECT * FROM {name}"),
            ),
        };
        let replaced = tx.execute(&delete, &[]).await.map_err(pg(&full))?;
        let rows = copy_in(engine, &tx, &target, &select, &columns)
            .await
            .map_err(|e| match e {
                CopyError::Lake(m) => ExportError::Lake {
                    table: name.clone(),
                    message: m,
                },
                CopyError::Postgres(m) => ExportError::Postgres {
                    table: full.clone(),
                    message: m,
                },
            })?;
        out.push(Exported {
            table: full,
            rows,
            replaced,
            created,
            warnings,
        });
    }
    tx.commit().await.map_err(|e| ExportError::Postgres {
        table: "the export".into(),
        message: pg_error(&e),
    })?;
    Ok(out)
}

/// A text literal for a `COMMENT` (which takes no parameters).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Creates the table, or checks that the one there has the same columns.
/// Returns whether it was created.
async fn ensure_table(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
    name: &str,
    target: &str,
    columns: &[Column],
) -> Result<bool, String> {
    let existing = tx
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &name],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    let want: Vec<(String, String)> = columns
        .iter()
        .map(|c| (c.name.clone(), type_name(&c.pg).to_string()))
        .collect();
    if existing.is_empty() {
        let defs: Vec<String> = columns
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), type_name(&c.pg)))
            .collect();
        tx.batch_execute(&format!("CREATE TABLE {target} ({})", defs.join(", ")))
            .await
            .map_err(|e| pg_error(&e))?;
        return Ok(true);
    }
    let have: Vec<(String, String)> = existing
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    if have != want {
        let show = |cols: &[(String, String)]| {
            cols.iter()
                .map(|(n, t)| format!("{n} {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "the table there has other columns than the lake's, so nothing was exported \
             (it has: {}; the lake has: {}). Drop it to have kpi create it again, or export \
             to another --schema",
            show(&have),
            show(&want)
        ));
    }
    Ok(false)
}

enum CopyError {
    Lake(String),
    Postgres(String),
}

/// Streams `select`'s rows into `target` with binary COPY.
async fn copy_in(
    engine: &Engine,
    tx: &tokio_postgres::Transaction<'_>,
    target: &str,
    select: &str,
    columns: &[Column],
) -> Result<u64, CopyError> {
    let lake = |e: datafusion::error::DataFusionError| CopyError::Lake(e.strip_backtrace());
    let pg = |e: tokio_postgres::Error| CopyError::Postgres(pg_error(&e));
    let df = engine.context().sql(select).await.map_err(lake)?;
    let mut stream = df.execute_stream().await.map_err(lake)?;
    let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {target} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await
        .map_err(pg)?;
    let types: Vec<Type> = columns.iter().map(|c| c.pg.clone()).collect();
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(lake)?;
        let cells = cells(&batch, columns).map_err(CopyError::Lake)?;
        for row in 0..batch.num_rows() {
            let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|c| c.get(row)).collect();
            writer.as_mut().write(&values).await.map_err(pg)?;
        }
    }
    writer.as_mut().finish().await.map_err(pg)
}

/// One column of a batch as values PostgreSQL's binary format takes.
enum Cells {
    Bool(Vec<Option<bool>>),
    Int4(Vec<Option<i32>>),
    Int8(Vec<Option<i64>>),
    Float8(Vec<Option<f64>>),
    Numeric(Vec<Option<Numeric>>),
    Date(Vec<Option<chrono::NaiveDate>>),
    TimestampTz(Vec<Option<chrono::DateTime<chrono::Utc>>>),
    Timestamp(Vec<Option<chrono::NaiveDateTime>>),
    Text(Vec<Option<String>>),
}

impl Cells {
    fn get(&self, row: usize) -> &(dyn ToSql + Sync) {
        match self {
            Cells::Bool(v) => &v[row],
            Cells::Int4(v) => &v[row],
            Cells::Int8(v) => &v[row],
            Cells::Float8(v) => &v[row],
            Cells::Numeric(v) => &v[row],
            Cells::Date(v) => &v[row],
            Cells::TimestampTz(v) => &v[row],
            Cells::Timestamp(v) => &v[row],
            Cells::Text(v) => &v[row],
        }
    }
}

fn cells(batch: &RecordBatch, columns: &[Column]) -> Result<Vec<Cells>, String> {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let a = arrow::compute::cast(batch.column(i), &copy_type(&c.pg))
                .map_err(|e| format!("column {}: {e}", c.name))?;
            let n = a.len();
            let valid = |r: usize| a.is_valid(r);
            Ok(match c.pg {
                Type::BOOL => {
                    let v = a.as_boolean();
                    Cells::Bool((0..n).map(|r| valid(r).then(|| v.value(r))).collect())
                }
                Type::INT4 => {
                    let v = a.as_primitive::<Int32Type>();
                    Cells::Int4((0..n).map(|r| valid(r).then(|| v.value(r))).collect())
                }
                Type::INT8 => {
                    let v = a.as_primitive::<Int64Type>();
                    Cells::Int8((0..n).map(|r| valid(r).then(|| v.value(r))).collect())
                }
                Type::FLOAT8 => {
                    let v = a.as_primitive::<Float64Type>();
                    Cells::Float8((0..n).map(|r| valid(r).then(|| v.value(r))).collect())
                }
                Type::NUMERIC => {
                    let v = a.as_string::<i32>();
                    Cells::Numeric(
                        (0..n)
                            .map(|r| valid(r).then(|| Numeric(v.value(r).to_string())))
                            .collect(),
                    )
                }
                Type::DATE => {
                    let v = a.as_primitive::<Date32Type>();
                    let day = |r: usize| {
                        let days = v.value(r);
                        epoch
                            .checked_add_signed(chrono::Duration::days(days as i64))
                            .ok_or_else(|| {
                                format!(
                                    "column {}: {days} days from 1970-01-01 is not a date \
                                     PostgreSQL's client can take (row {})",
                                    c.name,
                                    r + 1
                                )
                            })
                    };
                    Cells::Date(
                        (0..n)
                            .map(|r| valid(r).then(|| day(r)).transpose())
                            .collect::<Result<_, _>>()?,
                    )
                }
                Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                    let v = a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                    let at = |r: usize| {
                        chrono::DateTime::from_timestamp_micros(v.value(r)).ok_or_else(|| {
                            format!(
                                "column {}: {} microseconds from 1970 is out of range (row {})",
                                c.name,
                                v.value(r),
                                r + 1
                            )
                        })
                    };
                    let all = (0..n)
                        .map(|r| valid(r).then(|| at(r)).transpose())
                        .collect::<Result<Vec<_>, _>>()?;
                    if c.pg == Type::TIMESTAMPTZ {
                        Cells::TimestampTz(all)
                    } else {
                        Cells::Timestamp(
                            all.into_iter().map(|t| t.map(|t| t.naive_utc())).collect(),
                        )
                    }
                }
                _ => {
                    let v = a.as_string::<i32>();
                    // PostgreSQL's text cannot hold a NUL: said here, with
                    // the column, rather than as COPY's `invalid byte
                    // sequence` half way through the table.
                    if let Some(r) = (0..n).find(|&r| valid(r) && v.value(r).contains('\0')) {
                        return Err(format!(
                            "column {}: row {} holds a NUL byte (\\0), which PostgreSQL text \
                             cannot store",
                            c.name,
                            r + 1
                        ));
                    }
                    Cells::Text(
                        (0..n)
                            .map(|r| valid(r).then(|| v.value(r).to_string()))
                            .collect(),
                    )
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_types_map_to_postgres_types_and_back() {
        let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let naive = DataType::Timestamp(TimeUnit::Second, None);
        let list = DataType::List(std::sync::Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Int64,
            true,
        )));
        for (arrow, pg) in [
            (DataType::Utf8, "text"),
            (DataType::Float64, "double precision"),
            (DataType::Int64, "bigint"),
            (DataType::Int32, "integer"),
            (DataType::UInt64, "numeric"),
            (DataType::Decimal128(20, 4), "numeric"),
            (DataType::Decimal256(40, 2), "numeric"),
            (DataType::Boolean, "boolean"),
            (DataType::Date32, "date"),
            (utc, "timestamp with time zone"),
            (naive, "timestamp without time zone"),
            (list, "text"),
        ] {
            let t = pg_type(&arrow);
            assert_eq!(type_name(&t), pg, "{arrow}");
            // What is copied is what the type takes.
            assert!(
                arrow::compute::can_cast_types(&arrow, &copy_type(&t)),
                "{arrow}"
            );
        }
    }
}

#[cfg(test)]
mod cell_tests {
    use super::*;
    use std::sync::Arc;

    fn column(name: &str, pg: Type) -> Column {
        Column {
            name: name.into(),
            pg,
            comment: String::new(),
        }
    }

    fn batch(name: &str, a: arrow::array::ArrayRef) -> RecordBatch {
        RecordBatch::try_from_iter(vec![(name, a)]).unwrap()
    }

    #[test]
    fn a_date_past_what_the_client_takes_names_its_column() {
        let b = batch(
            "date",
            Arc::new(arrow::array::Date32Array::from(vec![
                Some(0),
                Some(i32::MAX),
            ])),
        );
        let Err(e) = cells(&b, &[column("date", Type::DATE)]) else {
            panic!("accepted")
        };
        assert!(e.contains("column date"), "{e}");
        assert!(e.contains("row 2"), "{e}");
    }

    #[test]
    fn a_nul_byte_in_text_names_its_column() {
        let b = batch(
            "vendor",
            Arc::new(arrow::array::StringArray::from(vec!["ok", "bad\0byte"])),
        );
        let Err(e) = cells(&b, &[column("vendor", Type::TEXT)]) else {
            panic!("accepted")
        };
        assert!(e.contains("column vendor: row 2 holds a NUL byte"), "{e}");
    }
}
