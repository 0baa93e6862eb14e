//! Connections to kubelets: TCP, TLS (the kubelet's serving certificate verified against
//! the cluster's server CA; the API server's `system:kube-apiserver` client certificate
//! presented), HTTP/1.1 with upgrades.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k3rs_api::{ApiError, Reason};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::debug;

use super::location::KubeletAddress;

/// How long connecting (TCP and TLS) to a kubelet may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn unreachable(node: &str, address: &KubeletAddress, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        Reason::ServiceUnavailable,
        format!("error dialing backend: the kubelet of node {node:?} at {address} is unreachable: {why}"),
    )
}

/// Sends `request` (without body) to the kubelet at `address` and returns its response;
/// the connection stays alive as long as the response body or upgrade is in use.
pub async fn send(
    tls: Arc<rustls::ClientConfig>,
    node: &str,
    address: &KubeletAddress,
    request: Request<Empty<Bytes>>,
) -> Result<Response<Incoming>, ApiError> {
    let server_name = match address.host.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(address.host.clone())
            .map_err(|e| unreachable(node, address, format!("invalid host name: {e}")))?,
    };
    let connect = async {
        let tcp = TcpStream::connect((address.host.as_str(), address.port)).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        TlsConnector::from(tls).connect(server_name, tcp).await.map_err(|e| format!("TLS handshake failed: {e}"))
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(why)) => return Err(unreachable(node, address, why)),
        Err(_) => return Err(unreachable(node, address, format!("no answer within {CONNECT_TIMEOUT:?}"))),
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(node, address, e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            debug!(error = %e, "kubelet connection ended with an error");
        }
    });
    sender.send_request(request).await.map_err(|e| unreachable(node, address, e))
}
