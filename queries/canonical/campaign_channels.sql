-- materialize: campaign_channels
-- campaign_channels: one channel per ad campaign key, used to classify the
-- same campaign in web analytics, CRM, email and cost data. Materialised when
-- the engine opens (it is small): the planner then knows its size.
-- A key used by campaigns of two channels (a "Spring Sale" on Google and on
-- Meta) is ambiguous: it is left out, and rows keep their own source's channel.
--
-- @campaign_key an ad campaign key used by campaigns of one channel only
-- @channel      that channel
SELECT campaign_key, min(channel) AS channel
FROM ad_campaigns
WHERE campaign_key IS NOT NULL
GROUP BY campaign_key
HAVING count(DISTINCT channel) = 1
