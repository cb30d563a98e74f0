//! `kpi-connector-hubspot`: the HubSpot CRM connector.
//!
//! It owns everything `kpi` knows about HubSpot's CRM v3 API:
//! - the `[sources.<name>]` settings ([`HubSpotConfig`], registered as
//!   [`HubSpotSource`] with the settings every source shares), which build
//!   the runtime connector ([`HubSpotConnector`]);
//! - the request shapes: by default `POST /crm/v3/objects/{contacts,deals}/search`
//!   in ranges of `hs_object_id` read side by side (see `search.rs`), with
//!   deals' contacts from `POST /crm/v4/associations/deals/contacts/batch/read`;
//!   or (`read_with = "list"`) `GET /crm/v3/objects/contacts` and
//!   `GET /crm/v3/objects/deals` with `properties=`, `limit=100` and (deals)
//!   `associations=contacts`, paged with `after` from `paging.next.after`;
//!   `GET /account-info/v3/details` for the portal's company currency; and
//!   the `GET /crm/v3/objects/contacts?limit=1` probe of `kpi check`;
//! - authentication by private app token (`HUBSPOT_TOKEN` by default) or
//!   OAuth2 refresh token, and what to do when HubSpot refuses either;
//! - the two raw streams and their Arrow schemas: `contacts` (lifecycle stage
//!   dates, original source and its drill-downs) and `deals` (amount,
//!   currency, stage, close date, first associated contact), both snapshots.
//!
//! HubSpot timestamps arrive as ISO 8601 strings (date-only for date
//! properties, epoch milliseconds in older payloads); they land as UTC
//! millisecond timestamps.
//!
//! Retries, `Retry-After`, the general rate limit, the OAuth2 refresh and
//! secret redaction come from `kpi-connector`'s shared HTTP client (the
//! search endpoints' own limit is a second limiter here), and errors are
//! its `ConnectorError`: the runner names the source and stream. Lake
//! writes and state belong to the runner.

mod config;
mod connector;
mod contacts;
mod deals;
mod search;

pub use config::{
    CONTACT_PROPERTIES, DEAL_PROPERTIES, DEFAULT_BASE_URL, DEFAULT_CHURN_DATE_PROPERTY,
    DEFAULT_PAGE_SIZE, DEFAULT_TOKEN_ENV, DEFAULT_TOKEN_URL, HubSpotConfig, HubSpotSource,
    ReadWith,
};
pub use connector::HubSpotConnector;
pub use contacts::{CONTACTS, contacts_schema};
pub use deals::{DEALS, deals_schema};
