//! `[sources.<name>]` with `type = "hubspot"`: the user's settings, and the
//! step that turns them into a running connector.

use kpi_connector::{AuthConfig, Endpoints, HttpClient, HttpConfig, HttpSettings, RealEndpoints};
use serde::Deserialize;

use crate::connector::{HubSpotConnector, Settings};
use crate::error::HubSpotError;

/// The real API host.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// HubSpot's OAuth2 token endpoint, for a public app's refresh token.
pub const DEFAULT_TOKEN_URL: &str = "https://api.hubapi.com/oauth/v1/token";
/// The real endpoints, for `token_url`'s default and safety rule.
pub const REAL_ENDPOINTS: RealEndpoints = RealEndpoints {
    base_url: DEFAULT_BASE_URL,
    token_url: DEFAULT_TOKEN_URL,
};
/// Objects per page; 100 is the most the CRM v3 list endpoints return.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// HubSpot has no standard churn date; this custom contact property fills
/// the `churn_date` column unless `churn_date_property` names another.
pub const DEFAULT_CHURN_DATE_PROPERTY: &str = "churn_date";

/// The contact properties every sync requests; each is a column of the
/// `contacts` stream. Lifecycle stage dates drive the funnel KPIs; the
/// original source (`hs_analytics_source`) and its drill-downs map a contact
/// to a channel and campaign.
pub const CONTACT_PROPERTIES: [&str; 11] = [
    "createdate",
    "lastmodifieddate",
    "lifecyclestage",
    "hs_lifecyclestage_lead_date",
    "hs_lifecyclestage_marketingqualifiedlead_date",
    "hs_lifecyclestage_salesqualifiedlead_date",
    "hs_lifecyclestage_opportunity_date",
    "hs_lifecyclestage_customer_date",
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_source_data_2",
];

/// The deal properties every sync requests; each is a column of the
/// `deals` stream. `hs_is_closed` and `hs_is_closed_won` are HubSpot's own
/// calculations from the stage, so staging does not need the pipeline setup.
pub const DEAL_PROPERTIES: [&str; 9] = [
    "dealname",
    "amount",
    "deal_currency_code",
    "createdate",
    "closedate",
    "dealstage",
    "pipeline",
    "hs_is_closed",
    "hs_is_closed_won",
];

