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
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder, make_builder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime, Weekday};
use kpi_lake::StreamSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::streams::{find, raw_streams};
use crate::{Company, RawSink, SinkError, Summary};

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
    generator.tables.mailchimp_campaigns.flush_snapshot(sink)?;
    Ok(generator.summary())
}

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

/// Column builders for one raw stream, filled row by row in schema order.
struct Table {
    spec: StreamSpec,
    cols: Vec<Box<dyn ArrayBuilder>>,
    /// Rows not yet handed to the sink.
    len: usize,
    /// Rows generated so far, for the summary.
    total: u64,
}

impl Table {
    fn new(source_type: &'static str, stream: &'static str) -> Result<Self, GenerateError> {
        let spec =
            find(source_type, stream).ok_or(GenerateError::UnknownStream(source_type, stream))?;
        let cols = spec
            .schema
            .fields()
            .iter()
            .map(|f| make_builder(f.data_type(), 256))
            .collect();
        Ok(Self {
            spec,
            cols,
            len: 0,
            total: 0,
        })
    }

    /// Starts a row; its values must be given in schema order, then [`Row::end`].
    fn row(&mut self) -> Row<'_> {
        Row {
            table: self,
            next: 0,
        }
    }

    fn take(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len = 0;
        let cols: Vec<ArrayRef> = self.cols.iter_mut().map(|b| b.finish()).collect();
        // try_new checks types, nullability and lengths against the stream's schema.
        RecordBatch::try_new(self.spec.schema.clone(), cols).map(Some)
    }

    fn flush_daily(
        &mut self,
        date: NaiveDate,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        if let Some(batch) = self.take()? {
            sink.daily(&self.spec, date, batch)?;
        }
        Ok(())
    }

    fn flush_snapshot(&mut self, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        if let Some(batch) = self.take()? {
            sink.snapshot(&self.spec, batch)?;
        }
        Ok(())
    }

    fn flush_snapshot_if_full(&mut self, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        if self.len >= SNAPSHOT_BATCH_ROWS {
            self.flush_snapshot(sink)?;
        }
        Ok(())
    }
}

/// One row being appended to a [`Table`]; each call fills the next column.
struct Row<'a> {
    table: &'a mut Table,
    next: usize,
}

impl Row<'_> {
    fn builder<B: ArrayBuilder>(&mut self) -> &mut B {
        let i = self.next;
        self.next += 1;
        let Table { cols, spec, .. } = &mut *self.table;
        cols[i].as_any_mut().downcast_mut::<B>().unwrap_or_else(|| {
            panic!(
                "{}/{}: column {} is not a {}",
                spec.source_type,
                spec.stream,
                spec.schema.field(i).name(),
                std::any::type_name::<B>()
            )
        })
    }

    fn str(mut self, v: &str) -> Self {
        self.builder::<StringBuilder>().append_value(v);
        self
    }

    fn opt_str(mut self, v: Option<&str>) -> Self {
        self.builder::<StringBuilder>().append_option(v);
        self
    }

    fn int(mut self, v: i64) -> Self {
        self.builder::<Int64Builder>().append_value(v);
        self
    }

    fn count(self, v: u64) -> Self {
        self.int(v as i64)
    }

    fn float(mut self, v: f64) -> Self {
        self.builder::<Float64Builder>().append_value(v);
        self
    }

    fn opt_float(mut self, v: Option<f64>) -> Self {
        self.builder::<Float64Builder>().append_option(v);
        self
    }

    fn ts(mut self, v: Option<i64>) -> Self {
        self.builder::<TimestampMillisecondBuilder>()
            .append_option(v);
        self
    }

    fn boolean(mut self, v: bool) -> Self {
        self.builder::<BooleanBuilder>().append_value(v);
        self
    }

    fn end(self) {
        assert_eq!(
            self.next,
            self.table.cols.len(),
            "{}/{}: row with a wrong number of values",
            self.table.spec.source_type,
            self.table.spec.stream
        );
        self.table.len += 1;
        self.table.total += 1;
    }
}

// ---------------------------------------------------------------------------
// Random helpers (rand_distr is not a dependency)
// ---------------------------------------------------------------------------

fn rng_for(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Standard normal, Box-Muller.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln() stays finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
}

/// Lognormal multiplier with mean 1, so that noise does not bias totals.
fn noise(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    (sigma * normal(rng) - sigma * sigma / 2.0).exp()
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        // Knuth: exact and cheap for small means.
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = rng.random::<f64>();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
        return k;
    }
    (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u64
}

fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if n <= 40 {
        return (0..n).filter(|_| rng.random::<f64>() < p).count() as u64;
    }
    let mean = n as f64 * p;
    if mean < 20.0 {
        return poisson(rng, mean).min(n);
    }
    let sd = (mean * (1.0 - p)).sqrt();
    (mean + sd * normal(rng)).round().clamp(0.0, n as f64) as u64
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random_bool(p.clamp(0.0, 1.0))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

// ---------------------------------------------------------------------------
// Calendar: seasonality, trend, Madrid time
// ---------------------------------------------------------------------------

/// B2B demand by calendar: strong Jan-Mar and Sep-Nov, a deep August, a dead
/// Christmas week, and weekends at about 40% of a weekday.
fn seasonality(date: NaiveDate) -> f64 {
    const MONTH: [f64; 12] = [
        1.08, 1.12, 1.10, 1.00, 0.99, 0.94, 0.86, 0.62, 1.06, 1.12, 1.09, 0.92,
    ];
    let mut f = MONTH[date.month0() as usize];
    match (date.month(), date.day()) {
        (12, d) if d >= 22 => f *= 0.5,
        (1, 1) => f *= 0.45,
        (1, d) if d <= 6 => f *= 0.8,
        _ => {}
    }
    f * match date.weekday() {
        Weekday::Sat => 0.42,
        Weekday::Sun => 0.38,
        Weekday::Fri => 0.9,
        Weekday::Mon => 1.02,
        _ => 1.0,
    }
}

/// About +25% a year, anchored at `end`: the documented volumes are today's,
/// and the past was smaller.
fn trend(date: NaiveDate, end: NaiveDate) -> f64 {
    1.25_f64.powf(date.signed_duration_since(end).num_days() as f64 / 365.25)
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("valid month");
    let last = next.pred_opt().expect("not the first day ever");
    last - Days::new(u64::from(last.weekday().num_days_from_sunday()))
}

/// Europe/Madrid's UTC offset in hours, valid from 03:00 local time on (CEST runs
/// from the last Sunday of March to the last Sunday of October). We only place
/// events in working hours, so the switch hour itself never matters.
fn madrid_offset_hours(date: NaiveDate) -> i64 {
    let y = date.year();
    if date >= last_sunday(y, 3) && date < last_sunday(y, 10) {
        2
    } else {
        1
    }
}

/// UTC epoch milliseconds of `seconds` after local midnight in Madrid.
fn madrid_ms(date: NaiveDate, seconds: i64) -> i64 {
    let midnight = date.and_time(NaiveTime::MIN).and_utc().timestamp();
    (midnight + seconds - madrid_offset_hours(date) * 3600) * 1000
}

/// A random moment of the working day (08:00-20:00 Madrid), in UTC millis.
fn business_ms(rng: &mut ChaCha8Rng, date: NaiveDate) -> i64 {
    madrid_ms(date, rng.random_range(8 * 3600..20 * 3600))
}

/// Sales people do not move deals on weekends: push to Monday.
fn workday(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d + Days::new(2),
        Weekday::Sun => d + Days::new(1),
        _ => d,
    }
}

fn after(rng: &mut ChaCha8Rng, d: NaiveDate, min_days: u64, max_days: u64) -> NaiveDate {
    workday(d + Days::new(rng.random_range(min_days..=max_days)))
}

fn days_in_month(d: NaiveDate) -> f64 {
    let first = d.with_day(1).expect("day 1 exists");
    let next = first + Months::new(1);
    next.signed_duration_since(first).num_days() as f64
}

/// Partner webinars: third Thursday of every month except August.
fn webinar_in(year: i32, month: u32) -> Option<NaiveDate> {
    if month == 8 {
        return None;
    }
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Thu, 3)
}

/// The first partner webinar on or after `date`.
fn next_webinar(date: NaiveDate) -> Option<NaiveDate> {
    let mut month = date.with_day(1)?;
    for _ in 0..3 {
        if let Some(w) = webinar_in(month.year(), month.month())
            && w >= date
        {
            return Some(w);
        }
        month = month + Months::new(1);
    }
    None
}

use kpi_core::period::MONTH_NAMES;

// ---------------------------------------------------------------------------
// The campaign catalogue
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Google,
    Meta,
    LinkedIn,
}

/// How a campaign's clicks arrive in GA4 and which original source HubSpot
/// records for the contacts they bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaidKind {
    Search,
    PerformanceMax,
    Display,
    Video,
    MetaSocial,
    LinkedInSocial,
}

impl PaidKind {
    /// GA4 session_source / session_medium, as the ads' utm or auto-tagging sets them.
    fn source_medium(self) -> (&'static str, &'static str) {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => ("google", "cpc"),
            PaidKind::Display => ("google", "display"),
            PaidKind::Video => ("youtube", "cpv"),
            PaidKind::MetaSocial => ("facebook", "paid_social"),
            PaidKind::LinkedInSocial => ("linkedin", "paid_social"),
        }
    }

    /// HubSpot `hs_analytics_source` and `hs_analytics_source_data_1`.
    fn hubspot(self) -> (&'static str, &'static str) {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => ("PAID_SEARCH", "google"),
            PaidKind::Display => ("OTHER_CAMPAIGNS", "google"),
            PaidKind::Video => ("OTHER_CAMPAIGNS", "youtube"),
            PaidKind::MetaSocial => ("PAID_SOCIAL", "facebook"),
            PaidKind::LinkedInSocial => ("PAID_SOCIAL", "linkedin"),
        }
    }

    fn profile(self) -> &'static Profile {
        match self {
            PaidKind::Search | PaidKind::PerformanceMax => &SEARCH_TRAFFIC,
            PaidKind::Display => &DISPLAY_TRAFFIC,
            PaidKind::Video => &VIDEO_TRAFFIC,
            PaidKind::MetaSocial => &SOCIAL_TRAFFIC,
            PaidKind::LinkedInSocial => &LINKEDIN_TRAFFIC,
        }
    }

    /// Programmatic inventory (display, video, awareness) is bought by budget and
    /// follows the calendar less than search demand does.
    fn programmatic(self) -> bool {
        matches!(self, PaidKind::Display | PaidKind::Video)
    }
}

