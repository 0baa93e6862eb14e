//! The joining side of the join flow (agents and servers entering a cluster).
//!
//! [`JoinClient::connect`] fetches `/cacerts` without trusting the server, checks its SHA-256
//! against the `K10<hash>` of the token, and fails with [`JoinError::CaHashMismatch`] before
//! any secret leaves the machine when they differ. Only then does the client talk to the
//! server again, over TLS pinned to that CA, authenticating with the token's secret:
//!
//! ```no_run
//! # async fn join() -> Result<(), k3rs_cluster::JoinError> {
//! use k3rs_cluster::{JoinClient, NodeIdentity};
//! let client = JoinClient::connect("https://10.0.0.1:6443", "K10<hash>::server:<secret>").await?;
//! let node = NodeIdentity::load_or_create("worker-1", std::path::Path::new("/etc/rancher/node/password"))?;
//! let key_and_csr = k3rs_pki::generate_key_and_csr("system:node:worker-1")?;
//! let client_cert = client.kubelet_client_cert(&node, &key_and_csr.csr_pem).await?;
//! # Ok(()) }
//! ```
//!
//! A token without a hash (a bare secret) pins nothing: the CA is trusted on first use, as
//! K3s does, and a warning is logged.

mod https;
mod trust;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use http::{Method, StatusCode};
use k3rs_pki::JoinToken;
use k3rs_pki::join::{self as protocol, AGENT_USER, BootstrapBundle, SERVER_USER, SealedBundle, basic_auth};
use rustls::ClientConfig;

pub use https::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("invalid server URL {0}")]
    InvalidUrl(String),
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("cannot reach the server at {0}")]
    Connect(String),
    /// The server's CA is not the one the token names: nothing secret was sent.
    #[error(
        "the server's CA certificate hash {actual} does not match the token's {expected}; \
         check that the token belongs to this cluster (nothing was sent to the server)"
    )]
    CaHashMismatch { expected: String, actual: String },
    #[error("the server refused the token (401): {0}")]
    Unauthorized(String),
    #[error("the server refused the request (403): {0}")]
    Forbidden(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Pki(#[from] k3rs_pki::PkiError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A node's name and the password that proves it is the machine that first used the name.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity").field("name", &self.name).finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// The identity of `name` with the password kept at `password_file` (K3s:
    /// `/etc/rancher/node/password`), which is created with a random password (mode 0600) on
    /// first use. Blocking file I/O.
    pub fn load_or_create(name: &str, password_file: &Path) -> Result<NodeIdentity, JoinError> {
        let io = |op, source| JoinError::Io { op, path: password_file.display().to_string(), source };
        let existing = match std::fs::read_to_string(password_file) {
            Ok(p) => Some(p.trim().to_string()).filter(|p| !p.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("reading", e)),
        };
        let password = match existing {
            Some(p) => p,
            None => {
                let password = hex::encode(rand::random::<[u8; 16]>());
                if let Some(dir) = password_file.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
                }
                k3rs_pki::write_file_atomic(password_file, password.as_bytes(), 0o600)?;
                password
            }
        };
        Ok(NodeIdentity { name: name.to_string(), password })
    }
}

/// A connection to a server's join endpoints, trusting only the CA the token pins.
pub struct JoinClient {
    endpoint: Endpoint,
    token: JoinToken,
    ca_pem: String,
    tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for JoinClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinClient")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

fn message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v.get("message").and_then(|m| m.as_str()).map(String::from).unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    }
}

impl JoinClient {
    /// Fetches and pins the server's CA (see the module docs). Sends nothing secret.
    pub async fn connect(server_url: &str, token: &str) -> Result<JoinClient, JoinError> {
        let endpoint = Endpoint::parse(server_url)?;
        let token = JoinToken::parse(token).map_err(|e| JoinError::InvalidToken(e.to_string()))?;
        let unverified = trust::unverified().map_err(JoinError::Protocol)?;
        let reply = https::request(&endpoint, unverified, Method::GET, protocol::CACERTS_PATH, &[], Vec::new()).await?;
        if reply.status != StatusCode::OK {
            return Err(JoinError::Server { status: reply.status.as_u16(), message: message(&reply.body) });
        }
        if let Err(k3rs_pki::PkiError::CaHashMismatch { expected, actual }) = token.verify_ca_bundle(&reply.body) {
            return Err(JoinError::CaHashMismatch { expected, actual });
        }
        if token.is_short() {
            tracing::warn!(server = %server_url, "the token has no CA hash: trusting the server's CA on first use");
        }
        let ca_pem = String::from_utf8(reply.body.to_vec())
            .map_err(|_| JoinError::Protocol("the CA bundle is not PEM text".into()))?;
        let tls = trust::pinned(&ca_pem).map_err(JoinError::Protocol)?;
        Ok(JoinClient { endpoint, token, ca_pem, tls })
    }

