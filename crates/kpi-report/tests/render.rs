//! The leadership report rendered from a small hand-made KPI table: snapshot
//! of the HTML and text, escaping of names that come from ad platforms, and
//! clear errors for bad templates and unknown KPIs.

use kpi_core::format::Locale;
use kpi_core::{Catalog, DateRange, PeriodSpec, ReportPeriods};
use kpi_report::{BenchmarkSource, Freshness, KpiRow, Renderer, ReportError, ReportInput, Trend};

fn catalog() -> Catalog {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../queries/kpis.toml"
    ))
    .unwrap();
    Catalog::parse(&text, "queries/kpis.toml").unwrap()
}

fn periods() -> ReportPeriods {
    let r = DateRange::new("2026-10-01".parse().unwrap(), "2026-10-31".parse().unwrap()).unwrap();
    ReportPeriods::resolve(&PeriodSpec::Range(r), "2026-11-24".parse().unwrap()).unwrap()
}

fn row(
    grain: &str,
    channel: Option<&str>,
    campaign: Option<&str>,
    kpi: &str,
    v: f64,
    prev: f64,
    status: &str,
) -> KpiRow {
    KpiRow {
        grain: grain.into(),
        channel: channel.map(Into::into),
        campaign_type: None,
        campaign: campaign.map(Into::into),
        kpi: kpi.into(),
        value: Some(v),
        previous: Some(prev),
        last_year: None,
        target: (kpi == "cpl").then_some(50.0),
        benchmark: None,
        change_vs_previous: Some((v - prev) / prev),
        change_vs_last_year: None,
        status: status.into(),
    }
}

fn rows() -> Vec<KpiRow> {
    let evil = "<script>alert(1)</script>";
    vec![
        row("total", None, None, "revenue", 120000.0, 100000.0, "better"),
        row("total", None, None, "cpl", 45.0, 50.0, "better"),
        row("total", None, None, "cac", 900.0, 1000.0, "better"),
        row("total", None, None, "roi", 2.5, 2.0, "better"),
        row("total", None, None, "mql_to_sql", 0.3, 0.4, "worse"),
        row("total", None, None, "sessions", 10000.0, 9000.0, "better"),
        row("total", None, None, "leads", 200.0, 180.0, "better"),
        row(
            "total",
            None,
            None,
            "traffic_to_lead",
            0.02,
            0.02,
            "unchanged",
        ),
        row("total", None, None, "mqls", 60.0, 50.0, "better"),
        row("total", None, None, "lead_to_mql", 0.3, 0.2778, "better"),
        row("total", None, None, "sqls", 18.0, 20.0, "worse"),
        row("total", None, None, "opportunities", 9.0, 10.0, "worse"),
        row(
            "total",
            None,
            None,
            "sql_to_opportunity",
            0.5,
            0.5,
            "unchanged",
        ),
        row("total", None, None, "new_customers", 3.0, 2.0, "better"),
        row(
            "channel",
            Some("paid_search"),
            None,
            "marketing_cost",
            6000.0,
            5000.0,
            "neutral",
        ),
        row(
            "channel",
            Some("paid_search"),
            None,
            "leads",
            120.0,
            100.0,
            "better",
        ),
        row(
            "channel",
            Some("paid_search"),
            None,
            "cpl",
            50.0,
            50.0,
            "unchanged",
        ),
        row(
            "channel",
            Some("paid_search"),
            None,
            "revenue",
            80000.0,
            60000.0,
            "better",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some(evil),
            "marketing_cost",
            3000.0,
            2000.0,
            "neutral",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some(evil),
            "leads",
            60.0,
            50.0,
            "better",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some(evil),
            "cpl",
            50.0,
            40.0,
            "worse",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some(evil),
            "roi",
            1.5,
            1.0,
            "better",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some("brand_search_es"),
            "marketing_cost",
            3000.0,
            3000.0,
            "neutral",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some("brand_search_es"),
            "leads",
            60.0,
            50.0,
            "better",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some("brand_search_es"),
            "cpl",
            50.0,
            60.0,
            "better",
        ),
        row(
            "campaign",
            Some("paid_search"),
            Some("brand_search_es"),
            "roi",
            3.0,
            2.0,
            "better",
        ),
    ]
}

