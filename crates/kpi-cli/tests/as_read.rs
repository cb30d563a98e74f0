//! The CLI and the leadership report as their readers use them, through the
//! binary: `kpi check` catching what runs reject, `kpi kpis` filters and
//! pipes, `kpi sql` messages and output, and the report's numbers, words and
//! layout (measured in headless Chromium when it is installed; `.ci/run`
//! installs it and sets `KPI_TEST_CHROMIUM`, and then it must run).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

mod common;

use common::demo::{AS_OF, KPI};
use common::run::{fails, fails_out, kpi, ok, shared_config as config, shared_demo as demo, text};

/// `kpi --config <demo> --as-of AS_OF <args>`.
fn on_demo(args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "--config".to_string(),
        config(),
        "--as-of".to_string(),
        AS_OF.to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------- kpi check

const BAD_CONFIG: &str = r#"[reporting]
currency = "EUR"

[sources.ads]
type = "googleads"

[sources.crm]
type = "hubspot"
auth = { type = "bearer", token = { env = "KPI_TEST_UNSET_HUBSPOT_TOKEN" } }

[sources.meta]
type = "meta_ads"
acount_ids = ["act_1"]

[targets]
cac_ = 100.0
cpl = 50.0

[reports.leadership]
headline = ["revenue", "cpl", "roas_"]
"#;

fn bad_config() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kpi.toml");
    std::fs::write(&path, BAD_CONFIG).unwrap();
    let p = path.to_string_lossy().to_string();
    (dir, p)
}

#[test]
fn check_lists_every_problem_with_its_line_and_fails() {
    let (_dir, cfg) = bad_config();
    let (out, err) = fails_out(&["--config", &cfg, "check"]);
    let at = |line: usize| format!("kpi.toml: line {line}: ");
    let has = |line: usize, what: &str| {
        out.lines()
            .any(|l| l.contains(&at(line)) && l.contains(what))
    };
    assert!(
        has(
            5,
            "sources.ads.type: unknown source type \"googleads\" (did you mean \"google_ads\"?)"
        ),
        "{out}"
    );
    assert!(
        has(
            9,
            "environment variable KPI_TEST_UNSET_HUBSPOT_TOKEN is not set"
        ),
        "{out}"
    );
    assert!(has(13, "unknown field `acount_ids`"), "{out}");
    assert!(
        has(16, "targets.cac_: unknown KPI 'cac_' (did you mean 'cac'?)"),
        "{out}"
    );
    assert!(
        has(20, "reports.leadership.headline: unknown KPI 'roas_'"),
        "{out}"
    );
    assert!(!out.contains("kpi.toml: OK"), "{out}");
    assert!(err.contains("5 problem(s)"), "{err}");
    assert!(
        !out.contains("probe") && !out.contains("crm (hubspot): FAILED"),
        "not probed: {out}"
    );
}

