//! `kpi sandbox serve`, `kpi check` and `kpi sync` through the binary, as a
//! user tries the connectors: start the sandbox, export the credentials it
//! prints, paste the `[sources.*]` it prints into kpi.toml, sync. The lake
//! must then hold exactly the generator's rows (the expected totals are
//! computed here from `kpi_sandbox::generate`, not read back from the
//! lake), once, after re-runs, revisions, faults and a `kill -9`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::NaiveDate;
use kpi_sandbox::server::{Banner, read_banner};
use kpi_sandbox::{Company, RawSink, SinkError};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");
/// The sandbox's last day; `--as-of` the day after, so a sync reads up to it.
const END: &str = "2026-10-31";
const AS_OF: &str = "2026-11-01";
const MONTHS: u32 = 2;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A `kpi sandbox serve` process; killed on drop.
struct Sandbox {
    child: Child,
    url: String,
    env: Vec<(String, String)>,
    sources: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    fn start(extra: &[&str]) -> Sandbox {
        let mut child = Command::new(KPI)
            .args(["sandbox", "serve", "--port", "0", "--end-date", END])
            .args(["--months", &MONTHS.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read up to the ready line, however many lines come before it.
        let Banner { url, env, sources } = read_banner(BufReader::new(stdout).lines())
            .unwrap()
            .expect("kpi sandbox serve ended before it was ready");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(
            env.iter().any(|(k, _)| k == "GOOGLE_ADS_DEVELOPER_TOKEN"),
            "{env:?}"
        );
        Sandbox {
            child,
            url,
            env,
            sources,
        }
    }

    /// One request to the sandbox's control endpoints; the status and body.
    fn control(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let status = reply[9..12].parse().unwrap();
        let body = reply.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (status, body.to_string())
    }

    fn faults(&self, rules: &str) {
        let (status, body) = self.control("POST", "/_sandbox/faults", rules);
        assert_eq!(status, 200, "{body}");
    }

    /// A kpi.toml of the printed sources, each with the company's first day
    /// and quick retries (the user's `http` settings), in `dir`.
    fn config(&self, dir: &Path, http: &str) -> PathBuf {
        let start = company().start_date();
        let mut text = String::from(
            "[reporting]\ncurrency = \"EUR\"\ntimezone = \"Europe/Madrid\"\n\n[lake]\npath = \"lake\"\n",
        );
        for line in self.sources.lines() {
            // The test's own `http` settings replace the printed ones.
            if line.starts_with("http = ") {
                continue;
            }
            text.push_str(line);
            text.push('\n');
            if line.starts_with("type = ") {
                text.push_str(&format!("start_date = \"{start}\"\nhttp = {{ {http} }}\n"));
            }
        }
        let path = dir.join("kpi.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn kpi(&self, cfg: &Path, args: &[&str]) -> Output {
        kpi(cfg, &self.env, args)
    }

    fn ok(&self, cfg: &Path, args: &[&str]) -> String {
        ok(cfg, &self.env, args)
    }
}

/// `kpi --config cfg --as-of AS_OF args...` with `env` exported.
fn kpi(cfg: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(KPI)
        .arg("--config")
        .arg(cfg)
        .args(["--as-of", AS_OF])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap()
}

/// [`kpi`], which must succeed; its standard output.
fn ok(cfg: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = kpi(cfg, env, args);
    assert!(
        out.status.success(),
        "kpi {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const QUICK: &str =
    "backoff_base_secs = 0.01, backoff_max_secs = 0.05, max_retries = 3, requests_per_second = 0";

fn company() -> Company {
    Company {
        months: MONTHS,
        ..Company::new(day(END))
    }
}

/// What the generator made, summed as the test's SQL sums the lake.
#[derive(Debug, Default, Clone, PartialEq)]
struct Totals {
    /// Google Ads rows per day.
    google_rows: BTreeMap<NaiveDate, i64>,
    google_cost_micros: i64,
    /// Google Ads conversions per day, raw (the sandbox rounds revisions).
    google_conversions: BTreeMap<NaiveDate, Vec<f64>>,
    meta_rows: i64,
    meta_spend: f64,
    ga4_rows: i64,
    ga4_sessions: i64,
    contacts: i64,
    deals: i64,
    linkedin_rows: i64,
    linkedin_cost: f64,
    linkedin_campaigns: i64,
    mailchimp_reports: i64,
    mailchimp_sent: i64,
    mailchimp_campaigns: i64,
    search_rows: i64,
    search_clicks: i64,
    search_impressions: i64,
    microsoft_rows: i64,
    microsoft_spend: f64,
    microsoft_clicks: i64,
    microsoft_conversions: f64,
    /// Microsoft Advertising in October 2026: spend, clicks, conversions.
    microsoft_october: (f64, i64, f64),
}

impl RawSink for Totals {
    fn daily(
        &mut self,
        spec: &kpi_lake::StreamSpec,
        date: NaiveDate,
        b: RecordBatch,
    ) -> Result<(), SinkError> {
        let n = b.num_rows() as i64;
        let i64s = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let f64s = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        match (spec.source_type, spec.stream) {
            ("google_ads", "campaign_stats") => {
                *self.google_rows.entry(date).or_default() += n;
                self.google_cost_micros += i64s("metrics_cost_micros").values().iter().sum::<i64>();
                self.google_conversions
                    .entry(date)
                    .or_default()
                    .extend(f64s("metrics_conversions").values().iter());
            }
            ("meta_ads", "ads_insights") => {
                self.meta_rows += n;
                self.meta_spend += f64s("spend").values().iter().sum::<f64>();
            }
            ("ga4", "traffic") => {
                self.ga4_rows += n;
                self.ga4_sessions += i64s("sessions").values().iter().sum::<i64>();
            }
            ("linkedin_ads", "ad_analytics") => {
                self.linkedin_rows += n;
                self.linkedin_cost += f64s("cost_in_local_currency").values().iter().sum::<f64>();
            }
            ("search_console", "search_analytics") => {
                self.search_rows += n;
                self.search_clicks += i64s("clicks").values().iter().sum::<i64>();
                self.search_impressions += i64s("impressions").values().iter().sum::<i64>();
            }
            ("microsoft_ads", "campaign_performance") => {
                let spend = f64s("spend").values().iter().sum::<f64>();
                let clicks = i64s("clicks").values().iter().sum::<i64>();
                let conversions = f64s("conversions").values().iter().sum::<f64>();
                self.microsoft_rows += n;
                self.microsoft_spend += spend;
                self.microsoft_clicks += clicks;
                self.microsoft_conversions += conversions;
                if date >= day("2026-10-01") {
                    self.microsoft_october.0 += spend;
                    self.microsoft_october.1 += clicks;
                    self.microsoft_october.2 += conversions;
                }
            }
            ("mailchimp", "reports") => {
                self.mailchimp_reports += n;
                self.mailchimp_sent += i64s("emails_sent").values().iter().sum::<i64>();
            }
            _ => {}
        }
        Ok(())
    }

    fn snapshot(&mut self, spec: &kpi_lake::StreamSpec, b: RecordBatch) -> Result<(), SinkError> {
        match (spec.source_type, spec.stream) {
            ("hubspot", "contacts") => self.contacts += b.num_rows() as i64,
            ("hubspot", "deals") => self.deals += b.num_rows() as i64,
            ("linkedin_ads", "campaigns") => self.linkedin_campaigns += b.num_rows() as i64,
            ("mailchimp", "campaigns") => self.mailchimp_campaigns += b.num_rows() as i64,
            _ => {}
        }
        Ok(())
    }
}

fn expected() -> Totals {
    let mut t = Totals::default();
    kpi_sandbox::generate(&company(), &mut t).unwrap();
    assert!(t.google_cost_micros > 0 && t.meta_rows > 0 && t.contacts > 0);
    assert!(t.linkedin_rows > 0 && t.linkedin_campaigns > 0);
    assert!(t.mailchimp_reports > 0 && t.mailchimp_campaigns > 0);
    assert!(t.search_rows > 0 && t.search_clicks > 0);
    assert!(t.microsoft_rows > 0 && t.microsoft_october.0 > 0.0);
    t
}

/// Cents, as the lake's sums are compared.
fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// The totals the lake holds, through `kpi sql`, in one line of numbers.
fn lake_totals(cfg: &Path) -> Vec<i64> {
    let q = "SELECT (SELECT count(*) FROM google_ads.campaign_stats) AS g_rows, \
             (SELECT sum(metrics_cost_micros) FROM google_ads.campaign_stats) AS g_cost, \
             (SELECT CAST(round(sum(metrics_conversions) * 100) AS BIGINT) FROM google_ads.campaign_stats) AS g_conv, \
             (SELECT count(*) FROM meta_ads.ads_insights) AS m_rows, \
             (SELECT CAST(round(sum(spend) * 100) AS BIGINT) FROM meta_ads.ads_insights) AS m_spend, \
             (SELECT count(*) FROM ga4.traffic) AS ga_rows, \
             (SELECT sum(sessions) FROM ga4.traffic) AS ga_sessions, \
             (SELECT count(*) FROM hubspot.contacts) AS contacts, \
             (SELECT count(*) FROM hubspot.deals) AS deals, \
             (SELECT count(*) FROM linkedin_ads.ad_analytics) AS li_rows, \
             (SELECT CAST(round(sum(cost_in_local_currency) * 100) AS BIGINT) FROM linkedin_ads.ad_analytics) AS li_cost, \
             (SELECT count(*) FROM linkedin_ads.campaigns) AS li_campaigns, \
             (SELECT count(*) FROM mailchimp.reports) AS mc_reports, \
             (SELECT sum(emails_sent) FROM mailchimp.reports) AS mc_sent, \
             (SELECT count(*) FROM mailchimp.campaigns) AS mc_campaigns, \
             (SELECT count(*) FROM search_console.search_analytics) AS sc_rows, \
             (SELECT sum(clicks) FROM search_console.search_analytics) AS sc_clicks, \
             (SELECT sum(impressions) FROM search_console.search_analytics) AS sc_impressions, \
             (SELECT count(*) FROM microsoft_ads.campaign_performance) AS ms_rows, \
             (SELECT CAST(round(sum(spend) * 100) AS BIGINT) FROM microsoft_ads.campaign_performance) AS ms_spend, \
             (SELECT sum(clicks) FROM microsoft_ads.campaign_performance) AS ms_clicks, \
             (SELECT CAST(round(sum(conversions) * 100) AS BIGINT) FROM microsoft_ads.campaign_performance) AS ms_conv";
    let out = ok(cfg, &[], &["sql", q, "--format", "csv"]);
    let line = out.lines().nth(1).unwrap_or_else(|| panic!("{out}"));
    line.split(',').map(|v| v.parse().unwrap()).collect()
}

fn want(t: &Totals) -> Vec<i64> {
    let conv: f64 = t.google_conversions.values().flatten().sum();
    vec![
        t.google_rows.values().sum(),
        t.google_cost_micros,
        cents(conv),
        t.meta_rows,
        cents(t.meta_spend),
        t.ga4_rows,
        t.ga4_sessions,
        t.contacts,
        t.deals,
        t.linkedin_rows,
        cents(t.linkedin_cost),
        t.linkedin_campaigns,
        t.mailchimp_reports,
        t.mailchimp_sent,
        t.mailchimp_campaigns,
        t.search_rows,
        t.search_clicks,
        t.search_impressions,
        t.microsoft_rows,
        cents(t.microsoft_spend),
        t.microsoft_clicks,
        cents(t.microsoft_conversions),
    ]
}

/// The summary line of `stream` in `kpi sync`'s table, split on spaces.
fn summary_row<'a>(out: &'a str, stream: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.starts_with(&format!("{stream} ")))
        .unwrap_or_else(|| panic!("no {stream} in\n{out}"))
        .split_whitespace()
        .collect()
}

#[test]
fn full_sync_then_lookback_then_revision_then_backfill() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(dir.path(), QUICK);
    let t = expected();

    let check = sb.ok(&cfg, &["check"]);
    for source in [
        "google_ads",
        "meta_ads",
        "linkedin_ads",
        "microsoft_ads",
        "ga4",
        "search_console",
        "hubspot",
        "mailchimp",
    ] {
        assert!(
            check.contains(&format!("{source} ({source}): OK")),
            "{check}"
        );
    }

    let first = sb.ok(&cfg, &["sync"]);
    let row = summary_row(&first, "google_ads.campaign_stats");
    assert_eq!(
        row[1],
        format!("{}..{END}", company().start_date()),
        "{first}"
    );
    assert_eq!(lake_totals(&cfg), want(&t), "after the first sync");

    // Again: only the 30-day lookback (from the cursor's day back) is read,
    // and it replaces those days: same totals, no duplicates.
    let second = sb.ok(&cfg, &["sync"]);
    let row = summary_row(&second, "google_ads.campaign_stats");
    assert_eq!(row[1], format!("2026-10-01..{END}"), "{second}");
    let row = summary_row(&second, "ga4.traffic");
    assert_eq!(row[1], format!("2026-10-28..{END}"), "{second}");
    assert_eq!(lake_totals(&cfg), want(&t), "after the second sync");

    // Late conversions: the platform revises 2026-10-20 (x1.5, rounded to
    // cents per row) and 2026-09-05, which is outside the lookback.
    for (date, factor) in [("2026-10-20", 1.5), ("2026-09-05", 2.0)] {
        let (status, body) = sb.control(
            "POST",
            "/_sandbox/revise",
            &format!(
                r#"{{"stream": "google_ads/campaign_stats", "date": "{date}", "factor": {factor}}}"#
            ),
        );
        assert_eq!(status, 200, "{body}");
    }
    let revised = |date: &str, factor: f64| -> i64 {
        t.google_conversions[&day(date)]
            .iter()
            .map(|c| cents((c * factor * 100.0).round() / 100.0))
            .sum()
    };
    let day_conv = |date: &str| -> i64 {
        let q = format!(
            "SELECT CAST(round(sum(metrics_conversions) * 100) AS BIGINT) FROM google_ads.campaign_stats WHERE date = DATE '{date}'"
        );
        let out = sb.ok(&cfg, &["sql", &q, "--format", "csv"]);
        out.lines().nth(1).unwrap().parse().unwrap()
    };
    let orig = |date: &str| -> i64 {
        t.google_conversions[&day(date)]
            .iter()
            .map(|c| cents(*c))
            .sum()
    };
    sb.ok(&cfg, &["sync"]);
    assert_eq!(day_conv("2026-10-20"), revised("2026-10-20", 1.5));
    assert_ne!(revised("2026-10-20", 1.5), orig("2026-10-20"));
    // Outside the lookback: still the old number until a backfill asks for it.
    assert_eq!(day_conv("2026-09-05"), orig("2026-09-05"));
    let backfill = sb.ok(
        &cfg,
        &[
            "sync",
            "--source",
            "google_ads",
            "--from",
            "2026-09-05",
            "--to",
            "2026-09-05",
        ],
    );
    assert_eq!(
        summary_row(&backfill, "google_ads.campaign_stats")[1],
        "2026-09-05..2026-09-05"
    );
    assert_eq!(day_conv("2026-09-05"), revised("2026-09-05", 2.0));
    // Every other number is as generated, each day once.
    let mut totals = lake_totals(&cfg);
    let mut w = want(&t);
    w[2] += revised("2026-10-20", 1.5) - orig("2026-10-20") + revised("2026-09-05", 2.0)
        - orig("2026-09-05");
    // Conversions are compared as cents of the sum; the per-row rounding
    // above may differ from it by a cent.
    assert!((totals[2] - w[2]).abs() <= 1, "{totals:?} vs {w:?}");
    totals[2] = w[2];
    assert_eq!(totals, w);
}

#[test]
fn each_fault_recovers_with_the_right_data_or_changes_nothing() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // A 1 s timeout, so that the slow-response case fails quickly.
    let cfg = sb.config(dir.path(), &format!("{QUICK}, timeout_secs = 1"));
    let t = expected();
    sb.ok(&cfg, &["sync"]);
    assert_eq!(lake_totals(&cfg), want(&t));
    let lake = dir.path().join("lake");

    // (source, fault rules, recovers?, words the error must have)
    let cases: [(&str, &str, bool, &[&str]); 18] = [
        (
            "google_ads",
            r#"[{"path_contains": ":searchStream", "kind": {"type": "too_many_requests", "retry_after_secs": 1}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "meta_ads",
            r#"[{"path_contains": "/insights", "kind": {"type": "server_error"}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "ga4",
            r#"[{"path_contains": ":runReport", "kind": {"type": "expired_token"}, "times": 1}]"#,
            true,
            &[],
        ),
        (
            "hubspot",
            r#"[{"path_contains": "/crm/v3/objects/deals", "kind": {"type": "delay", "ms": 3000}}]"#,
            false,
            &["hubspot.deals", "timed out"],
        ),
        (
            "ga4",
            r#"[{"path_contains": ":runReport", "kind": {"type": "server_error"}}]"#,
            false,
            &["ga4.traffic", "500"],
        ),
        (
            "google_ads",
            r#"[{"path_contains": ":searchStream", "kind": {"type": "malformed"}}]"#,
            false,
            &["google_ads.campaign"],
        ),
        (
            "meta_ads",
            r#"[{"path_contains": "/insights", "kind": {"type": "truncated"}}]"#,
            false,
            &["meta_ads.ads_insights"],
        ),
        (
            "hubspot",
            r#"[{"path_contains": "/crm/v3/objects/contacts", "kind": {"type": "expired_token"}, "after": 1}]"#,
            false,
            &["hubspot.contacts", "401"],
        ),
        (
            "meta_ads",
            r#"[{"path_contains": "/insights", "kind": {"type": "expired_token"}}]"#,
            false,
            &["meta_ads.ads_insights", "190"],
        ),
        (
            "linkedin_ads",
            r#"[{"path_contains": "/rest/adAnalytics", "kind": {"type": "too_many_requests", "retry_after_secs": 1}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "linkedin_ads",
            r#"[{"path_contains": "/rest/adAnalytics", "kind": {"type": "truncated"}, "after": 1}]"#,
            false,
            &["linkedin_ads.ad_analytics"],
        ),
        (
            "mailchimp",
            r#"[{"path_contains": "/3.0/reports", "kind": {"type": "server_error"}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "mailchimp",
            r#"[{"path_contains": "/3.0/campaigns", "kind": {"type": "expired_token"}}]"#,
            false,
            &["mailchimp.campaigns", "401"],
        ),
        (
            "search_console",
            r#"[{"path_contains": "/searchAnalytics/query", "kind": {"type": "too_many_requests", "retry_after_secs": 1}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "search_console",
            r#"[{"path_contains": "/searchAnalytics/query", "kind": {"type": "malformed"}}]"#,
            false,
            &["search_console.search_analytics"],
        ),
        (
            "microsoft_ads",
            r#"[{"path_contains": "/GenerateReport/Submit", "kind": {"type": "too_many_requests", "retry_after_secs": 1}, "times": 2}]"#,
            true,
            &[],
        ),
        (
            "microsoft_ads",
            r#"[{"path_contains": "/ReportDownload/", "kind": {"type": "truncated"}, "after": 1}]"#,
            false,
            &["microsoft_ads.campaign_performance", "account 150000001"],
        ),
        (
            "microsoft_ads",
            r#"[{"path_contains": "/GenerateReport/Poll", "kind": {"type": "expired_token"}}]"#,
            false,
            &[
                "microsoft_ads.campaign_performance",
                "401",
                "code 109",
                "TrackingId",
            ],
        ),
    ];
    for (source, rules, recovers, words) in cases {
        let before = common::lake_files(&lake);
        sb.faults(rules);
        let out = sb.kpi(&cfg, &["sync", "--source", source]);
        sb.faults("[]");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (_, secret) in &sb.env {
            assert!(
                !text.contains(secret.as_str()),
                "{rules}: a secret leaked: {text}"
            );
        }
        if recovers {
            assert!(out.status.success(), "{rules} should recover:\n{text}");
            assert_eq!(lake_totals(&cfg), want(&t), "{rules}");
        } else {
            assert!(!out.status.success(), "{rules} should fail:\n{text}");
            for w in words {
                assert!(text.contains(w), "{rules}: no '{w}' in:\n{text}");
            }
            assert!(
                text.contains("lake and cursors left as they were"),
                "{text}"
            );
            let after = common::lake_files(&lake);
            assert_eq!(
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>(),
                "{rules}: files changed"
            );
            assert!(before == after, "{rules}: contents changed");
        }
    }
    assert_eq!(lake_totals(&cfg), want(&t));
}

#[test]
fn a_sync_killed_mid_way_is_completed_by_the_next_with_each_day_once() {
    // Slow enough that the kill lands while pages are being read.
    let sb = Sandbox::start(&["--latency-ms", "150", "--max-concurrency", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(dir.path(), QUICK);
    let t = expected();
    let lake = dir.path().join("lake");

    let mut sync = Command::new(KPI)
        .arg("--config")
        .arg(&cfg)
        .args(["--as-of", AS_OF, "sync"])
        .envs(sb.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until pieces have been staged, then kill -9.
    let t0 = Instant::now();
    let staged = || {
        std::fs::read_dir(lake.join("_tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    while staged() < 5 && t0.elapsed() < Duration::from_secs(60) {
        assert!(
            sync.try_wait().unwrap().is_none(),
            "the sync ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sync.kill().unwrap();
    let status = sync.wait().unwrap();
    assert!(!status.success());
    assert!(staged() >= 5, "nothing was staged before the kill");
    // Nothing was committed: no day in the lake, no cursor.
    assert!(!lake.join("raw/google_ads").exists());
    assert!(!lake.join("_state/google_ads.json").exists());

    let out = sb.ok(&cfg, &["sync"]);
    assert!(out.contains("synced into"), "{out}");
    assert_eq!(
        staged(),
        0,
        "the killed sync's staged files were left behind"
    );
    assert_eq!(lake_totals(&cfg), want(&t));
    // Each day once: rows per day as generated.
    let per_day = sb.ok(
        &cfg,
        &[
            "sql",
            "SELECT CAST(date AS VARCHAR) AS d, count(*) AS n FROM google_ads.campaign_stats GROUP BY 1 ORDER BY 1",
            "--format",
            "csv",
        ],
    );
    let got: BTreeMap<NaiveDate, i64> = per_day
        .lines()
        .skip(1)
        .map(|l| {
            let (d, n) = l.split_once(',').unwrap();
            (day(d), n.parse().unwrap())
        })
        .collect();
    assert_eq!(got, t.google_rows);
}

/// `kpi demo` gets the data of every source with a connector by syncing
/// from its own sandbox over loopback: the lake holds the generator's rows,
/// the cursors say so, and its kpi.toml points at `kpi sandbox serve`'s port.
/// Microsoft Advertising synced through the connector lands in
/// `ad_performance` and in the KPIs: October's spend, clicks and
/// conversions of its campaigns are the generator's (an EUR account, so
/// no conversion), and they count as paid search and display.
#[test]
fn microsoft_advertising_reaches_ad_performance_and_the_kpis() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(dir.path(), QUICK);
    let t = expected();
    let (spend, clicks, conversions) = t.microsoft_october;
    sb.ok(&cfg, &["sync", "--source", "microsoft_ads"]);

    let q = "SELECT CAST(round(sum(spend) * 100) AS BIGINT), sum(clicks), \
             CAST(round(sum(conversions) * 100) AS BIGINT), count(DISTINCT channel) \
             FROM ad_performance WHERE platform = 'microsoft_ads' \
             AND date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'";
    let out = sb.ok(&cfg, &["sql", q, "--format", "csv"]);
    let got: Vec<i64> = out
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, [cents(spend), clicks, cents(conversions), 2], "{out}");
    let channels = sb.ok(
        &cfg,
        &[
            "sql",
            "SELECT DISTINCT channel FROM ad_campaigns WHERE platform = 'microsoft_ads' ORDER BY 1",
            "--format",
            "csv",
        ],
    );
    assert_eq!(channels, "channel\ndisplay\npaid_search\n");

    let kpis = sb.ok(
        &cfg,
        &[
            "kpis",
            "--period",
            "previous_month",
            "--grain",
            "campaign",
            "--format",
            "csv",
        ],
    );
    let header: Vec<&str> = kpis.lines().next().unwrap().split(',').collect();
    assert_eq!(header[3..6], ["campaign", "kpi", "value"], "{kpis}");
    let sum = |key: &str| -> f64 {
        kpis.lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[3].to_ascii_lowercase().contains("microsoft") && f[4] == key)
            .map(|f| f[5].parse::<f64>().unwrap_or_else(|_| panic!("{f:?}")))
            .sum()
    };
    assert_eq!(cents(sum("ad_spend")), cents(spend), "{kpis}");
    assert_eq!(sum("clicks") as i64, clicks);
    assert_eq!(cents(sum("ad_conversions")), cents(conversions));
    // (Only this source is synced here: the other sources' KPIs say "no
    // source"; the demo test syncs them all.)
}

#[test]
fn the_demo_syncs_its_connector_sources_from_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = Command::new(KPI)
        .args([
            "--as-of",
            AS_OF,
            "demo",
            "--months",
            &MONTHS.to_string(),
            "--dir",
        ])
        .arg(&demo)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = expected();
    let synced: i64 = t.google_rows.values().sum::<i64>() + t.meta_rows + t.ga4_rows;
    assert!(
        stdout.contains("from the sandbox at http://127.0.0.1:"),
        "{stdout}"
    );
    // Nothing was written beside the demo directory (the lake is its own).
    assert!(!dir.path().join("lake").exists());
    let cfg = demo.join("kpi.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("base_url = \"http://127.0.0.1:8790\""),
        "{text}"
    );
    assert_eq!(lake_totals(&cfg), want(&t));
    assert!(synced > 0);
    for source in [
        "google_ads",
        "meta_ads",
        "linkedin_ads",
        "microsoft_ads",
        "ga4",
        "search_console",
        "hubspot",
        "mailchimp",
    ] {
        let state = std::fs::read_to_string(demo.join(format!("lake/_state/{source}.json")))
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        assert!(
            state.contains(&format!("\"synced_through\": \"{END}\"")),
            "{state}"
        );
    }
}

/// A schedule with `sync_first = true` syncs the lake from the APIs, then
/// sends a report on fresh data; with the APIs down, the owner is told the
/// data is stale and why, and nothing goes to the recipients.
#[test]
fn a_schedule_with_sync_first_syncs_then_reports() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(dir.path(), QUICK);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[delivery]\ntransport = \"outbox\"\noutbox = \"outbox\"\nfrom = \"kpi@example.com\"\n\n\
         [reports.leadership]\nto = [\"boss@example.com\"]\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let schedules = dir.path().join("schedules");
    std::fs::create_dir_all(&schedules).unwrap();
    std::fs::write(
        schedules.join("daily.toml"),
        "cron = \"0 6 * * *\"\ntimezone = \"Europe/Madrid\"\nreport = \"leadership\"\n\
         period = \"yesterday\"\nsync_first = true\nfreshness = \"skip\"\nowner = \"ops@example.com\"\n",
    )
    .unwrap();
    // Due 2026-11-01 06:00 Madrid for 2026-10-31, the sandbox's last day.
    let now = "2026-11-01T05:30:00Z";
    let out = sb.ok(&cfg, &["run", "daily", "--now", now]);
    assert!(out.contains("sent"), "{out}");
    let outbox: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0].contains("boss@example.com"), "{}", outbox[0]);
    // The sync happened first: the lake holds the generator's rows.
    assert_eq!(lake_totals(&cfg), want(&expected()));