fn input<'a>(
    rows: &'a [KpiRow],
    catalog: &'a Catalog,
    periods: &'a ReportPeriods,
) -> ReportInput<'a> {
    ReportInput {
        title: None,
        periods,
        rows,
        catalog,
        currency: "EUR".into(),
        timezone: "Europe/Madrid".into(),
        locale: Locale::En,
        headline: ["revenue", "cpl", "cac", "roi", "mql_to_sql"]
            .map(String::from)
            .to_vec(),
        top_n: 3,
        rank_min_leads: 0.0,
        rank_min_cost: 0.0,
        campaign_names: Default::default(),
        freshness: vec![Freshness {
            stream: "google_ads.campaign_stats".into(),
            last_day: Some("2026-11-23".parse().unwrap()),
        }],
        benchmarks: vec![BenchmarkSource {
            kpi: "email_open_rate".into(),
            source: "Mailchimp".into(),
            year: Some(2019),
        }],
        reproduce: "kpi kpis --from 2026-10-01 --to 2026-10-31".into(),
        subject: "{{title}}, {{period.label}}".into(),
        alerts: [
            "cac > 800",
            "change_vs_previous(mql_to_sql) < -0.2",
            "cpl > 100",
        ]
        .iter()
        .map(|r| kpi_report::AlertRule::parse(r, "test", catalog).unwrap())
        .collect(),
        stale: Vec::new(),
        trends: vec![
            Trend {
                kpi: "revenue".into(),
                current: (1..=31)
                    .step_by(2)
                    .map(|d| (d, Some(d as f64 * 4000.0)))
                    .collect(),
                previous: (1..=30)
                    .step_by(2)
                    .map(|d| (d, Some(d as f64 * 3000.0)))
                    .collect(),
            },
            // A ratio undefined on the first day (no leads yet) still draws.
            Trend {
                kpi: "cpl".into(),
                current: vec![
                    (1, None),
                    (10, Some(52.0)),
                    (20, Some(47.0)),
                    (31, Some(45.0)),
                ],
                previous: vec![(1, Some(60.0)), (15, Some(50.0)), (30, Some(50.0))],
            },
            // One point is no trend: no chart.
            Trend {
                kpi: "cac".into(),
                current: vec![(31, Some(900.0))],
                previous: vec![],
            },
        ],
    }
}

#[test]
fn leadership_report_snapshot() {
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let out = Renderer::load("leadership", None)
        .unwrap()
        .render(&input(&rows, &catalog, &periods))
        .unwrap();
    insta::assert_snapshot!("leadership_html", out.html);
    insta::assert_snapshot!("leadership_text", out.text);
    assert_eq!(out.subject, "Marketing KPIs, October 2026");
}

#[test]
fn names_from_ad_platforms_are_escaped_and_the_html_is_email_safe() {
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let out = Renderer::load("leadership", None)
        .unwrap()
        .render(&input(&rows, &catalog, &periods))
        .unwrap();
    assert!(
        !out.html.contains("<script"),
        "a campaign name became markup"
    );
    assert!(out.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // CSS is inlined; the one style block left holds only the @media rules
    // that stack the layout on a phone.
    let blocks: Vec<&str> = out.html.split("<style").skip(1).collect();
    assert!(blocks.len() <= 1, "one style block at most");
    for b in blocks {
        let css = &b[..b.find("</style>").unwrap()];
        let rules = css.split_once('>').map_or(css, |x| x.1).trim();
        assert!(rules.starts_with("@media"), "only @media rules stay: {css}");
    }
    assert!(!out.html.contains("<svg") && !out.html.contains("src=\"http"));
    assert!(
        out.html.len() < 102 * 1024,
        "{} bytes would be clipped by Gmail",
        out.html.len()
    );
    // A falling CPL is good (green), a falling MQL-to-SQL rate is bad (red).
    let cpl = out.html.find("Cost per lead").unwrap();
    let card = &out.html[cpl..cpl + 1400];
    assert!(
        card.contains("#047857"),
        "CPL fell: should be green: {card}"
    );
    let mql = out.html.find("MQL to SQL rate").unwrap();
    let card = &out.html[mql..mql + 1400];
    assert!(
        card.contains("#b91c1c"),
        "MQL-to-SQL fell: should be red: {card}"
    );
    // Text part carries the headline numbers, unescaped.
    assert!(
        out.text
            .contains("Cost per lead: €45.00 (vs previous -10.0%"),
        "{}",
        out.text
    );
    assert!(out.text.contains("Revenue: €120,000.00"));
    // Two of the three alert rules fire, written out as configured.
    assert!(
        out.text.contains("- cac > 800 (Observed €900.00)"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("- change_vs_previous(mql_to_sql) < -0.2 (Observed -25.0%)")
    );
    assert!(!out.text.contains("cpl > 100"));
    assert!(out.html.contains("cac &gt; 800</code>"));
}

#[test]
fn a_broken_template_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("leadership");
    std::fs::create_dir_all(base.join("partials")).unwrap();
    std::fs::write(
        base.join("report.html.hbs"),
        "<p>\n{{#each headline}}\n<b>{{label}}</b>\n",
    )
    .unwrap();
    std::fs::write(base.join("report.txt.hbs"), "x").unwrap();
    std::fs::write(base.join("style.css"), "p { color: red; }").unwrap();
    let err = match Renderer::load("leadership", Some(dir.path())) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a broken template loaded"),
    };
    assert!(err.contains("leadership/report.html.hbs"), "{err}");
    assert!(err.contains("line"), "{err}");
}

