-- materialize: kpi_search_rank, kpi_backlinks
--
-- kpi_facts: every measure summed per report period at the finest grain
-- (channel, campaign type, campaign), one branch per canonical view; the
-- grains above are rolled up from these sums in 20_measures.sql (summing each
-- source on its own first keeps the union small). One pass over each canonical view computes the current period, the
-- previous one and the same period last year together (report_periods holds
-- them). Each branch names only its own measures; UNION ALL BY NAME fills the
-- rest with NULL, so a measure whose source has no rows sums to NULL, not 0.
--
-- The plain predicates on the partition column of partitioned views
-- (`in_periods: a.date` becomes `a.date BETWEEN ... OR a.date BETWEEN ...`, one
-- range per group of report periods) are what lets the lake skip partitions
-- outside the periods: DataFusion does not prune through the join with
-- report_periods alone.
--
-- Daily facts join report_days (one row per day of each period) on equality,
-- so the join is a hash join built on that small table.
--
-- CRM counts are event-based: a contact counts as an MQL in the period in which
-- it became one; revenue counts in the period the deal closed-won.

CREATE VIEW kpi_facts AS
SELECT p.period, a.channel, a.campaign_type, a.campaign_key AS campaign,
       sum(a.spend) AS ad_spend,
       sum(CAST(a.impressions AS DOUBLE)) AS impressions,
       sum(CAST(a.clicks AS DOUBLE)) AS clicks,
       sum(a.conversions) AS ad_conversions,
       sum(a.conversion_value) AS conversion_value
FROM ad_performance a
JOIN report_days p ON p.date = a.date
WHERE {{in_periods: a.date}}
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, c.channel, c.campaign_type, c.campaign_key AS campaign,
       sum(c.amount) AS other_cost
FROM marketing_costs c
JOIN report_days p ON p.date = c.date
WHERE {{in_periods: c.date}}
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, w.channel, w.campaign_type, w.campaign_key AS campaign,
       sum(CAST(w.sessions AS DOUBLE)) AS sessions,
       sum(CAST(w.users AS DOUBLE)) AS users,
       sum(CAST(w.new_users AS DOUBLE)) AS new_users,
       sum(CAST(w.engaged_sessions AS DOUBLE)) AS engaged_sessions,
       sum(CAST(w.bounces AS DOUBLE)) AS bounces,
       sum(CAST(w.session_duration_s AS DOUBLE)) AS session_duration_s,
       sum(CAST(w.pageviews AS DOUBLE)) AS pageviews,
       sum(CAST(CASE WHEN w.channel = 'organic_search' THEN w.sessions ELSE 0 END AS DOUBLE)) AS organic_sessions,
       sum(CAST(CASE WHEN w.channel IN ('organic_social', 'paid_social') THEN w.sessions ELSE 0 END AS DOUBLE)) AS social_sessions
