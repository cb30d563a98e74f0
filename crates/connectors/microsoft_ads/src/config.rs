//! `[sources.<name>]` with `type = "microsoft_ads"`, and building the
//! connector from it. The settings every source has (`base_url`,
//! `token_url`, `auth`, `http`, `lookback_days`) are
//! `kpi_connector::SharedSettings`; this file declares Microsoft's defaults
//! for them and Microsoft's own settings, the developer token among them (a
//! second secret, sent as the `DeveloperToken` header).

use std::time::Duration;

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, RealEndpoints, SecretRef,
    SourceConfig, StreamDef, ThrottleRule,
};
use serde::Deserialize;

use crate::connector::{MicrosoftAdsConnector, Settings};
use crate::faults::is_throttled;

/// The Reporting service's REST host; requests go to `/Reporting/v13/...`.
pub const DEFAULT_BASE_URL: &str = "https://reporting.api.bingads.microsoft.com";
/// The Customer Management service's REST host (`kpi check` reads the
/// accounts there). With a `base_url` of a test server, that server.
pub const DEFAULT_CUSTOMER_MANAGEMENT_URL: &str = "https://clientcenter.api.bingads.microsoft.com";
/// The Campaign Management service's REST host (the `campaigns` stream).
/// With a `base_url` of a test server, that server.
pub const DEFAULT_CAMPAIGN_MANAGEMENT_URL: &str = "https://campaign.api.bingads.microsoft.com";
/// Microsoft identity's OAuth2 token endpoint for personal and work accounts.
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
/// The scope the refresh token is exchanged for.
pub const DEFAULT_SCOPE: &str = "https://ads.microsoft.com/msads.manage offline_access";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// Days re-read before the cursor on every sync: Microsoft attributes a
/// conversion to the day of the click, up to 30 days later with the default
/// conversion window, so the last 30 days keep changing.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// The `ReportTimeZone` sent when none is set: Microsoft's own default.
pub const DEFAULT_REPORT_TIME_ZONE: &str = "PacificTimeUSCanadaTijuana";

/// A Microsoft Advertising source: [`MicrosoftAdsConfig`] with the settings
/// every source shares.
pub type MicrosoftAdsSource = SourceConfig<MicrosoftAdsConfig>;

