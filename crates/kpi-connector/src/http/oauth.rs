//! The OAuth2 refresh-token grant and the access-token cache.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

use super::{
    Inner, api_error_message, backoff_delay, describe_transport, is_retryable_status, status_text,
};
use crate::auth::OAuth2Credentials;
use crate::http::HttpError;
use crate::secret::Secret;

/// Refresh this long before the provider says the token expires, so a token
/// does not lapse between being read from the cache and reaching the API.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// When a provider omits `expires_in`: the common one-hour lifetime. A
/// wrong guess costs one 401 and a refresh, not a failure.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

pub(crate) struct OAuth2State {
    creds: OAuth2Credentials,
    /// Held across the refresh itself, so concurrent requests that find the
    /// cache empty wait for one refresh instead of each making their own.
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
    /// The rest of the token response (Salesforce's `instance_url`), less
    /// every member that holds a credential.
    fields: Map<String, Value>,
}

/// Members of a token response that are credentials: never kept beside the
/// access token, so [`OAuth2State::response_field`] cannot hand one out.
const CREDENTIAL_MEMBERS: [&str; 4] = ["access_token", "refresh_token", "id_token", "signature"];

impl OAuth2State {
    pub(crate) fn new(creds: OAuth2Credentials) -> Self {
        OAuth2State {
            creds,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, from the cache or freshly obtained.
    pub(crate) async fn token(&self, inner: &Inner) -> Result<Secret, HttpError> {
        let cached = self.current(inner).await?;
        Ok(cached.as_ref().expect("just filled").token.clone())
    }

    /// The string member `name` of the token response that gave the
    /// current access token (refreshed first when none is cached); `None`
    /// when the response had none. Credentials are not kept, so never
    /// returned.
    pub(crate) async fn response_field(
        &self,
        inner: &Inner,
        name: &str,
    ) -> Result<Option<String>, HttpError> {
        let cached = self.current(inner).await?;
        let fields = &cached.as_ref().expect("just filled").fields;
        Ok(fields.get(name).and_then(Value::as_str).map(str::to_string))
    }

    /// The cache, holding a valid token (fetched if it did not).
    async fn current(&self, inner: &Inner) -> Result<MutexGuard<'_, Option<Cached>>, HttpError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = &*cached
            && Instant::now() < c.refresh_at
        {
            return Ok(cached);
        }
        let (token, lifetime, fields) = self.fetch(inner).await?;
        let margin = EXPIRY_MARGIN.min(lifetime / 2);
        *cached = Some(Cached {
            token,
            refresh_at: Instant::now() + lifetime - margin,
            fields,
        });
        Ok(cached)
    }

    /// Drops `used` from the cache after the API refused it. A request that
    /// got its 401 after another one already refreshed leaves the new token.
    pub(crate) async fn invalidate(&self, used: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == used) {
            *cached = None;
        }
    }

    async fn fetch(
        &self,
        inner: &Inner,
    ) -> Result<(Secret, Duration, Map<String, Value>), HttpError> {
        let c = &self.creds;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", c.refresh_token.expose()),
            ("client_id", c.client_id.expose()),
            ("client_secret", c.client_secret.expose()),
        ];
        if let Some(scope) = &c.scope {
            form.push(("scope", scope));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let token_url = inner.redactor.redact(&c.token_url);
        let fail = |status: Option<u16>, message: String| HttpError::TokenRefresh {
            token_url: token_url.clone(),
            status,
            message: inner.redactor.redact(&message),
        };

        let mut retries = 0;
        loop {
            inner.counters.token_refresh();
            let sent = inner
                .client
                .post(&c.token_url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(inner.settings.timeout)
                .body(body.clone())
                .send()
                .await;
            // Transient failures of the token endpoint get the same patience as
            // the API; a refusal (4xx) is final, the credentials are wrong.
            let transient = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let bytes = response.bytes().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        return parse_token(&bytes)
                            .map_err(|m| fail(Some(status), m))
                            .inspect(|(token, _, _)| {
                                inner.redactor.add(token);
                            });
                    }
                    let message = format!("{} {}", status_text(status), api_error_message(&bytes));
                    if !is_retryable_status(status) || retries >= inner.settings.max_retries {
                        return Err(fail(Some(status), message));
                    }
                    message
                }
                Err(e) => {
                    let (kind, message) = describe_transport(&e, inner.settings.timeout);
                    if !kind.retryable() || retries >= inner.settings.max_retries {
                        return Err(fail(None, message));
                    }
                    message
                }
            };
            let s = &inner.settings;
            let wait = backoff_delay(retries, s.backoff_base, s.backoff_max, inner.jitter.unit());
            retries += 1;
            inner.counters.retry();
            let line = inner.redactor.redact(&format!(
                "OAuth2 token refresh at {token_url}: {transient}; retrying in {:.1}s",
                wait.as_secs_f64()
            ));
            tracing::warn!(target: "kpi_connector::http", "{line}");
            tokio::time::sleep(wait).await;
        }
    }
}

fn parse_token(body: &[u8]) -> Result<(Secret, Duration, Map<String, Value>), String> {
    let mut json: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the token response is not JSON ({e})"))?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token response has no access_token".to_string())?;
    // Some providers send `expires_in` as a string.
    let lifetime = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .map(Duration::from_secs_f64)
    .unwrap_or(DEFAULT_LIFETIME);
    let token = Secret::new(token);
    let mut fields = match json.take() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for member in CREDENTIAL_MEMBERS {
        fields.remove(member);
    }
    Ok((token, lifetime, fields))
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_forms() {
        let (t, l, _) =
            parse_token(br#"{"access_token":"ya29.a","expires_in":3599,"token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!((t.expose(), l), ("ya29.a", Duration::from_secs(3599)));
        let (_, l, _) = parse_token(br#"{"access_token":"x","expires_in":"1800"}"#).unwrap();
        assert_eq!(l, Duration::from_secs(1800));
        // Salesforce's answer: no expires_in, the instance to call, and a
        // signature and refresh token that are not kept.
        let (_, l, fields) = parse_token(
            br#"{"access_token":"00D!x","instance_url":"https://acme.my.salesforce.com","signature":"s","refresh_token":"r","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(l, DEFAULT_LIFETIME);
        assert_eq!(
            fields.get("instance_url"),
            Some(&Value::from("https://acme.my.salesforce.com"))
        );
        for member in CREDENTIAL_MEMBERS {
            assert!(!fields.contains_key(member), "{member}");
        }
        let (_, l, _) = parse_token(br#"{"access_token":"x"}"#).unwrap();
        assert_eq!(l, DEFAULT_LIFETIME);
        assert_eq!(
            parse_token(br#"{"token_type":"Bearer"}"#).unwrap_err(),
            "the token response has no access_token"
        );
        assert!(
            parse_token(b"<html>")
                .unwrap_err()
                .starts_with("the token response is not JSON")
        );
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("1//0g-a_b.c~d"), "1%2F%2F0g-a_b.c~d");
        assert_eq!(form_encode("a b+c"), "a+b%2Bc");
    }
}
