//! How a source proves who it is: the config shape (secrets by environment
//! variable name) and the resolved credentials the HTTP client sends.

use std::fmt;

use serde::Deserialize;

use crate::secret::{Secret, SecretError, SecretRef, redact};

/// `[sources.<name>.auth]`: how requests to the source are authenticated.
///
/// ```toml
/// [sources.google_ads.auth]
/// type = "oauth2"
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
    /// HTTP basic auth, `Authorization: Basic base64(username:password)`
    /// (Mailchimp: any user name, the API key as password).
    Basic {
        /// The user name; not secret.
        #[serde(default)]
        username: String,
        /// The environment variable holding the password or key.
        password: SecretRef,
    },
    /// The OAuth2 refresh-token grant: a long-lived refresh token is
    /// exchanged for short-lived access tokens as needed (Google Ads, GA4,
    /// HubSpot public apps).
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The token endpoint, e.g. `https://oauth2.googleapis.com/token`.
        /// Sources take it from `token_url` beside `base_url` (see
        /// [`AuthConfig::token_url`]); this older form still works, and when
        /// both are written they must agree. `None` until decided: resolving
        /// without one gives credentials whose refresh fails before sending
        /// anything, so connectors call [`AuthConfig::with_token_url`] first.
        #[serde(default)]
        token_url: Option<String>,
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
    /// The environment variables its secrets are read from, the one a
    /// person renews when the API refuses the credentials first (the
    /// refresh token, then the OAuth client id and secret): for messages
    /// that name the variables actually configured.
    pub fn secret_vars(&self) -> Vec<&str> {
        match self {
            AuthConfig::None => Vec::new(),
            AuthConfig::Bearer { token } => vec![&token.env],
            AuthConfig::ApiKey { key, .. } => vec![&key.env],
            AuthConfig::Basic { password, .. } => vec![&password.env],
            AuthConfig::OAuth2 {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => vec![&refresh_token.env, &client_id.env, &client_secret.env],
        }
    }

    /// The token endpoint the OAuth2 refresh-token grant posts the client
    /// secret and refresh token to; `Ok(None)` for auth that has none.
    ///
    /// `beside` is the source's `token_url` (beside `base_url`), which wins;
    /// `auth.token_url` is the older spelling of the same setting, and the
    /// two may not disagree. With neither, the provider's real endpoint is
    /// used only while `base_url` is the real API: a config pointed at a
    /// test server must name that server's token endpoint, so credentials
    /// meant for it never go to the provider, nor the provider's to it.
    pub fn token_url(
        &self,
        beside: Option<&str>,
        base_url: &str,
        real: RealEndpoints,
    ) -> Result<Option<String>, TokenUrlError> {
        let AuthConfig::OAuth2 {
            token_url: inside, ..
        } = self
        else {
            return match beside {
                None => Ok(None),
                Some(_) => Err(TokenUrlError::Unused { kind: self.kind() }),
            };
        };
        let chosen = match (beside, inside.as_deref()) {
            (Some(b), Some(i)) if b.trim() != i.trim() => {
                return Err(TokenUrlError::Conflict {
                    beside: display_url(b),
                    inside: display_url(i),
                });
            }
            (Some(url), _) | (None, Some(url)) => url.trim(),
            (None, None) if same_url(base_url, real.base_url) => real.token_url,
            (None, None) => {
                return Err(TokenUrlError::Missing {
                    base_url: display_url(base_url),
                    real_base_url: real.base_url,
                    real_token_url: real.token_url,
                });
            }
        };
        let host = chosen
            .strip_prefix("https://")
            .or_else(|| chosen.strip_prefix("http://"))
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .unwrap_or("");
        if host.is_empty() {
            return Err(TokenUrlError::Invalid(display_url(chosen)));
        }
        Ok(Some(chosen.to_string()))
    }

    /// This config with the token endpoint [`AuthConfig::token_url`] decides
    /// written in, ready to [`resolve`](AuthConfig::resolve).
    pub fn with_token_url(
        &self,
        beside: Option<&str>,
        base_url: &str,
        real: RealEndpoints,
    ) -> Result<AuthConfig, TokenUrlError> {
        let decided = self.token_url(beside, base_url, real)?;
        let mut out = self.clone();
        if let AuthConfig::OAuth2 { token_url, .. } = &mut out {
            *token_url = decided;
        }
        Ok(out)
    }

    /// The `type` as written in the config.
    fn kind(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::ApiKey { .. } => "api_key",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::OAuth2 { .. } => "oauth2",
        }
    }

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
            AuthConfig::Basic { username, password } => Auth::Basic {
                username: username.clone(),
                password: get(password)?,
            },
            AuthConfig::OAuth2 {
                token_url,
                client_id,
                client_secret,
                refresh_token,
                scope,
            } => Auth::OAuth2(OAuth2Credentials {
                token_url: token_url.clone().unwrap_or_default(),
                client_id: get(client_id)?,
                client_secret: get(client_secret)?,
                refresh_token: get(refresh_token)?,
                scope: scope.clone(),
            }),
        })
    }
}

