//! The synthetic company: one walk over the calendar that produces every raw
//! stream of [`crate::streams`].
//!
//! The story, in short: a B2B software vendor (reporting in EUR, based in
//! Europe/Madrid) sells through one or more markets. In every market it runs
//! Google, Meta and LinkedIn campaigns, sends Mailchimp emails, ranks in Google
//! for its brand and category keywords, posts on social networks and gets
//! referral and partner traffic. Ad clicks become GA4 sessions, sessions and
//! ad lead forms become HubSpot contacts, and contacts walk down the funnel
//! (MQL, SQL, opportunity, customer), with renewals and churn afterwards.
//!
//! Why it is built the way it is:
//! - Everything is streamed day by day. A contact's whole future (stage dates,
//!   deals, renewals, churn) is decided the moment it is created and written
//!   out at once, so memory does not grow with history or scale; dates after
//!   `end_date` are simply not revealed (NULL, or the deal is still open).
//! - The company existed before the generated period: leads of the 8 months
//!   before `start_date` and customers won in the 7 years before are simulated
//!   too, and written when something still happens to them inside the period
//!   (a stage, a deal closing, a renewal, churn). Without that history the first
//!   months would have no deals and the first year no renewals, and every
//!   comparison with last year would be skewed. So the contacts snapshot holds
//!   some contacts created before `start_date`, as a real CRM would.
//! - Each concern draws from its own seeded RNG, so the CRM (whose number of
//!   draws varies with the funnel) does not shift ad or SEO numbers: changing
//!   one part of the story leaves the others recognisable.
//! - Campaign display names ("Brand Search ES") and utm / CRM keys
//!   ("brand_search_es") are both derived from one name through
//!   [`campaign_key`], the same normalisation staging uses to join them.

use std::f64::consts::TAU;
use std::fmt::Write as _;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMillisecondBuilder, make_builder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime, Weekday};
use kpi_lake::StreamSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::streams::{find, raw_streams};
use crate::{Company, RawSink, SinkError, Summary};

mod ads;
mod calendar;
mod catalogue;
mod crm;
mod day;
mod mailchimp;
mod other_sources;
mod random;
mod salesforce;
mod search_console;
mod table;
#[cfg(test)]
mod tests;
mod web;

use ads::*;
use calendar::*;
use catalogue::*;
use crm::*;
use mailchimp::*;
use other_sources::*;
use random::*;
use salesforce::*;
use search_console::*;
use table::*;
use web::*;

