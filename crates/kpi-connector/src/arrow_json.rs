//! JSON rows to Arrow batches against a declared schema.
//!
//! Ad APIs send numbers as strings (Google Ads int64 as `"123"`, Meta every
//! metric as `"1.5"`), dates in two formats and leave out fields that are
//! zero or unset. arrow-json's reader is strict about all three and its
//! errors do not say which row broke, so the connectors use this instead: it
//! is lenient where the APIs are sloppy and precise when data is really
//! wrong, naming the field, the row and the value.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
    TimestampSecondBuilder,
};
use arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

/// A row did not fit the schema.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A value of the wrong type or format.
    #[error("row {row}, field `{field}`: expected {expected}, got {value}")]
    Mismatch {
        /// The column.
        field: String,
        /// The row's index in the page.
        row: usize,
        /// What the schema wants, e.g. `Int64`, `Date32 (YYYY-MM-DD)`.
        expected: String,
        /// The offending value as JSON, shortened.
        value: String,
    },
    /// No value for a column declared non-nullable.
    #[error("row {row}, field `{field}`: missing, but the column is not nullable")]
    Missing {
        /// The column.
        field: String,
        /// The row's index in the page.
        row: usize,
    },
    /// A row that is not a JSON object.
    #[error("row {row}: expected a JSON object, got {value}")]
    NotAnObject {
        /// The row's index in the page.
        row: usize,
        /// The value, shortened.
        value: String,
    },
    /// The schema has a type this helper does not build.
    #[error("field `{field}`: type {data_type} is not supported by the JSON converter")]
    Unsupported {
        /// The column.
        field: String,
        /// Its type.
        data_type: DataType,
    },
    /// Arrow refused the assembled batch.
    #[error("building the batch failed: {0}")]
    Arrow(#[from] ArrowError),
}

/// Builds a batch with `schema` from `rows`, each a JSON object keyed by
/// column name. A missing member or `null` is a null. Types:
///
/// - `Utf8`: strings as is; numbers and booleans as their JSON text;
///   objects and arrays as compact JSON (raw streams keep what the API sent).
/// - `Int64`: integers, or strings holding one (`"123"`).
/// - `Float64`: numbers, or strings holding one (`"1.5"`).
/// - `Boolean`: `true`/`false`, or those words as strings.
/// - `Date32`: `"YYYY-MM-DD"`, or `"YYYYMMDD"` as GA4 sends it.
/// - `Timestamp(any unit, any zone)`: RFC 3339 strings, stored as UTC instants.
///
/// For the typed columns an empty string is a null: Meta and HubSpot send
/// `""` for "no value".
pub fn json_rows_to_batch(schema: &SchemaRef, rows: &[Value]) -> Result<RecordBatch, ConvertError> {
    convert(schema, rows)
}

/// Rows [`json_rows_to_batch_chunked`] holds as JSON values at once.
pub const CONVERT_CHUNK: usize = 2048;

/// [`json_rows_to_batch`] for rows made one at a time: they are converted
/// [`CONVERT_CHUNK`] at a time and the pieces concatenated, so a large
/// page's rows never all exist as JSON values together (a row as a JSON
/// object takes about ten times its Arrow size, and a sync converts several
/// pages at once). Errors name the row's index in the whole page.
pub fn json_rows_to_batch_chunked(
    schema: &SchemaRef,
    rows: impl Iterator<Item = Value>,
) -> Result<RecordBatch, ConvertError> {
    let mut batches = Vec::new();
    let mut chunk = Vec::with_capacity(CONVERT_CHUNK);
    let mut done = 0;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        chunk.clear();
        chunk.extend(rows.by_ref().take(CONVERT_CHUNK));
        batches.push(convert(schema, &chunk).map_err(|e| e.shifted(done))?);
        done += chunk.len();
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema.clone())),
        1 => Ok(batches.pop().expect("one")),
        _ => Ok(arrow::compute::concat_batches(schema, &batches)?),
    }
}

