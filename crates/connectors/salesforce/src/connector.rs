//! The running connector: the validated settings, one HTTP client, the
//! instance the queries go to, SOQL paging and Salesforce's errors, and the
//! contract (`streams`, `check`, `read`).

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, HttpClient, HttpError, HttpRequest,
    NextUrlPager, NextUrlPaging, ReadStats, StreamDef, SyncWindow, json_rows_to_batch,
};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::objects::{CONTACTS, Filled, LEADS, OPPORTUNITIES, Object, object, row, soql};

/// Settings after validation, in the form the requests use.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The instance, when `base_url` names it (without a trailing `/`);
    /// `None`: the token response's `instance_url`.
    pub instance: Option<String>,
    pub api_version: String,
    pub org_currency: Option<String>,
    pub mql_date_field: Option<String>,
    pub churn_date_field: Option<String>,
    pub batch_size: u32,
    /// What to tell the user when Salesforce refuses the session twice.
    pub auth_hint: String,
    pub streams: Vec<StreamDef>,
}

/// The Salesforce connector, built from a
/// [`SalesforceSource`](crate::SalesforceSource).
#[derive(Debug)]
pub struct SalesforceConnector {
    pub(crate) settings: Settings,
    client: HttpClient,
    /// The instance queries go to, decided once.
    instance: OnceCell<String>,
}

/// A query result page: `records`, then `nextRecordsUrl` until `done`.
const QUERY_PAGING: NextUrlPaging = NextUrlPaging {
    records: "/records",
    page: "a SOQL query result",
    next: "/nextRecordsUrl",
    done: Some("/done"),
};

/// The refusal Salesforce sends when too many requests of the org run at
/// once (not its daily limit): 403 `REQUEST_LIMIT_EXCEEDED` with
/// `ConcurrentPerOrgLongTxn` (or another concurrent limit) in the message.
pub(crate) fn is_concurrency_limit(status: u16, message: &str) -> bool {
    status == 403 && message.starts_with("REQUEST_LIMIT_EXCEEDED") && message.contains("Concurrent")
}

impl SalesforceConnector {
    pub(crate) fn new(settings: Settings, client: HttpClient) -> Self {
        let instance = match &settings.instance {
            Some(i) => OnceCell::new_with(Some(i.clone())),
            None => OnceCell::new(),
        };
        SalesforceConnector {
            settings,
            client,
            instance,
        }
    }

    /// The HTTP client (counters for the sync summary, the redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The instance every query goes to: `base_url`, or the `instance_url`
    /// of the token response (the login gets it, then it is kept).
    pub async fn instance(&self) -> Result<&str, ConnectorError> {
        let instance = self
            .instance
            .get_or_try_init(|| async {
                let url = self
                    .client
                    .token_response_field("instance_url")
                    .await
                    .map_err(|e| self.http_error(None, e))?;
                let url = url.map(|u| u.trim().trim_end_matches('/').to_string());
                match url {
                    Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(u),
                    other => Err(ConnectorError::Response {
                        origin: "the OAuth2 token response".into(),
                        message: format!(
                            "no usable instance_url ({}); set base_url to the org's instance",
                            other.as_deref().unwrap_or("none")
                        ),
                    }),
                }
            })
            .await?;
        Ok(instance.as_str())
    }

    /// `/services/data/vXX.X` on the instance.
    async fn data_url(&self) -> Result<String, ConnectorError> {
        Ok(format!(
            "{}/services/data/{}",
            self.instance().await?,
            self.settings.api_version
        ))
    }

    /// A failed request as the runner reports it: Salesforce's
    /// `errorCode: message` (the client quotes it), and what to do.
    fn http_error(&self, sobject: Option<&str>, error: HttpError) -> ConnectorError {
        let message = error.to_string();
        let what = sobject.map_or_else(String::new, |o| format!(" of {o}"));
        let hint = match error.status() {
            Some(401) => self.settings.auth_hint.clone(),
            Some(403) if message.contains("REQUEST_LIMIT_EXCEEDED") => {
                "the org's daily API request limit is used up (a rolling 24 hours, shown in Setup > Company Information > API Requests); kpi does not retry it: sync again once requests are available, or ask Salesforce for a higher limit".to_string()
            }
            Some(400) if message.contains("INVALID_FIELD") && message.contains("CurrencyIsoCode") => format!(
                "Salesforce refused the query{what}: the org has no multi-currency; set org_currency to its currency"
            ),
            Some(400) if ["INVALID_FIELD", "MALFORMED_QUERY", "INVALID_TYPE", "INVALID_QUERY_FILTER_OPERATOR"]
                .iter()
                .any(|code| message.contains(code)) => format!(
                "Salesforce refused the query{what}: a field named in the settings (mql_date_field, churn_date_field) may not exist on it, or this user may not see the field or object"
            ),
            Some(403) | Some(404) => format!(
                "the user cannot read{what}: check its profile's object and field permissions and API access"
            ),
            _ => return ConnectorError::Http(error),
        };
        ConnectorError::Http(error.with_hint(&hint))
    }

