-- A custom source's ad campaigns -> ad_campaigns: every campaign its ad rows
-- name with a channel of their own (its latest day's, should they differ), so
-- that web, CRM, email and cost rows with the same campaign key get that
-- channel. Rows without one (offline conversions) name no campaign here: they
-- take the channel the campaign has on its ad platform.
SELECT platform, account_id, campaign_id, campaign_name, campaign_key,
       CAST(NULL AS VARCHAR) AS status, mapped_channel
FROM (
    SELECT coalesce(s.platform, '{{source_name}}') AS platform,
           coalesce(s.account_id, '') AS account_id,
           coalesce(s.campaign_id, s.campaign) AS campaign_id,
           s.campaign AS campaign_name,
           campaign_key(s.campaign) AS campaign_key,
           coalesce(t.channel, m.channel) AS mapped_channel,
           row_number() OVER (
               PARTITION BY coalesce(s.platform, '{{source_name}}'), coalesce(s.account_id, ''),
                            coalesce(s.campaign_id, s.campaign)
               ORDER BY s.date DESC) AS latest
    FROM {{source}}.ad_performance s
    LEFT JOIN channel_types t ON t.channel = lower(trim(s.channel))
    LEFT JOIN channel_map m ON m.system = '{{source_name}}' AND m.key = lower(trim(s.channel))
    WHERE coalesce(t.channel, m.channel) IS NOT NULL
)
WHERE latest = 1
