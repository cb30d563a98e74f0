-- materialize: kpi_values
--
-- kpi_values: every KPI of the catalog (queries/kpis.toml) in long form, one row
-- per period, grain row and KPI, with the numerator and denominator it was
-- computed from. A ratio is always sum(numerator) / sum(denominator) at the
-- grain; a zero denominator gives NULL. `no_source` is true when the lake has no
-- source for an input at all, as opposed to a source with no rows (0).
-- {{gross_margin}} is [reporting] gross_margin.

CREATE VIEW kpi_values AS
WITH m AS (
    SELECT k.*,
           pm.revenue AS revenue_prior,
           k.ttm_revenue * k.ttm_customers_start AS ltv_numerator,
           k.ttm_paying_customers * k.ttm_churned AS ltv_denominator,
           (k.ttm_revenue * k.ttm_customers_start)
               / nullif(k.ttm_paying_customers * k.ttm_churned, 0) AS ltv,
           k.marketing_cost / nullif(k.new_customers, 0) AS cac
    FROM kpi_measures k
    -- The period before each reported period, for growth rates.
    LEFT JOIN kpi_measures pm
           ON pm.row_key = k.row_key
          AND pm.period = CASE k.period WHEN 'current' THEN 'previous'
                                        WHEN 'previous' THEN 'previous_2'
                                        WHEN 'last_year' THEN 'last_year_previous' END
    -- Every period but those only registered as the prior of another (a trend
    -- registers its own windows, which have no prior: their growth is NULL).
    WHERE k.period NOT IN ('previous_2', 'last_year_previous')
)
SELECT period, grain, channel, campaign_type, campaign, 'ad_spend' AS kpi,
       ad_spend AS value, ad_spend AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'marketing_cost' AS kpi,
       marketing_cost AS value, marketing_cost AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT (has_ads OR has_costs) AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'impressions' AS kpi,
       impressions AS value, impressions AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'clicks' AS kpi,
       clicks AS value, clicks AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'ad_conversions' AS kpi,
       ad_conversions AS value, ad_conversions AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'sessions' AS kpi,
       sessions AS value, sessions AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'users' AS kpi,
       users AS value, users AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'new_users' AS kpi,
       new_users AS value, new_users AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'leads' AS kpi,
       leads AS value, leads AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'mqls' AS kpi,
       mqls AS value, mqls AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'sqls' AS kpi,
       sqls AS value, sqls AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'opportunities' AS kpi,
       opportunities AS value, opportunities AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'new_customers' AS kpi,
       new_customers AS value, new_customers AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'deals_won' AS kpi,
       deals_won AS value, deals_won AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'deals_lost' AS kpi,
       deals_lost AS value, deals_lost AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'revenue' AS kpi,
       revenue AS value, revenue AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_delivered' AS kpi,
       email_delivered AS value, email_delivered AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_email AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'search_clicks' AS kpi,
       search_clicks AS value, search_clicks AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_search AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'search_impressions' AS kpi,
       search_impressions AS value, search_impressions AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_search AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'ctr' AS kpi,
       (clicks) / nullif(impressions, 0) AS value, clicks AS numerator, impressions AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cpc' AS kpi,
       (ad_spend) / nullif(clicks, 0) AS value, ad_spend AS numerator, clicks AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cpm' AS kpi,
       ad_spend * 1000 / nullif(impressions, 0) AS value, ad_spend AS numerator, impressions AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'ad_cvr' AS kpi,
       (ad_conversions) / nullif(clicks, 0) AS value, ad_conversions AS numerator, clicks AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cost_per_conversion' AS kpi,
       (ad_spend) / nullif(ad_conversions, 0) AS value, ad_spend AS numerator, ad_conversions AS denominator,
       NOT has_ads AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'roas' AS kpi,
       (revenue) / nullif(ad_spend, 0) AS value, revenue AS numerator, ad_spend AS denominator,
       NOT has_ads OR NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cpl' AS kpi,
       (marketing_cost) / nullif(leads, 0) AS value, marketing_cost AS numerator, leads AS denominator,
       NOT (has_ads OR has_costs) OR NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cost_per_opportunity' AS kpi,
       (marketing_cost) / nullif(opportunities, 0) AS value, marketing_cost AS numerator, opportunities AS denominator,
       NOT (has_ads OR has_costs) OR NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'cac' AS kpi,
       (marketing_cost) / nullif(new_customers, 0) AS value, marketing_cost AS numerator, new_customers AS denominator,
       NOT (has_ads OR has_costs) OR NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'traffic_to_lead' AS kpi,
       (leads) / nullif(sessions, 0) AS value, leads AS numerator, sessions AS denominator,
       NOT has_crm OR NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'lead_to_mql' AS kpi,
       (mqls) / nullif(leads, 0) AS value, mqls AS numerator, leads AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'mql_to_sql' AS kpi,
       (sqls) / nullif(mqls, 0) AS value, sqls AS numerator, mqls AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'sql_to_opportunity' AS kpi,
       (opportunities) / nullif(sqls, 0) AS value, opportunities AS numerator, sqls AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'lead_to_close' AS kpi,
       (new_customers) / nullif(leads, 0) AS value, new_customers AS numerator, leads AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'leads_per_customer' AS kpi,
       (leads) / nullif(new_customers, 0) AS value, leads AS numerator, new_customers AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'win_rate' AS kpi,
       (deals_won) / nullif(deals_won + deals_lost, 0) AS value, deals_won AS numerator, deals_won + deals_lost AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'sales_growth' AS kpi,
       (revenue - revenue_prior) / nullif(revenue_prior, 0) AS value, revenue - revenue_prior AS numerator, revenue_prior AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'avg_deal_size' AS kpi,
       (revenue) / nullif(deals_won, 0) AS value, revenue AS numerator, deals_won AS denominator,
       NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'roi' AS kpi,
       (revenue * {{gross_margin}} - marketing_cost) / nullif(marketing_cost, 0) AS value, revenue * {{gross_margin}} - marketing_cost AS numerator, marketing_cost AS denominator,
       NOT has_deals OR NOT (has_ads OR has_costs) AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'profit' AS kpi,
       revenue * {{gross_margin}} - marketing_cost AS value, revenue * {{gross_margin}} - marketing_cost AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_deals OR NOT (has_ads OR has_costs) AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'ltv' AS kpi,
       (ltv_numerator) / nullif(ltv_denominator, 0) AS value, ltv_numerator AS numerator, ltv_denominator AS denominator,
       NOT has_crm OR NOT has_deals AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'ltv_to_cac' AS kpi,
       (ltv) / nullif(cac, 0) AS value, ltv AS numerator, cac AS denominator,
       NOT has_crm OR NOT has_deals OR NOT (has_ads OR has_costs) AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'profit_per_customer' AS kpi,
       ltv - cac AS value, ltv - cac AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm OR NOT has_deals OR NOT (has_ads OR has_costs) AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'retention_rate' AS kpi,
       (customers_end - new_customers) / nullif(customers_start, 0) AS value, customers_end - new_customers AS numerator, customers_start AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'new_user_share' AS kpi,
       (new_users) / nullif(users, 0) AS value, new_users AS numerator, users AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'pages_per_session' AS kpi,
       (pageviews) / nullif(sessions, 0) AS value, pageviews AS numerator, sessions AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'avg_session_duration' AS kpi,
       (session_duration_s) / nullif(sessions, 0) AS value, session_duration_s AS numerator, sessions AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'bounce_rate' AS kpi,
       (bounces) / nullif(sessions, 0) AS value, bounces AS numerator, sessions AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'organic_share' AS kpi,
       (organic_sessions) / nullif(sessions, 0) AS value, organic_sessions AS numerator, sessions AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'keyword_ctr' AS kpi,
       (search_clicks) / nullif(search_impressions, 0) AS value, search_clicks AS numerator, search_impressions AS denominator,
       NOT has_search AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'avg_position' AS kpi,
       (search_position_x_impressions) / nullif(search_impressions, 0) AS value, search_position_x_impressions AS numerator, search_impressions AS denominator,
       NOT has_search AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'keywords_top10' AS kpi,
       keywords_top10 AS value, keywords_top10 AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_search AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'referring_domains' AS kpi,
       referring_domains AS value, referring_domains AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_backlinks AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'social_engagement_rate' AS kpi,
       (social_interactions) / nullif(social_impressions, 0) AS value, social_interactions AS numerator, social_impressions AS denominator,
       NOT has_social AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'sentiment' AS kpi,
       (mentions_positive - mentions_negative) / nullif(mentions_positive + mentions_neutral + mentions_negative, 0) AS value, mentions_positive - mentions_negative AS numerator, mentions_positive + mentions_neutral + mentions_negative AS denominator,
       NOT has_social AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'social_traffic' AS kpi,
       social_sessions AS value, social_sessions AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_web AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'social_leads' AS kpi,
       social_leads AS value, social_leads AS numerator, CAST(NULL AS DOUBLE) AS denominator,
       NOT has_crm AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_open_rate' AS kpi,
       (email_opens) / nullif(email_delivered, 0) AS value, email_opens AS numerator, email_delivered AS denominator,
       NOT has_email AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_click_rate' AS kpi,
       (email_clicks) / nullif(email_delivered, 0) AS value, email_clicks AS numerator, email_delivered AS denominator,
       NOT has_email AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_ctor' AS kpi,
       (email_clicks) / nullif(email_opens, 0) AS value, email_clicks AS numerator, email_opens AS denominator,
       NOT has_email AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_forward_rate' AS kpi,
       (email_forwards) / nullif(email_delivered, 0) AS value, email_forwards AS numerator, email_delivered AS denominator,
       NOT has_email AS no_source
FROM m
UNION ALL
SELECT period, grain, channel, campaign_type, campaign, 'email_unsubscribe_rate' AS kpi,
       (email_unsubscribes) / nullif(email_delivered, 0) AS value, email_unsubscribes AS numerator, email_delivered AS denominator,
       NOT has_email AS no_source
FROM m;
