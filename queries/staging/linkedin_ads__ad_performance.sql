-- LinkedIn daily campaign analytics -> ad_performance. LinkedIn reports in UTC;
-- cost in the account currency (costInLocalCurrency).
SELECT s.date,
       'linkedin_ads' AS platform,
       s.account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       m.channel AS mapped_channel,
       s.impressions,
       s.clicks,
       to_reporting(s.cost_in_local_currency, fx.factor, s.currency, s.date,
                    'ad_performance (linkedin_ads)', '{{currency}}') AS spend,
       CAST(s.one_click_leads + s.external_website_conversions AS DOUBLE) AS conversions,
       CAST(0.0 AS DOUBLE) AS conversion_value,
       s.currency,
       s.cost_in_local_currency AS spend_original
FROM {{source}}.ad_analytics s
LEFT JOIN channel_map m ON m.system = 'linkedin_ads' AND m.key = '*'
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
