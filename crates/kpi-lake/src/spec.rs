//! What a raw stream looks like to the lake: its name, layout and schema.

use arrow::datatypes::SchemaRef;

/// How a stream is laid out in the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One partition per day (`date=YYYY-MM-DD`), replaced whole on re-sync.
    Daily,
    /// The whole stream is replaced by each sync (CRM objects).
    Snapshot,
}

/// One raw stream: which connector type produces it, its name and shape.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Connector type (`google_ads`, `meta_ads`, ...), also the default source name.
    pub source_type: &'static str,
    /// Stream name inside the source (`campaign_stats`, ...).
    pub stream: &'static str,
    /// Daily partitions or a replaced snapshot.
    pub layout: Layout,
    /// Columns stored in the Parquet files (the `date` partition column excluded).
    pub schema: SchemaRef,
}
