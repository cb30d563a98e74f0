//! The running connector: `adAnalytics` windows into batches, the campaign
//! search page by page, the account probe, and LinkedIn's refusals turned
//! into messages that say what to do.

use std::collections::HashMap;

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, CursorDef, CursorPager, HttpClient,
    HttpError, HttpRequest, ReadStats, StreamDef, SyncWindow, WriteMode, json_rows_to_batch,
};
use serde::Deserialize;
use serde_json::Value;

use crate::analytics::{
    MAX_ELEMENTS, MAX_FIELDS_PER_REQUEST, Rows, ad_analytics_schema, analytics_url, field_chunks,
};
use crate::campaigns::{SEARCH_PAGING, campaign_row, campaigns_schema, campaigns_url};
use crate::{AD_ANALYTICS, CAMPAIGNS};

/// The LinkedIn Ads source, built by
/// [`LinkedInAdsConfig::connector`](crate::LinkedInAdsConfig::connector).
#[derive(Debug)]
pub struct LinkedInAdsConnector {
    client: HttpClient,
    base_url: String,
    source: String,
    /// The refresh token's variable, as configured, for the hint of a
    /// refused credential.
    refresh_var: String,
    account_ids: Vec<String>,
    api_version: String,
    page_size: u32,
    lookback_days: u32,
    fields_per_request: usize,
    /// Each account's currency, read once (`GET /rest/adAccounts/{id}`);
    /// held while it is fetched, so windows read at once wait for one fetch.
    currencies: tokio::sync::Mutex<HashMap<String, String>>,
}

