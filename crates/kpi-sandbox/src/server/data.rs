//! The synthetic company held in memory for the emulated APIs: the raw Arrow
//! batches [`crate::generate`] produced, by stream and date (daily streams)
//! or as one ordered list (snapshots), for the streams the emulated APIs
//! serve ([`SERVED`]). Everything else the generator makes (social,
//! backlinks, costs: the types that come as files, which the demo writes to
//! its `inputs/`) is dropped as it arrives.
//!
//! Why batches and not JSON: Arrow keeps a row in tens of bytes where a
//! rendered JSON row takes hundreds, and every API shapes the same rows
//! differently anyway. Daily batches are concatenated into chunks of about
//! [`CHUNK_ROWS`] rows and each day is a zero-copy slice of its chunk: the
//! generator hands over a small batch per day whose builders over-allocate,
//! and a chunk is sized exactly. Memory is reported per stream in
//! [`DataSummary`].

use std::collections::{BTreeMap, HashMap};

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use chrono::NaiveDate;
use kpi_lake::StreamSpec;
use serde::Serialize;

use crate::generator::GenerateError;
use crate::{Company, RawSink, SinkError};

/// `(source_type, stream)` of the streams the emulated APIs serve.
pub(crate) type Key = (&'static str, &'static str);

pub(crate) const GOOGLE_STATS: Key = ("google_ads", "campaign_stats");
pub(crate) const GOOGLE_CAMPAIGNS: Key = ("google_ads", "campaigns");
pub(crate) const META_INSIGHTS: Key = ("meta_ads", "ads_insights");
pub(crate) const META_CAMPAIGNS: Key = ("meta_ads", "campaigns");
pub(crate) const GA4_TRAFFIC: Key = ("ga4", "traffic");
pub(crate) const HUBSPOT_CONTACTS: Key = ("hubspot", "contacts");
pub(crate) const HUBSPOT_DEALS: Key = ("hubspot", "deals");
pub(crate) const LINKEDIN_ANALYTICS: Key = ("linkedin_ads", "ad_analytics");
pub(crate) const LINKEDIN_CAMPAIGNS: Key = ("linkedin_ads", "campaigns");
pub(crate) const MICROSOFT_PERFORMANCE: Key = ("microsoft_ads", "campaign_performance");
pub(crate) const MICROSOFT_CAMPAIGNS: Key = ("microsoft_ads", "campaigns");
pub(crate) const SEARCH_CONSOLE_ANALYTICS: Key = ("search_console", "search_analytics");
pub(crate) const MAILCHIMP_REPORTS: Key = ("mailchimp", "reports");
pub(crate) const MAILCHIMP_CAMPAIGNS: Key = ("mailchimp", "campaigns");

const SERVED: [Key; 19] = [
    GOOGLE_STATS,
    GOOGLE_CAMPAIGNS,
    META_INSIGHTS,
    META_CAMPAIGNS,
    GA4_TRAFFIC,
    HUBSPOT_CONTACTS,
    HUBSPOT_DEALS,
    LINKEDIN_ANALYTICS,
    LINKEDIN_CAMPAIGNS,
    MICROSOFT_PERFORMANCE,
    MICROSOFT_CAMPAIGNS,
    SEARCH_CONSOLE_ANALYTICS,
    MAILCHIMP_REPORTS,
    MAILCHIMP_CAMPAIGNS,
    ("salesforce", "leads"),
    ("salesforce", "contacts"),
    ("salesforce", "opportunities"),
    ("salesforce", "campaigns"),
    ("salesforce", "campaign_members"),
];

/// Rows per concatenated chunk: big enough that per-batch overhead vanishes,
/// small enough that concatenating never needs much more than a chunk twice.
const CHUNK_ROWS: usize = 65_536;

/// Rows and Arrow memory of one stream the sandbox holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSize {
    /// The source type (`google_ads`, `mailchimp`, ...).
    pub source_type: &'static str,
    /// The raw stream, as in [`crate::streams`].
    pub stream: &'static str,
    /// Rows held.
    pub rows: u64,
    /// Bytes of Arrow buffers holding them.
    pub bytes: u64,
}

/// What the sandbox holds in memory, per stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DataSummary {
    /// One entry per served stream.
    pub streams: Vec<StreamSize>,
}

impl DataSummary {
    /// Rows over every stream.
    pub fn rows(&self) -> u64 {
        self.streams.iter().map(|s| s.rows).sum()
    }

    /// Bytes over every stream.
    pub fn bytes(&self) -> u64 {
        self.streams.iter().map(|s| s.bytes).sum()
    }
}

/// A snapshot stream: batches in generation order (ascending ids), with the
/// row offset each starts at, for paging by offset without a scan.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub batches: Vec<RecordBatch>,
    starts: Vec<usize>,
    pub rows: usize,
}

