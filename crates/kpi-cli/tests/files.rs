//! File sources through the binary: `kpi check` and `kpi sync` of a costs
//! folder as finance exports it (semicolons, decimal commas, Spanish
//! headers), then the KPI the files feed, and what happens when a file is
//! added again, changed, broken, copied or removed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");

const HEADER: &str = "Fecha;Proveedor;Categoría;Canal;Importe\n";

fn setup(dir: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("costs")).unwrap();
    let cfg = dir.join("kpi.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[reporting]
currency = "EUR"
timezone = "UTC"

[lake]
path = "lake"

[sources.costs]
type = "costs"
path = "costs"
date_format = "%d/%m/%Y"
columns = {{ date = "Fecha", vendor = "Proveedor", category = "Categoría", channel = "Canal", amount = "Importe" }}
values = {{ currency = "EUR" }}
{extra}
"#
        ),
    )
    .unwrap();
    cfg
}

fn write(dir: &Path, name: &str, rows: &str) {
    std::fs::write(dir.join("costs").join(name), format!("{HEADER}{rows}")).unwrap();
}

fn kpi(cfg: &Path, args: &[&str]) -> Output {
    Command::new(KPI)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    common::costs::output_text(o)
}

/// `marketing_cost` of October 2026 at `grain` (`total` or `channel,<name>`).
fn october_cost(cfg: &Path, grain: &str) -> Option<f64> {
    let o = kpi(cfg, &common::costs::OCTOBER);
    assert!(o.status.success(), "{}", text(&o));
    common::costs::marketing_cost(&String::from_utf8_lossy(&o.stdout), grain)
}

fn raw_rows(cfg: &Path) -> u64 {
    let o = kpi(
        cfg,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM costs.marketing_costs",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&o)))
}

#[test]
fn a_costs_folder_loads_once_and_feeds_the_marketing_cost() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1.234,50\n15/10/2026;Nubo;tools;;100\n",
    );
    write(
        dir.path(),
        "noviembre.csv",
        "03/11/2026;Agencia Sur;agency;paid_social;500,25\n",
    );

    let check = kpi(&cfg, &["check"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("marketing_costs: 2 file(s) in "),
        "{}",
        text(&check)
    );
    assert!(
        text(&check).contains("3 rows, 2026-10-01 to 2026-11-03"),
        "{}",
        text(&check)
    );
    // A check writes nothing.
    assert!(!dir.path().join("lake/_state/costs.json").exists());

    let sync = kpi(&cfg, &["sync"]);
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(
        text(&sync).contains("2 file(s) loaded: noviembre.csv, octubre.csv"),
        "{}",
        text(&sync)
    );
    assert_eq!(october_cost(&cfg, "total"), Some(1334.5));
    assert_eq!(october_cost(&cfg, "channel,paid_social"), Some(1234.5));
    // A cost with no channel is overhead.
    assert_eq!(october_cost(&cfg, "channel,unallocated"), Some(100.0));

    // Nothing new: nothing is read, the lake does not change.
    let before = common::lake_files(&dir.path().join("lake"));
    let again = kpi(&cfg, &["sync"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("up to date"), "{}", text(&again));
    assert!(
        text(&again).contains("2 file(s), all loaded already"),
        "{}",
        text(&again)
    );
    assert_eq!(common::lake_files(&dir.path().join("lake")), before);

    // The same export saved under another name is not counted twice.
    std::fs::copy(
        dir.path().join("costs/octubre.csv"),
        dir.path().join("costs/octubre (1).csv"),
    )
    .unwrap();
    let copy = kpi(&cfg, &["sync"]);
    assert!(copy.status.success(), "{}", text(&copy));
    assert!(
        text(&copy)
            .contains("octubre (1).csv has the same content as octubre.csv: not loaded twice"),
        "{}",
        text(&copy)
    );
    assert_eq!(october_cost(&cfg, "total"), Some(1334.5));
    std::fs::remove_file(dir.path().join("costs/octubre (1).csv")).unwrap();

    // A corrected file replaces its own rows, and only those: November's
    // file, on other days, is not touched.
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1.000\n15/10/2026;Nubo;tools;;100\n20/10/2026;Nubo;tools;;50,5\n",
    );
    let fixed = kpi(&cfg, &["sync"]);
    assert!(fixed.status.success(), "{}", text(&fixed));
    assert!(
        text(&fixed).contains("1 file(s) loaded: octubre.csv; 1 loaded already"),
        "{}",
        text(&fixed)
    );
    assert_eq!(october_cost(&cfg, "total"), Some(1150.5));
    assert_eq!(raw_rows(&cfg), 4);

    // A second file with rows on the same days adds to them.
    write(dir.path(), "eventos.csv", "20/10/2026;Feria;events;;200\n");
    let added = kpi(&cfg, &["sync"]);
    assert!(added.status.success(), "{}", text(&added));
    assert_eq!(october_cost(&cfg, "total"), Some(1350.5));
    assert_eq!(raw_rows(&cfg), 5);
}

