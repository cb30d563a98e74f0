-- GA4 daily traffic -> web_traffic. GA4 has no bounce count: a bounce is a
-- session that was not engaged. GA4's placeholder campaign names such as
-- "(organic)" and "(not set)" mean "no campaign".
SELECT s.date,
       s.session_source AS source,
       s.session_medium AS medium,
       CASE WHEN s.session_campaign_name IS NULL
              OR s.session_campaign_name = ''
              OR s.session_campaign_name LIKE '(%)'
            THEN NULL
            ELSE campaign_key(s.session_campaign_name) END AS campaign_key,
       coalesce(m1.channel, m2.channel) AS mapped_channel,
       s.device_category AS device,
       s.sessions,
       s.total_users AS users,
       s.new_users,
       s.engaged_sessions,
       s.sessions - s.engaged_sessions AS bounces,
       s.user_engagement_duration AS session_duration_s,
       s.screen_page_views AS pageviews,
       s.key_events AS leads
FROM {{source}}.traffic s
LEFT JOIN channel_map m1
       ON m1.system = 'ga4'
      AND m1.key = lower(s.session_source) || '/' || lower(s.session_medium)
LEFT JOIN channel_map m2
       ON m2.system = 'ga4' AND m2.key = '*/' || lower(s.session_medium)
