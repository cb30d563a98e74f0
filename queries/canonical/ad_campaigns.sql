-- ad_campaigns: every campaign known to the ad platforms, with its channel.
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
