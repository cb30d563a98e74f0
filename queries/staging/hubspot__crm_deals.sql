-- HubSpot deals -> crm_deals. Amounts are converted on the close date (the
-- create date while a deal is open).
SELECT s.id AS deal_id,
       s.associated_contact_id AS contact_id,
       s.dealname AS deal_name,
       s.pipeline,
       local_date(s.createdate, '{{timezone}}') AS created_date,
       local_date(s.closedate, '{{timezone}}') AS close_date,
       s.hs_is_closed_won AS is_won,
       s.hs_is_closed AS is_closed,
       to_reporting(s.amount, fx.factor, s.deal_currency_code,
                    coalesce(local_date(s.closedate, '{{timezone}}'), local_date(s.createdate, '{{timezone}}')),
                    'crm_deals (hubspot)', '{{currency}}') AS amount,
       s.deal_currency_code AS currency,
       s.amount AS amount_original
FROM {{source}}.deals s
LEFT JOIN fx_factor fx
       ON fx.currency = s.deal_currency_code
      AND coalesce(local_date(s.closedate, '{{timezone}}'), local_date(s.createdate, '{{timezone}}')) >= fx.valid_from
      AND coalesce(local_date(s.closedate, '{{timezone}}'), local_date(s.createdate, '{{timezone}}')) < fx.valid_until
