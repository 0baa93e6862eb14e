//! rustls configurations: the API server's (optional, verified client certificates) and the
//! clients' (in-process components, tests, joining nodes).
//!
//! The ring provider is passed explicitly rather than installed process-wide, so these configs
//! work whatever other crates in the binary choose as default provider.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{PkiError, Result};
use crate::pem::{certs_from_pem, key_from_pem};

/// ALPN protocols the API server offers, preferred first (kubectl speaks both).
pub const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Tls(e.to_string())
}

fn root_store(what: &'static str, ca_pem: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(what, ca_pem)? {
        roots.add(cert).map_err(|e| PkiError::InvalidPem { what, reason: e.to_string() })?;
    }
    Ok(roots)
}

/// A server config presenting `cert_chain_pem`/`key_pem`, offering h2 and http/1.1.
///
/// Clients may connect without a certificate (service-account tokens, anonymous `/cacerts`),
/// but a certificate they do present must chain to `client_ca_pem`, or the handshake fails.
/// After the handshake, `ServerConnection::peer_certificates()` holds the verified chain.
pub fn server_tls_config(cert_chain_pem: &str, key_pem: &str, client_ca_pem: &str) -> Result<ServerConfig> {
    let provider = provider();
    let client_roots = Arc::new(root_store("client CA", client_ca_pem)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(client_roots, provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(tls_err)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_from_pem("serving certificate", cert_chain_pem)?, key_from_pem("serving key", key_pem)?)
        .map_err(tls_err)?;
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client config trusting `ca_pem` and authenticating with the given certificate and key.
///
/// No ALPN is set; HTTP clients set their own.
pub fn client_tls_config(ca_pem: &str, client_cert_pem: &str, client_key_pem: &str) -> Result<ClientConfig> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(root_store("server CA", ca_pem)?)
        .with_client_auth_cert(
            certs_from_pem("client certificate", client_cert_pem)?,
            key_from_pem("client key", client_key_pem)?,
        )
        .map_err(tls_err)
}

/// A client config trusting `ca_pem` without a client certificate (token or anonymous access).
pub fn anonymous_client_tls_config(ca_pem: &str) -> Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(root_store("server CA", ca_pem)?)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_reported_not_panicked() {
        assert!(matches!(server_tls_config("", "", ""), Err(PkiError::InvalidPem { .. })));
        assert!(matches!(client_tls_config("junk", "", ""), Err(PkiError::InvalidPem { .. })));
        assert!(anonymous_client_tls_config("").is_err());
    }
}
