//! The one list of source types. Config checks, `kpi sync`, `kpi check`, the
//! engine's tables and the demo all read it; no other list of types exists.
//!
//! A type with a connector is one line, `connector::<ItsConfig>()`: the
//! connector crate's [`ConnectorType`] says the rest (its streams, and so
//! the lake layout and the engine's tables; its endpoints; how it is built).
//! A type without one yet (`loaded("social")`) is data that reaches the lake
//! another way; its streams still have the shapes the sandbox's generator
//! writes, until its connector declares them.

use kpi_connector::{Connector, ConnectorType, Endpoints, StreamDef, WriteMode};
use kpi_lake::{Layout, StreamSpec};

/// Settings in `[sources.<name>]` that belong to the runner, not to the
/// connector's config.
pub(crate) const RUNNER_KEYS: [&str; 1] = ["start_date"];

/// Reads secrets by environment variable name.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A source type this build knows.
pub struct SourceType {
    /// The `type = "..."` value.
    pub name: &'static str,
    connector: Option<Ops>,
}

/// What a type with a connector can do, monomorphised from its config type.
struct Ops {
    streams: fn() -> Vec<StreamDef>,
    endpoints: fn(&str, toml::Value) -> Result<Endpoints, String>,
    connect: fn(&str, toml::Value, Lookup) -> Result<Box<dyn Connector>, String>,
}

/// Every source type, in the order the lake lists them.
pub const TYPES: &[SourceType] = &[
    connector::<kpi_connector_google_ads::GoogleAdsSource>(),
    connector::<kpi_connector_meta_ads::MetaAdsSource>(),
    connector::<kpi_connector_linkedin_ads::LinkedInAdsSource>(),
    connector::<kpi_connector_ga4::Ga4Source>(),
    connector::<kpi_connector_search_console::SearchConsoleSource>(),
    connector::<kpi_connector_hubspot::HubSpotSource>(),
    connector::<kpi_connector_mailchimp::MailchimpSource>(),
    loaded("social"),
    loaded("backlinks"),
    loaded("costs"),
];

const fn connector<C: ConnectorType>() -> SourceType {
    SourceType {
        name: C::TYPE,
        connector: Some(Ops {
            streams: C::streams,
            endpoints: endpoints_of::<C>,
            connect: connect_of::<C>,
        }),
    }
}

const fn loaded(name: &'static str) -> SourceType {
    SourceType {
        name,
        connector: None,
    }
}

/// The connector's config parsed from the section's settings.
fn parse<C: ConnectorType>(settings: toml::Value) -> Result<C, String> {
    settings
        .try_into::<C>()
        .map_err(|e| e.to_string().trim().to_string())
}

fn endpoints_of<C: ConnectorType>(
    source: &str,
    settings: toml::Value,
) -> Result<Endpoints, String> {
    parse::<C>(settings)?.endpoints(source)
}

fn connect_of<C: ConnectorType>(
    source: &str,
    settings: toml::Value,
    lookup: Lookup,
) -> Result<Box<dyn Connector>, String> {
    parse::<C>(settings)?.connect(source, lookup)
}

impl SourceType {
    /// Whether this build syncs the type through a connector.
    pub fn has_connector(&self) -> bool {
        self.connector.is_some()
    }

    /// The type's raw streams as the lake keeps them.
    pub fn streams(&self) -> Vec<StreamSpec> {
        stream_specs()
            .into_iter()
            .filter(|s| s.source_type == self.name)
            .collect()
    }

    fn derive_streams(&self) -> Vec<StreamSpec> {
        match &self.connector {
            Some(ops) => (ops.streams)()
                .iter()
                .map(|d| lake_spec(self.name, d))
                .collect(),
            None => kpi_sandbox::raw_streams()
                .into_iter()
                .filter(|s| s.source_type == self.name)
                .collect(),
        }
    }

    /// Where source `source` sends requests (`None`: no connector). The
    /// settings are the section's, runner keys included.
    pub fn endpoints(
        &self,
        source: &str,
        settings: &toml::Table,
    ) -> Option<Result<Endpoints, String>> {
        let ops = self.connector.as_ref()?;
        Some((ops.endpoints)(source, connector_settings(settings)))
    }

