//! `kpi-connector-search-console`: the Google Search Console source, through
//! the Search Console API (`searchAnalytics/query`, the `webmasters/v3`
//! paths `https://searchconsole.googleapis.com` serves).
//!
//! It owns everything this project knows about that API: the config section
//! (`[sources.<name>] type = "search_console"`), the site URLs and how they
//! go into a path (`sc-domain:example.com` as `sc-domain%3Aexample.com`), the
//! OAuth2 refresh-token grant at Google's token endpoint (its defaults:
//! `SEARCH_CONSOLE_CLIENT_ID`, `SEARCH_CONSOLE_CLIENT_SECRET`,
//! `SEARCH_CONSOLE_REFRESH_TOKEN`, a refresh token with the
//! `webmasters.readonly` scope), the request body, `startRow`/`rowLimit`
//! paging, reading each row's `keys` by position, Google's refusals in words
//! a person can act on, and the Arrow schema of its one stream:
//!
//! - `search_analytics`: `POST /webmasters/v3/sites/{site}/searchAnalytics/
//!   query` with dimensions `date`, `query` and `device` and `type` `web`:
//!   clicks, impressions, CTR and average position per site, day, query and
//!   device. Daily partitions replaced on re-read; 3 days of lookback by
//!   default, because Google keeps revising the last two or three days
//!   (with `data_state = "all"` the freshest days are partial until then).
//!   Days are Google's, in Pacific time.
//!
//! A caveat for whoever sums this stream: Search Console leaves the queries
//! it anonymises (rare ones, for privacy) out of every result grouped by
//! query, and does not say how much it left out. The clicks and impressions
//! here therefore add up to less than the site's totals in the Search
//! Console UI (often by a fifth or more); they are the right numbers per
//! query, not the site's total organic traffic.
//!
//! Column names are the API's: the three keys by the dimension they are
//! (`query`, `device`; `date` is the partition), the site as `site_url`, and
//! the metrics as sent (`ctr` a fraction, `position` 1-based).
//! `queries/staging/search_console__search_performance.sql` reads them.
//! Retries (429, 5xx), the token refresh (and one retry after a 401), the
//! rate limit and secret redaction are `kpi-connector`'s; the shared
//! settings (`base_url`, `token_url`, `auth`, `http`, `lookback_days`) are
//! its [`kpi_connector::SourceConfig`].
//!
//! ```
//! use kpi_connector_search_console::SearchConsoleSource;
//!
//! let config: SearchConsoleSource =
//!     toml::from_str(r#"site_urls = ["sc-domain:example.com"]"#).unwrap();
//! assert_eq!((config.own.page_size, config.lookback_days()), (25_000, 3));
//! ```

mod analytics;
mod config;
mod connector;

pub use analytics::{MAX_PAGE_SIZE, encode_site_url, search_analytics_schema};
pub use config::{
    BuildError, CLIENT_ID_ENV, CLIENT_SECRET_ENV, DEFAULT_BASE_URL, DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE, DEFAULT_TOKEN_URL, DataState, REAL_ENDPOINTS, REFRESH_TOKEN_ENV,
    SearchConsoleConfig, SearchConsoleSource,
};
pub use connector::SearchConsoleConnector;

/// The daily search analytics stream.
pub const SEARCH_ANALYTICS: &str = "search_analytics";
