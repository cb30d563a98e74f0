//! The settings every HTTP source shares, declared once, and the generic
//! [`ConnectorType`] that builds a connector from them.
//!
//! A `[sources.<name>]` section holds two kinds of settings: the ones every
//! REST source has (`base_url`, `token_url`, `auth`, `http`,
//! `lookback_days`), which are [`SharedSettings`], and the API's own
//! (`account_ids`, `site_urls`, ...), which are the connector's config. The
//! section is split by key before either is read, so both halves keep
//! `deny_unknown_fields` (serde's `flatten` cannot), and a misspelt key is
//! reported against the connector's own fields with the shared ones listed.
//!
//! A connector crate implements [`HttpSource`] on its own config and is
//! registered as `SourceConfig<ItsConfig>`: the defaults it declares in
//! [`Api`] (the real base URL and token endpoint, the default auth with its
//! environment variable names, lookback, rate limits) fill in what the user
//! did not write, and [`SourceConfig`] checks the URLs, resolves the
//! secrets and builds the [`HttpClient`] before the connector sees them.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::auth::{Auth, AuthConfig, Endpoints, RealEndpoints};
use crate::contract::{Connector, ConnectorError, ConnectorType, StreamDef};
use crate::http::{HttpClient, HttpClientBuilder, HttpConfig, HttpSettings};
use crate::secret::{Secret, SecretRef};

/// The keys of [`SharedSettings`], as written in `kpi.toml`.
pub const SHARED_KEYS: [&str; 5] = ["base_url", "token_url", "auth", "http", "lookback_days"];

/// The settings every HTTP source has, each defaulting to what its
/// connector's [`Api`] declares.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSettings {
    /// Where the API lives. Default: the real API. Point it at
    /// `kpi sandbox serve` (or a test server) to try a config without an
    /// account; then `token_url` must be set too, for OAuth2 sources.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Where the OAuth2 refresh-token grant posts. Default: the provider's
    /// own endpoint, but only while `base_url` is the real API, so that
    /// credentials meant for a test server never reach the provider.
    #[serde(default)]
    pub token_url: Option<String>,
    /// How requests authenticate, and the environment variables the secrets
    /// are read from. Default: the connector's (its docs name the variables).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Timeouts, retries and rate limits (see [`HttpConfig`]). Defaults: the
    /// API's documented limits.
    #[serde(default)]
    pub http: HttpConfig,
    /// Days before the last synced day that every sync reads again, for the
    /// days the API still revises. Default: the connector's.
    #[serde(default)]
    pub lookback_days: Option<u32>,
}

/// What a connector declares about its API: the defaults of the shared
/// settings.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// The real API's base URL, e.g. `https://api.linkedin.com`.
    pub base_url: &'static str,
    /// The provider's OAuth2 token endpoint; empty for an API without one.
    pub token_url: &'static str,
    /// Days re-read on every sync.
    pub lookback_days: u32,
    /// The auth used when the section has no `auth`.
    pub auth: fn() -> AuthConfig,
    /// The client's defaults (concurrency, requests per second).
    pub http: fn() -> HttpSettings,
}

impl Api {
    fn real(&self) -> RealEndpoints {
        RealEndpoints {
            base_url: self.base_url,
            token_url: self.token_url,
        }
    }
}

/// What [`SourceConfig`] hands a connector to build from: the shared
/// settings decided, secrets read.
pub struct Prepared {
    /// The source's name in `kpi.toml`.
    pub source: String,
    /// The base URL, without a trailing `/`.
    pub base_url: String,
    /// The lookback in days.
    pub lookback_days: u32,
    /// The resolved credentials (already in `client`; for APIs whose
    /// address depends on them, such as Mailchimp's data centre).
    pub auth: Auth,
    /// The auth as configured, secrets by environment variable name: for
    /// messages that tell a person which variable to renew.
    pub auth_config: AuthConfig,
    /// The client, with auth, limits and redaction set up; add headers the
    /// API needs with [`Prepared::client_with`].
    pub client: HttpClient,
    builder_input: BuilderInput,
}