/// When a campaign runs.
#[derive(Debug, Clone, Copy)]
enum Activity {
    Always,
    /// Only in these calendar months (1-12), every year.
    Months(&'static [u32]),
    /// From `from` months before `end_date` (exclusive) to `to` months before it.
    Window {
        from: u32,
        to: u32,
    },
}

/// One campaign of the catalogue; it exists once per market.
struct AdTemplate {
    platform: Platform,
    name: &'static str,
    /// Google advertising channel type, Meta objective or LinkedIn campaign type.
    kind: &'static str,
    traffic: PaidKind,
    /// Impressions on a weekday at `end_date`, market of size 1.
    impressions: f64,
    ctr: f64,
    /// Cost per click in the account currency.
    cpc: f64,
    /// Platform conversions per click.
    conv_rate: f64,
    /// Value per platform conversion, account currency.
    conv_value: f64,
    /// On-platform lead form submissions per click (Meta lead ads, LinkedIn lead gen forms).
    form_lead_rate: f64,
    /// Website form submissions per GA4 session.
    web_lead_rate: f64,
    /// Lead quality: multiplies the funnel's conversion rates.
    quality: f64,
    activity: Activity,
}

#[allow(clippy::too_many_arguments)]
const fn ad(
    platform: Platform,
    name: &'static str,
    kind: &'static str,
    traffic: PaidKind,
    (impressions, ctr, cpc): (f64, f64, f64),
    (conv_rate, conv_value): (f64, f64),
    (form_lead_rate, web_lead_rate, quality): (f64, f64, f64),
    activity: Activity,
) -> AdTemplate {
    AdTemplate {
        platform,
        name,
        kind,
        traffic,
        impressions,
        ctr,
        cpc,
        conv_rate,
        conv_value,
        form_lead_rate,
        web_lead_rate,
        quality,
        activity,
    }
}

use Activity::{Always, Months as InMonths, Window};
use PaidKind::*;
use Platform::*;

/// The company's paid campaigns. Volumes are per weekday at `end_date`.
#[rustfmt::skip]
static AD_TEMPLATES: [AdTemplate; 20] = [
    // ad(platform, name, kind, traffic, (impressions, ctr, cpc), (conversions per click,
    //    value per conversion), (form leads per click, web leads per session, quality), activity)
    // Google Ads, EUR.
    ad(Google, "Brand Search", "SEARCH", Search, (1500.0, 0.075, 1.6), (0.10, 90.0), (0.0, 0.035, 1.2), Always),
    ad(Google, "Competitor Search", "SEARCH", Search, (900.0, 0.035, 3.8), (0.06, 70.0), (0.0, 0.02, 1.0), Always),
    ad(Google, "Product Generic Search", "SEARCH", Search, (2600.0, 0.042, 3.0), (0.07, 80.0), (0.0, 0.02, 0.95), Always),
    ad(Google, "Product Long-tail Search", "SEARCH", Search, (1000.0, 0.055, 2.2), (0.08, 80.0), (0.0, 0.025, 1.05), Always),
    ad(Google, "Remarketing Search", "SEARCH", Search, (420.0, 0.06, 2.0), (0.09, 85.0), (0.0, 0.03, 1.1), Always),
    ad(Google, "Display Prospecting", "DISPLAY", Display, (42000.0, 0.004, 0.55), (0.05, 40.0), (0.0, 0.004, 0.55), Always),
    ad(Google, "Display Remarketing", "DISPLAY", Display, (16000.0, 0.007, 0.75), (0.06, 50.0), (0.0, 0.008, 0.7), Always),
    ad(Google, "YouTube Awareness", "VIDEO", Video, (22000.0, 0.0035, 0.35), (0.05, 30.0), (0.0, 0.003, 0.65), Always),
    ad(Google, "Performance Max", "PERFORMANCE_MAX", PerformanceMax, (11000.0, 0.014, 1.2), (0.07, 60.0), (0.0, 0.012, 0.85), Always),
    // Seasonal: year-end budget flush offer, Q4 only.
    ad(Google, "Year End Offer Search", "SEARCH", Search, (1200.0, 0.05, 2.6), (0.08, 85.0), (0.0, 0.025, 1.0), InMonths(&[10, 11, 12])),
    // A product launched 8 months before the end: no history before that.
    ad(Google, "AI Assistant Launch Search", "SEARCH", Search, (900.0, 0.048, 2.4), (0.07, 80.0), (0.0, 0.022, 1.0), Window { from: 8, to: 0 }),
    // Meta Ads, USD.
    ad(Meta, "Meta Lead Ads", "OUTCOME_LEADS", MetaSocial, (12000.0, 0.011, 0.95), (0.08, 0.0), (0.05, 0.004, 0.7), Always),
    ad(Meta, "Meta Retargeting", "OUTCOME_TRAFFIC", MetaSocial, (7000.0, 0.012, 0.8), (0.05, 0.0), (0.0, 0.012, 0.8), Always),
    ad(Meta, "Webinar Promo", "OUTCOME_LEADS", MetaSocial, (5000.0, 0.012, 1.1), (0.06, 0.0), (0.04, 0.004, 0.85), Always),
    // Ran for ten months, ended ten months before the end.
    ad(Meta, "Ebook Promo", "OUTCOME_LEADS", MetaSocial, (6000.0, 0.011, 0.7), (0.09, 0.0), (0.06, 0.003, 0.6), Window { from: 20, to: 10 }),
    ad(Meta, "Brand Awareness Social", "OUTCOME_AWARENESS", MetaSocial, (16000.0, 0.006, 0.6), (0.02, 0.0), (0.0, 0.004, 0.75), Always),
    // LinkedIn Ads, USD: expensive clicks, the best leads.
    ad(LinkedIn, "ABM Enterprise", "SPONSORED_UPDATES", LinkedInSocial, (4000.0, 0.006, 9.5), (0.05, 0.0), (0.0, 0.03, 1.5), Always),
    ad(LinkedIn, "LinkedIn Lead Gen Form", "SPONSORED_UPDATES", LinkedInSocial, (3500.0, 0.008, 7.5), (0.06, 0.0), (0.12, 0.005, 1.3), Always),
    ad(LinkedIn, "Thought Leadership", "TEXT_AD", LinkedInSocial, (5000.0, 0.005, 6.2), (0.03, 0.0), (0.0, 0.015, 1.2), Always),
    // Trade-fair seasons only.
    ad(LinkedIn, "Event Promo", "SPONSORED_UPDATES", LinkedInSocial, (3000.0, 0.007, 7.0), (0.05, 0.0), (0.0, 0.03, 1.25), InMonths(&[3, 4, 5, 9, 10, 11])),
];

const GOOGLE_CUSTOMER_ID: &str = "1234567890";
/// As Meta's `account_id` field spells it: digits, without the `act_` of paths.
const META_ACCOUNT_ID: &str = "5550001";
const LINKEDIN_ACCOUNT_ID: &str = "508000111";
/// As the GA4 connector stores it: the digits of `properties/{id}`.
const GA4_PROPERTY: &str = "301234567";
const SEARCH_CONSOLE_SITE: &str = "sc-domain:example.com";

/// GA4 traffic shape of a source.
struct Profile {
    /// Session shares of desktop, mobile, tablet.
    devices: [f64; 3],
    /// Engaged sessions / sessions.
    engaged: f64,
    /// New users / users.
    new_users: f64,
    /// Page views per session, min and max.
    pages: (f64, f64),
}

const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
/// B2B forms are filled at a desk: mobile sessions convert worse.
const DEVICE_LEAD_FACTOR: [f64; 3] = [1.0, 0.55, 0.8];

#[rustfmt::skip]
mod profiles {
    use super::Profile;
    pub const SEARCH_TRAFFIC: Profile = Profile { devices: [0.62, 0.34, 0.04], engaged: 0.62, new_users: 0.72, pages: (2.0, 3.5) };
    pub const DISPLAY_TRAFFIC: Profile = Profile { devices: [0.32, 0.63, 0.05], engaged: 0.38, new_users: 0.88, pages: (1.5, 2.2) };
    pub const VIDEO_TRAFFIC: Profile = Profile { devices: [0.28, 0.64, 0.08], engaged: 0.42, new_users: 0.85, pages: (1.5, 2.4) };
    pub const SOCIAL_TRAFFIC: Profile = Profile { devices: [0.30, 0.66, 0.04], engaged: 0.46, new_users: 0.78, pages: (1.5, 2.5) };
    pub const LINKEDIN_TRAFFIC: Profile = Profile { devices: [0.58, 0.39, 0.03], engaged: 0.58, new_users: 0.74, pages: (1.8, 3.0) };
    pub const ORGANIC_TRAFFIC: Profile = Profile { devices: [0.55, 0.41, 0.04], engaged: 0.64, new_users: 0.70, pages: (2.2, 3.8) };
    pub const DIRECT_TRAFFIC: Profile = Profile { devices: [0.70, 0.27, 0.03], engaged: 0.70, new_users: 0.35, pages: (2.5, 4.0) };
    pub const REFERRAL_TRAFFIC: Profile = Profile { devices: [0.68, 0.29, 0.03], engaged: 0.66, new_users: 0.75, pages: (2.0, 3.6) };
    pub const EMAIL_TRAFFIC: Profile = Profile { devices: [0.50, 0.46, 0.04], engaged: 0.68, new_users: 0.20, pages: (2.0, 3.2) };
}
use profiles::*;

/// Referral sites: (domain, weekday sessions, leads per session, lead quality).
const REFERRALS: [(&str, f64, f64, f64); 5] = [
    ("g2.com", 38.0, 0.035, 1.3),
    ("capterra.com", 26.0, 0.03, 1.25),
    ("partnerhub.io", 14.0, 0.02, 1.3),
    ("techradar.com", 12.0, 0.008, 1.0),
    ("github.com", 18.0, 0.01, 1.1),
];
/// The partner that co-hosts the monthly webinar; its registration page carries
/// the `partner_webinar` utm campaign.
const PARTNER_DOMAIN: &str = "partnerhub.io";

/// Mailchimp campaigns. Each send is a campaign of its own with its own
/// report, as Mailchimp's regular campaigns are (the nurture too: a weekly
/// campaign to a segment, not a classic automation, whose one report would
/// add up every send and which `/3.0/campaigns` does not list).
struct EmailTemplate {
    title: &'static str,
    kind: &'static str,
    subject: &'static str,
    /// Share of the list that receives it.
    audience: f64,
    open_rate: f64,
    click_rate: f64,
    unsubscribe_rate: f64,
    /// Local send time, seconds after midnight.
    send_at: i64,
}

#[rustfmt::skip]
const EMAILS: [EmailTemplate; 3] = [
    EmailTemplate { title: "Monthly Newsletter", kind: "regular", subject: "What's new this month", audience: 1.0, open_rate: 0.27, click_rate: 0.032, unsubscribe_rate: 0.0022, send_at: 10 * 3600 },
    EmailTemplate { title: "Product Updates", kind: "regular", subject: "Fresh from the product team", audience: 0.9, open_rate: 0.24, click_rate: 0.028, unsubscribe_rate: 0.0018, send_at: 11 * 3600 },
    EmailTemplate { title: "Nurture Sequence", kind: "regular", subject: "Getting more out of Example SaaS", audience: 0.05, open_rate: 0.41, click_rate: 0.065, unsubscribe_rate: 0.004, send_at: 9 * 3600 },
];

/// Whether email template `i` goes out on `date`: the newsletter on the first
/// Tuesday, product updates on the 2nd and 4th Thursday, nurture every Wednesday.
fn email_sends_on(i: usize, date: NaiveDate) -> bool {
    let day = date.day();
    match i {
        0 => date.weekday() == Weekday::Tue && day <= 7,
        1 => {
            date.weekday() == Weekday::Thu && ((8..=14).contains(&day) || (22..=28).contains(&day))
        }
        _ => date.weekday() == Weekday::Wed,
    }
}

/// Share of an email's site visits on the send day and the three days after.
const EMAIL_VISIT_DECAY: [f64; 4] = [0.55, 0.25, 0.12, 0.08];

/// Social networks: (network, GA4 referrer, HubSpot source data 1, weekday
/// impressions, engagement rate, link clicks per engagement, initial followers,
/// new followers per day, mentions per day).
#[allow(clippy::type_complexity)]
const NETWORKS: [(&str, &str, &str, f64, f64, f64, f64, f64, f64); 4] = [
    (
        "linkedin",
        "linkedin.com",
        "linkedin",
        5000.0,
        0.035,
        0.25,
        8000.0,
        7.0,
        6.0,
    ),
    (
        "facebook",
        "facebook.com",
        "facebook",
        3000.0,
        0.018,
        0.20,
        5000.0,
        2.5,
        4.0,
    ),
    (
        "instagram",
        "instagram.com",
        "instagram",
        4000.0,
        0.040,
        0.05,
        3500.0,
        4.0,
        5.0,
    ),
    (
        "x", "t.co", "twitter", 2000.0, 0.015, 0.15, 2500.0, 1.2, 9.0,
    ),
];

const BRAND: &str = "examplesoft";
const BRAND_QUERIES: [&str; 8] = [
    "examplesoft",
    "examplesoft login",
    "examplesoft pricing",
    "examplesoft reviews",
    "examplesoft api",
    "examplesoft vs hubspot",
    "examplesoft demo",
    "examplesoft integrations",
];
const TOPICS: [&str; 12] = [
    "marketing analytics software",
    "kpi dashboard",
    "marketing reporting tool",
    "b2b marketing attribution",
    "campaign performance tracking",
    "marketing roi calculator",
    "lead funnel analytics",
    "cac ltv calculator",
    "google ads reporting",
    "multi touch attribution",
    "marketing data warehouse",
    "etl for marketing data",
];
const MODIFIERS: [(&str, &str); 8] = [
    ("", ""),
    ("best ", ""),
    ("", " for saas"),
    ("", " pricing"),
    ("free ", ""),
    ("", " alternatives"),
    ("", " comparison"),
    ("how to choose ", ""),
];

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
            } else {
                "ACTIVE"
            }
        } else if self.to < end {
            match platform {
                Google => "REMOVED",
                Meta => "ARCHIVED",
                LinkedIn => "COMPLETED",
            }
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
            .map(|(j, t)| {
                let n = (i * 1000 + j) as i64;
                let id = match t.platform {
                    Google => 20_100_000_000 + n,
                    Meta => 238_510_000_000_000 + n,
                    LinkedIn => 310_000_000 + n,
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
                    efficiency: noise(rng, 0.1),
                }
            })
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
}

