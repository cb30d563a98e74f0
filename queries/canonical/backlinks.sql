-- backlinks: backlink snapshots (one per crawl date); not additive over days.
--
-- @date                       the crawl date of the snapshot
-- @domain                     the domain the snapshot is of
-- @channel                    organic_search unless mapped otherwise
-- @campaign_type              inbound unless mapped otherwise
-- @referring_domains_followed domains linking with followed links on that date
-- @backlinks_followed         followed backlinks on that date
-- @domain_rating              the tool's authority score of the domain
SELECT u.date,
       u.domain,
       coalesce(u.mapped_channel, 'organic_search') AS channel,
       coalesce(t.campaign_type, 'inbound') AS campaign_type,
       u.referring_domains_followed,
       u.backlinks_followed,
       u.domain_rating
FROM ({{inputs}}) u
LEFT JOIN channel_types t ON t.channel = coalesce(u.mapped_channel, 'organic_search')