/// What `client` was built from, so [`Prepared::client_with`] builds one
/// like it: the secret headers too, or a client with extra headers would
/// lose Google Ads' developer token.
struct BuilderInput {
    http: HttpConfig,
    defaults: HttpSettings,
    secret_headers: Vec<(&'static str, Secret)>,
}

impl Prepared {
    /// A client like `client` with extra settings (headers every request
    /// carries, a throttle rule), sharing its redactor.
    pub fn client_with(
        &self,
        extra: impl FnOnce(HttpClientBuilder) -> HttpClientBuilder,
    ) -> Result<HttpClient, ConnectorError> {
        let input = &self.builder_input;
        let mut builder = HttpClient::builder(&input.http, input.defaults.clone())
            .auth(self.auth.clone())
            .redactor(self.client.redactor().clone());
        for (name, value) in &input.secret_headers {
            builder = builder.secret_header(*name, value);
        }
        Ok(extra(builder).build()?)
    }
}

/// A connector's own config, built into a connector with the shared
/// settings. Register it as `SourceConfig<ItsConfig>`.
pub trait HttpSource: DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The `type = "..."` of its sources.
    const TYPE: &'static str;
    /// The API's defaults for the shared settings.
    const API: Api;
    /// The connector it builds.
    type Connector: Connector + 'static;

    /// Its streams, re-reading `lookback_days` on each sync.
    fn streams(lookback_days: u32) -> Vec<StreamDef>;

    /// Checks the connector's own settings without reading a secret; the
    /// message names the setting (`site_urls: ...`).
    fn validate(&self) -> Result<(), ConnectorError>;

    /// Checks the auth decided (written, shorthand or default) without
    /// reading a secret: an API that retired a kind of credential refuses
    /// it here, before its variable is looked for.
    fn validate_auth(&self, _auth: &AuthConfig) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// The auth the connector's own settings ask for, if they have a
    /// shorthand for it, with the shorthand's key (Meta's `access_token =
    /// { env = ... }`, older than the shared `auth`). Writing both is
    /// refused, naming the two keys. `None`: the API's.
    fn own_auth(&self) -> Option<(&'static str, AuthConfig)> {
        None
    }

    /// Headers whose value is a secret, read like the auth's: Google Ads'
    /// `developer-token`. Each is resolved through the same lookup, sent
    /// with every request and known to the redactor. Default: none.
    fn secret_headers(&self) -> Vec<(&'static str, SecretRef)> {
        Vec::new()
    }

    /// The base URL when none is written, if it depends on the credentials
    /// (Mailchimp's data centre is the API key's suffix). `None`: the API's.
    fn base_url_from(&self, _auth: &Auth) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }

    /// The connector, from the shared settings decided.
    fn build(&self, prepared: Prepared) -> Result<Self::Connector, ConnectorError>;
}

/// A `[sources.<name>]` section of an [`HttpSource`]: the shared settings
/// and the connector's own.
#[derive(Debug, Clone)]
pub struct SourceConfig<S> {
    /// `base_url`, `token_url`, `auth`, `http`, `lookback_days`.
    pub shared: SharedSettings,
    /// The connector's own settings.
    pub own: S,
}

impl<'de, S: HttpSource> Deserialize<'de> for SourceConfig<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = Map::<String, Value>::deserialize(d)?;
        let (mut shared, mut own) = (Map::new(), Map::new());
        for (key, value) in table {
            if SHARED_KEYS.contains(&key.as_str()) {
                shared.insert(key, value);
            } else {
                own.insert(key, value);
            }
        }
        let shared =
            SharedSettings::deserialize(Value::Object(shared)).map_err(D::Error::custom)?;
        let own = S::deserialize(Value::Object(own)).map_err(|e| {
            let message = e.to_string();
            if message.starts_with("unknown field") {
                D::Error::custom(format!(
                    "{message}, or one of the settings every source has: `{}`",
                    SHARED_KEYS.join("`, `")
                ))
            } else {
                D::Error::custom(message)
            }
        })?;
        Ok(SourceConfig { shared, own })
    }
}

impl<S: HttpSource> SourceConfig<S> {
    /// A config with every shared setting at its default.
    pub fn new(own: S) -> Self {
        SourceConfig {
            shared: SharedSettings::default(),
            own,
        }
    }

    /// The auth written (`auth`, or the connector's own shorthand for it),
    /// or the connector's default.
    pub fn auth(&self) -> AuthConfig {
        self.shared
            .auth
            .clone()
            .or_else(|| self.own.own_auth().map(|(_, auth)| auth))
            .unwrap_or_else(S::API.auth)
    }

    /// The lookback written, or the connector's default.
    pub fn lookback_days(&self) -> u32 {
        self.shared.lookback_days.unwrap_or(S::API.lookback_days)
    }