/// Why the company could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The [`Company`] parameters make no sense (e.g. a scale that is not positive).
    #[error("invalid company: {0}")]
    InvalidCompany(String),
    /// The generator needs a stream that [`raw_streams`] does not declare.
    #[error("the sandbox declares no raw stream {0}/{1}")]
    UnknownStream(&'static str, &'static str),
    /// A generated batch did not fit its stream's Arrow schema (a bug).
    #[error("building a raw batch: {0}")]
    Arrow(#[from] ArrowError),
    /// The sink refused a batch; passed through unchanged.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Snapshot streams (CRM objects, campaign lists) are handed over in batches of
/// about this many rows, so that neither side holds a whole snapshot.
const SNAPSHOT_BATCH_ROWS: usize = 8192;

/// Months before the generated period in which every lead is simulated: longer
/// than any lead -> MQL -> SQL -> opportunity -> close path.
const FULL_HISTORY_MONTHS: u32 = 8;

pub use kpi_core::campaign_key;

/// Generates the whole company described by `company` into `sink`: every day
/// from [`Company::start_date`] to `end_date` for the daily streams, and the
/// CRM and campaign-list snapshots in batches along the way.
///
/// Deterministic: the same `company` always produces the same batches, in the
/// same order.
pub fn generate(company: &Company, sink: &mut dyn RawSink) -> Result<Summary, GenerateError> {
    let mut generator = Generator::new(company)?;
    generator.emit_campaign_lists(sink)?;
    generator.seed_history(company.start_date(), company.seed, sink)?;
    let mut date = company.start_date();
    while date <= company.end_date {
        generator.day(date, sink)?;
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    generator.crm.contacts.flush_snapshot(sink)?;
    generator.crm.deals.flush_snapshot(sink)?;
    generator.crm.salesforce.flush(sink)?;
    generator.tables.mailchimp_campaigns.flush_snapshot(sink)?;
    Ok(generator.summary())
}

// ---------------------------------------------------------------------------
// Company state
// ---------------------------------------------------------------------------

/// One campaign of one market.
struct Campaign {
    template: &'static AdTemplate,
    id: i64,
    /// The id as text, for platforms whose ids are strings (Meta).
    id_text: String,
    /// Display name, "Brand Search ES".
    name: String,
    /// utm / CRM key, "brand_search_es".
    key: String,
    from: NaiveDate,
    to: NaiveDate,
    months: &'static [u32],
    /// Campaign-level performance: better ads get more clicks for less.
    efficiency: f64,
}

impl Campaign {
    /// Template `t` (the `j`th of its list) in market `i`, with `code` in
    /// its name.
    fn new(
        i: usize,
        j: usize,
        t: &'static AdTemplate,
        code: &str,
        end: NaiveDate,
        efficiency: f64,
    ) -> Self {
        let n = (i * 1000 + j) as i64;
        let id = match t.platform {
            Google => 20_100_000_000 + n,
            Meta => 238_510_000_000_000 + n,
            LinkedIn => 310_000_000 + n,
            Microsoft => 410_000_000 + n,
        };
        let name = format!("{} {code}", t.name);
        let (from, to, months): (NaiveDate, NaiveDate, &'static [u32]) = match t.activity {
            Always => (NaiveDate::MIN, NaiveDate::MAX, &[]),
            InMonths(m) => (NaiveDate::MIN, NaiveDate::MAX, m),
            Window { from, to } => (
                (end - Months::new(from)) + Days::new(1),
                end - Months::new(to),
                &[],
            ),
        };
        Campaign {
            template: t,
            id,
            id_text: id.to_string(),
            key: campaign_key(&name),
            name,
            from,
            to,
            months,
            efficiency,
        }
    }

    fn active(&self, date: NaiveDate) -> bool {
        date >= self.from
            && date <= self.to
            && (self.months.is_empty() || self.months.contains(&date.month()))
    }

    /// The platform's status word at `end`.
    fn status(&self, end: NaiveDate) -> &'static str {
        let platform = self.template.platform;
        if self.active(end) {
            if platform == Google {
                "ENABLED"
            } else if platform == Microsoft {
                "Active"
            } else {
                "ACTIVE"
            }
        } else if self.to < end {
            match platform {
                Google => "REMOVED",
                Meta => "ARCHIVED",
                LinkedIn => "COMPLETED",
                Microsoft => "Deleted",
            }
        } else if platform == Microsoft {
            "Paused"
        } else {
            "PAUSED"
        }
    }
}

/// A Search Console query of one market, with its slowly drifting ranking.
struct Query {
    text: String,
    brand: bool,
    /// Weekday impressions at `end_date` when ranking on page one.
    demand: f64,
    position: f64,
    /// Where SEO work (or competition) is taking it.
    target: f64,
    mobile_share: f64,
}

struct Market {
    /// Position (0 = the home market), for unique ids.
    index: usize,
    /// Appended to vendor names and queries: empty for the first market, so
    /// that a one-market company reads naturally.
    tag: String,
    /// Relative size (traffic, CRM volume); the first market is 1.0.
    size: f64,
    list_id: String,
    campaigns: Vec<Campaign>,
    /// Its Microsoft Advertising campaigns (see `MICROSOFT_TEMPLATES`).
    microsoft_campaigns: Vec<Campaign>,
    queries: Vec<Query>,
    /// Display names ("Monthly Newsletter ES") and keys of the Mailchimp campaigns.
    email_names: [String; 3],
    email_keys: [String; 3],
    /// Expected email visits for today and the next three days, per email.
    email_visits: [[f64; 4]; 3],
    emails_sent: u64,
    partner_key: String,
    launch_key: String,
}

impl Market {
    fn new(i: usize, rng: &mut ChaCha8Rng, company: &Company) -> Self {
        let code = market_code(i);
        let tag = if i == 0 {
            String::new()
        } else {
            format!(" {code}")
        };
        let size = if i == 0 {
            1.0
        } else {
            rng.random_range(0.6..1.4)
        };
        let end = company.end_date;
        let campaigns = AD_TEMPLATES
            .iter()
            .enumerate()
            .map(|(j, t)| Campaign::new(i, j, t, &code, end, noise(rng, 0.1)))
            .collect();
        let email_names = EMAILS.each_ref().map(|e| format!("{} {code}", e.title));
        let email_keys = email_names.each_ref().map(|n| campaign_key(n));
        Self {
            list_id: format!("{:010x}", rng.random::<u64>() & 0xff_ffff_ffff),
            queries: queries(rng, &tag),
            partner_key: campaign_key(&format!("Partner Webinar {code}")),
            launch_key: campaign_key(&format!("Organic Social Launch {code}")),
            index: i,
            tag,
            size,
            campaigns,
            microsoft_campaigns: Vec::new(),
            email_names,
            email_keys,
            email_visits: [[0.0; 4]; 3],
            emails_sent: 0,
        }
    }
}

/// About a hundred queries: the brand, and the category crossed with the usual
/// modifiers. Other markets get their own copy (tagged) so that query text stays
/// unique within a day's partition.
fn queries(rng: &mut ChaCha8Rng, tag: &str) -> Vec<Query> {
    let tag = tag.to_lowercase();
    let mut out = Vec::with_capacity(BRAND_QUERIES.len() + TOPICS.len() * MODIFIERS.len());
    for q in BRAND_QUERIES {
        let position = rng.random_range(1.0..2.2);
        out.push(Query {
            text: format!("{q}{tag}"),
            brand: true,
            demand: if q == BRAND {
                500.0
            } else {
                40.0 * noise(rng, 0.7)
            },
            position,
            target: rng.random_range(1.0..2.0),
            mobile_share: rng.random_range(0.3..0.5),
        });
    }
    for (t, topic) in TOPICS.iter().enumerate() {
        for (m, (pre, post)) in MODIFIERS.iter().enumerate() {
            // Head terms (no modifier) are searched most, and rank worse.
            let head = if m == 0 { 4.0 } else { 1.0 };
            let position = (3.0_f64.ln() + rng.random::<f64>() * (35.0_f64 / 3.0).ln()).exp();
            let position = (position * if m == 0 { 1.4 } else { 1.0 }).clamp(1.5, 40.0);
            out.push(Query {
                text: format!("{pre}{topic}{post}{tag}"),
                brand: false,
                demand: 30.0 * head * noise(rng, 0.9) * (1.0 - t as f64 * 0.03),
                position,
                target: (position * noise(rng, 0.45)).clamp(1.5, 40.0),
                mobile_share: rng.random_range(0.25..0.45),
            });
        }
    }
    out
}

/// Company-wide social presence.
struct Social {
    followers: [f64; 4],
}

/// The weekly backlink crawl of example.com.
struct Backlinks {
    referring_domains: f64,
    ratio: f64,
    domain_rating: f64,
}

/// Where a contact came from (first touch).
#[derive(Clone, Copy)]
struct Origin<'a> {
    source: &'static str,
    data_1: Option<&'a str>,
    data_2: Option<&'a str>,
    quality: f64,
}

