//! `kpi-postgres`: connections to PostgreSQL made the way `psql` makes
//! them, for everything in kpi that talks to a PostgreSQL server (a query
//! read as a source, the warehouse export).
//!
//! It owns TLS (the URL's `sslmode`, and a `ca_file` that turns on the
//! certificate check) and how a server error is put in words: PostgreSQL's
//! own message with its detail and hint, never the connection URL, which
//! holds the password.

use std::path::Path;
use std::sync::Arc;

use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Connects with `url` (`postgres://user:password@host:5432/db?sslmode=...`),
/// checking the server's certificate against `ca_file` when one is given.
/// The connection runs on the current tokio runtime until the client is
/// dropped. An error is PostgreSQL's words, never the URL.
pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<Client, String> {
    connect_with(&parse_url(url)?, ca_file).await
}

/// `url` as a connection configuration, to be completed before connecting
/// (a password from `PGPASSWORD` goes in with [`tokio_postgres::Config::password`],
/// never spliced into the text). An error does not repeat the URL.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    url.parse::<tokio_postgres::Config>()
        .map_err(|e| format!("not a PostgreSQL connection URL: {}", pg_error(&e)))
}

/// [`connect`] with a configuration already made.
pub async fn connect_with(
    config: &tokio_postgres::Config,
    ca_file: Option<&Path>,
) -> Result<Client, String> {
    let tls = tls(ca_file)?;
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| format!("connecting to PostgreSQL: {}", pg_error(&e)))?;
    tokio::spawn(async move {
        // Ends with the client; its errors surface on the queries.
        let _ = connection.await;
    });
    Ok(client)
}

/// A name quoted as a PostgreSQL identifier (`"order"`).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// TLS as `psql` does it: the URL's `sslmode` (`prefer` by default,
/// `require`, `disable`) says whether to encrypt, and, as with libpq's
/// `prefer` and `require`, the server's certificate is not checked, unless
/// `ca_file` is set: then it must chain to that authority or a public one
/// and name the host (libpq's `verify-full`). rustls with ring, the
/// provider the rest of the tree uses.
fn tls(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let Some(path) = ca_file else {
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth();
        return Ok(MakeRustlsConnect::new(config));
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let pem = std::fs::read(&path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        added += 1;
    }
    if added == 0 {
        return Err(format!(
            "ca_file {}: no PEM certificate in it",
            path.display()
        ));
    }
    let config = builder.with_root_certificates(roots).with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Encryption without a certificate check (libpq's `sslmode=require`):
/// the handshake's signatures are still verified.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// PostgreSQL's own message (`relation "costs" does not exist`), with its
/// detail and hint; the connection URL is not part of it.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_string();
            if let Some(d) = db.detail() {
                text.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                text.push_str(&format!("; {h}"));
            }
            text
        }
        // `error performing TLS handshake` says little without its cause
        // (`invalid peer certificate: UnknownIssuer`).
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}
