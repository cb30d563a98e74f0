//! CRM: the funnel, contacts, deals, renewals and churn. The US business
//! unit (the contacts whose deals are invoiced in dollars) works in
//! Salesforce, the rest of the company in HubSpot: each person is written to
//! one of the two (`salesforce.rs`), from the same draws either way, so the
//! company's funnel is the same whichever CRM holds it.

use super::*;

/// Stage conversion probabilities for leads of a given quality (1.0 = average;
/// LinkedIn and referrals convert better, display worse).
pub(super) struct Funnel {
    pub(super) mql: f64,
    pub(super) sql: f64,
    pub(super) opportunity: f64,
    pub(super) win: f64,
}

impl Funnel {
    pub(super) fn new(quality: f64) -> Self {
        Self {
            mql: (0.35 * quality).min(0.9),
            sql: (0.40 * quality).min(0.9),
            opportunity: (0.60 * quality.sqrt()).min(0.9),
            win: (0.25 * quality).min(0.6),
        }
    }
}

/// The share of leads of this quality that become customers.
pub(super) fn win_probability(quality: f64) -> f64 {
    let p = Funnel::new(quality);
    p.mql * p.sql * p.opportunity * p.win
}

pub(super) const OPEN_STAGES: [&str; 5] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
];

pub(super) const COMPANY_WORDS: [&str; 20] = [
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

/// The HubSpot contacts and deals snapshots, and the Salesforce objects,
/// written as contacts are created.
pub(super) struct Crm {
    pub(super) end: NaiveDate,
    pub(super) rng: ChaCha8Rng,
    pub(super) contacts: Table,
    pub(super) deals: Table,
    pub(super) salesforce: Salesforce,
    pub(super) contacts_created: u64,
    pub(super) deals_created: u64,
    /// Scratch for deal names.
    pub(super) text: String,
    /// The deals of the contact being written, written after it is decided
    /// which CRM holds it.
    pub(super) pending: Vec<Deal>,
}

/// One deal as both CRMs know it.
pub(super) struct Deal {
    /// The generator's deal number (HubSpot's id less 9,000,000,000).
    pub(super) number: u64,
    pub(super) name: String,
    pub(super) amount: Option<f64>,
    pub(super) currency: &'static str,
    pub(super) create_ms: i64,
    pub(super) create: NaiveDate,
    pub(super) close_ms: Option<i64>,
    /// The close day (Madrid), once closed.
    pub(super) close: Option<NaiveDate>,
    pub(super) stage: &'static str,
    pub(super) pipeline: &'static str,
}

/// A contact's funnel as both CRMs know it: each stage's timestamp and
/// Madrid day, once revealed.
pub(super) struct Person<'a> {
    pub(super) number: u64,
    pub(super) lead: (i64, NaiveDate),
    pub(super) mql: Option<(i64, NaiveDate)>,
    pub(super) sql: Option<(i64, NaiveDate)>,
    pub(super) churn: Option<(i64, NaiveDate)>,
    pub(super) origin: Origin<'a>,
}

/// A deal's fate, decided when its opportunity is created.
#[derive(Clone, Copy)]
pub(super) enum Outcome {
    Won(NaiveDate),
    Lost(NaiveDate),
    /// Never closes (still open at any end date).
    Stalled,
}

/// One step of a customer's yearly renewal history.
pub(super) enum Renewal {
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
pub(super) fn renewals(
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
    pub(super) fn new(end: NaiveDate, rng: ChaCha8Rng) -> Result<Self, GenerateError> {
        Ok(Self {
            end,
            rng,
            contacts: Table::new("hubspot", "contacts")?,
            deals: Table::new("hubspot", "deals")?,
            salesforce: Salesforce::new()?,
            contacts_created: 0,
            deals_created: 0,
            text: String::new(),
            pending: Vec::new(),
        })
    }

    /// The timestamp of a stage reached on `d`, if it is known by `end`.
    pub(super) fn stage_ms(&mut self, d: Option<NaiveDate>) -> Option<i64> {
        d.filter(|d| *d <= self.end)
            .map(|d| business_ms(&mut self.rng, d))
    }

    /// Creates a lead on `date` and writes its whole known history: the contact
    /// and, if it became an opportunity, its deals (renewals included).
    ///
    /// With `visible_from`, the lead belongs to the history before the generated
    /// period and is only written if something happens to it from that date on.
    pub(super) fn contact(
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
    pub(super) fn old_customer(
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
    pub(super) fn journey(
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
        let mut churn_day = None;
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
            let close_day = close_ms.and(close);
            self.deal(
                amount_shown,
                currency,
                (create_ms, opp.expect("an opportunity has a day")),
                (close_ms, close_day),
                stage,
                "default",
            );
            if let (true, Some(won_ms), Some(won_on)) = (won, close_ms, close) {
                customer_ms = Some(won_ms);
                let end = self.end;
                renewals(renewal_seed, won_on, amount, end, |r| match r {
                    Renewal::Churned(due) => {
                        churn_ms = self.stage_ms(Some(due));
                        churn_day = churn_ms.map(|_| due);
                    }
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
                        let close_day = close_ms.map(|_| due);
                        self.deal(
                            shown,
                            currency,
                            (create_ms, create),
                            (close_ms, close_day),
                            stage,
                            "renewals",
                        );
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
        if usd {
            let person = Person {
                number: n,
                lead: (lead_ms, date),
                mql: mql_ms.zip(mql),
                sql: sql_ms.zip(sql),
                churn: churn_ms.zip(churn_day),
                origin,
            };
            let deals = std::mem::take(&mut self.pending);
            self.salesforce.person(&person, &deals, sink)?;
            self.pending = deals;
            self.pending.clear();
            return Ok(());
        }
        for d in std::mem::take(&mut self.pending) {
            self.hubspot_deal(id, &d);
        }
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

    /// Keeps one deal of the contact being written; the name is in
    /// `self.text`. `close` is `(None, None)` while open.
    pub(super) fn deal(
        &mut self,
        amount: Option<f64>,
        currency: &'static str,
        (create_ms, create): (i64, NaiveDate),
        (close_ms, close): (Option<i64>, Option<NaiveDate>),
        stage: &'static str,
        pipeline: &'static str,
    ) {
        self.deals_created += 1;
        self.pending.push(Deal {
            number: self.deals_created,
            name: self.text.clone(),
            amount,
            currency,
            create_ms,
            create,
            close_ms,
            close,
            stage,
            pipeline,
        });
    }

    /// Writes one deal of HubSpot contact `contact_id`.
    fn hubspot_deal(&mut self, contact_id: &str, d: &Deal) {
        let mut id_buf = [0u8; 20];
        let id = decimal(&mut id_buf, 9_000_000_000 + d.number);
        let closed = d.close_ms.is_some();
        self.deals
            .row()
            .str(id)
            .str(&d.name)
            .opt_float(d.amount)
            .str(d.currency)
            .ts(Some(d.create_ms))
            .ts(d.close_ms)
            .str(d.stage)
            .str(d.pipeline)
            .boolean(closed)
            .boolean(closed && d.stage == "closedwon")
            .opt_str(Some(contact_id))
            .end();
    }
}
