//! Ads: one campaign's day on Google Ads, Meta, LinkedIn Ads or Microsoft Advertising.

use super::*;

/// One campaign's day on its platform.
pub(super) struct AdDay {
    pub(super) impressions: u64,
    pub(super) clicks: u64,
    pub(super) cost: f64,
    pub(super) conversions: f64,
    pub(super) conversions_value: f64,
    pub(super) form_leads: u64,
    /// Clicks on the ad's link (Meta reports them apart from other clicks).
    pub(super) link_clicks: u64,
    pub(super) purchases: u64,
    pub(super) website_conversions: u64,
}

pub(super) fn ad_day(rng: &mut ChaCha8Rng, t: &AdTemplate, efficiency: f64, demand: f64) -> AdDay {
    let wobble = noise(rng, 0.12);
    let impressions = poisson(rng, t.impressions * demand * wobble);
    let ctr = (t.ctr * efficiency * noise(rng, 0.1)).min(0.5);
    let clicks = binomial(rng, impressions, ctr);
    // Quality score: ads that earn more clicks also pay less for each.
    let cpc = t.cpc / efficiency.sqrt() * noise(rng, 0.12);
    let conversions = if clicks == 0 {
        0.0
    } else {
        round2(clicks as f64 * t.conv_rate * noise(rng, 0.3))
    };
    let form_rate = t.form_lead_rate * noise(rng, 0.15);
    // Meta also counts likes and profile clicks; most clicks are link clicks.
    let link_clicks = if t.platform == Meta {
        binomial(rng, clicks, 0.92)
    } else {
        clicks
    };
    AdDay {
        impressions,
        clicks,
        cost: round2(clicks as f64 * cpc),
        conversions,
        conversions_value: round2(conversions * t.conv_value * noise(rng, 0.2)),
        form_leads: binomial(rng, clicks, form_rate),
        link_clicks,
        purchases: if t.platform == Meta {
            poisson(rng, clicks as f64 * 0.0004)
        } else {
            0
        },
        website_conversions: if t.platform == LinkedIn {
            binomial(rng, clicks, 0.035)
        } else {
            0
        },
    }
}

pub(super) fn write_ad_row(t: &mut Tables, c: &Campaign, d: &AdDay) {
    let tpl = c.template;
    match tpl.platform {
        Google => t
            .google_stats
            .row()
            .str(GOOGLE_CUSTOMER_ID)
            .str("EUR")
            .str("Europe/Madrid")
            .int(c.id)
            .str(&c.name)
            .str(tpl.kind)
            .count(d.impressions)
            .count(d.clicks)
            .int((d.cost * 1e6).round() as i64)
            .float(d.conversions)
            .float(d.conversions_value)
            .end(),
        Meta => t
            .meta_insights
            .row()
            .str(META_ACCOUNT_ID)
            .str("USD")
            .str(&c.id_text)
            .str(&c.name)
            .str(tpl.kind)
            .count(d.impressions)
            .count(d.clicks)
            .float(d.cost)
            .float(d.form_leads as f64)
            .float(d.purchases as f64)
            .float(d.link_clicks as f64)
            .float(d.purchases as f64 * 1200.0)
            .end(),
        // No campaign name: adAnalytics names a campaign by URN only.
        LinkedIn => t
            .linkedin_analytics
            .row()
            .str(LINKEDIN_ACCOUNT_ID)
            .str("USD")
            .int(c.id)
            .count(d.impressions)
            .count(d.clicks)
            .float(d.cost)
            .float(d.cost)
            .count(d.form_leads)
            .count(d.website_conversions)
            .count(linkedin_landing_page_clicks(d))
            // Sponsored updates and text ads without video.
            .count(0)
            .end(),
        Microsoft => unreachable!("Microsoft rows are written by write_microsoft_row"),
    }
}

/// One Microsoft Advertising campaign-day, as its daily campaign
/// performance report has it: the campaign's status as of `end` (a report
/// shows today's status on every day), revenue as the conversions' value.
pub(super) fn write_microsoft_row(t: &mut Table, c: &Campaign, d: &AdDay, end: NaiveDate) {
    t.row()
        .str(MICROSOFT_ACCOUNT_ID)
        .str(MICROSOFT_ACCOUNT_NAME)
        .int(c.id)
        .str(&c.name)
        .str(c.template.kind)
        .str(c.status(end))
        .str("EUR")
        .count(d.impressions)
        .count(d.clicks)
        .float(d.cost)
        .float(d.conversions)
        .float(d.conversions_value)
        .str(MICROSOFT_REPORT_TIME_ZONE)
        .end();
}

/// LinkedIn's landing page clicks: the clicks that did not open a lead gen
/// form, less the one in ten on the company name, likes and the like.
/// Derived, not drawn, so that the random streams (and every other number)
/// stay as they were.
pub(super) fn linkedin_landing_page_clicks(d: &AdDay) -> u64 {
    (d.clicks.saturating_sub(d.form_leads) as f64 * 0.9).round() as u64
}

/// Campaign Management's `CampaignType` for a report's `CampaignType`
/// (`Search & content` is how reports name a search campaign).
pub(super) fn microsoft_campaign_type(report_type: &str) -> &str {
    match report_type {
        "Search & content" => "Search",
        other => other,
    }
}
