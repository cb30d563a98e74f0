-- Amounts that could not be converted to the reporting currency: no rate for
-- their currency on their day. Each row is one problem; any row stops the run,
-- because a missing rate would otherwise drop money from every total.
SELECT 'ad_performance: no FX rate for ' || currency || ' to {{currency}} on '
       || CAST(min(date) AS VARCHAR) || ' (and ' || CAST(count(*) - 1 AS VARCHAR)
       || ' more rows); add it to reference/fx_rates.csv' AS problem
FROM ad_performance
WHERE {{in_periods: date}}
  AND spend IS NULL AND spend_original IS NOT NULL
GROUP BY currency
UNION ALL
SELECT 'marketing_costs: no FX rate for ' || currency || ' to {{currency}} on '
       || CAST(min(date) AS VARCHAR) || '; add it to reference/fx_rates.csv'
FROM marketing_costs
WHERE {{in_periods: date}}
  AND amount IS NULL AND amount_original IS NOT NULL
GROUP BY currency
UNION ALL
SELECT 'crm_deals: no FX rate for ' || currency || ' to {{currency}} on '
       || CAST(min(coalesce(close_date, created_date)) AS VARCHAR) || '; add it to reference/fx_rates.csv'
FROM crm_deals
-- Deals are read over the LTV windows too: the 365 days before each period end.
WHERE coalesce(close_date, created_date) BETWEEN DATE '{{deals_from}}' AND DATE '{{deals_to}}'
  AND amount IS NULL AND amount_original IS NOT NULL
GROUP BY currency
