-- marketing_costs: non-ad marketing costs per day, in the reporting currency.
--
-- @date            the day the cost is booked on
-- @vendor          who was paid
-- @category        what for (content, tools, agency, ...)
-- @channel         the channel the cost counts for
-- @campaign_type   inbound, outbound or unclassified
-- @campaign_key    the campaign it counts for, where given
-- @campaign_name   that campaign's name, where given
-- @amount          the cost in the reporting currency
-- @currency        the cost's own currency
-- @amount_original the cost in its own currency
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
