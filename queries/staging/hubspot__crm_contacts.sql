-- HubSpot contacts -> crm_contacts. Lifecycle timestamps become dates in the
-- reporting time zone ({{timezone}}). A contact that skipped a stage (lead
-- straight to SQL) counts as having passed it on the date of the later stage,
-- so that funnel rates never exceed what the stages before them allow.
SELECT s.id AS contact_id,
       local_date(s.createdate, '{{timezone}}') AS created_date,
       least(local_date(s.hs_lifecyclestage_lead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_marketingqualifiedlead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_salesqualifiedlead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_opportunity_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_customer_date, '{{timezone}}')) AS lead_date,
       least(local_date(s.hs_lifecyclestage_marketingqualifiedlead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_salesqualifiedlead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_opportunity_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_customer_date, '{{timezone}}')) AS mql_date,
       least(local_date(s.hs_lifecyclestage_salesqualifiedlead_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_opportunity_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_customer_date, '{{timezone}}')) AS sql_date,
       least(local_date(s.hs_lifecyclestage_opportunity_date, '{{timezone}}'),
             local_date(s.hs_lifecyclestage_customer_date, '{{timezone}}')) AS opportunity_date,
       local_date(s.hs_lifecyclestage_customer_date, '{{timezone}}') AS customer_date,
       local_date(s.churn_date, '{{timezone}}') AS churn_date,
       s.hs_analytics_source AS source,
       s.hs_analytics_source_data_1 AS source_detail,
       -- HubSpot puts the utm_campaign value in drill-down 1 for paid search,
       -- email marketing and other campaigns, in drill-down 2 for organic
       -- (and, we assume, paid) social; other sources carry no campaign.
       campaign_key(nullif(CASE
           WHEN s.hs_analytics_source IN ('PAID_SEARCH', 'EMAIL_MARKETING', 'OTHER_CAMPAIGNS')
               THEN s.hs_analytics_source_data_1
           WHEN s.hs_analytics_source IN ('SOCIAL_MEDIA', 'PAID_SOCIAL')
               THEN s.hs_analytics_source_data_2
       END, '')) AS campaign_key,
       m.channel AS mapped_channel
FROM {{source}}.contacts s
LEFT JOIN channel_map m ON m.system = 'hubspot' AND m.key = s.hs_analytics_source
