-- email_performance: one row per email campaign send, on its send date.
SELECT u.date,
       u.platform,
       u.campaign_id,
       u.campaign_name,
       u.campaign_key,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.emails_sent,
       u.delivered,
       u.unique_opens,
       u.unique_clicks,
       u.forwards,
       u.unsubscribes,
       u.bounces,
       u.abuse_reports
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
