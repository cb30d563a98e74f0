-- A custom source's email campaign sends (another email platform) ->
-- email_performance, on the send date. The campaign key is the campaign's name
-- (the utm_campaign its links carry, when the two are the same). The channel is
-- `channel` when given (a kpi channel or its mapping under the source's name),
-- else email. delivered, when the export has none, is sent less bounces.
SELECT s.date,
       coalesce(s.platform, '{{source_name}}') AS platform,
       coalesce(s.campaign_id, s.campaign) AS campaign_id,
       s.campaign AS campaign_name,
       campaign_key(s.campaign) AS campaign_key,
       coalesce(t.channel, m.channel, 'email') AS mapped_channel,
       s.emails_sent,
       coalesce(s.delivered, s.emails_sent - s.bounces) AS delivered,
       s.unique_opens,
       s.unique_clicks,
       s.forwards,
       s.unsubscribes,
       s.bounces,
       s.abuse_reports
FROM {{source}}.email_performance s
LEFT JOIN channel_types t ON t.channel = lower(trim(s.channel))
LEFT JOIN channel_map m ON m.system = '{{source_name}}' AND m.key = lower(trim(s.channel))