/// The members of an ad account this connector reads.
#[derive(Debug, Deserialize)]
struct AdAccount {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl LinkedInAdsConnector {
    pub(crate) fn new(
        client: HttpClient,
        base_url: String,
        source: String,
        refresh_var: String,
        account_ids: Vec<String>,
        api_version: String,
        page_size: u32,
        lookback_days: u32,
    ) -> Self {
        LinkedInAdsConnector {
            client,
            base_url,
            source,
            refresh_var,
            account_ids,
            api_version,
            page_size,
            lookback_days,
            fields_per_request: MAX_FIELDS_PER_REQUEST,
            currencies: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The accounts read, as bare digits.
    pub fn account_ids(&self) -> &[String] {
        &self.account_ids
    }

    /// The HTTP client (counters, redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// At most `n` fields per `adAnalytics` request instead of LinkedIn's
    /// limit of 20 (the key fields `dateRange` and `pivotValues` count).
    /// Fewer fields mean more requests merged into the same rows; tests
    /// use it to see the merge work with the stream's few metrics.
    pub fn with_fields_per_request(mut self, n: usize) -> Self {
        self.fields_per_request = n.clamp(KEY_FIELDS_PLUS_ONE, MAX_FIELDS_PER_REQUEST);
        self
    }

    /// The API's refusal with what to do about it appended, for the
    /// refusals a person can fix. Retrying is the shared client's: a 429
    /// that reaches here was retried already.
    fn explain(&self, error: HttpError, account: &str) -> ConnectorError {
        let hint = match error.status() {
            _ if matches!(error, HttpError::TokenRefresh { .. }) => self.credentials_hint(),
            Some(401) => self.credentials_hint(),
            Some(403) => format!(
                "the member who authorized the app needs a role on ad account {account} \
                 (VIEWER is enough), and the app the r_ads and r_ads_reporting scopes"
            ),
            Some(426) => format!(
                "api_version: LinkedIn no longer serves version {}; set api_version to a \
                 current YYYYMM version",
                self.api_version
            ),
            Some(429) => "LinkedIn limits calls per application and day, resetting at midnight \
                          UTC; sync again later"
                .to_string(),
            _ => return ConnectorError::Http(error),
        };
        ConnectorError::Http(error.with_hint(&hint))
    }

    fn credentials_hint(&self) -> String {
        format!(
            "LinkedIn refused the credentials of source {}: the refresh token in {} has expired \
             (they last 365 days), was revoked, or belongs to another app; authorize the app \
             again and set the new refresh token",
            self.source, self.refresh_var
        )
    }

    fn bad_response(&self, origin: &str, message: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(message.as_ref()),
        }
    }

    /// `GET url` parsed as JSON, with LinkedIn's refusals explained.
    async fn get(&self, url: &str, account: &str) -> Result<(Value, String), ConnectorError> {
        let response = self
            .client
            .send(&HttpRequest::get(url))
            .await
            .map_err(|e| self.explain(e, account))?;
        let body: Value = response.json()?;
        Ok((body, response.origin))
    }

    async fn ad_account(&self, account: &str) -> Result<AdAccount, ConnectorError> {
        let (body, origin) = self
            .get(
                &format!("{}/rest/adAccounts/{account}", self.base_url),
                account,
            )
            .await?;
        serde_json::from_value(body)
            .map_err(|e| self.bad_response(&origin, format!("not an ad account: {e}")))
    }

    /// The account's currency (costs in `costInLocalCurrency` are in it).
    async fn currency(&self, account: &str) -> Result<String, ConnectorError> {
        let mut known = self.currencies.lock().await;
        if let Some(c) = known.get(account) {
            return Ok(c.clone());
        }
        let url = format!("{}/rest/adAccounts/{account}", self.base_url);
        let currency = self.ad_account(account).await?.currency.ok_or_else(|| {
            self.bad_response(
                &self.client.redact(&format!("GET {url}")),
                format!("ad account {account} has no `currency`"),
            )
        })?;
        known.insert(account.to_string(), currency.clone());
        Ok(currency)
    }

    /// Every campaign-day of `window` for `account`, halving the window
    /// whenever an answer is full (LinkedIn drops what does not fit).
    async fn read_analytics(
        &self,
        account: &str,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let currency = self.currency(account).await?;
        let chunks = field_chunks(self.fields_per_request);
        // Windows still to read, the next on top.
        let mut pending = vec![window];
        while let Some(w) = pending.pop() {
            let mut rows = Rows::default();
            let mut full = false;
            for metrics in &chunks {
                let url = analytics_url(&self.base_url, account, w, metrics);
                let (body, origin) = self.get(&url, account).await?;
                stats.pages += 1;
                let n = rows
                    .add(&body, metrics, w)
                    .map_err(|m| self.bad_response(&origin, m))?;
                if n >= MAX_ELEMENTS {
                    full = true;
                    break;
                }
            }
            if full {
                if w.days() == 1 {
                    return Err(self.bad_response(
                        &format!("GET {}/rest/adAnalytics", self.base_url),
                        format!(
                            "adAnalytics returned {MAX_ELEMENTS} elements, the most it returns, \
                             for ad account {account} on the single day {}: the day has more \
                             campaigns than one answer holds and cannot be read completely",
                            w.start
                        ),
                    ));
                }
                let half = w.start + chrono::Days::new(u64::from(w.days() / 2 - 1));
                tracing::debug!(
                    target: "kpi_connector_linkedin_ads",
                    account,
                    start = %w.start,
                    end = %w.end,
                    "adAnalytics answer full; reading the window in halves"
                );
                pending.push(SyncWindow {
                    start: half + chrono::Days::new(1),
                    end: w.end,
                });
                pending.push(SyncWindow {
                    start: w.start,
                    end: half,
                });
                continue;
            }
            if rows.len() == 0 {
                continue;
            }
            let batch = rows.into_batch(account, &currency)?;
            stats.rows += batch.num_rows() as u64;
            sink.write(batch).await?;
        }
        Ok(())
    }

    async fn read_campaigns(
        &self,
        account: &str,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let schema = campaigns_schema();
        let mut pager = CursorPager::new(
            SEARCH_PAGING,
            campaigns_url(&self.base_url, account),
            vec![("pageSize".into(), self.page_size.to_string())],
        );
        while let Some(request) = pager.next_request() {
            let response = self
                .client
                .send(&request)
                .await
                .map_err(|e| self.explain(e, account))?;
            let mut body: Value = response.json()?;
            let elements = pager
                .take_page(&mut body)
                .map_err(|m| self.bad_response(&response.origin, m))?;
            stats.pages += 1;
            let rows = elements
                .iter()
                .enumerate()
                .map(|(i, raw)| campaign_row(raw, account, i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.bad_response(&response.origin, m))?;
            let batch = json_rows_to_batch(&schema, &rows)
                .map_err(|e| self.bad_response(&response.origin, format!("campaign {e}")))?;
            if batch.num_rows() > 0 {
                stats.rows += batch.num_rows() as u64;
                sink.write(batch).await?;
            }
        }
        Ok(())
    }
}

/// `dateRange`, `pivotValues` and at least one metric.
const KEY_FIELDS_PLUS_ONE: usize = 3;

#[async_trait]
impl Connector for LinkedInAdsConnector {
    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    /// `ad account 508720451 "Jean's Ad Account" (USD, ACTIVE)` per account.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::with_capacity(self.account_ids.len());
        for id in &self.account_ids {
            let a = self.ad_account(id).await?;
            if let Some(c) = &a.currency {
                self.currencies.lock().await.insert(id.clone(), c.clone());
            }
            accounts.push(format!(
                "ad account {id} {:?} ({}, {})",
                a.name.as_deref().unwrap_or(""),
                a.currency.as_deref().unwrap_or("?"),
                a.status.as_deref().unwrap_or("?")
            ));
        }
        Ok(CheckReport::of(accounts, "ad accounts"))
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let mut stats = ReadStats::default();
        for account in &self.account_ids {
            match stream.name.as_str() {
                AD_ANALYTICS => {
                    self.read_analytics(account, window, sink, &mut stats)
                        .await?
                }
                CAMPAIGNS => self.read_campaigns(account, sink, &mut stats).await?,
                other => return Err(ConnectorError::UnknownStream(other.to_string())),
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}

/// `ad_analytics` (each day replaced whole, `lookback_days` read again on
/// every sync) and `campaigns` (a snapshot).
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![
        StreamDef {
            name: AD_ANALYTICS.to_string(),
            schema: ad_analytics_schema(),
            primary_key: ["date", "account_id", "campaign_id"]
                .map(String::from)
                .to_vec(),
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
            primary_key: vec!["account_id".into(), "id".into()],
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
        let streams = stream_defs(30);
        assert_eq!(streams.len(), 2);
        for s in &streams {
            s.validate().unwrap();
        }
        assert_eq!(streams[0].cursor.as_ref().unwrap().lookback_days, 30);
    }
}
