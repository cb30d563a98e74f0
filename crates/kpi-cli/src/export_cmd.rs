//! `kpi export postgres`: the canonical views and the KPI history into a
//! PostgreSQL warehouse (see `kpi-export`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use kpi_core::{Config, DateRange};

/// Where and what to export.
#[derive(Debug, clap::Args)]
pub struct PostgresArgs {
    /// The environment variable holding the connection URL
    /// (`postgres://user:password@host:5432/db?sslmode=require`): it holds
    /// the password, so it is never taken on the command line or from
    /// kpi.toml. Without a password in it, `PGPASSWORD` is used.
    #[arg(long, value_name = "VAR", default_value = "KPI_WAREHOUSE_URL")]
    pub url_env: String,
    /// The PostgreSQL schema the tables go to (created if missing).
    #[arg(long, default_value = "kpi")]
    pub schema: String,
    /// The tables to export, comma-separated (default: every canonical view
    /// and kpi_history).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Replace only the rows from this day on (with --to); tables without a
    /// date are replaced whole.
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of the rows to replace (with --from).
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// A PEM file of the authority the server's certificate must be signed
    /// by; with it the certificate and host name are checked.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// The export `[export]` in kpi.toml describes: every row of its tables.
pub fn configured(config: &Config) -> PostgresArgs {
    let e = &config.export;
    PostgresArgs {
        url_env: e.url_env.clone(),
        schema: e.schema.clone(),
        tables: e.tables.clone(),
        from: None,
        to: None,
        ca_file: e.ca_file.as_ref().map(|f| config.base_dir.join(f)),
    }
}

/// What `kpi check` finds wrong with `[export]` beyond its syntax: a table
/// that cannot be exported, and, when it runs after each sync, a URL
/// variable that is not set or a `ca_file` that is not there.
pub fn problems(config: &Config) -> Vec<kpi_core::config::Problem> {
    let e = &config.export;
    let mut out = Vec::new();
    let known = kpi_export::exportable_tables();
    for t in &e.tables {
        if !known.contains(t) {
            let hint = kpi_core::suggest::closest(t, known.iter().map(String::as_str))
                .map(|n| format!("; did you mean {n}?"))
                .unwrap_or_default();
            out.push(config.problem(
                &["export", "tables"],
                format!(
                    "export.tables: {t} cannot be exported{hint} (these can: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    if e.export_after_sync {
        let set = std::env::var(&e.url_env).is_ok_and(|u| !u.is_empty());
        if !set {
            out.push(config.problem(
                &["export", "url_env"],
                format!(
                    "export.url_env: ${} is not set, so the export after each sync would fail \
                     (export it with the warehouse's connection URL)",
                    e.url_env
                ),
            ));
        }
        if let Some(f) = &e.ca_file
            && !config.base_dir.join(f).is_file()
        {
            out.push(config.problem(
                &["export", "ca_file"],
                format!("export.ca_file: {} is not a file", f.display()),
            ));
        }
    }
    out
}

pub async fn postgres(config: &Config, args: PostgresArgs) -> Result<()> {
    let Some(url) = std::env::var(&args.url_env).ok().filter(|u| !u.is_empty()) else {
        bail!(
            "the warehouse's connection URL is read from ${}, which is not set \
             (or name another variable with --url-env)",
            args.url_env
        );
    };
    if !kpi_core::export::valid_schema(&args.schema) {
        bail!("--schema {}: letters, digits and _ only", args.schema);
    }
    let pg = warehouse_config(&url, &args.url_env, std::env::var_os("PGPASSWORD"))?;
    let range = match (args.from, args.to) {
        (Some(f), Some(t)) => Some(DateRange::new(f, t)?),
        _ => None,
    };
    let engine = kpi_pipeline::open_engine(config).await?;
    let mut client = kpi_postgres::connect_with(&pg, args.ca_file.as_deref())
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the warehouse (${})", args.url_env))?;
    let started = std::time::Instant::now();
    let options = kpi_export::ExportOptions {
        schema: args.schema.clone(),
        tables: args.tables.clone(),
        range,
    };
    let exported = kpi_export::export(&engine, &mut client, &options)
        .await
        .context("nothing was exported (the warehouse keeps what it had)")?;
    let mut total = 0;
    for w in exported.iter().flat_map(|e| &e.warnings) {
        eprintln!("warning: {w}");
    }
    for e in &exported {
        total += e.rows;
        println!(
            "{}: {} rows{}",
            e.table,
            e.rows,
            if e.created {
                " (table created)".to_string()
            } else {
                format!(", {} replaced", e.replaced)
            }
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "exported {total} rows in {:.1} s ({:.0} rows/s){}",
        secs,
        total as f64 / secs.max(1e-9),
        match range {
            Some(r) => format!(", dates {r}"),
            None => String::new(),
        }
    );
    Ok(())
}

/// The connection `url` describes, with `PGPASSWORD` as its password when
/// it has none, as libpq does. The password is set on the configuration,
/// never pasted into the URL's text (where a `@` or `/` in it would change
/// what the URL says).
pub fn warehouse_config(
    url: &str,
    url_env: &str,
    pgpassword: Option<std::ffi::OsString>,
) -> Result<tokio_postgres::Config> {
    let mut config = kpi_postgres::parse_url(url)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the warehouse (${url_env})"))?;
    if config.get_password().is_none()
        && let Some(password) = pgpassword.filter(|p| !p.is_empty())
    {
        config.password(password.as_encoded_bytes());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpassword_is_the_password_as_it_is_when_the_url_has_none() {
        let pw = || Some(std::ffi::OsString::from("p@ss/w:rd?%"));
        let c = warehouse_config("postgres://loader@db.example:5432/dw", "V", pw()).unwrap();
        assert_eq!(c.get_password(), Some(&b"p@ss/w:rd?%"[..]));
        assert_eq!(c.get_user(), Some("loader"));
        assert_eq!(c.get_dbname(), Some("dw"));
        // The URL's own password wins, as with libpq.
        let c = warehouse_config("postgres://loader:own@db.example/dw", "V", pw()).unwrap();
        assert_eq!(c.get_password(), Some(&b"own"[..]));
        let c = warehouse_config("host=db.example user=loader", "V", pw()).unwrap();
        assert_eq!(c.get_password(), Some(&b"p@ss/w:rd?%"[..]));
        // A bad URL is named by its variable, and not repeated.
        let e = warehouse_config(
            "postgres://u:s3cret@h:notaport/db",
            "KPI_WAREHOUSE_URL",
            None,
        )
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("$KPI_WAREHOUSE_URL"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }
}
