//! `[sources.<name>]` with `type = "salesforce"`, and building the connector
//! from it. The settings every source has (`base_url`, `token_url`, `auth`,
//! `http`, `lookback_days`) are `kpi_connector::SharedSettings`; this file
//! declares Salesforce's defaults for them and its own settings.

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, SecretRef, SourceConfig,
    StreamDef,
};
use serde::Deserialize;

use crate::connector::{SalesforceConnector, Settings};
use crate::objects::OBJECTS;

/// Where the OAuth2 login lives. Not an instance: while `base_url` is this
/// (its default), queries go to the `instance_url` the token response names.
pub const DEFAULT_BASE_URL: &str = "https://login.salesforce.com";
/// Salesforce's token endpoint for production orgs; a sandbox org uses
/// `https://test.salesforce.com/services/oauth2/token`.
pub const DEFAULT_TOKEN_URL: &str = "https://login.salesforce.com/services/oauth2/token";
/// A current REST API version.
pub const DEFAULT_API_VERSION: &str = "v62.0";
/// Records per query page: Salesforce's most.
pub const DEFAULT_BATCH_SIZE: u32 = 2000;
/// The connected app's consumer key, by default.
pub const CLIENT_ID_ENV: &str = "SALESFORCE_CLIENT_ID";
/// The connected app's consumer secret, by default.
pub const CLIENT_SECRET_ENV: &str = "SALESFORCE_CLIENT_SECRET";
/// The user's refresh token, by default.
pub const REFRESH_TOKEN_ENV: &str = "SALESFORCE_REFRESH_TOKEN";

/// A Salesforce source: [`SalesforceConfig`] with the settings every source
/// shares.
pub type SalesforceSource = SourceConfig<SalesforceConfig>;

/// Salesforce's own settings in `[sources.<name>]` for `type = "salesforce"`.
///
/// ```toml
/// [sources.salesforce]
/// type = "salesforce"
/// # OAuth2 refresh token of a connected app (scopes api, refresh_token),
/// # from SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET and
/// # SALESFORCE_REFRESH_TOKEN (the default auth).
/// # A sandbox org: token_url = "https://test.salesforce.com/services/oauth2/token"
/// api_version = "v62.0"
/// org_currency = "EUR"            # only for a single-currency org
/// mql_date_field = "MQL_Date__c"  # a Lead Date or DateTime field, if the org has one
/// churn_date_field = "Churn_Date__c"  # a Contact Date or DateTime field, if any
/// batch_size = 2000
/// ```
///
/// Shared settings, with Salesforce's defaults: `base_url`
/// `https://login.salesforce.com`, which means "the instance the token
/// response names" (`instance_url`, e.g. `https://acme.my.salesforce.com`);
/// set it to the instance (or to `kpi sandbox serve`) to send every query
/// there. `token_url` `https://login.salesforce.com/services/oauth2/token`
/// while `base_url` is the default. `auth` the OAuth2 refresh-token grant
/// above, or `type = "bearer"` with an access token (then `base_url` must
/// name the instance: there is no token response to name it). `http` at
/// most 4 requests at once (Salesforce allows 25 long-running ones per
/// org). `lookback_days` 0: each sync reads the records changed from the
/// first day after the last sync's through now.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConfig {
    /// The REST API version in the query path, `vNN.N`. Default `v62.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The org's currency, for an org without multi-currency (whose
    /// objects have no `CurrencyIsoCode` field: querying it fails with
    /// `INVALID_FIELD`). Default: none, the org has multi-currency and each
    /// opportunity's `CurrencyIsoCode` is read.
    #[serde(default)]
    pub org_currency: Option<String>,
    /// The Lead field (Date or DateTime, usually custom, such as
    /// `MQL_Date__c`) that holds when the lead became marketing qualified,
    /// stored as `mql_date`. Default: none (Salesforce has no standard
    /// one); MQLs then count from the conversion (SQL) date on.
    #[serde(default)]
    pub mql_date_field: Option<String>,
    /// The Contact field (Date or DateTime) that holds when a customer
    /// churned, stored as `churn_date`. Default: none, so retention sees no
    /// churn.
    #[serde(default)]
    pub churn_date_field: Option<String>,
    /// Records per query page (the `Sforce-Query-Options: batchSize`
    /// header), 1 to 2,000; Salesforce answers at least 200 and may send
    /// fewer than asked. Default 2,000.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            api_version: default_api_version(),
            org_currency: None,
            mql_date_field: None,
            churn_date_field: None,
            batch_size: default_batch_size(),
        }
    }
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}
fn default_batch_size() -> u32 {
    DEFAULT_BATCH_SIZE
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

/// Salesforce counts requests against the org's daily API limit rather than
/// a rate; 4 at once stays far under its 25 concurrent long-running ones.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        max_concurrency: 4,
        ..HttpSettings::default()
    }
}

