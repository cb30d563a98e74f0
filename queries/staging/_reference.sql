-- Reference views every staging and canonical query uses. Runs once, before
-- the staging files. Placeholders: {{currency}} is the reporting currency.

-- One conversion factor per currency and validity range: multiply an amount in
-- `currency` booked on a day in [valid_from, valid_until) by `factor` to get the
-- reporting currency. Built from both currencies' rate histories, so a change of
-- either rate starts a new range.
CREATE VIEW fx_factor AS
WITH r AS (
    SELECT currency, valid_from, per_usd,
           lead(valid_from) OVER (PARTITION BY currency ORDER BY valid_from) AS next_from
    FROM ref_fx_rates
), rep AS (
    SELECT * FROM r WHERE currency = '{{currency}}'
)
SELECT r.currency,
       greatest(r.valid_from, rep.valid_from) AS valid_from,
       least(coalesce(r.next_from, DATE '9999-12-31'),
             coalesce(rep.next_from, DATE '9999-12-31')) AS valid_until,
       rep.per_usd / r.per_usd AS factor
FROM r CROSS JOIN rep
WHERE greatest(r.valid_from, rep.valid_from)
    < least(coalesce(r.next_from, DATE '9999-12-31'), coalesce(rep.next_from, DATE '9999-12-31'));

-- The mapping file, one channel per (system, key) even if a user's file repeats
-- a key (checks/reference.sql reports conflicting repeats).
CREATE VIEW channel_map AS
SELECT system, key, min(channel) AS channel
FROM ref_channel_mapping
GROUP BY system, key;

-- Campaign re-classifications from the user's overrides file, one per campaign.
CREATE VIEW campaign_overrides AS
SELECT campaign_key(campaign_key) AS campaign_key,
       min(channel) AS channel,
       min(campaign_type) AS campaign_type
FROM ref_campaign_overrides
GROUP BY campaign_key(campaign_key);

-- One campaign type per channel, even if a user's channels.csv repeats a
-- channel (checks/reference.sql reports conflicting repeats): a repeated row
-- would otherwise duplicate every fact of that channel.
CREATE VIEW channel_types AS
SELECT channel, min(campaign_type) AS campaign_type
FROM ref_channels
GROUP BY channel;
