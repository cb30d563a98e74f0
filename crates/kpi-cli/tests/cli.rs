//! End-to-end tests of the `kpi` binary, run the way a user runs it.

use std::path::Path;

mod common;

use common::csv::{num, parse as csv};
use common::demo::AS_OF;
use common::run::{fails, ok, shared_config as config, shared_demo as demo};

#[test]
fn kpis_ad_spend_matches_the_lake_and_channels_add_up() {
    let cfg = config();
    let out = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    let (header, rows) = csv(&out);
    assert_eq!(
        header.join(","),
        "grain,channel,campaign_type,campaign,kpi,value,previous,last_year,target,benchmark,change_vs_previous,change_vs_last_year,status"
    );
    let get = |grain: &str, channel: &str, kpi: &str| -> Option<&Vec<String>> {
        rows.iter()
            .find(|r| r[0] == grain && r[1] == channel && r[4] == kpi)
    };

    // ad_spend equals the sum of spend over ad_performance for October 2026.
    let total = get("total", "", "ad_spend").expect("total ad_spend row");
    let lake = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT sum(spend) AS s FROM ad_performance WHERE date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'",
    ]);
    let lake_sum = num(lake.lines().nth(1).unwrap());
    assert!(lake_sum > 1000.0, "the demo has ad spend: {lake_sum}");
    assert!(
        (num(&total[5]) - lake_sum).abs() < 1e-6,
        "{} vs {lake_sum}",
        total[5]
    );
    // And the previous period (September) too.
    let lake = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT sum(spend) FROM ad_performance WHERE date BETWEEN DATE '2026-09-01' AND DATE '2026-09-30'",
    ]);
    assert!((num(&total[6]) - num(lake.lines().nth(1).unwrap())).abs() < 1e-6);

    // Channel rows add up to the total for every additive KPI, in every period column.
    let additive = [
        "ad_spend",
        "marketing_cost",
        "impressions",
        "clicks",
        "ad_conversions",
        "sessions",
        "users",
        "new_users",
        "leads",
        "mqls",
        "sqls",
        "opportunities",
        "new_customers",
        "deals_won",
        "deals_lost",
        "revenue",
        "email_delivered",
        "search_clicks",
        "search_impressions",
        "profit",
        "social_traffic",
        "social_leads",
    ];
    for kpi in additive {
        let total = get("total", "", kpi).unwrap_or_else(|| panic!("total {kpi}"));
        for col in [5, 6, 7] {
            let sum: f64 = rows
                .iter()
                .filter(|r| r[0] == "channel" && r[4] == kpi)
                .map(|r| if r[col].is_empty() { 0.0 } else { num(&r[col]) })
                .sum();
            let t = num(&total[col]);
            assert!(
                (sum - t).abs() <= 1e-6 * t.abs().max(1.0),
                "{kpi} column {col}: channels {sum} vs total {t}"
            );
        }
    }

    // Ratios come from summed measures: total CPL = marketing_cost / leads.
    let cost = num(&get("total", "", "marketing_cost").unwrap()[5]);
    let leads = num(&get("total", "", "leads").unwrap()[5]);
    let cpl = get("total", "", "cpl").unwrap();
    assert!((num(&cpl[5]) - cost / leads).abs() < 1e-9);
    // The demo config sets a CPL target of 80 and benchmarks come from the table.
    assert_eq!(num(&cpl[8]), 80.0);
    let open = get("total", "", "email_open_rate").unwrap();
    assert_eq!(
        num(&open[9]),
        0.2156,
        "Business and Finance open rate, Mailchimp 2019"
    );

    // Every grain is present, and every catalog KPI appears at the total grain.
    for grain in ["total", "channel", "campaign_type", "campaign"] {
        assert!(rows.iter().any(|r| r[0] == grain), "grain {grain}");
    }
    let catalog = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries/kpis.toml"),
    )
    .unwrap();
    let keys: Vec<&str> = catalog
        .lines()
        .filter_map(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .collect();
    assert!(keys.len() > 50);
    for k in keys {
        assert!(get("total", "", k).is_some(), "no total row for {k}");
    }
}