/// Microsoft's own settings in `[sources.<name>]` for `type = "microsoft_ads"`.
///
/// ```toml
/// [sources.microsoft_ads]
/// type = "microsoft_ads"
/// customer_id = "251000123"
/// account_ids = ["150000001"]
/// # Secrets are read from these environment variables (the defaults shown):
/// developer_token = { env = "MICROSOFT_ADS_DEVELOPER_TOKEN" }
/// [sources.microsoft_ads.auth]
/// type = "oauth2"
/// client_id = { env = "MICROSOFT_ADS_CLIENT_ID" }
/// client_secret = { env = "MICROSOFT_ADS_CLIENT_SECRET" }
/// refresh_token = { env = "MICROSOFT_ADS_REFRESH_TOKEN" }
/// scope = "https://ads.microsoft.com/msads.manage offline_access"
/// ```
///
/// Shared settings, with Microsoft's defaults: `base_url`
/// `https://reporting.api.bingads.microsoft.com`; `token_url`
/// `https://login.microsoftonline.com/common/oauth2/v2.0/token` (only while
/// `base_url` is the real API); `auth` the OAuth2 refresh-token grant with
/// `MICROSOFT_ADS_CLIENT_ID`, `MICROSOFT_ADS_CLIENT_SECRET` and
/// `MICROSOFT_ADS_REFRESH_TOKEN` and the `msads.manage` scope;
/// `lookback_days` 30; `http` 4 requests at once (Microsoft limits calls per
/// minute and answers code 117 past it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicrosoftAdsConfig {
    /// The customer (manager) id that owns the accounts, sent as the
    /// `CustomerId` header: the `cid` in the Microsoft Advertising URL.
    pub customer_id: String,
    /// The ad accounts to read (the `aid` in the web app's URL, digits, not
    /// the account number such as `F1234567`), each sent as the
    /// `CustomerAccountId` header of its own reports. At least one.
    pub account_ids: Vec<String>,
    /// The environment variable holding the developer token (Microsoft
    /// Advertising Developer Portal), sent as the `DeveloperToken` header.
    /// Default `MICROSOFT_ADS_DEVELOPER_TOKEN`.
    #[serde(default = "default_developer_token")]
    pub developer_token: SecretRef,
    /// The `ReportTimeZone` of the report requests (a Microsoft time zone
    /// name such as `BrusselsCopenhagenMadridParis`). It decides what
    /// "today" is for the end of a report's range and is stored on every
    /// row as `report_time_zone`; the days themselves are the account's.
    /// Default `PacificTimeUSCanadaTijuana`, Microsoft's own.
    #[serde(default = "default_report_time_zone")]
    pub report_time_zone: String,
    /// Seconds before the first status poll of a submitted report; each
    /// further poll waits twice as long, up to `max_poll_interval_secs`.
    /// Default 1.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: f64,
    /// The longest wait between two polls, in seconds. Default 30.
    #[serde(default = "default_max_poll_interval")]
    pub max_poll_interval_secs: f64,
    /// How long a report may stay `Pending` before the sync fails naming
    /// it, in seconds. Default 900 (Microsoft builds most reports in
    /// seconds, large accounts' in minutes).
    #[serde(default = "default_report_timeout")]
    pub report_timeout_secs: f64,
    /// Seconds to wait after error 117 (calls per minute exceeded) before
    /// trying again; doubled on each further one, five times at most.
    /// Default 60: the limit is counted per minute.
    #[serde(default = "default_throttle_wait")]
    pub throttle_wait_secs: f64,
}

fn default_developer_token() -> SecretRef {
    SecretRef::env("MICROSOFT_ADS_DEVELOPER_TOKEN")
}

fn default_report_time_zone() -> String {
    DEFAULT_REPORT_TIME_ZONE.to_string()
}

fn default_poll_interval() -> f64 {
    1.0
}

fn default_max_poll_interval() -> f64 {
    30.0
}

fn default_report_timeout() -> f64 {
    900.0
}

fn default_throttle_wait() -> f64 {
    60.0
}

fn default_auth() -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: None,
        client_id: SecretRef::env("MICROSOFT_ADS_CLIENT_ID"),
        client_secret: SecretRef::env("MICROSOFT_ADS_CLIENT_SECRET"),
        refresh_token: SecretRef::env("MICROSOFT_ADS_REFRESH_TOKEN"),
        scope: Some(DEFAULT_SCOPE.to_string()),
    }
}

/// A setting of Microsoft's own that is wrong. Messages name the setting,
/// never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `customer_id` is not digits.
    #[error("customer_id: `{0}` is not a Microsoft Advertising customer id (digits)")]
    InvalidCustomerId(String),
    /// `account_ids` is empty.
    #[error("account_ids is empty: list at least one Microsoft Advertising account id")]
    NoAccountIds,
    /// An account id that is not one.
    #[error(
        "account_ids: `{0}` is not a Microsoft Advertising account id (digits, the aid of the web app's URL, not the account number)"
    )]
    InvalidAccountId(String),
    /// The same account twice would be read twice.
    #[error("account_ids: {0} is listed twice")]
    DuplicateAccountId(String),
    /// `report_time_zone` is not a time zone name.
    #[error(
        "report_time_zone: `{0}` is not a Microsoft ReportTimeZone name (letters only, e.g. BrusselsCopenhagenMadridParis)"
    )]
    InvalidTimeZone(String),
    /// A duration that is not a positive number of seconds.
    #[error("{0} must be a positive number of seconds, got {1}")]
    InvalidSeconds(&'static str, f64),
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        ConnectorError::Config(e.to_string())
    }
}

