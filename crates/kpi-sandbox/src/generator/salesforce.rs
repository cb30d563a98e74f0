//! The US business unit's CRM, Salesforce: each of its people as a Lead
//! (converted into a Contact once sales accepts it, the SQL date), its deals
//! as Opportunities of that contact, and its first touch as a Campaign
//! membership, shaped as the `salesforce` raw streams keep them.
//!
//! The same person in HubSpot and in Salesforce gives the same funnel: the
//! MQL date is the org's `MQL_Date__c` DateTime (HubSpot's lifecycle
//! timestamp), conversion is the SQL day, the opportunity and customer dates
//! come from the opportunities, the churn day is the contact's
//! `Churn_Date__c` Date; `LeadSource` maps to the channel HubSpot's original
//! source maps to, and the campaign is the `utm_campaign` HubSpot staging
//! would take from the drill-downs.

use std::collections::HashMap;

use super::*;

/// Sales reps, by deal number, for `Owner.Name`.
const OWNERS: [&str; 4] = [
    "Emily Carter",
    "Marcus Reed",
    "Olivia Chen",
    "Daniel Brooks",
];

/// An 18-character Salesforce id with the object's key prefix
/// (`00Q` Lead, `003` Contact, `006` Opportunity, `701` Campaign, `00v`
/// CampaignMember).
pub(super) fn sf_id(prefix: &str, n: u64) -> String {
    format!("{prefix}5g{n:0>10}AAE")
}

/// The `LeadSource` picklist value for HubSpot's original source:
/// `reference/channel_mapping.csv` maps both to the same channel.
pub(super) fn lead_source(hubspot_source: &str) -> &'static str {
    match hubspot_source {
        "PAID_SEARCH" => "Paid Search",
        "PAID_SOCIAL" => "Paid Social",
        "ORGANIC_SEARCH" => "Organic Search",
        "SOCIAL_MEDIA" => "Social Media",
        "EMAIL_MARKETING" => "Email",
        "REFERRALS" | "AI_REFERRALS" => "Partner Referral",
        "DIRECT_TRAFFIC" => "Web",
        "OFFLINE" => "Trade Show",
        _ => "Other",
    }
}

/// Salesforce's default stage names for HubSpot's.
fn stage_name(hubspot_stage: &str) -> &'static str {
    match hubspot_stage {
        "closedwon" => "Closed Won",
        "closedlost" => "Closed Lost",
        "appointmentscheduled" => "Prospecting",
        "qualifiedtobuy" => "Qualification",
        "presentationscheduled" => "Needs Analysis",
        "decisionmakerboughtin" => "Proposal/Price Quote",
        _ => "Negotiation/Review",
    }
}

/// A DateTime field's value as the raw stream keeps it (RFC 3339, UTC).
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The five Salesforce objects' snapshots.
pub(super) struct Salesforce {
    pub(super) leads: Table,
    pub(super) contacts: Table,
    pub(super) opportunities: Table,
    pub(super) campaigns: Table,
    pub(super) members: Table,
    /// Campaign id by name, in order of first use.
    campaign_ids: HashMap<String, String>,
}

impl Salesforce {
    pub(super) fn new() -> Result<Self, GenerateError> {
        Ok(Salesforce {
            leads: Table::new("salesforce", "leads")?,
            contacts: Table::new("salesforce", "contacts")?,
            opportunities: Table::new("salesforce", "opportunities")?,
            campaigns: Table::new("salesforce", "campaigns")?,
            members: Table::new("salesforce", "campaign_members")?,
            campaign_ids: HashMap::new(),
        })
    }

