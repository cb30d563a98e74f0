//! Talking to the Graph API: one call with Meta's own throttling and token
//! errors understood, and cursor paging.

use kpi_connector::{
    ConnectorError, ConvertError, CursorPager, CursorPaging, HttpError, HttpRequest,
};
use serde_json::Value;

use crate::connector::MetaAdsConnector;

/// Meta's rate-limit error codes: 4 (app), 17 (user), 32 (page), 613
/// (calls within a window), 80000-80014 (business use case limits, e.g.
/// 80004 for ads insights). Meta sends them as HTTP 400 or 403 with
/// `is_transient`, so the shared client, which retries only 429 and 5xx,
/// hands them back; waiting is the documented remedy.
fn is_throttle_code(code: u32) -> bool {
    matches!(code, 4 | 17 | 32 | 613 | 80000..=80014)
}

/// The `(#17)` code Meta puts at the start of most error messages. The
/// shared client keeps only `error.message`, so this is where the code is.
pub(crate) fn message_code(message: &str) -> Option<u32> {
    let rest = message.trim_start().strip_prefix("(#")?;
    let (digits, _) = rest.split_once(')')?;
    digits.parse().ok()
}

/// Error 190 and its relatives: the token expired, was revoked, or is
/// malformed. Its message ("Error validating access token: Session has
/// expired on …", "Invalid OAuth access token", "Malformed access token")
/// carries no `(#190)`, so the words decide.
fn is_token_error(error: &HttpError) -> bool {
    let HttpError::Status {
        status, message, ..
    } = error
    else {
        return false;
    };
    if !matches!(status, 400 | 401 | 403) {
        return false;
    }
    let code = message_code(message);
    let lower = message.to_ascii_lowercase();
    code == Some(190)
        || code.is_none()
            && (lower.contains("access token") || lower.contains("session has expired"))
}

/// The shared client's throttle rule: a 400 or 403 whose message starts
/// with one of Meta's rate-limit codes.
pub(crate) fn is_throttled(status: u16, message: &str) -> bool {
    matches!(status, 400 | 403) && message_code(message).is_some_and(is_throttle_code)
}

impl MetaAdsConnector {
    /// Sends `request` and parses the JSON body. Meta's rate limits are
    /// waited out by the client (its throttle rule, [`is_throttled`]).
    pub(crate) async fn call(&self, request: &HttpRequest) -> Result<Value, ConnectorError> {
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| self.http_error(e))?;
        let body: Value = response.json().map_err(|e| self.http_error(e))?;
        // A 200 can still carry an error object (Meta does this behind some
        // proxies and for partial failures).
        if let Some(error) = body.get("error").filter(|e| e.is_object()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            return Err(self.response_error(
                &response.origin,
                format!("Meta answered 200 with an error: {message}"),
            ));
        }
        Ok(body)
    }

    /// A failed request as the runner reports it. A refused token keeps
    /// its status (the runner may look at it) and gains the remedy, with
    /// the variable to renew.
    pub(crate) fn http_error(&self, error: HttpError) -> ConnectorError {
        if !is_token_error(&error) {
            return ConnectorError::Http(error);
        }
        let env = &self.settings.token_env;
        ConnectorError::Http(error.with_hint(&format!(
            "Meta refused the access token in {env} (error 190: expired, revoked or invalid); \
             create a new token (a system-user token does not expire) and set {env}"
        )))
    }

    /// An answer the connector cannot use, redacted.
    pub(crate) fn response_error(&self, origin: &str, message: String) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(&message),
        }
    }

    /// A page that did not fit the stream's schema: the row, field and value.
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
}

/// One page of a Graph API edge.
pub(crate) struct Page {
    /// The `data` array.
    pub rows: Vec<Value>,
    /// The request that fetched it, redacted.
    pub origin: String,
}

/// Graph API edges: `data`, and `paging.cursors.after` while Meta says
/// there is a `paging.next` (it keeps a cursor on the last page too).
const EDGE_PAGING: CursorPaging = CursorPaging {
    records: "/data",
    page: "a Graph API edge page",
    cursor: "/paging/cursors/after",
    has_next: Some("/paging/next"),
    param: "after",
};

/// Reads an edge page by page (see [`CursorPager`]).
pub(crate) struct Pager(CursorPager);

impl Pager {
    pub(crate) fn new(url: String, params: Vec<(String, String)>) -> Self {
        Pager(CursorPager::new(EDGE_PAGING, url, params))
    }

    /// The next page, or `None` after the last.
    pub(crate) async fn next(
        &mut self,
        conn: &MetaAdsConnector,
    ) -> Result<Option<Page>, ConnectorError> {
        let Some(request) = self.0.next_request() else {
            return Ok(None);
        };
        let origin = conn.origin(&request);
        let mut body = conn.call(&request).await?;
        let rows = self
            .0
            .take_page(&mut body)
            .map_err(|m| conn.response_error(&origin, m))?;
        Ok(Some(Page { rows, origin }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> HttpError {
        HttpError::Status {
            origin: "GET x".into(),
            status,
            message: message.into(),
            retries: 0,
        }
    }

    #[test]
    fn codes_from_messages() {
        assert_eq!(message_code("(#17) User request limit reached"), Some(17));
        assert_eq!(
            message_code("(#80004) There have been too many calls"),
            Some(80004)
        );
        assert_eq!(message_code("Error validating access token"), None);
        assert!(is_throttled(400, "(#17) User request limit reached"));
        assert!(is_throttled(403, "(#80004) There have been too many calls"));
        assert!(!is_throttled(400, "(#100) Invalid parameter"));
        assert!(!is_throttled(500, "(#17) x"));
    }

    #[test]
    fn token_errors() {
        assert!(is_token_error(&status(
            400,
            "Error validating access token: Session has expired on Friday, 06-Jun-25 02:00:00 PDT."
        )));
        assert!(is_token_error(&status(
            401,
            "Invalid OAuth access token - Cannot parse access token"
        )));
        assert!(is_token_error(&status(
            400,
            "(#190) Malformed access token"
        )));
        assert!(!is_token_error(&status(400, "(#100) Invalid parameter")));
        assert!(!is_token_error(&status(500, "Invalid OAuth access token")));
    }
}
