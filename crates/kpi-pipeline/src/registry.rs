//! The one list of source types. Config checks, `kpi sync`, `kpi check`,
//! the engine's tables and the demo all read it; no other list of types
//! exists.
//!
//! A type with a connector is one line, `connector::<ItsConfig>()`: the
//! connector crate's [`ConnectorType`] says the rest (its streams, and so
//! the lake layout and the engine's tables; its endpoints; how it is
//! built). A type whose data comes as files is one line too,
//! `files::<ItsConfig>()`: its [`FileType`] names its streams and which
//! settings load each one, and `crate::files` loads them.

use kpi_connector::{Connector, ConnectorType, Endpoints, StreamDef, WriteMode};
use kpi_connector_files::{FileSettings, FileStream, FileType};
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
    kind: Kind,
}

/// How a type's data arrives.
enum Kind {
    /// From an API, through its connector.
    Connector(Ops),
    /// As files in a folder.
    Files(FileOps),
}

/// What a file type can do, monomorphised from its config type.
struct FileOps {
    streams: fn() -> Vec<FileStream>,
    inputs: fn(toml::Value) -> Result<Vec<(String, FileSettings)>, String>,
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
    connector::<kpi_connector_microsoft_ads::MicrosoftAdsSource>(),
    connector::<kpi_connector_ga4::Ga4Source>(),
    connector::<kpi_connector_search_console::SearchConsoleSource>(),
    connector::<kpi_connector_hubspot::HubSpotSource>(),
    connector::<kpi_connector_salesforce::SalesforceSource>(),
    connector::<kpi_connector_mailchimp::MailchimpSource>(),
    files::<kpi_connector_files::SocialSource>(),
    files::<kpi_connector_files::BacklinksSource>(),
    files::<kpi_connector_files::CostsSource>(),
    files::<kpi_connector_files::CustomSource>(),
];

const fn connector<C: ConnectorType>() -> SourceType {
    SourceType {
        name: C::TYPE,
        kind: Kind::Connector(Ops {
            streams: C::streams,
            endpoints: endpoints_of::<C>,
            connect: connect_of::<C>,
        }),
    }
}

const fn files<F: FileType>() -> SourceType {
    SourceType {
        name: F::TYPE,
        kind: Kind::Files(FileOps {
            streams: F::streams,
            inputs: inputs_of::<F>,
        }),
    }
}

/// A file type's settings, each checked against the stream it loads.
fn inputs_of<F: FileType>(settings: toml::Value) -> Result<Vec<(String, FileSettings)>, String> {
    let config = parse::<F>(settings)?;
    let streams = F::streams();
    let inputs = config.inputs();
    if inputs.is_empty() {
        let names: Vec<String> = streams.iter().map(|s| s.def.name.clone()).collect();
        return Err(format!(
            "no files configured: add a {} table with the path of its files",
            names.join(" or ")
        ));
    }
    inputs
        .into_iter()
        .map(|(stream, s)| {
            let def = streams
                .iter()
                .find(|f| f.def.name == stream)
                .expect("a type's inputs are its streams");
            s.validate(def).map_err(|e| match streams.len() {
                1 => e,
                _ => format!("{stream}.{e}"),
            })?;
            Ok((stream.to_string(), s.clone()))
        })
        .collect()
}

/// The connector's config parsed from the section's settings.
fn parse<C: serde::de::DeserializeOwned>(settings: toml::Value) -> Result<C, String> {
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
    /// Whether this build syncs the type through a connector (an API).
    pub fn has_connector(&self) -> bool {
        matches!(self.kind, Kind::Connector(_))
    }

    /// Whether the type's data comes as files.
    pub fn is_files(&self) -> bool {
        matches!(self.kind, Kind::Files(_))
    }

    /// A file type's streams with their presets (`None`: not a file type).
    pub fn file_streams(&self) -> Option<Vec<FileStream>> {
        match &self.kind {
            Kind::Files(ops) => Some((ops.streams)()),
            Kind::Connector(_) => None,
        }
    }

    /// A file type's settings per stream, checked (`None`: not a file
    /// type). The settings are the section's, runner keys included.
    pub fn file_inputs(
        &self,
        settings: &toml::Table,
    ) -> Option<Result<Vec<(String, FileSettings)>, String>> {
        match &self.kind {
            Kind::Files(ops) => Some((ops.inputs)(connector_settings(settings))),
            Kind::Connector(_) => None,
        }
    }

    /// The type's raw streams as the lake keeps them.
    pub fn streams(&self) -> Vec<StreamSpec> {
        stream_specs()
            .into_iter()
            .filter(|s| s.source_type == self.name)
            .collect()
    }

    fn derive_streams(&self) -> Vec<StreamSpec> {
        let defs = match &self.kind {
            Kind::Connector(ops) => (ops.streams)(),
            Kind::Files(ops) => (ops.streams)().into_iter().map(|f| f.def).collect(),
        };
        defs.iter().map(|d| lake_spec(self.name, d)).collect()
    }

    /// Where source `source` sends requests (`None`: no connector). The
    /// settings are the section's, runner keys included.
    pub fn endpoints(
        &self,
        source: &str,
        settings: &toml::Table,
    ) -> Option<Result<Endpoints, String>> {
        let Kind::Connector(ops) = &self.kind else {
            return None;
        };
        Some((ops.endpoints)(source, connector_settings(settings)))
    }

    /// Builds source `source`'s connector (`None`: no connector).
    pub fn connect(
        &self,
        source: &str,
        settings: &toml::Table,
        lookup: Lookup,
    ) -> Option<Result<Box<dyn Connector>, String>> {
        let Kind::Connector(ops) = &self.kind else {
            return None;
        };
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
        WriteMode::Snapshot | WriteMode::Merge | WriteMode::Append => {
            (Layout::Snapshot, def.schema.clone())
        }
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

    /// The sandbox serves what the connectors read, and its generator
    /// writes the demo's files in the file types' shapes: for every type,
    /// the generator's streams have the type's columns, types and
    /// nullability, and the same layout.
    #[test]
    fn the_sandbox_matches_the_connectors_streams() {
        let sandbox = kpi_sandbox::raw_streams();
        for t in TYPES {
            if t.name == kpi_connector_files::CustomSource::TYPE {
                // A company's own rows: the demo has none to generate
                // (crates/kpi-cli/tests/custom.rs loads some).
                assert!(!sandbox.iter().any(|s| s.source_type == t.name));
                continue;
            }
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
                "microsoft_ads",
                "ga4",
                "search_console",
                "hubspot",
                "salesforce",
                "mailchimp"
            ]
        );
    }
}
