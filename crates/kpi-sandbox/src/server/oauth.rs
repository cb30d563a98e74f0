//! The OAuth2 side of the sandbox: the refresh-token grant at Google's
//! `POST /token`, HubSpot's `POST /oauth/v1/token`, LinkedIn's and
//! Microsoft identity's (`POST /common/oauth2/v2.0/token`), and the access tokens
//! it hands out, which the Google Ads, GA4 and HubSpot emulations accept.
//!
//! Tokens are remembered with their expiry so that an expired or revoked
//! one is refused the way the real APIs refuse it; the `ExpiredToken` fault
//! revokes the token the request carried, so the client's one refresh
//! really is needed and really works.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::Credentials;
use super::http::{ApiRequest, Reply};

/// Lifetime of an access token from Google's endpoint, as Google gives it.
const GOOGLE_LIFETIME: Duration = Duration::from_secs(3599);
/// Lifetime of an access token from LinkedIn's endpoint (60 days).
const LINKEDIN_LIFETIME: Duration = Duration::from_secs(5_183_999);
/// Lifetime of an access token from Microsoft identity (60 to 90 minutes).
const MICROSOFT_LIFETIME: Duration = Duration::from_secs(3600);
/// Lifetime of an access token from HubSpot's endpoint.
const HUBSPOT_LIFETIME: Duration = Duration::from_secs(1800);
/// A Salesforce session's default timeout (its token response says none).
const SALESFORCE_LIFETIME: Duration = Duration::from_secs(7200);

/// Which provider's token endpoint answered (the shapes differ a little).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    Google,
    HubSpot,
    LinkedIn,
    Salesforce,
    Microsoft,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a token this sandbox issued (or a wrong fixed token).
    Invalid,
    /// Issued here, but expired or revoked.
    Expired,
}

/// Access tokens issued, with their expiry.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Instant>>,
    /// Revoked tokens are remembered so their refusal says "expired", as
    /// Google and HubSpot say for a token that was once valid.
    revoked: Mutex<HashSet<String>>,
    next: AtomicU64,
}

impl Tokens {
    pub(crate) fn issue(&self, provider: Provider) -> (String, Duration) {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (token, lifetime) = match provider {
            // Shaped like each provider's tokens, so redaction and logs look real.
            Provider::Google => (format!("ya29.sandbox-{n:06}"), GOOGLE_LIFETIME),
            Provider::HubSpot => (format!("CN-sandbox-hubspot-{n:06}"), HUBSPOT_LIFETIME),
            Provider::LinkedIn => (format!("AQV-sandbox-linkedin-{n:06}"), LINKEDIN_LIFETIME),
            Provider::Salesforce => (
                format!("00D5g000004SBXE!sandbox.salesforce.{n:06}"),
                SALESFORCE_LIFETIME,
            ),
            Provider::Microsoft => (format!("EwB-sandbox-msads-{n:06}"), MICROSOFT_LIFETIME),
        };
        lock(&self.issued).insert(token.clone(), Instant::now() + lifetime);
        (token, lifetime)
    }

    /// Whether `token` is a live access token issued here.
    pub fn check(&self, token: Option<&str>) -> Result<(), TokenProblem> {
        let token = token.ok_or(TokenProblem::Missing)?;
        match lock(&self.issued).get(token) {
            Some(expiry) if Instant::now() < *expiry => Ok(()),
            Some(_) => Err(TokenProblem::Expired),
            None if lock(&self.revoked).contains(token) => Err(TokenProblem::Expired),
            None => Err(TokenProblem::Invalid),
        }
    }

