//! `kpi-connector-mailchimp`: the Mailchimp source, through the Marketing
//! API 3.0.
//!
//! It owns everything this project knows about that API: the config
//! section (`[sources.<name>] type = "mailchimp"`), the host (the data
//! centre is the API key's suffix: a key `...-us6` talks to
//! `https://us6.api.mailchimp.com`), basic auth with the key as password,
//! `count`/`offset` paging against `total_items`, the `fields` each request
//! asks for, Mailchimp's problem+json errors in words a person can act on,
//! and the Arrow schemas of its two streams:
//!
//! - `reports` (`GET /3.0/reports`): one row per sent campaign, with its
//!   sends, bounces, forwards, opens, clicks, unsubscribes and abuse
//!   reports, filed on the UTC day of its `send_time` (the partition). A
//!   report keeps changing for weeks after the send as opens and clicks
//!   arrive, so every sync re-reads the campaigns sent in the last 30 days
//!   (`lookback_days`); the window is asked for with `since_send_time` and
//!   `before_send_time`.
//! - `campaigns` (`GET /3.0/campaigns`): every campaign's type, status,
//!   send time, title and `tracking.google_analytics`, the `utm_campaign`
//!   Mailchimp appends to the links of a campaign with Google Analytics
//!   tracking on. `/3.0/reports` does not carry it, and it is what ties an
//!   email to its site visits and leads (GA4's `session_campaign_name`,
//!   HubSpot's `hs_analytics_source_data_2`), so
//!   `queries/staging/mailchimp__email_performance.sql` joins the two by
//!   campaign id. A snapshot: each sync replaces the whole list.
//!
//! Column names are Mailchimp's, nested objects flattened with `_`
//! (`opens.unique_opens` -> `opens_unique_opens`). Retries (429 past the
//! 10 simultaneous connections Mailchimp allows, 5xx), limits and secret
//! redaction are `kpi-connector`'s; the shared settings (`base_url`,
//! `auth`, `http`, `lookback_days`) are its [`kpi_connector::SourceConfig`].
//!
//! ```
//! use kpi_connector_mailchimp::MailchimpSource;
//!
//! let config: MailchimpSource = toml::from_str("page_size = 200").unwrap();
//! assert_eq!((config.own.page_size, config.lookback_days()), (200, 30));
//! ```

mod api;
mod campaigns;
mod config;
mod connector;
mod reports;

pub use campaigns::campaigns_schema;
pub use config::{
    API_KEY_ENV, DEFAULT_LOOKBACK_DAYS, DEFAULT_PAGE_SIZE, DISPLAY_BASE_URL, MAX_PAGE_SIZE,
    MailchimpConfig, data_centre,
};
pub use connector::MailchimpConnector;
pub use reports::reports_schema;

/// A `[sources.<name>]` section of `type = "mailchimp"`, as the registry
/// takes it.
pub type MailchimpSource = kpi_connector::SourceConfig<MailchimpConfig>;

/// The daily stream of campaign reports.
pub const REPORTS: &str = "reports";
/// The snapshot of campaigns.
pub const CAMPAIGNS: &str = "campaigns";
