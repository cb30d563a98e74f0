-- Google Ads daily campaign stats -> ad_performance. Cost comes in micros of
-- the account currency; dates are in the account's time zone.
SELECT s.date,
       'google_ads' AS platform,
       s.customer_id AS account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       m.channel AS mapped_channel,
       s.metrics_impressions AS impressions,
       s.metrics_clicks AS clicks,
       to_reporting(s.metrics_cost_micros / 1e6, fx.factor, s.customer_currency_code, s.date,
                    'ad_performance (google_ads)', '{{currency}}') AS spend,
       s.metrics_conversions AS conversions,
       to_reporting(s.metrics_conversions_value, fx.factor, s.customer_currency_code, s.date,
                    'ad_performance (google_ads)', '{{currency}}') AS conversion_value,
       s.customer_currency_code AS currency,
       s.metrics_cost_micros / 1e6 AS spend_original
FROM {{source}}.campaign_stats s
LEFT JOIN channel_map m
       ON m.system = 'google_ads' AND m.key = s.campaign_advertising_channel_type
LEFT JOIN fx_factor fx
       ON fx.currency = s.customer_currency_code
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
