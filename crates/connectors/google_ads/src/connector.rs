//! The running connector: `searchStream` requests, streamed into batches.

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use kpi_connector::http::api_error_message;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, CursorDef, HttpClient, HttpRequest,
    ReadStats, StreamDef, SyncWindow, WriteMode,
};
use serde_json::{Value, json};

use crate::json_array::ArraySplitter;
use crate::rows::{campaign_stats_schema, campaigns_schema, results_to_batch};
use crate::{CAMPAIGN_STATS, CAMPAIGNS, gaql};

/// The Google Ads source, built from a [`GoogleAdsSource`](crate::GoogleAdsSource).
#[derive(Debug, Clone)]
pub struct GoogleAdsConnector {
    client: HttpClient,
    /// `https://googleads.googleapis.com/v26`.
    api_root: String,
    customer_ids: Vec<String>,
    lookback_days: u32,
}

impl GoogleAdsConnector {
    pub(crate) fn new(
        client: HttpClient,
        api_root: String,
        customer_ids: Vec<String>,
        lookback_days: u32,
    ) -> Self {
        GoogleAdsConnector {
            client,
            api_root,
            customer_ids,
            lookback_days,
        }
    }

    /// The accounts this connector reads, without dashes.
    pub fn customer_ids(&self) -> &[String] {
        &self.customer_ids
    }

    /// The HTTP client (for its counters and redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    fn search_stream_request(&self, customer_id: &str, query: &str) -> HttpRequest {
        HttpRequest::post(format!(
            "{}/customers/{customer_id}/googleAds:searchStream",
            self.api_root
        ))
        .json(&json!({ "query": query }))
    }

    fn bad_response(&self, origin: &str, message: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(message.as_ref()),
        }
    }

    /// Runs `query` for one account and hands each `searchStream` batch to
    /// `sink` as soon as it has been read, so a sync holds one batch (at most
    /// 10,000 rows) rather than the account's whole history.
    async fn stream_query(
        &self,
        customer_id: &str,
        query: &str,
        schema: &SchemaRef,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let request = self.search_stream_request(customer_id, query);
        let mut response = self.client.send_streaming(&request).await?;
        let origin = response.origin().to_string();
        let mut splitter = ArraySplitter::new();
        let mut elements = Vec::new();
        let (rows_before, pages_before) = (stats.rows, stats.pages);
        while let Some(chunk) = response.chunk().await? {
            splitter
                .push(&chunk, &mut elements)
                .map_err(|m| self.bad_response(&origin, m))?;
            for element in elements.drain(..) {
                self.write_element(&origin, &element, schema, sink, stats)
                    .await?;
            }
        }
        splitter
            .finish()
            .map_err(|m| self.bad_response(&origin, m))?;
        tracing::debug!(
            target: "kpi_connector_google_ads",
            customer_id,
            rows = stats.rows - rows_before,
            batches = stats.pages - pages_before,
            "searchStream finished"
        );
        Ok(())
    }

    async fn write_element(
        &self,
        origin: &str,
        element: &[u8],
        schema: &SchemaRef,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let value: Value = serde_json::from_slice(element).map_err(|e| {
            self.bad_response(origin, format!("a stream batch is not valid JSON: {e}"))
        })?;
        // A failure after the 200 status (a quota or an internal error
        // mid-query) arrives as an array element holding `error`.
        if value.get("error").is_some() {
            return Err(self.bad_response(
                origin,
                format!(
                    "the query failed mid-stream: {}",
                    api_error_message(element)
                ),
            ));
        }
        stats.pages += 1;
        let results: &[Value] = match value.get("results") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(results)) => results,
            Some(_) => {
                return Err(
                    self.bad_response(origin, "`results` in a stream batch is not an array")
                );
            }
        };
        // The last batch may carry only the field mask and resource consumption.
        if results.is_empty() {
            return Ok(());
        }
        let batch = results_to_batch(schema, results)
            .map_err(|e| self.bad_response(origin, format!("stream batch {}: {e}", stats.pages)))?;
        stats.rows += batch.num_rows() as u64;
        sink.write(batch).await
    }

    /// `customer 1234567890 "Acme ES" (EUR, Europe/Madrid)`.
    async fn check_customer(&self, customer_id: &str) -> Result<String, ConnectorError> {
        let request = self.search_stream_request(customer_id, gaql::check());
        let response = self.client.send(&request).await?;
        let body: Value = response.json()?;
        let elements = body.as_array().map(Vec::as_slice).unwrap_or_default();
        if elements.iter().any(|e| e.get("error").is_some()) {
            return Err(self.bad_response(&response.origin, api_error_message(&response.body)));
        }
        let customer = elements
            .iter()
            .filter_map(|e| e.get("results")?.as_array()?.first()?.get("customer"))
            .next()
            .ok_or_else(|| {
                self.bad_response(&response.origin, "the answer holds no customer row")
            })?;
        let text = |key: &str| customer.get(key).and_then(Value::as_str).unwrap_or("?");
        let name = match customer.get("descriptiveName").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => format!(" {name:?}"),
            _ => String::new(),
        };
        Ok(format!(
            "customer {customer_id}{name} ({}, {})",
            text("currencyCode"),
            text("timeZone")
        ))
    }
}

#[async_trait]
impl Connector for GoogleAdsConnector {
    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::with_capacity(self.customer_ids.len());
        for id in &self.customer_ids {
            accounts.push(self.check_customer(id).await?);
        }
        Ok(CheckReport::of(accounts, "customers"))
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let (query, schema) = match stream.name.as_str() {
            CAMPAIGN_STATS => (gaql::campaign_stats(window), campaign_stats_schema()),
            // A snapshot: the window does not apply.
            CAMPAIGNS => (gaql::campaigns(), campaigns_schema()),
            other => return Err(ConnectorError::UnknownStream(other.to_string())),
        };
        let before = self.client.stats();
        let mut stats = ReadStats::default();
        for customer_id in &self.customer_ids {
            self.stream_query(customer_id, &query, &schema, sink, &mut stats)
                .await?;
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}

/// The streams, re-reading `lookback_days` of campaign stats on each sync.
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![
        StreamDef {
            name: CAMPAIGN_STATS.to_string(),
            schema: campaign_stats_schema(),
            primary_key: vec!["customer_id".into(), "campaign_id".into(), "date".into()],
            write_mode: WriteMode::ReplaceDays {
                date_column: "date".into(),
            },
            cursor: Some(CursorDef {
                field: "date".into(),
                lookback_days,
            }),
        },
        StreamDef {
            name: CAMPAIGNS.to_string(),
            schema: campaigns_schema(),
            primary_key: vec!["customer_id".into(), "campaign_id".into()],
            write_mode: WriteMode::Snapshot,
            cursor: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_definitions_are_valid() {
        let c = crate::GoogleAdsSource::new(crate::GoogleAdsConfig::new(["1234567890"]))
            .connector_with(&|_| Some("x-secret".into()))
            .unwrap();
        let streams = c.streams();
        assert_eq!(streams.len(), 2);
        for s in &streams {
            s.validate().unwrap();
        }
        assert_eq!(streams[0].cursor.as_ref().unwrap().lookback_days, 30);
    }
}