    /// Writes `p` and its deals.
    pub(super) fn person(
        &mut self,
        p: &Person<'_>,
        deals: &[Deal],
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        let lead_id = sf_id("00Q", p.number);
        let contact_id = p.sql.map(|_| sf_id("003", p.number));
        let source = lead_source(hubspot_drill_down(&p.origin).0);
        let (hs_source, data_1, data_2) = hubspot_drill_down(&p.origin);
        // The campaign HubSpot staging reads from the drill-downs.
        let campaign = match hs_source {
            "PAID_SEARCH" | "EMAIL_MARKETING" | "OTHER_CAMPAIGNS" => data_1,
            "SOCIAL_MEDIA" | "PAID_SOCIAL" => data_2,
            _ => None,
        }
        .filter(|c| !c.is_empty());
        let status = match (p.sql, p.mql) {
            (Some(_), _) => "Closed - Converted",
            (None, Some(_)) => "Working - Contacted",
            (None, None) => "Open - Not Contacted",
        };
        let lead_modified = [p.mql, p.sql]
            .into_iter()
            .flatten()
            .map(|s| s.0)
            .fold(p.lead.0, i64::max);
        let mql_text = p.mql.map(|m| rfc3339(m.0));
        self.leads
            .row()
            .str(&lead_id)
            .ts(Some(p.lead.0))
            .ts(Some(lead_modified))
            .opt_str(Some(status))
            .opt_str(Some(source))
            .boolean(p.sql.is_some())
            .opt_date(p.sql.map(|s| s.1))
            .opt_str(contact_id.as_deref())
            .opt_str(None)
            .opt_str(mql_text.as_deref())
            .end();
        if let (Some(contact_id), Some(sql)) = (&contact_id, p.sql) {
            let modified = p.churn.map_or(sql.0, |c| c.0.max(sql.0));
            let churn = p.churn.map(|c| c.1.format("%Y-%m-%d").to_string());
            self.contacts
                .row()
                .str(contact_id)
                .ts(Some(sql.0))
                .ts(Some(modified))
                .opt_str(Some(source))
                .opt_str(churn.as_deref())
                .end();
            for d in deals {
                self.opportunity(d, contact_id, source);
            }
        }
        if let Some(campaign) = campaign {
            let campaign_id = self.campaign(campaign, source, p.lead);
            let member_modified = p.sql.map_or(p.lead.0, |s| s.0.max(p.lead.0));
            self.members
                .row()
                .str(&sf_id("00v", p.number))
                .str(&campaign_id)
                .opt_str(Some(&lead_id))
                .opt_str(contact_id.as_deref())
                .ts(Some(p.lead.0))
                .opt_date(Some(p.lead.1))
                .boolean(true)
                .ts(Some(member_modified))
                .end();
        }
        for t in [
            &mut self.leads,
            &mut self.contacts,
            &mut self.opportunities,
            &mut self.campaigns,
            &mut self.members,
        ] {
            t.flush_snapshot_if_full(sink)?;
        }
        Ok(())
    }

    /// The id of campaign `name`, created (dated by its first member) when
    /// first used.
    fn campaign(&mut self, name: &str, source: &str, (ms, day): (i64, NaiveDate)) -> String {
        if let Some(id) = self.campaign_ids.get(name) {
            return id.clone();
        }
        let id = sf_id("701", self.campaign_ids.len() as u64 + 1);
        let kind = match source {
            "Email" => "Email",
            "Partner Referral" | "Other" => "Partners",
            "Social Media" => "Social Media",
            _ => "Advertisement",
        };
        self.campaigns
            .row()
            .str(&id)
            .str(name)
            .opt_str(Some(kind))
            .opt_str(Some("In Progress"))
            .opt_date(Some(day))
            .ts(Some(ms))
            .end();
        self.campaign_ids.insert(name.to_string(), id.clone());
        id
    }

    /// One opportunity of `contact_id`. An open one has the expected close
    /// date Salesforce requires: a month after it was created.
    fn opportunity(&mut self, d: &Deal, contact_id: &str, source: &str) {
        let closed = d.close_ms.is_some();
        let close = d.close.unwrap_or(d.create + Days::new(30));
        let modified = d.close_ms.map_or(d.create_ms, |c| c.max(d.create_ms));
        let kind = if d.pipeline == "renewals" {
            "Renewal"
        } else {
            "New Business"
        };
        self.opportunities
            .row()
            .str(&sf_id("006", d.number))
            .str(&d.name)
            .ts(Some(d.create_ms))
            .ts(Some(modified))
            .opt_date(Some(close))
            .str(stage_name(d.stage))
            .boolean(closed)
            .boolean(closed && d.stage == "closedwon")
            .opt_float(d.amount)
            .opt_str(Some(kind))
            .opt_str(Some(source))
            .opt_str(Some(contact_id))
            .opt_str(Some(OWNERS[(d.number % OWNERS.len() as u64) as usize]))
            .str(d.currency)
            .end();
    }

    /// Hands the rest of every snapshot to the sink.
    pub(super) fn flush(&mut self, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        for t in [
            &mut self.leads,
            &mut self.contacts,
            &mut self.opportunities,
            &mut self.campaigns,
            &mut self.members,
        ] {
            t.flush_snapshot(sink)?;
        }
        Ok(())
    }
}