struct Tables {
    google_stats: Table,
    google_campaigns: Table,
    meta_insights: Table,
    meta_campaigns: Table,
    linkedin_analytics: Table,
    linkedin_campaigns: Table,
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

impl Generator {
    fn new(company: &Company) -> Result<Self, GenerateError> {
        let scale = company.scale;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(GenerateError::InvalidCompany(format!(
                "scale must be a positive number, got {scale}"
            )));
        }
        let (n_markets, volume) = if scale >= 1.0 {
            ((scale.round() as usize).max(1), 1.0)
        } else {
            (1, scale)
        };
        let seed = company.seed;
        let mut setup = rng_for(seed, 1);
        let markets: Vec<Market> = (0..n_markets)
            .map(|i| Market::new(i, &mut setup, company))
            .collect();
        let total_size = markets.iter().map(|m| m.size).sum::<f64>();
        let tables = Tables {
            google_stats: Table::new("google_ads", "campaign_stats")?,
            google_campaigns: Table::new("google_ads", "campaigns")?,
            meta_insights: Table::new("meta_ads", "ads_insights")?,
            meta_campaigns: Table::new("meta_ads", "campaigns")?,
            linkedin_analytics: Table::new("linkedin_ads", "ad_analytics")?,
            linkedin_campaigns: Table::new("linkedin_ads", "campaigns")?,
            ga4: Table::new("ga4", "traffic")?,
            search_console: Table::new("search_console", "search_analytics")?,
            mailchimp: Table::new("mailchimp", "reports")?,
            mailchimp_campaigns: Table::new("mailchimp", "campaigns")?,
            social_pages: Table::new("social", "page_insights")?,
            social_mentions: Table::new("social", "mentions")?,
            backlinks: Table::new("backlinks", "snapshots")?,
            costs: Table::new("costs", "marketing_costs")?,
        };
        let social_volume = volume * total_size;
        Ok(Self {
            end: company.end_date,
            volume,
            total_size,
            markets,
            rngs: Rngs {
                ads: rng_for(seed, 2),
                web: rng_for(seed, 3),
                seo: rng_for(seed, 4),
                email: rng_for(seed, 5),
                social: rng_for(seed, 6),
                costs: rng_for(seed, 7),
            },
            tables,
            crm: Crm::new(company.end_date, rng_for(seed, 8))?,
            social: Social {
                followers: NETWORKS.map(|n| (n.6 * social_volume).round()),
            },
            backlinks: Backlinks {
                referring_domains: 400.0,
                ratio: 11.0,
                domain_rating: 42.0,
            },
            paid: Vec::new(),
        })
    }

    /// The campaign lists of the three ad platforms, as of `end_date`.
    fn emit_campaign_lists(&mut self, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        let end = self.end;
        let t = &mut self.tables;
        for m in &self.markets {
            for c in &m.campaigns {
                let status = c.status(end);
                let tpl = c.template;
                match tpl.platform {
                    Google => t
                        .google_campaigns
                        .row()
                        .str(GOOGLE_CUSTOMER_ID)
                        .int(c.id)
                        .str(&c.name)
                        .str(status)
                        .str(tpl.kind)
                        .end(),
                    Meta => t
                        .meta_campaigns
                        .row()
                        .str(META_ACCOUNT_ID)
                        .str(&c.id_text)
                        .str(&c.name)
                        .str(tpl.kind)
                        .str(status)
                        .end(),
                    LinkedIn => t
                        .linkedin_campaigns
                        .row()
                        .str(LINKEDIN_ACCOUNT_ID)
                        .int(c.id)
                        .str(&c.name)
                        .str(tpl.kind)
                        .str(status)
                        .end(),
                }
                t.google_campaigns.flush_snapshot_if_full(sink)?;
                t.meta_campaigns.flush_snapshot_if_full(sink)?;
                t.linkedin_campaigns.flush_snapshot_if_full(sink)?;
            }
        }
        t.google_campaigns.flush_snapshot(sink)?;
        t.meta_campaigns.flush_snapshot(sink)?;
        t.linkedin_campaigns.flush_snapshot(sink)
    }

    /// The CRM history before `start` (see the module docs): every lead of the
    /// last [`FULL_HISTORY_MONTHS`], and the customers of the years before.
    /// Only contacts with something happening from `start` on are written.
    fn seed_history(
        &mut self,
        start: NaiveDate,
        seed: u64,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        let mut rng = rng_for(seed, 9);
        for m in &self.markets {
            let key = |name: &str| {
                m.campaigns
                    .iter()
                    .find(|c| c.template.name == name)
                    .map(|c| c.key.as_str())
            };
            let origin = |source, data_1, data_2, quality| Origin {
                source,
                data_1,
                data_2,
                quality,
            };
            // Roughly the mix of sources the generated period shows.
            #[rustfmt::skip]
            let origins = [
                (0.26, origin("PAID_SOCIAL", Some("facebook"), key("Meta Lead Ads"), 0.7)),
                (0.10, origin("PAID_SOCIAL", Some("linkedin"), key("LinkedIn Lead Gen Form"), 1.3)),
                (0.12, origin("PAID_SEARCH", Some("google"), key("Brand Search"), 1.2)),
                (0.09, origin("PAID_SEARCH", Some("google"), key("Product Generic Search"), 0.95)),
                (0.13, origin("DIRECT_TRAFFIC", None, None, 1.15)),
                (0.12, origin("ORGANIC_SEARCH", Some("google"), None, 1.0)),
                (0.08, origin("REFERRALS", Some("g2.com"), None, 1.3)),
                (0.04, origin("EMAIL_MARKETING", Some("mailchimp"), Some(&m.email_keys[0]), 1.05)),
                (0.03, origin("OTHER_CAMPAIGNS", Some("google"), key("Display Prospecting"), 0.55)),
                (0.03, origin("SOCIAL_MEDIA", Some("linkedin"), None, 0.9)),
            ];
            let leads =
                |d: NaiveDate| 36.0 * seasonality(d) * trend(d, self.end) * m.size * self.volume;
            // Long ago, only customers can still matter (they renew or churn):
            // draw them directly, at the rate the funnel turns those leads into
            // customers. Seven years of cohorts at 85% retention is close enough
            // to a steady state for renewal revenue.
            let mut date = start - Months::new(84);
            let recent = start - Months::new(FULL_HISTORY_MONTHS);
            while date < recent {
                for (weight, o) in origins {
                    let expected = leads(date) * weight * win_probability(o.quality);
                    for _ in 0..poisson(&mut rng, expected) {
                        let won = after(&mut rng, date, 30, 130);
                        self.crm.old_customer(won, o, start, sink)?;
                    }
                }
                date = date + Days::new(1);
            }
            // Recently, every lead: some are still on their way down the funnel.
            while date < start {
                for _ in 0..poisson(&mut rng, leads(date)) {
                    let mut r = rng.random::<f64>();
                    let mut picked = origins[0].1;
                    for (weight, o) in origins {
                        picked = o;
                        r -= weight;
                        if r < 0.0 {
                            break;
                        }
                    }
                    self.crm.contact(date, picked, Some(start), sink)?;
                }
                date = date + Days::new(1);
            }
        }
        Ok(())
    }

