-- marketing_costs: non-ad marketing costs per day, in the reporting currency.
SELECT u.date,
       u.vendor,
       u.category,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.campaign_key,
       u.campaign_name,
       u.amount,
       u.currency,
       u.amount_original
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
