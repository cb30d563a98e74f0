//! The running connector: a report submitted, polled until Microsoft has
//! built it, downloaded and unzipped, for each account and window; the
//! account probe of `kpi check`; and Microsoft's refusals turned into
//! messages that say what to do.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, CursorDef, HttpClient, HttpError,
    HttpRequest, ReadStats, Secret, StreamDef, SyncWindow, WriteMode, json_rows_to_batch,
};
use serde_json::{Value, json};

use crate::campaigns::{campaign_rows, campaigns_schema, query_body};
use crate::faults::{CALL_RATE_EXCEEDED, INVALID_CREDENTIALS, USER_IS_NOT_AUTHORIZED, codes};
use crate::report::{
    Status, campaign_performance_schema, parse_report, poll_status, submit_body, unzip,
};
use crate::{CAMPAIGN_PERFORMANCE, CAMPAIGNS};

/// The settings the connector runs with, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub customer_id: String,
    pub account_ids: Vec<String>,
    pub report_time_zone: String,
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
    pub report_timeout: Duration,
    pub throttle_wait: Duration,
}

/// The Microsoft Advertising source, built by
/// [`MicrosoftAdsSource`](crate::MicrosoftAdsSource).
#[derive(Debug)]
pub struct MicrosoftAdsConnector {
    /// The API's client: bearer token, `DeveloperToken`, `CustomerId`.
    client: HttpClient,
    /// Plain GETs of the pre-signed download URLs, sharing the redactor.
    download: HttpClient,
    base_url: String,
    customer_management_url: String,
    campaign_management_url: String,
    source: String,
    refresh_var: String,
    developer_token_var: String,
    settings: Settings,
    lookback_days: u32,
}

