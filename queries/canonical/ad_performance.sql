-- ad_performance: one row per ad platform, account, campaign and day.
-- spend and conversion_value are in the reporting currency; spend_original
-- is in `currency`, the ad account's.
SELECT u.date,
       u.platform,
       u.account_id,
       u.campaign_id,
       u.campaign_name,
       u.campaign_key,
       coalesce(o.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.impressions,
       u.clicks,
       u.spend,
       u.conversions,
       u.conversion_value,
       u.currency,
       u.spend_original
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, u.mapped_channel, 'other')
