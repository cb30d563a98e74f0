//! A demo setup per test, for tests of scheduled runs: the run ledger lives
//! in the lake, so tests that send cannot share one.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub const KPI: &str = env!("CARGO_BIN_EXE_kpi");
/// The demo's data ends 2026-11-23 (Madrid).
pub const AS_OF: &str = "2026-11-24";
/// 06:30 in Madrid on 24 November: the nightly (06:00) is due, for 23 November.
pub const NIGHTLY_DUE: &str = "2026-11-24T06:30:00+01:00";

pub struct Demo {
    _dir: tempfile::TempDir,
    /// The demo directory (kpi.toml, lake/, schedules/, outbox/).
    pub root: PathBuf,
}

impl Demo {
    /// A demo setup with only the schedules named in `keep`.
    pub fn new(keep: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("demo");
        let out = Command::new(KPI)
            .args(["--as-of", AS_OF, "demo", "--months", "14", "--dir"])
            .arg(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for e in std::fs::read_dir(root.join("schedules")).unwrap() {
            let p = e.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if !keep.contains(&stem.as_str()) {
                std::fs::remove_file(p).unwrap();
            }
        }
        // The demo's own report is in the outbox; start from an empty one.
        std::fs::remove_dir_all(root.join("outbox")).unwrap();
        Demo { _dir: dir, root }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(KPI);
        c.arg("--config").arg(self.root.join("kpi.toml")).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kpi {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every message in the outbox, decoded enough to search (quoted-printable
    /// soft breaks joined).
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.root.join("outbox");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
        files.sort();
        files
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .replace("=\r\n", "")
                    .replace("=\n", "")
            })
            .collect()
    }

    pub fn schedule(&self, name: &str) -> PathBuf {
        self.root.join("schedules").join(format!("{name}.toml"))
    }

    pub fn edit(&self, name: &str, from: &str, to: &str) {
        let p = self.schedule(name);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from} not in {}", p.display());
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

pub fn header<'a>(eml: &'a str, name: &str) -> &'a str {
    eml.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header"))
}

pub fn is_report(eml: &str) -> bool {
    eml.contains("multipart/related")
}
