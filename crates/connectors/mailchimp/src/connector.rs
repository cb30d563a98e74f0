//! The connector: its streams, `kpi check`, and dispatching a read.

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, HttpClient, HttpRequest, Prepared,
    ReadStats, StreamDef, SyncWindow,
};
use serde_json::Value;

use crate::{CAMPAIGNS, REPORTS, campaigns, reports};

/// A Mailchimp account, read with one API key.
pub struct MailchimpConnector {
    pub(crate) client: HttpClient,
    /// The host, e.g. `https://us6.api.mailchimp.com`, without `/3.0`.
    pub(crate) base_url: String,
    pub(crate) source: String,
    pub(crate) page_size: u32,
    lookback_days: u32,
}

/// The two streams, `reports` re-reading `lookback_days` on each sync.
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![reports::stream_def(lookback_days), campaigns::stream_def()]
}

impl MailchimpConnector {
    pub(crate) fn new(prepared: Prepared, page_size: u32) -> Self {
        MailchimpConnector {
            client: prepared.client,
            base_url: prepared.base_url,
            source: prepared.source,
            page_size,
            lookback_days: prepared.lookback_days,
        }
    }

    /// The client, for its settings and counters.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The host requests go to (the data centre's, unless `base_url` is set).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "?".into(),
        Some(other) => other.to_string(),
    }
}

#[async_trait]
impl Connector for MailchimpConnector {
    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    /// `GET /3.0/` (the account) and `GET /3.0/lists` (its audiences).
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let (account, _) = self
            .get(HttpRequest::get(self.url("")).query(
                "fields",
                "account_id,account_name,account_timezone,total_subscribers",
            ))
            .await?;
        let (lists, _) = self
            .get(
                HttpRequest::get(self.url("lists"))
                    .query(
                        "fields",
                        "lists.id,lists.name,lists.stats.member_count,total_items",
                    )
                    .query("count", "1000"),
            )
            .await?;
        let summary = format!(
            "account {} ({}, {}), {} subscribers",
            text(&account, "account_name"),
            text(&account, "account_id"),
            text(&account, "account_timezone"),
            text(&account, "total_subscribers"),
        );
        let accounts = lists
            .get("lists")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                let members = l
                    .pointer("/stats/member_count")
                    .map_or("?".to_string(), Value::to_string);
                format!(
                    "audience {} {} ({members} members)",
                    text(l, "id"),
                    text(l, "name")
                )
            })
            .collect();
        Ok(CheckReport { summary, accounts })
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let mut stats = ReadStats::default();
        match stream.name.as_str() {
            REPORTS => self.read_reports(window, sink, &mut stats).await?,
            CAMPAIGNS => self.read_campaigns(sink, &mut stats).await?,
            other => return Err(ConnectorError::UnknownStream(other.to_string())),
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}
