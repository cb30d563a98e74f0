//! The raw streams the synthetic company produces, with the Arrow schema each
//! one lands in the lake with.
//!
//! Field names are the source API's own, flattened with `_` and written in
//! snake_case (`metrics.cost_micros` -> `metrics_cost_micros`,
//! `sessionSource` -> `session_source`) so that analysts never need to quote
//! them. Unit and currency conversion happen later, in `queries/staging/`.
//! The partition column (`date`) is not part of the file schema: it lives in
//! the Hive-style directory name, as DuckDB and Spark expect.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use kpi_lake::{Layout, StreamSpec};

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn i64f(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}
fn f64f(name: &str) -> Field {
    Field::new(name, DataType::Float64, false)
}
fn ts(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

fn spec(
    source_type: &'static str,
    stream: &'static str,
    layout: Layout,
    fields: Vec<Field>,
) -> StreamSpec {
    StreamSpec {
        source_type,
        stream,
        layout,
        schema: Arc::new(Schema::new(fields)),
    }
}

/// Every raw stream, in a stable order.
pub fn raw_streams() -> Vec<StreamSpec> {
    use Layout::*;
    vec![
        // Google Ads: GAQL over `campaign` with `segments.date`; money in micros of the
        // account currency.
        spec(
            "google_ads",
            "campaign_stats",
            Daily,
            vec![
                utf8("customer_id", false),
                utf8("customer_currency_code", false),
                utf8("customer_time_zone", false),
                i64f("campaign_id"),
                utf8("campaign_name", false),
                utf8("campaign_advertising_channel_type", false),
                i64f("metrics_impressions"),
                i64f("metrics_clicks"),
                i64f("metrics_cost_micros"),
                f64f("metrics_conversions"),
                f64f("metrics_conversions_value"),
            ],
        ),
        spec(
            "google_ads",
            "campaigns",
            Snapshot,
            vec![
                utf8("customer_id", false),
                i64f("campaign_id"),
                utf8("campaign_name", false),
                utf8("campaign_status", false),
                utf8("campaign_advertising_channel_type", false),
            ],
        ),
        // Meta Marketing API insights, level=campaign, time_increment=1; `actions`
        // flattened to one column per action type that staging uses.
        spec(
            "meta_ads",
            "ads_insights",
            Daily,
            vec![
                utf8("account_id", false),
                utf8("account_currency", false),
                utf8("campaign_id", false),
                utf8("campaign_name", false),
                utf8("objective", false),
                i64f("impressions"),
                i64f("clicks"),
                f64f("spend"),
                f64f("actions_lead"),
                f64f("actions_purchase"),
                f64f("actions_link_click"),
                f64f("action_values_purchase"),
            ],
        ),
        spec(
            "meta_ads",
            "campaigns",
            Snapshot,
            vec![
                utf8("account_id", false),
                utf8("id", false),
                utf8("name", false),
                utf8("objective", false),
                utf8("status", false),
            ],
        ),
        // LinkedIn adAnalytics pivoted by CAMPAIGN, timeGranularity=DAILY, one account a
        // request; the currency is the account's. Campaign names are in `campaigns` only.
        spec(
            "linkedin_ads",
            "ad_analytics",
            Daily,
            vec![
                utf8("account_id", false),
                utf8("currency", false),
                i64f("campaign_id"),
                i64f("impressions"),
                i64f("clicks"),
                f64f("cost_in_local_currency"),
                f64f("cost_in_usd"),
                i64f("one_click_leads"),
                i64f("external_website_conversions"),
                i64f("landing_page_clicks"),
                i64f("video_views"),
            ],
        ),
        spec(
            "linkedin_ads",
            "campaigns",
            Snapshot,
            vec![
                utf8("account_id", false),
                i64f("id"),
                utf8("name", false),
                utf8("type", false),
                utf8("status", false),
            ],
        ),
        // Microsoft Advertising CampaignPerformanceReportRequest, Aggregation Daily:
        // the report's columns in snake_case; spend and revenue in the account's
        // currency; the ReportTimeZone the request sent.
        spec(
            "microsoft_ads",
            "campaign_performance",
            Daily,
            vec![
                utf8("account_id", false),
                utf8("account_name", false),
                i64f("campaign_id"),
                utf8("campaign_name", false),
                utf8("campaign_type", false),
                utf8("campaign_status", false),
                utf8("currency_code", false),
                i64f("impressions"),
                i64f("clicks"),
                f64f("spend"),
                f64f("conversions"),
                f64f("revenue"),
                utf8("report_time_zone", false),
            ],
        ),
        // Microsoft Advertising Campaign Management Campaigns/QueryByAccountId.
        spec(
            "microsoft_ads",
            "campaigns",
            Snapshot,
            vec![
                utf8("account_id", false),
                i64f("id"),
                utf8("name", false),
                utf8("campaign_type", false),
                utf8("status", false),
            ],
        ),
        // GA4 Data API runReport, dimensions by position as named here.
        spec(
            "ga4",
            "traffic",
            Daily,
            vec![
                utf8("property_id", false),
                utf8("session_source", false),
                utf8("session_medium", false),
                utf8("session_campaign_name", false),
                utf8("device_category", false),
                i64f("sessions"),
                i64f("total_users"),
                i64f("new_users"),
                i64f("engaged_sessions"),
                f64f("user_engagement_duration"),
                i64f("screen_page_views"),
                f64f("key_events"),
            ],
        ),
        // Search Console searchAnalytics/query with dimensions [date, query, device].
        spec(
            "search_console",
            "search_analytics",
            Daily,
            vec![
                utf8("site_url", false),
                utf8("query", false),
                utf8("device", false),
                i64f("clicks"),
                i64f("impressions"),
                f64f("ctr"),
                f64f("position"),
            ],
        ),
        // HubSpot CRM v3 contacts, properties as returned (timestamps in UTC).
        spec(
            "hubspot",
            "contacts",
            Snapshot,
            vec![
                utf8("id", false),
                ts("createdate"),
                ts("lastmodifieddate"),
                utf8("lifecyclestage", true),
                ts("hs_lifecyclestage_lead_date"),
                ts("hs_lifecyclestage_marketingqualifiedlead_date"),
                ts("hs_lifecyclestage_salesqualifiedlead_date"),
                ts("hs_lifecyclestage_opportunity_date"),
                ts("hs_lifecyclestage_customer_date"),
                // A custom property: HubSpot has no standard churn date.
                ts("churn_date"),
                utf8("hs_analytics_source", true),
                utf8("hs_analytics_source_data_1", true),
                utf8("hs_analytics_source_data_2", true),
            ],
        ),
        // HubSpot CRM v3 deals with their first associated contact.
        spec(
            "hubspot",
            "deals",
            Snapshot,
            vec![
                utf8("id", false),
                utf8("dealname", false),
                Field::new("amount", DataType::Float64, true),
                utf8("deal_currency_code", false),
                ts("createdate"),
                ts("closedate"),
                utf8("dealstage", false),
                utf8("pipeline", false),
                Field::new("hs_is_closed", DataType::Boolean, false),
                Field::new("hs_is_closed_won", DataType::Boolean, false),
                utf8("associated_contact_id", true),
            ],
        ),
        // Salesforce REST `query` results, one snapshot per object, fields under
        // their API names (relationships flattened: `Owner.Name` -> `Owner_Name`).
        // `mql_date` and `churn_date` hold the org's custom fields that the
        // source's settings name; `CurrencyIsoCode` the org's in a single-currency org.
        spec(
            "salesforce",
            "leads",
            Snapshot,
            vec![
                utf8("Id", false),
                ts("CreatedDate"),
                ts("SystemModstamp"),
                utf8("Status", true),
                utf8("LeadSource", true),
                Field::new("IsConverted", DataType::Boolean, false),
                Field::new("ConvertedDate", DataType::Date32, true),
                utf8("ConvertedContactId", true),
                utf8("ConvertedOpportunityId", true),
                utf8("mql_date", true),
            ],
        ),
        spec(
            "salesforce",
            "contacts",
            Snapshot,
            vec![
                utf8("Id", false),
                ts("CreatedDate"),
                ts("SystemModstamp"),
                utf8("LeadSource", true),
                utf8("churn_date", true),
            ],
        ),
        spec(
            "salesforce",
            "opportunities",
            Snapshot,
            vec![
                utf8("Id", false),
                utf8("Name", false),
                ts("CreatedDate"),
                ts("SystemModstamp"),
                Field::new("CloseDate", DataType::Date32, true),
                utf8("StageName", false),
                Field::new("IsClosed", DataType::Boolean, false),
                Field::new("IsWon", DataType::Boolean, false),
                Field::new("Amount", DataType::Float64, true),
                utf8("Type", true),
                utf8("LeadSource", true),
                utf8("ContactId", true),
                utf8("Owner_Name", true),
                utf8("CurrencyIsoCode", false),
            ],
        ),
        spec(
            "salesforce",
            "campaigns",
            Snapshot,
            vec![
                utf8("Id", false),
                utf8("Name", false),
                utf8("Type", true),
                utf8("Status", true),
                Field::new("StartDate", DataType::Date32, true),
                ts("SystemModstamp"),
            ],
        ),
        spec(
            "salesforce",
            "campaign_members",
            Snapshot,
            vec![
                utf8("Id", false),
                utf8("CampaignId", false),
                utf8("LeadId", true),
                utf8("ContactId", true),
                ts("CreatedDate"),
                Field::new("FirstRespondedDate", DataType::Date32, true),
                Field::new("HasResponded", DataType::Boolean, false),
                ts("SystemModstamp"),
            ],
        ),
        // Mailchimp GET /3.0/reports, one row per sent campaign, partitioned by the
        // UTC day of its send_time. Rates are fractions of the delivered emails.
        spec(
            "mailchimp",
            "reports",
            Daily,
            vec![
                utf8("id", false),
                utf8("campaign_title", false),
                utf8("type", false),
                utf8("list_id", false),
                utf8("list_name", false),
                utf8("subject_line", false),
                ts("send_time"),
                i64f("emails_sent"),
                i64f("abuse_reports"),
                i64f("unsubscribed"),
                i64f("bounces_hard_bounces"),
                i64f("bounces_soft_bounces"),
                i64f("bounces_syntax_errors"),
                i64f("forwards_forwards_count"),
                i64f("forwards_forwards_opens"),
                i64f("opens_opens_total"),
                i64f("opens_unique_opens"),
                f64f("opens_open_rate"),
                ts("opens_last_open"),
                i64f("clicks_clicks_total"),
                i64f("clicks_unique_clicks"),
                i64f("clicks_unique_subscriber_clicks"),
                f64f("clicks_click_rate"),
                ts("clicks_last_click"),
            ],
        ),
        // Mailchimp GET /3.0/campaigns: tracking.google_analytics is the utm_campaign
        // Mailchimp appends to the campaign's links (/reports does not carry it).
        spec(
            "mailchimp",
            "campaigns",
            Snapshot,
            vec![
                utf8("id", false),
                utf8("type", false),
                utf8("status", false),
                ts("send_time"),
                utf8("settings_title", true),
                utf8("tracking_google_analytics", true),
            ],
        ),
        // Social network page insights export, one row per network and day.
        spec(
            "social",
            "page_insights",
            Daily,
            vec![
                utf8("network", false),
                i64f("impressions"),
                i64f("engagements"),
                i64f("link_clicks"),
                i64f("followers"),
            ],
        ),
        // Social listening export: classified mentions per network and day.
        spec(
            "social",
            "mentions",
            Daily,
            vec![
                utf8("network", false),
                i64f("mentions_positive"),
                i64f("mentions_neutral"),
                i64f("mentions_negative"),
            ],
        ),
        // SEO tool export: one snapshot row per crawl date.
        spec(
            "backlinks",
            "snapshots",
            Daily,
            vec![
                utf8("domain", false),
                i64f("referring_domains_followed"),
                i64f("backlinks_followed"),
                f64f("domain_rating"),
            ],
        ),
        // Non-ad marketing costs (agency fees, tools, content), from finance.
        spec(
            "costs",
            "marketing_costs",
            Daily,
            vec![
                utf8("vendor", false),
                utf8("category", false),
                utf8("channel", true),
                utf8("campaign", true),
                f64f("amount"),
                utf8("currency", false),
            ],
        ),
    ]
}

/// The stream spec for `source_type`/`stream`, if the sandbox knows it.
pub fn find(source_type: &str, stream: &str) -> Option<StreamSpec> {
    raw_streams()
        .into_iter()
        .find(|s| s.source_type == source_type && s.stream == stream)
}