#[test]
fn every_command_refuses_what_check_refuses() {
    let (_dir, cfg) = bad_config();
    for args in [
        vec!["sync"],
        vec!["kpis", "--period", "previous_month"],
        vec!["sql", "SELECT 1"],
        vec!["materialize"],
    ] {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend(args.iter().copied());
        let (out, err) = fails_out(&all);
        assert!(!out.contains("synced"), "{args:?}: {out}");
        assert!(
            err.contains("line 5: sources.ads.type: unknown source type \"googleads\"")
                && err.contains("line 16: targets.cac_")
                && err.contains("`kpi check` lists them all"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn check_passes_a_good_config_without_sources() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kpi.toml");
    std::fs::write(
        &path,
        "[reporting]\ncurrency = \"EUR\"\n[targets]\ncpl = 40.0\n",
    )
    .unwrap();
    let out = ok(&["--config", path.to_str().unwrap(), "check"]);
    assert!(out.contains("kpi.toml: OK"), "{out}");
}

// ----------------------------------------------------------------- kpi kpis

/// The data rows of CSV output (the KPI table has no quoted commas).
fn csv_rows(out: &str) -> Vec<Vec<&str>> {
    out.lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect()
}

#[test]
fn kpis_filters_by_grain_kpi_and_channel() {
    // The rows kept are the unfiltered table's, value for value.
    let all = ok(&refs(&on_demo(&[
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ])));
    let all = csv_rows(&all);
    let out = ok(&refs(&on_demo(&[
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
        "--grain",
        "total,channel",
        "--kpi",
        "cpl,leads",
    ])));
    let rows = csv_rows(&out);
    assert!(rows.len() > 4, "{out}");
    assert!(
        rows.iter().all(|r| matches!(r[0], "total" | "channel")),
        "{out}"
    );
    assert!(
        rows.iter().all(|r| matches!(r[4], "cpl" | "leads")),
        "{out}"
    );
    assert_eq!(rows.iter().filter(|r| r[0] == "total").count(), 2, "{out}");
    for r in &rows {
        assert!(all.contains(r), "{r:?} is a row of the unfiltered table");
    }
    let kept = |keep: &dyn Fn(&Vec<&str>) -> bool| all.iter().filter(|r| keep(r)).count();
    assert_eq!(
        rows.len(),
        kept(&|r| matches!(r[0], "total" | "channel") && matches!(r[4], "cpl" | "leads")),
        "every matching row is kept"
    );

    let out = ok(&refs(&on_demo(&[
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
        "--channel",
        "paid_search",
        "--kpi",
        "ad_spend",
    ])));
    let rows = csv_rows(&out);
    assert!(rows.iter().any(|r| r[0] == "channel"), "{out}");
    assert!(rows.iter().any(|r| r[0] == "campaign"), "{out}");
    assert!(
        rows.iter()
            .all(|r| r[1] == "paid_search" && r[4] == "ad_spend"),
        "{out}"
    );
    assert_eq!(
        rows.len(),
        kept(&|r| r[1] == "paid_search" && r[4] == "ad_spend"),
        "{out}"
    );

    let err = fails(&refs(&on_demo(&["kpis", "--kpi", "cpx"])));
    assert!(
        err.contains("unknown KPI 'cpx' (did you mean 'cpc'?)")
            || err.contains("did you mean 'cpl'?"),
        "{err}"
    );
    let err = fails(&refs(&on_demo(&["kpis", "--channel", "paid_serach"])));
    assert!(
        err.contains("no channel 'paid_serach'") && err.contains("did you mean 'paid_search'?"),
        "{err}"
    );
}

#[test]
fn the_kpis_table_fits_the_terminal() {
    let out = Command::new(KPI)
        .args(refs(&on_demo(&[
            "kpis",
            "--period",
            "previous_month",
            "--grain",
            "channel",
        ])))
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for line in table.lines().skip(1) {
        assert!(
            line.chars().count() <= 100,
            "{} chars: {line}",
            line.chars().count()
        );
    }
    // Channels are shown; campaign is empty at this grain and left out.
    assert!(
        table.contains("paid_search") && !table.contains("| campaign "),
        "{table}"
    );
    assert!(
        text(&out.stderr).contains("left out to fit the terminal"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    for format in ["csv", "table", "json"] {
        let mut child = Command::new(KPI)
            .args(refs(&on_demo(&[
                "kpis",
                "--period",
                "previous_month",
                "--format",
                format,
            ])))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            // `| head -1`: read one line, then close the pipe.
            let mut reader = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(!line.is_empty());
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{format}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{format}");
    }
}

// ------------------------------------------------------------------ kpi sql

#[test]
fn sql_errors_say_where_and_what_to_try() {
    let err = fails(&refs(&on_demo(&[
        "sql",
        "SELECT channel,\n       sum(spend) FORM ad_performance",
    ])));
    assert!(
        err.contains("syntax error at line 2, column ") && err.contains("found: ad_performance"),
        "{err}"
    );
    assert!(!err.contains("ParserError("), "{err}");
    assert!(
        err.contains("       sum(spend) FORM ad_performance\n"),
        "{err}"
    );

    let err = fails(&refs(&on_demo(&[
        "sql",
        "SELECT count(*) FROM ad_performanc",
    ])));
    assert!(err.contains("did you mean ad_performance?"), "{err}");

    let err = fails(&refs(&on_demo(&["sql", "SELECT * FROM kpi_report"])));
    assert!(err.contains("add --period"), "{err}");
    // With the period it works.
    ok(&refs(&on_demo(&[
        "sql",
        "--period",
        "previous_month",
        "SELECT count(*) FROM kpi_report",
    ])));
}

#[test]
fn sql_prints_round_numbers_and_the_names_written() {
    let out = ok(&refs(&on_demo(&[
        "sql",
        "--format",
        "csv",
        "SELECT 0.1 + 0.2 AS Total, 400.0731 - 0.0000000000000001 AS \"Spend (EUR)\", sum(x) FROM (VALUES (1.5), (2.25)) AS t(x)",
    ])));
    assert_eq!(out, "Total,Spend (EUR),sum(x)\n0.3,400.0731,3.75\n");
    let out = ok(&refs(&on_demo(&[
        "sql",
        "--format",
        "json",
        "SELECT channel AS Channel, round(sum(spend), 2) AS Spend FROM ad_performance GROUP BY channel ORDER BY 1 LIMIT 1",
    ])));
    assert!(out.starts_with("[{\"Channel\":"), "{out}");
}

// --------------------------------------------------------------- the report

/// The demo's leadership report for October 2026 in `locale`: (HTML as
/// saved by --out, text part).
fn report(locale: &str) -> (String, String, PathBuf) {
    static DONE: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _one = DONE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let base = demo().join("demo");
    let cfg = base.join(format!("kpi-{locale}.toml"));
    let toml = std::fs::read_to_string(base.join("kpi.toml"))
        .unwrap()
        .replace("locale = \"en\"", &format!("locale = \"{locale}\""));
    std::fs::write(&cfg, toml).unwrap();
    let html = base.join(format!("report-{locale}.html"));
    ok(&[
        "--config",
        cfg.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--period",
        "previous_month",
        "--out",
        html.to_str().unwrap(),
    ]);
    (
        std::fs::read_to_string(&html).unwrap(),
        std::fs::read_to_string(html.with_extension("txt")).unwrap(),
        html,
    )
}

#[test]
fn rates_change_in_points_and_free_channels_show_no_cost() {
    let (html, text, _) = report("en");
    // MQL to SQL is a rate: its change is in percentage points.
    let at = html
        .find("MQL to SQL rate</div>")
        .expect("the mql_to_sql card");
    let rest = &html[at..];
    let line = &rest[rest.find("vs previous:").expect("its change")..];
    let line = &line[..line.find("</div>").unwrap()];
    assert!(line.contains("&nbsp;pp</span>"), "{line}");
    let line = text
        .lines()
        .find(|l| l.starts_with("- MQL to SQL rate:"))
        .expect("headline line");
    assert!(line.contains("pp, "), "{line}");
    // Revenue is an amount: relative change.
    let line = text.lines().find(|l| l.starts_with("- Revenue:")).unwrap();
    assert!(!line.contains("pp"), "{line}");
    // Direct traffic has leads and no cost.
    let direct = text
        .lines()
        .find(|l| l.starts_with("- Direct:"))
        .expect("the direct channel's line");
    assert!(
        direct.contains("Cost per lead no cost")
            && direct.contains("Customer acquisition cost no cost"),
        "{direct}"
    );
    assert!(html.contains(">no cost<"), "in the channels table");
}

#[test]
fn campaigns_are_ranked_by_volume_under_their_platform_names() {
    let (html, text, _) = report("en");
    let note = text
        .lines()
        .find(|l| l.starts_with("Ranked: the "))
        .expect("the ranking rule is stated");
    assert!(note.contains("at least 10 leads"), "{note}");
    assert!(html.contains(note), "the same note in the HTML");
    // Campaign lines show the platform's name, not the normalised key.
    let section = text.split("CAMPAIGNS: BEST AND WORST ROI").nth(1).unwrap();
    let campaigns: Vec<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("CAMPAIGNS: LOWEST"))
        .filter(|l| l.starts_with("- "))
        .collect();
    assert!(!campaigns.is_empty(), "{section}");
    // The names the platforms (and the cost file) give their campaigns.
    let names = ok(&refs(&on_demo(&[
        "sql",
        "--format",
        "csv",
        "SELECT campaign_name FROM ad_performance WHERE date >= DATE '2026-10-01' \
         UNION SELECT campaign_name FROM marketing_costs WHERE date >= DATE '2026-10-01'",
    ])));
    let names: std::collections::BTreeSet<&str> = names.lines().skip(1).collect();
    let mut renamed = 0;
    for c in &campaigns {
        let name = c[2..].split(" (").next().unwrap();
        assert!(names.contains(name), "a platform's name: {c}");
        renamed += usize::from(name.contains(' '));
        let leads: f64 = c
            .split("Leads ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.replace(',', "").trim().parse().ok())
            .unwrap_or_else(|| panic!("leads in {c}"));
        assert!(leads >= 10.0, "{c}");
    }
    assert!(
        renamed > 0,
        "names such as 'Brand Search ES', not keys: {campaigns:?}"
    );
    // Best and worst never list the same campaign.
    let names: std::collections::BTreeSet<&str> = campaigns
        .iter()
        .map(|c| c.split(" (").next().unwrap())
        .collect();
    assert_eq!(names.len(), campaigns.len(), "{campaigns:?}");
}

#[test]
fn the_text_part_carries_what_the_html_does() {
    let (_, text, _) = report("en");
    for section in [
        "HEADLINE",
        "FUNNEL",
        "CHANNELS",
        "CAMPAIGNS: BEST AND WORST ROI",
        "CAMPAIGNS: LOWEST AND HIGHEST COST PER LEAD",
        "ALERTS",
        "Data freshness",
        "Reproduce any number",
    ] {
        assert!(text.contains(section), "{section}:\n{text}");
    }
    assert!(text.contains("- Paid search: "), "{text}");
    assert!(
        text.contains("Cost per lead, inbound vs outbound: inbound "),
        "{text}"
    );
    assert!(!text.contains("target n/a"), "{text}");
    assert!(!text.contains("benchmark n/a"), "{text}");
}

#[test]
fn spanish_keeps_amounts_whole_and_speaks_spanish() {
    let (html, text, _) = report("es");
    assert!(
        html.contains("<h1>KPIs de marketing</h1>") || html.contains(">KPIs de marketing</h1>"),
        "title"
    );
    assert!(
        !html.contains(" €"),
        "every amount's symbol is glued with a no-break space"
    );
    assert!(html.contains("&nbsp;€") && text.contains("\u{a0}€"));
    assert!(
        !html.contains(" %") && !text.contains(" %"),
        "percent signs too"
    );
    assert!(
        html.contains("Mailchimp, referencias de email marketing por sector")
            || html.contains("según la prensa del sector"),
        "benchmark sources in Spanish"
    );
    assert!(!html.contains("as reported by trade press"));
    assert!(text.contains("p.\u{a0}p."), "points in Spanish");
}

#[test]
fn a_period_with_no_data_is_noted_and_one_not_started_refused() {
    let dir = demo().join("demo");
    let cfg = dir.join("kpi.toml");
    let out = dir.join("mtd.html");
    // Data ends 2026-11-23: December to date has none.
    ok(&[
        "--config",
        cfg.to_str().unwrap(),
        "--as-of",
        "2026-12-10",
        "report",
        "leadership",
        "--period",
        "month_to_date",
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("Stale data: these sources have not synced"),
        "the note"
    );
    assert!(
        html.contains("data through 2026-11-23"),
        "names how far the data goes"
    );
    let err = fails(&[
        "--config",
        cfg.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "report",
        "leadership",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-31",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("has not started yet on 2026-11-24"), "{err}");
}

// ------------------------------------------------------------ the layout

/// Chromium, when it is installed; `KPI_TEST_CHROMIUM` (set by `.ci/run`)
/// makes it required.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KPI_TEST_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "KPI_TEST_CHROMIUM={} does not exist",
            p.display()
        );
        return Some(p);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// What overflows `width` CSS pixels when Chromium lays out `html` in a
/// frame that wide (a window cannot be made narrower than 500 px): the
/// frame's viewport width, the page's scroll width and every element whose
/// right edge passes the viewport.
fn overflow(browser: &Path, html: &Path, width: u32) -> (u64, u64, Vec<String>) {
    let probe = html.with_extension(format!("{width}.probe.html"));
    let name = html.file_name().unwrap().to_string_lossy();
    let page = format!(
        r#"<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{name}" style="border:0;width:{width}px;height:6000px"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var d = this.contentDocument, w = this.contentWindow.innerWidth, bad = [];
  d.querySelectorAll('body *').forEach(function (e) {{
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) {{
      bad.push(e.tagName + '.' + e.className + ' right=' + Math.round(r.right) + ' ' + (e.textContent || '').trim().slice(0, 40));
    }}
  }});
  var out = document.createElement('pre');
  out.id = 'kpi-probe';
  out.textContent = 'width=' + w + '\nscroll=' + d.documentElement.scrollWidth + '\n' + bad.join('\n');
  document.body.appendChild(out);
}});
</script></body></html>"#
    );
    std::fs::write(&probe, page).unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--allow-file-access-from-files",
            "--window-size=1000,6000",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = text(&out.stdout);
    let probe = dom
        .split("<pre id=\"kpi-probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("no probe output: {}", text(&out.stderr)));
    let mut lines = probe.lines();
    let mut number = |key: &str| -> u64 {
        lines
            .next()
            .and_then(|l| l.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {probe}"))
    };
    let (viewport, scroll) = (number("width="), number("scroll="));
    (viewport, scroll, lines.map(str::to_string).collect())
}

/// The email at a desktop client's 600 px, an iPhone's 375 px and the
/// 360 px most Android phones have.
#[test]
fn the_email_fits_600_375_and_360_pixels() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no Chromium (install it, or run .ci/run, which does)");
        return;
    };
    for locale in ["en", "es"] {
        let (_, _, html) = report(locale);
        for width in [600, 375, 360] {
            let (viewport, scroll, bad) = overflow(&browser, &html, width);
            assert_eq!(viewport, width as u64, "the frame is {width} px wide");
            assert!(
                scroll <= width as u64 && bad.is_empty(),
                "{locale} at {width}px: scroll width {scroll}, overflowing:\n{}",
                bad.join("\n")
            );
        }
    }
}

// ------------------------------------------------------------ source names

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A source may be named with a word SQL keeps for itself: its staging SQL
/// still reads it.
#[test]
fn a_source_named_table_reads_like_any_other() {
    let count = "SELECT count(*) AS n, round(sum(amount), 2) AS amount FROM marketing_costs";
    let expected = ok(&refs(&on_demo(&["sql", "--format", "csv", count])));
    assert!(!expected.contains("\n0,"), "the demo has costs: {expected}");
    let dir = tempfile::tempdir().unwrap();
    let base = demo().join("demo");
    copy_dir(&base.join("lake"), &dir.path().join("lake"));
    std::fs::rename(
        dir.path().join("lake/raw/costs"),
        dir.path().join("lake/raw/table"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(base.join("kpi.toml"))
        .unwrap()
        // The section and its subtables ([sources.costs.columns]).
        .replace("[sources.costs", "[sources.table")
        .replace(
            "dir = \"queries\"",
            &format!("dir = {:?}", base.join("queries").display().to_string()),
        );
    let cfg = dir.path().join("kpi.toml");
    std::fs::write(&cfg, toml).unwrap();
    let got = ok(&[
        "--config",
        cfg.to_str().unwrap(),
        "sql",
        "--format",
        "csv",
        count,
    ]);
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------- FX

/// A user's rates that start in 2026: every amount booked before has no
/// rate. `kpi kpis` for October 2026 (compared with October 2025, LTV over
/// the year before) stops naming the currency and day, and prints no table;
/// `kpi sql` over 2026 works, over all deals stops naming crm_deals.
#[test]
fn a_missing_fx_rate_stops_the_run_naming_currency_and_day() {
    let dir = tempfile::tempdir().unwrap();
    let base = demo().join("demo");
    copy_dir(&base, &dir.path().join("demo"));
    let root = dir.path().join("demo");
    std::fs::write(
        root.join("queries/reference/fx_rates.csv"),
        "valid_from,currency,per_usd\n2026-01-01,USD,1.0\n2026-01-01,EUR,0.9\n",
    )
    .unwrap();
    let cfg = root.join("kpi.toml");
    let cfg = cfg.to_str().unwrap();
    let out = kpi(&[
        "--config",
        cfg,
        "--as-of",
        AS_OF,
        "kpis",
        "--period",
        "previous_month",
        "--format",
        "csv",
    ]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "", "no partial table");
    let err = text(&out.stderr);
    assert!(
        err.contains(": no FX rate for ")
            && err.contains(" to EUR on 202")
            && err.contains("add a rate valid from that day or earlier to reference/fx_rates.csv"),
        "{err}"
    );
    let sum = "SELECT round(sum(amount), 2) AS amount FROM crm_deals";
    let got = ok(&[
        "--config",
        cfg,
        "sql",
        "--format",
        "csv",
        &format!("{sum} WHERE close_date >= DATE '2026-01-01'"),
    ]);
    let amount: f64 = got.lines().nth(1).unwrap().parse().unwrap();
    assert!(amount > 0.0, "{got}");
    let err = fails(&["--config", cfg, "sql", sum]);
    // The demo's deals are in HubSpot and (its US unit's) Salesforce: the
    // first deal the query meets without a rate names its source.
    assert!(
        ["hubspot", "salesforce"]
            .iter()
            .any(|s| err.contains(&format!("crm_deals ({s}): no FX rate for ")))
            && err.contains(" to EUR on 20"),
        "{err}"
    );
}