impl ConvertError {
    /// The same error with its row index moved `by` rows further.
    fn shifted(self, by: usize) -> Self {
        match self {
            ConvertError::Mismatch {
                field,
                row,
                expected,
                value,
            } => ConvertError::Mismatch {
                field,
                row: row + by,
                expected,
                value,
            },
            ConvertError::Missing { field, row } => ConvertError::Missing {
                field,
                row: row + by,
            },
            ConvertError::NotAnObject { row, value } => ConvertError::NotAnObject {
                row: row + by,
                value,
            },
            other => other,
        }
    }
}

fn convert(schema: &SchemaRef, rows: &[Value]) -> Result<RecordBatch, ConvertError> {
    let objects: Vec<&Map<String, Value>> = rows
        .iter()
        .enumerate()
        .map(|(row, v)| {
            v.as_object().ok_or_else(|| ConvertError::NotAnObject {
                row,
                value: shorten(v),
            })
        })
        .collect::<Result<_, _>>()?;
    let columns = schema
        .fields()
        .iter()
        .map(|f| column(f, &objects))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// Nested objects flattened into one level, names joined with `separator`:
/// `{"metrics": {"clicks": "3"}}` becomes `{"metrics_clicks": "3"}`. Arrays
/// stay values.
pub fn flatten_object(value: &Value, separator: &str) -> Map<String, Value> {
    fn walk(prefix: &str, value: &Value, sep: &str, out: &mut Map<String, Value>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}{sep}{k}")
                    };
                    walk(&name, v, sep, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    if value.is_object() {
        walk("", value, separator, &mut out);
    }
    out
}

fn shorten(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 100 {
        return text;
    }
    let cut: String = text.chars().take(100).collect();
    format!("{cut}…")
}

/// The value of `field` in each row: `None` for missing, null, and (for
/// non-string columns) the empty string.
fn values<'a>(
    field: &Field,
    rows: &[&'a Map<String, Value>],
    empty_is_null: bool,
) -> Result<Vec<Option<&'a Value>>, ConvertError> {
    rows.iter()
        .enumerate()
        .map(|(row, obj)| {
            let v = match obj.get(field.name()) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if empty_is_null && s.trim().is_empty() => None,
                Some(v) => Some(v),
            };
            if v.is_none() && !field.is_nullable() {
                return Err(ConvertError::Missing {
                    field: field.name().clone(),
                    row,
                });
            }
            Ok(v)
        })
        .collect()
}

fn mismatch(field: &Field, row: usize, expected: &str, value: &Value) -> ConvertError {
    ConvertError::Mismatch {
        field: field.name().clone(),
        row,
        expected: expected.to_string(),
        value: shorten(value),
    }
}

