//! `kpi export postgres` against the real server `KPI_TEST_POSTGRES_URL`
//! names (`.ci/run` sets it; without it the tests say they skipped): the
//! warehouse holds what the lake holds, a re-export adds no duplicate, a
//! dated export replaces only its days, and a failed export leaves every
//! table as it was.

mod common;

use common::demo::{AS_OF, KPI};
use common::run::{shared_config as config, text};

use common::pg::{query as pg, url};

fn export(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(KPI)
        .args([
            "--config",
            &config(),
            "--as-of",
            AS_OF,
            "export",
            "postgres",
        ])
        .args(args)
        .env("KPI_WAREHOUSE_URL", url)
        .output()
        .unwrap()
}

fn lake(sql: &str) -> String {
    let out = common::run::ok(&["--config", &config(), "sql", "--format", "csv", sql]);
    out.lines().nth(1).unwrap_or_default().to_string()
}

/// A schema of its own, dropped when done.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        pg(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

#[test]
fn the_warehouse_holds_the_lake_and_a_reexport_replaces_it() {
    let Some(url) = url() else { return };
    let schema = Schema {
        url: url.clone(),
        name: format!("kpi_export_{}", std::process::id()),
    };
    let s = &schema.name;
    let out = export(&url, &["--schema", s]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("{s}.ad_performance: ")),
        "{stdout}"
    );
    assert!(stdout.contains("(table created)"), "{stdout}");

    // Every canonical view and the history, row for row, with the same sums.
    for (table, sum) in [
        ("ad_performance", "spend"),
        ("web_traffic", "sessions"),
        ("crm_deals", "amount"),
        ("crm_contacts", "1"),
        ("kpi_history", "value"),
    ] {
        let n_lake = lake(&format!("SELECT count(*) FROM {table}"));
        let n_pg = pg(&url, &format!("SELECT count(*) FROM {s}.{table}"));
        assert_eq!(n_pg, n_lake, "{table}");
        assert!(n_lake.parse::<u64>().unwrap() > 0, "{table} has rows");
        let sum_lake: f64 = lake(&format!("SELECT sum({sum}) FROM {table}"))
            .parse()
            .unwrap();
        let sum_pg: f64 = pg(&url, &format!("SELECT sum({sum}) FROM {s}.{table}"))
            .parse()
            .unwrap();
        assert!(
            (sum_lake - sum_pg).abs() <= 1e-6 * sum_lake.abs().max(1.0),
            "{table}: {sum_lake} vs {sum_pg}"
        );
    }
    // Types and comments.
    assert_eq!(
        pg(
            &url,
            &format!(
                "SELECT data_type FROM information_schema.columns \
                 WHERE table_schema = '{s}' AND table_name = 'ad_performance' AND column_name = 'date'"
            )
        ),
        "date"
    );
    assert_eq!(
        pg(
            &url,
            &format!(
                "SELECT col_description('{s}.ad_performance'::regclass, \
                 (SELECT ordinal_position FROM information_schema.columns WHERE table_schema = '{s}' \
                  AND table_name = 'ad_performance' AND column_name = 'spend')::int)"
            )
        ),
        "cost in the reporting currency"
    );
    assert!(
        pg(
            &url,
            &format!("SELECT obj_description('{s}.crm_deals'::regclass)")
        )
        .contains("one row per deal")
    );

    // Again: the same rows, not twice as many.
    let n = pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance"));
    let again = export(&url, &["--schema", s]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains(&format!("{n} replaced")));
    assert_eq!(
        pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance")),
        n
    );

    // A dated export replaces its days and nothing else: a September row
    // deleted in the warehouse stays deleted after October is exported.
    pg(
        &url,
        &format!("DELETE FROM {s}.ad_performance WHERE date = DATE '2026-09-15'"),
    );
    pg(
        &url,
        &format!("DELETE FROM {s}.ad_performance WHERE date = DATE '2026-10-15'"),
    );
    let october = export(
        &url,
        &[
            "--schema",
            s,
            "--tables",
            "ad_performance",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
        ],
    );
    assert!(october.status.success(), "{}", text(&october.stderr));
    let count = |day: &str| {
        pg(
            &url,
            &format!("SELECT count(*) FROM {s}.ad_performance WHERE date = DATE '{day}'"),
        )
    };
    assert_eq!(count("2026-09-15"), "0");
    assert_eq!(
        count("2026-10-15"),
        lake("SELECT count(*) FROM ad_performance WHERE date = DATE '2026-10-15'")
    );

    // A failure half way (crm_deals changed by hand) exports nothing: the
    // tables loaded before it in the same run are rolled back too.
    pg(
        &url,
        &format!("ALTER TABLE {s}.crm_deals ADD COLUMN note text"),
    );
    let before = pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance"));
    let failed = export(&url, &["--schema", s]);
    assert!(!failed.status.success());
    let err = text(&failed.stderr);
    assert!(err.contains(&format!("{s}.crm_deals")), "{err}");
    assert!(err.contains("other columns"), "{err}");
    assert!(err.contains("the warehouse keeps what it had"), "{err}");
    assert_eq!(
        pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance")),
        before,
        "ad_performance (exported before crm_deals) is as it was"
    );
    assert_eq!(count("2026-09-15"), "0");
}

