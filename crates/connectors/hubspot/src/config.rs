//! `[sources.<name>]` with `type = "hubspot"`, and building the connector
//! from it. The settings every source has (`base_url`, `token_url`, `auth`,
//! `http`, `lookback_days`) are `kpi_connector::SharedSettings`; this file
//! declares HubSpot's defaults for them and its own settings.

use kpi_connector::{
    Api, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, SecretRef, SourceConfig,
    StreamDef,
};
use serde::Deserialize;

use crate::connector::{HubSpotConnector, Settings};

/// The real API host.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// HubSpot's OAuth2 token endpoint, for a public app's refresh token.
pub const DEFAULT_TOKEN_URL: &str = "https://api.hubapi.com/oauth/v1/token";
/// The variable the private app token is read from when `auth` is not
/// written.
pub const DEFAULT_TOKEN_ENV: &str = "HUBSPOT_TOKEN";
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

/// A HubSpot source: [`HubSpotConfig`] with the settings every source
/// shares.
pub type HubSpotSource = SourceConfig<HubSpotConfig>;

/// HubSpot's own settings in `[sources.<name>]` for `type = "hubspot"`.
///
/// ```toml
/// [sources.hubspot]
/// type = "hubspot"
/// # A private app token (Settings > Integrations > Private apps) with the
/// # crm.objects.contacts.read and crm.objects.deals.read scopes (the default):
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
/// company_currency = "EUR"               # default: asked from the portal
/// churn_date_property = "churn_date"
/// extra_contact_properties = []
/// extra_deal_properties = []
/// page_size = 100
/// read_with = "search"
/// search_requests_per_second = 4.0
/// # Shared settings, with HubSpot's defaults:
/// base_url = "https://api.hubapi.com"
/// ```
///
/// Shared settings, with HubSpot's defaults: `base_url`
/// `https://api.hubapi.com` (point it at the sandbox,
/// `http://127.0.0.1:PORT`, to try a configuration); `token_url`
/// `https://api.hubapi.com/oauth/v1/token`, for `auth` type `oauth2` and
/// only while `base_url` is the real API (`auth.token_url` is accepted too;
/// both set must agree; not allowed with a bearer token, which has no token
/// endpoint); `auth` a private app token (`type = "bearer"`) from
/// `HUBSPOT_TOKEN`, or `type = "oauth2"` with a public app's client id,
/// secret and refresh token, whose access token is cached and refreshed
/// once on a 401 (HubSpot retired API keys: `api_key` and `basic` are
/// refused); `http` at most 10 requests per second (private apps may make
/// 100 per 10 seconds on Free and Starter, more on higher tiers; HubSpot
/// answers 429 with Retry-After beyond that). Both streams are snapshots,
/// read whole on every sync, so `lookback_days` changes nothing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
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

impl Default for HubSpotConfig {
    fn default() -> Self {
        HubSpotConfig {
            company_currency: None,
            churn_date_property: default_churn_date_property(),
            extra_contact_properties: Vec::new(),
            extra_deal_properties: Vec::new(),
            page_size: default_page_size(),
            read_with: ReadWith::default(),
            search_requests_per_second: default_search_rps(),
        }
    }
}

fn default_search_rps() -> f64 {
    4.0
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_churn_date_property() -> String {
    DEFAULT_CHURN_DATE_PROPERTY.to_string()
}

/// A private app token: what one portal's sync usually runs with.
fn default_auth() -> AuthConfig {
    AuthConfig::Bearer {
        token: SecretRef::env(DEFAULT_TOKEN_ENV),
    }
}

/// HubSpot's general limit for private apps is 100 requests per 10
/// seconds on the lower tiers: 10 a second keeps every portal under it.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        requests_per_second: Some(10.0),
        ..HttpSettings::default()
    }
}

