//! What the per-API sandbox tests share: the generator's batches of one
//! source type kept whole, and rows compared column by column as displayed
//! (type and value), so a connector's rows can be checked against what the
//! generator made without re-deriving any number.

#![allow(dead_code)] // each test file uses the part it needs

use std::collections::BTreeMap;
use std::net::SocketAddr;

use arrow::array::{ArrayRef, Date32Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::NaiveDate;
use kpi_connector::SyncWindow;
use kpi_lake::StreamSpec;
use kpi_sandbox::server::{SandboxConfig, SandboxHandle, serve};
use kpi_sandbox::{RawSink, SinkError};

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The sandbox of `config` on a free loopback port.
pub async fn start(config: SandboxConfig) -> SandboxHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    serve(config, addr).await.expect("the sandbox starts")
}

/// A row as column name -> (type, displayed value).
pub type Row = BTreeMap<String, (DataType, String)>;

pub fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|i| {
            schema
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, fmt)| {
                    let value = fmt.value(i).to_string();
                    (f.name().clone(), (f.data_type().clone(), value))
                })
                .collect()
        })
        .collect()
}

/// What the generator made for one source type, kept whole.
pub struct Generated {
    source_type: &'static str,
    daily: BTreeMap<&'static str, Vec<(NaiveDate, RecordBatch)>>,
    snapshots: BTreeMap<&'static str, Vec<RecordBatch>>,
}

impl RawSink for Generated {
    fn daily(
        &mut self,
        spec: &StreamSpec,
        date: NaiveDate,
        b: RecordBatch,
    ) -> Result<(), SinkError> {
        if spec.source_type == self.source_type {
            self.daily.entry(spec.stream).or_default().push((date, b));
        }
        Ok(())
    }

    fn snapshot(&mut self, spec: &StreamSpec, b: RecordBatch) -> Result<(), SinkError> {
        if spec.source_type == self.source_type {
            self.snapshots.entry(spec.stream).or_default().push(b);
        }
        Ok(())
    }
}

impl Generated {
    /// The company of `config`, generated, keeping `source_type`'s streams.
    pub fn of(config: &SandboxConfig, source_type: &'static str) -> Self {
        let mut g = Generated {
            source_type,
            daily: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        };
        kpi_sandbox::generate(&config.company(), &mut g).unwrap();
        g
    }

    /// The rows of daily `stream` on the days of `w`, with the `date`
    /// column a connector's batches carry (the generator's is the
    /// partition).
    pub fn daily_rows(&self, stream: &str, w: SyncWindow) -> Vec<Row> {
        let mut out = Vec::new();
        let batches = self.daily.get(stream).map(Vec::as_slice).unwrap_or(&[]);
        for (date, batch) in batches.iter().filter(|(d, _)| w.contains(*d)) {
            let days = (*date - day("1970-01-01")).num_days() as i32;
            let col: ArrayRef = std::sync::Arc::new(Date32Array::from(vec![days]));
            let text = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
                .unwrap()
                .value(0)
                .to_string();
            for mut row in rows_of(batch) {
                row.insert("date".into(), (DataType::Date32, text.clone()));
                out.push(row);
            }
        }
        out
    }

    /// Every row of snapshot `stream`.
    pub fn snapshot_rows(&self, stream: &str) -> Vec<Row> {
        self.snapshots
            .get(stream)
            .map(|b| b.iter().flat_map(rows_of).collect())
            .unwrap_or_default()
    }
}

/// The same rows whatever their order (sorted by `key`), compared whole;
/// the generator must have made some.
pub fn assert_same_rows(what: &str, mut got: Vec<Row>, mut want: Vec<Row>, key: &[&str]) {
    assert!(!want.is_empty(), "{what}: the generator made no rows");
    let by_key = |r: &Row| key.iter().map(|k| r[*k].1.clone()).collect::<Vec<_>>();
    got.sort_by_key(by_key);
    want.sort_by_key(by_key);
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{what}: row {i} differs");
    }
}
