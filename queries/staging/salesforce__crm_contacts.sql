-- Salesforce leads and contacts -> crm_contacts. A person is a lead until
-- sales converts it (the SQL date) into a contact, whose id its
-- opportunities name: a converted lead is one row under its contact's id
-- (two leads converted into one contact are one person, dated by the
-- earliest), a contact entered without a lead is a row of its own.
-- Opportunity and customer dates are the person's first opportunity created
-- and first one won; the channel comes from the earliest lead's LeadSource,
-- the campaign from the person's earliest campaign membership (first
-- touch). MQL and churn dates come from the fields the source's settings
-- name, a Date taken as that day, a DateTime in {{timezone}}; a skipped stage
-- counts on the date of the later one, as for HubSpot.
WITH leads AS (
    SELECT coalesce(l."ConvertedContactId", l."Id") AS contact_id,
           l."CreatedDate" AS created,
           CASE WHEN length(l.mql_date) = 10 THEN CAST(l.mql_date AS DATE)
                ELSE local_date(arrow_cast(l.mql_date, 'Timestamp(ms, "UTC")'), '{{timezone}}') END AS mql,
           l."ConvertedDate" AS converted,
           l."LeadSource" AS lead_source
    FROM {{source}}.leads l
), people AS (
    SELECT contact_id, created, mql, converted, lead_source FROM leads
    UNION ALL
    SELECT c."Id", c."CreatedDate", CAST(NULL AS DATE), CAST(NULL AS DATE), c."LeadSource"
    FROM {{source}}.contacts c
    LEFT JOIN (SELECT DISTINCT "ConvertedContactId" FROM {{source}}.leads) l
           ON l."ConvertedContactId" = c."Id"
    WHERE l."ConvertedContactId" IS NULL
), person AS (
    SELECT contact_id,
           min(created) OVER (PARTITION BY contact_id) AS created,
           min(mql) OVER (PARTITION BY contact_id) AS mql,
           min(converted) OVER (PARTITION BY contact_id) AS converted,
           lead_source,
           row_number() OVER (PARTITION BY contact_id ORDER BY created, lead_source) AS n
    FROM people
), opportunities AS (
    SELECT "ContactId" AS contact_id,
           min(local_date("CreatedDate", '{{timezone}}')) AS opportunity_date,
           min(CASE WHEN "IsWon" THEN "CloseDate" END) AS customer_date
    FROM {{source}}.opportunities
    WHERE "ContactId" IS NOT NULL
    GROUP BY "ContactId"
), touches AS (
    SELECT coalesce(l."ConvertedContactId", m."LeadId", m."ContactId") AS contact_id,
           c."Name" AS campaign_name,
           row_number() OVER (PARTITION BY coalesce(l."ConvertedContactId", m."LeadId", m."ContactId")
                              ORDER BY m."CreatedDate", m."Id") AS n
    FROM {{source}}.campaign_members m
    JOIN {{source}}.campaigns c ON c."Id" = m."CampaignId"
    LEFT JOIN {{source}}.leads l ON l."Id" = m."LeadId"
), churn AS (
    SELECT "Id" AS contact_id,
           CASE WHEN length(churn_date) = 10 THEN CAST(churn_date AS DATE)
                ELSE local_date(arrow_cast(churn_date, 'Timestamp(ms, "UTC")'), '{{timezone}}') END AS churn_date
    FROM {{source}}.contacts
)
SELECT p.contact_id,
       local_date(p.created, '{{timezone}}') AS created_date,
       least(local_date(p.created, '{{timezone}}'), p.mql, p.converted,
             o.opportunity_date, o.customer_date) AS lead_date,
       least(p.mql, p.converted, o.opportunity_date, o.customer_date) AS mql_date,
       least(p.converted, o.opportunity_date, o.customer_date) AS sql_date,
       least(o.opportunity_date, o.customer_date) AS opportunity_date,
       o.customer_date,
       ch.churn_date,
       p.lead_source AS source,
       t.campaign_name AS source_detail,
       campaign_key(nullif(t.campaign_name, '')) AS campaign_key,
       m.channel AS mapped_channel
FROM person p
LEFT JOIN opportunities o ON o.contact_id = p.contact_id
LEFT JOIN touches t ON t.contact_id = p.contact_id AND t.n = 1
LEFT JOIN churn ch ON ch.contact_id = p.contact_id
LEFT JOIN channel_map m ON m.system = 'salesforce' AND m.key = p.lead_source
WHERE p.n = 1
