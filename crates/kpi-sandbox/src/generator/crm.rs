//! CRM (HubSpot): the funnel, contacts, deals, renewals and churn.

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

/// The HubSpot contacts and deals snapshots, written as contacts are created.
pub(super) struct Crm {
    pub(super) end: NaiveDate,
    pub(super) rng: ChaCha8Rng,
    pub(super) contacts: Table,
    pub(super) deals: Table,
    pub(super) contacts_created: u64,
    pub(super) deals_created: u64,
    /// Scratch for deal names.
    pub(super) text: String,
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
            contacts_created: 0,
            deals_created: 0,
            text: String::new(),
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
    pub(super) fn deal(
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
