//! The KPI history (lake/marts/kpi_values, the `kpi_history` table): every
//! computed period kept once, and `kpi backfill-kpis` filling past ones.

mod common;

use common::demo::{AS_OF, Demo};

fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

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