    /// Builds source `source`'s connector (`None`: no connector).
    pub fn connect(
        &self,
        source: &str,
        settings: &toml::Table,
        lookup: Lookup,
    ) -> Option<Result<Box<dyn Connector>, String>> {
        let ops = self.connector.as_ref()?;
        Some((ops.connect)(source, connector_settings(settings), lookup))
    }
}

/// The section without the runner's keys.
fn connector_settings(settings: &toml::Table) -> toml::Value {
    let mut settings = settings.clone();
    for k in RUNNER_KEYS {
        settings.remove(k);
    }
    toml::Value::Table(settings)
}

/// A connector's stream as the lake keeps it: a daily stream's files leave
/// out the date column (it names the partition directory).
fn lake_spec(source_type: &'static str, def: &StreamDef) -> StreamSpec {
    let (layout, schema) = match &def.write_mode {
        WriteMode::ReplaceDays { date_column } => {
            let fields: Vec<_> = def
                .schema
                .fields()
                .iter()
                .filter(|f| f.name() != date_column)
                .cloned()
                .collect();
            (
                Layout::Daily,
                std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
            )
        }
        WriteMode::Snapshot | WriteMode::Append => (Layout::Snapshot, def.schema.clone()),
    };
    StreamSpec {
        source_type,
        // Stream names are the connectors' constants, derived once per
        // process (see `stream_specs`); the lake takes them as 'static.
        stream: Box::leak(def.name.clone().into_boxed_str()),
        layout,
        schema,
    }
}

/// The type named `name`.
pub fn find(name: &str) -> Option<&'static SourceType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The names of every type.
pub fn names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// The names of the types with a connector.
pub fn connector_names() -> Vec<&'static str> {
    TYPES
        .iter()
        .filter(|t| t.has_connector())
        .map(|t| t.name)
        .collect()
}

/// Every raw stream of every type, derived once.
pub fn stream_specs() -> Vec<StreamSpec> {
    static SPECS: std::sync::OnceLock<Vec<StreamSpec>> = std::sync::OnceLock::new();
    SPECS
        .get_or_init(|| TYPES.iter().flat_map(SourceType::derive_streams).collect())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox serves what the connectors read: for every type with a
    /// connector, the generator's streams have the connector's columns,
    /// types and nullability, and the same layout.
    #[test]
    fn the_sandbox_matches_the_connectors_streams() {
        let sandbox = kpi_sandbox::raw_streams();
        for t in TYPES.iter().filter(|t| t.has_connector()) {
            let ours = t.streams();
            assert!(!ours.is_empty(), "{}", t.name);
            let theirs: Vec<&StreamSpec> =
                sandbox.iter().filter(|s| s.source_type == t.name).collect();
            assert_eq!(ours.len(), theirs.len(), "{}: streams", t.name);
            for s in &ours {
                let g = theirs
                    .iter()
                    .find(|g| g.stream == s.stream)
                    .unwrap_or_else(|| panic!("{}.{} is not in the sandbox", t.name, s.stream));
                assert_eq!(s.layout, g.layout, "{}.{}", t.name, s.stream);
                let cols = |x: &StreamSpec| -> Vec<(String, String, bool)> {
                    x.schema
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
                        .collect()
                };
                assert_eq!(cols(s), cols(g), "{}.{}", t.name, s.stream);
            }
        }
    }

    #[test]
    fn one_entry_per_type_and_the_sandbox_has_no_other() {
        let mut names: Vec<&str> = names().collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a type is listed twice");
        for s in kpi_sandbox::raw_streams() {
            assert!(
                find(s.source_type).is_some(),
                "{} is not registered",
                s.source_type
            );
        }
        assert_eq!(
            connector_names(),
            vec![
                "google_ads",
                "meta_ads",
                "linkedin_ads",
                "ga4",
                "search_console",
                "hubspot",
                "mailchimp"
            ]
        );
    }
}
