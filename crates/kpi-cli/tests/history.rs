//! The KPI history (lake/marts/kpi_values, the `kpi_history` table): every
//! computed period kept once, and `kpi backfill-kpis` filling past ones.

mod common;

use common::csv::{num, rows};
use common::demo::{AS_OF, Demo, NIGHTLY_DUE};

fn history_files(demo: &Demo) -> Vec<String> {
    let root = demo.root.join("lake/marts/kpi_values");
    let mut out = Vec::new();
    for d in std::fs::read_dir(&root).unwrap() {
        let d = d.unwrap().path();
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            out.push(format!(
                "{}/{}",
                d.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn a_computed_period_is_kept_once_with_its_numbers() {
    let demo = Demo::new(&[]);
    let sql = |q: &str| demo.ok(&["--as-of", AS_OF, "sql", "--format", "csv", q]);
    let kpis = demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    let table = rows(&kpis);
    // Twice: the second run replaces the first, it adds nothing.
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    let files = history_files(&demo);
    assert!(
        files.contains(&"period_start=2026-10-01/through-2026-10-31.parquet".to_string()),
        "{files:?}"
    );
    assert_eq!(
        files
            .iter()
            .filter(|f| f.starts_with("period_start=2026-10-01/"))
            .count(),
        1
    );
    let kept = sql(
        "SELECT count(*) AS n, min(period_kind) AS kind, min(currency) AS currency \
         FROM kpi_history WHERE period_start = DATE '2026-10-01' AND period_end = DATE '2026-10-31'",
    );
    let kept = &rows(&kept)[0];
    assert_eq!(num(&kept[0]) as usize, table.len(), "one row per KPI row");
    assert_eq!(kept[1], "month");
    assert_eq!(kept[2], "EUR");

    // The same numbers as kpi kpis: value, previous and status per row.
    let history = sql(
        "SELECT grain, channel, kpi, value, previous, status, numerator, denominator \
         FROM kpi_history WHERE period_start = DATE '2026-10-01' AND period_end = DATE '2026-10-31' \
           AND grain IN ('total', 'channel') AND campaign_type IS NULL",
    );
    let history = rows(&history);
    let find = |grain: &str, channel: &str, kpi: &str| {
        history
            .iter()
            .find(|r| r[0] == grain && r[1] == channel && r[2] == kpi)
            .unwrap_or_else(|| panic!("no {grain}/{channel}/{kpi} in the history"))
            .clone()
    };
    let mut compared = 0;
    for r in table
        .iter()
        .filter(|r| r[0] == "total" || (r[0] == "channel"))
    {
        let h = find(&r[0], &r[1], &r[4]);
        assert_eq!(h[3], r[5], "value of {r:?}");
        assert_eq!(h[4], r[6], "previous of {r:?}");
        assert_eq!(h[5], r[12], "status of {r:?}");
        compared += 1;
    }
    assert!(compared > 100, "{compared}");
    // A ratio is its numerator over its denominator.
    let cpl = find("total", "", "cpl");
    let (value, n, d) = (num(&cpl[3]), num(&cpl[6]), num(&cpl[7]));
    assert!(d > 0.0);
    assert!((value - n / d).abs() < 1e-6 * value.abs(), "{cpl:?}");
    // And ad_spend is October's spend in the lake.
    let spend = sql("SELECT sum(spend) FROM ad_performance \
         WHERE date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'");
    let spend = num(&rows(&spend)[0][0]);
    assert!((num(&find("total", "", "ad_spend")[3]) - spend).abs() < 1e-6);
}

#[test]
fn backfill_fills_every_past_period_of_its_grain() {
    let demo = Demo::new(&[]);
    let out = demo.ok(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2026-07-15",
        "--to",
        "2026-11-30",
        "--grain",
        "month",
    ]);
    // July to October; November is not over on the 24th.
    for m in ["2026-07-01 to 2026-07-31", "2026-10-01 to 2026-10-31"] {
        assert!(out.contains(m), "{out}");
    }
    assert!(out.contains("left out 2026-11-01 to 2026-11-30"), "{out}");
    assert!(out.contains("4 periods"), "{out}");
    let sql = |q: &str| demo.ok(&["--as-of", AS_OF, "sql", "--format", "csv", q]);
    let history = rows(&sql("SELECT period_start, value FROM kpi_history \
         WHERE grain = 'total' AND kpi = 'ad_spend' AND period_kind = 'month' ORDER BY 1"));
    let lake = rows(&sql(
        "SELECT date_trunc('month', date) AS m, sum(spend) FROM ad_performance \
         WHERE date BETWEEN DATE '2026-07-01' AND DATE '2026-10-31' GROUP BY 1 ORDER BY 1",
    ));
    assert_eq!(history.len(), 4, "{history:?}");
    for (h, l) in history.iter().zip(&lake) {
        assert!(l[0].starts_with(&h[0]), "{h:?} {l:?}");
        assert!((num(&h[1]) - num(&l[1])).abs() < 1e-6, "{h:?} {l:?}");
    }

    // Weeks, Monday to Sunday, beside the months.
    let out = demo.ok(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-15",
        "--grain",
        "week",
    ]);
    assert!(out.contains("2 periods"), "{out}");
    let weeks = rows(&sql(
        "SELECT period_start, period_end, count(*) FROM kpi_history \
         WHERE period_kind = 'week' GROUP BY 1, 2 ORDER BY 1",
    ));
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0][0], "2026-11-02");
    assert_eq!(weeks[0][1], "2026-11-08");

    // Run again: replaced, not added.
    let before = history_files(&demo).len();
    demo.ok(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-15",
        "--grain",
        "week",
    ]);
    assert_eq!(history_files(&demo).len(), before);

    let err = demo.run(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2026-11-24",
        "--to",
        "2026-11-30",
    ]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("is over yet"));
}

