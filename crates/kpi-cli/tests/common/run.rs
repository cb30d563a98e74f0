//! Running the binary and one demo lake shared by the tests of a file that
//! only read it (14 months keeps it quick).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::demo::{AS_OF, KPI};

/// `kpi <args>`, with `$COLUMNS` unset so that tables are as a pipe gets them.
pub fn kpi(args: &[&str]) -> Output {
    Command::new(KPI)
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("runs kpi")
}

/// Bytes as text, for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Standard output of a run that must succeed.
pub fn ok(args: &[&str]) -> String {
    let out = kpi(args);
    assert!(
        out.status.success(),
        "kpi {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Standard output and error of a run that must fail, with one clear
/// message: no panic, no backtrace hint.
pub fn fails_out(args: &[&str]) -> (String, String) {
    let out = kpi(args);
    assert!(
        !out.status.success(),
        "kpi {args:?} should fail:\n{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "panic: {err}"
    );
    assert!(!err.contains("RUST_BACKTRACE"), "backtrace hint: {err}");
    (text(&out.stdout), err)
}

/// Standard error of a run that must fail (see [`fails_out`]).
pub fn fails(args: &[&str]) -> String {
    fails_out(args).1
}

/// The directory holding the shared demo (`<dir>/demo/kpi.toml`), built on
/// first use.
pub fn shared_demo() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("demo");
        ok(&[
            "--as-of",
            AS_OF,
            "demo",
            "--dir",
            demo.to_str().unwrap(),
            "--months",
            "14",
        ]);
        dir
    })
    .path()
}

/// The shared demo's kpi.toml.
pub fn shared_config() -> String {
    shared_demo()
        .join("demo/kpi.toml")
        .to_string_lossy()
        .to_string()
}
