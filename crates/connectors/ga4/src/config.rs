//! `[sources.<name>]` with `type = "ga4"`, and building the connector from it.

use kpi_connector::{
    Auth, AuthConfig, ConnectorError, Endpoints, HttpClient, HttpConfig, HttpError, HttpSettings,
    RealEndpoints, SecretError, SecretRef, TokenUrlError,
};
use serde::Deserialize;

use crate::connector::Ga4Connector;

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://analyticsdata.googleapis.com";
/// Google's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// Rows asked for per request. Below the API's maximum: a 100,000-row
/// page is about 40 MB of JSON, parsed whole, and a sync reads several at
/// once; 10,000 keeps each under 5 MB.
pub const DEFAULT_PAGE_SIZE: u32 = 10_000;
/// The most rows `runReport` returns per request, whatever `limit` says.
/// A larger page size would make a full page look like the last one.
pub const MAX_PAGE_SIZE: u32 = 100_000;
/// Days re-read before the cursor on every sync: GA4 finishes processing a
/// day's events within 72 hours.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 3;

/// `[sources.<name>]` for `type = "ga4"`.
///
/// ```toml
/// [sources.ga4]
/// type = "ga4"
/// property_ids = ["123456789"]
/// lookback_days = 3
/// # Only with base_url: both default to Google's own.
/// # base_url = "http://127.0.0.1:8790"
/// # token_url = "http://127.0.0.1:8790/token"
/// # Secrets are read from these environment variables (the defaults shown):
/// [sources.ga4.auth]
/// type = "oauth2"
/// client_id = { env = "GA4_CLIENT_ID" }
/// client_secret = { env = "GA4_CLIENT_SECRET" }
/// refresh_token = { env = "GA4_REFRESH_TOKEN" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ga4Config {
    /// The GA4 properties to read: the numeric property id from Admin >
    /// Property details (`123456789`), or `properties/123456789`. At least one.
    pub property_ids: Vec<String>,
    /// Where the API lives. Default `https://analyticsdata.googleapis.com`;
    /// point it at `kpi sandbox serve` to try a config without a Google
    /// account.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Where the OAuth2 refresh-token grant posts the client secret and
    /// refresh token. Default `https://oauth2.googleapis.com/token`, but
    /// only while `base_url` is the real API: a `base_url` pointed elsewhere
    /// without a `token_url` is refused. `auth.token_url` is accepted too;
    /// both set must agree.
    #[serde(default)]
    pub token_url: Option<String>,
    /// How requests authenticate. Default: the OAuth2 refresh-token grant at
    /// `token_url` with the client id, client
    /// secret and refresh token read from `GA4_CLIENT_ID`, `GA4_CLIENT_SECRET`
    /// and `GA4_REFRESH_TOKEN`. The refresh token needs the
    /// `analytics.readonly` scope.
    #[serde(default = "default_auth")]
    pub auth: AuthConfig,
    /// Rows per `runReport` request, 1 to 100,000. Default 10,000: a page is
    /// held whole while it is converted, and a sync reads several at once.
    /// Raise it to spend fewer requests on a very large property.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Days before the last synced day that every sync reads again, so days
    /// GA4 was still processing are replaced with their final numbers.
    /// Default 3.
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u32,
    /// Timeouts, retries and rate limits (see `kpi-connector`'s `HttpConfig`).
    /// Default concurrency is 10, GA4's limit of concurrent requests per
    /// standard property.
    #[serde(default)]
    pub http: HttpConfig,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_auth() -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: None,
        client_id: SecretRef::env("GA4_CLIENT_ID"),
        client_secret: SecretRef::env("GA4_CLIENT_SECRET"),
        refresh_token: SecretRef::env("GA4_REFRESH_TOKEN"),
        scope: None,
    }
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_lookback_days() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}

/// GA4's documented limit for a standard property: 10 concurrent requests.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        max_concurrency: 10,
        ..HttpSettings::default()
    }
}

/// The config could not become a connector. Messages name settings and
/// environment variables, never secret values.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `property_ids` is empty.
    #[error("property_ids is empty: list at least one GA4 property")]
    NoPropertyIds,
    /// A property id that is not one.
    #[error(
        "property_ids: `{0}` is not a GA4 property id (digits, optionally `properties/<digits>`)"
    )]
    InvalidPropertyId(String),
    /// The same property listed twice would be read twice.
    #[error("property_ids: {0} is listed twice")]
    DuplicatePropertyId(String),
    /// `page_size` outside 1..=100,000.
    #[error(
        "page_size: {0} is outside 1..=100000 (runReport returns at most 100,000 rows per request)"
    )]
    InvalidPageSize(u32),
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

impl Ga4Config {
    /// A config for `property_ids` with every other setting at its default.
    pub fn new(property_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Ga4Config {
            property_ids: property_ids.into_iter().map(Into::into).collect(),
            base_url: default_base_url(),
            token_url: None,
            auth: default_auth(),
            page_size: default_page_size(),
            lookback_days: default_lookback_days(),
            http: HttpConfig::default(),
        }
    }

    /// The connector, with secrets read from the process environment.
    pub fn build(&self) -> Result<Ga4Connector, BuildError> {
        self.validate()?;
        let auth = self.decided_auth()?.resolve()?;
        self.assemble(auth)
    }

    /// The connector, with secrets read through `lookup` (a secrets file
    /// layered over the environment, or a fixed map in tests).
    pub fn build_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Ga4Connector, BuildError> {
        self.validate()?;
        let auth = self.decided_auth()?.resolve_with(lookup)?;
        self.assemble(auth)
    }