/// `kpi sql --format csv` on `demo` as of the demo's last day.
fn sql(demo: &Demo, q: &str) -> Vec<Vec<String>> {
    rows(&demo.ok(&["--as-of", AS_OF, "sql", "--format", "csv", q]))
}

#[test]
fn last_year_holds_last_year_even_after_a_report_compared_with_last_week() {
    let demo = Demo::new(&["nightly"]);
    // The nightly digest compares 23 November with the 16th (same weekday).
    demo.ok(&["run", "nightly", "--now", NIGHTLY_DUE]);
    let day = "period_start = DATE '2026-11-23' AND period_end = DATE '2026-11-23'";
    let kept = sql(
        &demo,
        &format!(
            "SELECT count(*), count(last_year), count(change_vs_last_year), count(previous), \
             min(period_kind) FROM kpi_history WHERE {day}"
        ),
    );
    let kept = &kept[0];
    assert!(num(&kept[0]) > 100.0, "{kept:?}");
    assert_eq!(
        kept[1], "0",
        "no week-ago number stored as last year: {kept:?}"
    );
    assert_eq!(kept[2], "0", "{kept:?}");
    assert!(
        num(&kept[3]) > 0.0,
        "previous (the day before) is kept: {kept:?}"
    );
    assert_eq!(kept[4], "day");

    // The same day computed with last year's comparison stores last year:
    // 52 weeks back, 24 November 2025.
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "yesterday",
        "--format",
        "csv",
    ]);
    let spend = sql(
        &demo,
        &format!(
            "SELECT last_year FROM kpi_history WHERE {day} AND grain = 'total' AND kpi = 'ad_spend'"
        ),
    );
    let lake = sql(
        &demo,
        "SELECT sum(spend) FROM ad_performance WHERE date = DATE '2025-11-24'",
    );
    assert!(
        (num(&spend[0][0]) - num(&lake[0][0])).abs() < 1e-6,
        "{spend:?} {lake:?}"
    );
}

