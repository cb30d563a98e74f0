//! `[sources.<name>]` with `type = "google_ads"`, and building the connector
//! from it. The settings every source has (`base_url`, `token_url`, `auth`,
//! `http`, `lookback_days`) are `kpi_connector::SharedSettings`; this file
//! declares Google Ads' defaults for them and its own settings, the
//! developer token among them (a second secret, sent as a header).

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, RealEndpoints, SecretRef,
    SourceConfig, StreamDef,
};
use serde::Deserialize;

use crate::connector::GoogleAdsConnector;

/// The API version used unless `api_version` says otherwise. Google sunsets
/// a major version about a year after its release (v21 on 2026-08-05, v22 on
/// 2026-10-07), so this moves with the crate; v26 is the version Google
/// recommends starting with as of November 2026.
pub const DEFAULT_API_VERSION: &str = "v26";
/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://googleads.googleapis.com";
/// Google's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// Days re-read before the cursor on every sync: Google Ads keeps revising
/// conversions for weeks (they are attributed to the day of the click).
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;

/// A Google Ads source: [`GoogleAdsConfig`] with the settings every source
/// shares.
pub type GoogleAdsSource = SourceConfig<GoogleAdsConfig>;

/// Google Ads' own settings in `[sources.<name>]` for `type = "google_ads"`.
///
/// ```toml
/// [sources.google_ads]
/// type = "google_ads"
/// customer_ids = ["123-456-7890", "2345678901"]
/// login_customer_id = "1112223333"   # the manager account, if access goes through one
/// lookback_days = 30
/// # Only with base_url: both default to Google's own.
/// # base_url = "http://127.0.0.1:8790"
/// # token_url = "http://127.0.0.1:8790/token"
/// # Secrets are read from these environment variables (the defaults shown):
/// developer_token = { env = "GOOGLE_ADS_DEVELOPER_TOKEN" }
/// [sources.google_ads.auth]
/// type = "oauth2"
/// client_id = { env = "GOOGLE_ADS_CLIENT_ID" }
/// client_secret = { env = "GOOGLE_ADS_CLIENT_SECRET" }
/// refresh_token = { env = "GOOGLE_ADS_REFRESH_TOKEN" }
/// ```
///
/// Shared settings, with Google Ads' defaults: `base_url`
/// `https://googleads.googleapis.com`; `token_url`
/// `https://oauth2.googleapis.com/token` (only while `base_url` is the real
/// API: a `base_url` pointed elsewhere without a `token_url` is refused);
/// `auth` the OAuth2 refresh-token grant with `GOOGLE_ADS_CLIENT_ID`,
/// `GOOGLE_ADS_CLIENT_SECRET` and `GOOGLE_ADS_REFRESH_TOKEN`;
/// `lookback_days` 30, so late conversions land in the day they belong to;
/// `http` the client's defaults: Google Ads publishes no fixed request rate,
/// it answers `RESOURCE_EXHAUSTED` (429) when an account's quota runs out,
/// which is retried after the wait it asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleAdsConfig {
    /// The Google Ads accounts to read, as shown in the Google Ads UI
    /// (`123-456-7890`) or without dashes. Each account's rows carry its own
    /// currency and time zone. At least one.
    pub customer_ids: Vec<String>,
    /// The manager (MCC) account through which the OAuth user reaches the
    /// accounts above, sent as the `login-customer-id` header. Leave it out
    /// when the user has direct access to every account.
    #[serde(default)]
    pub login_customer_id: Option<String>,
    /// The Google Ads API version in request paths, e.g. `v26`. Default:
    /// [`DEFAULT_API_VERSION`]. Raise it when Google announces the sunset of
    /// the one in use.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The environment variable holding the developer token (Google Ads API
    /// Center of the manager account), sent as the `developer-token` header.
    /// Default `GOOGLE_ADS_DEVELOPER_TOKEN`.
    #[serde(default = "default_developer_token")]
    pub developer_token: SecretRef,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

fn default_developer_token() -> SecretRef {
    SecretRef::env("GOOGLE_ADS_DEVELOPER_TOKEN")
}

fn default_auth() -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: None,
        client_id: SecretRef::env("GOOGLE_ADS_CLIENT_ID"),
        client_secret: SecretRef::env("GOOGLE_ADS_CLIENT_SECRET"),
        refresh_token: SecretRef::env("GOOGLE_ADS_REFRESH_TOKEN"),
        scope: None,
    }
}