    /// Everything that happens on `date`, written to the sink.
    fn day(&mut self, date: NaiveDate, sink: &mut dyn RawSink) -> Result<(), GenerateError> {
        let Self {
            end,
            volume,
            total_size,
            markets,
            rngs,
            tables: t,
            crm,
            social,
            backlinks,
            paid,
        } = self;
        let (end, volume, total_size) = (*end, *volume, *total_size);
        let season = seasonality(date);
        let growth = trend(date, end);
        // People-driven demand (search, site visits) and bought inventory.
        let level = season * growth;
        let soft_level = season.sqrt() * growth;

        let social_clicks = social_day(
            &mut rngs.social,
            social,
            &mut t.social_pages,
            &mut t.social_mentions,
            (season, growth),
            volume * total_size,
        );

        for m in markets.iter_mut() {
            // A good or bad day for the whole market, shared by its sources.
            let day_noise = noise(&mut rngs.web, 0.08);
            let vol = volume * m.size * day_noise;

            // Ads, and the lead-form contacts they collect on-platform.
            paid.clear();
            for (ci, c) in m.campaigns.iter().enumerate() {
                if !c.active(date) {
                    continue;
                }
                let tpl = c.template;
                let lvl = if tpl.traffic.programmatic() || tpl.kind == "OUTCOME_AWARENESS" {
                    soft_level
                } else {
                    level
                };
                let d = ad_day(&mut rngs.ads, tpl, c.efficiency, lvl * vol);
                if d.impressions == 0 {
                    continue;
                }
                write_ad_row(t, c, &d);
                let (source, data_1) = tpl.traffic.hubspot();
                let origin = Origin {
                    source,
                    data_1: Some(data_1),
                    data_2: Some(&c.key),
                    quality: tpl.quality,
                };
                for _ in 0..d.form_leads {
                    crm.contact(date, origin, None, sink)?;
                }
                paid.push((ci, d.clicks));
            }

            // Organic search: Search Console clicks become GA4 organic sessions.
            let organic_clicks = search_console_day(
                &mut rngs.seo,
                &mut t.search_console,
                &mut m.queries,
                season.powf(0.8) * growth,
                vol,
            );

            // Emails sent today; their visits arrive over the next days.
            mailchimp_day(
                &mut rngs.email,
                (&mut t.mailchimp, &mut t.mailchimp_campaigns),
                m,
                (date, end),
                growth,
                volume,
            );
            t.mailchimp_campaigns.flush_snapshot_if_full(sink)?;

            let mut web = Web {
                date,
                ga4: &mut t.ga4,
                crm: &mut *crm,
                rng: &mut rngs.web,
                sink: &mut *sink,
            };
            // GA4 and website leads, source by source.
            for &(ci, clicks) in paid.iter() {
                let c = &m.campaigns[ci];
                let tpl = c.template;
                let (source, medium) = tpl.traffic.source_medium();
                let (hs_source, data_1) = tpl.traffic.hubspot();
                let sessions = clicks as f64 * 0.85 * noise(web.rng, 0.05);
                web.traffic(
                    (source, medium, &c.key),
                    sessions,
                    tpl.traffic.profile(),
                    tpl.web_lead_rate,
                    Origin {
                        source: hs_source,
                        data_1: Some(data_1),
                        data_2: Some(&c.key),
                        quality: tpl.quality,
                    },
                )?;
            }

            let google = organic_clicks as f64 * web.rng.random_range(1.08..1.18);
            for (engine, sessions) in [("google", google), ("bing", google * 0.07)] {
                web.traffic(
                    (engine, "organic", "(organic)"),
                    sessions,
                    &ORGANIC_TRAFFIC,
                    0.012,
                    Origin {
                        source: "ORGANIC_SEARCH",
                        data_1: Some(engine),
                        data_2: None,
                        quality: 1.0,
                    },
                )?;
            }

            web.traffic(
                ("(direct)", "(none)", "(direct)"),
                420.0 * level * vol,
                &DIRECT_TRAFFIC,
                0.014,
                Origin {
                    source: "DIRECT_TRAFFIC",
                    data_1: None,
                    data_2: None,
                    quality: 1.15,
                },
            )?;

            for (domain, sessions, lead_rate, quality) in REFERRALS {
                let sessions = sessions * level * vol * noise(web.rng, 0.2);
                web.traffic(
                    (domain, "referral", "(referral)"),
                    sessions,
                    &REFERRAL_TRAFFIC,
                    lead_rate,
                    Origin {
                        source: "REFERRALS",
                        data_1: Some(domain),
                        data_2: None,
                        quality,
                    },
                )?;
            }

            // Partner webinar: the partner promotes registration for ten days.
            if let Some(webinar) = next_webinar(date) {
                let days_left = webinar.signed_duration_since(date).num_days();
                if days_left <= 10 {
                    let ramp = 1.0 + (10 - days_left) as f64 / 4.0;
                    let sessions = 12.0 * ramp * season.sqrt() * growth * vol;
                    web.traffic(
                        (PARTNER_DOMAIN, "referral", &m.partner_key),
                        sessions,
                        &REFERRAL_TRAFFIC,
                        0.09,
                        Origin {
                            source: "REFERRALS",
                            data_1: Some(PARTNER_DOMAIN),
                            data_2: Some(&m.partner_key),
                            quality: 1.35,
                        },
                    )?;
                }
            }

            // Organic social: the page's own posts, split across markets by size.
            let share = m.size / total_size * day_noise;
            for (n, net) in NETWORKS.iter().enumerate() {
                let sessions = social_clicks[n] as f64 * 0.85 * share;
                web.traffic(
                    (net.1, "social", "(not set)"),
                    sessions,
                    &SOCIAL_TRAFFIC,
                    0.01,
                    Origin {
                        source: "SOCIAL_MEDIA",
                        data_1: Some(net.2),
                        data_2: None,
                        quality: 0.9,
                    },
                )?;
            }
            // The launch campaign's organic posts carry utm tags (no ad spend).
            if date > end - Months::new(8) {
                web.traffic(
                    ("linkedin.com", "social", &m.launch_key),
                    28.0 * level * vol,
                    &SOCIAL_TRAFFIC,
                    0.02,
                    Origin {
                        source: "SOCIAL_MEDIA",
                        data_1: Some("linkedin"),
                        data_2: Some(&m.launch_key),
                        quality: 0.95,
                    },
                )?;
            }

            for e in 0..EMAILS.len() {
                let visits = &mut m.email_visits[e];
                let sessions = visits[0];
                visits.rotate_left(1);
                visits[3] = 0.0;
                let key = &m.email_keys[e];
                web.traffic(
                    ("mailchimp", "email", key),
                    sessions,
                    &EMAIL_TRAFFIC,
                    0.025,
                    Origin {
                        source: "EMAIL_MARKETING",
                        data_1: Some("mailchimp"),
                        data_2: Some(key),
                        quality: 1.05,
                    },
                )?;
            }
        }

        costs_day(
            &mut rngs.costs,
            &mut t.costs,
            markets,
            date,
            volume,
            total_size,
        );
        if date.weekday() == Weekday::Mon {
            backlinks_day(&mut rngs.seo, backlinks, &mut t.backlinks);
        }

        for table in [
            &mut t.google_stats,
            &mut t.meta_insights,
            &mut t.linkedin_analytics,
            &mut t.ga4,
            &mut t.search_console,
            &mut t.mailchimp,
            &mut t.social_pages,
            &mut t.social_mentions,
            &mut t.backlinks,
            &mut t.costs,
        ] {
            table.flush_daily(date, sink)?;
        }
        Ok(())
    }

    fn summary(&self) -> Summary {
        let t = &self.tables;
        let tables = [
            &t.google_stats,
            &t.google_campaigns,
            &t.meta_insights,
            &t.meta_campaigns,
            &t.linkedin_analytics,
            &t.linkedin_campaigns,
            &t.ga4,
            &t.search_console,
            &self.crm.contacts,
            &self.crm.deals,
            &t.mailchimp,
            &t.mailchimp_campaigns,
            &t.social_pages,
            &t.social_mentions,
            &t.backlinks,
            &t.costs,
        ];
        let rows = raw_streams()
            .iter()
            .map(|s| {
                let n = tables
                    .iter()
                    .find(|t| t.spec.source_type == s.source_type && t.spec.stream == s.stream)
                    .map_or(0, |t| t.total);
                (s.source_type, s.stream, n)
            })
            .collect();
        Summary { rows }
    }
}

// ---------------------------------------------------------------------------
// Ads
// ---------------------------------------------------------------------------

/// One campaign's day on its platform.
struct AdDay {
    impressions: u64,
    clicks: u64,
    cost: f64,
    conversions: f64,
    conversions_value: f64,
    form_leads: u64,
    /// Clicks on the ad's link (Meta reports them apart from other clicks).
    link_clicks: u64,
    purchases: u64,
    website_conversions: u64,
}

fn ad_day(rng: &mut ChaCha8Rng, t: &AdTemplate, efficiency: f64, demand: f64) -> AdDay {
    let wobble = noise(rng, 0.12);
    let impressions = poisson(rng, t.impressions * demand * wobble);
    let ctr = (t.ctr * efficiency * noise(rng, 0.1)).min(0.5);
    let clicks = binomial(rng, impressions, ctr);
    // Quality score: ads that earn more clicks also pay less for each.
    let cpc = t.cpc / efficiency.sqrt() * noise(rng, 0.12);
    let conversions = if clicks == 0 {
        0.0
    } else {
        round2(clicks as f64 * t.conv_rate * noise(rng, 0.3))
    };
    let form_rate = t.form_lead_rate * noise(rng, 0.15);
    // Meta also counts likes and profile clicks; most clicks are link clicks.
    let link_clicks = if t.platform == Meta {
        binomial(rng, clicks, 0.92)
    } else {
        clicks
    };
    AdDay {
        impressions,
        clicks,
        cost: round2(clicks as f64 * cpc),
        conversions,
        conversions_value: round2(conversions * t.conv_value * noise(rng, 0.2)),
        form_leads: binomial(rng, clicks, form_rate),
        link_clicks,
        purchases: if t.platform == Meta {
            poisson(rng, clicks as f64 * 0.0004)
        } else {
            0
        },
        website_conversions: if t.platform == LinkedIn {
            binomial(rng, clicks, 0.035)
        } else {
            0
        },
    }
}

fn write_ad_row(t: &mut Tables, c: &Campaign, d: &AdDay) {
    let tpl = c.template;
    match tpl.platform {
        Google => t
            .google_stats
            .row()
            .str(GOOGLE_CUSTOMER_ID)
            .str("EUR")
            .str("Europe/Madrid")
            .int(c.id)
            .str(&c.name)
            .str(tpl.kind)
            .count(d.impressions)
            .count(d.clicks)
            .int((d.cost * 1e6).round() as i64)
            .float(d.conversions)
            .float(d.conversions_value)
            .end(),
        Meta => t
            .meta_insights
            .row()
            .str(META_ACCOUNT_ID)
            .str("USD")
            .str(&c.id_text)
            .str(&c.name)
            .str(tpl.kind)
            .count(d.impressions)
            .count(d.clicks)
            .float(d.cost)
            .float(d.form_leads as f64)
            .float(d.purchases as f64)
            .float(d.link_clicks as f64)
            .float(d.purchases as f64 * 1200.0)
            .end(),
        // No campaign name: adAnalytics names a campaign by URN only.
        LinkedIn => t
            .linkedin_analytics
            .row()
            .str(LINKEDIN_ACCOUNT_ID)
            .str("USD")
            .int(c.id)
            .count(d.impressions)
            .count(d.clicks)
            .float(d.cost)
            .float(d.cost)
            .count(d.form_leads)
            .count(d.website_conversions)
            .count(linkedin_landing_page_clicks(d))
            // Sponsored updates and text ads without video.
            .count(0)
            .end(),
    }
}

/// LinkedIn's landing page clicks: the clicks that did not open a lead gen
/// form, less the one in ten on the company name, likes and the like.
/// Derived, not drawn, so that the random streams (and every other number)
/// stay as they were.
fn linkedin_landing_page_clicks(d: &AdDay) -> u64 {
    (d.clicks.saturating_sub(d.form_leads) as f64 * 0.9).round() as u64
}

// ---------------------------------------------------------------------------
// Website (GA4) and the leads it produces
// ---------------------------------------------------------------------------

/// What one market's website day needs to write GA4 rows and create contacts.
struct Web<'a> {
    date: NaiveDate,
    ga4: &'a mut Table,
    crm: &'a mut Crm,
    rng: &'a mut ChaCha8Rng,
    sink: &'a mut dyn RawSink,
}

