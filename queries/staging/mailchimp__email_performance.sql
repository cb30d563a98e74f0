-- Mailchimp campaign reports -> email_performance, on the send date (UTC). The
-- campaign key is the utm_campaign Mailchimp appends to the campaign's links:
-- its Google Analytics tracking slug, which /reports does not carry, so it comes
-- from the campaign list (tracking_google_analytics). With tracking off (''), or
-- for a report the list does not have (classic automation emails are not in
-- /campaigns), the key is the campaign title's.
SELECT s.date,
       'mailchimp' AS platform,
       s.id AS campaign_id,
       s.campaign_title AS campaign_name,
       campaign_key(coalesce(nullif(c.tracking_google_analytics, ''), s.campaign_title)) AS campaign_key,
       m.channel AS mapped_channel,
       s.emails_sent,
       s.emails_sent - s.bounces_hard_bounces - s.bounces_soft_bounces - s.bounces_syntax_errors AS delivered,
       s.opens_unique_opens AS unique_opens,
       s.clicks_unique_subscriber_clicks AS unique_clicks,
       s.forwards_forwards_count AS forwards,
       s.unsubscribed AS unsubscribes,
       s.bounces_hard_bounces + s.bounces_soft_bounces + s.bounces_syntax_errors AS bounces,
       s.abuse_reports
FROM {{source}}.reports s
LEFT JOIN {{source}}.campaigns c ON c.id = s.id
LEFT JOIN channel_map m ON m.system = 'mailchimp' AND m.key = '*'
