-- Microsoft Advertising campaigns (Campaign Management, every status) ->
-- ad_campaigns. CampaignType is Campaign Management's word (Search, Audience,
-- ...), which the channel mapping lists beside the report's.
SELECT 'microsoft_ads' AS platform,
       s.account_id,
       CAST(s.id AS VARCHAR) AS campaign_id,
       s.name AS campaign_name,
       campaign_key(s.name) AS campaign_key,
       s.status,
       coalesce(m.channel, d.channel) AS mapped_channel
FROM {{source}}.campaigns s
LEFT JOIN channel_map m ON m.system = 'microsoft_ads' AND m.key = s.campaign_type
LEFT JOIN channel_map d ON d.system = 'microsoft_ads' AND d.key = '*'
