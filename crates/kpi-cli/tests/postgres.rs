//! A costs source read from a PostgreSQL query, through the binary, against
//! the real server `KPI_TEST_POSTGRES_URL` names (`.ci/run` sets it; a run
//! that sets it without a server fails). Without the variable the tests say
//! they skipped: `cargo test` on a machine without PostgreSQL still passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");

use common::pg::{execute as psql, server_has_tls, url};

/// A table of its own per test, dropped when done.
struct Table {
    url: String,
    name: String,
}

impl Table {
    fn new(url: &str, tag: &str, amount_type: &str) -> Table {
        let name = format!("kpi_test_{tag}_{}", std::process::id());
        psql(
            url,
            &format!(
                "DROP TABLE IF EXISTS {name};
                 CREATE TABLE {name} (id serial PRIMARY KEY, booked_on date, vendor text,
                   category text, channel text, amount {amount_type}, currency text,
                   updated_at timestamptz NOT NULL DEFAULT clock_timestamp());"
            ),
        );
        Table {
            url: url.to_string(),
            name,
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        psql(&self.url, &format!("DROP TABLE IF EXISTS {}", self.name));
    }
}

fn setup(dir: &Path, table: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("kpi.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[reporting]
currency = "EUR"
timezone = "UTC"

[lake]
path = "lake"

[sources.finance]
type = "costs"
postgres = {{ url = {{ env = "KPI_TEST_FINANCE_DB" }}, query = "SELECT booked_on AS date, vendor, category, channel, amount, currency, updated_at FROM {table}", incremental = "updated_at" }}
{extra}
"#
        ),
    )
    .unwrap();
    cfg
}

fn kpi(cfg: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(KPI)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("KPI_TEST_FINANCE_DB", url)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    common::costs::output_text(o)
}

fn october_cost(cfg: &Path, url: &str) -> Option<f64> {
    let o = kpi(cfg, url, &common::costs::OCTOBER);
    assert!(o.status.success(), "{}", text(&o));
    common::costs::marketing_cost(&String::from_utf8_lossy(&o.stdout), "total")
}

/// The summary line of `stream`: its days and rows.
fn summary(o: &Output, stream: &str) -> (String, u64) {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with(stream))
        .unwrap_or_else(|| panic!("no {stream} line in {out}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    let days = if cells[1] == "up" {
        "up to date".to_string()
    } else {
        cells[1].to_string()
    };
    let rows = cells[cells.len() - 5].parse().unwrap();
    (days, rows)
}

