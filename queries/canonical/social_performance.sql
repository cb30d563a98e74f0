-- social_performance: social page insights and listening mentions per network
-- and day.
--
-- @date              the day
-- @network           the social network
-- @channel           organic_social unless mapped otherwise
-- @campaign_type     inbound unless mapped otherwise
-- @impressions       times the page's posts were shown
-- @interactions      the network's engagements (likes, comments, shares...)
-- @link_clicks       clicks on links in posts
-- @followers         followers at the end of the day
-- @mentions_positive listening mentions judged positive
-- @mentions_neutral  listening mentions judged neutral
-- @mentions_negative listening mentions judged negative
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
