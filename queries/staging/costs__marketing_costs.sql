-- Non-ad marketing costs (finance export) -> marketing_costs. A cost with no
-- channel is overhead: it lands in the `unallocated` channel, so channel rows
-- still add up to the total.
SELECT s.date,
       s.vendor,
       s.category,
       CASE WHEN s.campaign IS NULL OR s.campaign = '' THEN NULL
            ELSE campaign_key(s.campaign) END AS campaign_key,
       CASE WHEN s.campaign IS NULL OR s.campaign = '' THEN NULL
            ELSE s.campaign END AS campaign_name,
       CASE WHEN s.channel IS NULL OR s.channel = '' THEN 'unallocated'
            ELSE m.channel END AS mapped_channel,
       to_reporting(s.amount, fx.factor, s.currency, s.date,
                    'marketing_costs', '{{currency}}') AS amount,
       s.currency,
       s.amount AS amount_original
FROM {{source}}.marketing_costs s
LEFT JOIN channel_map m ON m.system = 'costs' AND m.key = lower(s.channel)
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency
      AND s.date >= fx.valid_from AND s.date < fx.valid_until
