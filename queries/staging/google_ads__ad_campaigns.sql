-- Google Ads campaigns -> ad_campaigns. {{source}} is the source's schema, quoted.
SELECT 'google_ads' AS platform,
       s.customer_id AS account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       s.campaign_status AS status,
       m.channel AS mapped_channel
FROM {{source}}.campaigns s
LEFT JOIN channel_map m
       ON m.system = 'google_ads' AND m.key = s.campaign_advertising_channel_type