FROM web_traffic w
JOIN report_days p ON p.date = w.date
WHERE {{in_periods: w.date}}
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, c.channel, c.campaign_type, c.campaign_key AS campaign,
       sum(CASE WHEN c.lead_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS leads,
       sum(CASE WHEN c.mql_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS mqls,
       sum(CASE WHEN c.sql_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS sqls,
       sum(CASE WHEN c.opportunity_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS opportunities,
       sum(CASE WHEN c.customer_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS new_customers,
       sum(CASE WHEN c.lead_date BETWEEN p.start_date AND p.end_date
             AND c.channel IN ('organic_social', 'paid_social') THEN 1.0 ELSE 0.0 END) AS social_leads,
       sum(CASE WHEN c.customer_date < p.start_date
             AND (c.churn_date IS NULL OR c.churn_date >= p.start_date) THEN 1.0 ELSE 0.0 END) AS customers_start,
       sum(CASE WHEN c.customer_date <= p.end_date
             AND (c.churn_date IS NULL OR c.churn_date > p.end_date) THEN 1.0 ELSE 0.0 END) AS customers_end,
       sum(CASE WHEN c.customer_date < p.ttm_start
             AND (c.churn_date IS NULL OR c.churn_date >= p.ttm_start) THEN 1.0 ELSE 0.0 END) AS ttm_customers_start,
       sum(CASE WHEN c.churn_date BETWEEN p.ttm_start AND p.end_date THEN 1.0 ELSE 0.0 END) AS ttm_churned
FROM crm_contacts c
CROSS JOIN report_periods p
WHERE c.lead_date <= p.end_date
  AND (c.lead_date >= p.start_date
       OR c.mql_date BETWEEN p.start_date AND p.end_date
       OR c.sql_date BETWEEN p.start_date AND p.end_date
       OR c.opportunity_date BETWEEN p.start_date AND p.end_date
       OR c.customer_date <= p.end_date)
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, d.channel, d.campaign_type, d.campaign_key AS campaign,
       sum(CASE WHEN d.is_won AND d.close_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS deals_won,
       sum(CASE WHEN NOT d.is_won AND d.close_date BETWEEN p.start_date AND p.end_date THEN 1.0 ELSE 0.0 END) AS deals_lost,
       sum(CASE WHEN d.is_won AND d.close_date BETWEEN p.start_date AND p.end_date THEN d.amount ELSE 0.0 END) AS revenue,
       sum(CASE WHEN d.is_won AND d.close_date BETWEEN p.ttm_start AND p.end_date THEN d.amount ELSE 0.0 END) AS ttm_revenue,
       CAST(count(DISTINCT CASE WHEN d.is_won AND d.close_date BETWEEN p.ttm_start AND p.end_date THEN d.contact_id END) AS DOUBLE) AS ttm_paying_customers
FROM crm_deals d
CROSS JOIN report_periods p
WHERE d.is_closed
  AND d.close_date BETWEEN least(p.start_date, p.ttm_start) AND p.end_date
  -- The same bounds on the deal alone, so the filter runs before the deals'
  -- amounts are converted: a deal outside every period and LTV window never
  -- needs an FX rate (one inside stops the run if its rate is missing).
  AND d.close_date BETWEEN DATE '{{deals_from}}' AND DATE '{{deals_to}}'
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, e.channel, e.campaign_type, e.campaign_key AS campaign,
       sum(CAST(e.emails_sent AS DOUBLE)) AS email_sent,
       sum(CAST(e.delivered AS DOUBLE)) AS email_delivered,
       sum(CAST(e.unique_opens AS DOUBLE)) AS email_opens,
       sum(CAST(e.unique_clicks AS DOUBLE)) AS email_clicks,
       sum(CAST(e.forwards AS DOUBLE)) AS email_forwards,
       sum(CAST(e.unsubscribes AS DOUBLE)) AS email_unsubscribes,
       sum(CAST(e.bounces AS DOUBLE)) AS email_bounces
FROM email_performance e
JOIN report_days p ON p.date = e.date
WHERE {{in_periods: e.date}}
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, s.channel, s.campaign_type, CAST(NULL AS VARCHAR) AS campaign,
       sum(CAST(s.impressions AS DOUBLE)) AS search_impressions,
       sum(CAST(s.clicks AS DOUBLE)) AS search_clicks,
       sum(s.position_x_impressions) AS search_position_x_impressions
FROM search_performance s
JOIN report_days p ON p.date = s.date
WHERE {{in_periods: s.date}}
GROUP BY 1, 2, 3, 4

UNION ALL BY NAME
SELECT p.period, s.channel, s.campaign_type, CAST(NULL AS VARCHAR) AS campaign,
       sum(CAST(s.impressions AS DOUBLE)) AS social_impressions,
       sum(CAST(s.interactions AS DOUBLE)) AS social_interactions,
       sum(CAST(s.mentions_positive AS DOUBLE)) AS mentions_positive,
       sum(CAST(s.mentions_neutral AS DOUBLE)) AS mentions_neutral,
       sum(CAST(s.mentions_negative AS DOUBLE)) AS mentions_negative
FROM social_performance s
JOIN report_days p ON p.date = s.date
WHERE {{in_periods: s.date}}
GROUP BY 1, 2, 3, 4;

-- Non-additive SEO figures, for the grains they make sense at (total, and the
-- channel and campaign type of organic search).

-- Queries ranking 10 or better on their impression-weighted position over the
-- whole period (not per day).
CREATE VIEW kpi_search_rank AS
WITH q AS (
    SELECT p.period, s.channel, s.campaign_type, s.query,
           sum(s.position_x_impressions) / nullif(sum(s.impressions), 0) AS avg_position
    FROM search_performance s
    JOIN report_days p ON p.date = s.date
    WHERE {{in_periods: s.date}}
    GROUP BY p.period, s.channel, s.campaign_type, s.query
)
SELECT period, 'total' AS grain, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS campaign_type,
       CAST(count(DISTINCT CASE WHEN avg_position <= 10 THEN query END) AS DOUBLE) AS keywords_top10
FROM q GROUP BY period
UNION ALL
SELECT period, 'channel', channel, CAST(NULL AS VARCHAR),
       CAST(count(DISTINCT CASE WHEN avg_position <= 10 THEN query END) AS DOUBLE)
FROM q GROUP BY period, channel
UNION ALL
SELECT period, 'campaign_type', CAST(NULL AS VARCHAR), campaign_type,
       CAST(count(DISTINCT CASE WHEN avg_position <= 10 THEN query END) AS DOUBLE)
FROM q GROUP BY period, campaign_type;

-- Referring domains in the last backlink snapshot of each period.
CREATE VIEW kpi_backlinks AS
WITH b AS (
    SELECT p.period, bl.date, bl.channel, bl.campaign_type,
           sum(bl.referring_domains_followed) AS referring_domains
    FROM backlinks bl
    JOIN report_days p ON p.date = bl.date
    WHERE {{in_periods: bl.date}}
    GROUP BY p.period, bl.date, bl.channel, bl.campaign_type
), latest AS (
    SELECT b.* FROM b
    JOIN (SELECT period, max(date) AS date FROM b GROUP BY period) l
      ON l.period = b.period AND l.date = b.date
)
SELECT period, 'total' AS grain, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS campaign_type,
       CAST(sum(referring_domains) AS DOUBLE) AS referring_domains
FROM latest GROUP BY period
UNION ALL
SELECT period, 'channel', channel, CAST(NULL AS VARCHAR), CAST(sum(referring_domains) AS DOUBLE)
FROM latest GROUP BY period, channel
UNION ALL
SELECT period, 'campaign_type', CAST(NULL AS VARCHAR), campaign_type, CAST(sum(referring_domains) AS DOUBLE)
FROM latest GROUP BY period, campaign_type;