impl Snapshot {
    /// `(batch, row)` for the rows `offset..offset + limit`, in order.
    pub fn rows_from(
        &self,
        offset: usize,
        limit: usize,
    ) -> impl Iterator<Item = (&RecordBatch, usize)> {
        let first = self
            .starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1);
        let end = offset.saturating_add(limit).min(self.rows);
        self.batches[first.min(self.batches.len())..]
            .iter()
            .zip(&self.starts[first.min(self.starts.len())..])
            .flat_map(move |(b, start)| {
                let from = offset.saturating_sub(*start).min(b.num_rows());
                let to = end.saturating_sub(*start).min(b.num_rows());
                (from..to).map(move |i| (b, i))
            })
    }

    /// `(batch, row)` of row `index`.
    pub fn row(&self, index: usize) -> Option<(&RecordBatch, usize)> {
        let b = self
            .starts
            .partition_point(|s| *s <= index)
            .checked_sub(1)?;
        let i = index - self.starts[b];
        (i < self.batches[b].num_rows()).then(|| (&self.batches[b], i))
    }

    /// The first row index for which `pred` is false, the rows being
    /// partitioned by it (all true, then all false), in O(log n).
    pub fn partition_point(&self, pred: impl Fn(&RecordBatch, usize) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.rows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (b, i) = self.row(mid).expect("in range");
            if pred(b, i) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Every row, in order.
    pub fn all(&self) -> impl Iterator<Item = (&RecordBatch, usize)> {
        self.batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |i| (b, i)))
    }
}

/// The served streams of one generated company.
#[derive(Debug, Default)]
pub(crate) struct Store {
    daily: HashMap<Key, BTreeMap<NaiveDate, RecordBatch>>,
    snapshots: HashMap<Key, Snapshot>,
    pub summary: DataSummary,
}

impl Store {
    /// Generates `company` and keeps the served streams. CPU-bound: run it
    /// off the async runtime.
    pub fn generate(company: &Company) -> Result<Store, GenerateError> {
        let mut sink = Collector::default();
        crate::generate(company, &mut sink)?;
        Ok(sink.finish()?)
    }

    /// The days of a daily stream within `start..=end`, in date order.
    pub fn days(
        &self,
        key: Key,
        start: NaiveDate,
        end: NaiveDate,
    ) -> impl Iterator<Item = (NaiveDate, &RecordBatch)> {
        self.daily
            .get(&key)
            .into_iter()
            .flat_map(move |days| {
                (start <= end)
                    .then(|| days.range(start..=end))
                    .into_iter()
                    .flatten()
            })
            .map(|(d, b)| (*d, b))
    }

    /// A snapshot stream (empty if the company has none).
    pub fn snapshot(&self, key: Key) -> &Snapshot {
        static EMPTY: Snapshot = Snapshot {
            batches: Vec::new(),
            starts: Vec::new(),
            rows: 0,
        };
        self.snapshots.get(&key).unwrap_or(&EMPTY)
    }

    /// The first value of string column `column` of a stream: the account
    /// ids and currencies, which the generator writes on every row.
    pub fn first_string(&self, key: Key, column: &str) -> Option<String> {
        let batch = match self.daily.get(&key) {
            Some(days) => days.values().find(|b| b.num_rows() > 0)?,
            None => self
                .snapshots
                .get(&key)?
                .batches
                .iter()
                .find(|b| b.num_rows() > 0)?,
        };
        opt_str(batch, column, 0).map(str::to_string)
    }
}

/// The sink that keeps the served streams, in chunks.
#[derive(Default)]
struct Collector {
    /// Per daily stream: days not yet in a chunk, and their rows.
    pending_daily: HashMap<Key, (Vec<(NaiveDate, RecordBatch)>, usize)>,
    pending_snapshot: HashMap<Key, (Vec<RecordBatch>, usize)>,
    store: Store,
    sizes: HashMap<Key, (u64, u64)>,
}

fn served(spec: &StreamSpec) -> Option<Key> {
    SERVED
        .iter()
        .copied()
        .find(|(s, n)| *s == spec.source_type && *n == spec.stream)
}

impl Collector {
    fn flush_daily(&mut self, key: Key) -> Result<(), SinkError> {
        let Some((days, _)) = self.pending_daily.remove(&key) else {
            return Ok(());
        };
        let Some((_, first)) = days.first() else {
            return Ok(());
        };
        let chunk = concat_batches(&first.schema(), days.iter().map(|(_, b)| b))
            .map_err(|e| SinkError(format!("sandbox: concatenating {key:?}: {e}")))?;
        self.count(key, &chunk);
        let target = self.store.daily.entry(key).or_default();
        let mut offset = 0;
        for (date, batch) in &days {
            target.insert(*date, chunk.slice(offset, batch.num_rows()));
            offset += batch.num_rows();
        }
        Ok(())
    }