/// A setting of Google Ads' own that is wrong. Messages name the setting,
/// never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `customer_ids` is empty.
    #[error("customer_ids is empty: list at least one Google Ads account")]
    NoCustomerIds,
    /// A customer id that is not one.
    #[error("{setting}: `{value}` is not a Google Ads customer id (10 digits, dashes allowed)")]
    InvalidCustomerId {
        /// `customer_ids` or `login_customer_id`.
        setting: &'static str,
        /// What was written.
        value: String,
    },
    /// The same account listed twice would be read twice.
    #[error("customer_ids: {0} is listed twice")]
    DuplicateCustomerId(String),
    /// `api_version` is not `v<number>`.
    #[error("api_version: `{0}` is not a Google Ads API version such as `{DEFAULT_API_VERSION}`")]
    InvalidApiVersion(String),
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        ConnectorError::Config(e.to_string())
    }
}

impl GoogleAdsConfig {
    /// A config for `customer_ids` with every other setting at its default.
    pub fn new(customer_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        GoogleAdsConfig {
            customer_ids: customer_ids.into_iter().map(Into::into).collect(),
            login_customer_id: None,
            api_version: default_api_version(),
            developer_token: default_developer_token(),
        }
    }

    /// The customer ids without dashes.
    fn customer_ids(&self) -> Result<Vec<String>, BuildError> {
        if self.customer_ids.is_empty() {
            return Err(BuildError::NoCustomerIds);
        }
        let mut ids: Vec<String> = Vec::with_capacity(self.customer_ids.len());
        for raw in &self.customer_ids {
            let id = normalize_customer_id(raw, "customer_ids")?;
            if ids.contains(&id) {
                return Err(BuildError::DuplicateCustomerId(id));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// `login_customer_id` without dashes, if set.
    fn login_customer_id(&self) -> Result<Option<String>, BuildError> {
        self.login_customer_id
            .as_deref()
            .map(|id| normalize_customer_id(id, "login_customer_id"))
            .transpose()
    }

    fn api_version(&self) -> Result<String, BuildError> {
        let v = self.api_version.trim();
        let digits = v.strip_prefix('v').unwrap_or("");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BuildError::InvalidApiVersion(self.api_version.clone()));
        }
        Ok(v.to_string())
    }
}

impl HttpSource for GoogleAdsConfig {
    const TYPE: &'static str = "google_ads";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: HttpSettings::default,
    };
    type Connector = GoogleAdsConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        crate::connector::stream_defs(lookback_days)
    }

    /// Checks every setting that needs no secret, so `kpi check` reports a
    /// typo before complaining about a missing variable.
    fn validate(&self) -> Result<(), ConnectorError> {
        self.customer_ids()?;
        self.login_customer_id()?;
        self.api_version()?;
        Ok(())
    }

    fn secret_headers(&self) -> Vec<(&'static str, SecretRef)> {
        vec![("developer-token", self.developer_token.clone())]
    }

    fn build(&self, p: Prepared) -> Result<GoogleAdsConnector, ConnectorError> {
        let api_root = format!("{}/{}", p.base_url, self.api_version()?);
        // A plain header: the manager account's id is no secret.
        let client = match self.login_customer_id()? {
            Some(id) => p.client_with(|b| b.header("login-customer-id", id))?,
            None => p.client,
        };
        Ok(GoogleAdsConnector::new(
            client,
            api_root,
            self.customer_ids()?,
            p.lookback_days,
        ))
    }
}

