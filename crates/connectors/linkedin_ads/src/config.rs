//! `[sources.<name>]` with `type = "linkedin_ads"`, and building the
//! connector from it. The settings every source has (`base_url`,
//! `token_url`, `auth`, `http`, `lookback_days`) are
//! `kpi_connector::SharedSettings`; this file declares LinkedIn's defaults
//! for them and LinkedIn's own settings.

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, RealEndpoints, SecretRef,
    SourceConfig, StreamDef,
};
use serde::{Deserialize, Deserializer};

use crate::connector::LinkedInAdsConnector;

/// The real API host; every path is under `/rest`.
pub const DEFAULT_BASE_URL: &str = "https://api.linkedin.com";
/// LinkedIn's OAuth2 token endpoint (on `www`, not on the API host).
pub const DEFAULT_TOKEN_URL: &str = "https://www.linkedin.com/oauth/v2/accessToken";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// The `Linkedin-Version` sent when `api_version` is not set. LinkedIn
/// serves each monthly version for at least a year after its release; bump
/// this (and re-run the tests) before it is sunset, when the API starts
/// answering 426 `NONEXISTENT_VERSION`.
pub const DEFAULT_API_VERSION: &str = "202608";
/// Days re-read before the cursor on every sync: LinkedIn attributes a
/// conversion to the day of the ad interaction, up to 30 days later with
/// its default post-click window, so the last 30 days keep changing.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Campaigns per `adCampaigns` search page.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// The most campaigns a search page holds (`pageSize`).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A LinkedIn Ads source: [`LinkedInAdsConfig`] with the settings every
/// source shares.
pub type LinkedInAdsSource = SourceConfig<LinkedInAdsConfig>;

/// LinkedIn's own settings in `[sources.<name>]` for `type = "linkedin_ads"`.
///
/// ```toml
/// [sources.linkedin_ads]
/// type = "linkedin_ads"
/// account_ids = ["508720451", "urn:li:sponsoredAccount:508774356"]
/// api_version = "202608"
/// lookback_days = 30
/// # Only with base_url: both default to LinkedIn's own.
/// # base_url = "http://127.0.0.1:8790"
/// # token_url = "http://127.0.0.1:8790/oauth/v2/accessToken"
/// # Secrets are read from these environment variables (the defaults shown):
/// [sources.linkedin_ads.auth]
/// type = "oauth2"
/// client_id = { env = "LINKEDIN_CLIENT_ID" }
/// client_secret = { env = "LINKEDIN_CLIENT_SECRET" }
/// refresh_token = { env = "LINKEDIN_REFRESH_TOKEN" }
/// ```
///
/// Shared settings, with LinkedIn's defaults: `base_url`
/// `https://api.linkedin.com`; `token_url`
/// `https://www.linkedin.com/oauth/v2/accessToken` (only while `base_url`
/// is the real API); `auth` the OAuth2 refresh-token grant with
/// `LINKEDIN_CLIENT_ID`, `LINKEDIN_CLIENT_SECRET` and
/// `LINKEDIN_REFRESH_TOKEN` (the app needs the `r_ads` and
/// `r_ads_reporting` scopes; a refresh token lasts 365 days); `lookback_days`
/// 30; `http` the crate defaults (LinkedIn publishes daily limits per app,
/// not a rate, and answers 429 when one is reached).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedInAdsConfig {
    /// The ad accounts to read: the number Campaign Manager shows next to the
    /// account name (`508720451`), or its URN
    /// `urn:li:sponsoredAccount:508720451`. At least one. The member who
    /// authorized the app needs a role on each (VIEWER is enough).
    pub account_ids: Vec<String>,
    /// The Marketing API version sent as `Linkedin-Version`, `YYYYMM`
    /// (a TOML string or integer). Default [`DEFAULT_API_VERSION`].
    #[serde(default = "default_api_version", deserialize_with = "version")]
    pub api_version: String,
    /// Campaigns per `adCampaigns` search page, 1 to 1,000. Default 500.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

/// `api_version = "202608"` or `api_version = 202608`.
fn version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Version {
        Text(String),
        Number(u64),
    }
    Ok(match Version::deserialize(d)? {
        Version::Text(s) => s,
        Version::Number(n) => n.to_string(),
    })
}

fn default_auth() -> AuthConfig {
    AuthConfig::OAuth2 {
        token_url: None,
        client_id: SecretRef::env("LINKEDIN_CLIENT_ID"),
        client_secret: SecretRef::env("LINKEDIN_CLIENT_SECRET"),
        refresh_token: SecretRef::env("LINKEDIN_REFRESH_TOKEN"),
        scope: None,
    }
}

/// The config could not become a connector. Messages name the setting,
/// never a secret.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `account_ids` is empty.
    #[error("account_ids is empty: list at least one LinkedIn ad account")]
    NoAccountIds,
    /// An account id that is not one.
    #[error(
        "account_ids: `{0}` is not a LinkedIn ad account id (digits, optionally `urn:li:sponsoredAccount:<digits>`)"
    )]
    InvalidAccountId(String),
    /// The same account twice would be read twice.
    #[error("account_ids: {0} is listed twice")]
    DuplicateAccountId(String),
    /// `api_version` is not `YYYYMM`.
    #[error(
        "api_version: `{0}` is not a LinkedIn Marketing API version (YYYYMM, e.g. \"{DEFAULT_API_VERSION}\")"
    )]
    InvalidApiVersion(String),
    /// `page_size` outside 1..=1000.
    #[error("page_size: {0} is outside 1..=1000 (an adCampaigns search page holds at most 1,000)")]
    InvalidPageSize(u32),
}

