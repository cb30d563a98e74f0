//! The campaign catalogue: platforms, ad templates, accounts, profiles, emails, social networks and search queries.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    Google,
    Meta,
    LinkedIn,
    Microsoft,
}

/// How a campaign's clicks arrive in GA4 and which original source HubSpot
/// records for the contacts they bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PaidKind {
    Search,
    PerformanceMax,
    Display,
    Video,
    MetaSocial,
    LinkedInSocial,
}

impl PaidKind {
    /// GA4 session_source / session_medium, as the ads' utm or auto-tagging sets them.
    pub(super) fn source_medium(self) -> (&'static str, &'static str) {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => ("google", "cpc"),
            PaidKind::Display => ("google", "display"),
            PaidKind::Video => ("youtube", "cpv"),
            PaidKind::MetaSocial => ("facebook", "paid_social"),
            PaidKind::LinkedInSocial => ("linkedin", "paid_social"),
        }
    }

    /// HubSpot `hs_analytics_source` and `hs_analytics_source_data_1`.
    pub(super) fn hubspot(self) -> (&'static str, &'static str) {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => ("PAID_SEARCH", "google"),
            PaidKind::Display => ("OTHER_CAMPAIGNS", "google"),
            PaidKind::Video => ("OTHER_CAMPAIGNS", "youtube"),
            PaidKind::MetaSocial => ("PAID_SOCIAL", "facebook"),
            PaidKind::LinkedInSocial => ("PAID_SOCIAL", "linkedin"),
        }
    }

    pub(super) fn profile(self) -> &'static Profile {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => &SEARCH_TRAFFIC,
            PaidKind::Display => &DISPLAY_TRAFFIC,
            PaidKind::Video => &VIDEO_TRAFFIC,
            PaidKind::MetaSocial => &SOCIAL_TRAFFIC,
            PaidKind::LinkedInSocial => &LINKEDIN_TRAFFIC,
        }
    }

    /// Programmatic inventory (display, video, awareness) is bought by budget and
    /// follows the calendar less than search demand does.
    pub(super) fn programmatic(self) -> bool {
        matches!(self, PaidKind::Display | PaidKind::Video)
    }
}

/// When a campaign runs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Activity {
    Always,
    /// Only in these calendar months (1-12), every year.
    Months(&'static [u32]),
    /// From `from` months before `end_date` (exclusive) to `to` months before it.
    Window {
        from: u32,
        to: u32,
    },
}

/// One campaign of the catalogue; it exists once per market.
pub(super) struct AdTemplate {
    pub(super) platform: Platform,
    pub(super) name: &'static str,
    /// Google advertising channel type, Meta objective or LinkedIn campaign type.
    pub(super) kind: &'static str,
    pub(super) traffic: PaidKind,
    /// Impressions on a weekday at `end_date`, market of size 1.
    pub(super) impressions: f64,
    pub(super) ctr: f64,
    /// Cost per click in the account currency.
    pub(super) cpc: f64,
    /// Platform conversions per click.
    pub(super) conv_rate: f64,
    /// Value per platform conversion, account currency.
    pub(super) conv_value: f64,
    /// On-platform lead form submissions per click (Meta lead ads, LinkedIn lead gen forms).
    pub(super) form_lead_rate: f64,
    /// Website form submissions per GA4 session.
    pub(super) web_lead_rate: f64,
    /// Lead quality: multiplies the funnel's conversion rates.
    pub(super) quality: f64,
    pub(super) activity: Activity,
}

#[allow(clippy::too_many_arguments)]
pub(super) const fn ad(
    platform: Platform,
    name: &'static str,
    kind: &'static str,
    traffic: PaidKind,
    (impressions, ctr, cpc): (f64, f64, f64),
    (conv_rate, conv_value): (f64, f64),
    (form_lead_rate, web_lead_rate, quality): (f64, f64, f64),
    activity: Activity,
) -> AdTemplate {
    AdTemplate {
        platform,
        name,
        kind,
        traffic,
        impressions,
        ctr,
        cpc,
        conv_rate,
        conv_value,
        form_lead_rate,
        web_lead_rate,
        quality,
        activity,
    }
}

pub(super) use Activity::{Always, Months as InMonths, Window};
pub(super) use PaidKind::*;
pub(super) use Platform::*;

