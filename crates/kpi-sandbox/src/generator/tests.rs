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
        if (spec.source_type, spec.stream) == ("hubspot", "contacts") {
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
            ("microsoft_ads", _) => self.add(month, 7, sum_f("spend")),
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
        if (spec.source_type, spec.stream) == ("hubspot", "contacts") {
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
        fn daily(&mut self, _: &StreamSpec, _: NaiveDate, _: RecordBatch) -> Result<(), SinkError> {
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