impl MicrosoftAdsConfig {
    /// A config for `customer_id` and `account_ids`, every other setting at
    /// its default.
    pub fn new(
        customer_id: impl Into<String>,
        account_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        MicrosoftAdsConfig {
            customer_id: customer_id.into(),
            account_ids: account_ids.into_iter().map(Into::into).collect(),
            developer_token: default_developer_token(),
            report_time_zone: default_report_time_zone(),
            poll_interval_secs: default_poll_interval(),
            max_poll_interval_secs: default_max_poll_interval(),
            report_timeout_secs: default_report_timeout(),
            throttle_wait_secs: default_throttle_wait(),
        }
    }

    fn customer_id(&self) -> Result<String, BuildError> {
        let id = self.customer_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BuildError::InvalidCustomerId(self.customer_id.clone()));
        }
        Ok(id.to_string())
    }

    /// The account ids, trimmed.
    pub fn account_ids(&self) -> Result<Vec<String>, BuildError> {
        if self.account_ids.is_empty() {
            return Err(BuildError::NoAccountIds);
        }
        let mut ids: Vec<String> = Vec::with_capacity(self.account_ids.len());
        for raw in &self.account_ids {
            let id = raw.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BuildError::InvalidAccountId(raw.clone()));
            }
            if ids.iter().any(|known| known == id) {
                return Err(BuildError::DuplicateAccountId(id.to_string()));
            }
            ids.push(id.to_string());
        }
        Ok(ids)
    }

    fn seconds(name: &'static str, v: f64) -> Result<Duration, BuildError> {
        match Duration::try_from_secs_f64(v) {
            Ok(d) if v > 0.0 => Ok(d),
            _ => Err(BuildError::InvalidSeconds(name, v)),
        }
    }

    fn settings(&self) -> Result<Settings, BuildError> {
        let zone = self.report_time_zone.trim();
        if zone.is_empty() || !zone.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(BuildError::InvalidTimeZone(self.report_time_zone.clone()));
        }
        let poll_interval = Self::seconds("poll_interval_secs", self.poll_interval_secs)?;
        let max_poll_interval =
            Self::seconds("max_poll_interval_secs", self.max_poll_interval_secs)?;
        Ok(Settings {
            customer_id: self.customer_id()?,
            account_ids: self.account_ids()?,
            report_time_zone: zone.to_string(),
            poll_interval,
            max_poll_interval: max_poll_interval.max(poll_interval),
            report_timeout: Self::seconds("report_timeout_secs", self.report_timeout_secs)?,
            throttle_wait: Self::seconds("throttle_wait_secs", self.throttle_wait_secs)?,
        })
    }
}

