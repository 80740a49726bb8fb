//! The one TLS client configuration: rustls with the Mozilla root store
//! (webpki-roots), used by skills' outbound HTTPS and by package downloads.

use std::sync::{Arc, OnceLock};
use tokio_rustls::TlsConnector;

/// A connector trusting the public web PKI (built once).
pub fn connector() -> TlsConnector {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    TlsConnector::from(config.clone())
}
