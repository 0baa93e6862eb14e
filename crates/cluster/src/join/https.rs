//! A minimal HTTPS/1.1 client for the join endpoints: one connection per request, with the
//! TLS configuration the caller chose (unverified only for fetching the CA bundle).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::JoinError;

/// Largest answer read from a join endpoint.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses `https://host[:port][/]` (port 6443 when absent).
    pub fn parse(url: &str) -> Result<Endpoint, JoinError> {
        let invalid = |why: &str| JoinError::InvalidUrl(format!("{url:?}: {why}"));
        let rest = url.trim().strip_prefix("https://").ok_or_else(|| invalid("must start with https://"))?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(invalid("expected https://host:port"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, tail) = v6.split_once(']').ok_or_else(|| invalid("unclosed IPv6 bracket"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| invalid("bad port"))?,
                None if tail.is_empty() => 6443,
                None => return Err(invalid("bad port")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| invalid("bad port"))?),
                None => (authority.to_string(), 6443),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(Endpoint { host, port })
    }

    fn server_name(&self) -> Result<ServerName<'static>, JoinError> {
        ServerName::try_from(self.host.clone()).map_err(|_| JoinError::InvalidUrl(format!("bad host {:?}", self.host)))
    }
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Sends one request and reads the whole answer.
pub async fn request(
    endpoint: &Endpoint,
    tls: Arc<ClientConfig>,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<Reply, JoinError> {
    let connect = |e: String| JoinError::Connect(format!("{}:{}: {e}", endpoint.host, endpoint.port));
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await.map_err(|e| connect(e.to_string()))?;
    let tls_stream =
        TlsConnector::from(tls).connect(endpoint.server_name()?, tcp).await.map_err(|e| connect(e.to_string()))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls_stream)).await.map_err(|e| connect(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = Request::builder().method(method).uri(path).header(http::header::HOST, &endpoint.host);
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let req = builder.body(Full::new(Bytes::from(body))).map_err(|e| JoinError::Protocol(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| connect(e.to_string()))?;
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| JoinError::Protocol(format!("reading the answer: {e}")))?
        .to_bytes();
    driver.abort();
    Ok(Reply { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Endpoint::parse("https://10.0.0.1:6443").unwrap(), Endpoint { host: "10.0.0.1".into(), port: 6443 });
        assert_eq!(Endpoint::parse("https://cp.example/").unwrap().port, 6443);
        assert_eq!(Endpoint::parse("https://[::1]:7443").unwrap(), Endpoint { host: "::1".into(), port: 7443 });
        for bad in ["http://x:1", "https://", "https://x:y", "https://x:1/path"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