/// The company's paid campaigns. Volumes are per weekday at `end_date`.
#[rustfmt::skip]
pub(super) static AD_TEMPLATES: [AdTemplate; 20] = [
    // ad(platform, name, kind, traffic, (impressions, ctr, cpc), (conversions per click,
    //    value per conversion), (form leads per click, web leads per session, quality), activity)
    // Google Ads, EUR.
    ad(Google, "Brand Search", "SEARCH", Search, (1500.0, 0.075, 1.6), (0.10, 90.0), (0.0, 0.035, 1.2), Always),
    ad(Google, "Competitor Search", "SEARCH", Search, (900.0, 0.035, 3.8), (0.06, 70.0), (0.0, 0.02, 1.0), Always),
    ad(Google, "Product Generic Search", "SEARCH", Search, (2600.0, 0.042, 3.0), (0.07, 80.0), (0.0, 0.02, 0.95), Always),
    ad(Google, "Product Long-tail Search", "SEARCH", Search, (1000.0, 0.055, 2.2), (0.08, 80.0), (0.0, 0.025, 1.05), Always),
    ad(Google, "Remarketing Search", "SEARCH", Search, (420.0, 0.06, 2.0), (0.09, 85.0), (0.0, 0.03, 1.1), Always),
    ad(Google, "Display Prospecting", "DISPLAY", Display, (42000.0, 0.004, 0.55), (0.05, 40.0), (0.0, 0.004, 0.55), Always),
    ad(Google, "Display Remarketing", "DISPLAY", Display, (16000.0, 0.007, 0.75), (0.06, 50.0), (0.0, 0.008, 0.7), Always),
    ad(Google, "YouTube Awareness", "VIDEO", Video, (22000.0, 0.0035, 0.35), (0.05, 30.0), (0.0, 0.003, 0.65), Always),
    ad(Google, "Performance Max", "PERFORMANCE_MAX", PerformanceMax, (11000.0, 0.014, 1.2), (0.07, 60.0), (0.0, 0.012, 0.85), Always),
    // Seasonal: year-end budget flush offer, Q4 only.
    ad(Google, "Year End Offer Search", "SEARCH", Search, (1200.0, 0.05, 2.6), (0.08, 85.0), (0.0, 0.025, 1.0), InMonths(&[10, 11, 12])),
    // A product launched 8 months before the end: no history before that.
    ad(Google, "AI Assistant Launch Search", "SEARCH", Search, (900.0, 0.048, 2.4), (0.07, 80.0), (0.0, 0.022, 1.0), Window { from: 8, to: 0 }),
    // Meta Ads, USD.
    ad(Meta, "Meta Lead Ads", "OUTCOME_LEADS", MetaSocial, (12000.0, 0.011, 0.95), (0.08, 0.0), (0.05, 0.004, 0.7), Always),
    ad(Meta, "Meta Retargeting", "OUTCOME_TRAFFIC", MetaSocial, (7000.0, 0.012, 0.8), (0.05, 0.0), (0.0, 0.012, 0.8), Always),
    ad(Meta, "Webinar Promo", "OUTCOME_LEADS", MetaSocial, (5000.0, 0.012, 1.1), (0.06, 0.0), (0.04, 0.004, 0.85), Always),
    // Ran for ten months, ended ten months before the end.
    ad(Meta, "Ebook Promo", "OUTCOME_LEADS", MetaSocial, (6000.0, 0.011, 0.7), (0.09, 0.0), (0.06, 0.003, 0.6), Window { from: 20, to: 10 }),
    ad(Meta, "Brand Awareness Social", "OUTCOME_AWARENESS", MetaSocial, (16000.0, 0.006, 0.6), (0.02, 0.0), (0.0, 0.004, 0.75), Always),
    // LinkedIn Ads, USD: expensive clicks, the best leads.
    ad(LinkedIn, "ABM Enterprise", "SPONSORED_UPDATES", LinkedInSocial, (4000.0, 0.006, 9.5), (0.05, 0.0), (0.0, 0.03, 1.5), Always),
    ad(LinkedIn, "LinkedIn Lead Gen Form", "SPONSORED_UPDATES", LinkedInSocial, (3500.0, 0.008, 7.5), (0.06, 0.0), (0.12, 0.005, 1.3), Always),
    ad(LinkedIn, "Thought Leadership", "TEXT_AD", LinkedInSocial, (5000.0, 0.005, 6.2), (0.03, 0.0), (0.0, 0.015, 1.2), Always),
    // Trade-fair seasons only.
    ad(LinkedIn, "Event Promo", "SPONSORED_UPDATES", LinkedInSocial, (3000.0, 0.007, 7.0), (0.05, 0.0), (0.0, 0.03, 1.25), InMonths(&[3, 4, 5, 9, 10, 11])),
];

