//! The running connector: the validated settings, one HTTP client, paging
//! over CRM objects, and the contract (`streams`, `check`, `read`).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate};
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, ConvertError, CursorPager,
    CursorPaging, HttpClient, HttpError, HttpRequest, ReadStats, StreamDef, SyncWindow,
};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::contacts::{self, CONTACTS};
use crate::deals::{self, DEALS};

/// Settings after validation, in the form the requests use.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Without a trailing `/`.
    pub base_url: String,
    /// What to tell the user when HubSpot answers 401: names the variable
    /// to renew.
    pub auth_hint: String,
    pub company_currency: Option<String>,
    pub churn_date_property: Option<String>,
    pub extra_contact_properties: Vec<String>,
    pub extra_deal_properties: Vec<String>,
    pub page_size: u32,
    pub read_with: crate::config::ReadWith,
}

/// The HubSpot connector, built from a [`HubSpotSource`](crate::HubSpotSource).
#[derive(Debug)]
pub struct HubSpotConnector {
    pub(crate) settings: Settings,
    pub(crate) client: HttpClient,
    /// The portal's company currency, asked for at most once.
    company_currency: OnceCell<String>,
    /// HubSpot's own limit on search requests, over the client's.
    pub(crate) search_limit: kpi_connector::http::RateLimiter,
}

impl HubSpotConnector {
    pub(crate) fn new(
        settings: Settings,
        client: HttpClient,
        search_limit: kpi_connector::http::RateLimiter,
    ) -> Self {
        let company_currency = match &settings.company_currency {
            Some(c) => OnceCell::new_with(Some(c.clone())),
            None => OnceCell::new(),
        };
        HubSpotConnector {
            settings,
            client,
            company_currency,
            search_limit,
        }
    }

    /// The HTTP client (counters for the sync summary, the redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Sends `request` and parses the JSON body.
    pub(crate) async fn call(&self, request: &HttpRequest) -> Result<Value, ConnectorError> {
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| self.http_error(e))?;
        response.json().map_err(|e| self.http_error(e))
    }

    /// A failed request as the runner reports it. A refused credential or
    /// a missing scope keeps its status (the runner may look at it) and
    /// gains the remedy: for a 401, the variable to renew.
    fn http_error(&self, error: HttpError) -> ConnectorError {
        let hint = match error.status() {
            Some(401) => self.settings.auth_hint.as_str(),
            Some(403) => {
                "the credentials lack a scope this request needs (HubSpot's message names it); add it to the app"
            }
            _ => return ConnectorError::Http(error),
        };
        ConnectorError::Http(error.with_hint(hint))
    }

    /// An answer the connector cannot use, redacted.
    pub(crate) fn response_error(&self, origin: &str, message: String) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(&message),
        }
    }

    /// A page that did not fit the stream's schema: the row, field and
    /// value, with the request that fetched it.
    pub(crate) fn convert_error(&self, origin: &str, error: ConvertError) -> ConnectorError {
        self.response_error(origin, error.to_string())
    }

    /// `METHOD url` of `request`, redacted, for messages.
    pub(crate) fn origin(&self, request: &HttpRequest) -> String {
        let url = request
            .url()
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "(invalid URL)".into());
        self.client.redact(&format!("{} {url}", request.method()))
    }

    /// The currency of deals that have none: the configured one, or the
    /// portal's company currency from `/account-info/v3/details`.
    pub(crate) async fn company_currency(&self) -> Result<&str, ConnectorError> {
        let currency = self
            .company_currency
            .get_or_try_init(|| async {
                let request =
                    HttpRequest::get(format!("{}/account-info/v3/details", self.settings.base_url));
                let body = self.call(&request).await?;
                match body.get("companyCurrency").and_then(Value::as_str) {
                    Some(c) if !c.trim().is_empty() => Ok(c.trim().to_string()),
                    _ => Err(self.response_error(
                        &self.origin(&request),
                        "no companyCurrency in the account details; set company_currency in the source's settings".into(),
                    )),
                }
            })
            .await?;
        Ok(currency.as_str())
    }

    /// A pager over one CRM object type with `properties` and any further
    /// query parameters (`associations`).
    pub(crate) fn pager(
        &self,
        object: &str,
        properties: &[String],
        extra: &[(&str, &str)],
    ) -> Pager {
        let mut params = vec![
            ("limit".to_string(), self.settings.page_size.to_string()),
            ("properties".to_string(), properties.join(",")),
        ];
        params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Pager(CursorPager::new(
            CRM_PAGING,
            format!("{}/crm/v3/objects/{object}", self.settings.base_url),
            params,
        ))
    }

    /// Counts a page and hands its batch to the sink (an empty page only counts).
    pub(crate) async fn write_page(
        &self,
        batch: arrow::record_batch::RecordBatch,
        stats: &mut ReadStats,
        sink: &mut dyn BatchSink,
    ) -> Result<(), ConnectorError> {
        stats.pages += 1;
        stats.rows += batch.num_rows() as u64;
        if batch.num_rows() > 0 {
            sink.write(batch).await?;
        }
        Ok(())
    }
}

