-- crm_deals: one row per deal, attributed to the channel and campaign of its
-- contact's original source (first touch). amount is in the reporting currency.
--
-- @deal_id         the CRM's id of the deal
-- @contact_id      the contact the deal is attributed to
-- @deal_name       the deal's name in the CRM
-- @pipeline        the CRM pipeline it is in
-- @created_date    day the deal was created
-- @close_date      day it closed (or is expected to)
-- @is_won          closed and won
-- @is_closed       closed, won or lost
-- @amount          the deal's amount in the reporting currency
-- @currency        the deal's own currency
-- @amount_original the amount in the deal's own currency
-- @channel         the channel of its contact's original source (first touch)
-- @campaign_key    the campaign of that source, where known
-- @campaign_type   inbound, outbound or unclassified
SELECT u.deal_id,
       u.contact_id,
       u.deal_name,
       u.pipeline,
       u.created_date,
       u.close_date,
       u.is_won,
       u.is_closed,
       u.amount,
       u.currency,
       u.amount_original,
       coalesce(c.channel, 'other') AS channel,
       c.campaign_key,
       coalesce(c.campaign_type, 'unclassified') AS campaign_type
FROM ({{inputs}}) u
LEFT JOIN crm_contacts c ON c.contact_id = u.contact_id