#[test]
fn json_and_table_show_the_same_rows() {
    let cfg = config();
    let args = [
        "--config",
        cfg.as_str(),
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
    ];
    let csv_out = ok(&[&args[..], &["--format", "csv"]].concat());
    let json_out = ok(&[&args[..], &["--format", "json"]].concat());
    let table_out = ok(&args);
    let json: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), csv_out.lines().count() - 1);
    let first = &arr[0];
    assert_eq!(first["grain"], "total");
    assert_eq!(first["kpi"], "ad_spend");
    assert!(first["channel"].is_null());
    assert!(table_out.contains("| grain"));
    assert!(table_out.contains("October 2026"));
    // The terminal table shows values in their unit: money with its currency,
    // rates as percentages, NULL as n/a.
    let cpl_line = table_out
        .lines()
        .find(|l| l.starts_with("| total ") && l.contains("| cpl "))
        .expect("a total cpl row");
    assert!(cpl_line.contains(" €"), "{cpl_line}");
    let ctr_line = table_out
        .lines()
        .find(|l| l.starts_with("| total ") && l.contains("| ctr "))
        .expect("a total ctr row");
    assert!(ctr_line.contains("%"), "{ctr_line}");
    assert!(table_out.contains("n/a"));
    assert!(
        table_out
            .lines()
            .filter(|l| l.starts_with("| campaign "))
            .count()
            > 100
    );
}

#[test]
fn explicit_dates_and_named_periods() {
    let cfg = config();
    let named = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    let explicit = ok(&[
        "--config",
        &cfg,
        "kpis",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--format",
        "csv",
    ]);
    // October by name and by dates is the same report (floats summed in
    // parallel may differ in their last digit).
    let (_, a) = csv(&named);
    let (_, b) = csv(&explicit);
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(&b) {
        assert_eq!(ra[..5], rb[..5]);
        assert_eq!(ra[12], rb[12], "status of {ra:?}");
        for c in 5..12 {
            if ra[c].is_empty() || rb[c].is_empty() {
                assert_eq!(ra[c], rb[c]);
            } else {
                let (x, y) = (num(&ra[c]), num(&rb[c]));
                assert!((x - y).abs() <= 1e-9 * x.abs().max(1.0), "{ra:?} vs {rb:?}");
            }
        }
    }
    let week = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_week",
        "--format",
        "csv",
    ]);
    let (_, rows) = csv(&week);
    let spend = rows
        .iter()
        .find(|r| r[0] == "total" && r[4] == "ad_spend")
        .unwrap();
    let lake = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT sum(spend) FROM ad_performance WHERE date BETWEEN DATE '2026-11-16' AND DATE '2026-11-22'",
    ]);
    assert!((num(&spend[5]) - num(lake.lines().nth(1).unwrap())).abs() < 1e-6);
}

#[test]
fn sql_reads_raw_streams_and_canonical_views() {
    let cfg = config();
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM google_ads.campaign_stats WHERE date = DATE '2026-11-23'",
    ]);
    assert!(num(out.lines().nth(1).unwrap()) >= 5.0);
    for view in [
        "ad_campaigns",
        "ad_performance",
        "web_traffic",
        "crm_contacts",
        "crm_deals",
        "email_performance",
        "search_performance",
        "backlinks",
        "social_performance",
        "marketing_costs",
    ] {
        let out = ok(&[
            "--config",
            &cfg,
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) FROM {view}"),
        ]);
        assert!(num(out.lines().nth(1).unwrap()) > 0.0, "{view} is empty");
    }
    // Campaigns are consistent across sources: every paid campaign key in the
    // CRM is an ad campaign.
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT count(DISTINCT c.campaign_key) FROM crm_contacts c JOIN ad_campaigns a ON a.campaign_key = c.campaign_key",
    ]);
    assert!(num(out.lines().nth(1).unwrap()) >= 15.0);
    let json = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "json",
        "SELECT 1 AS one, NULL AS nothing",
    ]);
    assert_eq!(json.trim(), r#"[{"one":1,"nothing":null}]"#);
}

