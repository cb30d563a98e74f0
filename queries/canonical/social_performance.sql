-- social_performance: social page insights and listening mentions per network
-- and day.
SELECT u.date,
       u.network,
       coalesce(u.mapped_channel, 'organic_social') AS channel,
       coalesce(t.campaign_type, 'inbound') AS campaign_type,
       u.impressions,
       u.interactions,
       u.link_clicks,
       u.followers,
       u.mentions_positive,
       u.mentions_neutral,
       u.mentions_negative
FROM ({{inputs}}) u
LEFT JOIN channel_types t ON t.channel = coalesce(u.mapped_channel, 'organic_social')
