//! `kpi-connector-ga4`: the Google Analytics 4 source, through the GA4 Data
//! API (`v1beta`).
//!
//! It owns everything this project knows about that API: the config section
//! (`[sources.<name>] type = "ga4"`), the `properties/{id}:runReport`
//! request (dimensions, metrics, date ranges, `limit`/`offset` paging),
//! matching the positional values of each row to the response's dimension
//! and metric headers by name, and the Arrow schema of its one stream:
//!
//! - `traffic`: sessions, users, new users, engaged sessions, engagement
//!   time, page views and key events per property, day, session source,
//!   medium, campaign and device. Daily partitions replaced on re-read;
//!   3 days of lookback by default, because GA4 keeps processing a day's
//!   events for up to 72 hours.
//!
//! Column names are GA4's API names in snake_case (`sessionSource` ->
//! `session_source`), as `queries/staging/ga4__web_traffic.sql` reads them.
//! GA4 has no bounce count (only `bounceRate`); staging derives bounces as
//! `sessions - engaged_sessions`, which is GA4's own definition of a bounce.
//! Retries, quotas, token refresh and secret redaction are `kpi-connector`'s.
//!
//! ```
//! use kpi_connector_ga4::Ga4Source;
//!
//! let config: Ga4Source = serde_json::from_value(serde_json::json!({
//!     "property_ids": ["properties/123456789"],
//! }))
//! .unwrap();
//! assert_eq!((config.own.page_size, config.lookback_days()), (10_000, 3));
//! ```

mod config;
mod connector;
mod report;

pub use config::{
    BuildError, DEFAULT_BASE_URL, DEFAULT_LOOKBACK_DAYS, DEFAULT_PAGE_SIZE, DEFAULT_TOKEN_URL,
    Ga4Config, Ga4Source, MAX_PAGE_SIZE, REAL_ENDPOINTS,
};
pub use connector::Ga4Connector;
pub use report::traffic_schema;

/// The daily traffic stream.
pub const TRAFFIC: &str = "traffic";
