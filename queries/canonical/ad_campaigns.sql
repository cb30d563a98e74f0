-- ad_campaigns: every campaign known to the ad platforms, with its channel.
--
-- @platform      the ad platform's source type (google_ads, meta_ads, linkedin_ads, ...)
-- @account_id    the ad account, as the platform numbers it
-- @campaign_id   the campaign, as the platform numbers it
-- @campaign_name the campaign's name on the platform
-- @campaign_key  the key that ties the campaign to web, CRM, email and cost rows (its UTM campaign)
-- @status        the campaign's status as the platform names it
-- @channel       kpi's channel: an override, else the platform's mapping, else other
-- @campaign_type inbound, outbound or unclassified (from the channel, or an override)
SELECT u.platform,
       u.account_id,
       u.campaign_id,
       u.campaign_name,
       u.campaign_key,
       u.status,
       coalesce(o.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, u.mapped_channel, 'other')
