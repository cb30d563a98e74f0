-- Salesforce opportunities -> crm_deals. Salesforce keeps an expected
-- CloseDate on open opportunities: a deal's close date is CloseDate once it
-- is closed, NULL before. Amounts are in CurrencyIsoCode (the org's currency
-- in a single-currency org, set by the connector) and converted on the close
-- date (the create date while open). The deal belongs to its primary
-- contact (ContactId), whose first touch gives its channel and campaign.
SELECT s."Id" AS deal_id,
       s."ContactId" AS contact_id,
       s."Name" AS deal_name,
       coalesce(s."Type", '') AS pipeline,
       local_date(s."CreatedDate", '{{timezone}}') AS created_date,
       CASE WHEN s."IsClosed" THEN s."CloseDate" END AS close_date,
       s."IsWon" AS is_won,
       s."IsClosed" AS is_closed,
       to_reporting(s."Amount", fx.factor, s."CurrencyIsoCode",
                    coalesce(CASE WHEN s."IsClosed" THEN s."CloseDate" END, local_date(s."CreatedDate", '{{timezone}}')),
                    'crm_deals (salesforce)', '{{currency}}') AS amount,
       s."CurrencyIsoCode" AS currency,
       s."Amount" AS amount_original
FROM {{source}}.opportunities s
LEFT JOIN fx_factor fx
       ON fx.currency = s."CurrencyIsoCode"
      AND coalesce(CASE WHEN s."IsClosed" THEN s."CloseDate" END, local_date(s."CreatedDate", '{{timezone}}')) >= fx.valid_from
      AND coalesce(CASE WHEN s."IsClosed" THEN s."CloseDate" END, local_date(s."CreatedDate", '{{timezone}}')) < fx.valid_until
