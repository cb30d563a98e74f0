-- A custom source's deals -> crm_deals. `date` is the day the deal was created;
-- a close date counts only once the deal is closed (an open deal's expected
-- close date is not one). Amounts are in `currency`, converted on the close
-- date (the create date while open). The deal belongs to `contact_id`, whose
-- first touch gives its channel and campaign.
SELECT s.deal_id,
       s.contact_id,
       s.deal_name,
       coalesce(s.pipeline, '') AS pipeline,
       s.date AS created_date,
       CASE WHEN s.is_closed THEN s.close_date END AS close_date,
       s.is_won,
       s.is_closed,
       to_reporting(s.amount, fx.factor, s.currency,
                    coalesce(CASE WHEN s.is_closed THEN s.close_date END, s.date),
                    'crm_deals ({{source_name}})', '{{currency}}') AS amount,
       s.currency,
       s.amount AS amount_original
FROM {{source}}.crm_deals s
LEFT JOIN fx_factor fx
       ON fx.currency = s.currency
      AND coalesce(CASE WHEN s.is_closed THEN s.close_date END, s.date) >= fx.valid_from
      AND coalesce(CASE WHEN s.is_closed THEN s.close_date END, s.date) < fx.valid_until