/// `[sources.<name>]` for `type = "hubspot"`.
///
/// ```toml
/// [sources.hubspot]
/// type = "hubspot"
/// # A private app token (Settings > Integrations > Private apps) with the
/// # crm.objects.contacts.read and crm.objects.deals.read scopes:
/// auth = { type = "bearer", token = { env = "HUBSPOT_TOKEN" } }
/// # Or a public app's refresh token:
/// # token_url = "https://api.hubapi.com/oauth/v1/token"   # the default, with the default base_url
/// # [sources.hubspot.auth]
/// # type = "oauth2"
/// # client_id = { env = "HUBSPOT_CLIENT_ID" }
/// # client_secret = { env = "HUBSPOT_CLIENT_SECRET" }
/// # refresh_token = { env = "HUBSPOT_REFRESH_TOKEN" }
///
/// # Optional, with their defaults:
/// base_url = "https://api.hubapi.com"
/// company_currency = "EUR"               # default: asked from the portal
/// churn_date_property = "churn_date"
/// extra_contact_properties = []
/// extra_deal_properties = []
/// page_size = 100
/// read_with = "search"
/// search_requests_per_second = 4.0
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// How requests authenticate: `type = "bearer"` with a private app token
    /// (the usual choice for one portal), or `type = "oauth2"` with a public
    /// app's client id, secret and refresh token (posted to `token_url`);
    /// the access token is cached
    /// and refreshed once on a 401. Secrets are environment variable names.
    pub auth: AuthConfig,
    /// Where the API lives. Default `https://api.hubapi.com`; point it at the
    /// sandbox (`http://127.0.0.1:PORT`) to try a configuration.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// With `auth` type `oauth2`: where the refresh-token grant posts the
    /// client secret and refresh token. Default
    /// `https://api.hubapi.com/oauth/v1/token`, but only while `base_url` is
    /// the real API: a `base_url` pointed elsewhere without a `token_url` is
    /// refused. `auth.token_url` is accepted too; both set must agree. Not
    /// allowed with a bearer token, which has no token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The currency of deals whose `deal_currency_code` is empty, as HubSpot
    /// leaves it in single-currency portals. Default: the portal's company
    /// currency, read once per sync from `/account-info/v3/details` when a
    /// deal without a currency appears.
    #[serde(default)]
    pub company_currency: Option<String>,
    /// The contact property that holds the date a customer churned (HubSpot
    /// has none built in), stored in the `churn_date` column. Default
    /// `churn_date`; `""` leaves the column empty. A property that does not
    /// exist in the portal is simply not returned.
    #[serde(default = "default_churn_date_property")]
    pub churn_date_property: String,
    /// Further contact properties to keep, each as a text column after the
    /// standard ones ([`CONTACT_PROPERTIES`]), for analysts' own SQL.
    /// Internal names (`hs_analytics_first_url`), not labels. Default none.
    #[serde(default)]
    pub extra_contact_properties: Vec<String>,
    /// Further deal properties to keep, each as a text column after the
    /// standard ones ([`DEAL_PROPERTIES`]). Default none.
    #[serde(default)]
    pub extra_deal_properties: Vec<String>,
    /// Objects per page (`limit`) of the list API, 1 to 100. Default 100.
    /// (Search pages are always HubSpot's maximum of 200.)
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How contacts and deals are read.
    /// - `"search"` (default): `POST /crm/v3/objects/{type}/search`, in
    ///   ranges of object id read side by side (up to `http.max_concurrency`
    ///   at once), 200 per page, each range paged by id rather than by
    ///   `after` so HubSpot's 10,000-result limit per search never applies;
    ///   deals' contacts come from the v4 associations batch API. Fastest for
    ///   a large portal. The search index can trail a change by a few
    ///   seconds, which a daily snapshot does not notice.
    /// - `"list"`: `GET /crm/v3/objects/{type}`, one page after the other
    ///   (HubSpot's cursor cannot be split), with associations inline.
    #[serde(default)]
    pub read_with: ReadWith,
    /// Search requests started per second, at most: HubSpot allows 5 per
    /// second per token for the search endpoints, on top of the general
    /// limit in `http`. Default 4; `0` lifts it (for the sandbox).
    #[serde(default = "default_search_rps")]
    pub search_requests_per_second: f64,
    /// Timeouts, retries and rate limit of the HTTP client; see
    /// `kpi_connector::HttpConfig`. The HubSpot default limit is 10 requests
    /// per second (private apps may make 100 per 10 seconds on Free and
    /// Starter, more on higher tiers; HubSpot answers 429 with Retry-After
    /// beyond that).
    #[serde(default)]
    pub http: HttpConfig,
}

/// See [`HubSpotConfig::read_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadWith {
    /// The CRM search API, in id ranges side by side.
    #[default]
    Search,
    /// The CRM list API, page after page.
    List,
}