/// Builds one column: collects the parsed values, then appends them to the
/// right builder.
macro_rules! build {
    ($builder:expr, $field:expr, $vals:expr, $expected:expr, $parse:expr) => {{
        let mut b = $builder;
        for (row, v) in $vals.into_iter().enumerate() {
            match v {
                None => b.append_null(),
                Some(v) => match $parse(v) {
                    Some(x) => b.append_value(x),
                    None => return Err(mismatch($field, row, $expected, v)),
                },
            }
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

fn column(field: &Field, rows: &[&Map<String, Value>]) -> Result<ArrayRef, ConvertError> {
    let n = rows.len();
    Ok(match field.data_type() {
        DataType::Utf8 => {
            let vals = values(field, rows, false)?;
            build!(
                StringBuilder::with_capacity(n, n * 16),
                field,
                vals,
                "Utf8",
                |v: &Value| {
                    Some(match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                }
            )
        }
        DataType::Int64 => {
            let vals = values(field, rows, true)?;
            build!(
                Int64Builder::with_capacity(n),
                field,
                vals,
                "Int64",
                parse_i64
            )
        }
        DataType::Float64 => {
            let vals = values(field, rows, true)?;
            build!(
                Float64Builder::with_capacity(n),
                field,
                vals,
                "Float64",
                parse_f64
            )
        }
        DataType::Boolean => {
            let vals = values(field, rows, true)?;
            build!(
                BooleanBuilder::with_capacity(n),
                field,
                vals,
                "Boolean",
                parse_bool
            )
        }
        DataType::Date32 => {
            let vals = values(field, rows, true)?;
            build!(
                Date32Builder::with_capacity(n),
                field,
                vals,
                "Date32 (YYYY-MM-DD)",
                parse_date32
            )
        }
        DataType::Timestamp(unit, tz) => {
            let vals = values(field, rows, true)?;
            let expected = "Timestamp (RFC 3339)";
            match unit {
                TimeUnit::Second => build!(
                    TimestampSecondBuilder::with_capacity(n).with_timezone_opt(tz.clone()),
                    field,
                    vals,
                    expected,
                    |v| parse_ts(v).map(|t| t.timestamp())
                ),
                TimeUnit::Millisecond => build!(
                    TimestampMillisecondBuilder::with_capacity(n).with_timezone_opt(tz.clone()),
                    field,
                    vals,
                    expected,
                    |v| parse_ts(v).map(|t| t.timestamp_millis())
                ),
                TimeUnit::Microsecond => build!(
                    TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(tz.clone()),
                    field,
                    vals,
                    expected,
                    |v| parse_ts(v).map(|t| t.timestamp_micros())
                ),
                TimeUnit::Nanosecond => build!(
                    TimestampNanosecondBuilder::with_capacity(n).with_timezone_opt(tz.clone()),
                    field,
                    vals,
                    expected,
                    |v| parse_ts(v).and_then(|t| t.timestamp_nanos_opt())
                ),
            }
        }
        other => {
            return Err(ConvertError::Unsupported {
                field: field.name().clone(),
                data_type: other.clone(),
            });
        }
    })
}

fn parse_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        // "NaN" and "inf" parse as floats but no API means them.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            t if t.eq_ignore_ascii_case("true") => Some(true),
            t if t.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn parse_date32(v: &Value) -> Option<i32> {
    let s = v.as_str()?.trim();
    let date = match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(date) => date,
        Err(_) if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) => {
            NaiveDate::parse_from_str(s, "%Y%m%d").ok()?
        }
        Err(_) => return None,
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((date - epoch).num_days()).ok()
}

fn parse_ts(v: &Value) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(v.as_str()?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        Date32Type, Float64Type, Int64Type, Schema, TimestampMicrosecondType,
        TimestampMillisecondType,
    };
    use serde_json::json;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("campaign_id", DataType::Utf8, false),
            Field::new("clicks", DataType::Int64, true),
            Field::new("spend", DataType::Float64, true),
            Field::new("active", DataType::Boolean, true),
            Field::new(
                "updated_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new(
                "created_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]))
    }

    #[test]
    fn converts_api_shapes() {
        let rows = vec![
            json!({"date": "2024-03-01", "campaign_id": "123", "clicks": "42", "spend": "1.5",
                   "active": true, "updated_at": "2024-03-01T10:00:00.123Z",
                   "created_at": "2024-03-01T12:00:00.000001+02:00"}),
            json!({"date": "20240302", "campaign_id": 456, "clicks": 7, "spend": 2,
                   "active": "false", "updated_at": null, "extra": "ignored"}),
            json!({"date": "2024-03-03", "campaign_id": "789", "clicks": "", "spend": ""}),
        ];
        let batch = json_rows_to_batch(&schema(), &rows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let date = batch.column(0).as_primitive::<Date32Type>();
        assert_eq!(date.value(0), 19783); // 2024-03-01
        assert_eq!(date.value(1), 19784);
        let id = batch.column(1).as_string::<i32>();
        assert_eq!((id.value(0), id.value(1)), ("123", "456"));
        let clicks = batch.column(2).as_primitive::<Int64Type>();
        assert_eq!((clicks.value(0), clicks.value(1)), (42, 7));
        assert!(clicks.is_null(2));
        let spend = batch.column(3).as_primitive::<Float64Type>();
        assert_eq!((spend.value(0), spend.value(1)), (1.5, 2.0));
        assert!(spend.is_null(2));
        let active = batch.column(4).as_boolean();
        assert!(active.value(0) && !active.value(1) && active.is_null(2));
        let updated = batch.column(5).as_primitive::<TimestampMillisecondType>();
        assert_eq!(updated.value(0), 1_709_287_200_123);
        assert!(updated.is_null(1) && updated.is_null(2));
        let created = batch.column(6).as_primitive::<TimestampMicrosecondType>();
        // 12:00 at +02:00 is 10:00 UTC.
        assert_eq!(created.value(0), 1_709_287_200_000_001);
        assert_eq!(
            batch.schema().field(5).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
    }

    #[test]
    fn nested_values_become_json_text_in_utf8() {
        let s = Arc::new(Schema::new(vec![Field::new(
            "actions",
            DataType::Utf8,
            true,
        )]));
        let rows = vec![json!({"actions": [{"action_type": "lead", "value": "3"}]})];
        let b = json_rows_to_batch(&s, &rows).unwrap();
        assert_eq!(
            b.column(0).as_string::<i32>().value(0),
            r#"[{"action_type":"lead","value":"3"}]"#
        );
    }

    #[test]
    fn errors_name_field_row_and_value() {
        let base = json!({"date": "2024-03-01", "campaign_id": "1"});
        let with = |k: &str, v: Value| {
            let mut r = base.clone();
            r[k] = v;
            vec![base.clone(), r]
        };
        let e = json_rows_to_batch(&schema(), &with("clicks", json!("12abc"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"row 1, field `clicks`: expected Int64, got "12abc""#
        );
        let e = json_rows_to_batch(&schema(), &with("clicks", json!(1.5))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 1, field `clicks`: expected Int64, got 1.5"
        );
        let e = json_rows_to_batch(&schema(), &with("spend", json!("NaN"))).unwrap_err();
        assert!(e.to_string().contains("expected Float64"));
        let e = json_rows_to_batch(&schema(), &with("date", json!("01/03/2024"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"row 1, field `date`: expected Date32 (YYYY-MM-DD), got "01/03/2024""#
        );
        let e = json_rows_to_batch(&schema(), &with("active", json!("yes"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("row 1, field `active`: expected Boolean")
        );
        let e = json_rows_to_batch(&schema(), &with("updated_at", json!("2024-03-01 10:00")))
            .unwrap_err();
        assert!(e.to_string().contains("expected Timestamp (RFC 3339)"));
        let e = json_rows_to_batch(&schema(), &[json!({"campaign_id": "1"})]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 0, field `date`: missing, but the column is not nullable"
        );
        let e = json_rows_to_batch(&schema(), &[json!([1, 2])]).unwrap_err();
        assert_eq!(e.to_string(), "row 0: expected a JSON object, got [1,2]");
        let long = json!({"date": "x".repeat(300), "campaign_id": "1"});
        let e = json_rows_to_batch(&schema(), &[long]).unwrap_err();
        assert!(e.to_string().ends_with('…') && e.to_string().len() < 200);
    }

    #[test]
    fn unsupported_type_and_empty_input() {
        let s = Arc::new(Schema::new(vec![Field::new("x", DataType::Int8, true)]));
        let e = json_rows_to_batch(&s, &[json!({})]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `x`: type Int8 is not supported by the JSON converter"
        );
        let b = json_rows_to_batch(&schema(), &[]).unwrap();
        assert_eq!(b.num_rows(), 0);
        let empty = Arc::new(Schema::empty());
        assert_eq!(
            json_rows_to_batch(&empty, &[json!({}), json!({})])
                .unwrap()
                .num_rows(),
            2
        );
    }

    #[test]
    fn flattening() {
        let v = json!({"campaign": {"id": "1", "name": "A"}, "metrics": {"clicks": "3"}, "segments": {"date": "2024-01-01"}, "tags": [1]});
        let f = flatten_object(&v, "_");
        assert_eq!(f["campaign_id"], json!("1"));
        assert_eq!(f["metrics_clicks"], json!("3"));
        assert_eq!(f["tags"], json!([1]));
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn chunked_conversion_equals_the_whole_and_names_the_page_row() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let rows: Vec<Value> = (0..5000)
            .map(|i| json!({"id": format!("r{i}"), "n": i.to_string()}))
            .collect();
        let whole = json_rows_to_batch(&schema, &rows).unwrap();
        let chunked = json_rows_to_batch_chunked(&schema, rows.iter().cloned()).unwrap();
        assert_eq!(whole, chunked);
        let mut bad = rows.clone();
        bad[4500] = json!({"id": "x", "n": "many"});
        let err = json_rows_to_batch_chunked(&schema, bad.into_iter())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("row 4500, field `n`"), "{err}");
        let empty = json_rows_to_batch_chunked(&schema, std::iter::empty()).unwrap();
        assert_eq!(empty.num_rows(), 0);
    }
}
