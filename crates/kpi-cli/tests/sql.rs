//! `kpi sql` as an analyst uses it: files, standard input, typed
//! parameters, the shell's commands, and results written to files.

use std::io::Write;
use std::process::{Command, Stdio};

mod common;

use common::demo::KPI;
use common::run::{fails, ok, shared_config as config, text};

/// `kpi --config <demo> sql <args>` with `stdin` piped in.
fn piped(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(KPI)
        .arg("--config")
        .arg(config())
        .arg("sql")
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn num(s: &str) -> f64 {
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// The one value of a one-row CSV result.
fn value(csv: &str) -> f64 {
    num(csv.lines().nth(1).expect("a row"))
}

#[test]
fn a_file_takes_typed_parameters_and_runs_every_statement() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spend.sql");
    std::fs::write(
        &file,
        "-- October's paid search spend, then its clicks\n\
         SELECT sum(spend) AS spend\n  FROM ad_performance\n WHERE date BETWEEN $start AND $end\n   AND channel = $channel;\n\
         SELECT sum(clicks) AS clicks FROM ad_performance\n WHERE date BETWEEN $start AND $end AND channel = $channel;\n",
    )
    .unwrap();
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "-f",
        file.to_str().unwrap(),
        "--param",
        "start=2026-10-01",
        "--param",
        "end=2026-10-31",
        "--param",
        "channel=paid_search",
        "--format",
        "csv",
    ]);
    let literal = |sql: &str| value(&ok(&["--config", &cfg, "sql", "--format", "csv", sql]));
    let spend = literal(
        "SELECT sum(spend) FROM ad_performance WHERE date BETWEEN DATE '2026-10-01' \
         AND DATE '2026-10-31' AND channel = 'paid_search'",
    );
    let clicks = literal(
        "SELECT sum(clicks) FROM ad_performance WHERE date BETWEEN DATE '2026-10-01' \
         AND DATE '2026-10-31' AND channel = 'paid_search'",
    );
    assert!(spend > 100.0, "the demo has paid search spend: {spend}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "spend");
    assert!((num(lines[1]) - spend).abs() < 1e-6, "{out}");
    assert_eq!(lines[2], "clicks");
    assert_eq!(num(lines[3]), clicks, "{out}");

    // A parameter is a value, never SQL: a quote in it matches nothing.
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "--param",
        "channel=x' OR '1'='1",
        "SELECT count(*) AS n FROM ad_performance WHERE channel = $channel",
    ]);
    assert_eq!(value(&out), 0.0);
    // A date parameter is a date: comparing it with text is not silently text.
    let out = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "--param",
        "day=2026-10-01",
        "SELECT $day + INTERVAL '1 day' AS next",
    ]);
    assert!(out.contains("2026-10-02"), "{out}");
    let err = fails(&[
        "--config",
        &cfg,
        "sql",
        "--param",
        "day:date=2026-10-32",
        "SELECT 1",
    ]);
    assert!(err.contains("--param day:date=2026-10-32"), "{err}");
}

#[test]
fn standard_input_runs_statements_over_lines_and_shell_commands() {
    let out = piped(
        &["--format", "csv"],
        "\\timing on\nSELECT count(*) AS campaigns\n  FROM ad_campaigns\n;\n\\d ad_performance\n\\q\nSELECT 'not run';\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("Timing is on."), "{stdout}");
    assert!(stdout.contains("Time: "), "{stdout}");
    let campaigns = value(&ok(&[
        "--config",
        &config(),
        "sql",
        "--format",
        "csv",
        "SELECT count(*) FROM ad_campaigns",
    ]));
    assert!(campaigns > 5.0);
    assert!(
        stdout.contains(&format!("campaigns\n{campaigns}\n")),
        "{stdout}"
    );
    // \d NAME: each column with its type and the comment from the view's SQL.
    let spend = stdout
        .lines()
        .find(|l| l.starts_with("| spend "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(spend.contains("Float64"), "{spend}");
    assert!(spend.contains("cost in the reporting currency"), "{spend}");
    assert!(!stdout.contains("not run"), "\\q stops: {stdout}");
}

#[test]
fn backslash_d_lists_every_kind_of_table_with_what_it_holds() {
    let out = piped(&[], "\\d\n");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
            .to_string()
    };
    assert!(row("ad_performance").contains("canonical view"));
    assert!(row("ad_performance").contains("one row per ad platform"));
    assert!(row("kpi_history").contains("KPI history"));
    assert!(row("google_ads.campaign_stats").contains("raw stream"));
    assert!(row("benchmarks").contains("reference"));
    assert!(row("kpi_catalog").contains("label, unit, direction"));
    // Canonical views come first.
    let first = stdout.lines().nth(3).unwrap();
    assert!(first.contains("canonical view"), "{stdout}");
}

#[test]
fn a_script_stops_at_its_first_error_naming_the_line() {
    let out = piped(
        &["--format", "csv"],
        "SELECT 1 AS one;\n\nSELECT spend\n  FROM ad_perfomance;\nSELECT 2 AS two;\n",
    );
    assert!(!out.status.success());
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("one\n1"), "{stdout}");
    assert!(!stdout.contains("two"), "{stdout}");
    assert!(err.contains("standard input, statement at line 3"), "{err}");
    assert!(err.contains("did you mean ad_performance?"), "{err}");

    let out = piped(&[], "\\d ad_perfomance\n");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no table or view named ad_perfomance"),
        "{err}"
    );
    assert!(err.contains("did you mean ad_performance?"), "{err}");
}

