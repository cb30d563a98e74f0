//! The GAQL queries each stream sends.
//!
//! Field lists are spelled out rather than derived from the schemas: GAQL
//! field paths (`metrics.cost_micros`) and the JSON the API answers with
//! (`metrics.costMicros`) differ, and one explicit list per stream is easier
//! to check against Google's field reference than a naming rule.

use kpi_connector::SyncWindow;

/// The fields of `campaign_stats`, in GAQL spelling.
pub(crate) const CAMPAIGN_STATS_FIELDS: &[&str] = &[
    "customer.id",
    "customer.currency_code",
    "customer.time_zone",
    "campaign.id",
    "campaign.name",
    "campaign.advertising_channel_type",
    "segments.date",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
];

/// The fields of `campaigns`.
pub(crate) const CAMPAIGNS_FIELDS: &[&str] = &[
    "customer.id",
    "campaign.id",
    "campaign.name",
    "campaign.status",
    "campaign.advertising_channel_type",
];

/// Daily campaign performance for the days of `window`, both included.
/// Removed campaigns are not filtered out: their spend in the window is
/// still spend. Rows whose metrics are all zero are left out by the API.
pub(crate) fn campaign_stats(window: SyncWindow) -> String {
    format!(
        "SELECT {} FROM campaign WHERE segments.date BETWEEN '{}' AND '{}'",
        CAMPAIGN_STATS_FIELDS.join(", "),
        window.start.format("%Y-%m-%d"),
        window.end.format("%Y-%m-%d"),
    )
}

/// Every campaign of the account, removed ones included, so that past
/// stats keep a name and a channel.
pub(crate) fn campaigns() -> String {
    format!("SELECT {} FROM campaign", CAMPAIGNS_FIELDS.join(", "))
}

/// The cheapest query that proves credentials, developer token and account
/// access, and tells `kpi check` the account's name, currency and zone.
pub(crate) fn check() -> &'static str {
    "SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone \
     FROM customer LIMIT 1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_query_has_the_window() {
        let w = SyncWindow {
            start: "2024-03-01".parse().unwrap(),
            end: "2024-03-31".parse().unwrap(),
        };
        let q = campaign_stats(w);
        assert!(q.starts_with("SELECT customer.id, customer.currency_code, "));
        assert!(
            q.ends_with(" FROM campaign WHERE segments.date BETWEEN '2024-03-01' AND '2024-03-31'"),
            "{q}"
        );
    }
}
