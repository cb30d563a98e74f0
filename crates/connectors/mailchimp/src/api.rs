//! Talking to the Marketing API: one GET with Mailchimp's refusals in words
//! a person can act on, and `count`/`offset` paging of a listing.
//!
//! Errors come as problem+json (`{"type", "title", "status", "detail",
//! "instance"}`); the shared client quotes `title: detail`. A 401 ("API Key
//! Invalid") and a 403 get what to check added; 429 (more than 10
//! simultaneous connections) and 5xx are retried by the client.

use arrow::record_batch::RecordBatch;
use kpi_connector::{BatchSink, ConnectorError, HttpError, HttpRequest, OffsetPager, ReadStats};
use serde_json::Value;

use crate::config::API_KEY_ENV;
use crate::connector::MailchimpConnector;

/// One paged listing: `GET /3.0/<path>`, its records in `member`.
pub(crate) struct Listing {
    /// Under `/3.0/`.
    pub path: &'static str,
    /// The array of records in a page.
    pub member: &'static str,
    /// The `fields` parameter: only what the stream keeps, and `total_items`.
    pub fields: &'static str,
}

impl MailchimpConnector {
    /// `GET /3.0/<path>` parsed as JSON, its origin (`GET url`, redacted)
    /// beside it.
    pub(crate) async fn get(
        &self,
        request: HttpRequest,
    ) -> Result<(Value, String), ConnectorError> {
        let response = self
            .client
            .send(&request)
            .await
            .map_err(|e| self.refusal(e))?;
        let body: Value = response.json()?;
        Ok((body, response.origin))
    }

    /// The URL of `/3.0/<path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/3.0/{path}", self.base_url)
    }

    /// Pages through `listing` with `params`, `page_size` records at a time,
    /// handing each page's records to `convert` and its batch to `sink`.
    /// Paging ends at a page shorter than `count` or once `total_items`
    /// records have come.
    pub(crate) async fn read_listing(
        &self,
        listing: &Listing,
        params: &[(&str, String)],
        mut convert: impl FnMut(Vec<Value>, &str) -> Result<RecordBatch, ConnectorError> + Send,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let mut pager = OffsetPager::new("offset", u64::from(self.page_size));
        let mut received: u64 = 0;
        while let Some(offset) = pager.next_offset() {
            let mut request = HttpRequest::get(self.url(listing.path))
                .query("fields", listing.fields)
                .query("count", self.page_size.to_string())
                .query("offset", offset.to_string());
            for (k, v) in params {
                request = request.query(*k, v.as_str());
            }
            let (mut body, origin) = self.get(request).await?;
            let records = match body.get_mut(listing.member).map(Value::take) {
                Some(Value::Array(records)) => records,
                _ => {
                    return Err(ConnectorError::Response {
                        origin,
                        message: format!(
                            "the body has no `{}` array (expected a /3.0/{} page)",
                            listing.member, listing.path
                        ),
                    });
                }
            };
            let total = body.get("total_items").and_then(Value::as_u64);
            let first = records
                .first()
                .and_then(|r| r.get("id"))
                .map(Value::to_string);
            let n = records.len();
            pager
                .page_read(n, first)
                .map_err(|message| ConnectorError::Response {
                    origin: origin.clone(),
                    message,
                })?;
            received += n as u64;
            let batch = convert(records, &origin)?;
            stats.page(&batch);
            if batch.num_rows() > 0 {
                sink.write(batch).await?;
            }
            if total.is_some_and(|t| received >= t) {
                break;
            }
        }
        Ok(())
    }

    /// The client's error with what to do about a refused key or role.
    pub(crate) fn refusal(&self, error: HttpError) -> ConnectorError {
        let hint = match error.status() {
            Some(401) => format!(
                "Mailchimp refused the API key: check that {API_KEY_ENV} (or the variable \
                 auth.password names) holds the whole key, its `-<dc>` suffix included, that the \
                 key is not revoked, and that base_url is its data centre"
            ),
            Some(403) => "the API key's user may not read this (its Mailchimp user role), or \
                          the account is suspended"
                .to_string(),
            _ => return ConnectorError::Http(error),
        };
        ConnectorError::Http(error.with_hint(&format!("source {}: {hint}", self.source)))
    }
}
