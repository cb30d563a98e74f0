//! The CLI's CSV output read back (`kpi ... --format csv`): the values
//! tests compare have no embedded commas or quotes.

/// Header and rows.
pub fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// The rows without the header.
pub fn rows(text: &str) -> Vec<Vec<String>> {
    parse(text).1
}

/// A field as a number, naming it when it is not one.
pub fn num(s: &str) -> f64 {
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}
