//! Custom sources through the binary: rows for canonical views no connector
//! feeds, from files in the view's own terms. Another ad platform's export
//! (broken down by ad group, in dollars), offline conversions from a call
//! tracker (semicolons and decimal commas) and a homegrown CRM's contacts
//! and deals, checked by the KPIs they feed; then a re-export of the same
//! days, and a bad yes/no value that leaves the lake as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::costs::{OCTOBER, kpi_value, output_text as text};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");

/// The dollar's value in euros in 2026 (queries/reference/fx_rates.csv).
const EUR_PER_USD: f64 = 0.885;

fn setup(dir: &Path) -> PathBuf {
    for d in ["tiktok", "offline", "crm/contacts", "crm/deals"] {
        std::fs::create_dir_all(dir.join("inputs").join(d)).unwrap();
    }
    let cfg = dir.join("kpi.toml");
    std::fs::write(
        &cfg,
        r#"[reporting]
currency = "EUR"
timezone = "UTC"

[lake]
path = "lake"

[sources.tiktok]
type = "custom"
[sources.tiktok.ad_performance]
path = "inputs/tiktok"
columns = { campaign = "Campaign name", cost = "Cost" }
values = { platform = "tiktok_ads", currency = "USD", channel = "paid_social", conversion_value = "0" }

[sources.calls]
type = "custom"
[sources.calls.ad_performance]
path = "inputs/offline"
date_format = "%d/%m/%Y"
columns = { date = "Día", campaign = "Campaña", conversions = "Conversiones", conversion_value = "Valor" }
values = { platform = "offline", impressions = "0", clicks = "0", cost = "0", currency = "EUR" }

[sources.crm]
type = "custom"
[sources.crm.crm_contacts]
path = "inputs/crm/contacts"
columns = { date = "created" }
[sources.crm.crm_deals]
path = "inputs/crm/deals"
columns = { date = "created", is_won = "won", is_closed = "closed" }
"#,
    )
    .unwrap();
    cfg
}

fn write(dir: &Path, file: &str, body: &str) {
    std::fs::write(dir.join("inputs").join(file), body).unwrap();
}

