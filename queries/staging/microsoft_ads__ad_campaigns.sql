-- Microsoft Advertising campaigns -> ad_campaigns, from the campaign
-- performance report: each campaign with the name, type and status of its
-- latest synced day. A campaign that never delivered in the synced days is
-- not listed (the report has no row for it).
SELECT 'microsoft_ads' AS platform,
       s.account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       s.campaign_status AS status,
       coalesce(m.channel, d.channel) AS mapped_channel
FROM (
    SELECT account_id, campaign_id, campaign_name, campaign_type, campaign_status,
           row_number() OVER (PARTITION BY account_id, campaign_id
                              ORDER BY date DESC, campaign_name) AS latest
    FROM {{source}}.campaign_performance
) s
LEFT JOIN channel_map m ON m.system = 'microsoft_ads' AND m.key = s.campaign_type
LEFT JOIN channel_map d ON d.system = 'microsoft_ads' AND d.key = '*'
WHERE s.latest = 1
