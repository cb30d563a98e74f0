//! The running connector: paged `runReport` requests into batches.

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, CursorDef, HttpClient, HttpRequest,
    OffsetPager, ReadStats, StreamDef, SyncWindow, WriteMode,
};

use crate::TRAFFIC;
use crate::report::{RunReportResponse, check_body, page_to_batch, request_body, traffic_schema};

/// The GA4 source, built by [`Ga4Config::build`](crate::Ga4Config::build).
#[derive(Debug, Clone)]
pub struct Ga4Connector {
    client: HttpClient,
    base_url: String,
    property_ids: Vec<String>,
    page_size: u32,
    lookback_days: u32,
}

impl Ga4Connector {
    pub(crate) fn new(
        client: HttpClient,
        base_url: String,
        property_ids: Vec<String>,
        page_size: u32,
        lookback_days: u32,
    ) -> Self {
        Ga4Connector {
            client,
            base_url,
            property_ids,
            page_size,
            lookback_days,
        }
    }

    /// The properties this connector reads, as bare digits.
    pub fn property_ids(&self) -> &[String] {
        &self.property_ids
    }

    /// The HTTP client (for its counters and redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    fn run_report_url(&self, property_id: &str) -> String {
        format!(
            "{}/v1beta/properties/{property_id}:runReport",
            self.base_url
        )
    }

    fn bad_response(&self, origin: &str, message: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(message.as_ref()),
        }
    }

    /// Reads every page of `window` for one property (paging: see
    /// [`OffsetPager`]; `rowCount` is only compared with the rows served).
    async fn read_property(
        &self,
        property_id: &str,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let url = self.run_report_url(property_id);
        let mut pager = OffsetPager::new("offset", self.page_size as u64);
        let mut reported_total = None;
        let mut rows_read = 0u64;
        while let Some(offset) = pager.next_offset() {
            let request =
                HttpRequest::post(&url).json(&request_body(window, self.page_size, offset));
            let response = self.client.send(&request).await?;
            let page: RunReportResponse = response.json()?;
            stats.pages += 1;
            reported_total = page.row_count.or(reported_total);
            let n = page.rows.len();
            if n > 0 {
                let batch = page_to_batch(property_id, &page).map_err(|m| {
                    self.bad_response(&response.origin, format!("page at offset {offset}: {m}"))
                })?;
                stats.rows += n as u64;
                rows_read += n as u64;
                sink.write(batch).await?;
            }
            let first = page.rows.first().map(|r| {
                r.dimension_values
                    .iter()
                    .map(|c| c.value.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
            });
            pager
                .page_read(n, first)
                .map_err(|m| self.bad_response(&response.origin, m))?;
        }
        if let Some(total) = reported_total
            && u64::try_from(total).ok() != Some(rows_read)
        {
            tracing::debug!(
                target: "kpi_connector_ga4",
                property_id,
                row_count = total,
                rows_read,
                "rowCount disagrees with the rows served; kept every row served"
            );
        }
        Ok(())
    }

    /// `property 123 (EUR, Europe/Madrid)`.
    async fn check_property(&self, property_id: &str) -> Result<String, ConnectorError> {
        let request = HttpRequest::post(self.run_report_url(property_id)).json(&check_body());
        let page: RunReportResponse = self.client.send_json(&request).await?;
        let meta = page.metadata.unwrap_or_default();
        Ok(format!(
            "property {property_id} ({}, {})",
            meta.currency_code.as_deref().unwrap_or("?"),
            meta.time_zone.as_deref().unwrap_or("?")
        ))
    }
}

#[async_trait]
impl Connector for Ga4Connector {
    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::with_capacity(self.property_ids.len());
        for id in &self.property_ids {
            accounts.push(self.check_property(id).await?);
        }
        Ok(CheckReport::of(accounts, "properties"))
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        if stream.name != TRAFFIC {
            return Err(ConnectorError::UnknownStream(stream.name.clone()));
        }
        let before = self.client.stats();
        let mut stats = ReadStats::default();
        for property_id in &self.property_ids {
            self.read_property(property_id, window, sink, &mut stats)
                .await?;
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}

/// The one stream, re-reading `lookback_days` on each sync.
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![StreamDef {
        name: TRAFFIC.to_string(),
        schema: traffic_schema(),
        primary_key: [
            "property_id",
            "date",
            "session_source",
            "session_medium",
            "session_campaign_name",
            "device_category",
        ]
        .map(String::from)
        .to_vec(),
        write_mode: WriteMode::ReplaceDays {
            date_column: "date".into(),
        },
        cursor: Some(CursorDef {
            field: "date".into(),
            lookback_days,
        }),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_definition_is_valid() {
        let c = crate::Ga4Source::new(crate::Ga4Config::new(["123"]))
            .connector_with(&|_| Some("x-secret".into()))
            .unwrap();
        let streams = c.streams();
        assert_eq!(streams.len(), 1);
        streams[0].validate().unwrap();
        assert_eq!(streams[0].cursor.as_ref().unwrap().lookback_days, 3);
    }
}
