//! `type = "custom"`: rows for a canonical view that no connector feeds,
//! from files or a PostgreSQL query, in the view's own terms: another ad
//! platform's export or offline conversions into `ad_performance`, a
//! homegrown CRM's or the warehouse's tables into `crm_contacts` and
//! `crm_deals`, another analytics tool into `web_traffic`, another email
//! platform into `email_performance`.
//!
//! Each view a custom source can feed is one stream here, named after the
//! view, with the columns its staging file (`queries/staging/custom__<view>.sql`)
//! turns into the view's: the measures the KPIs add up are required (a
//! column the export lacks is named in the error, and `values` can give it
//! on every row, `impressions = "0"` for offline conversions), the
//! descriptive ones may be missing. Every stream is daily on `date`, so a
//! file or query rebuilds the days it covers, as for costs; for the CRM
//! views `date` is the day the contact or deal was created.

use arrow::datatypes::{DataType, Field};
use serde::Deserialize;

use crate::FileSettings;
use crate::types::{FileStream, FileType, Overlap, daily};

/// `type = "custom"`: one table per canonical view it feeds, each with
/// the settings of a file type's stream (`path` or `postgres`, `columns`,
/// `values`, ...). Any may be left out, not all.
///
/// ```toml
/// [sources.tiktok]
/// type = "custom"
/// [sources.tiktok.ad_performance]
/// path = "inputs/tiktok"
/// columns = { campaign = "Campaign name", cost = "Cost" }
/// values = { platform = "tiktok_ads", currency = "USD", channel = "paid_social" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomSource {
    /// Daily rows per ad campaign: `campaign`, `impressions`, `clicks`,
    /// `cost` and `currency`, `conversions`, `conversion_value`; optionally
    /// `platform` (the source's name by default), `account_id`,
    /// `campaign_id` and `channel`.
    pub ad_performance: Option<FileSettings>,
    /// Daily sessions per source, medium, campaign and device, with users,
    /// new users, engaged sessions, total session seconds, page views and
    /// leads (key events); `bounces` defaults to sessions not engaged.
    pub web_traffic: Option<FileSettings>,
    /// Email campaign sends: per campaign and send day, emails sent,
    /// bounces, unique opens and clicks, forwards, unsubscribes and spam
    /// complaints; `delivered` defaults to sent less bounces.
    pub email_performance: Option<FileSettings>,
    /// One row per contact: `date` (created), `contact_id`, the day it
    /// reached each funnel stage, its original `source` and `campaign`.
    pub crm_contacts: Option<FileSettings>,
    /// One row per deal: `date` (created), `deal_id`, `contact_id`,
    /// `close_date`, `is_won`, `is_closed`, `amount` and `currency`.
    pub crm_deals: Option<FileSettings>,
}

/// The views a custom source can feed, each its stream's name.
pub const CUSTOM_VIEWS: [&str; 5] = [
    "ad_performance",
    "web_traffic",
    "email_performance",
    "crm_contacts",
    "crm_deals",
];

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}
fn number(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Float64, nullable)
}
fn day(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}
fn flag(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

impl FileType for CustomSource {
    const TYPE: &'static str = "custom";

    fn streams() -> Vec<FileStream> {
        // A later export of the same days (or of a changed record)
        // replaces the earlier one's rows rather than adding to them.
        let stream = |def| FileStream {
            def,
            presets: &[],
            overlap: Overlap::NewestFilePerKey,
        };
        vec![
            stream(daily(
                "ad_performance",
                vec![
                    text("platform", true),
                    text("account_id", true),
                    text("campaign_id", true),
                    text("campaign", false),
                    text("channel", true),
                    int("impressions", false),
                    int("clicks", false),
                    number("cost", false),
                    text("currency", false),
                    number("conversions", false),
                    number("conversion_value", false),
                ],
                &["date", "platform", "account_id", "campaign_id", "campaign"],
            )),
            stream(daily(
                "web_traffic",
                vec![
                    text("source", true),
                    text("medium", true),
                    text("campaign", true),
                    text("channel", true),
                    text("device", true),
                    int("sessions", false),
                    int("users", false),
                    int("new_users", false),
                    int("engaged_sessions", false),
                    int("bounces", true),
                    number("session_duration_s", false),
                    int("pageviews", false),
                    int("leads", false),
                ],
                &["date", "source", "medium", "campaign", "device"],
            )),
            stream(daily(
                "email_performance",
                vec![
                    text("platform", true),
                    text("campaign_id", true),
                    text("campaign", false),
                    text("channel", true),
                    int("emails_sent", false),
                    int("bounces", false),
                    int("delivered", true),
                    int("unique_opens", false),
                    int("unique_clicks", false),
                    int("forwards", false),
                    int("unsubscribes", false),
                    int("abuse_reports", false),
                ],
                &["date", "platform", "campaign_id", "campaign"],
            )),
            stream(daily(
                "crm_contacts",
                vec![
                    text("contact_id", false),
                    day("lead_date"),
                    day("mql_date"),
                    day("sql_date"),
                    day("opportunity_date"),
                    day("customer_date"),
                    day("churn_date"),
                    text("source", true),
                    text("source_detail", true),
                    text("campaign", true),
                    text("channel", true),
                ],
                &["contact_id"],
            )),
            stream(daily(
                "crm_deals",
                vec![
                    text("deal_id", false),
                    text("contact_id", true),
                    text("deal_name", true),
                    text("pipeline", true),
                    day("close_date"),
                    flag("is_won"),
                    flag("is_closed"),
                    number("amount", false),
                    text("currency", false),
                ],
                &["deal_id"],
            )),
        ]
    }

    fn inputs(&self) -> Vec<(&'static str, &FileSettings)> {
        [
            ("ad_performance", &self.ad_performance),
            ("web_traffic", &self.web_traffic),
            ("email_performance", &self.email_performance),
            ("crm_contacts", &self.crm_contacts),
            ("crm_deals", &self.crm_deals),
        ]
        .into_iter()
        .filter_map(|(view, s)| s.as_ref().map(|s| (view, s)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stream_per_view_it_names() {
        let names: Vec<String> = CustomSource::streams()
            .into_iter()
            .map(|s| s.def.name)
            .collect();
        assert_eq!(names, CUSTOM_VIEWS);
        let c: CustomSource = toml::from_str(
            r#"
            [crm_deals]
            path = "inputs/deals"
            "#,
        )
        .unwrap();
        let inputs = c.inputs();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].0, "crm_deals");
        let bad = toml::from_str::<CustomSource>("[crm_deal]\npath = \"x\"").unwrap_err();
        assert!(bad.to_string().contains("crm_deals"), "{bad}");
    }
}
