-- LinkedIn campaigns (adCampaigns search, every status) -> ad_campaigns. The id
-- is the number of the campaign's URN (urn:li:sponsoredCampaign:<id>), as
-- ad_analytics has it.
SELECT 'linkedin_ads' AS platform,
       s.account_id,
       CAST(s.id AS VARCHAR) AS campaign_id,
       s.name AS campaign_name,
       campaign_key(s.name) AS campaign_key,
       s.status,
       m.channel AS mapped_channel
FROM {{source}}.campaigns s
LEFT JOIN channel_map m ON m.system = 'linkedin_ads' AND m.key = '*'
