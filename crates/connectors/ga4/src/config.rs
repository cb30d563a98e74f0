//! `[sources.<name>]` with `type = "ga4"`, and building the connector from it.
//! The settings every source has (`base_url`, `token_url`, `auth`, `http`,
//! `lookback_days`) are `kpi_connector::SharedSettings`; this file declares
//! GA4's defaults for them and its own settings.

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, RealEndpoints, SecretRef,
    SourceConfig, StreamDef,
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

/// A GA4 source: [`Ga4Config`] with the settings every source shares.
pub type Ga4Source = SourceConfig<Ga4Config>;

/// GA4's own settings in `[sources.<name>]` for `type = "ga4"`.
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
///
/// Shared settings, with GA4's defaults: `base_url`
/// `https://analyticsdata.googleapis.com`; `token_url`
/// `https://oauth2.googleapis.com/token` (only while `base_url` is the real
/// API); `auth` the OAuth2 refresh-token grant with `GA4_CLIENT_ID`,
/// `GA4_CLIENT_SECRET` and `GA4_REFRESH_TOKEN` (the refresh token needs the
/// `analytics.readonly` scope); `lookback_days` 3; `http` at most 10
/// requests at once, GA4's limit of concurrent requests per standard
/// property.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ga4Config {
    /// The GA4 properties to read: the numeric property id from Admin >
    /// Property details (`123456789`), or `properties/123456789`. At least one.
    pub property_ids: Vec<String>,
    /// Rows per `runReport` request, 1 to 100,000. Default 10,000: a page is
    /// held whole while it is converted, and a sync reads several at once.
    /// Raise it to spend fewer requests on a very large property.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
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
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        ConnectorError::Config(e.to_string())
    }
}

impl Ga4Config {
    /// A config for `property_ids` with every other setting at its default.
    pub fn new(property_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Ga4Config {
            property_ids: property_ids.into_iter().map(Into::into).collect(),
            page_size: default_page_size(),
        }
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

    /// The connector, from the shared settings decided.
    pub fn connector(&self, p: Prepared) -> Result<Ga4Connector, ConnectorError> {
        HttpSource::validate(self)?;
        Ok(Ga4Connector::new(
            p.client,
            p.base_url,
            self.property_ids()?,
            self.page_size,
            p.lookback_days,
        ))
    }
}

impl HttpSource for Ga4Config {
    const TYPE: &'static str = "ga4";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = Ga4Connector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        crate::connector::stream_defs(lookback_days)
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.property_ids()?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(BuildError::InvalidPageSize(self.page_size).into());
        }
        Ok(())
    }

    fn build(&self, p: Prepared) -> Result<Ga4Connector, ConnectorError> {
        self.connector(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_connector::{Endpoints, TokenUrlError};

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    fn parse(text: &str) -> Result<Ga4Source, toml::de::Error> {
        toml::from_str(text)
    }

    fn source(own: Ga4Config) -> Ga4Source {
        Ga4Source::new(own)
    }

    #[test]
    fn toml_with_defaults() {
        let config = parse(r#"property_ids = ["properties/123", "456"]"#).unwrap();
        assert_eq!(config.endpoints().unwrap().base_url, DEFAULT_BASE_URL);
        assert_eq!(config.own.page_size, 10_000);
        assert_eq!(config.lookback_days(), 3);
        let AuthConfig::OAuth2 { client_id, .. } = &config.auth() else {
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
        assert_eq!(config.own.property_ids().unwrap(), vec!["123", "456"]);
        let c = config.connector_with(&env).unwrap();
        assert_eq!(c.client().settings().max_concurrency, 10);
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |c: Ga4Config| source(c).connector_with(&env).unwrap_err().to_string();
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
        assert!(parse("property_ids = [\"1\"]\npagesize = 3").is_err());
        let e = source(Ga4Config::new(["1"]))
            .connector_with(&|_| None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable GA4_CLIENT_ID is not set"
        );
    }

    #[test]
    fn token_url_beside_base_url() {
        let config = parse(
            "property_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9/\"\n\
             token_url = \"http://127.0.0.1:9/token\"",
        )
        .unwrap();
        assert_eq!(
            config.endpoints().unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/token"
        );
        config.connector_with(&env).unwrap();
        // The older auth.token_url form still works.
        let config = parse(
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
        let mut c = source(Ga4Config::new(["1"]));
        c.shared.base_url = Some("http://127.0.0.1:9".into());
        let e = c.validate().unwrap_err().to_string();
        let missing = TokenUrlError::Missing {
            base_url: "http://127.0.0.1:9".into(),
            real_base_url: DEFAULT_BASE_URL,
            real_token_url: DEFAULT_TOKEN_URL,
        };
        assert_eq!(e, missing.to_string());
        // Refused before a secret is read: the message is about token_url
        // even with no variable set, and holds no value.
        let e = c.connector_with(&|_| None).unwrap_err().to_string();
        assert!(
            e.starts_with("token_url is not set, and base_url http://127.0.0.1:9"),
            "{e}"
        );
        let e = c.connector_with(&env).unwrap_err().to_string();
        assert!(!e.contains("value-of"), "{e}");
        assert!(matches!(
            c.validate().unwrap_err(),
            ConnectorError::Config(_)
        ));
    }

    #[test]
    fn unused_token_url_is_refused() {
        let mut c = source(Ga4Config::new(["1"]));
        c.shared.auth = Some(AuthConfig::None);
        c.shared.token_url = Some("http://127.0.0.1:9/token".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("remove token_url")
        );
        c.shared.token_url = None;
        c.shared.base_url = Some("http://127.0.0.1:9".into());
        assert_eq!(c.endpoints().unwrap().token_url, None);
    }
}
