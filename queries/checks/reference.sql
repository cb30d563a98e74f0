-- Reference files that contradict themselves.
SELECT 'reference/channel_mapping.csv: (' || system || ', ' || key || ') maps to more than one channel'
       AS problem
FROM ref_channel_mapping
GROUP BY system, key
HAVING count(DISTINCT channel) > 1
UNION ALL
SELECT 'reference/channel_mapping.csv: channel ''' || m.channel || ''' is not in reference/channels.csv'
FROM (SELECT DISTINCT channel FROM ref_channel_mapping) m
LEFT JOIN ref_channels c ON c.channel = m.channel
WHERE c.channel IS NULL
UNION ALL
SELECT 'reference/campaign_overrides.csv: campaign ''' || campaign_key || ''' has more than one channel'
FROM ref_campaign_overrides
GROUP BY campaign_key
HAVING count(DISTINCT channel) > 1
UNION ALL
SELECT 'reference/channels.csv: channel ''' || channel || ''' has more than one campaign type'
FROM ref_channels
GROUP BY channel
HAVING count(DISTINCT campaign_type) > 1
