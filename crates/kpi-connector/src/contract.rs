//! The connector contract: what a connector declares and what it must do.
//!
//! A connector knows its API: requests, paging, field names, Arrow schemas.
//! The runner knows everything else: which days to read ([`window_for`]),
//! where batches go, when a partition is durable, and when the cursor may
//! move. Keeping state out of connectors is what makes a failed or killed
//! sync leave the lake and the cursors exactly as they were.

use std::error::Error as StdError;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chrono::NaiveDate;

use crate::arrow_json::ConvertError;
use crate::http::{HttpError, HttpStats};
use crate::secret::SecretError;

/// One stream of a source: a table in `lake/raw/<source>/<stream>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDef {
    /// The table name, e.g. `campaign_daily`.
    pub name: String,
    /// The columns, with the API's own field names, flattened.
    pub schema: SchemaRef,
    /// Columns that identify a row; a re-read day replaces rows with the same key.
    pub primary_key: Vec<String>,
    /// How a batch lands in the lake.
    pub write_mode: WriteMode,
    /// How the stream reads incrementally; `None` reads everything each run.
    pub cursor: Option<CursorDef>,
}

/// How the runner writes a stream's batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    /// Each day read replaces that day's partition whole: re-reading the
    /// lookback window picks up revised numbers without duplicates.
    ReplaceDays {
        /// The `Date32` column that names the partition.
        date_column: String,
    },
    /// Batches are added to what is there (event logs with unique ids).
    Append,
    /// Each run is a complete picture that replaces the previous one
    /// (contacts, deals, campaign settings).
    Snapshot,
    /// A snapshot kept up to date by the records changed since the last
    /// sync (Salesforce's `SystemModstamp`): each record read replaces the
    /// lake's record with the same primary key, the others stay. The read
    /// gets a window whose start is the first day of changes to read; a
    /// first sync and `--full-refresh` get [`SyncWindow::everything`],
    /// read every record and replace the snapshot whole (so records
    /// deleted at the source go then, not before).
    Merge,
}

/// An incremental stream's cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorDef {
    /// The column whose maximum becomes the cursor (`date`, `lastmodifieddate`).
    pub field: String,
    /// Days before the cursor to read again on every run, because the API
    /// revises them (30 for ad platforms' late conversions, 3 for GA4).
    pub lookback_days: u32,
}

