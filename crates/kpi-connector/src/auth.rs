//! How a source proves who it is: the config shape (secrets by environment
//! variable name) and the resolved credentials the HTTP client sends.

use serde::Deserialize;

use crate::secret::{Secret, SecretError, SecretRef};

/// `[sources.<name>.auth]`: how requests to the source are authenticated.
///
/// ```toml
/// [sources.google_ads.auth]
/// type = "oauth2"
/// token_url = "https://oauth2.googleapis.com/token"
/// client_id = { env = "GOOGLE_ADS_CLIENT_ID" }
/// client_secret = { env = "GOOGLE_ADS_CLIENT_SECRET" }
/// refresh_token = { env = "GOOGLE_ADS_REFRESH_TOKEN" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// No credentials (public endpoints, a sandbox without auth).
    None,
    /// A long-lived token sent as `Authorization: Bearer <token>`
    /// (HubSpot private app tokens, Meta system-user tokens).
    Bearer {
        /// The environment variable holding the token.
        token: SecretRef,
    },
    /// A key sent in a request header.
    ApiKey {
        /// The header's name, e.g. `x-api-key`.
        header: String,
        /// The environment variable holding the key.
        key: SecretRef,
    },
    /// The OAuth2 refresh-token grant: a long-lived refresh token is
    /// exchanged for short-lived access tokens as needed (Google Ads, GA4,
    /// HubSpot public apps).
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The provider's token endpoint, e.g. `https://oauth2.googleapis.com/token`.
        token_url: String,
        /// The environment variable holding the OAuth client id.
        client_id: SecretRef,
        /// The environment variable holding the OAuth client secret.
        client_secret: SecretRef,
        /// The environment variable holding the refresh token.
        refresh_token: SecretRef,
        /// Scopes to request, space separated. Most providers reuse the
        /// scopes granted with the refresh token when this is omitted.
        #[serde(default)]
        scope: Option<String>,
    },
}

impl AuthConfig {
    /// Reads every secret from the process environment.
    pub fn resolve(&self) -> Result<Auth, SecretError> {
        self.resolve_inner(&|r| r.resolve())
    }

    /// Reads every secret through `lookup` (see [`SecretRef::resolve_with`]).
    pub fn resolve_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Auth, SecretError> {
        self.resolve_inner(&|r| r.resolve_with(lookup))
    }

    fn resolve_inner(
        &self,
        get: &dyn Fn(&SecretRef) -> Result<Secret, SecretError>,
    ) -> Result<Auth, SecretError> {
        Ok(match self {
            AuthConfig::None => Auth::None,
            AuthConfig::Bearer { token } => Auth::Bearer(get(token)?),
            AuthConfig::ApiKey { header, key } => Auth::ApiKey {
                header: header.clone(),
                key: get(key)?,
            },
            AuthConfig::OAuth2 {
                token_url,
                client_id,
                client_secret,
                refresh_token,
                scope,
            } => Auth::OAuth2(OAuth2Credentials {
                token_url: token_url.clone(),
                client_id: get(client_id)?,
                client_secret: get(client_secret)?,
                refresh_token: get(refresh_token)?,
                scope: scope.clone(),
            }),
        })
    }
}

/// Resolved credentials for one source.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `<header>: <key>`.
    ApiKey {
        /// The header's name.
        header: String,
        /// The key.
        key: Secret,
    },
    /// OAuth2 refresh-token grant; the client caches the access token.
    OAuth2(OAuth2Credentials),
}

impl Auth {
    /// Every secret value these credentials hold, for redaction.
    pub fn secrets(&self) -> Vec<&Secret> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(token) => vec![token],
            Auth::ApiKey { key, .. } => vec![key],
            Auth::OAuth2(c) => vec![&c.client_id, &c.client_secret, &c.refresh_token],
        }
    }
}

/// What the OAuth2 refresh-token grant needs.
#[derive(Debug, Clone)]
pub struct OAuth2Credentials {
    /// The token endpoint.
    pub token_url: String,
    /// The OAuth client id. Not strictly secret, but treated as one so it
    /// never ends up next to the secret in a log.
    pub client_id: Secret,
    /// The OAuth client secret.
    pub client_secret: Secret,
    /// The refresh token.
    pub refresh_token: Secret,
    /// Scopes to request, space separated.
    pub scope: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    #[test]
    fn oauth2_from_toml() {
        let text = r#"
type = "oauth2"
token_url = "https://oauth2.googleapis.com/token"
client_id = { env = "GOOGLE_ADS_CLIENT_ID" }
client_secret = { env = "GOOGLE_ADS_CLIENT_SECRET" }
refresh_token = { env = "GOOGLE_ADS_REFRESH_TOKEN" }
"#;
        let config: AuthConfig = toml::from_str(text).unwrap();
        let Auth::OAuth2(c) = config.resolve_with(&env).unwrap() else {
            panic!("not oauth2")
        };
        assert_eq!(c.token_url, "https://oauth2.googleapis.com/token");
        assert_eq!(
            c.refresh_token.expose(),
            "value-of-GOOGLE_ADS_REFRESH_TOKEN"
        );
        assert_eq!(c.scope, None);
        // The resolved credentials print no values.
        assert!(!format!("{c:?}").contains("value-of"));
    }

    #[test]
    fn other_kinds_and_unknown_fields() {
        let bearer: AuthConfig =
            toml::from_str("type = \"bearer\"\ntoken = { env = \"T\" }").unwrap();
        assert!(
            matches!(bearer.resolve_with(&env).unwrap(), Auth::Bearer(t) if t.expose() == "value-of-T")
        );
        let key: AuthConfig =
            toml::from_str("type = \"api_key\"\nheader = \"x-api-key\"\nkey = { env = \"K\" }")
                .unwrap();
        assert!(
            matches!(key.resolve_with(&env).unwrap(), Auth::ApiKey { header, .. } if header == "x-api-key")
        );
        let none: AuthConfig = toml::from_str("type = \"none\"").unwrap();
        assert!(matches!(none.resolve().unwrap(), Auth::None));
        assert!(
            toml::from_str::<AuthConfig>("type = \"bearer\"\ntoken = { env = \"T\" }\nextra = 1")
                .is_err()
        );
        // A literal token in the config is refused: secrets come by name only.
        assert!(toml::from_str::<AuthConfig>("type = \"bearer\"\ntoken = \"abc\"").is_err());
    }

    #[test]
    fn missing_variable_is_named() {
        let config = AuthConfig::Bearer {
            token: SecretRef::env("HUBSPOT_TOKEN"),
        };
        let err = config.resolve_with(&|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable HUBSPOT_TOKEN is not set"
        );
    }
}
