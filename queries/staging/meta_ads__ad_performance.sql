-- Meta daily campaign insights -> ad_performance. Conversions are the lead and
-- purchase actions; spend is in the ad account's currency.
SELECT s.date,
       'meta_ads' AS platform,
       s.account_id,
       s.campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       m.channel AS mapped_channel,
       s.impressions,
       s.clicks,
       to_reporting(s.spend, fx.factor, s.account_currency, s.date,
                    'ad_performance (meta_ads)', '{{currency}}') AS spend,
       s.actions_lead + s.actions_purchase AS conversions,
       to_reporting(s.action_values_purchase, fx.factor, s.account_currency, s.date,
                    'ad_performance (meta_ads)', '{{currency}}') AS conversion_value,
       s.account_currency AS currency,
       s.spend AS spend_original
FROM {{source}}.ads_insights s
LEFT JOIN channel_map m ON m.system = 'meta_ads' AND m.key = '*'
LEFT JOIN fx_factor fx
       ON fx.currency = s.account_currency
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
