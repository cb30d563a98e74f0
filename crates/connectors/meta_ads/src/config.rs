//! `[sources.<name>]` with `type = "meta_ads"`, and building the connector
//! from it. The settings every source has (`base_url`, `token_url`, `auth`,
//! `http`, `lookback_days`) are `kpi_connector::SharedSettings`; this file
//! declares Meta's defaults for them and its own settings.

use std::time::Duration;

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, SecretRef, SourceConfig,
    StreamDef, ThrottleRule,
};
use serde::Deserialize;

use crate::connector::{MetaAdsConnector, Settings};

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
/// The variable the access token is read from by default.
pub const DEFAULT_TOKEN_ENV: &str = "META_ACCESS_TOKEN";

/// A Meta Ads source: [`MetaAdsConfig`] with the settings every source
/// shares.
pub type MetaAdsSource = SourceConfig<MetaAdsConfig>;

/// Meta's own settings in `[sources.<name>]` for `type = "meta_ads"`.
///
/// ```toml
/// [sources.meta_ads]
/// type = "meta_ads"
/// ad_account_ids = ["act_1234567890", "9876543210"]
/// access_token = { env = "META_ACCESS_TOKEN" }
/// # Optional, with their defaults:
/// api_version = "v23.0"
/// action_attribution_windows = ["7d_click", "1d_view"]
/// page_size = 100
/// async_after_days = 31
/// async_poll_interval_secs = 5.0
/// async_timeout_secs = 3600.0
/// throttle_wait_secs = 60.0
/// throttle_retries = 3
/// # Shared settings, with Meta's defaults:
/// base_url = "https://graph.facebook.com"
/// lookback_days = 28
///
/// [sources.meta_ads.http]
/// timeout_secs = 120
/// ```
///
/// `access_token` is the short form of `auth = { type = "bearer", token =
/// { env = "..." } }`; write one of the two, or neither for
/// `META_ACCESS_TOKEN`. Meta needs no token endpoint: a system-user token
/// does not expire.
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
    /// Default `META_ACCESS_TOKEN` (unless `auth` is written).
    #[serde(default)]
    pub access_token: Option<SecretRef>,
    /// The Graph API version in every path, e.g. `v23.0`. Default
    /// [`DEFAULT_API_VERSION`].
    #[serde(default = "default_api_version")]
    pub api_version: String,
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
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}
fn default_windows() -> Vec<String> {
    vec!["7d_click".to_string(), "1d_view".to_string()]
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

fn default_auth() -> AuthConfig {
    AuthConfig::Bearer {
        token: SecretRef::env(DEFAULT_TOKEN_ENV),
    }
}

/// Meta's HTTP defaults: insights pages over many campaigns can take tens
/// of seconds to compute, so the per-request timeout is twice the crate's.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(120),
        ..HttpSettings::default()
    }
}

/// What Meta's own settings decide, before the shared ones are known.
struct Own {
    accounts: Vec<String>,
    api_version: String,
    async_poll_interval: Duration,
    async_timeout: Duration,
    throttle_wait: Duration,
}

impl MetaAdsConfig {
    /// A config for `ad_account_ids` with every other setting at its
    /// default.
    pub fn new(ad_account_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        MetaAdsConfig {
            ad_account_ids: ad_account_ids.into_iter().map(Into::into).collect(),
            access_token: None,
            api_version: default_api_version(),
            action_attribution_windows: default_windows(),
            page_size: default_page_size(),
            async_after_days: default_async_after_days(),
            async_poll_interval_secs: default_poll_secs(),
            async_timeout_secs: default_async_timeout_secs(),
            throttle_wait_secs: default_throttle_wait_secs(),
            throttle_retries: default_throttle_retries(),
        }
    }

    /// The connector, from the shared settings decided.
    pub fn connector(&self, p: Prepared) -> Result<MetaAdsConnector, ConnectorError> {
        let own = self.check()?;
        let token_env = match &p.auth_config {
            AuthConfig::Bearer { token } => token.env.clone(),
            _ => DEFAULT_TOKEN_ENV.to_string(),
        };
        // Meta's rate-limit codes come as 400/403: a rule of the shared
        // client waits them out (see `api::is_throttled`).
        let client = p.client_with(|b| {
            b.throttle_rule(ThrottleRule {
                matches: crate::api::is_throttled,
                wait: own.throttle_wait,
                attempts: self.throttle_retries,
            })
        })?;
        let settings = Settings {
            source: p.source,
            token_env,
            accounts: own.accounts,
            api_root: format!("{}/{}", p.base_url, own.api_version),
            windows: self.action_attribution_windows.clone(),
            lookback_days: p.lookback_days,
            page_size: self.page_size,
            async_after_days: self.async_after_days,
            async_poll_interval: own.async_poll_interval,
            async_timeout: own.async_timeout,
        };
        Ok(MetaAdsConnector::new(settings, client))
    }

