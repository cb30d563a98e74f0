-- materialize: kpi_measures
--
-- kpi_measures: every base measure summed at every grain, for every report
-- period. Ratios are computed later from these sums, never averaged.
--
-- Grains: total; channel; campaign_type (inbound / outbound); campaign (with
-- the campaign's channel and type). Rows without a campaign are left out of the
-- campaign grain but count in the others, so channel rows add up to the total.
--
-- A measure is NULL when no source of it has any data in the lake (the KPI is
-- then reported with status 'no source'); when its source exists, a grain with
-- no rows in the period counts 0.

-- Which canonical views have any data at all (see canonical_sources).
CREATE VIEW source_presence AS
SELECT
    coalesce(bool_or(view = 'ad_performance' AND has_data), false) AS has_ads,
    coalesce(bool_or(view = 'marketing_costs' AND has_data), false) AS has_costs,
    coalesce(bool_or(view = 'web_traffic' AND has_data), false) AS has_web,
    coalesce(bool_or(view = 'crm_contacts' AND has_data), false) AS has_crm,
    coalesce(bool_or(view = 'crm_deals' AND has_data), false) AS has_deals,
    coalesce(bool_or(view = 'email_performance' AND has_data), false) AS has_email,
    coalesce(bool_or(view = 'search_performance' AND has_data), false) AS has_search,
    coalesce(bool_or(view = 'backlinks' AND has_data), false) AS has_backlinks,
    coalesce(bool_or(view = 'social_performance' AND has_data), false) AS has_social
FROM canonical_sources;

CREATE VIEW kpi_measures AS
WITH agg AS (
    SELECT a.*,
           a.grain || '|' || coalesce(a.channel, '~') || '|' || coalesce(a.campaign_type, '~')
               || '|' || coalesce(a.campaign, '~') AS row_key
    FROM kpi_measures_agg a
    JOIN report_periods p ON p.period = a.period
    WHERE NOT (a.grain = 'campaign' AND a.campaign IS NULL)
      -- A trend chart's window (not a full period) needs the total only.
      AND (p.full OR a.grain = 'total')
), keys AS (
    -- Every grain row that has data in any period gets a row in every period,
    -- so that a campaign new this month compares with 0 spend, not with nothing.
    SELECT DISTINCT row_key, grain, channel, campaign_type, campaign FROM agg
), grid AS (
    SELECT k.*, p.period FROM keys k CROSS JOIN report_periods p
    WHERE p.full OR k.grain = 'total'
), rank AS (
    SELECT r.*, r.grain || '|' || coalesce(r.channel, '~') || '|' || coalesce(r.campaign_type, '~') || '|~' AS row_key
    FROM kpi_search_rank r
), rank_keys AS (
    -- Grain rows that rank queries in some period (total, and the channel and
    -- campaign type of organic search): in a period with no ranking rows they
    -- count 0 queries in the top 10, like every other measure of a present
    -- source. Other grains have no such figure and stay NULL.
    SELECT DISTINCT row_key FROM rank
), links AS (
    SELECT l.*, l.grain || '|' || coalesce(l.channel, '~') || '|' || coalesce(l.campaign_type, '~') || '|~' AS row_key
    FROM kpi_backlinks l
)
SELECT g.period, g.grain, g.channel, g.campaign_type, g.campaign, g.row_key,
       s.has_ads, s.has_costs, s.has_web, s.has_crm, s.has_deals, s.has_email,
       s.has_search, s.has_backlinks, s.has_social,
       CASE WHEN s.has_ads THEN coalesce(a.ad_spend, 0) END AS ad_spend,
       CASE WHEN s.has_costs THEN coalesce(a.other_cost, 0) END AS other_cost,
       CASE WHEN s.has_ads OR s.has_costs
            THEN coalesce(a.ad_spend, 0) + coalesce(a.other_cost, 0) END AS marketing_cost,
       CASE WHEN s.has_ads THEN coalesce(a.impressions, 0) END AS impressions,
       CASE WHEN s.has_ads THEN coalesce(a.clicks, 0) END AS clicks,
       CASE WHEN s.has_ads THEN coalesce(a.ad_conversions, 0) END AS ad_conversions,
       CASE WHEN s.has_ads THEN coalesce(a.conversion_value, 0) END AS conversion_value,
       CASE WHEN s.has_web THEN coalesce(a.sessions, 0) END AS sessions,
       CASE WHEN s.has_web THEN coalesce(a.users, 0) END AS users,
       CASE WHEN s.has_web THEN coalesce(a.new_users, 0) END AS new_users,
       CASE WHEN s.has_web THEN coalesce(a.engaged_sessions, 0) END AS engaged_sessions,
       CASE WHEN s.has_web THEN coalesce(a.bounces, 0) END AS bounces,
       CASE WHEN s.has_web THEN coalesce(a.session_duration_s, 0) END AS session_duration_s,
       CASE WHEN s.has_web THEN coalesce(a.pageviews, 0) END AS pageviews,
       CASE WHEN s.has_web THEN coalesce(a.organic_sessions, 0) END AS organic_sessions,
       CASE WHEN s.has_web THEN coalesce(a.social_sessions, 0) END AS social_sessions,
       CASE WHEN s.has_crm THEN coalesce(a.leads, 0) END AS leads,
       CASE WHEN s.has_crm THEN coalesce(a.mqls, 0) END AS mqls,
       CASE WHEN s.has_crm THEN coalesce(a.sqls, 0) END AS sqls,
       CASE WHEN s.has_crm THEN coalesce(a.opportunities, 0) END AS opportunities,
       CASE WHEN s.has_crm THEN coalesce(a.new_customers, 0) END AS new_customers,
       CASE WHEN s.has_crm THEN coalesce(a.social_leads, 0) END AS social_leads,
       CASE WHEN s.has_crm THEN coalesce(a.customers_start, 0) END AS customers_start,
       CASE WHEN s.has_crm THEN coalesce(a.customers_end, 0) END AS customers_end,
       CASE WHEN s.has_crm THEN coalesce(a.ttm_customers_start, 0) END AS ttm_customers_start,
       CASE WHEN s.has_crm THEN coalesce(a.ttm_churned, 0) END AS ttm_churned,
       CASE WHEN s.has_deals THEN coalesce(a.deals_won, 0) END AS deals_won,
       CASE WHEN s.has_deals THEN coalesce(a.deals_lost, 0) END AS deals_lost,
       CASE WHEN s.has_deals THEN coalesce(a.revenue, 0) END AS revenue,
       CASE WHEN s.has_deals THEN coalesce(a.ttm_revenue, 0) END AS ttm_revenue,
       CASE WHEN s.has_deals THEN coalesce(a.ttm_paying_customers, 0) END AS ttm_paying_customers,
       CASE WHEN s.has_email THEN coalesce(a.email_sent, 0) END AS email_sent,
       CASE WHEN s.has_email THEN coalesce(a.email_delivered, 0) END AS email_delivered,
       CASE WHEN s.has_email THEN coalesce(a.email_opens, 0) END AS email_opens,
       CASE WHEN s.has_email THEN coalesce(a.email_clicks, 0) END AS email_clicks,
       CASE WHEN s.has_email THEN coalesce(a.email_forwards, 0) END AS email_forwards,
       CASE WHEN s.has_email THEN coalesce(a.email_unsubscribes, 0) END AS email_unsubscribes,
       CASE WHEN s.has_email THEN coalesce(a.email_bounces, 0) END AS email_bounces,
       CASE WHEN s.has_search THEN coalesce(a.search_impressions, 0) END AS search_impressions,
       CASE WHEN s.has_search THEN coalesce(a.search_clicks, 0) END AS search_clicks,
       CASE WHEN s.has_search THEN coalesce(a.search_position_x_impressions, 0) END AS search_position_x_impressions,
       CASE WHEN s.has_search AND rk.row_key IS NOT NULL
            THEN coalesce(r.keywords_top10, 0) END AS keywords_top10,
       -- The last snapshot of a period with no snapshot is unknown, not 0.
       l.referring_domains,
       CASE WHEN s.has_social THEN coalesce(a.social_impressions, 0) END AS social_impressions,
       CASE WHEN s.has_social THEN coalesce(a.social_interactions, 0) END AS social_interactions,
       CASE WHEN s.has_social THEN coalesce(a.mentions_positive, 0) END AS mentions_positive,
       CASE WHEN s.has_social THEN coalesce(a.mentions_neutral, 0) END AS mentions_neutral,
       CASE WHEN s.has_social THEN coalesce(a.mentions_negative, 0) END AS mentions_negative
FROM grid g
CROSS JOIN source_presence s
LEFT JOIN agg a ON a.period = g.period AND a.row_key = g.row_key
LEFT JOIN rank r ON r.period = g.period AND r.row_key = g.row_key
LEFT JOIN rank_keys rk ON rk.row_key = g.row_key
LEFT JOIN links l ON l.period = g.period AND l.row_key = g.row_key;