/// What Salesforce's own settings decide.
struct Own {
    org_currency: Option<String>,
    mql_date_field: Option<String>,
    churn_date_field: Option<String>,
}

impl SalesforceConfig {
    /// Every own setting checked; the message names the setting.
    fn check(&self) -> Result<Own, ConnectorError> {
        let invalid = ConnectorError::Config;
        let v = self.api_version.trim();
        let ok = v
            .strip_prefix('v')
            .and_then(|n| n.split_once('.'))
            .is_some_and(|(major, minor)| {
                !major.is_empty()
                    && !minor.is_empty()
                    && major.bytes().all(|b| b.is_ascii_digit())
                    && minor.bytes().all(|b| b.is_ascii_digit())
            });
        if !ok {
            return Err(invalid(format!(
                "api_version {v:?} is not a REST API version such as \"{DEFAULT_API_VERSION}\""
            )));
        }
        if !(1..=2000).contains(&self.batch_size) {
            return Err(invalid(format!(
                "batch_size must be between 1 and 2000, got {}",
                self.batch_size
            )));
        }
        let org_currency = match &self.org_currency {
            None => None,
            Some(c) => {
                let c = c.trim().to_ascii_uppercase();
                if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(invalid(format!(
                        "org_currency {c:?} is not an ISO 4217 code such as \"EUR\""
                    )));
                }
                Some(c)
            }
        };
        let field = |what: &str, f: &Option<String>| -> Result<Option<String>, ConnectorError> {
            let Some(f) = f.as_deref().map(str::trim).filter(|f| !f.is_empty()) else {
                return Ok(None);
            };
            let ok = f.starts_with(|c: char| c.is_ascii_alphabetic())
                && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(invalid(format!(
                    "{what}: {f:?} is not a field's API name (letters, digits and _, such as \"MQL_Date__c\")"
                )));
            }
            Ok(Some(f.to_string()))
        };
        Ok(Own {
            org_currency,
            mql_date_field: field("mql_date_field", &self.mql_date_field)?,
            churn_date_field: field("churn_date_field", &self.churn_date_field)?,
        })
    }
}

/// What to tell a person when Salesforce refuses the session twice, naming
/// the variables to renew; or why `auth` cannot work with Salesforce.
fn auth_hint(auth: &AuthConfig) -> Result<String, ConnectorError> {
    Ok(match auth {
        AuthConfig::ApiKey { .. } | AuthConfig::Basic { .. } => {
            return Err(ConnectorError::Config(
                "auth: Salesforce's REST API takes OAuth2 (type = \"oauth2\", a connected app's refresh token) or an access token (type = \"bearer\")".into(),
            ));
        }
        AuthConfig::OAuth2 {
            refresh_token,
            client_id,
            ..
        } => format!(
            "Salesforce refused a fresh session from the refresh token in {}: the token may be revoked or the connected app ({}) no longer allowed for this user; issue a new refresh token",
            refresh_token.env, client_id.env
        ),
        AuthConfig::Bearer { token } => format!(
            "Salesforce refused the access token in {}: sessions expire, get a new one",
            token.env
        ),
        AuthConfig::None => "Salesforce needs credentials: set auth".into(),
    })
}

