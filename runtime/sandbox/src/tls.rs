//! The one TLS client configuration: rustls (ring) with the Mozilla root
//! store (webpki-roots), used by skills' outbound HTTPS, provider calls and
//! package downloads.

use std::sync::{Arc, OnceLock};
use tokio_rustls::TlsConnector;

/// The client configuration trusting the public web PKI (built once).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// A connector with [`client_config`].
pub fn connector() -> TlsConnector {
    TlsConnector::from(client_config())
}
