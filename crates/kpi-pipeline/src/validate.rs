//! Every check of a config that some command makes before it starts work, in
//! one place: `kpi check` runs them all and lists every problem at once, and
//! the other commands refuse to start on the same problems, so nothing that
//! `check` passes is rejected by a run later (and the other way round).
//!
//! What is checked beyond [`Config::parse`]: each source's type against the
//! types this build knows (with the closest one suggested), each connector's
//! own settings (unknown or mistyped fields, base and token URLs,
//! `start_date`), the KPI keys of `[targets]`, `[channel_targets]`, report
//! headlines and alert rules against the catalog, the report addresses, and,
//! for `kpi check`, every environment variable a secret is read from.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kpi_core::config::Problem;
use kpi_core::{Catalog, Config};

use crate::registry;
use crate::sync::{self, SecretLookup};

/// How much of the config a command needs to be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// What every command needs: known source types, KPI keys, reports and
    /// delivery settings (`kpis`, `report`, `sql`, `materialize`, which
    /// read the lake and call no API).
    Offline,
    /// And each connector's own settings (`sync`, the scheduled runs).
    Connectors,
    /// And every environment variable a connector or the SMTP login reads
    /// must be set and non-empty (`kpi check`): each missing one is listed.
    Everything,
}

/// The source types this build knows: those whose raw streams the lake and
/// the engine have (with or without a connector to sync them).
pub fn known_source_types() -> BTreeSet<&'static str> {
    registry::names().collect()
}

/// `; did you mean 'x'?` or nothing.
fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    kpi_core::suggest::closest(word, candidates)
        .map(|c| format!(" (did you mean \"{c}\"?)"))
        .unwrap_or_default()
}

/// Every problem of `config`, in file order where lines are known.
pub fn problems(config: &Config, scope: Scope) -> Vec<Problem> {
    let mut out = Vec::new();
    sources(config, scope, &mut out);
    match kpi_engine::load_catalog(config) {
        Ok(catalog) => kpi_keys(config, &catalog, &mut out),
        Err(e) => out.push(config.problem(&["queries"], e.to_string())),
    }
    delivery(config, scope, &mut out);
    out.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    out
}

