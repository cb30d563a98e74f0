-- Social page insights and listening mentions -> social_performance, one row
-- per network, day and kind of figure.
SELECT s.date,
       s.network,
       m.channel AS mapped_channel,
       s.impressions,
       s.engagements AS interactions,
       s.link_clicks,
       s.followers,
       CAST(NULL AS BIGINT) AS mentions_positive,
       CAST(NULL AS BIGINT) AS mentions_neutral,
       CAST(NULL AS BIGINT) AS mentions_negative
FROM {{source}}.page_insights s
LEFT JOIN channel_map m ON m.system = 'social' AND m.key = '*'
UNION ALL
SELECT s.date,
       s.network,
       m.channel AS mapped_channel,
       CAST(NULL AS BIGINT) AS impressions,
       CAST(NULL AS BIGINT) AS interactions,
       CAST(NULL AS BIGINT) AS link_clicks,
       CAST(NULL AS BIGINT) AS followers,
       s.mentions_positive,
       s.mentions_neutral,
       s.mentions_negative
FROM {{source}}.mentions s
LEFT JOIN channel_map m ON m.system = 'social' AND m.key = '*'
