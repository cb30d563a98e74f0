//! `[sources.<name>]` with `type = "google_ads"`, and building the connector
//! from it.

use kpi_connector::{
    Auth, AuthConfig, ConnectorError, Endpoints, HttpClient, HttpConfig, HttpError, HttpSettings,
    RealEndpoints, Secret, SecretError, SecretRef, TokenUrlError,
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

/// `[sources.<name>]` for `type = "google_ads"`.
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
    /// Where the API lives. Default `https://googleads.googleapis.com`; point
    /// it at `kpi sandbox serve` to try a config without a Google account.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Where the OAuth2 refresh-token grant posts the client secret and
    /// refresh token. Default `https://oauth2.googleapis.com/token`, but
    /// only while `base_url` is the real API: a `base_url` pointed elsewhere
    /// without a `token_url` is refused. `auth.token_url` is accepted too;
    /// both set must agree.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The environment variable holding the developer token (Google Ads API
    /// Center of the manager account). Default `GOOGLE_ADS_DEVELOPER_TOKEN`.
    #[serde(default = "default_developer_token")]
    pub developer_token: SecretRef,
    /// How requests authenticate. Default: the OAuth2 refresh-token grant at
    /// `token_url` with the client id, client
    /// secret and refresh token read from `GOOGLE_ADS_CLIENT_ID`,
    /// `GOOGLE_ADS_CLIENT_SECRET` and `GOOGLE_ADS_REFRESH_TOKEN`.
    #[serde(default = "default_auth")]
    pub auth: AuthConfig,
    /// Days before the last synced day that every sync reads again, so late
    /// conversions land in the day they belong to. Default 30.
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u32,
    /// Timeouts, retries and rate limits (see `kpi-connector`'s `HttpConfig`).
    /// Google Ads publishes no fixed request rate; it answers
    /// `RESOURCE_EXHAUSTED` (429) when an account's quota runs out, which is
    /// retried after the wait it asks for.
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
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

fn default_lookback_days() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}

/// The config could not become a connector. Messages name settings and
/// environment variables, never secret values.
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
    /// `base_url` is not an http(s) URL.
    #[error("base_url: `{0}` is not an http:// or https:// URL")]
    InvalidBaseUrl(String),
    /// The token endpoint is missing (for a `base_url` not the real API),
    /// conflicting or not a URL.
    #[error(transparent)]
    TokenUrl(#[from] TokenUrlError),
    /// A secret's environment variable is missing or empty.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The HTTP settings are invalid.
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Secret(e) => ConnectorError::Secret(e),
            BuildError::Http(e) => ConnectorError::Http(e),
            other => ConnectorError::Config(other.to_string()),
        }
    }
}

impl GoogleAdsConfig {
    /// A config for `customer_ids` with every other setting at its default.
    pub fn new(customer_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        GoogleAdsConfig {
            customer_ids: customer_ids.into_iter().map(Into::into).collect(),
            login_customer_id: None,
            api_version: default_api_version(),
            base_url: default_base_url(),
            token_url: None,
            developer_token: default_developer_token(),
            auth: default_auth(),
            lookback_days: default_lookback_days(),
            http: HttpConfig::default(),
        }
    }

    /// The connector, with secrets read from the process environment.
    pub fn build(&self) -> Result<GoogleAdsConnector, BuildError> {
        self.validate()?;
        let developer_token = self.developer_token.resolve()?;
        let auth = self.decided_auth()?.resolve()?;
        self.assemble(developer_token, auth)
    }

    /// The connector, with secrets read through `lookup` (a secrets file
    /// layered over the environment, or a fixed map in tests).
    pub fn build_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GoogleAdsConnector, BuildError> {
        self.validate()?;
        let developer_token = self.developer_token.resolve_with(lookup)?;
        let auth = self.decided_auth()?.resolve_with(lookup)?;
        self.assemble(developer_token, auth)
    }

    /// Checks every setting that needs no secret, so `kpi check` reports a
    /// typo before complaining about a missing variable.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.customer_ids()?;
        if let Some(id) = &self.login_customer_id {
            normalize_customer_id(id, "login_customer_id")?;
        }
        self.api_version()?;
        self.endpoints()?;
        Ok(())
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

