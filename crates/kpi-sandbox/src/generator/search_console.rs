//! Search Console: a market's queries, their positions, impressions and clicks.

use super::*;

/// Organic CTR by average position: steep on page one, a trickle after.
pub(super) fn ctr_at(position: f64, brand: bool) -> f64 {
    let ctr = 0.30 * position.powf(-1.3);
    if brand { (ctr * 1.7).min(0.7) } else { ctr }
}

/// Returns the day's clicks, which become GA4 google/organic sessions.
pub(super) fn search_console_day(
    rng: &mut ChaCha8Rng,
    table: &mut Table,
    queries: &mut [Query],
    level: f64,
    vol: f64,
) -> u64 {
    let demand_level = level * vol;
    let mut total_clicks = 0;
    for q in queries.iter_mut() {
        // Slow drift toward the target (months), plus day-to-day wobble.
        q.position += (q.target - q.position) * 0.004 + 0.03 * normal(rng);
        q.position = if q.brand {
            q.position.clamp(1.0, 3.0)
        } else {
            q.position.clamp(1.0, 40.0)
        };
        // Beyond page one, few people scroll far enough to see the result.
        let visibility = if q.position <= 10.0 {
            1.0
        } else {
            (10.0 / q.position).powf(1.5)
        };
        for (device, share, penalty) in [
            ("DESKTOP", 1.0 - q.mobile_share, 0.0),
            ("MOBILE", q.mobile_share, 0.3),
        ] {
            let impressions = poisson(rng, q.demand * share * visibility * demand_level);
            if impressions == 0 {
                continue;
            }
            let max = if q.brand { 3.0 } else { 40.0 };
            let position = ((q.position + penalty) * noise(rng, 0.05)).clamp(1.0, max);
            let clicks = binomial(rng, impressions, ctr_at(position, q.brand));
            total_clicks += clicks;
            table
                .row()
                .str(SEARCH_CONSOLE_SITE)
                .str(&q.text)
                .str(device)
                .count(clicks)
                .count(impressions)
                .float(clicks as f64 / impressions as f64)
                .float(round2(position))
                .end();
        }
    }
    total_clicks
}