impl Web<'_> {
    /// Writes the GA4 rows (one per device with sessions) of one
    /// source / medium / campaign, and a contact per form submission.
    fn traffic(
        &mut self,
        (source, medium, campaign): (&str, &str, &str),
        expected_sessions: f64,
        profile: &Profile,
        lead_rate: f64,
        origin: Origin<'_>,
    ) -> Result<(), GenerateError> {
        if expected_sessions <= 0.0 {
            return Ok(());
        }
        let rng = &mut *self.rng;
        for (d, device) in DEVICES.iter().enumerate() {
            let sessions = poisson(rng, expected_sessions * profile.devices[d]);
            if sessions == 0 {
                continue;
            }
            let returning = rng.random_range(0.8..0.95);
            let users = binomial(rng, sessions, returning).max(1);
            let new_share = profile.new_users * noise(rng, 0.1);
            let new_users = binomial(rng, users, new_share);
            let engaged_share = profile.engaged * noise(rng, 0.08);
            let engaged = binomial(rng, sessions, engaged_share);
            let duration = (engaged as f64 * rng.random_range(60.0..200.0)).round();
            let (lo, hi) = profile.pages;
            let views = ((sessions as f64 * rng.random_range(lo..hi)).round() as u64).max(sessions);
            let leads =
                poisson(rng, sessions as f64 * lead_rate * DEVICE_LEAD_FACTOR[d]).min(sessions);
            self.ga4
                .row()
                .str(GA4_PROPERTY)
                .str(source)
                .str(medium)
                .str(campaign)
                .str(device)
                .count(sessions)
                .count(users)
                .count(new_users)
                .count(engaged)
                .float(duration)
                .count(views)
                .float(leads as f64)
                .end();
            for _ in 0..leads {
                self.crm.contact(self.date, origin, None, &mut *self.sink)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Search Console
// ---------------------------------------------------------------------------

/// Organic CTR by average position: steep on page one, a trickle after.
fn ctr_at(position: f64, brand: bool) -> f64 {
    let ctr = 0.30 * position.powf(-1.3);
    if brand { (ctr * 1.7).min(0.7) } else { ctr }
}

/// Returns the day's clicks, which become GA4 google/organic sessions.
fn search_console_day(
    rng: &mut ChaCha8Rng,
    table: &mut Table,
    queries: &mut [Query],
    level: f64,
    vol: f64,
) -> u64 {
    let demand_level = level * vol;
    let mut total_clicks = 0;
    for q in queries.iter_mut() {
        // Slow drift toward the target (months), plus day-to-day wobble.
        q.position += (q.target - q.position) * 0.004 + 0.03 * normal(rng);
        q.position = if q.brand {
            q.position.clamp(1.0, 3.0)
        } else {
            q.position.clamp(1.0, 40.0)
        };
        // Beyond page one, few people scroll far enough to see the result.
        let visibility = if q.position <= 10.0 {
            1.0
        } else {
            (10.0 / q.position).powf(1.5)
        };
        for (device, share, penalty) in [
            ("DESKTOP", 1.0 - q.mobile_share, 0.0),
            ("MOBILE", q.mobile_share, 0.3),
        ] {
            let impressions = poisson(rng, q.demand * share * visibility * demand_level);
            if impressions == 0 {
                continue;
            }
            let max = if q.brand { 3.0 } else { 40.0 };
            let position = ((q.position + penalty) * noise(rng, 0.05)).clamp(1.0, max);
            let clicks = binomial(rng, impressions, ctr_at(position, q.brand));
            total_clicks += clicks;
            table
                .row()
                .str(SEARCH_CONSOLE_SITE)
                .str(&q.text)
                .str(device)
                .count(clicks)
                .count(impressions)
                .float(clicks as f64 / impressions as f64)
                .float(round2(position))
                .end();
        }
    }
    total_clicks
}

// ---------------------------------------------------------------------------
// Mailchimp
// ---------------------------------------------------------------------------

/// The day's sends of market `m`: a report (`reports`, on the send day) and a
/// campaign (`campaigns`, the snapshot) each. The report is as of `end`, the
/// last generated day: opens and clicks that came after the send day are in
/// it, and its last open and click are no later than `end`.
fn mailchimp_day(
    rng: &mut ChaCha8Rng,
    (table, campaigns): (&mut Table, &mut Table),
    m: &mut Market,
    (date, end): (NaiveDate, NaiveDate),
    growth: f64,
    volume: f64,
) {
    // The list grows more slowly than traffic: not every lead opts in.
    let list = 12_000.0 * m.size * volume * growth.powf(0.8);
    let list_name = format!("Example SaaS Newsletter{}", m.tag);
    let last_ms = madrid_ms(end, 23 * 3600 + 59 * 60);
    let mut title = String::new();
    for (e, tpl) in EMAILS.iter().enumerate() {
        if !email_sends_on(e, date) {
            continue;
        }
        let sent = poisson(rng, list * tpl.audience);
        if sent == 0 {
            continue;
        }
        let hard = binomial(rng, sent, 0.003);
        let soft = binomial(rng, sent, 0.008);
        let syntax = binomial(rng, sent, 0.0001);
        let delivered = sent - hard - soft - syntax;
        let (open_rate, click_rate, unsubscribe_rate) = (
            tpl.open_rate * noise(rng, 0.1),
            tpl.click_rate / tpl.open_rate * noise(rng, 0.15),
            tpl.unsubscribe_rate * noise(rng, 0.2),
        );
        let opens = binomial(rng, delivered, open_rate);
        // Clicks per open: the click rate is per delivered email.
        let clicks = binomial(rng, opens, click_rate);
        let forwards = binomial(rng, opens, 0.008);
        let unsubscribed = binomial(rng, delivered, unsubscribe_rate);
        let abuse = poisson(rng, sent as f64 * 0.00005);
        // Visits: each clicker visits a bit more than once, mostly on the send day.
        for (day, share) in EMAIL_VISIT_DECAY.iter().enumerate() {
            m.email_visits[e][day] += clicks as f64 * 1.4 * share;
        }
        m.emails_sent += 1;
        // Unique per market and send; the xor only makes it look like Mailchimp's.
        let id = ((m.emails_sent & 0xff_ffff) | ((m.index as u64 & 0xffff) << 24)) ^ 0x5a_3c91_e7b4;
        title.clear();
        let month = MONTH_NAMES[date.month0() as usize];
        let _ = match e {
            0 => write!(title, "{} - {month} {}", m.email_names[e], date.year()),
            1 => write!(
                title,
                "{} - {month} {} #{}",
                m.email_names[e],
                date.year(),
                if date.day() <= 14 { 1 } else { 2 }
            ),
            _ => write!(
                title,
                "{} - Week {} {}",
                m.email_names[e],
                date.iso_week().week(),
                date.iso_week().year()
            ),
        };
        let mut id_text = [0u8; 10];
        let id_text = hex10(&mut id_text, id);
        let send_ms = madrid_ms(date, tpl.send_at);
        // Mailchimp's rates are of the delivered emails, as fractions, here to
        // six decimals: a JSON parser reads those back exactly, where one
        // without correct rounding may miss a 17-digit value by its last bit.
        // The totals count repeats (an open on two devices, two links
        // clicked): fixed multiples, so that no random draw moves the other
        // numbers.
        let rate = |n: u64| {
            if delivered == 0 {
                0.0
            } else {
                (n as f64 / delivered as f64 * 1e6).round() / 1e6
            }
        };
        let last = |n: u64, days: i64| (n > 0).then(|| (send_ms + days * 86_400_000).min(last_ms));
        table
            .row()
            .str(id_text)
            .str(&title)
            .str(tpl.kind)
            .str(&m.list_id)
            .str(&list_name)
            .str(tpl.subject)
            .ts(Some(send_ms))
            .count(sent)
            .count(abuse)
            .count(unsubscribed)
            .count(hard)
            .count(soft)
            .count(syntax)
            .count(forwards)
            .count(forwards + forwards / 2)
            .count(opens + opens * 7 / 10)
            .count(opens)
            .float(rate(opens))
            .ts(last(opens, 6))
            .count(clicks + clicks / 2)
            .count(clicks + clicks / 5)
            .count(clicks)
            .float(rate(clicks))
            .ts(last(clicks, 3))
            .end();
        // The campaign, with Google Analytics tracking on: its links carry
        // utm_campaign=<the email's key>.
        campaigns
            .row()
            .str(id_text)
            .str(tpl.kind)
            .str("sent")
            .ts(Some(send_ms))
            .opt_str(Some(&title))
            .opt_str(Some(&m.email_keys[e]))
            .end();
    }
}

/// The low 40 bits of `v` as 10 lowercase hex digits (Mailchimp-style ids).
fn hex10(buf: &mut [u8; 10], v: u64) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((v >> (4 * (9 - i))) & 0xf) as usize];
    }
    std::str::from_utf8(buf).expect("ascii")
}

// ---------------------------------------------------------------------------
// Social, backlinks, costs
// ---------------------------------------------------------------------------

/// Writes the networks' page insights and mentions; returns link clicks per network.
fn social_day(
    rng: &mut ChaCha8Rng,
    social: &mut Social,
    pages: &mut Table,
    mentions: &mut Table,
    (season, growth): (f64, f64),
    volume: f64,
) -> [u64; 4] {
    // Posting and listening follow the working week less than searches do.
    let (reach, buzz) = (season.powf(0.6) * growth, season.sqrt() * growth);
    let mut clicks = [0; 4];
    for (n, net) in NETWORKS.iter().enumerate() {
        let (name, _, _, impressions, engagement, click_share, _, new_followers, mentioned) = *net;
        let expected = impressions * reach * volume * noise(rng, 0.2);
        let impressions = poisson(rng, expected);
        let engagement = engagement * noise(rng, 0.2);
        let engagements = binomial(rng, impressions, engagement);
        clicks[n] = binomial(rng, engagements, click_share);
        // Followers mostly grow; a quiet day can lose a few.
        let gained = poisson(rng, new_followers * buzz * volume) as f64;
        let lost = poisson(rng, new_followers * 0.25 * volume) as f64;
        social.followers[n] = (social.followers[n] + gained - lost).max(0.0);
        pages
            .row()
            .str(name)
            .count(impressions)
            .count(engagements)
            .count(clicks[n])
            .int(social.followers[n] as i64)
            .end();
        let mean = mentioned * buzz * volume;
        mentions
            .row()
            .str(name)
            .count(poisson(rng, mean * 0.25))
            .count(poisson(rng, mean * 0.63))
            .count(poisson(rng, mean * 0.12))
            .end();
    }
    clicks
}

/// The weekly crawl: referring domains creep up, with the odd lost batch.
fn backlinks_day(rng: &mut ChaCha8Rng, b: &mut Backlinks, table: &mut Table) {
    let mut delta = 1.3 + 3.0 * normal(rng);
    if chance(rng, 0.06) {
        delta -= rng.random_range(4.0..12.0);
    }
    b.referring_domains = (b.referring_domains + delta).max(300.0);
    b.ratio = (b.ratio + 0.15 * normal(rng)).clamp(8.0, 15.0);
    b.domain_rating = (b.domain_rating + 0.1 + 0.25 * normal(rng)).clamp(40.0, 55.0);
    let domains = b.referring_domains.round();
    table
        .row()
        .str("example.com")
        .int(domains as i64)
        .int((domains * b.ratio).round() as i64)
        .float((b.domain_rating * 10.0).round() / 10.0)
        .end();
}