/// The independent random streams (see the module docs for why).
struct Rngs {
    ads: ChaCha8Rng,
    web: ChaCha8Rng,
    seo: ChaCha8Rng,
    email: ChaCha8Rng,
    social: ChaCha8Rng,
    costs: ChaCha8Rng,
    /// Microsoft Advertising's days, apart so the other ads stay as they were.
    microsoft: ChaCha8Rng,
}

struct Tables {
    google_stats: Table,
    google_campaigns: Table,
    meta_insights: Table,
    meta_campaigns: Table,
    linkedin_analytics: Table,
    linkedin_campaigns: Table,
    microsoft: Table,
    microsoft_campaigns: Table,
    ga4: Table,
    search_console: Table,
    mailchimp: Table,
    mailchimp_campaigns: Table,
    social_pages: Table,
    social_mentions: Table,
    backlinks: Table,
    costs: Table,
}

struct Generator {
    end: NaiveDate,
    /// Volume multiplier below scale 1 (tests); 1.0 otherwise.
    volume: f64,
    /// Sum of market sizes: company-wide volumes (social, tools) scale with it.
    total_size: f64,
    markets: Vec<Market>,
    rngs: Rngs,
    tables: Tables,
    crm: Crm,
    social: Social,
    backlinks: Backlinks,
    /// Scratch: today's (campaign index, clicks) of the current market.
    paid: Vec<(usize, u64)>,
}

/// `v` in decimal, without allocating.
fn decimal(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ascii digits")
}

/// The code of market `i` ("ES" for the first, then "M002", "M003", ...).
fn market_code(i: usize) -> String {
    if i == 0 {
        "ES".to_string()
    } else {
        format!("M{:03}", i + 1)
    }
}

/// Campaigns that exist only as `utm_campaign` values (no ad platform knows
/// them), with the channel and campaign type a marketer would give them in
/// `reference/campaign_overrides.csv`: HubSpot files a partner's tracked link
/// under "other campaigns", but the company counts it as referral.
pub fn campaign_overrides(company: &Company) -> Vec<(String, &'static str, &'static str)> {
    let markets = if company.scale >= 1.0 {
        (company.scale.round() as usize).max(1)
    } else {
        1
    };
    (0..markets)
        .flat_map(|i| {
            let code = market_code(i);
            [
                (
                    campaign_key(&format!("Partner Webinar {code}")),
                    "referral",
                    "inbound",
                ),
                (
                    campaign_key(&format!("Organic Social Launch {code}")),
                    "organic_social",
                    "inbound",
                ),
            ]
        })
        .collect()
}

/// HubSpot's original source and its two drill-down properties, laid out as
/// HubSpot fills them (its "Understand source properties" page): the
/// `utm_campaign` value is drill-down 1 for paid search, email marketing and
/// other campaigns, drill-down 2 for organic and paid social; organic search
/// has the search term (usually unknown) in 1 and the engine in 2; referrals
/// the referring domain in 1. A referral link that carries a `utm_campaign`
/// is "other campaigns" for HubSpot, not a referral.
fn hubspot_drill_down<'a>(origin: &Origin<'a>) -> (&'a str, Option<&'a str>, Option<&'a str>) {
    match (origin.source, origin.data_2) {
        ("PAID_SEARCH" | "OTHER_CAMPAIGNS" | "EMAIL_MARKETING", campaign) => {
            (origin.source, campaign, None)
        }
        ("REFERRALS", Some(campaign)) => ("OTHER_CAMPAIGNS", Some(campaign), None),
        ("ORGANIC_SEARCH", _) => (origin.source, None, origin.data_1),
        _ => (origin.source, origin.data_1, origin.data_2),
    }
}
