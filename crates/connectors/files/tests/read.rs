//! Reading files as people export them: each test writes a file the way a
//! spreadsheet or tool does and checks the values that come out, or the
//! error that names the line and column.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use kpi_connector_files::{
    BacklinksSource, CostsSource, FileError, FileSettings, FileStream, FileType, SocialSource,
    find_files, read_file,
};

fn settings(toml_text: &str, dir: &std::path::Path) -> FileSettings {
    let mut s: FileSettings = toml::from_str(toml_text).expect("settings");
    s.path = Some(dir.to_path_buf());
    s
}

fn costs() -> FileStream {
    CostsSource::streams().remove(0)
}

/// Writes `bytes` as `name` in a new folder and reads it with `toml_text`.
fn load(
    stream: &FileStream,
    name: &str,
    bytes: &[u8],
    toml_text: &str,
) -> Result<RecordBatch, FileError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), bytes).unwrap();
    let s = settings(toml_text, dir.path());
    s.validate(stream).expect("valid settings");
    let files = find_files(&s, dir.path())?;
    assert_eq!(files.len(), 1);
    read_file(&files[0], stream, &s).map(|r| r.batch)
}

fn strings(b: &RecordBatch, c: &str) -> Vec<Option<String>> {
    b.column_by_name(c)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}
fn floats(b: &RecordBatch, c: &str) -> Vec<f64> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Float64Type>();
    a.values().to_vec()
}
fn ints(b: &RecordBatch, c: &str) -> Vec<i64> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Int64Type>();
    a.values().to_vec()
}
fn dates(b: &RecordBatch) -> Vec<String> {
    let a = b
        .column_by_name("date")
        .unwrap()
        .as_primitive::<Date32Type>();
    a.iter()
        .map(|d| {
            Date32Type::to_naive_date_opt(d.unwrap())
                .unwrap()
                .to_string()
        })
        .collect()
}

const SPANISH: &str = "path = \".\"\ndate_format = \"%d/%m/%Y\"\n\
    columns = { date = \"Fecha\", vendor = \"Proveedor\", category = \"Categoría\", \
    channel = \"Canal\", amount = \"Importe\", currency = \"Moneda\" }\n";

#[test]
fn a_spanish_spreadsheet_with_semicolons_and_decimal_commas() {
    let text = "\u{feff}Fecha;Proveedor;Categoría;Canal;Importe;Moneda\n\
                01/10/2026;Agencia Sur;agency;paid_social;1.234,56;EUR\n\
                02/10/2026;\"Herramientas; S.L.\";tools;;89,9;EUR\n";
    let b = load(&costs(), "octubre.csv", text.as_bytes(), SPANISH).unwrap();
    assert_eq!(dates(&b), ["2026-10-01", "2026-10-02"]);
    assert_eq!(floats(&b, "amount"), [1234.56, 89.9]);
    assert_eq!(
        strings(&b, "vendor"),
        [
            Some("Agencia Sur".into()),
            Some("Herramientas; S.L.".into())
        ]
    );
    // An empty channel is overhead (NULL), and the file has no campaign column.
    assert_eq!(strings(&b, "channel"), [Some("paid_social".into()), None]);
    assert_eq!(strings(&b, "campaign"), [None, None]);
}

#[test]
fn windows_1252_and_utf16_exports_read_the_same() {
    let text = "Fecha;Proveedor;Categoría;Canal;Importe;Moneda\n\
                01/10/2026;Diseño Gráfico;content;;300,5;EUR\n";
    let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let b = load(&costs(), "a.csv", &cp1252, SPANISH).unwrap();
    assert_eq!(strings(&b, "vendor"), [Some("Diseño Gráfico".into())]);
    // Excel's "Unicode text": UTF-16LE with its byte order mark, tabs.
    let tabbed = text.replace(';', "\t");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in tabbed.encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let b = load(
        &costs(),
        "a.txt",
        &utf16,
        &format!("{SPANISH}decimal = \",\"\n"),
    )
    .unwrap();
    assert_eq!(strings(&b, "vendor"), [Some("Diseño Gráfico".into())]);
    assert_eq!(floats(&b, "amount"), [300.5]);
    // Tabs do not mean decimal commas: 300,5 is refused, not read as 3005.
    let e = load(&costs(), "b.txt", &utf16, SPANISH)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2, column Importe: \"300,5\" is not a number"),
        "{e}"
    );
}