/// Microsoft Advertising, EUR, in the same time zone as Google Ads: the paid
/// search campaigns imported from Google, on a budget of about an eighth of
/// Google's (Bing's share of searches). Drawn from their own random stream,
/// so that every other number of the company stays as it was; their clicks
/// are not followed into GA4 or the CRM.
#[rustfmt::skip]
pub(super) static MICROSOFT_TEMPLATES: [AdTemplate; 4] = [
    ad(Microsoft, "Microsoft Brand Search", "Search & content", Search, (550.0, 0.07, 1.1), (0.10, 90.0), (0.0, 0.0, 1.2), Always),
    ad(Microsoft, "Microsoft Generic Search", "Search & content", Search, (900.0, 0.04, 2.2), (0.07, 80.0), (0.0, 0.0, 0.95), Always),
    ad(Microsoft, "Microsoft Competitor Search", "Search & content", Search, (340.0, 0.035, 2.9), (0.06, 70.0), (0.0, 0.0, 1.0), Always),
    ad(Microsoft, "Microsoft Audience Ads", "Audience", Display, (11000.0, 0.003, 0.5), (0.04, 40.0), (0.0, 0.0, 0.6), Always),
];

pub(super) const GOOGLE_CUSTOMER_ID: &str = "1234567890";
/// Microsoft Advertising's ad account (its customer is the emulation's).
pub(super) const MICROSOFT_ACCOUNT_ID: &str = "150000001";
pub(super) const MICROSOFT_ACCOUNT_NAME: &str = "Example SaaS";
/// The `ReportTimeZone` the sandbox's kpi.toml asks for: Madrid's.
pub(super) const MICROSOFT_REPORT_TIME_ZONE: &str = "BrusselsCopenhagenMadridParis";
/// As Meta's `account_id` field spells it: digits, without the `act_` of paths.
pub(super) const META_ACCOUNT_ID: &str = "5550001";
pub(super) const LINKEDIN_ACCOUNT_ID: &str = "508000111";
/// As the GA4 connector stores it: the digits of `properties/{id}`.
pub(super) const GA4_PROPERTY: &str = "301234567";
pub(super) const SEARCH_CONSOLE_SITE: &str = "sc-domain:example.com";

/// GA4 traffic shape of a source.
pub(super) struct Profile {
    /// Session shares of desktop, mobile, tablet.
    pub(super) devices: [f64; 3],
    /// Engaged sessions / sessions.
    pub(super) engaged: f64,
    /// New users / users.
    pub(super) new_users: f64,
    /// Page views per session, min and max.
    pub(super) pages: (f64, f64),
}

pub(super) const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
/// B2B forms are filled at a desk: mobile sessions convert worse.
pub(super) const DEVICE_LEAD_FACTOR: [f64; 3] = [1.0, 0.55, 0.8];

#[rustfmt::skip]
pub(super) mod profiles {
    use super::Profile;
    pub const SEARCH_TRAFFIC: Profile = Profile { devices: [0.62, 0.34, 0.04], engaged: 0.62, new_users: 0.72, pages: (2.0, 3.5) };
    pub const DISPLAY_TRAFFIC: Profile = Profile { devices: [0.32, 0.63, 0.05], engaged: 0.38, new_users: 0.88, pages: (1.5, 2.2) };
    pub const VIDEO_TRAFFIC: Profile = Profile { devices: [0.28, 0.64, 0.08], engaged: 0.42, new_users: 0.85, pages: (1.5, 2.4) };
    pub const SOCIAL_TRAFFIC: Profile = Profile { devices: [0.30, 0.66, 0.04], engaged: 0.46, new_users: 0.78, pages: (1.5, 2.5) };
    pub const LINKEDIN_TRAFFIC: Profile = Profile { devices: [0.58, 0.39, 0.03], engaged: 0.58, new_users: 0.74, pages: (1.8, 3.0) };
    pub const ORGANIC_TRAFFIC: Profile = Profile { devices: [0.55, 0.41, 0.04], engaged: 0.64, new_users: 0.70, pages: (2.2, 3.8) };
    pub const DIRECT_TRAFFIC: Profile = Profile { devices: [0.70, 0.27, 0.03], engaged: 0.70, new_users: 0.35, pages: (2.5, 4.0) };
    pub const REFERRAL_TRAFFIC: Profile = Profile { devices: [0.68, 0.29, 0.03], engaged: 0.66, new_users: 0.75, pages: (2.0, 3.6) };
    pub const EMAIL_TRAFFIC: Profile = Profile { devices: [0.50, 0.46, 0.04], engaged: 0.68, new_users: 0.20, pages: (2.0, 3.2) };
}
pub(super) use profiles::*;

