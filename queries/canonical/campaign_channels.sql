-- campaign_channels: one channel per ad campaign key, used to classify the
-- same campaign in web analytics, CRM, email and cost data.
SELECT campaign_key, min(channel) AS channel
FROM ad_campaigns
WHERE campaign_key IS NOT NULL
GROUP BY campaign_key
