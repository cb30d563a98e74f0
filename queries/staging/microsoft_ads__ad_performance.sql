-- Microsoft Advertising daily campaign performance -> ad_performance. Days are
-- the account's; spend and revenue are in the account's currency (CurrencyCode
-- on every row). The channel comes from the campaign type (Search & content,
-- Shopping, Audience, ...), and a type the mapping does not list takes the
-- microsoft_ads '*' row.
SELECT s.date,
       'microsoft_ads' AS platform,
       s.account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       s.campaign_name,
       campaign_key(s.campaign_name) AS campaign_key,
       coalesce(m.channel, d.channel) AS mapped_channel,
       s.impressions,
       s.clicks,
       to_reporting(s.spend, fx.factor, s.currency_code, s.date,
                    'ad_performance (microsoft_ads)', '{{currency}}') AS spend,
       s.conversions,
       to_reporting(s.revenue, fx.factor, s.currency_code, s.date,
                    'ad_performance (microsoft_ads)', '{{currency}}') AS conversion_value,
       s.currency_code AS currency,
       s.spend AS spend_original
FROM {{source}}.campaign_performance s
LEFT JOIN channel_map m ON m.system = 'microsoft_ads' AND m.key = s.campaign_type
LEFT JOIN channel_map d ON d.system = 'microsoft_ads' AND d.key = '*'
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency_code
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