#[test]
fn only_periods_that_are_over_are_kept_and_a_part_of_a_month_is_named_so() {
    let demo = Demo::new(&[]);
    // November through the 30th, asked for on the 24th: six days to come.
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--format",
        "csv",
    ]);
    assert!(
        !demo
            .root
            .join("lake/marts/kpi_values/period_start=2026-11-01")
            .exists(),
        "{:?}",
        history_files(&demo)
    );
    // November to date (through the 23rd) is over, and is not a month.
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "month_to_date",
        "--format",
        "csv",
    ]);
    let november: Vec<String> = history_files(&demo)
        .into_iter()
        .filter(|f| f.starts_with("period_start=2026-11-01/"))
        .collect();
    assert_eq!(
        november,
        ["period_start=2026-11-01/through-2026-11-23.parquet"]
    );
    let kinds = sql(
        &demo,
        "SELECT DISTINCT period_kind FROM kpi_history WHERE period_start = DATE '2026-11-01'",
    );
    assert_eq!(kinds, [["month_to_date"]]);
    // A whole past month is a month.
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    let kinds = sql(
        &demo,
        "SELECT period_start, period_end, min(period_kind) FROM kpi_history \
         WHERE period_start >= DATE '2026-10-01' GROUP BY 1, 2 ORDER BY 1, 2",
    );
    assert_eq!(
        kinds,
        [
            ["2026-10-01", "2026-10-31", "month"],
            ["2026-11-01", "2026-11-23", "month_to_date"]
        ]
    );
}

#[test]
fn backfill_skips_periods_before_the_lake_has_data() {
    let demo = Demo::new(&[]);
    let first = sql(
        &demo,
        "SELECT min(d) FROM (SELECT min(date) AS d FROM ad_performance UNION ALL \
         SELECT min(date) FROM web_traffic UNION ALL SELECT min(date) FROM marketing_costs)",
    )[0][0]
        .clone();
    let out = demo.ok(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2024-07-01",
        "--to",
        "2026-10-31",
        "--grain",
        "month",
    ]);
    assert!(
        out.contains(&format!("the lake's first day with data is {first}")),
        "{first}: {out}"
    );
    assert!(out.contains("skipped "), "{out}");
    let kept = sql(
        &demo,
        "SELECT min(period_start), count(DISTINCT period_start), \
         sum(CASE WHEN kpi = 'ad_spend' AND grain = 'total' AND value = 0 THEN 1 ELSE 0 END) \
         FROM kpi_history",
    );
    assert!(kept[0][0].as_str() >= first.as_str(), "{kept:?} {first}");
    assert!(num(&kept[0][1]) >= 12.0, "{kept:?}");
    assert_eq!(kept[0][2], "0", "no month of zero spend: {kept:?}");

    // Only periods before it: refused, naming the day to start from.
    let out = demo.run(&[
        "--as-of",
        AS_OF,
        "backfill-kpis",
        "--from",
        "2020-01-01",
        "--to",
        "2020-12-31",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("before {first}, the lake's first day with data")),
        "{err}"
    );
}

#[test]
fn a_value_is_what_its_numerator_and_denominator_say() {
    let demo = Demo::new(&[]);
    demo.ok(&[
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    // What `\d kpi_history` says of them...
    let mut child = demo
        .cmd(&["sql"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\\d kpi_history\n")
        .unwrap();
    let described = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let line = |name: &str| {
        described
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("{described}"))
            .to_string()
    };
    assert!(line("value").contains("times 1000 for cpm"), "{described}");
    assert!(
        line("denominator").contains("impressions for cpm"),
        "{described}"
    );
    // ... is what the rows hold.
    // Every ratio but cpm is numerator / denominator; cpm is per mille.
    let off = sql(
        &demo,
        "SELECT kpi, count(*) FROM kpi_history WHERE denominator > 0 AND value IS NOT NULL \
           AND abs(value - numerator / denominator * CASE WHEN kpi = 'cpm' THEN 1000 ELSE 1 END) \
               > 1e-9 * greatest(abs(value), 1) GROUP BY kpi",
    );
    assert!(off.is_empty(), "{off:?}");
    let cpm = sql(
        &demo,
        "SELECT count(*) FROM kpi_history WHERE kpi = 'cpm' AND denominator > 0",
    );
    assert!(num(&cpm[0][0]) > 0.0);
    // Without a denominator the value is the numerator.
    let sums = sql(
        &demo,
        "SELECT count(*) FROM kpi_history WHERE denominator IS NULL AND value IS NOT NULL \
           AND abs(value - numerator) > 1e-9 * greatest(abs(value), 1)",
    );
    assert_eq!(sums, [["0"]]);
}