impl HttpSource for SalesforceConfig {
    const TYPE: &'static str = "salesforce";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        // SystemModstamp is exact: the cursor's own day is read again, and
        // nothing before it needs to be.
        lookback_days: 0,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = SalesforceConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        OBJECTS
            .iter()
            .map(|o| o.stream_def(lookback_days))
            .collect()
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.check().map(|_| ())
    }

    fn validate_auth(&self, auth: &AuthConfig) -> Result<(), ConnectorError> {
        auth_hint(auth).map(|_| ())
    }

    fn build(&self, p: Prepared) -> Result<SalesforceConnector, ConnectorError> {
        let own = self.check()?;
        let auth_hint = auth_hint(&p.auth_config)?;
        // The login host is no instance: the token response names one.
        let instance = (p.base_url.trim_end_matches('/') != DEFAULT_BASE_URL)
            .then(|| p.base_url.trim_end_matches('/').to_string());
        if instance.is_none() && !matches!(p.auth_config, AuthConfig::OAuth2 { .. }) {
            return Err(ConnectorError::Config(
                "base_url: set it to the org's instance (https://<domain>.my.salesforce.com): without OAuth2 there is no token response to name it".into(),
            ));
        }
        let streams = OBJECTS
            .iter()
            .map(|o| o.stream_def(p.lookback_days))
            .collect();
        // Salesforce answers its concurrent-request limit (not the daily
        // one) with 403 REQUEST_LIMIT_EXCEEDED too: that one passes.
        let client = p.client_with(|b| {
            b.throttle_rule(kpi_connector::ThrottleRule {
                matches: crate::connector::is_concurrency_limit,
                wait: std::time::Duration::from_secs(5),
                attempts: 4,
            })
        })?;
        let settings = Settings {
            instance,
            api_version: self.api_version.trim().to_string(),
            org_currency: own.org_currency,
            mql_date_field: own.mql_date_field,
            churn_date_field: own.churn_date_field,
            batch_size: self.batch_size,
            auth_hint,
            streams,
        };
        Ok(SalesforceConnector::new(settings, client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SalesforceSource {
        toml::from_str(text).unwrap()
    }

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    #[test]
    fn defaults_read_the_instance_from_the_token_response() {
        let c = parse("");
        let e = c.endpoints().unwrap();
        assert_eq!(e.base_url, DEFAULT_BASE_URL);
        assert_eq!(e.token_url.as_deref(), Some(DEFAULT_TOKEN_URL));
        let s = c.connector_with(&env).unwrap().settings;
        assert_eq!(s.instance, None);
        assert_eq!(s.api_version, "v62.0");
        assert_eq!(s.batch_size, 2000);
        assert!(
            s.auth_hint.contains("SALESFORCE_REFRESH_TOKEN"),
            "{}",
            s.auth_hint
        );
        // A sandbox org: only the token endpoint changes.
        let c = parse("token_url = \"https://test.salesforce.com/services/oauth2/token\"");
        assert_eq!(c.connector_with(&env).unwrap().settings.instance, None);
        // A written base_url is the instance.
        let c = parse(
            "base_url = \"http://127.0.0.1:9/\"\ntoken_url = \"http://127.0.0.1:9/services/oauth2/token\"",
        );
        assert_eq!(
            c.connector_with(&env).unwrap().settings.instance.as_deref(),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |text: &str| parse(text).validate().unwrap_err().to_string();
        assert!(err("api_version = \"62\"").starts_with("api_version \"62\" is not"));
        assert_eq!(
            err("batch_size = 5000"),
            "batch_size must be between 1 and 2000, got 5000"
        );
        assert!(err("org_currency = \"euro\"").contains("not an ISO 4217 code"));
        assert!(err("mql_date_field = \"MQL Date\"").starts_with("mql_date_field: \"MQL Date\""));
        assert!(
            err("auth = { type = \"api_key\", header = \"x\", key = { env = \"K\" } }")
                .starts_with("auth: Salesforce's REST API takes OAuth2")
        );
        let e = toml::from_str::<SalesforceSource>("instance = \"x\"").unwrap_err();
        assert!(e.to_string().contains("unknown field `instance`"), "{e}");
        // A bearer token cannot learn the instance.
        let e = parse("auth = { type = \"bearer\", token = { env = \"SF_TOKEN\" } }")
            .connector_with(&env)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("base_url: set it to the org's instance"),
            "{e}"
        );
        let e = parse("").connector_with(&|_| None).unwrap_err().to_string();
        assert_eq!(e, "environment variable SALESFORCE_CLIENT_ID is not set");
    }
}