#[test]
fn results_are_written_to_a_file_as_parquet_csv_or_json() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("by_channel.parquet");
    // Rounded: a parallel sum adds floats in a varying order.
    let sql = "SELECT channel, round(sum(spend), 2) AS spend, count(*) AS days FROM ad_performance \
               GROUP BY channel ORDER BY channel";
    let printed = ok(&["--config", &cfg, "sql", "--format", "csv", sql]);
    let written = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "parquet",
        "--output",
        parquet.to_str().unwrap(),
        sql,
    ]);
    assert_eq!(written, "", "the result goes to the file, not the terminal");
    let back = ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        &format!(
            "SELECT channel, spend, days FROM '{}' ORDER BY channel",
            parquet.display()
        ),
    ]);
    assert_eq!(back, printed);

    let csv = dir.path().join("by_channel.csv");
    ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
        sql,
    ]);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), printed);

    let err = fails(&["--config", &cfg, "sql", "--format", "parquet", sql]);
    assert!(err.contains("add --output FILE"), "{err}");
    // A failed query leaves no half-written file behind.
    let bad = dir.path().join("bad.csv");
    fails(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "csv",
        "-o",
        bad.to_str().unwrap(),
        "SELECT 1 AS a; SELECT nope FROM ad_performance",
    ]);
    assert!(!bad.exists());
}

#[test]
fn a_block_comment_over_lines_holds_whatever_is_in_it() {
    // Its second line looks like a statement and its third like a command:
    // both are the comment's, until `*/`.
    let out = piped(
        &["--format", "csv"],
        "/* a note\nSELECT 'inside the comment' AS inside;\n\\d\n*/\nSELECT 1 AS one; /* and\n a closing one */\nSELECT 2 AS two;\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout, "one\n1\ntwo\n2\n");
}

#[test]
fn a_command_in_the_middle_of_a_statement_runs_and_the_statement_goes_on() {
    // As in psql: `\timing on` runs when typed, it is not pasted into the SQL.
    let out = piped(
        &["--format", "csv"],
        "SELECT 2 AS two,\n\\timing on\n  3 AS three\n;\n\\d ad_performance;\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let timing = stdout.find("Timing is on.").expect("\\timing ran");
    let result = stdout.find("two,three\n2,3\n").expect("the statement ran");
    assert!(timing < result, "{stdout}");
    assert!(stdout.contains("Time: "), "{stdout}");
    // `\d NAME;` describes NAME (the `;` is a habit, not part of the name).
    assert!(stdout.contains("| spend "), "{stdout}");
    // A `\` line inside a string is the string's.
    let out = piped(
        &["--format", "csv"],
        "SELECT 'a\n\\q\nb' AS s;\nSELECT 1 AS after;\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("a\n\\q\nb"), "{stdout}");
    assert!(stdout.contains("after\n1"), "{stdout}");
}

#[test]
fn the_shell_history_keeps_a_statement_typed_over_lines_whole() {
    // The shell needs a terminal: `script` gives it one.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to run the shell in a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let command = format!("{KPI} --config {} sql", config());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("KPI_SQL_HISTORY", &history)
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 + 2\n  AS answer;\n\\timing on\n\\q\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("42"), "{stdout}");
    // rustyline's file escapes the line break inside an entry as `\n`.
    let saved = std::fs::read_to_string(&history).unwrap();
    let entries: Vec<&str> = saved.lines().filter(|l| *l != "#V2").collect();
    assert_eq!(
        entries,
        ["SELECT 40 + 2\\n  AS answer;", "\\\\timing on", "\\\\q"],
        "{saved}"
    );
}

#[test]
fn parameters_bind_in_views_and_tables_made_from_a_query() {
    let cfg = config();
    let run = |sql: &str| {
        ok(&[
            "--config", &cfg, "sql", "--format", "csv", "--param", "n=41", sql,
        ])
    };
    // DataFusion runs CREATE VIEW when it plans it: the value is bound then.
    let out = run("CREATE VIEW answer AS SELECT $n + 1 AS a; SELECT a FROM answer");
    assert_eq!(out, "a\n42\n");
    let out = run("CREATE TABLE t AS SELECT $n * 2 AS b; SELECT b FROM t");
    assert_eq!(out, "b\n82\n");
    // A placeholder without a value is refused, never run unbound.
    let err = fails(&[
        "--config",
        &cfg,
        "sql",
        "CREATE VIEW v AS SELECT $missing AS m; SELECT * FROM v",
    ]);
    assert!(err.contains("$missing has no value"), "{err}");
    assert!(err.contains("--param missing=VALUE"), "{err}");
}

#[test]
fn an_output_file_holds_one_result() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "json", "parquet"] {
        let file = dir.path().join(format!("two.{format}"));
        let err = fails(&[
            "--config",
            &cfg,
            "sql",
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
            "SELECT 1 AS a; SELECT 2 AS b",
        ]);
        assert!(
            err.contains(&format!("--output writes one result as {format}")),
            "{err}"
        );
        assert!(!file.exists(), "{format}");
    }
    // Statements without rows before it are fine: the file is the result.
    let file = dir.path().join("one.json");
    ok(&[
        "--config",
        &cfg,
        "sql",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
        "CREATE VIEW x AS SELECT 7 AS seven; SELECT seven FROM x",
    ]);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.trim(), r#"[{"seven":7}]"#);
}
