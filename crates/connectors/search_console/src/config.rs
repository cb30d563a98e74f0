//! `[sources.<name>]` with `type = "search_console"`, and building the
//! connector from it. The settings every source has (`base_url`,
//! `token_url`, `auth`, `http`, `lookback_days`) are
//! `kpi_connector::SharedSettings`; this file declares Search Console's
//! defaults for them and its own settings.

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, RealEndpoints, SecretRef,
    SourceConfig, StreamDef,
};
use serde::{Deserialize, Deserializer};

use crate::analytics::MAX_PAGE_SIZE;
use crate::connector::SearchConsoleConnector;

/// The real API. `https://www.googleapis.com` serves the same
/// `webmasters/v3` paths; with it as `base_url`, set `token_url` too.
pub const DEFAULT_BASE_URL: &str = "https://searchconsole.googleapis.com";
/// Google's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// Where the OAuth client id is read from by default.
pub const CLIENT_ID_ENV: &str = "SEARCH_CONSOLE_CLIENT_ID";
/// Where the OAuth client secret is read from by default.
pub const CLIENT_SECRET_ENV: &str = "SEARCH_CONSOLE_CLIENT_SECRET";
/// Where the refresh token is read from by default.
pub const REFRESH_TOKEN_ENV: &str = "SEARCH_CONSOLE_REFRESH_TOKEN";
/// Rows asked for per request by default: the API's maximum. A row is
/// about 120 bytes of JSON, so a full page is 3 MB, and fewer requests
/// leave more of Google's per-site quota for the other tools using it.
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
/// Days re-read before the cursor on every sync: Google revises a day's
/// numbers for two to three days after it.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 3;

/// A Search Console source: [`SearchConsoleConfig`] with the settings
/// every source shares.
pub type SearchConsoleSource = SourceConfig<SearchConsoleConfig>;

/// Which days' data the API returns (`dataState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataState {
    /// Only data Google has finished processing (`"final"`): it trails
    /// today by two to three days.
    #[default]
    Final,
    /// Also the fresh, still partial data of the last days (`"all"`),
    /// which keeps changing until it is final; the lookback re-reads it.
    All,
}

impl DataState {
    /// The value the request body carries.
    pub fn as_str(self) -> &'static str {
        match self {
            DataState::Final => "final",
            DataState::All => "all",
        }
    }
}

/// `data_state = "final"` or `"all"` (any case); anything else names the
/// setting, which serde's own enum error would not.
fn data_state<'de, D: Deserializer<'de>>(d: D) -> Result<DataState, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "final" => Ok(DataState::Final),
        "all" => Ok(DataState::All),
        _ => Err(serde::de::Error::custom(format!(
            "data_state: `{text}` is neither \"final\" (finished days only, the default) nor \
             \"all\" (also the fresh, still changing days)"
        ))),
    }
}

/// Search Console's own settings in `[sources.<name>]` for
/// `type = "search_console"`.
///
/// ```toml
/// [sources.search_console]
/// type = "search_console"
/// site_urls = ["sc-domain:example.com", "https://shop.example.com/"]
/// page_size = 25000
/// data_state = "final"
/// lookback_days = 3
/// # Only with base_url: both default to Google's own.
/// # base_url = "http://127.0.0.1:8790"
/// # token_url = "http://127.0.0.1:8790/token"
/// # Secrets are read from these environment variables (the defaults shown):
/// [sources.search_console.auth]
/// type = "oauth2"
/// client_id = { env = "SEARCH_CONSOLE_CLIENT_ID" }
/// client_secret = { env = "SEARCH_CONSOLE_CLIENT_SECRET" }
/// refresh_token = { env = "SEARCH_CONSOLE_REFRESH_TOKEN" }
/// ```
///
/// Shared settings, with Search Console's defaults: `base_url`
/// `https://searchconsole.googleapis.com`; `token_url`
/// `https://oauth2.googleapis.com/token` (only while `base_url` is the real
/// API); `auth` the OAuth2 refresh-token grant with the three variables
/// above (the refresh token needs the
/// `https://www.googleapis.com/auth/webmasters.readonly` scope);
/// `lookback_days` 3; `http` at most 20 requests a second, Google's limit
/// of 1,200 queries a minute per site and per user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConsoleConfig {
    /// The Search Console properties to read, exactly as Search Console
    /// names them: a domain property as `sc-domain:example.com`, a
    /// URL-prefix property as its URL with protocol and trailing slash
    /// (`https://www.example.com/`). At least one. The Google account that
    /// granted the refresh token needs access to each (any permission level
    /// but "unverified").
    pub site_urls: Vec<String>,
    /// Rows per `searchAnalytics/query` request (`rowLimit`), 1 to 25,000,
    /// the API's maximum. Default 25,000. A smaller page means more
    /// requests against the same per-site quota.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// `"final"` (default): only the days Google has finished, two to three
    /// days behind; `"all"`: also the fresh, still partial days, which the
    /// lookback re-reads until they are final.
    #[serde(default, deserialize_with = "data_state")]
    pub data_state: DataState,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_auth() -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: None,
        client_id: SecretRef::env(CLIENT_ID_ENV),
        client_secret: SecretRef::env(CLIENT_SECRET_ENV),
        refresh_token: SecretRef::env(REFRESH_TOKEN_ENV),
        scope: None,
    }
}

