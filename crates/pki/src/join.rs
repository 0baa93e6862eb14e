//! The join protocol shared by the server's join endpoints and the joining side: paths,
//! headers, how the join token authenticates, and the sealed server bootstrap bundle.
//!
//! Flow: the joiner fetches [`CACERTS_PATH`] without verifying TLS, checks the bundle's
//! SHA-256 against the token's `K10<hash>`, and only then talks to the other endpoints over TLS
//! pinned to that CA, authenticating with HTTP Basic `<user>:<secret>`: `node` for agents,
//! `server` for servers (bootstrap tokens `<id>.<secret>` act as agent secrets).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::{PkiError, Result};

/// The CA bundle, open to anyone.
pub const CACERTS_PATH: &str = "/cacerts";
/// Liveness of the join endpoints, open to anyone (answers `pong`).
pub const PING_PATH: &str = "/ping";
/// POST a CSR (PEM): the kubelet's client certificate (CN `system:node:<name>`, O `system:nodes`).
pub const CLIENT_KUBELET_CERT_PATH: &str = "/v1-k3rs/client-kubelet.crt";
/// POST a CSR (PEM): the kubelet's serving certificate (SANs: node name and IPs).
pub const SERVING_KUBELET_CERT_PATH: &str = "/v1-k3rs/serving-kubelet.crt";
/// POST a CSR (PEM): the node proxy's client certificate (CN `system:kube-proxy`).
pub const CLIENT_KUBE_PROXY_CERT_PATH: &str = "/v1-k3rs/client-kube-proxy.crt";
/// GET: JSON array of the API servers' `host:port` addresses.
pub const API_SERVERS_PATH: &str = "/v1-k3rs/apiservers";
/// GET (server token only): the [`BootstrapBundle`] sealed with the token's secret.
pub const SERVER_BOOTSTRAP_PATH: &str = "/v1-k3rs/server-bootstrap";
/// Prefix of every join path that needs a join token.
pub const TOKEN_PATH_PREFIX: &str = "/v1-k3rs/";

/// The node a certificate is for.
pub const NODE_NAME_HEADER: &str = "k3rs-node-name";
/// The node's password (`/etc/rancher/node/password`), proving it is the same machine.
pub const NODE_PASSWORD_HEADER: &str = "k3rs-node-password";
/// The node's IP addresses, comma separated (SANs of its serving certificate).
pub const NODE_IP_HEADER: &str = "k3rs-node-ip";

/// The Basic-auth user of agents.
pub const AGENT_USER: &str = "node";
/// The Basic-auth user of servers.
pub const SERVER_USER: &str = "server";

/// `Authorization` header value for `user` with `secret`.
pub fn basic_auth(user: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")))
}

/// (user, secret) of a Basic `Authorization` header value.
pub fn parse_basic_auth(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    Some((user.to_string(), secret.to_string()))
}

/// What a joining server receives: the cluster's CAs and keys and, when secrets encryption
/// is configured, its key file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapBundle {
    /// File name -> PEM, for `<data-dir>/server/tls` (see [`crate::bootstrap`]).
    pub tls: BTreeMap<String, String>,
    /// Content of `<data-dir>/server/cred/encryption-config.json`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<String>,
}

impl std::fmt::Debug for BootstrapBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapBundle").field("files", &self.tls.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// The sealed form on the wire: `{"sealed": "<base64>"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedBundle {
    pub sealed: String,
}

impl BootstrapBundle {
    /// Seals the bundle with the token secret.
    pub fn seal(&self, token_secret: &str) -> Result<SealedBundle> {
        let json = serde_json::to_vec(self).map_err(|e| PkiError::Unsupported(format!("encoding the bundle: {e}")))?;
        Ok(SealedBundle { sealed: crate::sealed::seal(token_secret, &json)? })
    }

    /// Opens a sealed bundle with the token secret.
    pub fn open(sealed: &SealedBundle, token_secret: &str) -> Result<BootstrapBundle> {
        let json = crate::sealed::open(token_secret, &sealed.sealed)?;
        serde_json::from_slice(&json).map_err(|e| PkiError::Unsupported(format!("decoding the bundle: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_round_trip() {
        let header = basic_auth("node", "a:b");
        assert_eq!(parse_basic_auth(&header), Some(("node".into(), "a:b".into())));
        assert_eq!(parse_basic_auth("Bearer x"), None);
        assert_eq!(parse_basic_auth("Basic !!!"), None);
    }

    #[test]
    fn bundle_seals_with_the_token() {
        let bundle = BootstrapBundle {
            tls: BTreeMap::from([("server-ca.key".to_string(), "KEY".to_string())]),
            encryption_config: None,
        };
        let sealed = bundle.seal("secret").unwrap();
        assert!(!sealed.sealed.contains("KEY"));
        assert_eq!(BootstrapBundle::open(&sealed, "secret").unwrap(), bundle);
        assert!(BootstrapBundle::open(&sealed, "wrong").is_err());
    }
}
