//! `kpi-connector-meta-ads`: the Meta (Facebook and Instagram) Marketing API
//! connector.
//!
//! It owns everything `kpi` knows about Meta's Graph API:
//! - the `[sources.<name>]` settings ([`MetaAdsConfig`], registered as
//!   [`MetaAdsSource`] with the settings every source shares), which build
//!   the runtime connector ([`MetaAdsConnector`]);
//! - the request shapes: `GET /{version}/act_{id}/insights` with
//!   `level=campaign`, `time_increment=1`, `time_range`, `fields` and
//!   `action_attribution_windows`; asynchronous report runs for long windows
//!   (`POST …/insights`, poll `/{report_run_id}`, read
//!   `/{report_run_id}/insights`); `GET /act_{id}/campaigns`; and the
//!   `GET /act_{id}` probe of `kpi check`;
//! - cursor paging (`paging.cursors.after` while `paging.next` is present);
//! - Meta's error conventions: an expired or revoked token (error 190) and
//!   its throttling codes (4, 17, 32, 613, 80000-80014), which arrive as
//!   HTTP 400 rather than 429;
//! - the two raw streams and their Arrow schemas: `ads_insights` (one row
//!   per campaign and day, `actions[]` and `action_values[]` flattened to
//!   the action types staging reads) and `campaigns`.
//!
//! Retries, `Retry-After`, rate limits (Meta's codes as a throttle rule)
//! and secret redaction come from `kpi-connector`'s shared HTTP client, and
//! errors are its `ConnectorError`: the runner names the source and stream.
//! Lake writes and cursors belong to the runner.

mod api;
mod campaigns;
mod config;
mod connector;
mod insights;

pub use campaigns::{CAMPAIGNS, campaigns_schema};
pub use config::{
    DEFAULT_API_VERSION, DEFAULT_ASYNC_AFTER_DAYS, DEFAULT_BASE_URL, DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE, DEFAULT_TOKEN_ENV, MetaAdsConfig, MetaAdsSource,
};
pub use connector::MetaAdsConnector;
pub use insights::{ADS_INSIGHTS, ads_insights_schema};