    // The next day's run with the APIs refusing every request: no report,
    // a notice to the owner naming the sync's failure.
    sb.faults(r#"[{"path_contains": "", "kind": {"type": "server_error"}}]"#);
    let out = kpi(
        &cfg,
        &sb.env,
        &["run", "daily", "--now", "2026-11-02T05:30:00Z"],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("skipped") || text.contains("stale"), "{text}");
    let outbox: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(outbox.len(), 2, "one report and one notice");
    let notice = outbox
        .iter()
        .find(|m| m.contains("ops@example.com"))
        .expect("a notice to the owner");
    // Quoted-printable soft line breaks may fall anywhere in the words.
    let unwrapped = notice.replace("=\r\n", "").replace("=\n", "");
    assert!(unwrapped.contains("the sync before it failed"), "{notice}");
}

/// The won deals of October 2026 as the generator made them, in both CRMs
/// (the US business unit's in Salesforce): how many, and their amounts by
/// currency. The generator stamps CRM events in Madrid business hours, so a
/// timestamp's UTC day is its Madrid day.
#[derive(Default)]
struct WonDeals {
    count: i64,
    by_currency: BTreeMap<String, f64>,
    /// Salesforce rows per stream, and those changed on or after END.
    salesforce_rows: BTreeMap<&'static str, (i64, i64)>,
}

impl RawSink for WonDeals {
    fn daily(
        &mut self,
        _: &kpi_lake::StreamSpec,
        _: NaiveDate,
        _: RecordBatch,
    ) -> Result<(), SinkError> {
        Ok(())
    }

