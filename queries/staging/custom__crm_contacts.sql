-- A custom source's contacts (a homegrown CRM, the warehouse's tables) ->
-- crm_contacts. `date` is the day the contact was created; stage dates are days
-- as given. A contact that skipped a stage counts as having passed it on the
-- date of the later stage, as for HubSpot and Salesforce, and a contact with no
-- lead date is a lead from the day it was created. The channel is `channel`
-- when given (a kpi channel, or its mapping under the source's name), else the
-- mapping of `source` under the source's name; the campaign is `campaign`.
SELECT s.contact_id,
       s.date AS created_date,
       coalesce(least(s.lead_date, s.mql_date, s.sql_date, s.opportunity_date, s.customer_date),
                s.date) AS lead_date,
       least(s.mql_date, s.sql_date, s.opportunity_date, s.customer_date) AS mql_date,
       least(s.sql_date, s.opportunity_date, s.customer_date) AS sql_date,
       least(s.opportunity_date, s.customer_date) AS opportunity_date,
       s.customer_date,
       s.churn_date,
       s.source,
       s.source_detail,
       campaign_key(nullif(s.campaign, '')) AS campaign_key,
       coalesce(t.channel, m.channel, ms.channel) AS mapped_channel
FROM {{source}}.crm_contacts s
LEFT JOIN channel_types t ON t.channel = lower(trim(s.channel))
LEFT JOIN channel_map m ON m.system = '{{source_name}}' AND m.key = lower(trim(s.channel))
LEFT JOIN channel_map ms ON ms.system = '{{source_name}}' AND ms.key = lower(trim(s.source))