impl StreamDef {
    /// Checks that every column the definition names exists in the schema,
    /// so a typo fails at startup rather than at the first write.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let has = |c: &str| self.schema.field_with_name(c).is_ok();
        let mut named: Vec<(&str, &str)> = self
            .primary_key
            .iter()
            .map(|c| ("primary key", c.as_str()))
            .collect();
        if let WriteMode::ReplaceDays { date_column } = &self.write_mode {
            named.push(("date column", date_column));
        }
        if let Some(cursor) = &self.cursor {
            named.push(("cursor field", &cursor.field));
        }
        for (role, column) in named {
            if !has(column) {
                return Err(ConnectorError::Config(format!(
                    "stream {}: {role} `{column}` is not a column of its schema",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

/// The days one read covers, both ends included (as the APIs take them:
/// Google Ads `BETWEEN`, Meta `time_range`, GA4 `dateRanges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncWindow {
    /// The first day.
    pub start: NaiveDate,
    /// The last day, included.
    pub end: NaiveDate,
}

impl SyncWindow {
    /// The window of a read of every record changed through `end`, whenever
    /// it changed: what a [`WriteMode::Merge`] stream gets with no cursor.
    pub fn everything(end: NaiveDate) -> SyncWindow {
        SyncWindow {
            start: NaiveDate::MIN,
            end,
        }
    }

    /// Whether this is [`SyncWindow::everything`]: no lower bound.
    pub fn is_everything(&self) -> bool {
        self.start == NaiveDate::MIN
    }

    /// Number of days in the window.
    pub fn days(&self) -> u32 {
        ((self.end - self.start).num_days() + 1).max(0) as u32
    }

    /// Whether `day` falls in the window.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    /// The window cut into consecutive pieces of at most `days` days, for
    /// APIs that limit a report's range (Meta's async runs, GA4 quotas).
    pub fn chunks(&self, days: u32) -> Vec<SyncWindow> {
        let days = days.max(1) as u64;
        let mut out = Vec::new();
        let mut start = self.start;
        while start <= self.end {
            let end = (start + chrono::Days::new(days - 1)).min(self.end);
            out.push(SyncWindow { start, end });
            start = end + chrono::Days::new(1);
        }
        out
    }
}

/// The window to read, or `None` when there is nothing to read yet.
///
/// - `from_to_override` (`kpi sync --from --to`) wins: a backfill reads
///   exactly the days asked for.
/// - First sync (no cursor): `first_sync_start` through yesterday.
/// - Incremental: `cursor - lookback_days` through yesterday, never before
///   `first_sync_start`. The cursor's own day is read again, since it may
///   have been incomplete when it was read.
///
/// Today is never read by default: its numbers are partial, and a report
/// built on them would understate the day.
pub fn window_for(
    cursor: Option<NaiveDate>,
    lookback_days: u32,
    today: NaiveDate,
    first_sync_start: NaiveDate,
    from_to_override: Option<(NaiveDate, NaiveDate)>,
) -> Result<Option<SyncWindow>, WindowError> {
    if let Some((start, end)) = from_to_override {
        if start > end {
            return Err(WindowError::Inverted { start, end });
        }
        return Ok(Some(SyncWindow { start, end }));
    }
    let Some(yesterday) = today.pred_opt() else {
        return Ok(None);
    };
    let start = match cursor {
        None => first_sync_start,
        Some(cursor) => cursor
            .checked_sub_days(chrono::Days::new(lookback_days as u64))
            .unwrap_or(NaiveDate::MIN)
            .max(first_sync_start),
    };
    Ok((start <= yesterday).then_some(SyncWindow {
        start,
        end: yesterday,
    }))
}

/// An impossible window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `--from` is after `--to`.
    #[error("--from {start} is after --to {end}")]
    Inverted {
        /// The requested first day.
        start: NaiveDate,
        /// The requested last day.
        end: NaiveDate,
    },
}

/// Where a connector puts its batches. The runner's sink writes each one
/// towards the lake as it arrives, so a sync holds a page in memory, never a
/// whole stream.
#[async_trait]
pub trait BatchSink: Send {
    /// Takes one batch. An error stops the read.
    async fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError>;
}

/// A sink that keeps every batch in memory: for tests and small previews.
#[derive(Debug, Default)]
pub struct CollectSink {
    /// The batches, in arrival order.
    pub batches: Vec<RecordBatch>,
}

impl CollectSink {
    /// Total rows received.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

#[async_trait]
impl BatchSink for CollectSink {
    async fn write(&mut self, batch: RecordBatch) -> Result<(), ConnectorError> {
        self.batches.push(batch);
        Ok(())
    }
}

/// What one `read` did, for the sync summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Rows handed to the sink.
    pub rows: u64,
    /// Pages (or stream batches) received from the API.
    pub pages: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
    /// Waits the API imposed with 429 or `Retry-After`.
    pub throttled_waits: u64,
}

impl ReadStats {
    /// Counts one page that produced `batch`.
    pub fn page(&mut self, batch: &RecordBatch) {
        self.pages += 1;
        self.rows += batch.num_rows() as u64;
    }

    /// Adds the HTTP counters of this read (`client.stats().since(&before)`).
    pub fn add_http(&mut self, http: &HttpStats) {
        self.requests += http.requests;
        self.retries += http.retries;
        self.throttled_waits += http.throttled_waits;
    }
}

/// What `kpi check` prints for a source that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line: who we are connected as, e.g. "customer 1234567890 (EUR, Europe/Madrid)".
    pub summary: String,
    /// The accounts, properties or portals the credentials can read.
    pub accounts: Vec<String>,
}

impl CheckReport {
    /// The report of a check that probed each of `accounts`: the one line
    /// itself when there is one, else how many `plural` there are
    /// ("3 sites").
    pub fn of(accounts: Vec<String>, plural: &str) -> Self {
        let summary = match accounts.as_slice() {
            [one] => one.clone(),
            many => format!("{} {plural}", many.len()),
        };
        CheckReport { summary, accounts }
    }
}

/// What a check or read may need beyond the connector's own config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The source's name in `kpi.toml` (`[sources.<name>]`), for messages.
    pub source: String,
    /// Today in the reporting time zone.
    pub today: NaiveDate,
}

/// A connector type, as the one registry of types (in `kpi-pipeline`) knows
/// it: its config is the `[sources.<name>]` section (less the runner's own
/// keys), it names its streams, says where its requests go and builds the
/// connector. Each connector crate implements it on its config struct; the
/// registry needs nothing else from the crate.
pub trait ConnectorType: serde::de::DeserializeOwned + Send + 'static {
    /// The `type = "..."` of its sources.
    const TYPE: &'static str;

    /// Its streams with the default settings: what the lake holds for the
    /// type and what the engine registers (a setting that adds columns, such
    /// as HubSpot's extra properties, adds them to the files only).
    fn streams() -> Vec<StreamDef>;

    /// Where source `source`'s requests go; no secret is read.
    fn endpoints(&self, source: &str) -> Result<crate::Endpoints, String>;

    /// The connector of source `source`, its secrets read through `lookup`.
    fn connect(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Connector>, String>;
}

/// A source's connector. Implementations are built from their own config
/// section and hold one [`HttpClient`](crate::http::HttpClient).
#[async_trait]
pub trait Connector: Send + Sync {
    /// The streams this source offers.
    fn streams(&self) -> Vec<StreamDef>;

    /// Proves the credentials and settings work with one cheap request.
    /// The error carries the API's own message.
    async fn check(&self, ctx: &Context) -> Result<CheckReport, ConnectorError>;

    /// How many reads the runner may run at once against this source: its
    /// HTTP client's `max_concurrency`, since more would only queue.
    fn parallel_reads(&self) -> usize {
        1
    }

    /// Reads `stream` for the days in `window`, handing batches to `sink`
    /// as pages arrive. A re-read of the same window yields the same rows.
    /// The runner may call it for several windows of a stream at once.
    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError>;
}

/// Why a check or read failed. Messages are redacted at their origin.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The request failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A response did not fit the stream's schema.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// A secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The API answered with something the connector does not understand
    /// (a missing member, an unexpected shape).
    #[error("unexpected response from {origin}: {message}")]
    Response {
        /// `METHOD url`, redacted.
        origin: String,
        /// What was expected, redacted.
        message: String,
    },
    /// The connector's config is unusable.
    #[error("{0}")]
    Config(String),
    /// The runner asked for a stream this connector does not have.
    #[error("unknown stream `{0}`")]
    UnknownStream(String),
    /// The sink refused a batch (the lake could not write it).
    #[error("writing a batch failed: {0}")]
    Sink(Box<dyn StdError + Send + Sync>),
}

impl ConnectorError {
    /// Wraps a sink's own error.
    pub fn sink(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        ConnectorError::Sink(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const START: &str = "2024-01-01";

    #[test]
    fn a_check_report_is_its_one_line_or_a_count() {
        let one = CheckReport::of(
            vec!["site sc-domain:example.com (siteOwner)".into()],
            "sites",
        );
        assert_eq!(one.summary, "site sc-domain:example.com (siteOwner)");
        let three = CheckReport::of(vec!["a".into(), "b".into(), "c".into()], "sites");
        assert_eq!(
            (three.summary.as_str(), three.accounts.len()),
            ("3 sites", 3)
        );
    }

    #[test]
    fn first_sync_reads_from_the_configured_start_to_yesterday() {
        let w = window_for(None, 30, d("2024-03-10"), d(START), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            w,
            SyncWindow {
                start: d(START),
                end: d("2024-03-09")
            }
        );
    }

    #[test]
    fn incremental_rereads_the_lookback() {
        let w = window_for(Some(d("2024-03-09")), 30, d("2024-03-10"), d(START), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            w,
            SyncWindow {
                start: d("2024-02-08"),
                end: d("2024-03-09")
            }
        );
        assert_eq!(w.days(), 31);
        // No lookback still re-reads the cursor's own day.
        let w = window_for(Some(d("2024-03-09")), 0, d("2024-03-10"), d(START), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            w,
            SyncWindow {
                start: d("2024-03-09"),
                end: d("2024-03-09")
            }
        );
    }

    #[test]
    fn lookback_never_reaches_before_the_start() {
        let w = window_for(Some(d("2024-01-05")), 30, d("2024-01-10"), d(START), None)
            .unwrap()
            .unwrap();
        assert_eq!(w.start, d(START));
    }

    #[test]
    fn nothing_to_read_yet() {
        assert_eq!(
            window_for(None, 30, d(START), d(START), None).unwrap(),
            None
        );
        assert_eq!(
            window_for(None, 30, d("2023-12-01"), d(START), None).unwrap(),
            None
        );
    }

    #[test]
    fn backfill_override_wins() {
        let w = window_for(
            Some(d("2024-03-09")),
            30,
            d("2024-03-10"),
            d(START),
            Some((d("2023-06-01"), d("2023-06-30"))),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            w,
            SyncWindow {
                start: d("2023-06-01"),
                end: d("2023-06-30")
            }
        );
        let err = window_for(
            None,
            0,
            d("2024-03-10"),
            d(START),
            Some((d("2024-02-02"), d("2024-02-01"))),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--from 2024-02-02 is after --to 2024-02-01"
        );
    }

    #[test]
    fn huge_lookback_does_not_overflow() {
        let w = window_for(
            Some(d("2024-03-09")),
            u32::MAX,
            d("2024-03-10"),
            NaiveDate::MIN,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(w.start, NaiveDate::MIN);
    }

    #[test]
    fn a_window_of_everything_has_no_start() {
        let w = SyncWindow::everything(d("2026-10-31"));
        assert!(w.is_everything() && w.contains(d("1990-01-01")));
        assert!(!w.contains(d("2026-11-01")));
        let w = SyncWindow {
            start: d("2026-10-01"),
            end: d("2026-10-31"),
        };
        assert!(!w.is_everything());
    }

    #[test]
    fn window_chunks() {
        let w = SyncWindow {
            start: d("2024-01-01"),
            end: d("2024-01-10"),
        };
        let c = w.chunks(4);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0],
            SyncWindow {
                start: d("2024-01-01"),
                end: d("2024-01-04")
            }
        );
        assert_eq!(
            c[2],
            SyncWindow {
                start: d("2024-01-09"),
                end: d("2024-01-10")
            }
        );
        assert!(w.contains(d("2024-01-10")) && !w.contains(d("2024-01-11")));
        assert_eq!(w.chunks(0).len(), 10);
    }

    #[test]
    fn stream_def_validation() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("campaign_id", DataType::Utf8, false),
        ]));
        let mut s = StreamDef {
            name: "campaign_daily".into(),
            schema,
            primary_key: vec!["date".into(), "campaign_id".into()],
            write_mode: WriteMode::ReplaceDays {
                date_column: "date".into(),
            },
            cursor: Some(CursorDef {
                field: "date".into(),
                lookback_days: 30,
            }),
        };
        s.validate().unwrap();
        s.cursor = Some(CursorDef {
            field: "day".into(),
            lookback_days: 30,
        });
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "stream campaign_daily: cursor field `day` is not a column of its schema"
        );
    }

    #[tokio::test]
    async fn collect_sink_and_stats() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let mut sink = CollectSink::default();
        let dyn_sink: &mut dyn BatchSink = &mut sink;
        dyn_sink.write(batch.clone()).await.unwrap();
        let mut stats = ReadStats::default();
        stats.page(&batch);
        stats.add_http(&HttpStats {
            requests: 2,
            retries: 1,
            ..Default::default()
        });
        assert_eq!(sink.rows(), 3);
        assert_eq!(
            (stats.rows, stats.pages, stats.requests, stats.retries),
            (3, 1, 2, 1)
        );
        let e = ConnectorError::sink(std::io::Error::other("disk full"));
        assert_eq!(e.to_string(), "writing a batch failed: disk full");
    }
}
