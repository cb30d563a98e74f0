-- materialize: kpi_measures_agg
--
-- kpi_measures_agg: the finest-grain sums of kpi_facts rolled up to every
-- grain: total; channel; campaign_type (inbound / outbound); campaign (with
-- the campaign's channel and type). Materialised once, since kpi_measures
-- reads it twice.

CREATE VIEW kpi_measures_agg AS
SELECT period,
       CASE WHEN grouping(campaign) = 0 THEN 'campaign'
            WHEN grouping(channel) = 0 THEN 'channel'
            WHEN grouping(campaign_type) = 0 THEN 'campaign_type'
            ELSE 'total' END AS grain,
       channel, campaign_type, campaign,
       sum(ad_spend) AS ad_spend,
       sum(other_cost) AS other_cost,
       sum(impressions) AS impressions,
       sum(clicks) AS clicks,
       sum(ad_conversions) AS ad_conversions,
       sum(conversion_value) AS conversion_value,
       sum(sessions) AS sessions,
       sum(users) AS users,
       sum(new_users) AS new_users,
       sum(engaged_sessions) AS engaged_sessions,
       sum(bounces) AS bounces,
       sum(session_duration_s) AS session_duration_s,
       sum(pageviews) AS pageviews,
       sum(organic_sessions) AS organic_sessions,
       sum(social_sessions) AS social_sessions,
       sum(leads) AS leads,
       sum(mqls) AS mqls,
       sum(sqls) AS sqls,
       sum(opportunities) AS opportunities,
       sum(new_customers) AS new_customers,
       sum(social_leads) AS social_leads,
       sum(customers_start) AS customers_start,
       sum(customers_end) AS customers_end,
       sum(ttm_customers_start) AS ttm_customers_start,
       sum(ttm_churned) AS ttm_churned,
       sum(deals_won) AS deals_won,
       sum(deals_lost) AS deals_lost,
       sum(revenue) AS revenue,
       sum(ttm_revenue) AS ttm_revenue,
       -- Exact: a contact has one original source, so it is counted in one
       -- finest-grain row, and the distinct counts there add up.
       sum(ttm_paying_customers) AS ttm_paying_customers,
       sum(email_sent) AS email_sent,
       sum(email_delivered) AS email_delivered,
       sum(email_opens) AS email_opens,
       sum(email_clicks) AS email_clicks,
       sum(email_forwards) AS email_forwards,
       sum(email_unsubscribes) AS email_unsubscribes,
       sum(email_bounces) AS email_bounces,
       sum(search_impressions) AS search_impressions,
       sum(search_clicks) AS search_clicks,
       sum(search_position_x_impressions) AS search_position_x_impressions,
       sum(social_impressions) AS social_impressions,
       sum(social_interactions) AS social_interactions,
       sum(mentions_positive) AS mentions_positive,
       sum(mentions_neutral) AS mentions_neutral,
       sum(mentions_negative) AS mentions_negative
FROM kpi_facts
GROUP BY GROUPING SETS (
    (period),
    (period, channel),
    (period, campaign_type),
    (period, channel, campaign_type, campaign)
);