#[test]
fn a_query_syncs_then_reads_only_the_days_that_changed() {
    let Some(url) = url() else { return };
    let table = Table::new(&url, "costs", "numeric(12,2)");
    psql(
        &url,
        &format!(
            "INSERT INTO {} (booked_on, vendor, category, channel, amount, currency) VALUES
             ('2026-10-01', 'Agencia Sur', 'agency', 'paid_social', 1234.50, 'EUR'),
             ('2026-10-15', 'Nubo', 'tools', NULL, 100, 'EUR'),
             ('2026-11-03', 'Agencia Sur', 'agency', 'paid_social', 500.25, 'EUR'),
             ('2026-12-01', 'Feria', 'events', NULL, 80, 'USD');",
            table.name
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &table.name, "");

    let check = kpi(&cfg, &url, &["check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("the query answers, rows from 2026-10-01 to 2026-12-01"),
        "{}",
        text(&check)
    );

    let first = kpi(&cfg, &url, &["sync"]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(
        summary(&first, "finance.marketing_costs"),
        ("2026-10-01..2026-12-01".to_string(), 4)
    );
    assert_eq!(october_cost(&cfg, &url), Some(1334.5));

    // Nothing changed: nothing is read, the lake stays as it is.
    let before = common::lake_files(&dir.path().join("lake"));
    let again = kpi(&cfg, &url, &["sync"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("no new or changed rows"),
        "{}",
        text(&again)
    );
    assert_eq!(common::lake_files(&dir.path().join("lake")), before);

    // A corrected cost and a new one: only their days are read again
    // (1 to 20 October, three rows), November and December are not.
    psql(
        &url,
        &format!(
            "UPDATE {0} SET amount = 1000, updated_at = clock_timestamp() WHERE booked_on = '2026-10-01';
             INSERT INTO {0} (booked_on, vendor, category, channel, amount, currency)
             VALUES ('2026-10-20', 'Feria', 'events', NULL, 200, 'EUR');",
            table.name
        ),
    );
    let changed = kpi(&cfg, &url, &["sync"]);
    assert!(changed.status.success(), "{}", text(&changed));
    assert_eq!(
        summary(&changed, "finance.marketing_costs"),
        ("2026-10-01..2026-10-20".to_string(), 3)
    );
    assert_eq!(october_cost(&cfg, &url), Some(1300.0));
    let o = kpi(
        &cfg,
        &url,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM finance.marketing_costs",
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\n5\n"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_bad_value_stops_the_sync_and_the_password_is_never_shown() {
    let Some(url) = url() else { return };
    let table = Table::new(&url, "bad", "text");
    psql(
        &url,
        &format!(
            "INSERT INTO {} (booked_on, vendor, category, channel, amount, currency) VALUES
             ('2026-10-01', 'Agencia Sur', 'agency', 'paid_social', '1234.50', 'EUR'),
             ('2026-10-02', 'Nubo', 'tools', NULL, 'doce', 'EUR');",
            table.name
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), &table.name, "");
    let o = kpi(&cfg, &url, &["sync"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("row 2, column amount: \"doce\" is not a number"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("lake and cursors left as they were"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("lake/_state/finance.json").exists());

    // With skip, the good row loads and the bad one is listed.
    let cfg = setup(dir.path(), &table.name, "on_bad_rows = \"skip\"");
    let o = kpi(&cfg, &url, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(october_cost(&cfg, &url), Some(1234.5));

    // sslmode=require encrypts (the certificate unchecked, as with psql);
    // a ca_file that is not there is named.
    let tls = format!("{url}?sslmode=require");
    let o = kpi(&cfg, &tls, &["check"]);
    if server_has_tls(&url) {
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("the query answers"), "{}", text(&o));
    } else {
        assert!(!o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("connecting to PostgreSQL"),
            "{}",
            text(&o)
        );
    }
    let cfg = setup(dir.path(), &table.name, "").to_path_buf();
    let toml = std::fs::read_to_string(&cfg).unwrap().replace(
        "incremental = \"updated_at\" }",
        "incremental = \"updated_at\", ca_file = \"company-ca.pem\" }",
    );
    std::fs::write(&cfg, toml).unwrap();
    let o = kpi(&cfg, &url, &["check"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("company-ca.pem"), "{}", text(&o));

    // A server that refuses: its words, not the URL and its password.
    let cfg = setup(dir.path(), &table.name, "");
    let wrong = "postgres://kpi_nobody:hunter2-secret@127.0.0.1:5432/no_such_db";
    let o = kpi(&cfg, wrong, &["check"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("connecting to PostgreSQL"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("hunter2"), "{}", text(&o));
}

/// A homegrown CRM's deals table in the warehouse, read by a custom source:
/// booleans and `numeric` amounts as PostgreSQL writes them, revenue by close
/// date, and an incremental sync that takes a deal that was won since.
#[test]
fn a_custom_source_reads_crm_deals_from_a_query_incrementally() {
    let Some(url) = url() else { return };
    let name = format!("kpi_test_deals_{}", std::process::id());
    psql(
        &url,
        &format!(
            "DROP TABLE IF EXISTS {name};
             CREATE TABLE {name} (id text PRIMARY KEY, contact text, created date,
               closed_on date, won boolean, closed boolean, amount numeric(12,2), currency text,
               updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
             INSERT INTO {name} (id, contact, created, closed_on, won, closed, amount, currency) VALUES
               ('d1', 'c1', '2026-09-20', '2026-10-10', true, true, 1200.50, 'EUR'),
               ('d2', 'c2', '2026-10-02', NULL, false, false, 800, 'EUR'),
               ('d3', 'c3', '2026-10-03', '2026-10-30', false, true, 50, 'EUR');"
        ),
    );
    // Dropped however the test ends.
    let _table = Table {
        url: url.clone(),
        name: name.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kpi.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[reporting]
currency = "EUR"
timezone = "UTC"

[lake]
path = "lake"

[sources.warehouse]
type = "custom"
[sources.warehouse.crm_deals]
postgres = {{ url = {{ env = "KPI_TEST_FINANCE_DB" }}, query = "SELECT id AS deal_id, contact AS contact_id, created AS date, closed_on AS close_date, won AS is_won, closed AS is_closed, amount, currency, updated_at FROM {name}", incremental = "updated_at" }}
"#
        ),
    )
    .unwrap();
    let revenue = |cfg: &Path| {
        let o = kpi(cfg, &url, &common::costs::OCTOBER);
        assert!(o.status.success(), "{}", text(&o));
        let csv = String::from_utf8_lossy(&o.stdout).to_string();
        (
            common::costs::kpi_value(&csv, "total", "revenue"),
            common::costs::kpi_value(&csv, "total", "deals_won"),
            common::costs::kpi_value(&csv, "total", "deals_lost"),
        )
    };
    let first = kpi(&cfg, &url, &["sync"]);
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(
        summary(&first, "warehouse.crm_deals"),
        ("2026-09-20..2026-10-03".to_string(), 3)
    );
    assert_eq!(revenue(&cfg), (Some(1200.5), Some(1.0), Some(1.0)));

    // d2 is won on 25 October: the next sync reads its day again, and only
    // its day; it replaces the open deal rather than adding a second one.
    psql(
        &url,
        &format!(
            "UPDATE {name} SET won = true, closed = true, closed_on = '2026-10-25',
               updated_at = clock_timestamp() WHERE id = 'd2';"
        ),
    );
    let second = kpi(&cfg, &url, &["sync"]);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(
        summary(&second, "warehouse.crm_deals"),
        ("2026-10-02..2026-10-02".to_string(), 1)
    );
    assert_eq!(revenue(&cfg), (Some(2000.5), Some(2.0), Some(1.0)));
    let o = kpi(
        &cfg,
        &url,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM crm_deals",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n\n3\n");
}
