-- A custom source's ad rows (another ad platform's export, offline conversions
-- from a call tracker or the warehouse) -> ad_performance. Rows are daily per
-- campaign, in `currency`. The channel is `channel` when it names one of kpi's
-- channels (reference/channels.csv), else what reference/channel_mapping.csv
-- maps it to under the source's name, else the channel the same campaign has
-- on an ad platform (offline conversions of a Google Ads campaign are paid
-- search), else `other`; an override beats all of them.
SELECT s.date,
       coalesce(s.platform, '{{source_name}}') AS platform,
       coalesce(s.account_id, '') AS account_id,
       coalesce(s.campaign_id, s.campaign) AS campaign_id,
       s.campaign AS campaign_name,
       campaign_key(s.campaign) AS campaign_key,
       coalesce(t.channel, m.channel, cc.channel) AS mapped_channel,
       s.impressions,
       s.clicks,
       to_reporting(s.cost, fx.factor, s.currency, s.date,
                    'ad_performance ({{source_name}})', '{{currency}}') AS spend,
       s.conversions,
       to_reporting(s.conversion_value, fx.factor, s.currency, s.date,
                    'ad_performance ({{source_name}})', '{{currency}}') AS conversion_value,
       s.currency,
       s.cost AS spend_original
FROM {{source}}.ad_performance s
LEFT JOIN channel_types t ON t.channel = lower(trim(s.channel))
LEFT JOIN channel_map m ON m.system = '{{source_name}}' AND m.key = lower(trim(s.channel))
LEFT JOIN campaign_channels cc ON cc.campaign_key = campaign_key(s.campaign)
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
