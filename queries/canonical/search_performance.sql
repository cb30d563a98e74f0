-- search_performance: organic search queries per day and device.
--
-- @date                   the day (Search Console reports in Pacific time)
-- @site                   the Search Console property
-- @query                  the search query (anonymised queries are not reported)
-- @device                 the device as Search Console names it (DESKTOP, MOBILE, TABLET)
-- @channel                organic_search unless mapped otherwise
-- @campaign_type          inbound unless mapped otherwise
-- @clicks                 clicks from Google's results
-- @impressions            times the site was shown in results
-- @position               Google's average position that day (weight it by impressions to sum)
-- @position_x_impressions position times impressions: sum it and divide by impressions for an average
SELECT u.date,
       u.site,
       u.query,
       u.device,
       coalesce(u.mapped_channel, 'organic_search') AS channel,
       coalesce(t.campaign_type, 'inbound') AS campaign_type,
       u.clicks,
       u.impressions,
       u.position,
       u.position_x_impressions
FROM ({{inputs}}) u
LEFT JOIN channel_types t ON t.channel = coalesce(u.mapped_channel, 'organic_search')