#[test]
fn demo_rebuilds_its_own_directory_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("d");
    let d = demo.to_str().unwrap();
    ok(&["--as-of", AS_OF, "demo", "--dir", d, "--months", "2"]);
    std::fs::write(demo.join("lake/raw/stray.txt"), "x").unwrap();
    let out = ok(&["--as-of", AS_OF, "demo", "--dir", d, "--months", "2"]);
    assert!(out.contains("kpi.toml"));
    assert!(
        !demo.join("lake/raw/stray.txt").exists(),
        "rebuilt from scratch"
    );
    assert!(
        demo.join("lake/raw/google_ads/campaign_stats/date=2026-11-23/part-0.parquet")
            .exists()
    );
    assert!(
        !demo
            .join("lake/raw/google_ads/campaign_stats/date=2026-11-24")
            .exists(),
        "ends yesterday"
    );

    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "precious").unwrap();
    let err = fails(&["demo", "--dir", other.to_str().unwrap()]);
    assert!(err.contains("not created by `kpi demo`"), "{err}");
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "precious"
    );
}

#[test]
fn bad_input_gets_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().to_string();

    let err = fails(&["--config", &p("missing.toml"), "kpis"]);
    assert!(
        err.contains("missing.toml") && err.contains("cannot read config"),
        "{err}"
    );

    std::fs::write(
        p("bad.toml"),
        "[reporting]\ncurrency = \"EUR\"\ntimezone = Madrid\n",
    )
    .unwrap();
    let err = fails(&["--config", &p("bad.toml"), "kpis"]);
    assert!(err.contains("bad.toml") && err.contains("line 3"), "{err}");

    std::fs::write(
        p("nolake.toml"),
        "[reporting]\ncurrency = \"EUR\"\n[lake]\npath = \"nowhere\"\n",
    )
    .unwrap();
    let err = fails(&["--config", &p("nolake.toml"), "kpis"]);
    assert!(
        err.contains("nowhere") && err.contains("does not exist"),
        "{err}"
    );

    let cfg = config();
    let err = fails(&["--config", &cfg, "kpis", "--period", "last_month"]);
    assert!(
        err.contains("unknown period 'last_month'") && err.contains("previous_month"),
        "{err}"
    );

    let err = fails(&["--config", &cfg, "sql", "SELECT nope FROM ad_performance"]);
    assert!(err.contains("nope"), "{err}");

    // A broken SQL override names its file and line.
    let queries = dir.path().join("q");
    std::fs::create_dir_all(&queries).unwrap();
    std::fs::write(
        queries.join("compare.sql"),
        "-- my own comparison\n\nCREATE VIEW kpi_report AS\nSELECT nope FROM kpi_values;\n",
    )
    .unwrap();
    let lake = demo().join("demo/lake");
    std::fs::write(
        p("override.toml"),
        format!("[reporting]\ncurrency = \"EUR\"\n[lake]\npath = \"{}\"\n[queries]\ndir = \"q\"\n[sources.google_ads]\ntype = \"google_ads\"\n", lake.display()),
    )
    .unwrap();
    let err = fails(&["--config", &p("override.toml"), "--as-of", AS_OF, "kpis"]);
    assert!(
        err.contains("q/compare.sql:3:") && err.contains("nope"),
        "{err}"
    );

    // Targets must name catalog KPIs.
    std::fs::write(
        p("target.toml"),
        format!(
            "[reporting]\ncurrency = \"EUR\"\n[lake]\npath = \"{}\"\n[targets]\ncpx = 1.0\n",
            lake.display()
        ),
    )
    .unwrap();
    let err = fails(&["--config", &p("target.toml"), "kpis"]);
    assert!(
        err.contains("target.toml") && err.contains("unknown KPI 'cpx'"),
        "{err}"
    );
}