    fn api_version(&self) -> Result<String, BuildError> {
        let v = self.api_version.trim();
        let digits = v.strip_prefix('v').unwrap_or("");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BuildError::InvalidApiVersion(self.api_version.clone()));
        }
        Ok(v.to_string())
    }

    /// Where requests go: the API and the OAuth2 token endpoint. Refuses a
    /// `base_url` other than the real API with no `token_url`.
    pub fn endpoints(&self) -> Result<Endpoints, BuildError> {
        let base_url = self.base_url()?;
        let token_url =
            self.auth
                .token_url(self.token_url.as_deref(), &base_url, REAL_ENDPOINTS)?;
        Ok(Endpoints {
            base_url,
            token_url,
        })
    }

    /// `auth` with the token endpoint of [`GoogleAdsConfig::endpoints`] in it.
    fn decided_auth(&self) -> Result<AuthConfig, BuildError> {
        Ok(self.auth.with_token_url(
            self.token_url.as_deref(),
            &self.base_url()?,
            REAL_ENDPOINTS,
        )?)
    }

    fn base_url(&self) -> Result<String, BuildError> {
        let url = self.base_url.trim().trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() => Ok(url.to_string()),
            _ => Err(BuildError::InvalidBaseUrl(self.base_url.clone())),
        }
    }

    fn assemble(
        &self,
        developer_token: Secret,
        auth: Auth,
    ) -> Result<GoogleAdsConnector, BuildError> {
        let customer_ids = self.customer_ids()?;
        let api_root = format!("{}/{}", self.base_url()?, self.api_version()?);
        let mut builder = HttpClient::builder(&self.http, HttpSettings::default())
            .auth(auth)
            .secret_header("developer-token", &developer_token);
        if let Some(id) = &self.login_customer_id {
            builder = builder.header(
                "login-customer-id",
                normalize_customer_id(id, "login_customer_id")?,
            );
        }
        let client = builder.build()?;
        Ok(GoogleAdsConnector::new(
            client,
            api_root,
            customer_ids,
            self.lookback_days,
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

impl kpi_connector::ConnectorType for GoogleAdsConfig {
    const TYPE: &'static str = "google_ads";

    fn streams() -> Vec<kpi_connector::StreamDef> {
        crate::connector::stream_defs(default_lookback_days())
    }

    fn endpoints(&self, _source: &str) -> Result<Endpoints, String> {
        GoogleAdsConfig::endpoints(self).map_err(|e| e.to_string())
    }

    fn connect(
        &self,
        _source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn kpi_connector::Connector>, String> {
        Ok(Box::new(
            self.build_with(lookup).map_err(|e| e.to_string())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    #[test]
    fn toml_with_defaults() {
        let config: GoogleAdsConfig = toml::from_str(
            r#"
customer_ids = ["123-456-7890"]
login_customer_id = "111-222-3333"
"#,
        )
        .unwrap();
        assert_eq!(config.api_version, DEFAULT_API_VERSION);
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.lookback_days, 30);
        assert_eq!(config.developer_token.env, "GOOGLE_ADS_DEVELOPER_TOKEN");
        let AuthConfig::OAuth2 { refresh_token, .. } = &config.auth else {
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
        assert_eq!(config.customer_ids().unwrap(), vec!["1234567890"]);
        config.build_with(&env).unwrap();
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |c: GoogleAdsConfig| c.build_with(&env).unwrap_err().to_string();
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
        let mut c = GoogleAdsConfig::new(["1"]);
        c.base_url = "googleads.googleapis.com".into();
        assert!(err(c).starts_with("base_url:"));
        let mut c = GoogleAdsConfig::new(["1"]);
        c.login_customer_id = Some("mcc".into());
        assert!(err(c).starts_with("login_customer_id: `mcc`"));
        // Unknown keys are typos, not silently ignored settings.
        assert!(toml::from_str::<GoogleAdsConfig>("customer_ids = [\"1\"]\nlookback = 3").is_err());
    }

    #[test]
    fn token_url_beside_base_url() {
        let mut c = GoogleAdsConfig::new(["1234567890"]);
        c.base_url = "http://127.0.0.1:9".into();
        // Refused before any secret is looked up.
        let e = c.build_with(&|_| None).unwrap_err();
        assert!(matches!(
            e,
            BuildError::TokenUrl(TokenUrlError::Missing { .. })
        ));
        assert!(
            e.to_string().contains("set token_url beside base_url"),
            "{e}"
        );
        c.token_url = Some("http://127.0.0.1:9/token".into());
        assert_eq!(
            c.endpoints().unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/token"
        );
        c.build_with(&env).unwrap();
        // Both forms, disagreeing: refused.
        c.auth = AuthConfig::OAuth2 {
            token_url: Some("https://oauth2.googleapis.com/token".into()),
            client_id: SecretRef::env("A"),
            client_secret: SecretRef::env("B"),
            refresh_token: SecretRef::env("C"),
            scope: None,
        };
        assert!(matches!(
            c.validate(),
            Err(BuildError::TokenUrl(TokenUrlError::Conflict { .. }))
        ));
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let c = GoogleAdsConfig::new(["1234567890"]);
        let e = c.build_with(&|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable GOOGLE_ADS_DEVELOPER_TOKEN is not set"
        );
        assert!(matches!(ConnectorError::from(e), ConnectorError::Secret(_)));
    }
}
