//! `kpi-connector-salesforce`: the Salesforce CRM connector.
//!
//! It owns everything `kpi` knows about Salesforce's REST API:
//! - the `[sources.<name>]` settings ([`SalesforceConfig`], registered as
//!   [`SalesforceSource`] with the settings every source shares), which
//!   build the runtime connector ([`SalesforceConnector`]);
//! - the OAuth2 refresh-token grant at `login.salesforce.com` (or
//!   `test.salesforce.com` for a sandbox org, through `token_url`), whose
//!   answer names the org's instance (`instance_url`): every query goes
//!   there unless `base_url` names it;
//! - SOQL (`objects.rs`): `GET /services/data/vXX.X/query?q=SELECT ... FROM
//!   <object> WHERE SystemModstamp >= <day> ORDER BY SystemModstamp, Id`,
//!   followed through `nextRecordsUrl` until `done` with the framework's
//!   [`kpi_connector::NextUrlPager`] (at most 2,000 records a page);
//! - flattening: relationship fields come nested (`"Owner": {"attributes":
//!   ..., "Name": "Ana"}`) and land as `Owner_Name`; `attributes` is
//!   dropped; datetimes (`2024-03-01T10:00:00.000+0000`) land as UTC
//!   timestamps, dates as dates, nulls as nulls;
//! - Salesforce's errors, a JSON array of `{message, errorCode}`: a 401
//!   `INVALID_SESSION_ID` gets one fresh token and one retry (the shared
//!   client's rule); a 403 `REQUEST_LIMIT_EXCEEDED` of the daily API limit
//!   fails at once naming that limit (the concurrent-request flavour is
//!   waited out); `INVALID_FIELD`, `MALFORMED_QUERY` and the like quote
//!   Salesforce and name the object.
//!
//! The five streams, every one a snapshot kept up to date by the records
//! changed since the last sync ([`kpi_connector::WriteMode::Merge`] on `Id`,
//! cursor `SystemModstamp`), and why each field is read:
//! - `leads` (Lead): `Id`; `CreatedDate` (the lead date); `SystemModstamp`
//!   (the cursor); `Status`; `LeadSource` (the channel, through
//!   `channel_mapping.csv`); `IsConverted`, `ConvertedDate` (conversion is
//!   when sales accepts the lead: the SQL date); `ConvertedContactId` (the
//!   contact its opportunities name); `ConvertedOpportunityId`; and
//!   `mql_date` from the field `mql_date_field` names (Salesforce has no
//!   standard MQL date).
//! - `contacts` (Contact): `Id`, `CreatedDate` (the lead date of a contact
//!   entered without a lead), `SystemModstamp`, `LeadSource`, and
//!   `churn_date` from `churn_date_field` (for retention and LTV).
//! - `opportunities` (Opportunity): `Id`, `Name`, `CreatedDate` (the
//!   opportunity date), `SystemModstamp`, `CloseDate`, `StageName`,
//!   `IsClosed`, `IsWon` (won deals, revenue, win rate, the customer
//!   date), `Amount` in `CurrencyIsoCode` (or `org_currency` in a
//!   single-currency org; converted in staging), `Type` (new business or
//!   renewal), `LeadSource`, `ContactId` (the primary contact: the deal's
//!   channel and campaign are that contact's first touch) and `Owner.Name`.
//! - `campaigns` (Campaign): `Id`, `Name` (joined to ad campaigns and
//!   `utm_campaign` by `campaign_key()`), `Type`, `Status`, `StartDate`,
//!   `SystemModstamp`.
//! - `campaign_members` (CampaignMember): `Id`, `CampaignId`, `LeadId`,
//!   `ContactId`, `CreatedDate` (the earliest is the first touch),
//!   `FirstRespondedDate`, `HasResponded`, `SystemModstamp`.
//!
//! Retries, the OAuth2 refresh and secret redaction come from
//! `kpi-connector`'s shared HTTP client; errors are its `ConnectorError`
//! and the runner names the source and stream. Lake writes, the merge and
//! the cursors belong to the runner.

mod config;
mod connector;
mod objects;

pub use config::{
    CLIENT_ID_ENV, CLIENT_SECRET_ENV, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_BATCH_SIZE,
    DEFAULT_TOKEN_URL, REFRESH_TOKEN_ENV, SalesforceConfig, SalesforceSource,
};
pub use connector::SalesforceConnector;
pub use objects::{
    CAMPAIGN_MEMBERS, CAMPAIGNS, CONTACTS, LEADS, OBJECTS, OPPORTUNITIES, Object, soql,
};
