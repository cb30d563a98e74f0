//! What can go wrong talking to Meta, in words a person can act on.

use kpi_connector::{ConnectorError, ConvertError, HttpError, SecretError};

/// Why building, checking or reading the Meta connector failed. Every
/// message has been through the source's redactor; none holds the token.
#[derive(Debug, thiserror::Error)]
pub enum MetaAdsError {
    /// The `[sources.<name>]` settings are unusable.
    #[error("source {source_name}: {message}")]
    Config {
        /// The source's name in `kpi.toml`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// The access token could not be read from the environment.
    #[error("source {source_name}: {error}")]
    Secret {
        /// The source's name.
        source_name: String,
        /// Which variable, and why.
        #[source]
        error: SecretError,
    },
    /// Meta refused the access token (error 190: expired, revoked, or the
    /// user changed their password). Retrying cannot help.
    #[error(
        "source {source_name}: Meta refused the access token in {env} (error 190: expired, revoked or invalid); \
         create a new token (a system-user token does not expire) and set {env}. {error}"
    )]
    AccessToken {
        /// The source's name.
        source_name: String,
        /// The environment variable the token came from.
        env: String,
        /// The request and Meta's own message.
        #[source]
        error: Box<HttpError>,
    },
    /// Any other failed request; carries Meta's own message.
    #[error("source {source_name}: {error}")]
    Http {
        /// The source's name.
        source_name: String,
        /// The request and Meta's message.
        #[source]
        error: Box<HttpError>,
    },
    /// A page did not fit the stream's schema.
    #[error("source {source_name}: {origin}: {error}")]
    Convert {
        /// The source's name.
        source_name: String,
        /// The request whose page failed, redacted.
        origin: String,
        /// The row, field and value.
        #[source]
        error: Box<ConvertError>,
    },
    /// Meta answered with a body the connector does not understand, or an
    /// asynchronous report run failed or took too long.
    #[error("source {source_name}: {origin}: {message}")]
    Response {
        /// The source's name.
        source_name: String,
        /// `METHOD url`, redacted.
        origin: String,
        /// What was expected or what happened.
        message: String,
    },
}

impl From<MetaAdsError> for ConnectorError {
    fn from(e: MetaAdsError) -> Self {
        match e {
            MetaAdsError::Config { .. } => ConnectorError::Config(e.to_string()),
            MetaAdsError::Secret { error, .. } => ConnectorError::Secret(error),
            // Keep the HTTP error (the runner may look at its status) but put
            // the source and the remedy in the message a person reads.
            MetaAdsError::AccessToken {
                source_name,
                env,
                error,
            } => match *error {
                HttpError::Status {
                    origin,
                    status,
                    message,
                    retries,
                } => ConnectorError::Http(HttpError::Status {
                    origin,
                    status,
                    message: format!(
                        "{message} [source {source_name}: Meta refused the access token in {env} \
                         (error 190: expired, revoked or invalid); create a new token and set {env}]"
                    ),
                    retries,
                }),
                other => ConnectorError::Http(other),
            },
            MetaAdsError::Http { error, .. } => ConnectorError::Http(*error),
            MetaAdsError::Convert { origin, error, .. } => ConnectorError::Response {
                origin,
                message: error.to_string(),
            },
            MetaAdsError::Response {
                source_name,
                origin,
                message,
            } => ConnectorError::Response {
                origin,
                message: format!("{message} (source {source_name})"),
            },
        }
    }
}
