//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: checked here (pod,
//! container, node), served by the kubelet of the pod's node.
//!
//! Logs are relayed as a streamed body. Exec, attach and port-forward are protocol
//! upgrades (WebSocket or SPDY): the client's upgrade headers go to the kubelet, the
//! kubelet's `101 Switching Protocols` comes back, and the two upgraded connections are
//! joined byte for byte, so every protocol the kubelet speaks works end to end.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::Value;
use tracing::debug;

use super::client;
use super::location::{StreamKind, kubelet_address, kubelet_path, resolve_container};
use crate::objects;
use crate::rest::ResourceRequest;
use crate::rest::read::load;
use crate::route::Verb;

/// Request headers a kubelet needs to negotiate an upgrade.
const UPGRADE_REQUEST_HEADERS: [&str; 6] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];
/// Response headers of a kubelet's `101` that the client needs.
const UPGRADE_RESPONSE_HEADERS: [&str; 5] =
    ["connection", "upgrade", "sec-websocket-accept", "sec-websocket-protocol", "x-stream-protocol-version"];
/// How much of a kubelet's error body is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, names: &[&str]) {
    for name in names {
        for value in from.get_all(*name) {
            if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                to.append(name, value.clone());
            }
        }
    }
}

async fn load_node(r: &ResourceRequest, name: &str) -> Result<Value, ApiError> {
    let def = r
        .registry
        .lookup("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("the nodes resource is not registered"))?;
    let storage = r.registry.storage_def(&def);
    let kv = r
        .state
        .store
        .get(&storage.key(None, name))
        .await
        .map_err(|e| objects::store_error(&storage, name, e))?
        .ok_or_else(|| ApiError::not_found("nodes", "", name))?;
    r.state.codec.decode(&kv)
}

/// Serves one streaming subresource request; `upgrade` is the client connection's pending
/// upgrade (HTTP/1.1 only).
pub async fn proxy(r: &ResourceRequest, kind: StreamKind, upgrade: Option<OnUpgrade>) -> Result<Response, ApiError> {
    let method = match (r.info.verb, kind) {
        (Verb::Get, _) => Method::GET,
        (Verb::Create, StreamKind::Exec | StreamKind::Attach | StreamKind::PortForward) => Method::POST,
        (verb, _) => {
            return Err(ApiError::method_not_allowed(format!(
                "{} is not supported on pods/{}",
                verb.as_str(),
                kind.as_subresource()
            )));
        }
    };
    let (pod, _) = load(r).await?;
    let pod_name = meta::name(&pod).to_string();
    let container = match kind {
        StreamKind::PortForward => None,
        _ => Some(resolve_container(&pod, r.query.get("container"))?),
    };
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").to_string();
    if node.is_empty() {
        // Upstream answers an empty log for a pod that is not scheduled yet.
        if kind == StreamKind::Log {
            return Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::empty())
                .unwrap_or_default());
        }
        return Err(ApiError::bad_request(format!("pod {pod_name} does not have a host assigned")));
    }
    let address = kubelet_address(&load_node(r, &node).await?)?;
    let tls = r.state.options.kubelet_tls.clone().ok_or_else(|| {
        ApiError::new(Reason::ServiceUnavailable, "this API server has no client certificate for kubelets")
    })?;

    let path = kubelet_path(kind, r.namespace().unwrap_or(""), &pod_name, container.as_deref(), &r.query);
    let mut request = Request::builder()
        .method(method)
        .uri(&path)
        .header(header::HOST, address.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::internal(format!("building the kubelet request: {e}")))?;
    let wants_upgrade = kind != StreamKind::Log;
    if wants_upgrade {
        copy_headers(&r.headers, request.headers_mut(), &UPGRADE_REQUEST_HEADERS);
    }
    if let Some(agent) = r.headers.get(header::USER_AGENT) {
        request.headers_mut().insert(header::USER_AGENT, agent.clone());
    }

    let mut response = client::send(tls, &node, &address, request).await?;
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = upgrade else {
            return Err(ApiError::bad_request("this connection cannot be upgraded (upgrades need HTTP/1.1)"));
        };
        let mut answer =
            Response::builder().status(StatusCode::SWITCHING_PROTOCOLS).body(Body::empty()).unwrap_or_default();
        copy_headers(response.headers(), answer.headers_mut(), &UPGRADE_RESPONSE_HEADERS);
        let kubelet_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(join_upgraded(client_upgrade, kubelet_upgrade));
        return Ok(answer);
    }
    if !status.is_success() {
        return Err(kubelet_error(status, response.into_body()).await);
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("text/plain"));
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::new(response.into_body()))
        .unwrap_or_default())
}

/// Pipes the client's and the kubelet's upgraded connections into each other until both
/// directions are done (half-closes are passed on).
async fn join_upgraded(client: OnUpgrade, kubelet: OnUpgrade) {
    let (client, kubelet) = tokio::join!(client, kubelet);
    let (Ok(client), Ok(kubelet)) = (client, kubelet) else {
        debug!("a streaming upgrade did not complete");
        return;
    };
    let mut client = TokioIo::new(client);
    let mut kubelet = TokioIo::new(kubelet);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut kubelet).await {
        debug!(error = %e, "streaming connection ended with an error");
    }
}

/// A kubelet's failure as a `Status` for the client (the kubelet answers `Status` JSON; a
/// plain-text body becomes the message).
async fn kubelet_error(status: StatusCode, body: hyper::body::Incoming) -> ApiError {
    let limited = http_body_util::Limited::new(body, MAX_ERROR_BODY);
    let bytes = limited.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
    let reason = match status.as_u16() {
        400 => Reason::BadRequest,
        401 => Reason::Unauthorized,
        403 => Reason::Forbidden,
        404 => Reason::NotFound,
        405 => Reason::MethodNotAllowed,
        501 => Reason::NotImplemented,
        503 => Reason::ServiceUnavailable,
        _ => Reason::InternalError,
    };
    let mut err =
        ApiError::new(reason, if message.is_empty() { format!("the kubelet answered {status}") } else { message });
    err.code = status.as_u16();
    err
}