impl From<BuildError> for ConnectorError {
    fn from(e: BuildError) -> Self {
        ConnectorError::Config(e.to_string())
    }
}

impl LinkedInAdsConfig {
    /// A config for `account_ids` with every other setting at its default.
    pub fn new(account_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        LinkedInAdsConfig {
            account_ids: account_ids.into_iter().map(Into::into).collect(),
            api_version: default_api_version(),
            page_size: default_page_size(),
        }
    }

    /// The account ids as bare digits.
    pub fn account_ids(&self) -> Result<Vec<String>, BuildError> {
        if self.account_ids.is_empty() {
            return Err(BuildError::NoAccountIds);
        }
        let mut ids: Vec<String> = Vec::with_capacity(self.account_ids.len());
        for raw in &self.account_ids {
            let trimmed = raw.trim();
            let id = trimmed
                .strip_prefix("urn:li:sponsoredAccount:")
                .unwrap_or(trimmed);
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

    fn check_api_version(&self) -> Result<(), BuildError> {
        let v = self.api_version.trim();
        let valid = v.len() == 6
            && v.bytes().all(|b| b.is_ascii_digit())
            && v[..4].parse::<u32>().is_ok_and(|y| y >= 2022)
            && v[4..].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
        if valid {
            Ok(())
        } else {
            Err(BuildError::InvalidApiVersion(self.api_version.clone()))
        }
    }

    /// The connector, from the shared settings decided.
    pub fn connector(&self, p: Prepared) -> Result<LinkedInAdsConnector, ConnectorError> {
        HttpSource::validate(self)?;
        let version = self.api_version.trim().to_string();
        let client = p.client_with(|b| {
            b.header("Linkedin-Version", version.as_str())
                .header("X-Restli-Protocol-Version", "2.0.0")
        })?;
        Ok(LinkedInAdsConnector::new(
            client,
            p.base_url,
            p.source,
            p.auth_config.secret_vars().first().map_or_else(
                || "(no variable: auth is none)".to_string(),
                |v| v.to_string(),
            ),
            self.account_ids()?,
            version,
            self.page_size,
            p.lookback_days,
        ))
    }
}

impl HttpSource for LinkedInAdsConfig {
    const TYPE: &'static str = "linkedin_ads";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: HttpSettings::default,
    };
    type Connector = LinkedInAdsConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        crate::connector::stream_defs(lookback_days)
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.account_ids()?;
        self.check_api_version()?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(BuildError::InvalidPageSize(self.page_size).into());
        }
        Ok(())
    }

    fn build(&self, p: Prepared) -> Result<LinkedInAdsConnector, ConnectorError> {
        self.connector(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    fn parse(text: &str) -> Result<LinkedInAdsSource, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn toml_with_defaults() {
        let c =
            parse(r#"account_ids = ["urn:li:sponsoredAccount:508720451", "508774356"]"#).unwrap();
        assert_eq!(c.own.account_ids().unwrap(), ["508720451", "508774356"]);
        assert_eq!(c.own.api_version, DEFAULT_API_VERSION);
        assert_eq!(c.own.page_size, 500);
        assert_eq!(c.lookback_days(), 30);
        let e = c.endpoints().unwrap();
        assert_eq!(e.base_url, DEFAULT_BASE_URL);
        assert_eq!(e.token_url.as_deref(), Some(DEFAULT_TOKEN_URL));
        let AuthConfig::OAuth2 { refresh_token, .. } = c.auth() else {
            panic!("the default auth is oauth2");
        };
        assert_eq!(refresh_token.env, "LINKEDIN_REFRESH_TOKEN");
        let built = c.connector_with(&env).unwrap();
        assert_eq!(built.account_ids(), ["508720451", "508774356"]);
        // A version written as a TOML integer means the same.
        let c = parse("account_ids = [\"1\"]\napi_version = 202410").unwrap();
        assert_eq!(c.own.api_version, "202410");
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |own: LinkedInAdsConfig| {
            LinkedInAdsSource::new(own)
                .connector_with(&env)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(LinkedInAdsConfig::new(Vec::<String>::new())),
            "account_ids is empty: list at least one LinkedIn ad account"
        );
        assert!(
            err(LinkedInAdsConfig::new(["urn:li:organization:1"]))
                .starts_with("account_ids: `urn:li:organization:1` is not")
        );
        assert_eq!(
            err(LinkedInAdsConfig::new(["7", "urn:li:sponsoredAccount:7"])),
            "account_ids: 7 is listed twice"
        );
        for bad in ["2024-10", "20241", "202413", "v202410", "199901"] {
            let mut c = LinkedInAdsConfig::new(["1"]);
            c.api_version = bad.into();
            assert!(
                err(c).starts_with(&format!("api_version: `{bad}`")),
                "{bad}"
            );
        }
        let mut c = LinkedInAdsConfig::new(["1"]);
        c.page_size = 1001;
        assert!(err(c).starts_with("page_size: 1001 is outside"));
        let e = parse("account_ids = [\"1\"]\naccounts = [\"2\"]").unwrap_err();
        assert!(e.to_string().contains("unknown field `accounts`"), "{e}");
        assert!(e.to_string().contains("`lookback_days`"), "{e}");
        let e = LinkedInAdsSource::new(LinkedInAdsConfig::new(["1"]))
            .connector_with(&|_| None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable LINKEDIN_CLIENT_ID is not set"
        );
    }

    #[test]
    fn a_test_base_url_needs_its_own_token_url() {
        let c = parse("account_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9\"").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("token_url is not set"), "{e}");
        let c = parse(
            "account_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9/\"\n\
             token_url = \"http://127.0.0.1:9/oauth/v2/accessToken\"",
        )
        .unwrap();
        c.connector_with(&env).unwrap();
    }
}
