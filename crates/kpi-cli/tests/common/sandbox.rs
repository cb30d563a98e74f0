//! A `kpi sandbox serve` process for tests that sync (killed on drop), and
//! a kpi.toml of the sources it prints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use kpi_sandbox::server::{Banner, read_banner};

use super::demo::KPI;

/// The sandbox's last day; `--as-of` the day after, so a sync reads up to it.
pub const END: &str = "2026-10-31";
pub const AS_OF: &str = "2026-11-01";

pub struct Sandbox {
    child: Child,
    /// The variables the printed sources read their secrets from.
    pub env: Vec<(String, String)>,
    /// The `[sources.*]` sections it printed.
    pub sources: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    /// Two months of the synthetic company, up to [`END`].
    pub fn start() -> Sandbox {
        let mut child = Command::new(KPI)
            .args([
                "sandbox",
                "serve",
                "--port",
                "0",
                "--end-date",
                END,
                "--months",
                "2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let Banner { env, sources, .. } = read_banner(BufReader::new(stdout).lines())
            .unwrap()
            .expect("kpi sandbox serve ended before it was ready");
        Sandbox {
            child,
            env,
            sources,
        }
    }

    /// kpi.toml in `dir`: the printed sources, then `extra`.
    pub fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        let text = format!(
            "[reporting]\ncurrency = \"EUR\"\ntimezone = \"Europe/Madrid\"\n\n[lake]\npath = \"lake\"\n\n{}\n{extra}",
            self.sources
        );
        let path = dir.join("kpi.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `kpi --config cfg --as-of AS_OF args...` with the sandbox's
    /// variables and `env`.
    pub fn kpi(&self, cfg: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        Command::new(KPI)
            .arg("--config")
            .arg(cfg)
            .args(["--as-of", AS_OF])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}