fn sources(config: &Config, scope: Scope, out: &mut Vec<Problem>) {
    let known = known_source_types();
    for (name, source) in &config.sources {
        let kind = source.kind.as_str();
        if !known.contains(kind) {
            out.push(config.problem(
                &["sources", name, "type"],
                format!(
                    "sources.{name}.type: unknown source type \"{kind}\"{}; the types are: {}",
                    suggestion(kind, known.iter().copied()),
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        }
        if scope < Scope::Connectors {
            continue;
        }
        if let Err(e) = sync::first_day_setting(name, source) {
            out.push(config.problem(&["sources", name, "start_date"], e.to_string()));
        }
        if let Some(Err(e)) = registry::find(kind).and_then(|t| t.file_inputs(&source.settings)) {
            let field = unknown_field(&e).or_else(|| named_setting(&e, source));
            let key: Vec<&str> = match field.as_deref() {
                Some(f) => vec!["sources", name, f],
                None => vec!["sources", name],
            };
            out.push(config.problem(&key, format!("sources.{name}: {e}")));
            continue;
        }
        if !registry::find(kind).is_some_and(|t| t.has_connector()) {
            continue;
        }
        // The connector's own parse of its settings, and its URLs.
        if let Err(e) = sync::source_endpoints(name, source) {
            let message = e.to_string();
            let field = unknown_field(&message).or_else(|| named_setting(&message, source));
            let key: Vec<&str> = match field.as_deref() {
                Some(f) => vec!["sources", name, f],
                None => vec!["sources", name],
            };
            out.push(config.problem(&key, message));
            continue;
        }
        if scope == Scope::Everything {
            // Built with every variable answered, the missing ones by a
            // stand-in, so that all of them are asked for and listed, not
            // only the first.
            let missing = Arc::new(Mutex::new(Vec::<String>::new()));
            let asked = missing.clone();
            let lookup = SecretLookup(Arc::new(move |var: &str| {
                match std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                    Some(v) => Some(v),
                    None => {
                        asked.lock().expect("lock").push(var.to_string());
                        Some("unset".to_string())
                    }
                }
            }));
            let built = sync::build_connector(name, source, Some(&lookup));
            let missing = missing.lock().expect("lock").clone();
            for var in missing {
                // The line of the setting that names the variable.
                let quoted = format!("\"{var}\"");
                let key = source
                    .settings
                    .iter()
                    .find(|(_, v)| v.to_string().contains(&quoted))
                    .map(|(k, _)| k.as_str());
                let path: Vec<&str> = ["sources", name.as_str()].into_iter().chain(key).collect();
                out.push(config.problem(
                    &path,
                    format!("sources.{name}: environment variable {var} is not set (or is empty)"),
                ));
            }
            if let Err(e) = built {
                out.push(config.problem(&["sources", name], e.to_string()));
            }
        }
    }
}

/// The setting of the section a connector's message is about, when it
/// starts by naming one that is written there (`token_url is not set, and
/// base_url ...` is about `base_url`, the one written; `page_size must be
/// ...` about `page_size`).
fn named_setting(message: &str, source: &kpi_core::SourceConfig) -> Option<String> {
    let text = message.split_once(": ").map_or(message, |x| x.1);
    // As a word: `http` in `http://...` is not the `http` setting.
    let word_at = |key: &str| {
        text.match_indices(key).map(|(at, _)| at).find(|&at| {
            let before = text[..at].chars().next_back();
            let after = text[at + key.len()..].chars().next();
            let part = |c: char| c.is_ascii_alphanumeric() || c == '_';
            !before.is_some_and(part) && !after.is_some_and(|c| part(c) || c == ':')
        })
    };
    let mut named: Vec<(usize, &String)> = source
        .settings
        .keys()
        .filter_map(|k| word_at(k).map(|at| (at, k)))
        .collect();
    named.sort();
    named.first().map(|(_, k)| k.to_string())
}

/// The field an "unknown field `x`" message names.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

fn kpi_keys(config: &Config, catalog: &Catalog, out: &mut Vec<Problem>) {
    let keys: Vec<&str> = catalog.kpis.iter().map(|k| k.key.as_str()).collect();
    let unknown = |key: &str| {
        let hint = kpi_core::suggest::closest(key, keys.iter().copied())
            .map(|c| format!(" (did you mean '{c}'?)"))
            .unwrap_or_default();
        format!("unknown KPI '{key}'{hint}; the keys are listed in queries/kpis.toml")
    };
    for key in config.targets.keys() {
        if catalog.get(key).is_none() {
            out.push(config.problem(
                &["targets", key],
                format!("targets.{key}: {}", unknown(key)),
            ));
        }
    }
    for (channel, targets) in &config.channel_targets {
        for key in targets.keys() {
            if catalog.get(key).is_none() {
                out.push(config.problem(
                    &["channel_targets", channel, key],
                    format!("channel_targets.{channel}.{key}: {}", unknown(key)),
                ));
            }
        }
    }
    for (name, report) in &config.reports {
        for key in &report.headline {
            if catalog.get(key).is_none() {
                out.push(config.problem(
                    &["reports", name, "headline"],
                    format!("reports.{name}.headline: {}", unknown(key)),
                ));
            }
        }
        let setting = format!("reports.{name}.alerts");
        for rule in &report.alerts {
            if let Err(e) = kpi_report::AlertRule::parse(rule, &setting, catalog) {
                out.push(config.problem(&["reports", name, "alerts"], e));
            }
        }
        for (field, addresses) in [("to", &report.to), ("cc", &report.cc), ("bcc", &report.bcc)] {
            let setting = format!("reports.{name}.{field}");
            for a in addresses {
                if let Err(e) = kpi_deliver::check_address(a, &setting) {
                    out.push(config.problem(&["reports", name, field], e.to_string()));
                }
            }
        }
    }
}

fn delivery(config: &Config, scope: Scope, out: &mut Vec<Problem>) {
    let d = &config.delivery;
    if let Err(e) = kpi_deliver::check_address(&d.from, "delivery.from") {
        out.push(config.problem(&["delivery", "from"], e.to_string()));
    }
    if let Some(r) = &d.reply_to
        && let Err(e) = kpi_deliver::check_address(r, "delivery.reply_to")
    {
        out.push(config.problem(&["delivery", "reply_to"], e.to_string()));
    }
    if let Some(ca) = &d.ca_file {
        let path = config.base_dir.join(ca);
        if !path.is_file() {
            out.push(config.problem(
                &["delivery", "ca_file"],
                format!("delivery.ca_file: {} does not exist", path.display()),
            ));
        }
    }
    // SMTP AUTH is on when the user name variable is set; then the password
    // must be there too.
    if scope == Scope::Everything
        && d.transport == "smtp"
        && std::env::var(&d.username_env).is_ok_and(|v| !v.trim().is_empty())
        && !std::env::var(&d.password_env).is_ok_and(|v| !v.trim().is_empty())
    {
        out.push(config.problem(
            &["delivery"],
            format!(
                "delivery: {} is set but the password variable {} is not (or is empty)",
                d.username_env, d.password_env
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_points_at_the_setting_it_names_as_a_word() {
        let source = kpi_core::SourceConfig {
            kind: "ga4".into(),
            settings: toml::from_str(
                "property_ids = [\"1\"]\nbase_url = \"http://127.0.0.1:1\"\nhttp = { max_retries = 0 }",
            )
            .unwrap(),
        };
        let m = "sources.ga4: token_url is not set, and base_url http://127.0.0.1:1 is not the real API";
        assert_eq!(named_setting(m, &source).as_deref(), Some("base_url"));
        let m = "sources.ga4: the http://x server";
        assert_eq!(named_setting(m, &source), None);
        let m = "sources.ga4: http.max_retries must be at most 10";
        assert_eq!(named_setting(m, &source).as_deref(), Some("http"));
    }
}