    /// Makes `token` expire now (the `ExpiredToken` fault).
    pub fn revoke(&self, token: &str) {
        if lock(&self.issued).remove(token).is_some() {
            lock(&self.revoked).insert(token.to_string());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `POST /token` (Google) or `POST /oauth/v1/token` (HubSpot) with
/// `grant_type=refresh_token`.
pub(crate) fn token_endpoint(
    provider: Provider,
    req: &ApiRequest,
    creds: &Credentials,
    tokens: &Tokens,
) -> Reply {
    let form = req.form();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let error = |status: u16, code: &str, description: &str| {
        Reply::json(
            status,
            &json!({"error": code, "error_description": description}),
        )
    };
    match get("grant_type") {
        Some("refresh_token") => {}
        Some(other) => {
            return error(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
        None => {
            return error(
                400,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
        }
    }
    if get("client_id") != Some(creds.client_id.as_str())
        || get("client_secret") != Some(creds.client_secret.as_str())
    {
        // Google's answer for an unknown client or a wrong secret.
        return error(401, "invalid_client", "The OAuth client was not found.");
    }
    if provider == Provider::Microsoft
        && !get("scope").is_some_and(|s| s.split(' ').any(|s| s.ends_with("msads.manage")))
    {
        return error(
            400,
            "invalid_scope",
            "AADSTS70011: The provided request must include a 'scope' input parameter for \
             Microsoft Advertising (https://ads.microsoft.com/msads.manage).",
        );
    }
    if get("refresh_token") != Some(creds.refresh_token.as_str()) {
        return match provider {
            // Salesforce's own endpoint is in salesforce.rs.
            Provider::Google | Provider::Salesforce => error(400, "invalid_grant", "Bad Request"),
            Provider::Microsoft => error(
                400,
                "invalid_grant",
                "AADSTS70000: The provided value for the 'refresh_token' is not valid: the grant \
                 is expired or revoked.",
            ),
            Provider::LinkedIn => error(
                400,
                "invalid_request",
                "The provided authorization grant or refresh token is invalid, expired or revoked.",
            ),
            Provider::HubSpot => Reply::json(
                400,
                &json!({
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "error": "invalid_grant",
                    "error_description": "missing or unknown refresh token",
                }),
            ),
        };
    }
    let (token, lifetime) = tokens.issue(provider);
    let body = match provider {
        Provider::Google | Provider::Salesforce => json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "scope": "https://www.googleapis.com/auth/adwords https://www.googleapis.com/auth/analytics.readonly",
            "token_type": "Bearer",
        }),
        Provider::LinkedIn => json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "refresh_token": creds.refresh_token,
            "refresh_token_expires_in": 31_536_000,
            "scope": "r_ads,r_ads_reporting",
        }),
        Provider::Microsoft => json!({
            "token_type": "Bearer",
            "scope": "https://ads.microsoft.com/msads.manage",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": token,
            "refresh_token": creds.refresh_token,
        }),
        Provider::HubSpot => json!({
            "token_type": "bearer",
            "refresh_token": creds.refresh_token,
            "access_token": token,
            "expires_in": lifetime.as_secs(),
        }),
    };
    Reply::json(200, &body).header(
        "cache-control",
        "no-cache, no-store, max-age=0, must-revalidate",
    )
}

/// The `invalid_grant` answer of an expired refresh token (the
/// `ExpiredToken` fault on the token endpoint itself).
pub(crate) fn expired_refresh_token() -> Reply {
    Reply::json(
        400,
        &json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
    )
}

/// The OAuth2 token endpoints of Google, HubSpot and LinkedIn, which every
/// source with a refresh token posts to.
pub(crate) struct TokenEndpoints;

impl TokenEndpoints {
    fn provider(pattern: &str) -> Provider {
        use super::patterns::*;
        match pattern {
            GOOGLE_TOKEN => Provider::Google,
            HUBSPOT_TOKEN => Provider::HubSpot,
            MICROSOFT_TOKEN => Provider::Microsoft,
            _ => Provider::LinkedIn,
        }
    }

    /// Google's endpoint answers faults in Google's format, HubSpot's and
    /// LinkedIn's in HubSpot's.
    fn is_google(req: &ApiRequest) -> bool {
        req.path.trim_matches('/') == "token"
    }
}

impl super::emulation::Emulation for TokenEndpoints {
    fn name(&self) -> &'static str {
        "OAuth2 token endpoints"
    }

    fn route(&self, method: &hyper::Method, segments: &[&str]) -> Option<&'static str> {
        use super::patterns::*;
        if *method != hyper::Method::POST {
            return None;
        }
        match segments {
            ["token"] => Some(GOOGLE_TOKEN),
            ["oauth", "v1", "token"] => Some(HUBSPOT_TOKEN),
            ["oauth", "v2", "accessToken"] => Some(LINKEDIN_TOKEN),
            ["common", "oauth2", "v2.0", "token"] => Some(MICROSOFT_TOKEN),
            _ => None,
        }
    }

    fn respond(&self, sb: &super::Shared, pattern: &'static str, req: &ApiRequest) -> Reply {
        token_endpoint(
            Self::provider(pattern),
            req,
            &sb.config.credentials,
            &sb.tokens,
        )
    }

    fn rate_limited(&self, req: &ApiRequest, _retry_after_secs: u32) -> Reply {
        match Self::is_google(req) {
            true => super::ga4::rate_limited(),
            false => super::hubspot::rate_limited(0),
        }
    }

    fn internal_error(&self, req: &ApiRequest) -> Reply {
        match Self::is_google(req) {
            true => super::ga4::internal_error(),
            false => super::hubspot::internal_error(0),
        }
    }

    fn token_expired(&self, _req: &ApiRequest) -> Reply {
        expired_refresh_token()
    }

    fn sources_toml(&self, _base: &str, _store: &super::data::Store) -> String {
        String::new()
    }

    fn is_api(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_live_until_revoked() {
        let t = Tokens::default();
        let (a, life) = t.issue(Provider::Google);
        assert_eq!(life.as_secs(), 3599);
        assert!(a.starts_with("ya29."));
        assert_eq!(t.check(Some(&a)), Ok(()));
        assert_eq!(t.check(None), Err(TokenProblem::Missing));
        assert_eq!(t.check(Some("nope")), Err(TokenProblem::Invalid));
        t.revoke(&a);
        assert_eq!(t.check(Some(&a)), Err(TokenProblem::Expired));
        let (b, _) = t.issue(Provider::HubSpot);
        assert_ne!(a, b);
        assert_eq!(t.check(Some(&b)), Ok(()));
    }
}
