//! Social, backlinks and non-ad costs: the sources that come as files.

use super::*;

/// Writes the networks' page insights and mentions; returns link clicks per network.
pub(super) fn social_day(
    rng: &mut ChaCha8Rng,
    social: &mut Social,
    pages: &mut Table,
    mentions: &mut Table,
    (season, growth): (f64, f64),
    volume: f64,
) -> [u64; 4] {
    // Posting and listening follow the working week less than searches do.
    let (reach, buzz) = (season.powf(0.6) * growth, season.sqrt() * growth);
    let mut clicks = [0; 4];
    for (n, net) in NETWORKS.iter().enumerate() {
        let (name, _, _, impressions, engagement, click_share, _, new_followers, mentioned) = *net;
        let expected = impressions * reach * volume * noise(rng, 0.2);
        let impressions = poisson(rng, expected);
        let engagement = engagement * noise(rng, 0.2);
        let engagements = binomial(rng, impressions, engagement);
        clicks[n] = binomial(rng, engagements, click_share);
        // Followers mostly grow; a quiet day can lose a few.
        let gained = poisson(rng, new_followers * buzz * volume) as f64;
        let lost = poisson(rng, new_followers * 0.25 * volume) as f64;
        social.followers[n] = (social.followers[n] + gained - lost).max(0.0);
        pages
            .row()
            .str(name)
            .count(impressions)
            .count(engagements)
            .count(clicks[n])
            .int(social.followers[n] as i64)
            .end();
        let mean = mentioned * buzz * volume;
        mentions
            .row()
            .str(name)
            .count(poisson(rng, mean * 0.25))
            .count(poisson(rng, mean * 0.63))
            .count(poisson(rng, mean * 0.12))
            .end();
    }
    clicks
}

/// The weekly crawl: referring domains creep up, with the odd lost batch.
pub(super) fn backlinks_day(rng: &mut ChaCha8Rng, b: &mut Backlinks, table: &mut Table) {
    let mut delta = 1.3 + 3.0 * normal(rng);
    if chance(rng, 0.06) {
        delta -= rng.random_range(4.0..12.0);
    }
    b.referring_domains = (b.referring_domains + delta).max(300.0);
    b.ratio = (b.ratio + 0.15 * normal(rng)).clamp(8.0, 15.0);
    b.domain_rating = (b.domain_rating + 0.1 + 0.25 * normal(rng)).clamp(40.0, 55.0);
    let domains = b.referring_domains.round();
    table
        .row()
        .str("example.com")
        .int(domains as i64)
        .int((domains * b.ratio).round() as i64)
        .float((b.domain_rating * 10.0).round() / 10.0)
        .end();
}

/// Non-ad marketing costs booked today. Monthly fees are spread over the days of
/// the month so that any period's cost is right without month-end spikes.
pub(super) fn costs_day(
    rng: &mut ChaCha8Rng,
    table: &mut Table,
    markets: &[Market],
    date: NaiveDate,
    volume: f64,
    total_size: f64,
) {
    let dim = days_in_month(date);
    let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let mut vendor = String::new();
    let mut cost = |vendor: &str,
                    category: &str,
                    channel: Option<&str>,
                    campaign: Option<&str>,
                    amount: f64,
                    currency: &str| {
        table
            .row()
            .str(vendor)
            .str(category)
            .opt_str(channel)
            .opt_str(campaign)
            .float(round2(amount))
            .str(currency)
            .end();
    };
    for m in markets {
        let size = m.size * volume;
        vendor.clear();
        let _ = write!(vendor, "Nubo Content & SEO{}", m.tag);
        cost(
            &vendor,
            "agency",
            Some("organic_search"),
            None,
            3800.0 * size / dim,
            "EUR",
        );
        vendor.clear();
        let _ = write!(vendor, "Bright Social Studio{}", m.tag);
        cost(
            &vendor,
            "agency",
            Some("organic_social"),
            None,
            2400.0 * size / dim,
            "EUR",
        );
        if weekday && chance(rng, 0.25) {
            vendor.clear();
            let _ = write!(vendor, "Freelance copywriter{}", m.tag);
            let amount = rng.random_range(180.0..450.0) * size;
            cost(
                &vendor,
                "content",
                Some("organic_search"),
                None,
                amount,
                "EUR",
            );
        }
        if webinar_in(date.year(), date.month()) == Some(date) {
            vendor.clear();
            let _ = write!(vendor, "Webinar Studio{}", m.tag);
            let amount = rng.random_range(1200.0..2800.0) * size;
            let campaign = Some(m.partner_key.as_str());
            cost(&vendor, "events", Some("referral"), campaign, amount, "EUR");
        }
    }
    let size = total_size * volume;
    // Seat-based tools: no channel, so staging leaves them unallocated.
    cost(
        "HubSpot Marketing Hub",
        "tools",
        None,
        None,
        3600.0 * size / dim,
        "USD",
    );
    cost(
        "Mailchimp",
        "tools",
        Some("email"),
        None,
        350.0 * size / dim,
        "USD",
    );
    if weekday && chance(rng, 0.15) {
        let amount = rng.random_range(250.0..900.0) * size;
        cost("Marta Ruiz Design", "content", None, None, amount, "EUR");
    }
}