/// One page of a CRM object list.
pub(crate) struct Page {
    /// The `results` array.
    pub objects: Vec<Value>,
    /// The request that fetched it, redacted.
    pub origin: String,
}

/// CRM v3 object lists: `results`, and `after` from `paging.next.after`
/// until HubSpot sends no `paging.next`.
const CRM_PAGING: CursorPaging = CursorPaging {
    records: "/results",
    page: "a CRM v3 object page",
    cursor: "/paging/next/after",
    has_next: None,
    param: "after",
};

/// Pages through `/crm/v3/objects/{type}`.
pub(crate) struct Pager(CursorPager);

impl Pager {
    /// The next page, or `None` after the last.
    pub(crate) async fn next(
        &mut self,
        conn: &HubSpotConnector,
    ) -> Result<Option<Page>, ConnectorError> {
        let Some(request) = self.0.next_request() else {
            return Ok(None);
        };
        let origin = conn.origin(&request);
        let mut body = conn.call(&request).await?;
        let objects = self
            .0
            .take_page(&mut body)
            .map_err(|m| conn.response_error(&origin, m))?;
        Ok(Some(Page { objects, origin }))
    }
}

/// A HubSpot timestamp as the RFC 3339 string the Arrow converter takes.
/// Datetime properties come as ISO 8601 (`2024-03-01T10:00:00.123Z`), date
/// properties as `2024-03-01` (midnight UTC, HubSpot's convention), and
/// older payloads as epoch milliseconds. Anything else is passed on for the
/// converter to report with its row and field.
pub(crate) fn timestamp(v: Option<&Value>) -> Value {
    let millis = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
    };
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(millis)
            .unwrap_or_else(|| n.clone().into()),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Value::Null
            } else if s.len() >= 10 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok().and_then(millis).unwrap_or_else(|| s.into())
            } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Value::from(format!("{d}T00:00:00Z"))
            } else {
                Value::from(s)
            }
        }
        Some(other) => other.clone(),
    }
}

#[async_trait]
impl Connector for HubSpotConnector {
    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    fn streams(&self) -> Vec<StreamDef> {
        vec![
            contacts::stream_def(&self.settings.extra_contact_properties),
            deals::stream_def(&self.settings.extra_deal_properties),
        ]
    }

    /// `GET /crm/v3/objects/contacts?limit=1`: proves the credentials work
    /// and can read contacts.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let request = HttpRequest::get(format!(
            "{}/crm/v3/objects/contacts",
            self.settings.base_url
        ))
        .query("limit", "1");
        let origin = self.origin(&request);
        let body = self.call(&request).await?;
        if !body.get("results").is_some_and(Value::is_array) {
            return Err(self.response_error(&origin, "the body has no `results` array".into()));
        }
        Ok(CheckReport {
            summary: "HubSpot CRM: contacts readable".into(),
            accounts: Vec::new(),
        })
    }

    /// Both streams are snapshots: `window` does not apply, every object is
    /// read.
    async fn read(
        &self,
        stream: &StreamDef,
        _window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        match stream.name.as_str() {
            CONTACTS => self.read_contacts(sink).await,
            DEALS => self.read_deals(sink).await,
            other => Err(ConnectorError::UnknownStream(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_in_hubspot_shapes() {
        assert_eq!(
            timestamp(Some(&json!("2021-02-23T20:08:49.603000+00:00"))),
            json!("2021-02-23T20:08:49.603000+00:00")
        );
        assert_eq!(
            timestamp(Some(&json!("2024-03-01"))),
            json!("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            timestamp(Some(&json!("1713702782727"))),
            json!("2024-04-21T12:33:02.727Z")
        );
        assert_eq!(timestamp(Some(&json!(""))), Value::Null);
        assert_eq!(timestamp(None), Value::Null);
        assert_eq!(timestamp(Some(&json!("soon"))), json!("soon"));
    }
}
