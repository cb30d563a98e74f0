//! The running connector: the validated settings, one HTTP client, and the
//! contract (`streams`, `check`, `read`).

use std::time::Duration;

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, HttpClient, HttpRequest, ReadStats,
    StreamDef, SyncWindow,
};
use serde_json::Value;

use crate::campaigns::{self, CAMPAIGNS};
use crate::insights::{self, ADS_INSIGHTS};

/// Settings after validation, in the form the requests use.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The source's name in `kpi.toml`, for messages.
    pub source: String,
    /// The variable the token came from, for messages.
    pub token_env: String,
    /// Ad account ids without `act_`.
    pub accounts: Vec<String>,
    /// `<base_url>/<api_version>`.
    pub api_root: String,
    pub windows: Vec<String>,
    pub lookback_days: u32,
    pub page_size: u32,
    pub async_after_days: u32,
    pub async_poll_interval: Duration,
    pub async_timeout: Duration,
}

/// The Meta Ads connector, built from a [`MetaAdsSource`](crate::MetaAdsSource).
#[derive(Debug)]
pub struct MetaAdsConnector {
    pub(crate) settings: Settings,
    pub(crate) client: HttpClient,
}

impl MetaAdsConnector {
    pub(crate) fn new(settings: Settings, client: HttpClient) -> Self {
        MetaAdsConnector { settings, client }
    }

    /// The HTTP client (counters for the sync summary, the redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }
}

#[async_trait]
impl Connector for MetaAdsConnector {
    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    fn streams(&self) -> Vec<StreamDef> {
        vec![
            insights::stream_def(self.settings.lookback_days),
            campaigns::stream_def(),
        ]
    }

    /// One `GET /act_{id}?fields=name,currency,timezone_name,account_status`
    /// per account: proves the token can read each account, and shows the
    /// currency and time zone the numbers will be in.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::new();
        for account in &self.settings.accounts {
            let request = HttpRequest::get(format!("{}/act_{account}", self.settings.api_root))
                .query("fields", "name,currency,timezone_name,account_status");
            let body = self.call(&request).await?;
            let text = |f: &str| {
                body.get(f)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            };
            let mut line = format!(
                "act_{account} {} ({}, {})",
                text("name"),
                text("currency"),
                text("timezone_name")
            );
            // 1 is ACTIVE; anything else (disabled, unsettled, closed) delivers no ads.
            if let Some(status) = body.get("account_status").and_then(Value::as_i64)
                && status != 1
            {
                line.push_str(&format!(" [account_status {status}: not active]"));
            }
            accounts.push(line);
        }
        let summary = match accounts.as_slice() {
            [one] => format!("ad account {one}"),
            many => format!("{} ad accounts: {}", many.len(), many.join("; ")),
        };
        Ok(CheckReport { summary, accounts })
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        match stream.name.as_str() {
            ADS_INSIGHTS => self.read_insights(window, sink).await,
            CAMPAIGNS => self.read_campaigns(sink).await,
            other => Err(ConnectorError::UnknownStream(other.to_string())),
        }
    }
}
