//! The words of a report in the reader's language.
//!
//! Each report's `locales/<code>.toml` holds the template text (`[text]`, used
//! as `{{t.<key>}}`) and display names of statuses, channels, campaign types
//! and KPIs. English is complete and is the fallback for any key another
//! language leaves out, so a partial translation still renders.

use std::collections::BTreeMap;

use kpi_core::format::Locale;

use crate::ReportError;

/// The tables of one locale file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    /// Template text, `{{t.<key>}}`.
    #[serde(default)]
    pub text: BTreeMap<String, String>,
    /// Status names as compare.sql writes them, translated.
    #[serde(default)]
    pub status: BTreeMap<String, String>,
    /// Channel keys to display names.
    #[serde(default)]
    pub channel: BTreeMap<String, String>,
    /// Campaign types to display names.
    #[serde(default)]
    pub campaign_type: BTreeMap<String, String>,
    /// KPI keys to labels (the catalog's label otherwise).
    #[serde(default)]
    pub kpi: BTreeMap<String, String>,
    /// Benchmark sources (the `source` text of reference/benchmarks.csv)
    /// in this language; a source not here is shown as the file has it.
    #[serde(default)]
    pub benchmark_source: BTreeMap<String, String>,
}

impl Strings {
    /// Parses a locale file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ReportError> {
        toml::from_str(text).map_err(|e| ReportError::Template {
            file: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// `self` with every key of `fallback` it lacks.
    pub fn over(mut self, fallback: &Strings) -> Self {
        fn fill(into: &mut BTreeMap<String, String>, from: &BTreeMap<String, String>) {
            for (k, v) in from {
                into.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        fill(&mut self.text, &fallback.text);
        fill(&mut self.status, &fallback.status);
        fill(&mut self.channel, &fallback.channel);
        fill(&mut self.campaign_type, &fallback.campaign_type);
        fill(&mut self.kpi, &fallback.kpi);
        fill(&mut self.benchmark_source, &fallback.benchmark_source);
        self
    }

    /// A benchmark source's description in this language.
    pub fn benchmark_source<'a>(&'a self, source: &'a str) -> &'a str {
        self.benchmark_source
            .get(source)
            .map(String::as_str)
            .unwrap_or(source)
    }

    /// A status in this language (the status itself if untranslated).
    pub fn status<'a>(&'a self, s: &'a str) -> &'a str {
        self.status.get(s).map(String::as_str).unwrap_or(s)
    }

    /// A channel's display name (the key itself if unknown: channels are
    /// user-defined in channels.csv).
    pub fn channel<'a>(&'a self, c: &'a str) -> &'a str {
        self.channel.get(c).map(String::as_str).unwrap_or(c)
    }

    /// A campaign type's display name.
    pub fn campaign_type<'a>(&'a self, c: &'a str) -> &'a str {
        self.campaign_type.get(c).map(String::as_str).unwrap_or(c)
    }

    /// A text string, or `key` when missing (strict templates catch the
    /// missing ones in `{{t.key}}`; this is for the Rust side).
    pub fn text<'a>(&'a self, key: &'a str) -> &'a str {
        self.text.get(key).map(String::as_str).unwrap_or(key)
    }
}

/// The locale file name for `locale`.
pub fn code(locale: Locale) -> &'static str {
    match locale {
        Locale::En => "en",
        Locale::Es => "es",
    }
}
