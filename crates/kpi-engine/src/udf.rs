//! Scalar functions the staging SQL needs and DataFusion does not have.
//! Both are also available to analysts in `kpi sql`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, TimeZone};
use datafusion::common::{DataFusionError, ScalarValue, cast::as_string_array};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use kpi_core::campaign_key;

/// `campaign_key(name)` in SQL: [`kpi_core::campaign_key`].
fn campaign_key_udf() -> ScalarUDF {
    create_udf(
        "campaign_key",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = as_string_array(&arrays[0])?;
            let keys: StringArray = names.iter().map(|n| n.map(campaign_key)).collect();
            Ok(ColumnarValue::Array(Arc::new(keys) as ArrayRef))
        }),
    )
}

/// `local_date(ts, 'Europe/Madrid')`: the calendar date of a UTC timestamp in a
/// time zone, so that a contact created at 23:30 UTC in summer counts on the
/// next day in Madrid.
fn local_date_udf() -> ScalarUDF {
    create_udf(
        "local_date",
        vec![
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            DataType::Utf8,
        ],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let tz_name = match &args[1] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => s.clone(),
                _ => {
                    return Err(DataFusionError::Execution(
                        "local_date: the time zone must be a string literal".into(),
                    ));
                }
            };
            let tz: chrono_tz::Tz = tz_name.parse().map_err(|_| {
                DataFusionError::Execution(format!("local_date: unknown time zone '{tz_name}'"))
            })?;
            let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
            let ts = arrays[0]
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .ok_or_else(|| {
                    DataFusionError::Execution(
                        "local_date: expected a millisecond timestamp".into(),
                    )
                })?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
            let dates: Date32Array = ts
                .iter()
                .map(|v| {
                    v.and_then(|ms| tz.timestamp_millis_opt(ms).single())
                        .map(|dt| (dt.date_naive() - epoch).num_days() as i32)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(dates) as ArrayRef))
        }),
    )
}

/// Every function this module provides.
pub fn all() -> Vec<ScalarUDF> {
    vec![campaign_key_udf(), local_date_udf()]
}
