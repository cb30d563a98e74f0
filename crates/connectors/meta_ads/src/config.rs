//! `[sources.<name>]` with `type = "meta_ads"`: the user's settings, and the
//! step that turns them into a running connector.

use std::time::Duration;

use kpi_connector::{Auth, Endpoints, HttpClient, HttpConfig, HttpSettings, SecretRef};
use serde::Deserialize;

use crate::connector::{MetaAdsConnector, Settings};
use crate::error::MetaAdsError;

/// The Graph API version used when `api_version` is not set. Meta keeps a
/// version for about two years after the next one ships; bump it here (and
/// re-run the tests) when v23.0 approaches its end-of-life date.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// The real Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// Meta revises conversions for up to 28 days (late attribution, removed
/// invalid activity), so every sync reads the last 28 days again.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 28;
/// Rows per insights or campaigns page. Meta accepts more, but large pages of
/// insights with `actions` are the usual cause of its "Please reduce the
/// amount of data you're asking for" error.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Windows longer than this many days are read through asynchronous report
/// runs, which Meta recommends for large requests (a synchronous request over
/// months of daily rows tends to time out).
pub const DEFAULT_ASYNC_AFTER_DAYS: u32 = 31;

/// `[sources.<name>]` for `type = "meta_ads"`.
///
/// ```toml
/// [sources.meta_ads]
/// type = "meta_ads"
/// ad_account_ids = ["act_1234567890", "9876543210"]
/// access_token = { env = "META_ACCESS_TOKEN" }
/// # Optional, with their defaults:
/// api_version = "v23.0"
/// base_url = "https://graph.facebook.com"
/// action_attribution_windows = ["7d_click", "1d_view"]
/// lookback_days = 28
/// page_size = 100
/// async_after_days = 31
/// async_poll_interval_secs = 5.0
/// async_timeout_secs = 3600.0
/// throttle_wait_secs = 60.0
/// throttle_retries = 3
///
/// [sources.meta_ads.http]
/// timeout_secs = 120
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaAdsConfig {
    /// The ad accounts to read, as shown in Ads Manager (`1234567890`) or
    /// with the Graph API prefix (`act_1234567890`). Each account is read
    /// separately; its rows carry its `account_id` and currency.
    pub ad_account_ids: Vec<String>,
    /// The environment variable holding a long-lived access token with the
    /// `ads_read` permission: a system-user token from Business Manager
    /// (does not expire) or a 60-day user token. Sent as
    /// `Authorization: Bearer`, and scrubbed from every log line and error.
    pub access_token: SecretRef,
    /// The Graph API version in every path, e.g. `v23.0`. Default
    /// [`DEFAULT_API_VERSION`].
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Where the Graph API lives. Default `https://graph.facebook.com`; point
    /// it at the sandbox (`http://127.0.0.1:PORT`) to try a configuration
    /// without touching real accounts.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The attribution windows conversions are counted in, sent as
    /// `action_attribution_windows`. Each `actions_*` column is the sum of
    /// the action's values in these windows. At most one click window
    /// (`1d_click`, `7d_click`, `28d_click`) and one view window (`1d_view`,
    /// `7d_view`, `28d_view`) plus `1d_ev` (engaged view): click windows
    /// nest (`28d_click` includes `7d_click`), so two of them would count a
    /// conversion twice. An empty list sends no windows and uses Meta's own
    /// `value`. Default `["7d_click", "1d_view"]`, Meta's default setting.
    #[serde(default = "default_windows")]
    pub action_attribution_windows: Vec<String>,
    /// Days before the last synced day that every sync reads again, so that
    /// revised conversions replace the old numbers. Default 28: Meta revises
    /// insights for up to 28 days.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Rows per page (`limit`), 1 to 5000. Default 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Windows of more than this many days are read with asynchronous report
    /// runs instead of one synchronous request (a first sync or a backfill,
    /// not the nightly lookback). Default 31.
    #[serde(default = "default_async_after_days")]
    pub async_after_days: u32,
    /// Seconds between two polls of an asynchronous report run. Default 5.
    #[serde(default = "default_poll_secs")]
    pub async_poll_interval_secs: f64,
    /// Seconds an asynchronous report run may take before the sync fails.
    /// Default 3600.
    #[serde(default = "default_async_timeout_secs")]
    pub async_timeout_secs: f64,
    /// Seconds to wait after Meta says a rate limit was reached (error codes
    /// 4, 17, 32, 613, 80000-80014, sent as HTTP 400, not 429); the wait
    /// doubles on each further refusal. Default 60.
    #[serde(default = "default_throttle_wait_secs")]
    pub throttle_wait_secs: f64,
    /// How many times a request refused for a rate limit is sent again
    /// before the sync fails. Default 3.
    #[serde(default = "default_throttle_retries")]
    pub throttle_retries: u32,
    /// Timeouts, retries and rate limit of the HTTP client; see
    /// `kpi_connector::HttpConfig`. The Meta defaults: 120 s per request
    /// (insights pages are slow), 4 requests in flight.
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}
fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_windows() -> Vec<String> {
    vec!["7d_click".to_string(), "1d_view".to_string()]
}
fn default_lookback() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_async_after_days() -> u32 {
    DEFAULT_ASYNC_AFTER_DAYS
}
fn default_poll_secs() -> f64 {
    5.0
}
fn default_async_timeout_secs() -> f64 {
    3600.0
}
fn default_throttle_wait_secs() -> f64 {
    60.0
}
fn default_throttle_retries() -> u32 {
    3
}