    fn snapshot(&mut self, spec: &kpi_lake::StreamSpec, b: RecordBatch) -> Result<(), SinkError> {
        use arrow::array::Array;
        use arrow::datatypes::{Date32Type, TimestampMillisecondType};
        let october = |d: NaiveDate| d >= day("2026-10-01") && d <= day(END);
        let strings = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
        let bools = |c: &str| b.column_by_name(c).unwrap().as_boolean().clone();
        let amounts = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let mut won = |currency: &str, amount: f64| {
            self.count += 1;
            *self.by_currency.entry(currency.to_string()).or_default() += amount;
        };
        match (spec.source_type, spec.stream) {
            ("hubspot", "deals") => {
                let close = b
                    .column_by_name("closedate")
                    .unwrap()
                    .as_primitive::<TimestampMillisecondType>()
                    .clone();
                let (is_won, amount, currency) = (
                    bools("hs_is_closed_won"),
                    amounts("amount"),
                    strings("deal_currency_code"),
                );
                for i in 0..b.num_rows() {
                    let d = (!close.is_null(i)).then(|| {
                        chrono::DateTime::from_timestamp_millis(close.value(i))
                            .unwrap()
                            .date_naive()
                    });
                    if is_won.value(i) && d.is_some_and(october) {
                        won(currency.value(i), amount.value(i));
                    }
                }
            }
            ("salesforce", stream) => {
                let stamps = b
                    .column_by_name("SystemModstamp")
                    .unwrap()
                    .as_primitive::<TimestampMillisecondType>()
                    .clone();
                let end = day(END)
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
                    .and_utc()
                    .timestamp_millis();
                let e = self.salesforce_rows.entry(stream).or_default();
                e.0 += b.num_rows() as i64;
                e.1 += stamps.values().iter().filter(|m| **m >= end).count() as i64;
                if stream == "opportunities" {
                    let close = b
                        .column_by_name("CloseDate")
                        .unwrap()
                        .as_primitive::<Date32Type>()
                        .clone();
                    let (is_won, amount, currency) = (
                        bools("IsWon"),
                        amounts("Amount"),
                        strings("CurrencyIsoCode"),
                    );
                    for i in 0..b.num_rows() {
                        let d = Date32Type::to_naive_date_opt(close.value(i)).unwrap();
                        if is_won.value(i) && october(d) {
                            won(currency.value(i), amount.value(i));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The built-in rate of `currency` (units per USD) valid on `on`.
fn per_usd(currency: &str, on: NaiveDate) -> f64 {
    include_str!("../../../queries/reference/fx_rates.csv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("valid_from"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1] == currency && day(f[0]) <= on).then(|| (day(f[0]), f[2].parse::<f64>().unwrap()))
        })
        .max_by_key(|(d, _)| *d)
        .unwrap()
        .1
}

/// One total KPI of `kpi kpis --period previous_month` (October 2026).
fn total_kpi(sb: &Sandbox, cfg: &Path, kpi: &str) -> f64 {
    let out = sb.ok(
        cfg,
        &["kpis", "--period", "previous_month", "--format", "csv"],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("total,,,,{kpi},")))
        .unwrap_or_else(|| panic!("no total {kpi} in\n{out}"));
    line.split(',').nth(5).unwrap().parse().unwrap()
}

/// Salesforce through `kpi`: a sync from the sandbox (its printed section:
/// the instance from the token response), October's won deals and revenue
/// of both CRMs as the generator made them, an incremental re-sync that
/// reads only the records changed since the cursor's day and changes no
/// number, and the daily API limit failing the source with the lake and
/// cursors as they were.
#[test]
fn salesforce_syncs_incrementally_and_counts_in_the_crm_kpis() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sb.config(dir.path(), QUICK);
    let mut g = WonDeals::default();
    kpi_sandbox::generate(&company(), &mut g).unwrap();
    assert!(g.by_currency.contains_key("USD") && g.by_currency.contains_key("EUR"));

    let check = sb.ok(&cfg, &["check", "--source", "salesforce"]);
    assert!(check.contains("salesforce (salesforce): OK"), "{check}");
    let first = sb.ok(&cfg, &["sync"]);
    for (stream, (rows, _)) in &g.salesforce_rows {
        let row = summary_row(&first, &format!("salesforce.{stream}"));
        assert_eq!(row[2], rows.to_string(), "{stream}: {first}");
    }
    let count = |stream: &str| -> i64 {
        let q = format!("SELECT count(*) AS n FROM salesforce.{stream}");
        sb.ok(&cfg, &["sql", &q, "--format", "csv"])
            .lines()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };

    // October's won deals: both CRMs, the dollars converted at the built-in rate.
    let eur_per_usd = per_usd("EUR", day("2026-10-01")) / per_usd("USD", day("2026-10-01"));
    let revenue = g.by_currency["EUR"] + g.by_currency["USD"] * eur_per_usd;
    assert_eq!(total_kpi(&sb, &cfg, "deals_won"), g.count as f64);
    let got = total_kpi(&sb, &cfg, "revenue");
    assert!((got - revenue).abs() < 0.01, "revenue {got} vs {revenue}");

    // Again: only the records changed from the cursor's day (END) on.
    let again = sb.ok(&cfg, &["sync", "--source", "salesforce"]);
    for (stream, (rows, changed)) in &g.salesforce_rows {
        let row = summary_row(&again, &format!("salesforce.{stream}"));
        assert_eq!(row[2], changed.to_string(), "{stream}: {again}");
        assert!(changed < rows, "{stream}");
        assert_eq!(count(stream), *rows, "{stream}: each record once");
    }
    assert_eq!(total_kpi(&sb, &cfg, "deals_won"), g.count as f64);

    // The daily API limit: the source fails, naming it; nothing changes.
    let lake = dir.path().join("lake");
    let before = common::lake_files(&lake);
    sb.faults(r#"[{"path_contains": "/services/data", "kind": {"type": "too_many_requests", "retry_after_secs": 1}}]"#);
    let out = sb.kpi(&cfg, &["sync", "--source", "salesforce"]);
    sb.faults("[]");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("salesforce."), "{text}");
    assert!(
        text.contains("REQUEST_LIMIT_EXCEEDED") && text.contains("daily API request limit"),
        "{text}"
    );
    assert!(
        text.contains("lake and cursors left as they were"),
        "{text}"
    );
    assert!(before == common::lake_files(&lake), "the lake changed");
}