/// Where a source's API and its OAuth2 token endpoint really are: the
/// defaults of `base_url` and `token_url`, and what tells a `base_url`
/// pointed at a test server from the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealEndpoints {
    /// The real API, e.g. `https://analyticsdata.googleapis.com`.
    pub base_url: &'static str,
    /// The provider's token endpoint, e.g. `https://oauth2.googleapis.com/token`.
    pub token_url: &'static str,
}

/// The endpoints one source sends requests to, as `kpi check` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Where the API requests go.
    pub base_url: String,
    /// Where the OAuth2 refresh-token grant posts; `None` for auth without
    /// a token endpoint (a long-lived bearer token).
    pub token_url: Option<String>,
}

impl fmt::Display for Endpoints {
    /// `base_url <url>, token_url <url>`, with any credential in the URLs
    /// (user info, a key in the query) replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "base_url {}, ", display_url(&self.base_url))?;
        match &self.token_url {
            Some(url) => write!(f, "token_url {}", display_url(url)),
            None => f.write_str("no token_url (no OAuth2 refresh)"),
        }
    }
}

/// The token endpoint could not be decided. Messages name the settings and
/// show URLs without credentials in them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenUrlError {
    /// `base_url` is not the real API and no token endpoint is set.
    #[error(
        "token_url is not set, and base_url {base_url} is not the real API ({real_base_url}): \
         set token_url beside base_url to that server's OAuth2 token endpoint (the client secret \
         and refresh token are posted there), or to {real_token_url} to use the real one"
    )]
    Missing {
        /// The `base_url` written.
        base_url: String,
        /// The provider's API.
        real_base_url: &'static str,
        /// The provider's token endpoint.
        real_token_url: &'static str,
    },
    /// `token_url` and `auth.token_url` are both set, differently.
    #[error(
        "token_url {beside} and auth.token_url {inside} differ: set the token endpoint once, \
         as token_url beside base_url"
    )]
    Conflict {
        /// `token_url`.
        beside: String,
        /// `auth.token_url`.
        inside: String,
    },
    /// The token endpoint is not an http(s) URL.
    #[error("token_url: `{0}` is not an http:// or https:// URL")]
    Invalid(String),
    /// `token_url` is set but the auth posts to no token endpoint.
    #[error(
        "token_url is set, but auth type \"{kind}\" has no token endpoint \
         (only type = \"oauth2\" uses one): remove token_url"
    )]
    Unused {
        /// The auth `type`.
        kind: &'static str,
    },
}

