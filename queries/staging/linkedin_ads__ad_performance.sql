-- LinkedIn daily campaign analytics -> ad_performance. LinkedIn reports in UTC;
-- cost in the ad account's currency (costInLocalCurrency; the connector puts the
-- account's currency on every row). adAnalytics names a campaign by its URN only,
-- so the name comes from the campaign list (the URN stands in for a campaign the
-- list does not have yet). Conversions are lead gen form submissions plus the
-- Insight Tag's website conversions.
SELECT s.date,
       'linkedin_ads' AS platform,
       s.account_id,
       CAST(s.campaign_id AS VARCHAR) AS campaign_id,
       coalesce(c.name, 'urn:li:sponsoredCampaign:' || CAST(s.campaign_id AS VARCHAR))
           AS campaign_name,
       campaign_key(coalesce(c.name, 'urn:li:sponsoredCampaign:' || CAST(s.campaign_id AS VARCHAR)))
           AS campaign_key,
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
LEFT JOIN {{source}}.campaigns c
       ON c.account_id = s.account_id AND c.id = s.campaign_id
LEFT JOIN channel_map m ON m.system = 'linkedin_ads' AND m.key = '*'
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