/// Google's documented limit: 1,200 queries a minute per site and per
/// user, so 20 a second across the source's sites.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        requests_per_second: Some(20.0),
        ..HttpSettings::default()
    }
}

/// The config could not become a connector. Messages name the setting,
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `site_urls` is empty.
    #[error(
        "site_urls is empty: list at least one Search Console property \
         (\"sc-domain:example.com\" or \"https://www.example.com/\")"
    )]
    NoSiteUrls,
    /// A site URL Search Console would not recognise.
    #[error("site_urls: `{site}` is not a Search Console property: {why}")]
    InvalidSiteUrl {
        /// As written.
        site: String,
        /// What is wrong and what it should look like.
        why: String,
    },
    /// The same site twice would be read twice.
    #[error("site_urls: {0} is listed twice")]
    DuplicateSiteUrl(String),
    /// `page_size` outside 1..=25,000.
    #[error(
        "page_size: {0} is outside 1..=25000 (searchAnalytics/query returns at most 25,000 rows \
         per request)"
    )]
    InvalidPageSize(u32),
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        ConnectorError::Config(e.to_string())
    }
}

/// Why `site` is not a property name, if it is not.
fn site_problem(site: &str) -> Option<String> {
    if site.chars().any(char::is_whitespace) {
        return Some("it contains a space".into());
    }
    if let Some(domain) = site.strip_prefix("sc-domain:") {
        return if domain.is_empty() || domain.contains('/') || domain.contains(':') {
            Some(
                "a domain property is `sc-domain:` and the bare domain, e.g. \
                 \"sc-domain:example.com\""
                    .into(),
            )
        } else {
            None
        };
    }
    let host = site
        .strip_prefix("https://")
        .or_else(|| site.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
            if site.ends_with('/') {
                None
            } else {
                Some(format!(
                    "a URL-prefix property ends with `/`, as Search Console shows it: \"{site}/\""
                ))
            }
        }
        Some(_) => Some("the URL has no host".into()),
        None => Some(format!(
            "write a domain property as \"sc-domain:{0}\" or a URL-prefix property as \
             \"https://{0}/\", as Search Console shows it",
            site.trim_end_matches('/')
        )),
    }
}

impl SearchConsoleConfig {
    /// A config for `site_urls` with every other setting at its default.
    pub fn new(site_urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        SearchConsoleConfig {
            site_urls: site_urls.into_iter().map(Into::into).collect(),
            page_size: DEFAULT_PAGE_SIZE,
            data_state: DataState::default(),
        }
    }

    /// The sites, trimmed and checked; in the order written.
    pub fn sites(&self) -> Result<Vec<String>, BuildError> {
        if self.site_urls.is_empty() {
            return Err(BuildError::NoSiteUrls);
        }
        let mut sites: Vec<String> = Vec::with_capacity(self.site_urls.len());
        for raw in &self.site_urls {
            let site = raw.trim();
            if let Some(why) = site_problem(site) {
                return Err(BuildError::InvalidSiteUrl {
                    site: raw.clone(),
                    why,
                });
            }
            if sites.iter().any(|known| known == site) {
                return Err(BuildError::DuplicateSiteUrl(site.to_string()));
            }
            sites.push(site.to_string());
        }
        Ok(sites)
    }

    /// The connector, from the shared settings decided.
    pub fn connector(&self, p: Prepared) -> Result<SearchConsoleConnector, ConnectorError> {
        HttpSource::validate(self)?;
        Ok(SearchConsoleConnector::new(
            p,
            self.sites()?,
            self.page_size,
            self.data_state,
        ))
    }
}

