-- Search Console query stats -> search_performance.
SELECT s.date,
       s.site_url AS site,
       s.query,
       s.device,
       s.clicks,
       s.impressions,
       s.position,
       s.position * s.impressions AS position_x_impressions,
       m.channel AS mapped_channel
FROM {{source}}.search_analytics s
LEFT JOIN channel_map m ON m.system = 'search_console' AND m.key = '*'