/// Referral sites: (domain, weekday sessions, leads per session, lead quality).
pub(super) const REFERRALS: [(&str, f64, f64, f64); 5] = [
    ("g2.com", 38.0, 0.035, 1.3),
    ("capterra.com", 26.0, 0.03, 1.25),
    ("partnerhub.io", 14.0, 0.02, 1.3),
    ("techradar.com", 12.0, 0.008, 1.0),
    ("github.com", 18.0, 0.01, 1.1),
];
/// The partner that co-hosts the monthly webinar; its registration page carries
/// the `partner_webinar` utm campaign.
pub(super) const PARTNER_DOMAIN: &str = "partnerhub.io";

/// Mailchimp campaigns. Each send is a campaign of its own with its own
/// report, as Mailchimp's regular campaigns are (the nurture too: a weekly
/// campaign to a segment, not a classic automation, whose one report would
/// add up every send and which `/3.0/campaigns` does not list).
pub(super) struct EmailTemplate {
    pub(super) title: &'static str,
    pub(super) kind: &'static str,
    pub(super) subject: &'static str,
    /// Share of the list that receives it.
    pub(super) audience: f64,
    pub(super) open_rate: f64,
    pub(super) click_rate: f64,
    pub(super) unsubscribe_rate: f64,
    /// Local send time, seconds after midnight.
    pub(super) send_at: i64,
}

#[rustfmt::skip]
pub(super) const EMAILS: [EmailTemplate; 3] = [
    EmailTemplate { title: "Monthly Newsletter", kind: "regular", subject: "What's new this month", audience: 1.0, open_rate: 0.27, click_rate: 0.032, unsubscribe_rate: 0.0022, send_at: 10 * 3600 },
    EmailTemplate { title: "Product Updates", kind: "regular", subject: "Fresh from the product team", audience: 0.9, open_rate: 0.24, click_rate: 0.028, unsubscribe_rate: 0.0018, send_at: 11 * 3600 },
    EmailTemplate { title: "Nurture Sequence", kind: "regular", subject: "Getting more out of Example SaaS", audience: 0.05, open_rate: 0.41, click_rate: 0.065, unsubscribe_rate: 0.004, send_at: 9 * 3600 },
];

/// Whether email template `i` goes out on `date`: the newsletter on the first
/// Tuesday, product updates on the 2nd and 4th Thursday, nurture every Wednesday.
pub(super) fn email_sends_on(i: usize, date: NaiveDate) -> bool {
    let day = date.day();
    match i {
        0 => date.weekday() == Weekday::Tue && day <= 7,
        1 => {
            date.weekday() == Weekday::Thu && ((8..=14).contains(&day) || (22..=28).contains(&day))
        }
        _ => date.weekday() == Weekday::Wed,
    }
}

/// Share of an email's site visits on the send day and the three days after.
pub(super) const EMAIL_VISIT_DECAY: [f64; 4] = [0.55, 0.25, 0.12, 0.08];

/// Social networks: (network, GA4 referrer, HubSpot source data 1, weekday
/// impressions, engagement rate, link clicks per engagement, initial followers,
/// new followers per day, mentions per day).
#[allow(clippy::type_complexity)]
pub(super) const NETWORKS: [(&str, &str, &str, f64, f64, f64, f64, f64, f64); 4] = [
    (
        "linkedin",
        "linkedin.com",
        "linkedin",
        5000.0,
        0.035,
        0.25,
        8000.0,
        7.0,
        6.0,
    ),
    (
        "facebook",
        "facebook.com",
        "facebook",
        3000.0,
        0.018,
        0.20,
        5000.0,
        2.5,
        4.0,
    ),
    (
        "instagram",
        "instagram.com",
        "instagram",
        4000.0,
        0.040,
        0.05,
        3500.0,
        4.0,
        5.0,
    ),
    (
        "x", "t.co", "twitter", 2000.0, 0.015, 0.15, 2500.0, 1.2, 9.0,
    ),
];

pub(super) const BRAND: &str = "examplesoft";
pub(super) const BRAND_QUERIES: [&str; 8] = [
    "examplesoft",
    "examplesoft login",
    "examplesoft pricing",
    "examplesoft reviews",
    "examplesoft api",
    "examplesoft vs hubspot",
    "examplesoft demo",
    "examplesoft integrations",
];
pub(super) const TOPICS: [&str; 12] = [
    "marketing analytics software",
    "kpi dashboard",
    "marketing reporting tool",
    "b2b marketing attribution",
    "campaign performance tracking",
    "marketing roi calculator",
    "lead funnel analytics",
    "cac ltv calculator",
    "google ads reporting",
    "multi touch attribution",
    "marketing data warehouse",
    "etl for marketing data",
];
pub(super) const MODIFIERS: [(&str, &str); 8] = [
    ("", ""),
    ("best ", ""),
    ("", " for saas"),
    ("", " pricing"),
    ("free ", ""),
    ("", " alternatives"),
    ("", " comparison"),
    ("how to choose ", ""),
];
