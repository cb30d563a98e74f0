//! What can go wrong talking to HubSpot, in words a person can act on.

use kpi_connector::{ConnectorError, ConvertError, HttpError, SecretError};

/// Why building, checking or reading the HubSpot connector failed. Every
/// message has been through the source's redactor; none holds a token.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// The `[sources.<name>]` settings are unusable.
    #[error("source {source_name}: {message}")]
    Config {
        /// The source's name in `kpi.toml`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A secret could not be read from the environment.
    #[error("source {source_name}: {error}")]
    Secret {
        /// The source's name.
        source_name: String,
        /// Which variable, and why.
        #[source]
        error: SecretError,
    },
    /// A request failed; carries HubSpot's own message, and for refused
    /// credentials what to do about them.
    #[error("source {source_name}: {error}{}", if hint.is_empty() { String::new() } else { format!(" [{hint}]") })]
    Http {
        /// The source's name.
        source_name: String,
        /// What to do (empty when there is nothing specific to say).
        hint: String,
        /// The request and HubSpot's message.
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
    /// HubSpot answered with a body the connector does not understand.
    #[error("source {source_name}: {origin}: {message}")]
    Response {
        /// The source's name.
        source_name: String,
        /// `METHOD url`, redacted.
        origin: String,
        /// What was expected.
        message: String,
    },
}

impl From<HubSpotError> for ConnectorError {
    fn from(e: HubSpotError) -> Self {
        match e {
            HubSpotError::Config { .. } => ConnectorError::Config(e.to_string()),
            HubSpotError::Secret { error, .. } => ConnectorError::Secret(error),
            // Keep the HTTP error (the runner may look at its status); put the
            // source and the remedy in the message a person reads.
            HubSpotError::Http {
                source_name,
                hint,
                error,
            } => match *error {
                HttpError::Status {
                    origin,
                    status,
                    message,
                    retries,
                } if !hint.is_empty() => ConnectorError::Http(HttpError::Status {
                    origin,
                    status,
                    message: format!("{message} [source {source_name}: {hint}]"),
                    retries,
                }),
                other => ConnectorError::Http(other),
            },
            HubSpotError::Convert { origin, error, .. } => ConnectorError::Response {
                origin,
                message: error.to_string(),
            },
            HubSpotError::Response {
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