/// Whether two API roots are the same, ignoring case, spaces and a
/// trailing `/`.
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// A URL fit for a message: user info and credential-like query
/// parameters replaced by `***`.
pub fn display_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***{}", &rest[at..]),
        None => rest.to_string(),
    };
    redact(&format!("{scheme}{rest}"), &[])
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
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password or key.
        password: Secret,
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
            Auth::Basic { password, .. } => vec![password],
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
        assert_eq!(c.token_url, GOOGLE.token_url);
        assert_eq!(
            c.refresh_token.expose(),
            "value-of-GOOGLE_ADS_REFRESH_TOKEN"
        );
        assert_eq!(c.scope, None);
        // The resolved credentials print no values.
        assert!(!format!("{c:?}").contains("value-of"));
    }

    const GOOGLE: RealEndpoints = RealEndpoints {
        base_url: "https://analyticsdata.googleapis.com",
        token_url: "https://oauth2.googleapis.com/token",
    };

    fn oauth2(token_url: Option<&str>) -> AuthConfig {
        AuthConfig::OAuth2 {
            token_url: token_url.map(String::from),
            client_id: SecretRef::env("ID"),
            client_secret: SecretRef::env("SECRET"),
            refresh_token: SecretRef::env("REFRESH"),
            scope: None,
        }
    }

    #[test]
    fn token_url_defaults_to_the_real_one_only_for_the_real_api() {
        let auth = oauth2(None);
        for base in [GOOGLE.base_url, "https://analyticsdata.googleapis.com/"] {
            assert_eq!(
                auth.token_url(None, base, GOOGLE).unwrap().as_deref(),
                Some(GOOGLE.token_url)
            );
        }
        // Set beside base_url, or in auth (the older form), it is used as is.
        let local = "http://127.0.0.1:9/token";
        for (beside, inside) in [
            (Some(local), None),
            (None, Some(local)),
            (Some(local), Some(local)),
        ] {
            let decided = oauth2(inside)
                .with_token_url(beside, "http://127.0.0.1:9", GOOGLE)
                .unwrap();
            let Auth::OAuth2(c) = decided.resolve_with(&env).unwrap() else {
                panic!("not oauth2")
            };
            assert_eq!(c.token_url, local);
        }
        // Explicitly the real one, with a test server's base_url: allowed.
        assert_eq!(
            auth.token_url(Some(GOOGLE.token_url), "http://127.0.0.1:9", GOOGLE)
                .unwrap()
                .as_deref(),
            Some(GOOGLE.token_url)
        );
        // Auth without a token endpoint has none.
        let bearer = AuthConfig::Bearer {
            token: SecretRef::env("T"),
        };
        assert_eq!(
            bearer.token_url(None, "http://127.0.0.1:9", GOOGLE),
            Ok(None)
        );
    }

    #[test]
    fn a_test_base_url_without_token_url_is_refused() {
        let err = oauth2(None)
            .token_url(None, "http://127.0.0.1:9", GOOGLE)
            .unwrap_err();
        assert!(matches!(err, TokenUrlError::Missing { .. }));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "token_url is not set, and base_url http://127.0.0.1:9 is not the real API"
            ),
            "{text}"
        );
        assert!(text.contains("set token_url beside base_url"), "{text}");
        // with_token_url refuses the same way, so nothing is resolved.
        assert_eq!(
            oauth2(None).with_token_url(None, "https://example.com", GOOGLE),
            Err(TokenUrlError::Missing {
                base_url: "https://example.com".into(),
                real_base_url: GOOGLE.base_url,
                real_token_url: GOOGLE.token_url,
            })
        );
        // A credential in the URL does not reach the message.
        let text = oauth2(None)
            .token_url(
                None,
                "https://user:hunter22@example.com/?api_key=abcd1234",
                GOOGLE,
            )
            .unwrap_err()
            .to_string();
        assert!(
            !text.contains("hunter22") && !text.contains("abcd1234"),
            "{text}"
        );
        assert!(
            text.contains("base_url https://***@example.com/?api_key=***"),
            "{text}"
        );
    }

    #[test]
    fn token_url_conflicts_and_typos_are_named() {
        let err = oauth2(Some("http://a.test/token"))
            .token_url(Some("http://b.test/token"), GOOGLE.base_url, GOOGLE)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "token_url http://b.test/token and auth.token_url http://a.test/token differ: set the \
             token endpoint once, as token_url beside base_url"
        );
        assert_eq!(
            oauth2(None).token_url(Some("oauth2.googleapis.com/token"), GOOGLE.base_url, GOOGLE),
            Err(TokenUrlError::Invalid("oauth2.googleapis.com/token".into()))
        );
        assert_eq!(
            oauth2(None).token_url(Some("https:///token"), GOOGLE.base_url, GOOGLE),
            Err(TokenUrlError::Invalid("https:///token".into()))
        );
        let bearer = AuthConfig::Bearer {
            token: SecretRef::env("T"),
        };
        let err = bearer
            .token_url(Some("http://a.test/token"), GOOGLE.base_url, GOOGLE)
            .unwrap_err();
        assert_eq!(err, TokenUrlError::Unused { kind: "bearer" });
        assert!(err.to_string().contains("remove token_url"));
    }

    #[test]
    fn endpoints_print_without_credentials() {
        let e = Endpoints {
            base_url: "http://127.0.0.1:9".into(),
            token_url: Some("https://u:pw-secret@auth.test/token?client_secret=xyz123".into()),
        };
        assert_eq!(
            e.to_string(),
            "base_url http://127.0.0.1:9, token_url https://***@auth.test/token?client_secret=***"
        );
        let e = Endpoints {
            base_url: "https://graph.facebook.com".into(),
            token_url: None,
        };
        assert_eq!(
            e.to_string(),
            "base_url https://graph.facebook.com, no token_url (no OAuth2 refresh)"
        );
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
