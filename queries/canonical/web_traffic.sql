-- web_traffic: web analytics sessions per day, source, medium, campaign and
-- device. `leads` are the analytics key events (form submissions); the KPI
-- `leads` comes from the CRM.
SELECT u.date,
       u.source,
       u.medium,
       u.campaign_key,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.device,
       u.sessions,
       u.users,
       u.new_users,
       u.engaged_sessions,
       u.bounces,
       u.session_duration_s,
       u.pageviews,
       u.leads
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
