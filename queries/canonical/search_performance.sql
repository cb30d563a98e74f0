-- search_performance: organic search queries per day and device.
SELECT u.date,
       u.site,
       u.query,
       u.device,
       coalesce(u.mapped_channel, 'organic_search') AS channel,
       coalesce(t.campaign_type, 'inbound') AS campaign_type,
       u.clicks,
       u.impressions,
       u.position,
       u.position_x_impressions
FROM ({{inputs}}) u
LEFT JOIN channel_types t ON t.channel = coalesce(u.mapped_channel, 'organic_search')
