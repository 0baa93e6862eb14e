//! The join endpoints, beside the Kubernetes API on the same port: `/cacerts` and `/ping`
//! for anyone, and for holders of a join token the node credentials (kubelet client and
//! serving certificates, proxy client certificate, each signed for a CSR the node made), the
//! API server addresses, and for servers the cluster's bootstrap material sealed with the
//! token. See [`k3rs_pki::join`] for the protocol.

mod auth;
pub mod node_password;

use axum::extract::Request;
use axum::response::Response;
use http::request::Parts;
use http::{Method, StatusCode, header};
use k3rs_api::{ApiError, Reason};
use k3rs_pki::join::{self as protocol, BootstrapBundle};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::http::response;
use crate::state::AppState;
use auth::JoinRole;

/// Largest CSR accepted.
const MAX_CSR_BYTES: usize = 16 * 1024;
const ENCRYPT_PREFIX: &str = "/v1-k3rs/encrypt/";

/// Whether `path` is served by the join endpoints (with their own authentication).
pub fn is_join_path(path: &str) -> bool {
    path == protocol::CACERTS_PATH
        || path == protocol::PING_PATH
        || (path.starts_with(protocol::TOKEN_PATH_PREFIX) && !path.starts_with(ENCRYPT_PREFIX))
}

fn pem(body: String) -> Response {
    axum::response::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-pem-file")
        .body(axum::body::Body::from(body))
        .unwrap_or_default()
}

fn header_value<'a>(req: &'a Parts, name: &str) -> &'a str {
    req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").trim()
}

pub async fn serve(state: Arc<AppState>, req: Request) -> Response {
    match serve_inner(state, req).await {
        Ok(resp) => resp,
        Err(e) => response::error(&e),
    }
}

async fn serve_inner(state: Arc<AppState>, req: Request) -> Result<Response, ApiError> {
    let (req, body) = req.into_parts();
    let path = req.uri.path().to_string();
    let method = req.method.clone();
    match (method.clone(), path.as_str()) {
        (Method::GET, protocol::CACERTS_PATH) => {
            return Ok(pem(String::from_utf8_lossy(state.options.pki.cacerts_bundle()).into_owned()));
        }
        (Method::GET, protocol::PING_PATH) => return Ok(response::text(StatusCode::OK, "pong")),
        _ => {}
    }
    let Some(role) = auth::authenticate(&state, &req).await else {
        return Err(ApiError::unauthorized());
    };
    match (method, path.as_str()) {
        (Method::POST, protocol::CLIENT_KUBELET_CERT_PATH) => {
            let node = node_identity(&state, &req).await?;
            let csr = read_csr(body).await?;
            let cert =
                sign(|| state.options.pki.sign_client_csr(&csr, &format!("system:node:{node}"), &["system:nodes"]))?;
            Ok(pem(format!("{cert}{}", state.options.pki.client_ca_pem())))
        }
        (Method::POST, protocol::SERVING_KUBELET_CERT_PATH) => {
            let node = node_identity(&state, &req).await?;
            let mut sans = vec![node.clone()];
            for ip in header_value(&req, protocol::NODE_IP_HEADER).split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let parsed: std::net::IpAddr =
                    ip.parse().map_err(|_| ApiError::bad_request(format!("{ip:?} is not an IP address")))?;
                sans.push(parsed.to_string());
            }
            let csr = read_csr(body).await?;
            let cert = sign(|| state.options.pki.sign_serving_csr(&csr, &node, &[], &sans))?;
            Ok(pem(format!("{cert}{}", state.options.pki.server_ca_pem())))
        }
        (Method::POST, protocol::CLIENT_KUBE_PROXY_CERT_PATH) => {
            let csr = read_csr(body).await?;
            let user = crate::policy::bindings::PROXY_USER;
            let cert = sign(|| state.options.pki.sign_client_csr(&csr, user, &[]))?;
            Ok(pem(format!("{cert}{}", state.options.pki.client_ca_pem())))
        }
        (Method::GET, protocol::API_SERVERS_PATH) => {
            Ok(response::json(StatusCode::OK, &json!(api_servers(&state).await?)))
        }
        (Method::GET, protocol::SERVER_BOOTSTRAP_PATH) => {
            if role != JoinRole::Server {
                return Err(ApiError::forbidden(
                    "the server bootstrap material is only for servers: join with the server token",
                ));
            }
            let sealed = bootstrap_bundle(&state).await?;
            Ok(response::json(StatusCode::OK, &serde_json::to_value(sealed).unwrap_or(Value::Null)))
        }
        _ => Err(ApiError::new(Reason::NotFound, format!("no join endpoint {path}"))),
    }
}

fn sign(f: impl FnOnce() -> k3rs_pki::Result<String>) -> Result<String, ApiError> {
    f().map_err(|e| ApiError::bad_request(format!("signing the certificate: {e}")))
}

/// The node the request is for, after its password checked out.
async fn node_identity(state: &AppState, req: &Parts) -> Result<String, ApiError> {
    let node = header_value(req, protocol::NODE_NAME_HEADER).to_string();
    if node.is_empty() {
        return Err(ApiError::bad_request(format!("the {} header is required", protocol::NODE_NAME_HEADER)));
    }
    if let Some(problem) = k3rs_api::validation::names::dns1123_subdomain(&node).first() {
        return Err(ApiError::bad_request(format!("node name {node:?}: {problem}")));
    }
    node_password::check_or_store(state, &node, header_value(req, protocol::NODE_PASSWORD_HEADER)).await?;
    Ok(node)
}

async fn read_csr(body: axum::body::Body) -> Result<String, ApiError> {
    let body = axum::body::to_bytes(body, MAX_CSR_BYTES)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the certificate signing request: {e}")))?;
    String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the certificate signing request is not PEM text"))
}

/// `host:port` of every API server, from the `default/kubernetes` Endpoints.
async fn api_servers(state: &AppState) -> Result<Vec<String>, ApiError> {
    let endpoints = state.get_object("/registry/endpoints/default/kubernetes").await?;
    let mut out = Vec::new();
    for subset in endpoints.iter().flat_map(|e| e.get("subsets").and_then(Value::as_array).into_iter().flatten()) {
        let port = subset.pointer("/ports/0/port").and_then(Value::as_i64).unwrap_or(6443);
        for addr in subset.get("addresses").and_then(Value::as_array).into_iter().flatten() {
            if let Some(ip) = addr.get("ip").and_then(Value::as_str) {
                let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
                out.push(format!("{host}:{port}"));
            }
        }
    }
    Ok(out)
}

async fn bootstrap_bundle(state: &AppState) -> Result<protocol::SealedBundle, ApiError> {
    let tls_dir = state.options.pki.dir().to_path_buf();
    let encryption_config = state.options.secrets_encryption.config_path().map(|p| p.to_path_buf());
    let secret = state.options.join_tokens.server.secret.clone();
    // File reads and the key derivation are blocking work.
    tokio::task::spawn_blocking(move || {
        let tls = k3rs_pki::bootstrap::read_bootstrap_files(&tls_dir)
            .map_err(|e| ApiError::internal(format!("reading the bootstrap material: {e}")))?;
        let encryption_config = encryption_config.and_then(|p| std::fs::read_to_string(p).ok());
        BootstrapBundle { tls, encryption_config }
            .seal(&secret)
            .map_err(|e| ApiError::internal(format!("sealing the bootstrap material: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(format!("bootstrap task: {e}")))?
}
