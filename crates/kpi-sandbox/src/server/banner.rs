//! What `kpi sandbox serve` prints, and reading it back: the base URL, the
//! credentials as `export` lines and the `[sources.*]` for kpi.toml. The
//! format and its parser live together so that the scripts, benchmark and
//! tests that drive a standalone sandbox read exactly what it writes.

use super::SandboxHandle;

/// The last line printed before serving: `kpi sandbox ready at <url>`.
pub const READY: &str = "kpi sandbox ready at ";
const SOURCES: &str = "# And in kpi.toml:";
const AFTER_SOURCES: &str = "# Faults";

/// What a standalone sandbox announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The credentials, as `(variable, value)`.
    pub env: Vec<(String, String)>,
    /// The `[sources.*]` sections, pointed at `url`.
    pub sources: String,
}

impl Banner {
    /// The value of one exported variable.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl SandboxHandle {
    /// The text `kpi sandbox serve` prints, ending with the [`READY`] line.
    pub fn banner(&self) -> String {
        let data = self.data();
        let mut out = format!(
            "# kpi sandbox: the synthetic company through the {} APIs\n\
             # {} rows held ({:.1} MiB), data through {}\n\
             \n# Its credentials are fixed and public. In the shell that runs kpi:\n",
            super::apis_served(),
            data.rows(),
            data.bytes() as f64 / 1_048_576.0,
            self.config().end_date()
        );
        for (name, value) in self.config().credentials.env() {
            out.push_str(&format!("export {name}={value}\n"));
        }
        out.push_str(&format!(
            "\n{SOURCES}\n{}\n",
            self.sources_toml().trim_end()
        ));
        out.push_str(&format!(
            "\n{AFTER_SOURCES} and revisions at run time: POST {0}/_sandbox/faults, POST {0}/_sandbox/revise;\n\
             # requests seen: GET {0}/_sandbox/requests. Stop with Ctrl-C.\n{READY}{0}\n",
            self.base_url()
        ));
        out
    }
}

/// Reads a banner from `lines` up to its [`READY`] line; `None` if the
/// lines end first (the sandbox stopped before it was ready).
pub fn read_banner(
    lines: impl Iterator<Item = std::io::Result<String>>,
) -> std::io::Result<Option<Banner>> {
    let (mut env, mut sources, mut in_sources) = (Vec::new(), String::new(), false);
    for line in lines {
        let line = line?;
        if let Some(url) = line.strip_prefix(READY) {
            return Ok(Some(Banner {
                url: url.to_string(),
                env,
                sources,
            }));
        }
        if let Some((k, v)) = line
            .strip_prefix("export ")
            .and_then(|kv| kv.split_once('='))
        {
            env.push((k.to_string(), v.to_string()));
        } else if line == SOURCES {
            in_sources = true;
        } else if line.starts_with(AFTER_SOURCES) {
            in_sources = false;
        } else if in_sources {
            sources.push_str(&line);
            sources.push('\n');
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::{SandboxConfig, serve};
    use super::*;

    #[tokio::test]
    async fn the_banner_reads_back_as_printed() {
        let config = SandboxConfig {
            months: 1,
            scale: 0.05,
            end_date: Some("2026-10-31".parse().unwrap()),
            ..SandboxConfig::default()
        };
        let sb = serve(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let text = sb.banner();
        let b = read_banner(text.lines().map(|l| Ok(l.to_string())))
            .unwrap()
            .unwrap();
        assert_eq!(b.url, sb.base_url());
        assert_eq!(b.sources.trim_end(), sb.sources_toml().trim_end());
        assert_eq!(
            b.lookup("META_ACCESS_TOKEN"),
            sb.config().credentials.lookup("META_ACCESS_TOKEN")
        );
        assert_eq!(b.env.len(), sb.config().credentials.env().len());
        // Cut before the ready line: not a banner.
        let cut: Vec<_> = text.lines().take(5).map(|l| Ok(l.to_string())).collect();
        assert_eq!(read_banner(cut.into_iter()).unwrap(), None);
    }
}
