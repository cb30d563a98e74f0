-- Backlink tool snapshots -> backlinks (one row per crawl date).
SELECT s.date,
       s.domain,
       s.referring_domains_followed,
       s.backlinks_followed,
       s.domain_rating,
       m.channel AS mapped_channel
FROM {{source}}.snapshots s
LEFT JOIN channel_map m ON m.system = 'backlinks' AND m.key = '*'