#[test]
fn a_refused_login_names_the_variable_never_the_password() {
    let Some(url) = url() else { return };
    let bad = match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://no_such_user_kpi:s3cr3t-pw@{host}")
        }
        None => return,
    };
    let out = export(&bad, &["--schema", "kpi_never"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("$KPI_WAREHOUSE_URL"), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");

    let out = std::process::Command::new(KPI)
        .args([
            "--config",
            &config(),
            "export",
            "postgres",
            "--tables",
            "ad_perfomance",
        ])
        .env("KPI_WAREHOUSE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("did you mean ad_performance?"), "{err}");
}

#[test]
fn a_role_that_may_load_but_not_comment_still_loads_and_is_warned() {
    let Some(url) = url() else { return };
    let pid = std::process::id();
    let schema = Schema {
        url: url.clone(),
        name: format!("kpi_export_grants_{pid}"),
    };
    let s = &schema.name;
    let tables = ["--schema", s, "--tables", "kpi_catalog,crm_deals"];
    let first = export(&url, &tables);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // A loader that owns nothing: it may write the rows, not the comments.
    let role = format!("kpi_loader_{pid}");
    let grant = format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
         GRANT CREATE ON DATABASE {db} TO {role};
         GRANT USAGE ON SCHEMA {s} TO {role};
         GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA {s} TO {role};
         DELETE FROM {s}.crm_deals;",
        db = pg(&url, "SELECT current_database()"),
    );
    common::pg::execute(&url, &grant);
    let loader_url = match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://{role}@{host}")
        }
        None => panic!("KPI_TEST_POSTGRES_URL is not a URL"),
    };
    let out = export(&loader_url, &tables);
    let cleanup = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {role}; REVOKE ALL ON SCHEMA {s} FROM {role};
         REVOKE CREATE ON DATABASE {db} FROM {role}; DROP ROLE {role};",
        db = pg(&url, "SELECT current_database()"),
    );
    common::pg::execute(&url, &cleanup);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{}{err}", text(&out.stdout));
    assert!(
        err.contains(&format!(
            "warning: {s}.kpi_catalog: its comments were not updated"
        )),
        "{err}"
    );
    assert!(err.contains("must be owner"), "{err}");
    assert_eq!(
        pg(&url, &format!("SELECT count(*) FROM {s}.crm_deals")),
        lake("SELECT count(*) FROM crm_deals"),
        "the rows were loaded"
    );
}