/// Meta's HTTP defaults: insights pages over many campaigns can take tens
/// of seconds to compute, so the per-request timeout is twice the crate's.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(120),
        ..HttpSettings::default()
    }
}

impl MetaAdsConfig {
    /// Checks the settings, reads the token from the process environment and
    /// builds the connector. `source` is the source's name in `kpi.toml`,
    /// used in messages.
    pub fn build(&self, source: &str) -> Result<MetaAdsConnector, MetaAdsError> {
        self.build_with(source, &|name| std::env::var(name).ok())
    }

    /// [`build`](Self::build), reading secrets through `lookup` (a secrets
    /// file layered over the environment, or a fixed map in tests).
    pub fn build_with(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<MetaAdsConnector, MetaAdsError> {
        let settings = self.validate(source)?;
        let token =
            self.access_token
                .resolve_with(lookup)
                .map_err(|error| MetaAdsError::Secret {
                    source_name: source.to_string(),
                    error,
                })?;
        // Meta's rate-limit codes come as 400/403: a rule of the shared
        // client waits them out (see `api::is_throttled`).
        let client = HttpClient::builder(&self.http, http_defaults())
            .auth(Auth::Bearer(token))
            .throttle_rule(kpi_connector::ThrottleRule {
                matches: crate::api::is_throttled,
                wait: settings.throttle_wait,
                attempts: settings.throttle_retries,
            })
            .build()
            .map_err(|error| MetaAdsError::Http {
                source_name: source.to_string(),
                error: Box::new(error),
            })?;
        Ok(MetaAdsConnector::new(settings, client))
    }

    /// Where requests go: the Graph API. A long-lived access token needs
    /// no token endpoint.
    pub fn endpoints(&self, source: &str) -> Result<Endpoints, MetaAdsError> {
        self.validate(source)?;
        Ok(Endpoints {
            base_url: self.base_url.trim().trim_end_matches('/').to_string(),
            token_url: None,
        })
    }

    fn validate(&self, source: &str) -> Result<Settings, MetaAdsError> {
        let invalid = |message: String| MetaAdsError::Config {
            source_name: source.to_string(),
            message,
        };
        if self.ad_account_ids.is_empty() {
            return Err(invalid("ad_account_ids is empty".into()));
        }
        let mut accounts = Vec::new();
        for id in &self.ad_account_ids {
            let digits = id.trim().trim_start_matches("act_");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!(
                    "ad_account_ids: {id:?} is not an ad account id (digits, optionally prefixed with act_)"
                )));
            }
            if !accounts.iter().any(|a: &String| a == digits) {
                accounts.push(digits.to_string());
            }
        }
        let version = self.api_version.trim();
        let valid_version = version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.bytes().all(|b| b.is_ascii_digit())
                    && minor.bytes().all(|b| b.is_ascii_digit())
            });
        if !valid_version {
            return Err(invalid(format!(
                "api_version {version:?} is not a Graph API version such as \"{DEFAULT_API_VERSION}\""
            )));
        }
        let base_url = self.base_url.trim().trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(invalid(format!(
                "base_url {base_url:?} must start with https:// (or http:// for a local sandbox)"
            )));
        }
        check_windows(&self.action_attribution_windows).map_err(invalid)?;
        if !(1..=5000).contains(&self.page_size) {
            return Err(invalid(format!(
                "page_size must be between 1 and 5000, got {}",
                self.page_size
            )));
        }
        if self.async_after_days == 0 {
            return Err(invalid("async_after_days must be at least 1".into()));
        }
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid(format!("{name} must be a positive number, got {v}")))
        };
        Ok(Settings {
            source: source.to_string(),
            token_env: self.access_token.env.clone(),
            accounts,
            api_root: format!("{base_url}/{version}"),
            windows: self.action_attribution_windows.clone(),
            lookback_days: self.lookback_days,
            page_size: self.page_size,
            async_after_days: self.async_after_days,
            async_poll_interval: secs("async_poll_interval_secs", self.async_poll_interval_secs)?,
            async_timeout: secs("async_timeout_secs", self.async_timeout_secs)?,
            throttle_wait: secs("throttle_wait_secs", self.throttle_wait_secs)?,
            throttle_retries: self.throttle_retries,
        })
    }
}

