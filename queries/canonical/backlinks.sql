-- backlinks: backlink snapshots (one per crawl date); not additive over days.
SELECT u.date,
       u.domain,
       coalesce(u.mapped_channel, 'organic_search') AS channel,
       coalesce(t.campaign_type, 'inbound') AS campaign_type,
       u.referring_domains_followed,
       u.backlinks_followed,
       u.domain_rating
FROM ({{inputs}}) u
LEFT JOIN channel_types t ON t.channel = coalesce(u.mapped_channel, 'organic_search')