/// Non-ad marketing costs booked today. Monthly fees are spread over the days of
/// the month so that any period's cost is right without month-end spikes.
fn costs_day(
    rng: &mut ChaCha8Rng,
    table: &mut Table,
    markets: &[Market],
    date: NaiveDate,
    volume: f64,
    total_size: f64,
) {
    let dim = days_in_month(date);
    let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let mut vendor = String::new();
    let mut cost = |vendor: &str,
                    category: &str,
                    channel: Option<&str>,
                    campaign: Option<&str>,
                    amount: f64,
                    currency: &str| {
        table
            .row()
            .str(vendor)
            .str(category)
            .opt_str(channel)
            .opt_str(campaign)
            .float(round2(amount))
            .str(currency)
            .end();
    };
    for m in markets {
        let size = m.size * volume;
        vendor.clear();
        let _ = write!(vendor, "Nubo Content & SEO{}", m.tag);
        cost(
            &vendor,
            "agency",
            Some("organic_search"),
            None,
            3800.0 * size / dim,
            "EUR",
        );
        vendor.clear();
        let _ = write!(vendor, "Bright Social Studio{}", m.tag);
        cost(
            &vendor,
            "agency",
            Some("organic_social"),
            None,
            2400.0 * size / dim,
            "EUR",
        );
        if weekday && chance(rng, 0.25) {
            vendor.clear();
            let _ = write!(vendor, "Freelance copywriter{}", m.tag);
            let amount = rng.random_range(180.0..450.0) * size;
            cost(
                &vendor,
                "content",
                Some("organic_search"),
                None,
                amount,
                "EUR",
            );
        }
        if webinar_in(date.year(), date.month()) == Some(date) {
            vendor.clear();
            let _ = write!(vendor, "Webinar Studio{}", m.tag);
            let amount = rng.random_range(1200.0..2800.0) * size;
            let campaign = Some(m.partner_key.as_str());
            cost(&vendor, "events", Some("referral"), campaign, amount, "EUR");
        }
    }
    let size = total_size * volume;
    // Seat-based tools: no channel, so staging leaves them unallocated.
    cost(
        "HubSpot Marketing Hub",
        "tools",
        None,
        None,
        3600.0 * size / dim,
        "USD",
    );
    cost(
        "Mailchimp",
        "tools",
        Some("email"),
        None,
        350.0 * size / dim,
        "USD",
    );
    if weekday && chance(rng, 0.15) {
        let amount = rng.random_range(250.0..900.0) * size;
        cost("Marta Ruiz Design", "content", None, None, amount, "EUR");
    }
}

// ---------------------------------------------------------------------------
// CRM
// ---------------------------------------------------------------------------

/// Stage conversion probabilities for leads of a given quality (1.0 = average;
/// LinkedIn and referrals convert better, display worse).
struct Funnel {
    mql: f64,
    sql: f64,
    opportunity: f64,
    win: f64,
}

impl Funnel {
    fn new(quality: f64) -> Self {
        Self {
            mql: (0.35 * quality).min(0.9),
            sql: (0.40 * quality).min(0.9),
            opportunity: (0.60 * quality.sqrt()).min(0.9),
            win: (0.25 * quality).min(0.6),
        }
    }
}

/// The share of leads of this quality that become customers.
fn win_probability(quality: f64) -> f64 {
    let p = Funnel::new(quality);
    p.mql * p.sql * p.opportunity * p.win
}

const OPEN_STAGES: [&str; 5] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
];

const COMPANY_WORDS: [&str; 20] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Soylent",
    "Cyberdyne",
    "Wonka",
    "Nakatomi",
    "Oscorp",
    "Dunder",
    "Prestige",
    "Massive",
    "Monarch",
    "Aperture",
    "Gringotts",
];

/// The HubSpot contacts and deals snapshots, written as contacts are created.
struct Crm {
    end: NaiveDate,
    rng: ChaCha8Rng,
    contacts: Table,
    deals: Table,
    contacts_created: u64,
    deals_created: u64,
    /// Scratch for deal names.
    text: String,
}

/// A deal's fate, decided when its opportunity is created.
#[derive(Clone, Copy)]
enum Outcome {
    Won(NaiveDate),
    Lost(NaiveDate),
    /// Never closes (still open at any end date).
    Stalled,
}

/// One step of a customer's yearly renewal history.
enum Renewal {
    /// The renewal deal is created on `create` and closes (won) on `due`.
    Renewed {
        create: NaiveDate,
        due: NaiveDate,
        amount: f64,
    },
    /// The customer did not renew: churned on `due`.
    Churned(NaiveDate),
}

/// Plays a customer's renewals from its first win on `won` until it churns or
/// the next renewal deal would be created after `end`. It draws from its own
/// RNG (seeded by `seed`) so that it can be replayed identically: once to see
/// whether an old customer is still around, once to write it.
fn renewals(
    seed: u64,
    won: NaiveDate,
    mut amount: f64,
    end: NaiveDate,
    mut each: impl FnMut(Renewal),
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut due = won;
    loop {
        due = workday(due + Months::new(12));
        let create = due - Days::new(rng.random_range(25..=35));
        if create > end {
            return;
        }
        if !chance(&mut rng, 0.85) {
            each(Renewal::Churned(due));
            return;
        }
        amount = (amount * rng.random_range(1.0..1.15) / 50.0).round() * 50.0;
        each(Renewal::Renewed {
            create,
            due,
            amount,
        });
        if due > end {
            return;
        }
    }
}

impl Crm {
    fn new(end: NaiveDate, rng: ChaCha8Rng) -> Result<Self, GenerateError> {
        Ok(Self {
            end,
            rng,
            contacts: Table::new("hubspot", "contacts")?,
            deals: Table::new("hubspot", "deals")?,
            contacts_created: 0,
            deals_created: 0,
            text: String::new(),
        })
    }

    /// The timestamp of a stage reached on `d`, if it is known by `end`.
    fn stage_ms(&mut self, d: Option<NaiveDate>) -> Option<i64> {
        d.filter(|d| *d <= self.end)
            .map(|d| business_ms(&mut self.rng, d))
    }

    /// Creates a lead on `date` and writes its whole known history: the contact
    /// and, if it became an opportunity, its deals (renewals included).
    ///
    /// With `visible_from`, the lead belongs to the history before the generated
    /// period and is only written if something happens to it from that date on.
    fn contact(
        &mut self,
        date: NaiveDate,
        origin: Origin<'_>,
        visible_from: Option<NaiveDate>,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        let p = Funnel::new(origin.quality);
        let rng = &mut self.rng;

        // The funnel, decided now; stages beyond `end` stay hidden when written.
        let (mut mql, mut sql, mut opp) = (None, None, None);
        if chance(rng, p.mql) {
            let at = after(rng, date, 1, 10);
            // Some leads are handed straight to sales and never get an MQL date.
            if !chance(rng, 0.05) {
                mql = Some(at);
            }
            if chance(rng, p.sql) {
                let at = after(rng, at, 2, 20);
                sql = Some(at);
                if chance(rng, p.opportunity) {
                    opp = Some(after(rng, at, 3, 15));
                }
            }
        }
        let p_win = p.win;
        let outcome = opp.map(|at| {
            let r = rng.random::<f64>();
            if r < p_win {
                Outcome::Won(after(rng, at, 20, 75))
            } else if r < p_win + (1.0 - p_win) * 0.88 {
                Outcome::Lost(after(rng, at, 15, 90))
            } else {
                Outcome::Stalled
            }
        });
        self.journey(date, [mql, sql, opp], outcome, origin, visible_from, sink)
    }

    /// A customer won on `won`, long before the generated period, with its
    /// history laid out backwards from the win.
    fn old_customer(
        &mut self,
        won: NaiveDate,
        origin: Origin<'_>,
        visible_from: NaiveDate,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        let rng = &mut self.rng;
        // Two days more than the range, so that the move to a workday cannot
        // reach the later stage.
        let mut back =
            |d: NaiveDate, lo: u64, hi: u64| workday(d - Days::new(rng.random_range(lo..=hi) + 2));
        let opp = back(won, 20, 75);
        let sql = back(opp, 3, 15);
        let mql = back(sql, 2, 20);
        let lead = back(mql, 1, 10);
        let stages = [Some(mql), Some(sql), Some(opp)];
        let won = Some(Outcome::Won(won));
        self.journey(lead, stages, won, origin, Some(visible_from), sink)
    }

    /// Writes a contact created on `lead` with its later stage dates (MQL, SQL,
    /// opportunity) and its deals: the new-business deal of the opportunity and,
    /// once won, a renewal every year until it churns. Nothing after `end` is
    /// revealed; with `visible_from`, nothing at all unless something happens
    /// from that date on.
    fn journey(
        &mut self,
        date: NaiveDate,
        [mql, sql, opp]: [Option<NaiveDate>; 3],
        outcome: Option<Outcome>,
        origin: Origin<'_>,
        visible_from: Option<NaiveDate>,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
        let rng = &mut self.rng;
        // Deal terms, decided whether or not the deal is ever revealed.
        let usd = chance(rng, 0.15); // US customers are invoiced in dollars
        // Lognormal with median 12k: most deals are small, a few are big.
        let eur = (12_000.0 * (0.5 * normal(rng)).exp()).clamp(3_000.0, 60_000.0);
        let amount = (eur * if usd { 1.08 } else { 1.0 } / 50.0).round() * 50.0;
        let renewal_seed = rng.random::<u64>();
        let (close, won) = match outcome {
            Some(Outcome::Won(d)) => (Some(d), true),
            Some(Outcome::Lost(d)) => (Some(d), false),
            _ => (None, false),
        };

        if let Some(from) = visible_from {
            let mut last = [Some(date), mql, sql, opp, close]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(date);
            if let (Some(Outcome::Stalled), Some(opp)) = (outcome, opp) {
                last = opp + Months::new(12); // still open, if not too old
            }
            if let (true, Some(won_on)) = (won, close) {
                renewals(renewal_seed, won_on, amount, self.end, |r| {
                    let (Renewal::Renewed { due, .. } | Renewal::Churned(due)) = r;
                    last = last.max(due);
                });
            }
            if last < from {
                return Ok(());
            }
        }

        let lead_ms = business_ms(&mut self.rng, date);
        let mql_ms = self.stage_ms(mql);
        let sql_ms = self.stage_ms(sql);
        let opp_ms = self.stage_ms(opp);
        self.contacts_created += 1;
        let n = self.contacts_created;
        let mut id_buf = [0u8; 20];
        let id = decimal(&mut id_buf, 1_000_000 + n);

        let mut customer_ms = None;
        let mut churn_ms = None;
        if let Some(create_ms) = opp_ms {
            let company = COMPANY_WORDS[(n % 20) as usize];
            let number = 100 + (n / 20) % 900;
            let currency = if usd { "USD" } else { "EUR" };
            let close_ms = self.stage_ms(close);
            // Early open deals often have no amount yet.
            let known_amount = close_ms.is_some() || !chance(&mut self.rng, 0.1);
            let stage = match close_ms {
                Some(_) if won => "closedwon",
                Some(_) => "closedlost",
                None => OPEN_STAGES[self.rng.random_range(0..OPEN_STAGES.len())],
            };
            self.text.clear();
            let _ = write!(self.text, "{company} {number} - New business");
            let amount_shown = known_amount.then_some(amount);
            self.deal(
                id,
                amount_shown,
                currency,
                create_ms,
                close_ms,
                stage,
                "default",
            );
            if let (true, Some(won_ms), Some(won_on)) = (won, close_ms, close) {
                customer_ms = Some(won_ms);
                let end = self.end;
                renewals(renewal_seed, won_on, amount, end, |r| match r {
                    Renewal::Churned(due) => churn_ms = self.stage_ms(Some(due)),
                    Renewal::Renewed {
                        create,
                        due,
                        amount,
                    } => {
                        let create_ms = business_ms(&mut self.rng, create);
                        let close_ms = self.stage_ms(Some(due));
                        self.text.clear();
                        let _ = write!(self.text, "{company} {number} - Renewal {}", due.year());
                        let stage = if close_ms.is_some() {
                            "closedwon"
                        } else {
                            "contractsent"
                        };
                        let shown = Some(amount);
                        self.deal(id, shown, currency, create_ms, close_ms, stage, "renewals");
                    }
                });
            }
        }

        let (stage, _) = [
            ("customer", customer_ms),
            ("opportunity", opp_ms),
            ("salesqualifiedlead", sql_ms),
            ("marketingqualifiedlead", mql_ms),
            ("lead", Some(lead_ms)),
        ]
        .into_iter()
        .find(|(_, ms)| ms.is_some())
        .expect("every contact is a lead");
        let modified = [mql_ms, sql_ms, opp_ms, customer_ms, churn_ms]
            .into_iter()
            .flatten()
            .fold(lead_ms, i64::max);
        let (source, data_1, data_2) = hubspot_drill_down(&origin);
        self.contacts
            .row()
            .str(id)
            .ts(Some(lead_ms))
            .ts(Some(modified))
            .opt_str(Some(stage))
            .ts(Some(lead_ms))
            .ts(mql_ms)
            .ts(sql_ms)
            .ts(opp_ms)
            .ts(customer_ms)
            .ts(churn_ms)
            .opt_str(Some(source))
            .opt_str(data_1)
            .opt_str(data_2)
            .end();
        self.contacts.flush_snapshot_if_full(sink)?;
        self.deals.flush_snapshot_if_full(sink)
    }