    /// The pinned CA bundle (the cluster's server CA).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server's `host:port`.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The token with the CA hash filled in (a short token gets the hash of the pinned CA),
    /// to store for later joins.
    pub fn full_token(&self) -> JoinToken {
        let mut token = self.token.clone();
        token.ca_hash = Some(k3rs_pki::token::ca_hash(self.ca_pem.as_bytes()));
        token
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        mut headers: Vec<(&str, String)>,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, JoinError> {
        headers.push(("authorization", basic_auth(user, &self.token.secret)));
        let reply = https::request(&self.endpoint, self.tls.clone(), method, path, &headers, body).await?;
        match reply.status {
            StatusCode::OK => Ok(reply.body),
            StatusCode::UNAUTHORIZED => Err(JoinError::Unauthorized(message(&reply.body))),
            StatusCode::FORBIDDEN => Err(JoinError::Forbidden(message(&reply.body))),
            status => Err(JoinError::Server { status: status.as_u16(), message: message(&reply.body) }),
        }
    }

    /// Checks that the join endpoints answer (`/ping`), over the pinned CA.
    pub async fn ping(&self) -> Result<(), JoinError> {
        let reply =
            https::request(&self.endpoint, self.tls.clone(), Method::GET, protocol::PING_PATH, &[], Vec::new()).await?;
        if reply.status == StatusCode::OK {
            Ok(())
        } else {
            Err(JoinError::Server { status: reply.status.as_u16(), message: message(&reply.body) })
        }
    }

    fn node_headers(node: &NodeIdentity) -> Vec<(&'static str, String)> {
        vec![(protocol::NODE_NAME_HEADER, node.name.clone()), (protocol::NODE_PASSWORD_HEADER, node.password.clone())]
    }

    /// The kubelet's client certificate for the key of `csr_pem` (CN `system:node:<name>`, O
    /// `system:nodes`): the certificate followed by the client CA, PEM.
    pub async fn kubelet_client_cert(&self, node: &NodeIdentity, csr_pem: &str) -> Result<String, JoinError> {
        let body = self
            .call(
                Method::POST,
                protocol::CLIENT_KUBELET_CERT_PATH,
                AGENT_USER,
                Self::node_headers(node),
                csr_pem.as_bytes().to_vec(),
            )
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// The kubelet's serving certificate for `node` and `ips`: the certificate followed by the
    /// server CA, PEM.
    pub async fn kubelet_serving_cert(
        &self,
        node: &NodeIdentity,
        ips: &[IpAddr],
        csr_pem: &str,
    ) -> Result<String, JoinError> {
        let mut headers = Self::node_headers(node);
        let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
        headers.push((protocol::NODE_IP_HEADER, ips.join(",")));
        let body = self
            .call(Method::POST, protocol::SERVING_KUBELET_CERT_PATH, AGENT_USER, headers, csr_pem.as_bytes().to_vec())
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// The node proxy's client certificate (CN `system:kube-proxy`), followed by the client CA.
    pub async fn kube_proxy_cert(&self, csr_pem: &str) -> Result<String, JoinError> {
        let body = self
            .call(
                Method::POST,
                protocol::CLIENT_KUBE_PROXY_CERT_PATH,
                AGENT_USER,
                Vec::new(),
                csr_pem.as_bytes().to_vec(),
            )
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// The API servers' `host:port` addresses.
    pub async fn api_servers(&self) -> Result<Vec<String>, JoinError> {
        let body = self.call(Method::GET, protocol::API_SERVERS_PATH, AGENT_USER, Vec::new(), Vec::new()).await?;
        serde_json::from_slice(&body)
            .map_err(|e| JoinError::Protocol(format!("the API server list is not a JSON array of strings: {e}")))
    }

    /// The cluster's CAs and keys for a joining server (needs the server token), opened with
    /// the token's secret.
    pub async fn server_bootstrap(&self) -> Result<BootstrapBundle, JoinError> {
        let body = self.call(Method::GET, protocol::SERVER_BOOTSTRAP_PATH, SERVER_USER, Vec::new(), Vec::new()).await?;
        let sealed: SealedBundle =
            serde_json::from_slice(&body).map_err(|e| JoinError::Protocol(format!("bootstrap answer: {e}")))?;
        Ok(BootstrapBundle::open(&sealed, &self.token.secret)?)
    }
}

#[cfg(test)]
mod tests;