#[test]
fn kpis_read_only_the_partitions_of_the_periods() {
    // previous_month as of 2026-11-24 is October 2026, compared with September
    // 2026 and October 2025 (and August 2026 / September 2025 for growth rates).
    // Corrupt every daily partition from November 2025 to July 2026: if the
    // KPI queries opened any of them, they would fail.
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("d");
    ok(&[
        "--as-of",
        AS_OF,
        "demo",
        "--dir",
        demo.to_str().unwrap(),
        "--months",
        "14",
    ]);
    let cfg = demo.join("kpi.toml").to_string_lossy().to_string();
    let before = ok(&[
        "--config", &cfg, "--as-of", AS_OF, "kpis", "--format", "csv",
    ]);
    let mut corrupted = 0;
    for source in std::fs::read_dir(demo.join("lake/raw")).unwrap() {
        for stream in std::fs::read_dir(source.unwrap().path()).unwrap() {
            for part in std::fs::read_dir(stream.unwrap().path()).unwrap() {
                let part = part.unwrap();
                let name = part.file_name().to_string_lossy().to_string();
                if let Some(date) = name.strip_prefix("date=") {
                    if ("2025-11-01".."2026-08-01").contains(&date) {
                        std::fs::write(part.path().join("part-0.parquet"), b"garbage").unwrap();
                        corrupted += 1;
                    }
                }
            }
        }
    }
    assert!(corrupted > 2000, "{corrupted}");
    let after = ok(&[
        "--config", &cfg, "--as-of", AS_OF, "kpis", "--format", "csv",
    ]);
    assert_eq!(before.lines().count(), after.lines().count());
    // And a query that does touch them fails, naming the file.
    let err = fails(&[
        "--config",
        &cfg,
        "sql",
        "SELECT sum(spend) FROM ad_performance",
    ]);
    assert!(err.contains("parquet") || err.contains("Parquet"), "{err}");
}

#[test]
fn demo_writes_canonical_views_other_engines_can_read() {
    // The canonical files hold the same rows as the views `kpi sql` reads.
    let lake = demo().join("demo/lake");
    let cfg = config();
    for view in [
        "ad_performance",
        "crm_contacts",
        "web_traffic",
        "marketing_costs",
    ] {
        let file = lake.join(format!("canonical/{view}/part-0.parquet"));
        assert!(file.exists(), "{}", file.display());
        let from_view = ok(&[
            "--config",
            &cfg,
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) FROM {view}"),
        ]);
        // Read the file through a fresh listing table, not through the view.
        let from_file = ok(&[
            "--config",
            &cfg,
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) FROM '{}'", file.display()),
        ]);
        assert_eq!(from_view.lines().nth(1), from_file.lines().nth(1), "{view}");
    }
    // Dates are DATE and money DOUBLE in the files.
    let file = lake.join("canonical/ad_performance/part-0.parquet");
    let types = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        &format!(
            "SELECT arrow_typeof(date), arrow_typeof(spend) FROM '{}' LIMIT 1",
            file.display()
        ),
    ]);
    assert_eq!(types.lines().nth(1), Some("Date32,Float64"));
}

#[test]
fn an_empty_lake_gives_an_empty_report_not_an_error() {
    // A fresh setup before the first sync: the config names a source, the lake
    // is empty. The report has its header and no rows; nothing panics.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    let cfg = dir.path().join("kpi.toml");
    std::fs::write(
        &cfg,
        "[reporting]\ncurrency = \"EUR\"\n[sources.ads]\ntype = \"google_ads\"\n",
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let out = ok(&["--config", &cfg, "kpis", "--format", "csv"]);
    assert_eq!(
        out.trim(),
        "grain,channel,campaign_type,campaign,kpi,value,previous,last_year,target,benchmark,change_vs_previous,change_vs_last_year,status"
    );
    assert_eq!(
        ok(&["--config", &cfg, "kpis", "--format", "json"]).trim(),
        "[]"
    );
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM ads.campaign_stats",
    ]);
    assert_eq!(out.trim(), "n\n0");
}