    /// Whether `base_url` was written (else the real API, or one derived
    /// from the credentials).
    fn written_base_url(&self) -> Result<Option<String>, ConnectorError> {
        let Some(raw) = &self.shared.base_url else {
            return Ok(None);
        };
        let url = raw.trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(h) if !h.is_empty() => Ok(Some(url.to_string())),
            _ => Err(ConnectorError::Config(format!(
                "base_url: `{}` is not an http:// or https:// URL",
                crate::auth::display_url(raw)
            ))),
        }
    }

    /// Every setting checked without reading a secret.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if let (Some(_), Some((key, _))) = (&self.shared.auth, self.own.own_auth()) {
            return Err(ConnectorError::Config(format!(
                "auth: written twice, as `auth` and as `{key}`; keep one"
            )));
        }
        self.own.validate_auth(&self.auth())?;
        self.endpoints()?;
        self.shared.http.resolve(&(S::API.http)())?;
        self.own.validate()
    }

    /// Where requests go; no secret is read.
    pub fn endpoints(&self) -> Result<Endpoints, ConnectorError> {
        let base_url = self
            .written_base_url()?
            .unwrap_or_else(|| S::API.base_url.to_string());
        let token_url = self
            .auth()
            .token_url(self.shared.token_url.as_deref(), &base_url, S::API.real())
            .map_err(|e| ConnectorError::Config(e.to_string()))?;
        Ok(Endpoints {
            base_url,
            token_url,
        })
    }

    /// The connector, its secrets read through `lookup`.
    pub fn build_with(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Connector>, ConnectorError> {
        let prepared = self.prepare(source, lookup)?;
        Ok(Box::new(self.own.build(prepared)?))
    }

    /// The connector with its concrete type, for tests that look inside it;
    /// messages name the source by its type.
    pub fn connector_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S::Connector, ConnectorError> {
        self.connector_named(S::TYPE, lookup)
    }

    /// [`SourceConfig::connector_with`] for the source named `source`.
    pub fn connector_named(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S::Connector, ConnectorError> {
        self.own.build(self.prepare(source, lookup)?)
    }

    /// Every setting checked, the shared ones decided and the secrets read
    /// through `lookup`: what [`HttpSource::build`] gets. Tests that need
    /// the connector's concrete type build it from this.
    pub fn prepare(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Prepared, ConnectorError> {
        self.validate()?;
        let endpoints = self.endpoints()?;
        // The secret headers are read before the auth, so a source missing
        // every variable names its first own one (Google Ads' developer
        // token), as it did before it shared this code.
        let secret_headers = self
            .own
            .secret_headers()
            .into_iter()
            .map(|(name, secret)| Ok((name, secret.resolve_with(lookup)?)))
            .collect::<Result<Vec<_>, ConnectorError>>()?;
        let auth_config = self.auth();
        let auth = auth_config
            .with_token_url(
                self.shared.token_url.as_deref(),
                &endpoints.base_url,
                S::API.real(),
            )
            .map_err(|e| ConnectorError::Config(e.to_string()))?
            .resolve_with(lookup)?;
        let base_url = match self.written_base_url()? {
            Some(url) => url,
            None => self.own.base_url_from(&auth)?.unwrap_or(endpoints.base_url),
        };
        let defaults = (S::API.http)();
        let mut builder =
            HttpClient::builder(&self.shared.http, defaults.clone()).auth(auth.clone());
        for (name, value) in &secret_headers {
            builder = builder.secret_header(*name, value);
        }
        let client = builder.build()?;
        Ok(Prepared {
            source: source.to_string(),
            base_url,
            lookback_days: self.lookback_days(),
            auth,
            auth_config,
            client,
            builder_input: BuilderInput {
                http: self.shared.http.clone(),
                defaults,
                secret_headers,
            },
        })
    }
}

impl<S: HttpSource> ConnectorType for SourceConfig<S> {
    const TYPE: &'static str = S::TYPE;

    fn streams() -> Vec<StreamDef> {
        S::streams(S::API.lookback_days)
    }

    fn endpoints(&self, _source: &str) -> Result<Endpoints, String> {
        SourceConfig::endpoints(self).map_err(|e| e.to_string())
    }

    fn connect(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn Connector>, String> {
        self.build_with(source, lookup).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{BatchSink, CheckReport, Context, ReadStats, SyncWindow};
    use async_trait::async_trait;

    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Own {
        account_ids: Vec<String>,
    }

    struct Built {
        base_url: String,
        lookback_days: u32,
    }

    #[async_trait]
    impl Connector for Built {
        fn streams(&self) -> Vec<StreamDef> {
            Vec::new()
        }
        async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
            Ok(CheckReport {
                summary: format!("{} {}", self.base_url, self.lookback_days),
                accounts: Vec::new(),
            })
        }
        async fn read(
            &self,
            stream: &StreamDef,
            _window: SyncWindow,
            _sink: &mut dyn BatchSink,
        ) -> Result<ReadStats, ConnectorError> {
            Err(ConnectorError::UnknownStream(stream.name.clone()))
        }
    }

    impl HttpSource for Own {
        const TYPE: &'static str = "example";
        const API: Api = Api {
            base_url: "https://api.example.com",
            token_url: "https://auth.example.com/token",
            lookback_days: 4,
            auth: || AuthConfig::OAuth2 {
                token_url: None,
                client_id: SecretRef::env("EX_ID"),
                client_secret: SecretRef::env("EX_SECRET"),
                refresh_token: SecretRef::env("EX_REFRESH"),
                scope: None,
            },
            http: HttpSettings::default,
        };
        type Connector = Built;
        fn streams(_lookback_days: u32) -> Vec<StreamDef> {
            Vec::new()
        }
        fn validate(&self) -> Result<(), ConnectorError> {
            if self.account_ids.is_empty() {
                return Err(ConnectorError::Config("account_ids is empty".into()));
            }
            Ok(())
        }
        fn build(&self, p: Prepared) -> Result<Built, ConnectorError> {
            Ok(Built {
                base_url: p.base_url,
                lookback_days: p.lookback_days,
            })
        }
    }

    fn parse(text: &str) -> Result<SourceConfig<Own>, String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        value.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    async fn summary(c: &SourceConfig<Own>) -> Result<String, String> {
        let built = c
            .build_with("ex", &|name| Some(format!("v-{name}")))
            .map_err(|e| e.to_string())?;
        let ctx = Context {
            source: "ex".into(),
            today: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        };
        Ok(built.check(&ctx).await.unwrap().summary)
    }

    #[tokio::test]
    async fn shared_settings_default_to_the_api_and_split_from_the_own() {
        let c = parse("account_ids = [\"1\"]").unwrap();
        assert_eq!(c.own.account_ids, ["1"]);
        assert_eq!(
            c.endpoints().unwrap().token_url.as_deref(),
            Some("https://auth.example.com/token")
        );
        assert_eq!(summary(&c).await.unwrap(), "https://api.example.com 4");

        let c = parse(
            "account_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9/\"\n\
             token_url = \"http://127.0.0.1:9/t\"\nlookback_days = 9\n[http]\nmax_retries = 1",
        )
        .unwrap();
        assert_eq!(c.shared.http.max_retries, Some(1));
        assert_eq!(summary(&c).await.unwrap(), "http://127.0.0.1:9 9");
    }

    #[tokio::test]
    async fn every_half_refuses_what_it_does_not_know() {
        let e = parse("account_ids = [\"1\"]\nbase_ur = \"x\"").unwrap_err();
        assert!(e.contains("unknown field `base_ur`"), "{e}");
        assert!(e.contains("`base_url`, `token_url`"), "{e}");
        let e = parse("account_ids = [\"1\"]\n[http]\nretries = 1").unwrap_err();
        assert!(e.contains("unknown field `retries`"), "{e}");
        // A test server without its token endpoint is refused before any
        // secret is read; so is a base_url that is not a URL.
        let c = parse("account_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:9\"").unwrap();
        let e = c.build_with("ex", &|_| None).err().unwrap().to_string();
        assert!(e.starts_with("token_url is not set"), "{e}");
        let c = parse("account_ids = [\"1\"]\nbase_url = \"ftp://x\"").unwrap();
        assert_eq!(
            summary(&c).await.unwrap_err(),
            "base_url: `ftp://x` is not an http:// or https:// URL"
        );
        let c = parse("account_ids = []").unwrap();
        assert_eq!(summary(&c).await.unwrap_err(), "account_ids is empty");
        let c = parse("account_ids = [\"1\"]").unwrap();
        let e = c.build_with("ex", &|_| None).err().unwrap().to_string();
        assert_eq!(e, "environment variable EX_ID is not set");
    }
}
