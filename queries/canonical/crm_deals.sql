-- crm_deals: one row per deal, attributed to the channel and campaign of its
-- contact's original source (first touch). amount is in the reporting currency.
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