    /// Checks every setting that needs no secret.
    pub fn validate(&self) -> Result<(), BuildError> {
        self.property_ids()?;
        self.endpoints()?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(BuildError::InvalidPageSize(self.page_size));
        }
        Ok(())
    }

    /// The property ids as bare digits.
    fn property_ids(&self) -> Result<Vec<String>, BuildError> {
        if self.property_ids.is_empty() {
            return Err(BuildError::NoPropertyIds);
        }
        let mut ids: Vec<String> = Vec::with_capacity(self.property_ids.len());
        for raw in &self.property_ids {
            let trimmed = raw.trim();
            let id = trimmed.strip_prefix("properties/").unwrap_or(trimmed);
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BuildError::InvalidPropertyId(raw.clone()));
            }
            if ids.iter().any(|known| known == id) {
                return Err(BuildError::DuplicatePropertyId(id.to_string()));
            }
            ids.push(id.to_string());
        }
        Ok(ids)
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

    /// `auth` with the token endpoint of [`Ga4Config::endpoints`] in it.
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

    fn assemble(&self, auth: Auth) -> Result<Ga4Connector, BuildError> {
        let client = HttpClient::builder(&self.http, http_defaults())
            .auth(auth)
            .build()?;
        Ok(Ga4Connector::new(
            client,
            self.base_url()?,
            self.property_ids()?,
            self.page_size,
            self.lookback_days,
        ))
    }
}

impl kpi_connector::ConnectorType for Ga4Config {
    const TYPE: &'static str = "ga4";

    fn streams() -> Vec<kpi_connector::StreamDef> {
        crate::connector::stream_defs(DEFAULT_LOOKBACK_DAYS)
    }

    fn endpoints(&self, _source: &str) -> Result<Endpoints, String> {
        Ga4Config::endpoints(self).map_err(|e| e.to_string())
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
        let config: Ga4Config =
            toml::from_str(r#"property_ids = ["properties/123", "456"]"#).unwrap();
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.page_size, 10_000);
        assert_eq!(config.lookback_days, 3);
        let AuthConfig::OAuth2 { client_id, .. } = &config.auth else {
            panic!("the default auth is oauth2");
        };
        assert_eq!(client_id.env, "GA4_CLIENT_ID");
        assert_eq!(
            config.endpoints().unwrap(),
            Endpoints {
                base_url: DEFAULT_BASE_URL.into(),
                token_url: Some(DEFAULT_TOKEN_URL.into()),
            }
        );
        assert_eq!(config.property_ids().unwrap(), vec!["123", "456"]);
        let c = config.build_with(&env).unwrap();
        assert_eq!(c.client().settings().max_concurrency, 10);
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |c: Ga4Config| c.build_with(&env).unwrap_err().to_string();
        assert_eq!(
            err(Ga4Config::new(Vec::<String>::new())),
            "property_ids is empty: list at least one GA4 property"
        );
        assert!(err(Ga4Config::new(["G-ABC123"])).starts_with("property_ids: `G-ABC123` is not"));
        assert_eq!(
            err(Ga4Config::new(["1", "properties/1"])),
            "property_ids: 1 is listed twice"
        );
        let mut c = Ga4Config::new(["1"]);
        c.page_size = 250_000;
        assert!(err(c).starts_with("page_size: 250000 is outside"));
        let mut c = Ga4Config::new(["1"]);
        c.page_size = 0;
        assert!(err(c).starts_with("page_size: 0"));
        assert!(toml::from_str::<Ga4Config>("property_ids = [\"1\"]\npagesize = 3").is_err());
        let e = Ga4Config::new(["1"]).build_with(&|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable GA4_CLIENT_ID is not set"
        );
    }

    #[test]
    fn token_url_beside_base_url() {
        let config: Ga4Config = toml::from_str(
            "property_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9/\"\n\
             token_url = \"http://127.0.0.1:9/token\"",
        )
        .unwrap();
        assert_eq!(
            config.endpoints().unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/token"
        );
        config.build_with(&env).unwrap();
        // The older auth.token_url form still works.
        let config: Ga4Config = toml::from_str(
            "property_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9\"\n[auth]\ntype = \"oauth2\"\n\
             token_url = \"http://127.0.0.1:9/token\"\nclient_id = { env = \"A\" }\n\
             client_secret = { env = \"B\" }\nrefresh_token = { env = \"C\" }",
        )
        .unwrap();
        assert_eq!(
            config.endpoints().unwrap().token_url.as_deref(),
            Some("http://127.0.0.1:9/token")
        );
    }

    #[test]
    fn a_test_base_url_without_token_url_is_refused_before_any_secret() {
        let mut c = Ga4Config::new(["1"]);
        c.base_url = "http://127.0.0.1:9".into();
        let e = c.validate().unwrap_err();
        assert!(matches!(
            e,
            BuildError::TokenUrl(TokenUrlError::Missing { .. })
        ));
        // Refused before a secret is read: the message is about token_url
        // even with no variable set, and holds no value.
        let e = c.build_with(&|_| None).unwrap_err().to_string();
        assert!(
            e.starts_with("token_url is not set, and base_url http://127.0.0.1:9"),
            "{e}"
        );
        let e = c.build_with(&env).unwrap_err().to_string();
        assert!(!e.contains("value-of"), "{e}");
        assert!(matches!(
            ConnectorError::from(c.validate().unwrap_err()),
            ConnectorError::Config(_)
        ));
    }

    #[test]
    fn unused_token_url_is_refused() {
        let mut c = Ga4Config::new(["1"]);
        c.auth = AuthConfig::None;
        c.token_url = Some("http://127.0.0.1:9/token".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("remove token_url")
        );
        c.token_url = None;
        c.base_url = "http://127.0.0.1:9".into();
        assert_eq!(c.endpoints().unwrap().token_url, None);
    }
}