impl HttpSource for MicrosoftAdsConfig {
    const TYPE: &'static str = "microsoft_ads";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: HttpSettings::default,
    };
    type Connector = MicrosoftAdsConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        crate::connector::stream_defs(lookback_days)
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.settings()?;
        Ok(())
    }

    fn secret_headers(&self) -> Vec<(&'static str, SecretRef)> {
        vec![("DeveloperToken", self.developer_token.clone())]
    }

    fn build(&self, p: Prepared) -> Result<MicrosoftAdsConnector, ConnectorError> {
        let settings = self.settings()?;
        let customer = settings.customer_id.clone();
        let rule = ThrottleRule {
            matches: is_throttled,
            wait: settings.throttle_wait,
            attempts: 5,
        };
        let client = p.client_with(|b| b.header("CustomerId", customer).throttle_rule(rule))?;
        // The download URL is a pre-signed blob address: it must not get
        // the API's bearer token or developer token.
        let download = kpi_connector::HttpClient::builder(
            &kpi_connector::HttpConfig::default(),
            client.settings().clone(),
        )
        .redactor(client.redactor().clone())
        .build()?;
        let real = p.base_url == DEFAULT_BASE_URL;
        let other_host = |real_host: &str| match real {
            true => real_host.to_string(),
            false => p.base_url.clone(),
        };
        let customer_management_url = other_host(DEFAULT_CUSTOMER_MANAGEMENT_URL);
        let campaign_management_url = other_host(DEFAULT_CAMPAIGN_MANAGEMENT_URL);
        let refresh_var = p.auth_config.secret_vars().first().map_or_else(
            || "(no variable: auth is none)".to_string(),
            |v| v.to_string(),
        );
        Ok(MicrosoftAdsConnector::new(
            client,
            download,
            p.base_url,
            customer_management_url,
            campaign_management_url,
            p.source,
            refresh_var,
            self.developer_token.env.clone(),
            settings,
            p.lookback_days,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    fn parse(text: &str) -> Result<MicrosoftAdsSource, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn toml_with_defaults() {
        let c =
            parse("customer_id = \"251000123\"\naccount_ids = [\"150000001\", \" 150000002 \"]")
                .unwrap();
        assert_eq!(c.own.account_ids().unwrap(), ["150000001", "150000002"]);
        assert_eq!(c.own.report_time_zone, DEFAULT_REPORT_TIME_ZONE);
        assert_eq!(c.lookback_days(), 30);
        let e = c.endpoints().unwrap();
        assert_eq!(e.base_url, DEFAULT_BASE_URL);
        assert_eq!(e.token_url.as_deref(), Some(DEFAULT_TOKEN_URL));
        let AuthConfig::OAuth2 {
            refresh_token,
            scope,
            ..
        } = c.auth()
        else {
            panic!("the default auth is oauth2");
        };
        assert_eq!(refresh_token.env, "MICROSOFT_ADS_REFRESH_TOKEN");
        assert_eq!(scope.as_deref(), Some(DEFAULT_SCOPE));
        assert_eq!(c.own.developer_token.env, "MICROSOFT_ADS_DEVELOPER_TOKEN");
        let built = c.connector_with(&env).unwrap();
        assert_eq!(built.account_ids(), ["150000001", "150000002"]);
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |own: MicrosoftAdsConfig| {
            MicrosoftAdsSource::new(own)
                .connector_with(&env)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(MicrosoftAdsConfig::new("1", Vec::<String>::new())),
            "account_ids is empty: list at least one Microsoft Advertising account id"
        );
        assert!(
            err(MicrosoftAdsConfig::new("1", ["F1234567"])).starts_with("account_ids: `F1234567`")
        );
        assert_eq!(
            err(MicrosoftAdsConfig::new("1", ["7", "7"])),
            "account_ids: 7 is listed twice"
        );
        assert!(err(MicrosoftAdsConfig::new("C-1", ["7"])).starts_with("customer_id: `C-1`"));
        let mut c = MicrosoftAdsConfig::new("1", ["7"]);
        c.report_time_zone = "Europe/Madrid".into();
        assert!(err(c).starts_with("report_time_zone: `Europe/Madrid`"));
        let mut c = MicrosoftAdsConfig::new("1", ["7"]);
        c.report_timeout_secs = 0.0;
        assert_eq!(
            err(c),
            "report_timeout_secs must be a positive number of seconds, got 0"
        );
        let e =
            parse("customer_id = \"1\"\naccount_ids = [\"2\"]\naccounts = [\"2\"]").unwrap_err();
        assert!(e.to_string().contains("unknown field `accounts`"), "{e}");
        let e = MicrosoftAdsSource::new(MicrosoftAdsConfig::new("1", ["7"]))
            .connector_with(&|_| None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable MICROSOFT_ADS_DEVELOPER_TOKEN is not set"
        );
    }

    #[test]
    fn a_test_base_url_needs_its_own_token_url() {
        let c =
            parse("customer_id = \"1\"\naccount_ids = [\"2\"]\nbase_url = \"http://127.0.0.1:9\"")
                .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("token_url is not set"), "{e}");
    }
}
