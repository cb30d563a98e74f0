-- A custom source's web analytics rows (Matomo, Plausible, Adobe exports) ->
-- web_traffic. The channel is `channel` when it names one of kpi's channels,
-- else its mapping under the source's name, else the source/medium rules GA4
-- rows get (reference/channel_mapping.csv, system ga4). bounces, when the
-- export has none, are the sessions that were not engaged.
SELECT s.date,
       s.source,
       s.medium,
       CASE WHEN s.campaign IS NULL OR s.campaign = '' OR s.campaign LIKE '(%)'
            THEN NULL ELSE campaign_key(s.campaign) END AS campaign_key,
       coalesce(t.channel, m.channel, g1.channel, g2.channel) AS mapped_channel,
       s.device,
       s.sessions,
       s.users,
       s.new_users,
       s.engaged_sessions,
       coalesce(s.bounces, s.sessions - s.engaged_sessions) AS bounces,
       s.session_duration_s,
       s.pageviews,
       s.leads
FROM {{source}}.web_traffic s
LEFT JOIN channel_types t ON t.channel = lower(trim(s.channel))
LEFT JOIN channel_map m ON m.system = '{{source_name}}' AND m.key = lower(trim(s.channel))
LEFT JOIN channel_map g1
       ON g1.system = 'ga4'
      AND g1.key = lower(s.source) || '/' || lower(s.medium)
LEFT JOIN channel_map g2
       ON g2.system = 'ga4' AND g2.key = '*/' || lower(s.medium)
