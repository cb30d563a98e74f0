//! The walk over the calendar: the generator's state built, the history before the period seeded, and each day of every market written.

use super::*;

impl Generator {
    pub(super) fn new(company: &Company) -> Result<Self, GenerateError> {
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
        let mut markets: Vec<Market> = (0..n_markets)
            .map(|i| Market::new(i, &mut setup, company))
            .collect();
        let mut microsoft_setup = rng_for(seed, 11);
        for m in &mut markets {
            let code = market_code(m.index);
            m.microsoft_campaigns = MICROSOFT_TEMPLATES
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    let efficiency = noise(&mut microsoft_setup, 0.1);
                    Campaign::new(m.index, j, t, &code, company.end_date, efficiency)
                })
                .collect();
        }
        let total_size = markets.iter().map(|m| m.size).sum::<f64>();
        let tables = Tables {
            google_stats: Table::new("google_ads", "campaign_stats")?,
            google_campaigns: Table::new("google_ads", "campaigns")?,
            meta_insights: Table::new("meta_ads", "ads_insights")?,
            meta_campaigns: Table::new("meta_ads", "campaigns")?,
            linkedin_analytics: Table::new("linkedin_ads", "ad_analytics")?,
            linkedin_campaigns: Table::new("linkedin_ads", "campaigns")?,
            microsoft: Table::new("microsoft_ads", "campaign_performance")?,
            microsoft_campaigns: Table::new("microsoft_ads", "campaigns")?,
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
                microsoft: rng_for(seed, 10),
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
    pub(super) fn emit_campaign_lists(
        &mut self,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
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
                    // Microsoft's campaigns come with their report rows.
                    Microsoft => {}
                }
                t.google_campaigns.flush_snapshot_if_full(sink)?;
                t.meta_campaigns.flush_snapshot_if_full(sink)?;
                t.linkedin_campaigns.flush_snapshot_if_full(sink)?;
            }
        }
        for m in &self.markets {
            for c in &m.microsoft_campaigns {
                t.microsoft_campaigns
                    .row()
                    .str(MICROSOFT_ACCOUNT_ID)
                    .int(c.id)
                    .str(&c.name)
                    .str(microsoft_campaign_type(c.template.kind))
                    .str(c.status(end))
                    .end();
                t.microsoft_campaigns.flush_snapshot_if_full(sink)?;
            }
        }
        t.google_campaigns.flush_snapshot(sink)?;
        t.meta_campaigns.flush_snapshot(sink)?;
        t.microsoft_campaigns.flush_snapshot(sink)?;
        t.linkedin_campaigns.flush_snapshot(sink)
    }

    /// The CRM history before `start` (see the module docs): every lead of the
    /// last [`FULL_HISTORY_MONTHS`], and the customers of the years before.
    /// Only contacts with something happening from `start` on are written.
    pub(super) fn seed_history(
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
    pub(super) fn day(
        &mut self,
        date: NaiveDate,
        sink: &mut dyn RawSink,
    ) -> Result<(), GenerateError> {
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

            // Microsoft Advertising: its own random stream, no GA4 or CRM side.
            for c in &m.microsoft_campaigns {
                if !c.active(date) {
                    continue;
                }
                let lvl = if c.template.traffic.programmatic() {
                    soft_level
                } else {
                    level
                };
                let d = ad_day(&mut rngs.microsoft, c.template, c.efficiency, lvl * vol);
                if d.impressions > 0 {
                    write_microsoft_row(&mut t.microsoft, c, &d, end);
                }
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
            &mut t.microsoft,
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

    pub(super) fn summary(&self) -> Summary {
        let t = &self.tables;
        let tables = [
            &t.google_stats,
            &t.google_campaigns,
            &t.meta_insights,
            &t.meta_campaigns,
            &t.linkedin_analytics,
            &t.linkedin_campaigns,
            &t.microsoft,
            &t.microsoft_campaigns,
            &t.ga4,
            &t.search_console,
            &self.crm.contacts,
            &self.crm.deals,
            &self.crm.salesforce.leads,
            &self.crm.salesforce.contacts,
            &self.crm.salesforce.opportunities,
            &self.crm.salesforce.campaigns,
            &self.crm.salesforce.members,
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