#[test]
fn bad_rows_name_the_file_line_and_column_and_reject_the_file() {
    let text = "date,vendor,category,amount,currency\n\
                2026-10-01,A,tools,10.5,EUR\n\
                2026-10-02,B,tools,abc,EUR\n\
                31/10/2026,C,tools,1,EUR\n\
                2026-10-04,,tools,1,EUR\n\
                2026-10-05,D,tools\n";
    let e = load(&costs(), "costs.csv", text.as_bytes(), "path = \".\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("costs.csv: 4 bad rows, so nothing of the file was loaded"),
        "{e}"
    );
    assert!(
        e.contains("line 3, column amount: \"abc\" is not a number"),
        "{e}"
    );
    assert!(
        e.contains("line 4, column date: \"31/10/2026\" is not a date in YYYY-MM-DD"),
        "{e}"
    );
    assert!(e.contains("line 5, column vendor: \"\" is empty"), "{e}");
    assert!(e.contains("line 6: has 3 fields, the header has 5"), "{e}");
    assert!(e.contains("on_bad_rows = \"skip\""), "{e}");
}

#[test]
fn skipping_bad_rows_keeps_the_others_and_returns_the_bad() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.csv"),
        "date,vendor,category,amount,currency\n2026-10-01,A,tools,10,EUR\n2026-10-02,B,tools,x,EUR\n",
    )
    .unwrap();
    let s = settings("path = \".\"\non_bad_rows = \"skip\"", dir.path());
    let f = find_files(&s, dir.path()).unwrap();
    let r = read_file(&f[0], &costs(), &s).unwrap();
    assert_eq!(floats(&r.batch, "amount"), [10.0]);
    assert_eq!(r.bad.len(), 1);
    assert_eq!(r.bad[0].at, "line 3");
    let csv = kpi_connector_files::rejects_csv(&f[0], &r.bad);
    assert!(
        csv.starts_with("file,at,column,value,reason\nc.csv,line 3,amount,x,\"is not a number"),
        "{csv}"
    );
}

#[test]
fn a_missing_required_column_says_how_to_map_it() {
    let text = "Fecha,Proveedor,Categoría,Total,Moneda\n2026-10-01,A,tools,1,EUR\n";
    let e = load(&costs(), "a.csv", text.as_bytes(), "path = \".\"\ncolumns = { date = \"Fecha\", vendor = \"Proveedor\", category = \"Categoría\", currency = \"Moneda\" }")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.csv: it has no column for `amount`; its header is: Fecha, Proveedor, Categoría, Total, Moneda"), "{e}");
    let english = "date,vendor,category,Total,currency\n2026-10-01,A,tools,1,EUR\n";
    let e = load(
        &costs(),
        "a.csv",
        english.as_bytes(),
        "path = \".\"\ncolumns = { amount = \"Importe\" }",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("it has no column \"Importe\" (columns.amount)"),
        "{e}"
    );
}

#[test]
fn fixed_values_fill_a_column_the_file_lacks() {
    let text = "date,vendor,category,amount\n2026-10-01,A,tools,1\n";
    let b = load(
        &costs(),
        "a.csv",
        text.as_bytes(),
        "path = \".\"\nvalues = { currency = \"USD\" }",
    )
    .unwrap();
    assert_eq!(strings(&b, "currency"), [Some("USD".into())]);
}

#[test]
fn an_ahrefs_export_by_its_preset() {
    let stream = BacklinksSource::streams().remove(0);
    let text =
        "Date,Domain Rating,Referring domains,Backlinks\n2026-10-05,47.5,\"1,204\",\"15,030\"\n";
    let b = load(
        &stream,
        "ahrefs.csv",
        text.as_bytes(),
        "path = \".\"\npreset = \"ahrefs\"\nvalues = { domain = \"example.com\" }",
    )
    .unwrap();
    assert_eq!(ints(&b, "referring_domains_followed"), [1204]);
    assert_eq!(ints(&b, "backlinks_followed"), [15030]);
    assert_eq!(floats(&b, "domain_rating"), [47.5]);
    assert_eq!(strings(&b, "domain"), [Some("example.com".into())]);
}

#[test]
fn json_lines_and_parquet() {
    let stream = SocialSource::streams().remove(0);
    let text = "{\"date\":\"2026-10-01\",\"network\":\"LinkedIn\",\"impressions\":1200,\"engagements\":80,\"link_clicks\":\"12\",\"followers\":5000}\n\n\
                {\"date\":\"2026-10-02T00:00:00Z\",\"network\":\"X\",\"impressions\":900,\"engagements\":10,\"link_clicks\":3,\"followers\":4000}\n";
    let b = load(&stream, "p.jsonl", text.as_bytes(), "path = \".\"").unwrap();
    assert_eq!(dates(&b), ["2026-10-01", "2026-10-02"]);
    assert_eq!(ints(&b, "link_clicks"), [12, 3]);
    let e = load(&stream, "p.jsonl", b"{\"date\":\"2026-10-01\",\"network\":\"X\",\"impressions\":1.5,\"engagements\":1,\"link_clicks\":1,\"followers\":1}\nnot json\n", "path = \".\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1, column impressions: \"1.5\" is not a whole number"),
        "{e}"
    );
    assert!(e.contains("line 2: is not JSON"), "{e}");

    // The same rows as Parquet, written by another tool with its own types.
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let p = load(&stream, "p.parquet", &buf, "path = \".\"").unwrap();
    assert_eq!(p, b);
}

