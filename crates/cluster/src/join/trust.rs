//! TLS trust for joining: the first request (`/cacerts`) must be made before the node can know
//! the cluster's CA, so it accepts any server certificate; what it fetches is trusted only
//! once its hash matches the token. Every later request trusts exactly that CA.

use std::sync::Arc;

use rustls::ClientConfig;

/// The configuration for fetching `/cacerts` before anything is trusted.
pub fn unverified() -> Result<Arc<ClientConfig>, String> {
    Ok(Arc::new(k3rs_pki::unverified_client_tls_config()))
}

/// The configuration trusting only `ca_pem`.
pub fn pinned(ca_pem: &str) -> Result<Arc<ClientConfig>, String> {
    k3rs_pki::anonymous_client_tls_config(ca_pem).map(Arc::new).map_err(|e| e.to_string())
}