    /// Writes one deal; the name is in `self.text`. `close_ms` is None while open.
    #[allow(clippy::too_many_arguments)]
    fn deal(
        &mut self,
        contact_id: &str,
        amount: Option<f64>,
        currency: &str,
        create_ms: i64,
        close_ms: Option<i64>,
        stage: &str,
        pipeline: &str,
    ) {
        self.deals_created += 1;
        let mut id_buf = [0u8; 20];
        let id = decimal(&mut id_buf, 9_000_000_000 + self.deals_created);
        let closed = close_ms.is_some();
        self.deals
            .row()
            .str(id)
            .str(&self.text)
            .opt_float(amount)
            .str(currency)
            .ts(Some(create_ms))
            .ts(close_ms)
            .str(stage)
            .str(pipeline)
            .boolean(closed)
            .boolean(closed && stage == "closedwon")
            .opt_str(Some(contact_id))
            .end();
    }
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};

    use super::*;

    /// Counts rows and checks invariants of every batch as it arrives.
    #[derive(Default)]
    struct MemSink {
        rows: BTreeMap<(String, String), u64>,
        daily_keys: BTreeSet<(String, String, NaiveDate)>,
        max_snapshot_batch: usize,
        ga4_campaigns: BTreeSet<String>,
        ad_campaign_keys: BTreeSet<String>,
        /// LinkedIn campaign names by id, from its campaign list.
        linkedin_names: BTreeMap<i64, String>,
        crm_campaigns: BTreeSet<String>,
        /// A few sums that must be reproducible.
        google_cost_micros: i64,
        ga4_sessions: i64,
        ga4_key_events: f64,
        contact_lead_ms: i64,
        deal_amount: f64,
        contact_ids: BTreeSet<String>,
        deal_contacts: BTreeSet<String>,
        customers: u64,
        won_deals: u64,
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let col = batch.column_by_name(name).expect(name).as_string::<i32>();
        (0..col.len())
            .map(|i| col.is_valid(i).then(|| col.value(i).to_string()))
            .collect()
    }

    fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
        let col = batch.column_by_name(name).expect(name);
        col.as_primitive::<Int64Type>().values().to_vec()
    }

    fn floats(batch: &RecordBatch, name: &str) -> Vec<f64> {
        let col = batch.column_by_name(name).expect(name);
        col.as_primitive::<Float64Type>().values().to_vec()
    }

    fn stamps(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
        let col = batch.column_by_name(name).expect(name);
        let col = col.as_primitive::<TimestampMillisecondType>();
        (0..col.len())
            .map(|i| col.is_valid(i).then(|| col.value(i)))
            .collect()
    }

    impl MemSink {
        fn check_schema(&mut self, spec: &StreamSpec, batch: &RecordBatch) {
            let declared = find(spec.source_type, spec.stream).expect("known stream");
            assert_eq!(*batch.schema(), *declared.schema, "{}", spec.stream);
            assert!(batch.num_rows() > 0, "empty batch for {}", spec.stream);
            *self
                .rows
                .entry((spec.source_type.into(), spec.stream.into()))
                .or_default() += batch.num_rows() as u64;
        }

        fn inspect(&mut self, spec: &StreamSpec, b: &RecordBatch) {
            match (spec.source_type, spec.stream) {
                ("google_ads", "campaign_stats") => {
                    self.google_cost_micros += ints(b, "metrics_cost_micros").iter().sum::<i64>();
                    for n in strings(b, "campaign_name").into_iter().flatten() {
                        self.ad_campaign_keys.insert(campaign_key(&n));
                    }
                }
                ("meta_ads", "ads_insights") => {
                    for n in strings(b, "campaign_name").into_iter().flatten() {
                        self.ad_campaign_keys.insert(campaign_key(&n));
                    }
                }
                // The campaign list comes first; analytics name campaigns by id.
                ("linkedin_ads", "campaigns") => {
                    let names = strings(b, "name");
                    for (id, name) in ints(b, "id").into_iter().zip(names) {
                        self.linkedin_names.insert(id, name.expect("name"));
                    }
                }
                ("linkedin_ads", "ad_analytics") => {
                    for id in ints(b, "campaign_id") {
                        let name = &self.linkedin_names[&id];
                        self.ad_campaign_keys.insert(campaign_key(name));
                    }
                }
                ("ga4", "traffic") => {
                    let sessions = ints(b, "sessions");
                    let users = ints(b, "total_users");
                    let new_users = ints(b, "new_users");
                    let engaged = ints(b, "engaged_sessions");
                    let key_events = floats(b, "key_events");
                    for i in 0..b.num_rows() {
                        assert!(new_users[i] <= users[i] && users[i] <= sessions[i]);
                        assert!(engaged[i] <= sessions[i] && sessions[i] > 0);
                        assert!(key_events[i] <= sessions[i] as f64);
                    }
                    self.ga4_sessions += sessions.iter().sum::<i64>();
                    self.ga4_key_events += key_events.iter().sum::<f64>();
                    for n in strings(b, "session_campaign_name").into_iter().flatten() {
                        self.ga4_campaigns.insert(n);
                    }
                }
                ("search_console", "search_analytics") => {
                    let clicks = ints(b, "clicks");
                    let impressions = ints(b, "impressions");
                    let positions = floats(b, "position");
                    for i in 0..b.num_rows() {
                        assert!(impressions[i] > 0 && clicks[i] <= impressions[i]);
                        assert!((1.0..=40.0).contains(&positions[i]));
                    }
                }
                ("hubspot", "contacts") => self.inspect_contacts(b),
                ("hubspot", "deals") => self.inspect_deals(b),
                _ => {}
            }
        }

        fn inspect_contacts(&mut self, b: &RecordBatch) {
            let created = stamps(b, "createdate");
            let modified = stamps(b, "lastmodifieddate");
            let stages = [
                "hs_lifecyclestage_lead_date",
                "hs_lifecyclestage_marketingqualifiedlead_date",
                "hs_lifecyclestage_salesqualifiedlead_date",
                "hs_lifecyclestage_opportunity_date",
                "hs_lifecyclestage_customer_date",
                "churn_date",
            ]
            .map(|s| stamps(b, s));
            let lifecycle = strings(b, "lifecyclestage");
            let ids = strings(b, "id");
            for (i, id) in ids.into_iter().enumerate() {
                assert!(
                    self.contact_ids.insert(id.expect("id")),
                    "duplicate contact id"
                );
                let lead = stages[0][i].expect("lead date");
                assert_eq!(created[i], Some(lead));
                self.contact_lead_ms += lead / 1000;
                // Stages never go back in time; a missing SQL/opportunity/customer
                // means none of the later ones either (only MQL may be skipped).
                let mut last = lead;
                let mut gone = false;
                for (s, stage) in stages.iter().enumerate().skip(1) {
                    match stage[i] {
                        Some(ms) => {
                            assert!(!gone, "stage {s} after a missing stage");
                            assert!(ms >= last, "stage {s} before the previous stage");
                            last = ms;
                        }
                        None if s >= 2 => gone = true,
                        None => {}
                    }
                }
                assert_eq!(modified[i], Some(last));
                if stages[4][i].is_some() {
                    self.customers += 1;
                    assert_eq!(lifecycle[i].as_deref(), Some("customer"));
                }
            }
        }

        fn inspect_deals(&mut self, b: &RecordBatch) {
            let created = stamps(b, "createdate");
            let closed_at = stamps(b, "closedate");
            let closed = b
                .column_by_name("hs_is_closed")
                .unwrap()
                .as_boolean()
                .clone();
            let won = b
                .column_by_name("hs_is_closed_won")
                .unwrap()
                .as_boolean()
                .clone();
            let stage = strings(b, "dealstage");
            let amount = b
                .column_by_name("amount")
                .unwrap()
                .as_primitive::<Float64Type>();
            for (i, contact) in strings(b, "associated_contact_id").into_iter().enumerate() {
                self.deal_contacts.insert(contact.expect("contact"));
                assert_eq!(closed.value(i), closed_at[i].is_some());
                assert_eq!(won.value(i), stage[i].as_deref() == Some("closedwon"));
                assert!(!won.value(i) || closed.value(i));
                if let Some(close) = closed_at[i] {
                    assert!(close >= created[i].unwrap());
                }
                if amount.is_valid(i) {
                    assert!((3_000.0..=200_000.0).contains(&amount.value(i)));
                    self.deal_amount += amount.value(i);
                }
                self.won_deals += u64::from(won.value(i));
            }
        }
    }

    impl RawSink for MemSink {
        fn daily(
            &mut self,
            spec: &StreamSpec,
            date: NaiveDate,
            batch: RecordBatch,
        ) -> Result<(), SinkError> {
            assert!(matches!(spec.layout, kpi_lake::Layout::Daily));
            let key = (spec.source_type.to_string(), spec.stream.to_string(), date);
            assert!(self.daily_keys.insert(key), "two batches for one day");
            self.check_schema(spec, &batch);
            self.inspect(spec, &batch);
            Ok(())
        }

        fn snapshot(&mut self, spec: &StreamSpec, batch: RecordBatch) -> Result<(), SinkError> {
            assert!(matches!(spec.layout, kpi_lake::Layout::Snapshot));
            self.max_snapshot_batch = self.max_snapshot_batch.max(batch.num_rows());
            self.check_schema(spec, &batch);
            if spec.stream == "contacts" {
                // The campaign is in drill-down 1 or 2 depending on the source,
                // as HubSpot lays it out (see `hubspot_drill_down`).
                let sources = strings(&batch, "hs_analytics_source");
                let d1 = strings(&batch, "hs_analytics_source_data_1");
                let d2 = strings(&batch, "hs_analytics_source_data_2");
                for ((source, d1), d2) in sources.into_iter().zip(d1).zip(d2) {
                    let campaign = match source.as_deref() {
                        Some("PAID_SEARCH" | "EMAIL_MARKETING" | "OTHER_CAMPAIGNS") => d1,
                        Some("SOCIAL_MEDIA" | "PAID_SOCIAL") => d2,
                        _ => None,
                    };
                    self.crm_campaigns.extend(campaign);
                }
            }
            self.inspect(spec, &batch);
            Ok(())
        }
    }

    fn company(months: u32, scale: f64) -> Company {
        Company {
            months,
            scale,
            ..Company::new(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap())
        }
    }

    fn run(c: &Company) -> (Summary, MemSink) {
        let mut sink = MemSink::default();
        let summary = generate(c, &mut sink).expect("generate");
        (summary, sink)
    }

    /// Monthly totals of the headline measures, to eyeball the story.
    #[derive(Default)]
    struct Report {
        months: BTreeMap<String, [f64; 10]>,
        sources: BTreeMap<String, [u64; 3]>,
        samples: BTreeMap<&'static str, RecordBatch>,
    }

    const REPORT_COLUMNS: [&str; 10] = [
        "sessions",
        "leads",
        "mqls",
        "sqls",
        "opps",
        "won",
        "revenue",
        "ad_spend",
        "other",
        "sc_clicks",
    ];

    impl Report {
        fn add(&mut self, month: String, col: usize, v: f64) {
            self.months.entry(month).or_default()[col] += v;
        }

        fn add_ms(&mut self, ms: Option<i64>, col: usize, v: f64) {
            if let Some(ms) = ms {
                let d = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                self.add(d.format("%Y-%m").to_string(), col, v);
            }
        }
    }

    impl RawSink for Report {
        fn daily(
            &mut self,
            spec: &StreamSpec,
            date: NaiveDate,
            b: RecordBatch,
        ) -> Result<(), SinkError> {
            let month = date.format("%Y-%m").to_string();
            if date.day() == 12 && date.month() == 11 && date.year() == 2026 {
                self.samples
                    .insert(spec.stream, b.slice(0, b.num_rows().min(6)));
            }
            let sum_i = |c| ints(&b, c).iter().sum::<i64>() as f64;
            let sum_f = |c| floats(&b, c).iter().sum::<f64>();
            // USD at a flat 0.92 EUR: enough to eyeball.
            match (spec.source_type, spec.stream) {
                ("ga4", _) => self.add(month, 0, sum_i("sessions")),
                ("google_ads", _) => self.add(month, 7, sum_i("metrics_cost_micros") / 1e6),
                ("meta_ads", _) => self.add(month, 7, sum_f("spend") * 0.92),
                ("linkedin_ads", _) => self.add(month, 7, sum_f("cost_in_usd") * 0.92),
                ("search_console", _) => self.add(month, 9, sum_i("clicks")),
                ("costs", _) => {
                    let eur: f64 = floats(&b, "amount")
                        .iter()
                        .zip(strings(&b, "currency"))
                        .map(|(a, c)| {
                            if c.as_deref() == Some("USD") {
                                a * 0.92
                            } else {
                                *a
                            }
                        })
                        .sum();
                    self.add(month, 8, eur);
                }
                _ => {}
            }
            Ok(())
        }

        fn snapshot(&mut self, spec: &StreamSpec, b: RecordBatch) -> Result<(), SinkError> {
            if !self.samples.contains_key(spec.stream) || spec.stream == "deals" {
                self.samples.insert(
                    spec.stream,
                    b.slice(b.num_rows().saturating_sub(6), b.num_rows().min(6)),
                );
            }
            if spec.stream == "contacts" {
                let cols = [
                    "hs_lifecyclestage_lead_date",
                    "hs_lifecyclestage_marketingqualifiedlead_date",
                    "hs_lifecyclestage_salesqualifiedlead_date",
                    "hs_lifecyclestage_opportunity_date",
                    "hs_lifecyclestage_customer_date",
                ];
                for (s, col) in cols.iter().enumerate() {
                    for ms in stamps(&b, col) {
                        self.add_ms(ms, 1 + s, 1.0);
                    }
                }
                let sql = stamps(&b, cols[2]);
                let won = stamps(&b, cols[4]);
                for (i, src) in strings(&b, "hs_analytics_source").into_iter().enumerate() {
                    let e = self.sources.entry(src.unwrap()).or_default();
                    e[0] += 1;
                    e[1] += u64::from(sql[i].is_some());
                    e[2] += u64::from(won[i].is_some());
                }
            } else if spec.stream == "deals" {
                let close = stamps(&b, "closedate");
                let won = b
                    .column_by_name("hs_is_closed_won")
                    .unwrap()
                    .as_boolean()
                    .clone();
                let amount = b
                    .column_by_name("amount")
                    .unwrap()
                    .as_primitive::<Float64Type>()
                    .clone();
                let currency = strings(&b, "deal_currency_code");
                for i in 0..b.num_rows() {
                    if won.value(i) {
                        let fx = if currency[i].as_deref() == Some("USD") {
                            0.92
                        } else {
                            1.0
                        };
                        self.add_ms(close[i], 6, amount.value(i) * fx);
                    }
                }
            }
            Ok(())
        }
    }

    /// `cargo test -p kpi-sandbox -- --ignored --nocapture report`: row counts,
    /// timing and a monthly funnel of the default company.
    #[test]
    #[ignore]
    fn report() {
        let scale = std::env::var("KPI_SANDBOX_SCALE").map_or(1.0, |s| s.parse().unwrap());
        let c = company(25, scale);
        // Timing without any sink work.
        struct Discard;
        impl RawSink for Discard {
            fn daily(
                &mut self,
                _: &StreamSpec,
                _: NaiveDate,
                _: RecordBatch,
            ) -> Result<(), SinkError> {
                Ok(())
            }
            fn snapshot(&mut self, _: &StreamSpec, _: RecordBatch) -> Result<(), SinkError> {
                Ok(())
            }
        }
        let started = std::time::Instant::now();
        generate(&c, &mut Discard).unwrap();
        println!("generated in {:?} (no sink)", started.elapsed());
        let started = std::time::Instant::now();
        let mut report = Report::default();
        let summary = generate(&c, &mut report).unwrap();
        println!("generated in {:?}", started.elapsed());
        for (source, stream, n) in &summary.rows {
            println!("{source:>15}/{stream:<18} {n:>10}");
        }
        println!("{:>15} {}", "total", summary.total());
        print!("{:8}", "month");
        for c in REPORT_COLUMNS {
            print!("{c:>10}");
        }
        println!();
        for (month, v) in &report.months {
            print!("{month:8}");
            for x in v {
                print!("{:>10.0}", x);
            }
            println!();
        }
        if std::env::var("KPI_SANDBOX_SAMPLES").is_ok() {
            for (stream, b) in &report.samples {
                println!(
                    "{stream}\n{}",
                    arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).unwrap()
                );
            }
        }
        for (source, [leads, sqls, won]) in &report.sources {
            println!("{source:>16} leads {leads:>7} sql {sqls:>6} customers {won:>5}");
        }
    }

    #[test]
    fn campaign_keys_normalise_display_names() {
        assert_eq!(campaign_key("Brand Search ES"), "brand_search_es");
        assert_eq!(
            campaign_key("  Product Long-tail Search M002 "),
            "product_long_tail_search_m002"
        );
        assert_eq!(campaign_key("brand_search_es"), "brand_search_es");
    }

    #[test]
    fn madrid_offset_follows_eu_summer_time() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(madrid_offset_hours(d(2026, 1, 15)), 1);
        assert_eq!(madrid_offset_hours(d(2026, 3, 28)), 1);
        assert_eq!(madrid_offset_hours(d(2026, 3, 29)), 2); // last Sunday of March
        assert_eq!(madrid_offset_hours(d(2026, 10, 24)), 2);
        assert_eq!(madrid_offset_hours(d(2026, 10, 25)), 1); // last Sunday of October
        // 10:00 in Madrid on a summer day is 08:00 UTC.
        let ms = madrid_ms(d(2026, 7, 1), 10 * 3600);
        let utc = d(2026, 7, 1).and_hms_opt(8, 0, 0).unwrap().and_utc();
        assert_eq!(ms, utc.timestamp_millis());
    }

    #[test]
    fn same_company_same_data() {
        let c = company(3, 0.3);
        let (a, sa) = run(&c);
        let (b, sb) = run(&c);
        assert_eq!(a.rows, b.rows);
        assert_eq!(sa.google_cost_micros, sb.google_cost_micros);
        assert_eq!(sa.ga4_sessions, sb.ga4_sessions);
        assert_eq!(sa.contact_lead_ms, sb.contact_lead_ms);
        assert_eq!(sa.deal_amount, sb.deal_amount);
        let other = Company { seed: 7, ..c };
        let (_, so) = run(&other);
        assert_ne!(sa.ga4_sessions, so.ga4_sessions);
    }

    #[test]
    fn fourteen_months_fill_every_stream_coherently() {
        let c = company(14, 1.0);
        let (summary, sink) = run(&c);

        // Every stream, in raw_streams() order, with data; the summary matches what
        // the sink received.
        let order: Vec<_> = raw_streams()
            .iter()
            .map(|s| (s.source_type, s.stream))
            .collect();
        let got: Vec<_> = summary.rows.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(got, order);
        for (source, stream, n) in &summary.rows {
            assert!(*n > 0, "{source}/{stream} has no rows");
            assert_eq!(sink.rows[&(source.to_string(), stream.to_string())], *n);
        }
        assert!(sink.max_snapshot_batch <= SNAPSHOT_BATCH_ROWS + 8);

        // Campaigns join across sources through the key.
        let joined: BTreeSet<_> = sink
            .ga4_campaigns
            .iter()
            .filter(|k| sink.ad_campaign_keys.contains(*k) || sink.crm_campaigns.contains(*k))
            .collect();
        assert!(
            joined.len() >= 20,
            "only {} joined campaigns: {joined:?}",
            joined.len()
        );
        for k in [
            "monthly_newsletter_es",
            "partner_webinar_es",
            "organic_social_launch_es",
        ] {
            assert!(
                sink.ga4_campaigns.contains(k) && sink.crm_campaigns.contains(k),
                "{k}"
            );
        }
        // Every ad campaign with clicks reaches GA4 under its key.
        for k in &sink.ad_campaign_keys {
            assert!(sink.ga4_campaigns.contains(k), "{k} not in GA4");
        }

        // GA4 key events are the web leads: fewer than all contacts (lead forms).
        let contacts = summary.rows.iter().find(|r| r.1 == "contacts").unwrap().2;
        assert!((sink.ga4_key_events as u64) < contacts);
        assert!(sink.customers > 20, "{} customers", sink.customers);
        assert!(sink.won_deals >= sink.customers);
        assert!(sink.deal_contacts.is_subset(&sink.contact_ids));
    }

    #[test]
    fn scale_multiplies_markets() {
        let (one, _) = run(&company(1, 1.0));
        let (three, sink) = run(&company(1, 3.0));
        let rows = |s: &Summary, stream: &str| s.rows.iter().find(|r| r.1 == stream).unwrap().2;
        for stream in ["campaigns", "search_analytics", "traffic"] {
            let ratio = rows(&three, stream) as f64 / rows(&one, stream) as f64;
            assert!((2.5..3.5).contains(&ratio), "{stream}: {ratio}");
        }
        assert!(sink.ad_campaign_keys.contains("brand_search_m003"));
        assert!(matches!(
            generate(&company(1, 0.0), &mut MemSink::default()),
            Err(GenerateError::InvalidCompany(_))
        ));
    }
}