fn kpi(cfg: &Path, args: &[&str]) -> Output {
    Command::new(KPI)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

/// October 2026's KPI table as CSV.
fn october(cfg: &Path) -> String {
    let o = kpi(cfg, &OCTOBER);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn value(csv: &str, grain: &str, key: &str) -> f64 {
    kpi_value(csv, grain, key).unwrap_or_else(|| panic!("no {key} at {grain}:\n{csv}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

const TIKTOK_HEADER: &str =
    "Date,Campaign name,Ad group name,Impressions,Clicks,Cost,Conversions\n";

#[test]
fn custom_sources_feed_ads_offline_conversions_and_a_crm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    // Two ad groups of one campaign on one day: both count.
    write(
        dir.path(),
        "tiktok/tiktok-2026-10.csv",
        &format!(
            "{TIKTOK_HEADER}2026-10-01,Spring Launch,AG1,1000,50,100.00,2\n\
             2026-10-01,Spring Launch,AG2,500,25,50.00,1\n\
             2026-10-02,Spring Launch,AG1,800,40,80.00,1\n"
        ),
    );
    write(
        dir.path(),
        "offline/llamadas.csv",
        "Día;Campaña;Conversiones;Valor\n05/10/2026;Spring Launch;3;1.500,00\n",
    );
    write(
        dir.path(),
        "crm/contacts/contacts.csv",
        "contact_id,created,lead_date,mql_date,sql_date,customer_date,source,campaign\n\
         c1,2026-10-02,2026-10-02,2026-10-03,,2026-10-20,Paid Social,Spring Launch\n\
         c2,2026-10-04,,,,,Organic,\n\
         c3,2026-09-10,2026-09-10,,,,Organic,\n",
    );
    write(
        dir.path(),
        "crm/deals/deals.csv",
        "deal_id,contact_id,created,close_date,won,closed,amount,currency\n\
         d1,c1,2026-10-05,2026-10-20,yes,yes,1000,USD\n\
         d2,c2,2026-10-06,2026-11-30,no,no,500,EUR\n\
         d3,c2,2026-10-07,2026-10-25,no,yes,300,EUR\n",
    );

    let check = kpi(&cfg, &["check"]);
    assert!(check.status.success(), "{}", text(&check));
    let sync = kpi(&cfg, &["sync"]);
    assert!(sync.status.success(), "{}", text(&sync));

    let k = october(&cfg);
    let spend = 230.0 * EUR_PER_USD;
    assert!(close(value(&k, "total", "ad_spend"), spend), "{k}");
    assert_eq!(value(&k, "total", "impressions"), 2300.0);
    assert_eq!(value(&k, "total", "clicks"), 115.0);
    // The call tracker's conversions count for the campaign, on its channel.
    assert_eq!(value(&k, "total", "ad_conversions"), 7.0);
    assert_eq!(value(&k, "channel,paid_social", "ad_conversions"), 7.0);
    // Their value lands in ad_performance, in euros.
    let o = kpi(
        &cfg,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT platform, channel, sum(conversion_value) AS v FROM ad_performance \
             GROUP BY 1, 2 ORDER BY 1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "platform,channel,v\noffline,paid_social,1500.0\ntiktok_ads,paid_social,0.0\n"
    );
    // c2 has no lead date: a lead from the day it was created; c3 is
    // September's.
    assert_eq!(value(&k, "total", "leads"), 2.0);
    assert_eq!(value(&k, "total", "mqls"), 1.0);
    assert_eq!(value(&k, "total", "new_customers"), 1.0);
    // The won deal is in dollars; the open one's expected close is no close.
    assert!(
        close(value(&k, "total", "revenue"), 1000.0 * EUR_PER_USD),
        "{k}"
    );
    assert_eq!(value(&k, "total", "deals_won"), 1.0);
    assert_eq!(value(&k, "total", "deals_lost"), 1.0);
    // ROAS is CRM revenue over ad spend.
    assert!(close(value(&k, "total", "roas"), 885.0 / spend), "{k}");
    // The contact came from the campaign, so its revenue is paid social's.
    assert!(
        close(
            value(&k, "channel,paid_social", "revenue"),
            1000.0 * EUR_PER_USD
        ),
        "{k}"
    );

    // A later export of October 2 and 3 replaces what the first had for
    // October 2, and adds October 3; October 1 stays.
    write(
        dir.path(),
        "tiktok/tiktok-2026-10-v2.csv",
        &format!(
            "{TIKTOK_HEADER}2026-10-02,Spring Launch,AG1,800,40,90.00,1\n\
             2026-10-03,Spring Launch,AG1,100,5,10.00,0\n"
        ),
    );
    let again = kpi(&cfg, &["sync"]);
    assert!(again.status.success(), "{}", text(&again));
    let k = october(&cfg);
    assert!(
        close(value(&k, "total", "ad_spend"), 250.0 * EUR_PER_USD),
        "{k}"
    );
    assert_eq!(value(&k, "total", "clicks"), 120.0);

    // A deal won by "maybe": the file is named with its line and column,
    // and nothing of the sync lands.
    let before = common::lake_files(&dir.path().join("lake"));
    write(
        dir.path(),
        "crm/deals/deals-2.csv",
        "deal_id,contact_id,created,close_date,won,closed,amount,currency\n\
         d4,c1,2026-10-08,2026-10-28,yes,yes,200,EUR\n\
         d5,c1,2026-10-09,2026-10-29,maybe,yes,100,EUR\n",
    );
    let bad = kpi(&cfg, &["sync"]);
    assert!(!bad.status.success(), "{}", text(&bad));
    let t = text(&bad);
    assert!(t.contains("deals-2.csv"), "{t}");
    assert!(t.contains("line 3"), "{t}");
    assert!(t.contains("\"maybe\" is not a yes/no value"), "{t}");
    assert_eq!(common::lake_files(&dir.path().join("lake")), before);
}

#[test]
fn a_custom_export_missing_a_measure_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    // No clicks column, and no value given for it.
    write(
        dir.path(),
        "tiktok/no-clicks.csv",
        "Date,Campaign name,Impressions,Cost,Conversions\n2026-10-01,Spring Launch,1000,100,2\n",
    );
    let o = kpi(&cfg, &["sync", "--source", "tiktok"]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("no-clicks.csv"), "{t}");
    assert!(t.contains("no column for `clicks`"), "{t}");
    // A view a custom source cannot feed is refused by check, naming the ones
    // it can.
    let cfg2 = dir.path().join("bad.toml");
    std::fs::write(
        &cfg2,
        "[reporting]\ncurrency = \"EUR\"\n\n[lake]\npath = \"lake2\"\n\n\
         [sources.x]\ntype = \"custom\"\n[sources.x.crm_deal]\npath = \"inputs\"\n",
    )
    .unwrap();
    let o = kpi(&cfg2, &["check"]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("crm_deal"), "{t}");
    assert!(t.contains("crm_deals"), "{t}");
}