/// What HubSpot's own settings decide, before the shared ones are known.
struct Own {
    company_currency: Option<String>,
    churn_date_property: Option<String>,
    extra_contact_properties: Vec<String>,
    extra_deal_properties: Vec<String>,
}

impl HubSpotConfig {
    /// The connector, from the shared settings decided.
    pub fn connector(&self, p: Prepared) -> Result<HubSpotConnector, ConnectorError> {
        let own = self.check()?;
        let auth_hint = auth_hint(&p.auth_config)?;
        // HubSpot's search endpoints have their own per-token limit, below
        // the general one the client keeps: a second limiter for them.
        let search_limit = kpi_connector::http::RateLimiter::new(
            Some(self.search_requests_per_second).filter(|r| *r > 0.0),
            p.client.settings().max_concurrency,
        );
        let settings = Settings {
            base_url: p.base_url,
            auth_hint,
            company_currency: own.company_currency,
            churn_date_property: own.churn_date_property,
            extra_contact_properties: own.extra_contact_properties,
            extra_deal_properties: own.extra_deal_properties,
            page_size: self.page_size,
            read_with: self.read_with,
        };
        Ok(HubSpotConnector::new(settings, p.client, search_limit))
    }

    /// Every own setting checked; the message names the setting.
    fn check(&self) -> Result<Own, ConnectorError> {
        let invalid = ConnectorError::Config;
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
            check_property_name("churn_date_property", &churn).map_err(invalid)?;
        }
        let extra = |what: &str,
                     names: &[String],
                     standard: &[&str],
                     reserved: &[&str]|
         -> Result<Vec<String>, ConnectorError> {
            let mut out: Vec<String> = Vec::new();
            for name in names {
                let name = name.trim();
                check_property_name(what, name).map_err(invalid)?;
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
        Ok(Own {
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
        })
    }
}

/// What to tell a person when HubSpot answers 401, naming the variable to
/// renew; or why `auth` cannot work with HubSpot at all (also checked by
/// [`HttpSource::validate_auth`], before any secret is read).
fn auth_hint(auth: &AuthConfig) -> Result<String, ConnectorError> {
    Ok(match auth {
        AuthConfig::ApiKey { .. } | AuthConfig::Basic { .. } => {
            return Err(ConnectorError::Config(
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
    })
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

impl HttpSource for HubSpotConfig {
    const TYPE: &'static str = "hubspot";
    const API: Api = Api {
        base_url: DEFAULT_BASE_URL,
        token_url: DEFAULT_TOKEN_URL,
        // Both streams are snapshots: there are no days to read again.
        lookback_days: 0,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = HubSpotConnector;

    /// The streams without extra properties: those are columns of one
    /// source's files only (see [`HubSpotConnector`]'s own `streams`).
    fn streams(_lookback_days: u32) -> Vec<StreamDef> {
        vec![
            crate::contacts::stream_def(&[]),
            crate::deals::stream_def(&[]),
        ]
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        self.check().map(|_| ())
    }

    fn validate_auth(&self, auth: &AuthConfig) -> Result<(), ConnectorError> {
        auth_hint(auth).map(|_| ())
    }

    fn build(&self, p: Prepared) -> Result<HubSpotConnector, ConnectorError> {
        self.connector(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "auth = { type = \"bearer\", token = { env = \"HUBSPOT_TOKEN\" } }\n";

    fn parse(text: &str) -> HubSpotSource {
        toml::from_str(text).unwrap()
    }

    fn env(name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL);
        assert_eq!(c.endpoints().unwrap().base_url, "https://api.hubapi.com");
        assert_eq!(c.own.page_size, 100);
        assert_eq!(c.own.churn_date_property, "churn_date");
        assert_eq!(c.own.company_currency, None);
        let s = c.connector_with(&env).unwrap().settings;
        assert_eq!(s.base_url, "https://api.hubapi.com");
        assert_eq!(s.churn_date_property.as_deref(), Some("churn_date"));
        assert!(s.auth_hint.contains("HUBSPOT_TOKEN"));
        // Without `auth`: the private app token in HUBSPOT_TOKEN.
        let s = parse("").connector_with(&env).unwrap().settings;
        assert!(s.auth_hint.contains("private app token in HUBSPOT_TOKEN"));
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = |extra: &str| {
            parse(&format!("{MINIMAL}{extra}\n"))
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("page_size = 500"),
            "page_size must be between 1 and 100, got 500"
        );
        assert!(err("company_currency = \"euro\"").contains("not an ISO 4217 code"));
        assert!(
            err("extra_contact_properties = [\"First Name\"]")
                .contains("\"First Name\" is not a HubSpot internal property name")
        );
        assert!(
            err("extra_deal_properties = [\"amount\"]").contains("\"amount\" is already a column")
        );
        assert!(err("search_requests_per_second = -1.0").starts_with("search_requests_per_second"));
        assert!(err("base_url = \"api.hubapi.com\"").starts_with("base_url:"));
        // A retired kind of auth is refused by `kpi check` without reading
        // a secret: its variable need not be set to be told so.
        let api_key = parse("auth = { type = \"api_key\", header = \"x\", key = { env = \"K\" } }")
            .connector_with(&|_| None)
            .unwrap_err();
        assert!(
            api_key
                .to_string()
                .starts_with("auth: HubSpot retired API keys"),
            "{api_key}"
        );
        let e = toml::from_str::<HubSpotSource>(&format!("{MINIMAL}portal_id = 1")).unwrap_err();
        assert!(e.to_string().contains("unknown field `portal_id`"), "{e}");
    }

    const OAUTH: &str = "[auth]\ntype = \"oauth2\"\nclient_id = { env = \"HUBSPOT_CLIENT_ID\" }\n\
                         client_secret = { env = \"HUBSPOT_CLIENT_SECRET\" }\n\
                         refresh_token = { env = \"HUBSPOT_REFRESH_TOKEN\" }\n";

    #[test]
    fn token_url_defaults_for_the_real_api_and_is_required_elsewhere() {
        let c = parse(OAUTH);
        assert_eq!(
            c.endpoints().unwrap().token_url.as_deref(),
            Some(DEFAULT_TOKEN_URL)
        );
        let s = c.connector_with(&env).unwrap().settings;
        assert!(
            s.auth_hint.contains("HUBSPOT_REFRESH_TOKEN"),
            "{}",
            s.auth_hint
        );
        let local = parse(&format!("base_url = \"http://127.0.0.1:9\"\n{OAUTH}"));
        let e = local.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("token_url is not set, and base_url http://127.0.0.1:9"),
            "{e}"
        );
        // Refused before a secret is read.
        let e = local.connector_with(&|_| None).unwrap_err().to_string();
        assert!(e.contains("token_url is not set"), "{e}");
        let local = parse(&format!(
            "base_url = \"http://127.0.0.1:9\"\ntoken_url = \"http://127.0.0.1:9/oauth/v1/token\"\n{OAUTH}"
        ));
        assert_eq!(
            local.endpoints().unwrap().to_string(),
            "base_url http://127.0.0.1:9, token_url http://127.0.0.1:9/oauth/v1/token"
        );
        local.connector_with(&env).unwrap();
        // A private app token has no token endpoint, whatever base_url says.
        let bearer = parse(&format!("{MINIMAL}base_url = \"http://127.0.0.1:9\"\n"));
        assert_eq!(bearer.endpoints().unwrap().token_url, None);
        let bearer = parse(&format!("{MINIMAL}token_url = \"http://127.0.0.1:9/t\"\n"));
        assert!(
            bearer
                .validate()
                .unwrap_err()
                .to_string()
                .contains("remove token_url")
        );
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let e = parse(MINIMAL).connector_with(&|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable HUBSPOT_TOKEN is not set"
        );
    }
}
