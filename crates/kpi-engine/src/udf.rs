//! Scalar functions the staging SQL needs and DataFusion does not have.
//! All are also available to analysts in `kpi sql`.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, StringArray, TimestampMillisecondArray,
};
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

/// `to_reporting(amount, factor, currency, day, 'view', 'EUR')`: `amount *
/// factor`, or an error naming the view, currency and day when an amount has
/// no conversion factor (no rate in `reference/fx_rates.csv` for that day).
/// A NULL here would drop the amount from every sum it reaches; the error
/// stops whatever query reads the row, so a canonical view never holds money
/// that silently vanished. Rows a query filters out are never converted, so
/// an old deal outside every period and LTV window does not stop a KPI run.
fn to_reporting_udf() -> ScalarUDF {
    create_udf(
        "to_reporting",
        vec![
            DataType::Float64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Date32,
            DataType::Utf8,
            DataType::Utf8,
        ],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let literal = |i: usize, what: &str| match &args[i] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => Ok(s.clone()),
                _ => Err(DataFusionError::Execution(format!(
                    "to_reporting: the {what} must be a string literal"
                ))),
            };
            let view = literal(4, "view name")?;
            let reporting = literal(5, "reporting currency")?;
            let arrays = ColumnarValue::values_to_arrays(&args[..4])?;
            let amounts = arrays[0].as_any().downcast_ref::<Float64Array>();
            let factors = arrays[1].as_any().downcast_ref::<Float64Array>();
            let (Some(amounts), Some(factors)) = (amounts, factors) else {
                return Err(DataFusionError::Execution(
                    "to_reporting: amount and factor must be numbers".into(),
                ));
            };
            let currencies = as_string_array(&arrays[2])?;
            let days = arrays[3]
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or_else(|| {
                    DataFusionError::Execution("to_reporting: the day must be a date".into())
                })?;
            let mut out = Vec::with_capacity(amounts.len());
            for i in 0..amounts.len() {
                out.push(match (amounts.is_valid(i), factors.is_valid(i)) {
                    (false, _) => None,
                    (true, true) => Some(amounts.value(i) * factors.value(i)),
                    (true, false) => {
                        return Err(DataFusionError::Execution(missing_rate(
                            &view,
                            currencies.is_valid(i).then(|| currencies.value(i)),
                            &reporting,
                            days.is_valid(i).then(|| days.value_as_date(i)).flatten(),
                        )));
                    }
                });
            }
            Ok(ColumnarValue::Array(
                Arc::new(Float64Array::from(out)) as ArrayRef
            ))
        }),
    )
}

/// The error for an amount that cannot be converted: what is missing and the
/// line that fixes it.
fn missing_rate(
    view: &str,
    currency: Option<&str>,
    reporting: &str,
    day: Option<NaiveDate>,
) -> String {
    match (currency, day) {
        (Some(c), Some(d)) => format!(
            "{view}: no FX rate for {c} to {reporting} on {d}; add a rate valid from that day \
             or earlier to reference/fx_rates.csv (valid_from,currency,per_usd)"
        ),
        (None, _) => format!(
            "{view}: an amount has no currency, so it cannot be converted to {reporting}; \
             fix the source's currency field"
        ),
        (Some(c), None) => {
            format!("{view}: an amount in {c} has no date, so no FX rate can be chosen for it")
        }
    }
}

/// Every function this module provides.
pub fn all() -> Vec<ScalarUDF> {
    vec![campaign_key_udf(), local_date_udf(), to_reporting_udf()]
}