impl MicrosoftAdsConnector {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: HttpClient,
        download: HttpClient,
        base_url: String,
        customer_management_url: String,
        campaign_management_url: String,
        source: String,
        refresh_var: String,
        developer_token_var: String,
        settings: Settings,
        lookback_days: u32,
    ) -> Self {
        MicrosoftAdsConnector {
            client,
            download,
            base_url,
            customer_management_url,
            campaign_management_url,
            source,
            refresh_var,
            developer_token_var,
            settings,
            lookback_days,
        }
    }

    /// The accounts read.
    pub fn account_ids(&self) -> &[String] {
        &self.settings.account_ids
    }

    /// The API's HTTP client (counters, redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// A refusal with the source, the account and what to do appended.
    /// Retrying is the shared client's: a 429, a 5xx or a code 117 that
    /// reaches here was retried already.
    fn explain(&self, error: HttpError, account: &str) -> ConnectorError {
        let who = format!("source {}, account {account}", self.source);
        let message = error.to_string();
        let found = codes(&message);
        let hint = if matches!(error, HttpError::TokenRefresh { .. }) {
            format!(
                "{who}: Microsoft identity refused the refresh token in {}: it has expired, was \
                 revoked or belongs to another app; sign in again (scope msads.manage \
                 offline_access) and set the new refresh token",
                self.refresh_var
            )
        } else if found.contains(&INVALID_CREDENTIALS) || error.status() == Some(401) {
            format!(
                "{who}: Microsoft refused the credentials: the access token from {} or the \
                 developer token in {} is invalid, expired or not approved for production",
                self.refresh_var, self.developer_token_var
            )
        } else if found.contains(&USER_IS_NOT_AUTHORIZED) {
            format!(
                "{who}: the signed-in user may not read account {account} of customer {}; check \
                 customer_id and account_ids, or grant the user access",
                self.settings.customer_id
            )
        } else if found.contains(&CALL_RATE_EXCEEDED) || error.status() == Some(429) {
            format!(
                "{who}: Microsoft limits calls per minute (code 117) and still refused after \
                 waiting; sync again later or lower http.max_concurrency"
            )
        } else {
            who
        };
        match error {
            // A connection that failed has no refusal to add to, but the
            // message still names whose request it was.
            HttpError::Transport {
                origin,
                kind,
                message,
                retries,
            } => ConnectorError::Http(HttpError::Transport {
                origin,
                kind,
                message: format!("{message} [{hint}]"),
                retries,
            }),
            other => ConnectorError::Http(other.with_hint(&hint)),
        }
    }

    fn bad_response(&self, origin: &str, message: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(message.as_ref()),
        }
    }

    /// `POST url` with a JSON body on behalf of `account`, parsed.
    async fn post(
        &self,
        url: String,
        account: &str,
        body: &Value,
    ) -> Result<(Value, String), ConnectorError> {
        let request = HttpRequest::post(url)
            .header("CustomerAccountId", account)
            .json(body);
        let response = self
            .client
            .send(&request)
            .await
            .map_err(|e| self.explain(e, account))?;
        let parsed: Value = response.json().map_err(|e| self.explain(e, account))?;
        Ok((parsed, response.origin))
    }

    /// Submits the report of `account` over `window` and waits until it is
    /// built: its download URL, or `None` when it has no rows.
    async fn generate(
        &self,
        account: &str,
        window: SyncWindow,
    ) -> Result<Option<String>, ConnectorError> {
        let s = &self.settings;
        let reporting = format!("{}/Reporting/v13/GenerateReport", self.base_url);
        let (body, origin) = self
            .post(
                format!("{reporting}/Submit"),
                account,
                &submit_body(account, window, &s.report_time_zone),
            )
            .await?;
        let id = match body.get("ReportRequestId") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(self.bad_response(
                    &origin,
                    format!("no ReportRequestId in the answer to GenerateReport/Submit: {body}"),
                ));
            }
        };
        let what = format!(
            "report {id} of source {}, account {account} ({} to {})",
            self.source, window.start, window.end
        );
        tracing::debug!(target: "kpi_connector_microsoft_ads", "{what} submitted");
        let started = Instant::now();
        let mut wait = s.poll_interval;
        loop {
            let (body, origin) = self
                .post(
                    format!("{reporting}/Poll"),
                    account,
                    &json!({ "ReportRequestId": id }),
                )
                .await?;
            match poll_status(&body).map_err(|m| self.bad_response(&origin, m))? {
                Status::Success(url) => return Ok(url),
                Status::Error => {
                    return Err(self.bad_response(
                        &origin,
                        format!(
                            "{what} ended with status Error: Microsoft could not build it; sync \
                             again, and if it keeps failing ask Microsoft support about report {id}"
                        ),
                    ));
                }
                Status::Pending => {}
            }
            if started.elapsed() + wait > s.report_timeout {
                return Err(self.bad_response(
                    &origin,
                    format!(
                        "{what} was still Pending after {:.0}s (report_timeout_secs {:.0})",
                        started.elapsed().as_secs_f64(),
                        s.report_timeout.as_secs_f64()
                    ),
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(s.max_poll_interval);
        }
    }

    /// One account's rows of `window`, as one batch.
    async fn read_account(
        &self,
        account: &str,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let Some(url) = self.generate(account, window).await? else {
            return Ok(());
        };
        // The URL's query is its signature: as secret as a token.
        if let Some((_, query)) = url.split_once('?') {
            self.client.redactor().add(&Secret::new(query));
        }
        let response = self
            .download
            .send(&HttpRequest::get(&url))
            .await
            .map_err(|e| self.explain(e, account))?;
        stats.pages += 1;
        let where_ = format!(
            "{} (account {account}, {} to {})",
            response.origin, window.start, window.end
        );
        let text = unzip(&response.body).map_err(|m| self.bad_response(&where_, m))?;
        let batch = parse_report(&text, window, &self.settings.report_time_zone)
            .map_err(|m| self.bad_response(&where_, format!("{CAMPAIGN_PERFORMANCE}: {m}")))?;
        if let Some(batch) = batch {
            stats.rows += batch.num_rows() as u64;
            sink.write(batch).await?;
        }
        Ok(())
    }
}

impl MicrosoftAdsConnector {
    /// One account's campaigns, as one batch.
    async fn read_campaigns(
        &self,
        account: &str,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let (body, origin) = self
            .post(
                format!(
                    "{}/CampaignManagement/v13/Campaigns/QueryByAccountId",
                    self.campaign_management_url
                ),
                account,
                &query_body(account),
            )
            .await?;
        stats.pages += 1;
        let rows = campaign_rows(&body, account)
            .map_err(|m| self.bad_response(&origin, format!("{CAMPAIGNS}: {m}")))?;
        let batch = json_rows_to_batch(&campaigns_schema(), &rows)
            .map_err(|e| self.bad_response(&origin, format!("{CAMPAIGNS}: {e}")))?;
        if batch.num_rows() > 0 {
            stats.rows += batch.num_rows() as u64;
            sink.write(batch).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for MicrosoftAdsConnector {
    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    /// `account 150000001 F1234567 "Example" (EUR, BrusselsCopenhagenMadridParis,
    /// Active)` per account, from Customer Management's `Account/Query`.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::with_capacity(self.settings.account_ids.len());
        for id in &self.settings.account_ids {
            let (body, origin) = self
                .post(
                    format!(
                        "{}/CustomerManagement/v13/Account/Query",
                        self.customer_management_url
                    ),
                    id,
                    &json!({ "AccountId": id.parse::<i64>().unwrap_or_default() }),
                )
                .await?;
            let a = body
                .get("Account")
                .filter(|a| a.is_object())
                .ok_or_else(|| self.bad_response(&origin, format!("no Account in {body}")))?;
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
            accounts.push(format!(
                "account {id} {} {:?} ({}, {}, {})",
                text("Number"),
                text("Name"),
                text("CurrencyCode"),
                text("TimeZone"),
                text("AccountLifeCycleStatus")
            ));
        }
        Ok(CheckReport::of(accounts, "accounts"))
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let downloads = self.download.stats();
        let mut stats = ReadStats::default();
        for account in &self.settings.account_ids {
            match stream.name.as_str() {
                CAMPAIGN_PERFORMANCE => {
                    self.read_account(account, window, sink, &mut stats).await?
                }
                CAMPAIGNS => self.read_campaigns(account, sink, &mut stats).await?,
                other => return Err(ConnectorError::UnknownStream(other.to_string())),
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        stats.add_http(&self.download.stats().since(&downloads));
        Ok(stats)
    }
}

/// `campaign_performance` (each day replaced whole, `lookback_days` read
/// again on every sync) and `campaigns` (a snapshot).
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![
        StreamDef {
            name: CAMPAIGN_PERFORMANCE.to_string(),
            schema: campaign_performance_schema(),
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