/// At most one window of each kind, because same-kind windows nest and a
/// conversion would be counted in both.
fn check_windows(windows: &[String]) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    for w in windows {
        let kind = match w.as_str() {
            "1d_click" | "7d_click" | "28d_click" => "click",
            "1d_view" | "7d_view" | "28d_view" => "view",
            "1d_ev" => "engaged view",
            other => {
                return Err(format!(
                    "action_attribution_windows: {other:?} is not one of 1d_click, 7d_click, 28d_click, 1d_view, 7d_view, 28d_view, 1d_ev"
                ));
            }
        };
        if seen.contains(&kind) {
            return Err(format!(
                "action_attribution_windows: more than one {kind} window; they overlap, so a conversion would be counted twice"
            ));
        }
        seen.push(kind);
    }
    Ok(())
}

impl kpi_connector::ConnectorType for MetaAdsConfig {
    const TYPE: &'static str = "meta_ads";

    fn streams() -> Vec<kpi_connector::StreamDef> {
        vec![
            crate::insights::stream_def(DEFAULT_LOOKBACK_DAYS),
            crate::campaigns::stream_def(),
        ]
    }

    fn endpoints(&self, source: &str) -> Result<Endpoints, String> {
        MetaAdsConfig::endpoints(self, source).map_err(|e| e.to_string())
    }

    fn connect(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn kpi_connector::Connector>, String> {
        Ok(Box::new(
            self.build_with(source, lookup).map_err(|e| e.to_string())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MetaAdsConfig, toml::de::Error> {
        toml::from_str(text)
    }

    const MINIMAL: &str =
        "ad_account_ids = [\"act_123\", \"456\"]\naccess_token = { env = \"META_TOKEN\" }\n";

    #[test]
    fn defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.api_version, "v23.0");
        assert_eq!(c.base_url, "https://graph.facebook.com");
        assert_eq!(c.action_attribution_windows, ["7d_click", "1d_view"]);
        assert_eq!(c.lookback_days, 28);
        assert_eq!(c.page_size, 100);
        assert_eq!(c.async_after_days, 31);
        let s = c.validate("meta_ads").unwrap();
        assert_eq!(s.accounts, ["123", "456"]);
        assert_eq!(s.api_root, "https://graph.facebook.com/v23.0");
        assert_eq!(s.token_env, "META_TOKEN");
    }

    #[test]
    fn unknown_fields_and_literal_tokens_are_refused() {
        assert!(parse(&format!("{MINIMAL}level = \"ad\"\n")).is_err());
        assert!(parse("ad_account_ids = [\"1\"]\naccess_token = \"EAAB\"\n").is_err());
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |extra: &str| {
            parse(&format!("{MINIMAL}{extra}\n"))
                .unwrap()
                .validate("fb")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("action_attribution_windows = [\"1d_click\", \"7d_click\"]"),
            "source fb: action_attribution_windows: more than one click window; they overlap, so a conversion would be counted twice"
        );
        assert!(err("action_attribution_windows = [\"dda\"]").contains("\"dda\" is not one of"));
        assert!(err("api_version = \"23\"").contains("api_version \"23\""));
        assert!(err("page_size = 0").contains("page_size"));
        assert!(err("base_url = \"graph.facebook.com\"").contains("must start with https://"));
        assert!(err("async_poll_interval_secs = 0.0").contains("async_poll_interval_secs"));
        let bad_id = parse("ad_account_ids = [\"act_12x\"]\naccess_token = { env = \"T\" }")
            .unwrap()
            .validate("fb")
            .unwrap_err();
        assert!(
            bad_id
                .to_string()
                .contains("\"act_12x\" is not an ad account id")
        );
    }

    #[test]
    fn missing_token_names_the_variable() {
        let c = parse(MINIMAL).unwrap();
        let e = c.build_with("meta_ads", &|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "source meta_ads: environment variable META_TOKEN is not set"
        );
    }
}
