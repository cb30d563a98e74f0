-- crm_contacts: one row per CRM contact with the date it reached each funnel
-- stage (in the reporting time zone) and its original source.
SELECT u.contact_id,
       u.created_date,
       u.lead_date,
       u.mql_date,
       u.sql_date,
       u.opportunity_date,
       u.customer_date,
       u.churn_date,
       u.source,
       u.source_detail,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.campaign_key
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