#[test]
fn settings_are_checked_against_the_stream() {
    let check = |t: &str| {
        let s: FileSettings = toml::from_str(t).unwrap();
        s.validate(&costs()).unwrap_err()
    };
    assert!(
        check("path = \"x\"\ncolumns = { amont = \"Importe\" }")
            .starts_with("columns.amont: `amont` is not a column of marketing_costs")
    );
    assert!(check("path = \"x\"\npreset = \"ahrefs\"").contains("marketing_costs has no presets"));
    assert!(check("path = \"x\"\nencoding = \"latin-9000\"").contains("not an encoding name"));
    assert!(
        check("path = \"x\"\nvalues = { amount = \"lots\" }")
            .contains("values.amount: \"lots\" is not a number")
    );
    let e = toml::from_str::<FileSettings>("path = \"x\"\non_bad_rows = \"ignore\"").unwrap_err();
    assert!(e.to_string().contains("reject_file"), "{e}");
}

#[test]
fn a_folder_lists_its_data_files_only() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.csv", "a.jsonl", ".hidden.csv", "~$b.csv", "notes.md"] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    let s = settings("path = \".\"", dir.path());
    let names: Vec<String> = find_files(&s, dir.path())
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["a.jsonl", "b.csv"]);
    let s = settings("path = \".\"\npattern = \"b*\"", dir.path());
    let found = find_files(&s, dir.path()).unwrap();
    assert_eq!(found.len(), 1);
    // SHA-256 of "x".
    assert_eq!(
        found[0].sha256,
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    );
    let missing = settings("path = \"nowhere\"", dir.path());
    let mut missing = missing;
    missing.path = Some(dir.path().join("nowhere"));
    let e = find_files(&missing, dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("nowhere: no such file or folder"), "{e}");
}

#[test]
fn json_keys_are_each_lines_own_and_numbers_keep_their_point() {
    // The first object leaves out its null `campaign` and `channel`; the
    // second has them. `decimal = ","` is about text, not JSON numbers.
    let text = "{\"date\":\"2026-10-01\",\"vendor\":\"A\",\"category\":\"tools\",\"amount\":1.25,\"currency\":\"EUR\"}\n\
                {\"date\":\"2026-10-02\",\"vendor\":\"B\",\"category\":\"tools\",\"channel\":\"paid_search\",\"campaign\":\"Brand\",\"amount\":\"2,5\",\"currency\":\"EUR\"}\n\
                {\"date\":\"2026-10-03\",\"category\":\"tools\",\"amount\":1,\"currency\":\"EUR\"}\n";
    let e = load(
        &costs(),
        "c.jsonl",
        text.as_bytes(),
        "path = \".\"\ndecimal = \",\"",
    )
    .unwrap_err()
    .to_string();
    // The third line lacks the vendor: a bad row, not a failed file.
    assert!(e.contains("1 bad row,"), "{e}");
    assert!(e.contains("line 3, column vendor: \"\" is empty"), "{e}");
    let b = load(
        &costs(),
        "c.jsonl",
        &text.as_bytes()[..text.rfind("{\"date\":\"2026-10-03").unwrap()],
        "path = \".\"\ndecimal = \",\"",
    )
    .unwrap();
    assert_eq!(floats(&b, "amount"), [1.25, 2.5]);
    assert_eq!(strings(&b, "campaign"), [None, Some("Brand".into())]);
}

#[test]
fn a_trailing_separator_is_not_a_column_and_parquet_dates_ignore_date_format() {
    let text = "date;vendor;category;amount;currency;\n2026-10-01;A;tools;1,5;EUR;\n2026-10-02;B;tools;2;EUR\n";
    let b = load(&costs(), "t.csv", text.as_bytes(), "path = \".\"").unwrap();
    assert_eq!(floats(&b, "amount"), [1.5, 2.0]);
    let e = load(
        &costs(),
        "t.csv",
        b"date;vendor;category;amount;currency\n2026-10-01;A;tools;1;EUR;x\n",
        "path = \".\"",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2: has 6 fields, the header has 5"), "{e}");
    // Typed dates from Parquet, with a date_format meant for the CSVs.
    let mut buf = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let p = load(
        &costs(),
        "t.parquet",
        &buf,
        "path = \".\"\ndate_format = \"%d/%m/%Y\"",
    )
    .unwrap();
    assert_eq!(dates(&p), ["2026-10-01", "2026-10-02"]);
}
