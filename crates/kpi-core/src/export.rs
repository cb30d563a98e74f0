//! `[export]` in kpi.toml: the warehouse `kpi sync` loads after a
//! successful sync. What the tables are and how they are loaded is
//! `kpi-export`'s; this is only what the user wrote.

use std::path::PathBuf;

use serde::Deserialize;

/// `[export]`: loading the lake into a PostgreSQL warehouse.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// Run the export after every `kpi sync` in which no source failed
    /// (default false: only `kpi export postgres` exports).
    #[serde(default)]
    pub export_after_sync: bool,
    /// The environment variable holding the warehouse's connection URL
    /// (`postgres://user@host:5432/db?sslmode=require`); it holds the
    /// password, so the URL itself is never written in kpi.toml. Without a
    /// password in it, `PGPASSWORD` is used. Default `KPI_WAREHOUSE_URL`.
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// The PostgreSQL schema the tables go to, created if missing
    /// (letters, digits and `_`; default `kpi`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The lake tables to export: canonical views, `kpi_history`,
    /// `kpi_catalog`. Empty (the default): every canonical view and
    /// `kpi_history`.
    #[serde(default)]
    pub tables: Vec<String>,
    /// A PEM file of the authority the server's certificate must be signed
    /// by, relative to kpi.toml; with it the certificate and host name are
    /// checked (without it, the URL's `sslmode` decides, as with psql).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            export_after_sync: false,
            url_env: default_url_env(),
            schema: default_schema(),
            tables: Vec::new(),
            ca_file: None,
        }
    }
}

fn default_url_env() -> String {
    "KPI_WAREHOUSE_URL".into()
}

fn default_schema() -> String {
    "kpi".into()
}

/// Whether `schema` is a name the export takes: letters, digits and `_`.
pub fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}
