//! `kpi-sandbox`: one coherent synthetic B2B company, and emulations of the
//! APIs that serve it ([`server`]).
//!
//! It owns the company's story: campaigns whose names appear the same way in the
//! ad platforms, in web analytics (`utm_campaign`) and as the original source of
//! CRM contacts; a funnel with realistic delays and drop-off; renewals and churn;
//! seasonality and a growth trend. Everything is deterministic for a given
//! [`Company`] (seed, end date, length, scale), so tests and demos can rely on it.
//!
//! The generator does not know about files: it hands Arrow batches, shaped like
//! each API's raw stream (see [`streams`]), to a [`RawSink`]. The pipeline
//! plugs the lake writer in; tests can plug in memory.

pub mod generator;
pub mod server;
pub mod streams;

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use kpi_lake::StreamSpec;

pub use generator::generate;
pub use streams::raw_streams;

/// Parameters of the synthetic company.
#[derive(Debug, Clone)]
pub struct Company {
    /// Last day with data (inclusive), usually yesterday.
    pub end_date: NaiveDate,
    /// How many months of history end at `end_date` (25 by default, so that a
    /// previous month has a same-month-last-year to compare with).
    pub months: u32,
    /// Volume multiplier: 1.0 is a mid-size B2B company; 100.0 gives about 100
    /// times the rows (more markets, campaigns, queries and contacts).
    pub scale: f64,
    /// Random seed; the default gives the documented demo company.
    pub seed: u64,
}

impl Company {
    /// The default demo company ending on `end_date`.
    pub fn new(end_date: NaiveDate) -> Self {
        Self {
            end_date,
            months: 25,
            scale: 1.0,
            seed: 20_240_917,
        }
    }

    /// First day with data.
    pub fn start_date(&self) -> NaiveDate {
        let m = self
            .end_date
            .checked_sub_months(chrono::Months::new(self.months))
            .unwrap_or(self.end_date);
        m.succ_opt().unwrap_or(m)
    }
}

/// Error raised by a sink; the generator passes it through unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where generated raw data goes.
pub trait RawSink {
    /// The complete content of one daily partition of `spec` (called at most once
    /// per stream and date; a day without rows is not called).
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        batch: RecordBatch,
    ) -> Result<(), SinkError>;
    /// Appends rows to the snapshot of `spec`; the snapshot is complete when
    /// [`generate`] returns.
    fn snapshot(&mut self, spec: &StreamSpec, batch: RecordBatch) -> Result<(), SinkError>;
}

/// Rows generated per stream.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// `(source_type, stream, rows)` in generation order.
    pub rows: Vec<(&'static str, &'static str, u64)>,
}

impl Summary {
    /// Total rows over every stream.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|r| r.2).sum()
    }
}
