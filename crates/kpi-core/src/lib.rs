//! `kpi-core`: the vocabulary every other crate shares.
//!
//! It owns the configuration model (`kpi.toml`), report periods and their
//! comparison periods, and the KPI catalog types. It has no I/O beyond reading
//! the config file and no engine knowledge, so every crate can depend on it
//! without pulling in DataFusion or HTTP.

pub mod campaign;
pub mod catalog;
pub mod config;
pub mod export;
pub mod format;
pub mod period;
pub mod suggest;

pub use campaign::campaign_key;
pub use catalog::{Catalog, CatalogError, Direction, KpiDef, Unit};
pub use config::{Config, ConfigError, DeliveryConfig, ReportConfig, SourceConfig};
pub use period::{
    DateRange, NamedPeriod, PeriodError, PeriodGrain, PeriodSpec, ReportPeriods, SecondComparison,
};