    fn flush_snapshot(&mut self, key: Key) -> Result<(), SinkError> {
        let Some((batches, _)) = self.pending_snapshot.remove(&key) else {
            return Ok(());
        };
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let chunk = concat_batches(&first.schema(), &batches)
            .map_err(|e| SinkError(format!("sandbox: concatenating {key:?}: {e}")))?;
        self.count(key, &chunk);
        let target = self.store.snapshots.entry(key).or_default();
        target.starts.push(target.rows);
        target.rows += chunk.num_rows();
        target.batches.push(chunk);
        Ok(())
    }

    fn count(&mut self, key: Key, chunk: &RecordBatch) {
        let size = self.sizes.entry(key).or_default();
        size.0 += chunk.num_rows() as u64;
        size.1 += chunk.get_array_memory_size() as u64;
    }

    fn finish(mut self) -> Result<Store, SinkError> {
        for key in SERVED {
            self.flush_daily(key)?;
            self.flush_snapshot(key)?;
        }
        self.store.summary = DataSummary {
            streams: SERVED
                .iter()
                .map(|&(source_type, stream)| {
                    let (rows, bytes) = self
                        .sizes
                        .get(&(source_type, stream))
                        .copied()
                        .unwrap_or_default();
                    StreamSize {
                        source_type,
                        stream,
                        rows,
                        bytes,
                    }
                })
                .collect(),
        };
        Ok(self.store)
    }
}

impl RawSink for Collector {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        batch: RecordBatch,
    ) -> Result<(), SinkError> {
        let Some(key) = served(spec) else {
            return Ok(());
        };
        let pending = self.pending_daily.entry(key).or_default();
        pending.1 += batch.num_rows();
        pending.0.push((date, batch));
        if pending.1 >= CHUNK_ROWS {
            self.flush_daily(key)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, spec: &StreamSpec, batch: RecordBatch) -> Result<(), SinkError> {
        let Some(key) = served(spec) else {
            return Ok(());
        };
        let pending = self.pending_snapshot.entry(key).or_default();
        pending.1 += batch.num_rows();
        pending.0.push(batch);
        if pending.1 >= CHUNK_ROWS {
            self.flush_snapshot(key)?;
        }
        Ok(())
    }
}

// Column access. The schemas are `crate::streams`', so a missing column or a
// wrong type is a bug in this crate, not bad input: it panics with the name.

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("sandbox: the stream has no column `{name}`"))
        .as_ref()
}

pub(crate) fn strings<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    column(batch, name).as_string::<i32>()
}

/// A string cell, `None` when null.
pub(crate) fn opt_str<'a>(batch: &'a RecordBatch, name: &str, row: usize) -> Option<&'a str> {
    let a = strings(batch, name);
    (!a.is_null(row)).then(|| a.value(row))
}

/// A non-null string cell (`""` if null).
pub(crate) fn str_at<'a>(batch: &'a RecordBatch, name: &str, row: usize) -> &'a str {
    opt_str(batch, name, row).unwrap_or("")
}

pub(crate) fn ints<'a>(batch: &'a RecordBatch, name: &str) -> &'a Int64Array {
    column(batch, name).as_primitive::<Int64Type>()
}

pub(crate) fn int_at(batch: &RecordBatch, name: &str, row: usize) -> i64 {
    ints(batch, name).value(row)
}

pub(crate) fn floats<'a>(batch: &'a RecordBatch, name: &str) -> &'a Float64Array {
    column(batch, name).as_primitive::<Float64Type>()
}

pub(crate) fn float_at(batch: &RecordBatch, name: &str, row: usize) -> f64 {
    floats(batch, name).value(row)
}

pub(crate) fn opt_float(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let a = floats(batch, name);
    (!a.is_null(row)).then(|| a.value(row))
}

fn stamps<'a>(batch: &'a RecordBatch, name: &str) -> &'a TimestampMillisecondArray {
    column(batch, name).as_primitive::<TimestampMillisecondType>()
}

/// A timestamp cell in epoch milliseconds, `None` when null.
pub(crate) fn opt_ms(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let a = stamps(batch, name);
    (!a.is_null(row)).then(|| a.value(row))
}

fn booleans<'a>(batch: &'a RecordBatch, name: &str) -> &'a BooleanArray {
    column(batch, name).as_boolean()
}

pub(crate) fn bool_at(batch: &RecordBatch, name: &str, row: usize) -> bool {
    booleans(batch, name).value(row)
}

/// A number the way JSON APIs print it: integral values without a fraction
/// (`"12"`, as GA4 and Meta do), others in the shortest form that reads back
/// as the same `f64`, so a connector parsing it gets the generator's value
/// exactly.
pub(crate) fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_exactly() {
        for v in [0.0, 12.0, 8.53, 1450.5, 0.1 + 0.2, 1e15 + 2.0, 123456.789] {
            let text = number_text(v);
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
        }
        assert_eq!(number_text(12.0), "12");
        assert_eq!(number_text(8.53), "8.53");
    }
}