    /// The SOQL field list of `object`: its fields and the configured ones.
    fn fields(&self, object: &Object) -> (Vec<String>, Vec<(&'static str, Filled)>) {
        let mut fields: Vec<String> = object.fields.iter().map(|f| f.0.to_string()).collect();
        let mut from = Vec::new();
        let custom = match object.stream {
            LEADS => Some(("mql_date", &self.settings.mql_date_field)),
            CONTACTS => Some(("churn_date", &self.settings.churn_date_field)),
            _ => None,
        };
        if let Some((column, Some(field))) = custom {
            if !fields.contains(field) {
                fields.push(field.clone());
            }
            from.push((column, Filled::Field(field.clone())));
        }
        if object.stream == OPPORTUNITIES {
            match &self.settings.org_currency {
                Some(c) => from.push(("CurrencyIsoCode", Filled::Value(Value::from(c.as_str())))),
                None => {
                    fields.push("CurrencyIsoCode".into());
                    from.push(("CurrencyIsoCode", Filled::Field("CurrencyIsoCode".into())));
                }
            }
        }
        (fields, from)
    }

    /// Reads `object`'s records changed in `window` into `sink`, a page at
    /// a time.
    async fn read_object(
        &self,
        object: &Object,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let before = self.client.stats();
        let (fields, from) = self.fields(object);
        let schema = object.schema();
        let first = HttpRequest::get(format!("{}/query", self.data_url().await?))
            .query("q", soql(object.sobject, &fields, window))
            .header(
                "Sforce-Query-Options",
                format!("batchSize={}", self.settings.batch_size),
            );
        let instance = self.instance().await?.to_string();
        let mut pager = NextUrlPager::new(QUERY_PAGING, &instance, first);
        let mut stats = ReadStats::default();
        while let Some(request) = pager.next_request() {
            let origin = self.origin(&request);
            let response = self
                .client
                .send(&request)
                .await
                .map_err(|e| self.http_error(Some(object.sobject), e))?;
            let mut body: Value = response
                .json()
                .map_err(|e| self.http_error(Some(object.sobject), e))?;
            let records = pager
                .take_page(&mut body)
                .map_err(|m| self.response_error(&origin, m))?;
            let rows: Vec<Value> = records.iter().map(|r| row(object, r, &from)).collect();
            let batch = json_rows_to_batch(&schema, &rows)
                .map_err(|e| self.response_error(&origin, e.to_string()))?;
            stats.page(&batch);
            if batch.num_rows() > 0 {
                sink.write(batch).await?;
            }
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }

    /// An answer the connector cannot use, redacted.
    fn response_error(&self, origin: &str, message: String) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(&message),
        }
    }

    /// `METHOD url` of `request`, redacted, for messages.
    fn origin(&self, request: &HttpRequest) -> String {
        let url = request
            .url()
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "(invalid URL)".into());
        self.client.redact(&format!("{} {url}", request.method()))
    }
}

#[async_trait]
impl Connector for SalesforceConnector {
    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    fn streams(&self) -> Vec<StreamDef> {
        self.settings.streams.clone()
    }

    /// `GET /services/data/vXX.X/limits`: proves the login and the instance
    /// work, and tells how much of the daily API limit is left.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let request = HttpRequest::get(format!("{}/limits", self.data_url().await?));
        let origin = self.origin(&request);
        let body: Value = self
            .client
            .send(&request)
            .await
            .and_then(|r| r.json())
            .map_err(|e| self.http_error(None, e))?;
        let daily = body.get("DailyApiRequests");
        let n = |k: &str| daily.and_then(|d| d.get(k)).and_then(Value::as_i64);
        let (Some(max), Some(remaining)) = (n("Max"), n("Remaining")) else {
            return Err(self.response_error(&origin, "no DailyApiRequests in the limits".into()));
        };
        Ok(CheckReport {
            summary: format!(
                "Salesforce {}: {remaining} of {max} daily API requests left",
                self.instance().await?
            ),
            accounts: Vec::new(),
        })
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        let object = object(&stream.name)
            .ok_or_else(|| ConnectorError::UnknownStream(stream.name.clone()))?;
        self.read_object(object, window, sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_concurrent_limit_is_waited_out() {
        assert!(is_concurrency_limit(
            403,
            "REQUEST_LIMIT_EXCEEDED: ConcurrentPerOrgLongTxn Limit exceeded."
        ));
        assert!(!is_concurrency_limit(
            403,
            "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
        ));
        assert!(!is_concurrency_limit(400, "MALFORMED_QUERY: x"));
    }
}