/// `123-456-7890` -> `1234567890`. The API wants digits only, while the UI
/// shows dashes and users copy from the UI.
fn normalize_customer_id(raw: &str, setting: &'static str) -> Result<String, BuildError> {
    let id: String = raw.trim().chars().filter(|c| *c != '-').collect();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BuildError::InvalidCustomerId {
            setting,
            value: raw.to_string(),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_connector::{Endpoints, TokenUrlError};

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    fn parse(text: &str) -> Result<GoogleAdsSource, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn toml_with_defaults() {
        let config = parse(
            r#"
customer_ids = ["123-456-7890"]
login_customer_id = "111-222-3333"
"#,
        )
        .unwrap();
        assert_eq!(config.own.api_version, DEFAULT_API_VERSION);
        assert_eq!(config.endpoints().unwrap().base_url, DEFAULT_BASE_URL);
        assert_eq!(config.lookback_days(), 30);
        assert_eq!(config.own.developer_token.env, "GOOGLE_ADS_DEVELOPER_TOKEN");
        let AuthConfig::OAuth2 { refresh_token, .. } = &config.auth() else {
            panic!("the default auth is oauth2");
        };
        assert_eq!(refresh_token.env, "GOOGLE_ADS_REFRESH_TOKEN");
        assert_eq!(
            config.endpoints().unwrap(),
            Endpoints {
                base_url: DEFAULT_BASE_URL.into(),
                token_url: Some(DEFAULT_TOKEN_URL.into()),
            }
        );
        assert_eq!(config.own.customer_ids().unwrap(), vec!["1234567890"]);
        let c = config.connector_with(&env).unwrap();
        assert_eq!(c.customer_ids(), ["1234567890"]);
        // The developer token is a secret: the redactor knows it.
        let redacted = c
            .client()
            .redactor()
            .redact("developer-token: value-of-GOOGLE_ADS_DEVELOPER_TOKEN");
        assert!(!redacted.contains("value-of"), "{redacted}");
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |c: GoogleAdsConfig| {
            GoogleAdsSource::new(c)
                .connector_with(&env)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(GoogleAdsConfig::new(Vec::<String>::new())),
            "customer_ids is empty: list at least one Google Ads account"
        );
        assert_eq!(
            err(GoogleAdsConfig::new(["12x4"])),
            "customer_ids: `12x4` is not a Google Ads customer id (10 digits, dashes allowed)"
        );
        assert_eq!(
            err(GoogleAdsConfig::new(["123-456-7890", "1234567890"])),
            "customer_ids: 1234567890 is listed twice"
        );
        let mut c = GoogleAdsConfig::new(["1"]);
        c.api_version = "21".into();
        assert!(err(c).starts_with("api_version: `21` is not"));
        let mut c = GoogleAdsSource::new(GoogleAdsConfig::new(["1"]));
        c.shared.base_url = Some("googleads.googleapis.com".into());
        let e = c.connector_with(&env).unwrap_err().to_string();
        assert!(e.starts_with("base_url:"), "{e}");
        let mut c = GoogleAdsConfig::new(["1"]);
        c.login_customer_id = Some("mcc".into());
        assert!(err(c).starts_with("login_customer_id: `mcc`"));
        // Unknown keys are typos, not silently ignored settings.
        assert!(parse("customer_ids = [\"1\"]\nlookback = 3").is_err());
    }

    #[test]
    fn token_url_beside_base_url() {
        let mut c = GoogleAdsSource::new(GoogleAdsConfig::new(["1234567890"]));
        c.shared.base_url = Some("http://127.0.0.1:9".into());
        // Refused before any secret is looked up.
        let e = c.connector_with(&|_| None).unwrap_err();
        assert!(matches!(e, ConnectorError::Config(_)), "{e}");
        assert!(
            e.to_string().contains("set token_url beside base_url"),
            "{e}"
        );
        c.shared.token_url = Some("http://127.0.0.1:9/token".into());
        assert_eq!(
            c.endpoints().unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/token"
        );
        c.connector_with(&env).unwrap();
        // Both forms, disagreeing: refused.
        c.shared.auth = Some(AuthConfig::OAuth2 {
            token_url: Some("https://oauth2.googleapis.com/token".into()),
            client_id: SecretRef::env("A"),
            client_secret: SecretRef::env("B"),
            refresh_token: SecretRef::env("C"),
            scope: None,
        });
        let conflict = TokenUrlError::Conflict {
            beside: "http://127.0.0.1:9/token".into(),
            inside: "https://oauth2.googleapis.com/token".into(),
        };
        assert_eq!(c.validate().unwrap_err().to_string(), conflict.to_string());
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let c = GoogleAdsSource::new(GoogleAdsConfig::new(["1234567890"]));
        let e = c.connector_with(&|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable GOOGLE_ADS_DEVELOPER_TOKEN is not set"
        );
        assert!(matches!(e, ConnectorError::Secret(_)));
    }
}