impl HttpSource for SearchConsoleConfig {
    const TYPE: &'static str = "search_console";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = SearchConsoleConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        crate::connector::stream_defs(lookback_days)
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.sites()?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(BuildError::InvalidPageSize(self.page_size).into());
        }
        Ok(())
    }

    fn build(&self, p: Prepared) -> Result<SearchConsoleConnector, ConnectorError> {
        self.connector(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_connector::ConnectorType;

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    fn parse(text: &str) -> Result<SearchConsoleSource, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn toml_with_defaults() {
        let c = parse(r#"site_urls = [" sc-domain:example.com ", "https://www.example.com/"]"#)
            .unwrap();
        assert_eq!(
            c.own.sites().unwrap(),
            ["sc-domain:example.com", "https://www.example.com/"]
        );
        assert_eq!(c.own.page_size, 25_000);
        assert_eq!(c.own.data_state, DataState::Final);
        assert_eq!(c.lookback_days(), 3);
        assert_eq!(
            c.endpoints().unwrap().to_string(),
            "base_url https://searchconsole.googleapis.com, \
             token_url https://oauth2.googleapis.com/token"
        );
        let AuthConfig::OAuth2 {
            client_id,
            client_secret,
            refresh_token,
            ..
        } = c.auth()
        else {
            panic!("the default auth is oauth2");
        };
        assert_eq!(
            [client_id.env, client_secret.env, refresh_token.env],
            [
                "SEARCH_CONSOLE_CLIENT_ID",
                "SEARCH_CONSOLE_CLIENT_SECRET",
                "SEARCH_CONSOLE_REFRESH_TOKEN"
            ]
        );
        let built = c.connector_named("sc", &env).unwrap();
        assert_eq!(built.site_urls().len(), 2);
        assert_eq!(built.client().settings().requests_per_second, Some(20.0));
        let c = parse("site_urls = [\"sc-domain:a.com\"]\ndata_state = \"ALL\"\npage_size = 10")
            .unwrap();
        assert_eq!((c.own.data_state, c.own.page_size), (DataState::All, 10));
        let streams = <SearchConsoleSource as ConnectorType>::streams();
        assert_eq!(streams.len(), 1);
        streams[0].validate().unwrap();
        assert_eq!(streams[0].cursor.as_ref().unwrap().lookback_days, 3);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = |text: &str| match parse(text) {
            Err(e) => e,
            Ok(c) => c.validate().unwrap_err().to_string(),
        };
        assert!(err("").contains("missing field `site_urls`"), "{}", err(""));
        assert_eq!(
            err("site_urls = []"),
            BuildError::NoSiteUrls.to_string(),
            "an empty list"
        );
        let e = err(r#"site_urls = ["example.com"]"#);
        assert!(
            e.starts_with("site_urls: `example.com` is not a Search Console property")
                && e.contains("\"sc-domain:example.com\"")
                && e.contains("\"https://example.com/\""),
            "{e}"
        );
        let e = err(r#"site_urls = ["https://www.example.com"]"#);
        assert!(e.contains("\"https://www.example.com/\""), "{e}");
        let e = err(r#"site_urls = ["sc-domain:https://example.com/"]"#);
        assert!(e.contains("the bare domain"), "{e}");
        assert_eq!(
            err(r#"site_urls = ["sc-domain:a.com", "sc-domain:a.com "]"#),
            "site_urls: sc-domain:a.com is listed twice"
        );
        let e = err("site_urls = [\"sc-domain:a.com\"]\npage_size = 30000");
        assert!(
            e.starts_with("page_size: 30000 is outside 1..=25000"),
            "{e}"
        );
        let e = err("site_urls = [\"sc-domain:a.com\"]\ndata_state = \"fresh\"");
        assert!(
            e.contains("data_state: `fresh` is neither \"final\""),
            "{e}"
        );
        let e = err("site_urls = [\"sc-domain:a.com\"]\nsite = \"x\"");
        assert!(
            e.contains("unknown field `site`") && e.contains("`lookback_days`"),
            "{e}"
        );
        let c = parse(r#"site_urls = ["sc-domain:a.com"]"#).unwrap();
        let e = c.connector_named("sc", &|_| None).unwrap_err().to_string();
        assert_eq!(
            e,
            "environment variable SEARCH_CONSOLE_CLIENT_ID is not set"
        );
    }

    #[test]
    fn a_test_base_url_needs_its_own_token_url() {
        let c =
            parse("site_urls = [\"sc-domain:a.com\"]\nbase_url = \"http://127.0.0.1:9\"").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("token_url is not set"), "{e}");
        // Refused before a secret is read: no value in the message.
        let e = c.connector_named("sc", &env).unwrap_err().to_string();
        assert!(!e.contains("value-of"), "{e}");
        let c = parse(
            "site_urls = [\"sc-domain:a.com\"]\nbase_url = \"http://127.0.0.1:9/\"\n\
             token_url = \"http://127.0.0.1:9/token\"",
        )
        .unwrap();
        assert_eq!(
            c.connector_named("sc", &env).unwrap().base_url(),
            "http://127.0.0.1:9"
        );
    }
}