    /// Every own setting checked; the message names the setting.
    fn check(&self) -> Result<Own, ConnectorError> {
        let invalid = |message: String| ConnectorError::Config(message);
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
        Ok(Own {
            accounts,
            api_version: version.to_string(),
            async_poll_interval: secs("async_poll_interval_secs", self.async_poll_interval_secs)?,
            async_timeout: secs("async_timeout_secs", self.async_timeout_secs)?,
            throttle_wait: secs("throttle_wait_secs", self.throttle_wait_secs)?,
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

impl HttpSource for MetaAdsConfig {
    const TYPE: &'static str = "meta_ads";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: "",
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = MetaAdsConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        vec![
            crate::insights::stream_def(lookback_days),
            crate::campaigns::stream_def(),
        ]
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.check().map(|_| ())
    }

    fn own_auth(&self) -> Option<(&'static str, AuthConfig)> {
        self.access_token
            .clone()
            .map(|token| ("access_token", AuthConfig::Bearer { token }))
    }

    fn build(&self, p: Prepared) -> Result<MetaAdsConnector, ConnectorError> {
        self.connector(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MetaAdsSource, toml::de::Error> {
        toml::from_str(text)
    }

    const MINIMAL: &str =
        "ad_account_ids = [\"act_123\", \"456\"]\naccess_token = { env = \"META_TOKEN\" }\n";

    fn settings(c: &MetaAdsSource) -> Settings {
        let p = c.prepare("meta_ads", &|_| Some("EAAB".into())).unwrap();
        c.own.connector(p).unwrap().settings
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.own.api_version, "v23.0");
        assert_eq!(
            c.endpoints().unwrap().base_url,
            "https://graph.facebook.com"
        );
        assert_eq!(c.own.action_attribution_windows, ["7d_click", "1d_view"]);
        assert_eq!(c.lookback_days(), 28);
        assert_eq!(c.own.page_size, 100);
        assert_eq!(c.own.async_after_days, 31);
        let s = settings(&c);
        assert_eq!(s.accounts, ["123", "456"]);
        assert_eq!(s.api_root, "https://graph.facebook.com/v23.0");
        assert_eq!(s.token_env, "META_TOKEN");
        assert_eq!(s.lookback_days, 28);
    }

    #[test]
    fn the_token_is_access_token_or_auth_or_the_default_not_two() {
        let without = parse("ad_account_ids = [\"1\"]\n").unwrap();
        assert_eq!(settings(&without).token_env, "META_ACCESS_TOKEN");
        let auth = parse(
            "ad_account_ids = [\"1\"]\n[auth]\ntype = \"bearer\"\ntoken = { env = \"FB\" }\n",
        )
        .unwrap();
        assert_eq!(settings(&auth).token_env, "FB");
        let both = parse(&format!(
            "{MINIMAL}[auth]\ntype = \"bearer\"\ntoken = {{ env = \"FB\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            both.validate().unwrap_err().to_string(),
            "auth: written twice, as `auth` and as `access_token`; keep one"
        );
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
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("action_attribution_windows = [\"1d_click\", \"7d_click\"]"),
            "action_attribution_windows: more than one click window; they overlap, so a conversion would be counted twice"
        );
        assert!(err("action_attribution_windows = [\"dda\"]").contains("\"dda\" is not one of"));
        assert!(err("api_version = \"23\"").contains("api_version \"23\""));
        assert!(err("page_size = 0").contains("page_size"));
        assert!(
            err("base_url = \"graph.facebook.com\"").contains("not an http:// or https:// URL")
        );
        assert!(err("async_poll_interval_secs = 0.0").contains("async_poll_interval_secs"));
        let bad_id = parse("ad_account_ids = [\"act_12x\"]\naccess_token = { env = \"T\" }")
            .unwrap()
            .validate()
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
        let e = c.connector_with(&|_| None).unwrap_err();
        assert!(e.to_string().contains("META_TOKEN"), "{e}");
    }
}