#[test]
fn report_renders_the_leadership_report_from_the_lake() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let msg = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--period",
        "previous_month",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(msg.contains("October 2026"), "{msg}");
    assert!(
        msg.contains("5 charts"),
        "a trend chart per headline KPI: {msg}"
    );
    let html = std::fs::read_to_string(&out).unwrap();
    // The saved copy carries its charts inline, so it opens in a browser.
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 5);
    assert!(!html.contains("cid:"));
    let text = std::fs::read_to_string(dir.path().join("report.txt")).unwrap();
    let email_kb: usize = msg
        .split("email HTML ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the email HTML size is printed");
    assert!(email_kb < 102, "{email_kb} KB would be clipped by Gmail");
    assert!(!html.contains("<script"));
    // Styles are inline; a style block holds only the @media rules for phones.
    for block in html.split("<style").skip(1) {
        let css = block.split_once('>').map_or("", |x| x.1).trim_start();
        assert!(css.starts_with("@media"), "{css}");
    }
    // The headline shows the same numbers as `kpi kpis`, formatted alike.
    let table = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
    ]);
    for kpi in ["revenue", "cpl", "cac", "roi", "mql_to_sql"] {
        let line = table
            .lines()
            .find(|l| l.starts_with("| total ") && l.contains(&format!("| {kpi} ")))
            .unwrap_or_else(|| panic!("no total {kpi} row"));
        let value = line.split('|').nth(6).unwrap().trim().to_string();
        assert!(
            html.contains(&value),
            "{kpi} value {value} not in the report"
        );
        assert!(
            text.contains(&value),
            "{kpi} value {value} not in the text part"
        );
    }
    assert!(
        html.contains("Mailchimp"),
        "benchmark sources in the footer"
    );
    assert!(
        html.contains("google_ads.campaign_stats 2026-11-23"),
        "freshness in the footer"
    );

    // A template with a syntax error fails before anything is written.
    let tpl = dir.path().join("tpl/leadership/partials");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        dir.path().join("tpl/leadership/report.html.hbs"),
        "<p>{{#if title}}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("tpl/leadership/report.txt.hbs"), "x").unwrap();
    std::fs::write(dir.path().join("tpl/leadership/style.css"), "").unwrap();
    let lake = demo().join("demo/lake");
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        format!(
            "[reporting]\ncurrency = \"EUR\"\n[lake]\npath = \"{}\"\n[reports.leadership]\ntemplates = \"tpl\"\n",
            lake.display()
        ),
    )
    .unwrap();
    let out2 = dir.path().join("never.html");
    let err = fails(&[
        "--config",
        broken.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(err.contains("leadership/report.html.hbs"), "{err}");
    assert!(!out2.exists(), "nothing is written when rendering fails");
}

#[test]
fn demo_ends_with_the_report_in_the_outbox_and_send_delivers_again() {
    let demo_dir = demo().join("demo");
    let outbox: Vec<_> = std::fs::read_dir(demo_dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let eml = std::fs::read_to_string(&outbox[0]).unwrap();
    assert!(
        eml.contains("Subject: Marketing KPIs, October 2026"),
        "{eml}"
    );
    assert!(eml.contains("To: Leadership <leadership@example.com>"));
    assert!(eml.contains("Content-Type: multipart/alternative"));
    assert!(eml.contains("Content-Type: multipart/related"));
    // One inline PNG per headline KPI, each with the Content-ID the HTML uses.
    assert_eq!(eml.matches("Content-Type: image/png").count(), 5, "{eml}");
    for kpi in ["revenue", "cpl", "cac", "roi", "mql_to_sql"] {
        assert!(
            eml.contains(&format!("Content-ID: <trend-{kpi}@kpi.report>")),
            "no chart part for {kpi}"
        );
    }
    assert!(demo_dir.join("reports/leadership-2026-10.html").exists());

    // `report --send` delivers through the same outbox, to a copy of the config.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo_dir.join("kpi.toml")).unwrap();
    let cfg = dir.path().join("kpi.toml");
    std::fs::write(
        &cfg,
        text.replace(
            "path = \"lake\"",
            &format!("path = \"{}\"", demo_dir.join("lake").display()),
        )
        .replace(
            "dir = \"queries\"",
            &format!("dir = \"{}\"", demo_dir.join("queries").display()),
        ),
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let msg = ok(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--send",
    ]);
    assert!(
        msg.contains("sent \"Marketing KPIs, October 2026\""),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );

    // No recipients: nothing is sent and the setting is named.
    let no_to = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("to = [\"Leadership <leadership@example.com>\"]\n", "");
    std::fs::write(&cfg, no_to).unwrap();
    let err = fails(&[
        "--config",
        &cfg,
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--send",
    ]);
    assert!(
        err.contains("reports.leadership.to") && err.contains("no recipients"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );
    let err = fails(&["--config", &cfg, "report", "leadership"]);
    assert!(err.contains("nothing to do"), "{err}");
}

#[test]
fn a_failed_query_sends_nothing_and_writes_nothing() {
    let demo_dir = demo().join("demo");
    let dir = tempfile::tempdir().unwrap();
    // A copy of the config whose compare.sql override refers to a column that
    // does not exist: the KPI table cannot be computed.
    let queries = dir.path().join("q");
    std::fs::create_dir_all(&queries).unwrap();
    std::fs::write(
        queries.join("compare.sql"),
        "CREATE VIEW kpi_report AS\nSELECT no_such_column FROM kpi_values;\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(demo_dir.join("kpi.toml")).unwrap();
    let cfg = dir.path().join("kpi.toml");
    std::fs::write(
        &cfg,
        text.replace(
            "path = \"lake\"",
            &format!("path = \"{}\"", demo_dir.join("lake").display()),
        )
        .replace("dir = \"queries\"", "dir = \"q\""),
    )
    .unwrap();
    let out = dir.path().join("report.html");
    let err = fails(&[
        "--config",
        cfg.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--out",
        out.to_str().unwrap(),
        "--send",
    ]);
    assert!(
        err.contains("compare.sql") && err.contains("no_such_column"),
        "{err}"
    );
    assert!(!out.exists(), "no half report on disk");
    let outbox = dir.path().join("outbox");
    assert!(
        !outbox.exists() || std::fs::read_dir(&outbox).unwrap().count() == 0,
        "nothing was sent"
    );
}

/// `kpi bench kpis` builds a small demo lake once, times both commands
/// and prints their ratio; a second run reuses the lake.
#[test]
fn bench_kpis_times_the_table_and_the_report_on_a_reused_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("bench");
    let run = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_kpi"))
            .args([
                "--as-of",
                "2026-11-24",
                "bench",
                "kpis",
                "--scale",
                "0.2",
                "--months",
                "3",
                "--runs",
                "1",
                "--dir",
            ])
            .arg(&lake)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{out}{err}");
        (out, err)
    };
    let (out, err) = run();
    assert!(err.contains("building the demo lake"), "{err}");
    for line in [
        "kpi kpis --period previous_month",
        "kpi report leadership --period previous_month",
    ] {
        let row = out
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{out}"));
        let cells: Vec<&str> = row[line.len()..].split_whitespace().collect();
        let median: f64 = cells[0].parse().unwrap();
        assert!(median > 0.0, "{row}");
        assert!(row.ends_with("MiB"), "{row}");
    }
    let ratio = out
        .lines()
        .find_map(|l| l.strip_prefix("report / kpis: "))
        .and_then(|r| r.split('x').next())
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(ratio > 0.0, "{out}");
    let (_, err) = run();
    assert!(err.contains("reusing the demo lake"), "{err}");
}
