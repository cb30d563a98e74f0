//! `kpi-connector-google-ads`: the Google Ads source.
//!
//! It owns everything this project knows about the Google Ads API: the
//! config section (`[sources.<name>] type = "google_ads"`), the GAQL queries,
//! the `googleAds:searchStream` request (developer token, login customer id,
//! OAuth2), reading the streamed JSON array one batch at a time, and mapping
//! its camelCase rows onto the raw streams' Arrow schemas:
//!
//! - `campaign_stats`: one row per customer, campaign and day, with the
//!   account's currency and time zone, impressions, clicks, cost in micros,
//!   conversions and conversion value. Daily partitions replaced on re-read;
//!   30 days of lookback by default, because conversions are attributed to
//!   the click's day and keep arriving for weeks.
//! - `campaigns`: every campaign's name, status and channel type, as a
//!   snapshot.
//!
//! Column names are the API's field paths flattened and in snake_case
//! (`metrics.costMicros` -> `metrics_cost_micros`), as the staging SQL in
//! `queries/staging/google_ads__*.sql` reads them; money stays in micros of
//! the account currency, converted in staging. Retries, quotas, token refresh
//! and secret redaction are `kpi-connector`'s, and so are the settings every
//! source has (`base_url`, `token_url`, `auth`, `http`, `lookback_days`):
//! the source is registered as [`GoogleAdsSource`], `kpi-connector`'s
//! `SourceConfig` over [`GoogleAdsConfig`], which holds only Google Ads' own
//! settings (customer ids, login customer id, API version, developer token).
//!
//! ```
//! use kpi_connector_google_ads::GoogleAdsSource;
//!
//! let config: GoogleAdsSource = serde_json::from_value(serde_json::json!({
//!     "customer_ids": ["123-456-7890"],
//!     "login_customer_id": "1112223333",
//! }))
//! .unwrap();
//! assert_eq!((config.own.api_version.as_str(), config.lookback_days()), ("v26", 30));
//! ```

mod config;
mod connector;
mod gaql;
mod json_array;
mod rows;

pub use config::{
    BuildError, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_LOOKBACK_DAYS, DEFAULT_TOKEN_URL,
    GoogleAdsConfig, GoogleAdsSource, REAL_ENDPOINTS,
};
pub use connector::GoogleAdsConnector;
pub use rows::{campaign_stats_schema, campaigns_schema};

/// The daily campaign performance stream.
pub const CAMPAIGN_STATS: &str = "campaign_stats";
/// The campaign settings snapshot stream.
pub const CAMPAIGNS: &str = "campaigns";
