-- ad_performance: one row per ad platform, account, campaign and day.
-- spend and conversion_value are in the reporting currency; spend_original
-- is in `currency`, the ad account's.
--
-- @date             the day, in the ad account's time zone
-- @platform         the ad platform's source type (google_ads, meta_ads, linkedin_ads, ...)
-- @account_id       the ad account, as the platform numbers it
-- @campaign_id      the campaign, as the platform numbers it
-- @campaign_name    the campaign's name on the platform
-- @campaign_key     the key that ties the campaign to web, CRM, email and cost rows
-- @channel          kpi's channel: an override, else the platform's mapping, else other
-- @campaign_type    inbound, outbound or unclassified
-- @impressions      times an ad was shown
-- @clicks           clicks on an ad
-- @spend            cost in the reporting currency
-- @conversions      conversions the platform attributes to the campaign
-- @conversion_value value of those conversions, in the reporting currency
-- @currency         the ad account's currency
-- @spend_original   cost in the ad account's currency
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