#[test]
fn an_unknown_headline_kpi_is_an_error() {
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let mut i = input(&rows, &catalog, &periods);
    i.headline = vec!["revenue".into(), "cpx".into(), "roi".into()];
    let err = Renderer::load("leadership", None)
        .unwrap()
        .render(&i)
        .unwrap_err();
    assert!(matches!(err, ReportError::Input(_)));
    assert!(err.to_string().contains("unknown KPI 'cpx'"), "{err}");
}

#[test]
fn headline_trends_are_inline_png_charts() {
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let out = Renderer::load("leadership", None)
        .unwrap()
        .render(&input(&rows, &catalog, &periods))
        .unwrap();
    // Revenue and CPL have a trend; CAC has a single point and no chart.
    let kpis: Vec<&str> = out.images.iter().map(|c| c.kpi.as_str()).collect();
    assert_eq!(kpis, ["revenue", "cpl"]);
    for chart in &out.images {
        assert!(chart.png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
        assert_eq!(
            out.html
                .matches(&format!("src=\"cid:{}\"", chart.cid))
                .count(),
            1,
            "the card references its chart once"
        );
    }
    assert_eq!(out.html.matches("src=\"cid:").count(), 2);
    // The saved copy embeds them and references no cid: at all.
    let page = out.standalone_html();
    assert_eq!(page.matches("src=\"data:image/png;base64,").count(), 2);
    assert!(!page.contains("cid:"));
    assert!(out.html.len() < 102 * 1024);
}

#[test]
fn a_spanish_report_has_spanish_words_numbers_and_months() {
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let mut i = input(&rows, &catalog, &periods);
    i.locale = Locale::Es;
    let out = Renderer::load("leadership", None)
        .unwrap()
        .render(&i)
        .unwrap();
    // The default title is the report language's.
    assert_eq!(out.subject, "KPIs de marketing, octubre de 2026");
    assert!(out.html.contains("<html lang=\"es\">"));
    assert!(out.html.contains("Titulares") && out.html.contains("Embudo"));
    assert!(
        out.text
            .contains("- Coste por lead: 45,00\u{a0}€ (vs. anterior -10,0\u{a0}%"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("- Ingresos: 120.000,00\u{a0}€"),
        "{}",
        out.text
    );
    assert!(
        out.html.contains("Búsqueda de pago"),
        "channel names translated"
    );
    assert!(
        !out.html.contains("n/a"),
        "missing values read n/d in Spanish"
    );
    assert!(!out.html.contains("Headline") && !out.text.contains("HEADLINE"));
    assert!(out.text.contains("TITULARES"));
}

#[test]
fn a_users_partial_translation_falls_back_to_english() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("leadership");
    std::fs::create_dir_all(base.join("locales")).unwrap();
    let builtin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../report-templates/leadership");
    for f in ["report.html.hbs", "report.txt.hbs", "style.css"] {
        std::fs::copy(builtin.join(f), base.join(f)).unwrap();
    }
    std::fs::create_dir_all(base.join("partials")).unwrap();
    for e in std::fs::read_dir(builtin.join("partials")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), base.join("partials").join(e.file_name())).unwrap();
    }
    std::fs::write(
        base.join("locales/en.toml"),
        "[text]\nheadline = \"At a glance\"\n[kpi]\nrevenue = \"Bookings\"\n",
    )
    .unwrap();
    let (rows, catalog, periods) = (rows(), catalog(), periods());
    let out = Renderer::load("leadership", Some(dir.path()))
        .unwrap()
        .render(&input(&rows, &catalog, &periods))
        .unwrap();
    assert!(out.html.contains("At a glance"));
    assert!(out.text.contains("- Bookings: €120,000.00"), "{}", out.text);
    assert!(
        out.html.contains(">Funnel<"),
        "the rest from the built-in file"
    );

    std::fs::write(base.join("locales/es.toml"), "[text\nbroken").unwrap();
    let err = match Renderer::load("leadership", Some(dir.path())) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a broken locale file loaded"),
    };
    assert!(err.contains("locales/es.toml"), "{err}");
}