#[test]
fn a_sync_exports_after_itself_and_a_failed_export_leaves_the_lake_synced() {
    let Some(url) = url() else { return };
    let sb = common::sandbox::Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema {
        url: url.clone(),
        name: format!("kpi_after_sync_{}", std::process::id()),
    };
    let s = &schema.name;
    let cfg = sb.config(
        dir.path(),
        &format!(
            "[export]\nexport_after_sync = true\nurl_env = \"KPI_TEST_WAREHOUSE\"\nschema = \"{s}\"\n\
             tables = [\"ad_performance\", \"kpi_catalog\"]\n"
        ),
    );
    let sync = |warehouse: &str| {
        sb.kpi(
            &cfg,
            &[("KPI_TEST_WAREHOUSE", warehouse)],
            &["sync", "--source", "google_ads"],
        )
    };
    let out = sync(&url);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("synced into"), "{stdout}");
    let lake = |q: &str| {
        let out = sb.kpi(&cfg, &[], &["sql", "--format", "csv", q]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let rows = lake("SELECT count(*) FROM ad_performance");
    assert!(rows.parse::<u64>().unwrap() > 0);
    assert!(
        stdout.contains(&format!("{s}.ad_performance: {rows} rows (table created)")),
        "{stdout}"
    );
    assert_eq!(
        pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance")),
        rows
    );
    let spend = |q: &str| q.parse::<f64>().unwrap();
    let (lake_spend, pg_spend) = (
        spend(&lake("SELECT sum(spend) FROM ad_performance")),
        spend(&pg(
            &url,
            &format!("SELECT sum(spend) FROM {s}.ad_performance"),
        )),
    );
    assert!(
        (lake_spend - pg_spend).abs() < 1e-6 * lake_spend,
        "{lake_spend} {pg_spend}"
    );

    // The warehouse refuses the login: the sync still happened (and is
    // kept), the command fails naming the export.
    let bad = match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://no_such_user_kpi:s3cr3t-pw@{host}")
        }
        None => panic!("not a URL"),
    };
    let out = sb.kpi(
        &cfg,
        &[("KPI_TEST_WAREHOUSE", &bad)],
        &["sync", "--source", "google_ads", "--full-refresh"],
    );
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("synced into"), "{stdout}");
    assert!(
        err.contains("the lake is synced, but the export after it"),
        "{err}"
    );
    assert!(err.contains("$KPI_TEST_WAREHOUSE"), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");
    assert_eq!(lake("SELECT count(*) FROM ad_performance"), rows);
    assert!(!common::lake_files(&dir.path().join("lake/raw")).is_empty());
    // The warehouse keeps the previous export.
    assert_eq!(
        pg(&url, &format!("SELECT count(*) FROM {s}.ad_performance")),
        rows
    );
}

#[test]
fn kpi_check_names_the_line_of_a_bad_export_setting() {
    let sb = common::sandbox::Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(
        dir.path(),
        "[export]\nexport_after_sync = true\nurl_env = \"KPI_TEST_NO_SUCH_WAREHOUSE\"\n\
         tables = [\"ad_perfomance\"]\n",
    );
    let text_of = std::fs::read_to_string(&cfg).unwrap();
    let line_of = |key: &str| {
        text_of
            .lines()
            .position(|l| l.starts_with(key))
            .map(|i| i + 1)
            .unwrap()
    };
    let out = sb.kpi(&cfg, &[], &["check"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "kpi.toml: line {}: export.tables: ad_perfomance cannot be exported; did you mean ad_performance?",
            line_of("tables = ")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "kpi.toml: line {}: export.url_env: $KPI_TEST_NO_SUCH_WAREHOUSE is not set",
            line_of("url_env = ")
        )),
        "{stdout}"
    );
    // A key [export] does not have is a parse error naming its line.
    std::fs::write(&cfg, format!("{text_of}schemaa = \"x\"\n")).unwrap();
    let out = sb.kpi(&cfg, &[], &["check"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success());
    assert!(all.contains("schemaa"), "{all}");
}
