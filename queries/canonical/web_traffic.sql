-- web_traffic: web analytics sessions per day, source, medium, campaign and
-- device. `leads` are the analytics key events (form submissions); the KPI
-- `leads` comes from the CRM.
--
-- @date               the day, in the analytics property's time zone
-- @source             the session's source (google, newsletter, ...)
-- @medium             the session's medium (cpc, organic, email, ...)
-- @campaign_key       the session's UTM campaign
-- @channel            kpi's channel: an override, else the ad campaign's, else the source/medium mapping
-- @campaign_type      inbound, outbound or unclassified
-- @device             the analytics device category (desktop, mobile, tablet)
-- @sessions           sessions
-- @users              active users (summed over days: not distinct over a period)
-- @new_users          first-time users
-- @engaged_sessions   sessions the analytics tool counts as engaged
-- @bounces            sessions that were not engaged
-- @session_duration_s total session time in seconds
-- @pageviews          page views
-- @leads              the analytics key events (form submissions)
SELECT u.date,
       u.source,
       u.medium,
       u.campaign_key,
       coalesce(o.channel, cc.channel, u.mapped_channel, 'other') AS channel,
       coalesce(o.campaign_type, t.campaign_type, 'unclassified') AS campaign_type,
       u.device,
       u.sessions,
       u.users,
       u.new_users,
       u.engaged_sessions,
       u.bounces,
       u.session_duration_s,
       u.pageviews,
       u.leads
FROM ({{inputs}}) u
LEFT JOIN campaign_overrides o ON o.campaign_key = u.campaign_key
LEFT JOIN campaign_channels cc ON cc.campaign_key = u.campaign_key
LEFT JOIN channel_types t ON t.channel = coalesce(o.channel, cc.channel, u.mapped_channel, 'other')
