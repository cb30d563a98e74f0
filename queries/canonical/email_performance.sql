-- email_performance: one row per email campaign send, on its send date.
--
-- @date          the send date
-- @platform      the email platform's source type (mailchimp)
-- @campaign_id   the email campaign, as the platform numbers it
-- @campaign_name the email campaign's name
-- @campaign_key  its UTM campaign, which ties it to web and CRM rows
-- @channel       kpi's channel (email unless an override says otherwise)
-- @campaign_type inbound, outbound or unclassified
-- @emails_sent   emails sent
-- @delivered     emails delivered (sent less bounces)
-- @unique_opens  recipients who opened
-- @unique_clicks recipients who clicked
-- @forwards      forwards
-- @unsubscribes  unsubscribes
-- @bounces       hard and soft bounces
-- @abuse_reports spam complaints
SELECT u.date,
       u.platform,
       u.campaign_id,
       u.campaign_name,
       u.campaign_key,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.emails_sent,
       u.delivered,
       u.unique_opens,
       u.unique_clicks,
       u.forwards,
       u.unsubscribes,
       u.bounces,
       u.abuse_reports
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