fn default_search_rps() -> f64 {
    4.0
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_churn_date_property() -> String {
    DEFAULT_CHURN_DATE_PROPERTY.to_string()
}

fn http_defaults() -> HttpSettings {
    HttpSettings {
        requests_per_second: Some(10.0),
        ..HttpSettings::default()
    }
}

impl HubSpotConfig {
    /// Checks the settings, reads the secrets from the process environment
    /// and builds the connector. `source` is the source's name in
    /// `kpi.toml`, used in messages.
    pub fn build(&self, source: &str) -> Result<HubSpotConnector, HubSpotError> {
        self.build_with(source, &|name| std::env::var(name).ok())
    }

    /// [`build`](Self::build), reading secrets through `lookup` (a secrets
    /// file layered over the environment, or a fixed map in tests).
    pub fn build_with(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HubSpotConnector, HubSpotError> {
        let settings = self.validate(source)?;
        let auth = self
            .auth
            .with_token_url(
                self.token_url.as_deref(),
                &settings.base_url,
                REAL_ENDPOINTS,
            )
            .map_err(|e| HubSpotError::Config {
                source_name: source.to_string(),
                message: e.to_string(),
            })?
            .resolve_with(lookup)
            .map_err(|error| HubSpotError::Secret {
                source_name: source.to_string(),
                error,
            })?;
        let client = HttpClient::new(&self.http, http_defaults(), auth).map_err(|error| {
            HubSpotError::Http {
                source_name: source.to_string(),
                hint: String::new(),
                error: Box::new(error),
            }
        })?;
        let search_limit = kpi_connector::http::RateLimiter::new(
            Some(self.search_requests_per_second).filter(|r| *r > 0.0),
            client.settings().max_concurrency,
        );
        Ok(HubSpotConnector::new(settings, client, search_limit))
    }

    /// Where requests go: the API and, with OAuth2, the token endpoint.
    /// Refuses a `base_url` other than the real API with OAuth2 and no
    /// `token_url`.
    pub fn endpoints(&self, source: &str) -> Result<Endpoints, HubSpotError> {
        let settings = self.validate(source)?;
        let token_url = self
            .auth
            .token_url(
                self.token_url.as_deref(),
                &settings.base_url,
                REAL_ENDPOINTS,
            )
            .map_err(|e| HubSpotError::Config {
                source_name: source.to_string(),
                message: e.to_string(),
            })?;
        Ok(Endpoints {
            base_url: settings.base_url,
            token_url,
        })
    }

    fn validate(&self, source: &str) -> Result<Settings, HubSpotError> {
        let invalid = |message: String| HubSpotError::Config {
            source_name: source.to_string(),
            message,
        };
        let base_url = self.base_url.trim().trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(invalid(format!(
                "base_url {base_url:?} must start with https:// (or http:// for a local sandbox)"
            )));
        }
        let auth_hint = match &self.auth {
            AuthConfig::ApiKey { .. } | AuthConfig::Basic { .. } => {
                return Err(invalid(
                    "auth: HubSpot retired API keys in 2022; use type = \"bearer\" with a private app token".into(),
                ));
            }
            AuthConfig::Bearer { token } => format!(
                "HubSpot refused the private app token in {}: check that it is current and that the app has the crm.objects.contacts.read and crm.objects.deals.read scopes",
                token.env
            ),
            AuthConfig::OAuth2 { refresh_token, .. } => format!(
                "HubSpot refused the OAuth access token obtained with the refresh token in {}: reinstall the app or issue a new refresh token",
                refresh_token.env
            ),
            AuthConfig::None => "HubSpot needs credentials: set [auth]".into(),
        };
        self.auth
            .token_url(self.token_url.as_deref(), base_url, REAL_ENDPOINTS)
            .map_err(|e| invalid(e.to_string()))?;
        if !(self.search_requests_per_second.is_finite() && self.search_requests_per_second >= 0.0)
        {
            return Err(invalid(format!(
                "search_requests_per_second must be 0 (no limit) or more, got {}",
                self.search_requests_per_second
            )));
        }
        if !(1..=100).contains(&self.page_size) {
            return Err(invalid(format!(
                "page_size must be between 1 and 100, got {}",
                self.page_size
            )));
        }
        let company_currency = match &self.company_currency {
            None => None,
            Some(c) => {
                let c = c.trim().to_ascii_uppercase();
                if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(invalid(format!(
                        "company_currency {c:?} is not an ISO 4217 code such as \"EUR\""
                    )));
                }
                Some(c)
            }
        };
        let churn = self.churn_date_property.trim().to_string();
        if !churn.is_empty() {
            check_property_name("churn_date_property", &churn).map_err(&invalid)?;
        }
        let extra = |what: &str,
                     names: &[String],
                     standard: &[&str],
                     reserved: &[&str]|
         -> Result<Vec<String>, HubSpotError> {
            let mut out: Vec<String> = Vec::new();
            for name in names {
                let name = name.trim();
                check_property_name(what, name).map_err(&invalid)?;
                if standard.contains(&name) || reserved.contains(&name) {
                    return Err(invalid(format!(
                        "{what}: {name:?} is already a column of the stream"
                    )));
                }
                if !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
            }
            Ok(out)
        };
        Ok(Settings {
            source: source.to_string(),
            base_url: base_url.to_string(),
            auth_hint,
            company_currency,
            churn_date_property: (!churn.is_empty()).then_some(churn),
            extra_contact_properties: extra(
                "extra_contact_properties",
                &self.extra_contact_properties,
                &CONTACT_PROPERTIES,
                &["id", "churn_date"],
            )?,
            extra_deal_properties: extra(
                "extra_deal_properties",
                &self.extra_deal_properties,
                &DEAL_PROPERTIES,
                &["id", "associated_contact_id"],
            )?,
            page_size: self.page_size,
            read_with: self.read_with,
        })
    }
}

/// HubSpot internal property names are lower case letters, digits and
/// underscores; anything else is a label pasted by mistake, and would also
/// make an awkward column name.
fn check_property_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: {name:?} is not a HubSpot internal property name (lower case letters, digits and _)"
        ))
    }
}

