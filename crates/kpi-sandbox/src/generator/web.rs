//! Website (GA4) and the leads it produces.

use super::*;

/// What one market's website day needs to write GA4 rows and create contacts.
pub(super) struct Web<'a> {
    pub(super) date: NaiveDate,
    pub(super) ga4: &'a mut Table,
    pub(super) crm: &'a mut Crm,
    pub(super) rng: &'a mut ChaCha8Rng,
    pub(super) sink: &'a mut dyn RawSink,
}

impl Web<'_> {
    /// Writes the GA4 rows (one per device with sessions) of one
    /// source / medium / campaign, and a contact per form submission.
    pub(super) fn traffic(
        &mut self,
        (source, medium, campaign): (&str, &str, &str),
        expected_sessions: f64,
        profile: &Profile,
        lead_rate: f64,
        origin: Origin<'_>,
    ) -> Result<(), GenerateError> {
        if expected_sessions <= 0.0 {
            return Ok(());
        }
        let rng = &mut *self.rng;
        for (d, device) in DEVICES.iter().enumerate() {
            let sessions = poisson(rng, expected_sessions * profile.devices[d]);
            if sessions == 0 {
                continue;
            }
            let returning = rng.random_range(0.8..0.95);
            let users = binomial(rng, sessions, returning).max(1);
            let new_share = profile.new_users * noise(rng, 0.1);
            let new_users = binomial(rng, users, new_share);
            let engaged_share = profile.engaged * noise(rng, 0.08);
            let engaged = binomial(rng, sessions, engaged_share);
            let duration = (engaged as f64 * rng.random_range(60.0..200.0)).round();
            let (lo, hi) = profile.pages;
            let views = ((sessions as f64 * rng.random_range(lo..hi)).round() as u64).max(sessions);
            let leads =
                poisson(rng, sessions as f64 * lead_rate * DEVICE_LEAD_FACTOR[d]).min(sessions);
            self.ga4
                .row()
                .str(GA4_PROPERTY)
                .str(source)
                .str(medium)
                .str(campaign)
                .str(device)
                .count(sessions)
                .count(users)
                .count(new_users)
                .count(engaged)
                .float(duration)
                .count(views)
                .float(leads as f64)
                .end();
            for _ in 0..leads {
                self.crm.contact(self.date, origin, None, &mut *self.sink)?;
            }
        }
        Ok(())
    }
}
