-- crm_contacts: one row per CRM contact with the date it reached each funnel
-- stage (in the reporting time zone) and its original source.
--
-- @contact_id       the CRM's id of the contact
-- @created_date     day the contact was created
-- @lead_date        day it became a lead
-- @mql_date         day it became a marketing-qualified lead (NULL: not yet)
-- @sql_date         day it became a sales-qualified lead (NULL: not yet)
-- @opportunity_date day it became an opportunity (NULL: not yet)
-- @customer_date    day it became a customer (NULL: not yet)
-- @churn_date       day it stopped being a customer (NULL: still one, or never one)
-- @source           the CRM's original source of the contact
-- @source_detail    the CRM's detail of that source (e.g. the UTM campaign)
-- @channel          kpi's channel of the original source (first touch)
-- @campaign_type    inbound, outbound or unclassified
-- @campaign_key     the campaign of the original source, where known
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