#[test]
fn a_bad_row_rejects_its_file_and_leaves_the_lake_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1.234,50\n",
    );
    assert!(kpi(&cfg, &["sync"]).status.success());
    let before = common::lake_files(&dir.path().join("lake"));

    write(
        dir.path(),
        "noviembre.csv",
        "03/11/2026;Agencia Sur;agency;paid_social;500,25\n04/11/2026;Nubo;tools;;doce\n31/11/2026;Nubo;tools;;1\n",
    );
    let o = kpi(&cfg, &["sync"]);
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("costs.marketing_costs: "), "{t}");
    assert!(
        t.contains("noviembre.csv: 2 bad rows, so nothing of the file was loaded"),
        "{t}"
    );
    assert!(
        t.contains("line 3, column Importe: \"doce\" is not a number"),
        "{t}"
    );
    assert!(
        t.contains("line 4, column Fecha: \"31/11/2026\" is not a date in the format \"%d/%m/%Y\""),
        "{t}"
    );
    assert!(t.contains("lake and cursors left as they were"), "{t}");
    assert_eq!(common::lake_files(&dir.path().join("lake")), before);
    // `kpi check` says the same before a sync would.
    let check = kpi(&cfg, &["check"]);
    assert!(!check.status.success());
    assert!(
        text(&check).contains("\"doce\" is not a number"),
        "{}",
        text(&check)
    );
}

#[test]
fn skipped_bad_rows_go_to_a_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "on_bad_rows = \"skip\"");
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1.234,50\n02/10/2026;Nubo;tools;;doce\n",
    );
    let o = kpi(&cfg, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("octubre.csv: 1 bad row(s) left out, listed in "),
        "{}",
        text(&o)
    );
    let rejects = std::fs::read_to_string(
        dir.path()
            .join("lake/_rejects/costs/marketing_costs/octubre.csv.csv"),
    )
    .unwrap();
    assert!(
        rejects.starts_with("file,at,column,value,reason\noctubre.csv,line 3,Importe,doce,"),
        "{rejects}"
    );
    assert_eq!(october_cost(&cfg, "total"), Some(1234.5));
    // Fixed, the file loads whole and its rejects list goes.
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1.234,50\n02/10/2026;Nubo;tools;;12\n",
    );
    let o = kpi(&cfg, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(october_cost(&cfg, "total"), Some(1246.5));
    assert!(
        !dir.path()
            .join("lake/_rejects/costs/marketing_costs/octubre.csv.csv")
            .exists()
    );
}

#[test]
fn a_removed_file_keeps_its_rows_until_a_full_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write(
        dir.path(),
        "agencia.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1000\n",
    );
    write(dir.path(), "nubo.csv", "01/10/2026;Nubo;tools;;100\n");
    assert!(kpi(&cfg, &["sync"]).status.success());
    std::fs::remove_file(dir.path().join("costs/agencia.csv")).unwrap();
    // Nothing new: the removed file's rows stay.
    assert!(kpi(&cfg, &["sync"]).status.success());
    assert_eq!(october_cost(&cfg, "total"), Some(1100.0));
    // A change on the day it shared would lose them: refused.
    write(dir.path(), "nubo.csv", "01/10/2026;Nubo;tools;;120\n");
    let o = kpi(&cfg, &["sync"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("agencia.csv was loaded before and is no longer in"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("--full-refresh"), "{}", text(&o));
    assert_eq!(october_cost(&cfg, "total"), Some(1100.0));
    // A full refresh makes the lake match the folder.
    let o = kpi(&cfg, &["sync", "--full-refresh"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(october_cost(&cfg, "total"), Some(120.0));
}

#[test]
fn a_mistyped_setting_is_named_by_kpi_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "delimeter = \";\"");
    let o = kpi(&cfg, &["check"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown field `delimeter`"),
        "{}",
        text(&o)
    );
    let cfg = setup(dir.path(), "preset = \"ahrefs\"");
    let o = kpi(&cfg, &["check"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("sources.costs: preset: marketing_costs has no presets"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_kept_out_copy_stays_out_and_a_renamed_file_is_not_loaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;1000\n",
    );
    assert!(kpi(&cfg, &["sync"]).status.success());
    std::fs::copy(
        dir.path().join("costs/octubre.csv"),
        dir.path().join("costs/octubre (1).csv"),
    )
    .unwrap();
    assert!(kpi(&cfg, &["sync"]).status.success());
    // The original corrected: the stale copy is not loaded beside it.
    write(
        dir.path(),
        "octubre.csv",
        "01/10/2026;Agencia Sur;agency;paid_social;900\n",
    );
    let o = kpi(&cfg, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(october_cost(&cfg, "total"), Some(900.0));
    // A rename is the same file: nothing is read, nothing refused.
    std::fs::rename(
        dir.path().join("costs/octubre.csv"),
        dir.path().join("costs/2026-10.csv"),
    )
    .unwrap();
    let o = kpi(&cfg, &["sync"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2026-10.csv is octubre.csv renamed"),
        "{}",
        text(&o)
    );
    assert_eq!(october_cost(&cfg, "total"), Some(900.0));
    // `--from --to` rebuilds those days from the files, as for a damaged day.
    let day = dir
        .path()
        .join("lake/raw/costs/marketing_costs/date=2026-10-01");
    for f in std::fs::read_dir(&day).unwrap() {
        std::fs::write(f.unwrap().path(), b"").unwrap();
    }
    assert!(
        !kpi(
            &cfg,
            &["kpis", "--from", "2026-10-01", "--to", "2026-10-31"]
        )
        .status
        .success()
    );
    let o = kpi(
        &cfg,
        &["sync", "--from", "2026-10-01", "--to", "2026-10-01"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(october_cost(&cfg, "total"), Some(900.0));
}