impl kpi_connector::ConnectorType for HubSpotConfig {
    const TYPE: &'static str = "hubspot";

    fn streams() -> Vec<kpi_connector::StreamDef> {
        vec![
            crate::contacts::stream_def(&[]),
            crate::deals::stream_def(&[]),
        ]
    }

    fn endpoints(&self, source: &str) -> Result<Endpoints, String> {
        HubSpotConfig::endpoints(self, source).map_err(|e| e.to_string())
    }

    fn connect(
        &self,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Box<dyn kpi_connector::Connector>, String> {
        Ok(Box::new(
            self.build_with(source, lookup).map_err(|e| e.to_string())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "auth = { type = \"bearer\", token = { env = \"HUBSPOT_TOKEN\" } }\n";

    fn parse(text: &str) -> HubSpotConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL);
        assert_eq!(c.base_url, "https://api.hubapi.com");
        assert_eq!(c.page_size, 100);
        assert_eq!(c.churn_date_property, "churn_date");
        assert_eq!(c.company_currency, None);
        let s = c.validate("hubspot").unwrap();
        assert_eq!(s.churn_date_property.as_deref(), Some("churn_date"));
        assert!(s.auth_hint.contains("HUBSPOT_TOKEN"));
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |extra: &str| {
            parse(&format!("{MINIMAL}{extra}\n"))
                .validate("crm")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("page_size = 500"),
            "source crm: page_size must be between 1 and 100, got 500"
        );
        assert!(err("company_currency = \"euro\"").contains("not an ISO 4217 code"));
        assert!(
            err("extra_contact_properties = [\"First Name\"]")
                .contains("\"First Name\" is not a HubSpot internal property name")
        );
        assert!(
            err("extra_deal_properties = [\"amount\"]").contains("\"amount\" is already a column")
        );
        let api_key = parse("auth = { type = \"api_key\", header = \"x\", key = { env = \"K\" } }")
            .validate("crm")
            .unwrap_err();
        assert!(api_key.to_string().contains("retired API keys"));
        assert!(toml::from_str::<HubSpotConfig>(&format!("{MINIMAL}portal_id = 1")).is_err());
    }

    const OAUTH: &str = "[auth]\ntype = \"oauth2\"\nclient_id = { env = \"HUBSPOT_CLIENT_ID\" }\n\
                         client_secret = { env = \"HUBSPOT_CLIENT_SECRET\" }\n\
                         refresh_token = { env = \"HUBSPOT_REFRESH_TOKEN\" }\n";

    #[test]
    fn token_url_defaults_for_the_real_api_and_is_required_elsewhere() {
        let c = parse(OAUTH);
        assert_eq!(
            c.endpoints("crm").unwrap().token_url.as_deref(),
            Some(DEFAULT_TOKEN_URL)
        );
        let local = parse(&format!("base_url = \"http://127.0.0.1:9\"\n{OAUTH}"));
        let e = local.validate("crm").unwrap_err().to_string();
        assert!(
            e.starts_with("source crm: token_url is not set, and base_url http://127.0.0.1:9"),
            "{e}"
        );
        // Refused before a secret is read.
        let e = local.build_with("crm", &|_| None).unwrap_err().to_string();
        assert!(e.contains("token_url is not set"), "{e}");
        let local = parse(&format!(
            "base_url = \"http://127.0.0.1:9\"\ntoken_url = \"http://127.0.0.1:9/oauth/v1/token\"\n{OAUTH}"
        ));
        assert_eq!(
            local.endpoints("crm").unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/oauth/v1/token"
        );
        local
            .build_with("crm", &|n| Some(format!("value-of-{n}")))
            .unwrap();
        // A private app token has no token endpoint, whatever base_url says.
        let bearer = parse(&format!("{MINIMAL}base_url = \"http://127.0.0.1:9\"\n"));
        assert_eq!(bearer.endpoints("crm").unwrap().token_url, None);
        let bearer = parse(&format!("{MINIMAL}token_url = \"http://127.0.0.1:9/t\"\n"));
        assert!(
            bearer
                .validate("crm")
                .unwrap_err()
                .to_string()
                .contains("remove token_url")
        );
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let e = parse(MINIMAL).build_with("hubspot", &|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "source hubspot: environment variable HUBSPOT_TOKEN is not set"
        );
    }
}
