//! httpGet probes: a GET with upstream's headers; any status from 200 to 399 is a
//! success. Redirects to the same host are followed (up to 10); a redirect to
//! another host ends the probe as a success with a warning, as upstream does.
//! HTTPS is checked without verifying the certificate, as upstream does.

use std::sync::Arc;
use std::time::Duration;

use super::tcp::dial_error;
use super::{Dialer, Outcome, join_host_port};
use http::{Request, StatusCode, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

const USER_AGENT: &str = "kube-probe/1.33";
const MAX_REDIRECTS: usize = 10;

fn insecure_tls() -> Arc<rustls::ClientConfig> {
    Arc::new(k3rs_pki::unverified_client_tls_config())
}

/// One GET; the status and, for redirects, the Location header.
async fn get_once(
    https: bool,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    dialer: &dyn Dialer,
) -> Result<(StatusCode, Option<String>), String> {
    let addr = join_host_port(host, port);
    let tcp = dialer.dial(host, port).await.map_err(|e| dial_error(&addr, &e))?;
    let mut req = Request::get(path);
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    if !has("host") {
        req = req.header(header::HOST, &addr);
    }
    if !has("user-agent") {
        req = req.header(header::USER_AGENT, USER_AGENT);
    }
    if !has("accept") {
        req = req.header(header::ACCEPT, "*/*");
    }
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Empty::<bytes::Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = if https {
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(insecure_tls())
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        send(TokioIo::new(tls), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(String::from);
    Ok((resp.status(), location))
}

async fn send<T>(io: T, req: Request<Empty<bytes::Bytes>>) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

pub async fn probe(
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
    dialer: &dyn Dialer,
) -> Outcome {
    let https = scheme.eq_ignore_ascii_case("HTTPS");
    let url = format!("{}://{}{path}", if https { "https" } else { "http" }, join_host_port(host, port));
    let run = async {
        let mut path = path.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let (status, location) = get_once(https, host, port, &path, headers, dialer).await?;
            if !status.is_redirection() {
                return Ok(Ok(status));
            }
            let Some(location) = location else { return Ok(Ok(status)) };
            match same_host_path(&location, host, port) {
                Some(next) => path = next,
                None => return Ok(Err(format!("Probe terminated redirects, Response status: {status}"))),
            }
        }
        Err("stopped after 10 redirects".to_string())
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Ok(Err(msg)) => Outcome::Failure(format!("Get \"{url}\": {msg}")),
        Ok(Ok(Err(warning))) => Outcome::Warning(warning),
        Ok(Ok(Ok(status))) if (200..400).contains(&status.as_u16()) => Outcome::Success,
        Ok(Ok(Ok(status))) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", status.as_u16())),
    }
}

/// One GET for an httpGet lifecycle hook: any HTTP answer counts (upstream's hooks only
/// fail when the request itself fails); returns the status code.
pub async fn get_status(
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
    dialer: &dyn Dialer,
) -> Result<u16, String> {
    let https = scheme.eq_ignore_ascii_case("HTTPS");
    let url = format!("{}://{}{path}", if https { "https" } else { "http" }, join_host_port(host, port));
    match tokio::time::timeout(timeout, get_once(https, host, port, path, headers, dialer)).await {
        Err(_) => Err(format!("Get \"{url}\": context deadline exceeded")),
        Ok(Err(msg)) => Err(format!("Get \"{url}\": {msg}")),
        Ok(Ok((status, _))) => Ok(status.as_u16()),
    }
}

/// The path to request next when `location` stays on the probed host.
fn same_host_path(location: &str, host: &str, port: u16) -> Option<String> {
    if location.starts_with('/') {
        return Some(location.to_string());
    }
    let rest = location.strip_prefix("http://").or_else(|| location.strip_prefix("https://"))?;
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
    (authority == join_host_port(host, port) || authority == host).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::HostDialer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A tiny HTTP server answering each connection from a list of canned responses.
    async fn serve(responses: Vec<&'static str>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for resp in responses {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(
                    req.contains("User-Agent: kube-probe/1.33") || req.contains("user-agent: kube-probe/1.33"),
                    "{req}"
                );
                s.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        port
    }

    #[tokio::test]
    async fn statuses() {
        let port = serve(vec!["HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]).await;
        assert_eq!(
            probe("HTTP", "127.0.0.1", port, "/", &[], Duration::from_secs(2), &HostDialer).await,
            Outcome::Success
        );
        let port = serve(vec!["HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"]).await;
        assert_eq!(
            probe("HTTP", "127.0.0.1", port, "/", &[], Duration::from_secs(2), &HostDialer).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        let port = serve(vec![
            "HTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        assert_eq!(
            probe("HTTP", "127.0.0.1", port, "/", &[], Duration::from_secs(2), &HostDialer).await,
            Outcome::Failure("HTTP probe failed with statuscode: 404".into())
        );
    }

    #[tokio::test]
    async fn refused_and_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts but never answers: the probe times out.
        let slow = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        match probe("HTTP", "127.0.0.1", port, "/h", &[], Duration::from_millis(300), &HostDialer).await {
            Outcome::Failure(m) => assert!(m.contains("context deadline exceeded"), "{m}"),
            other => panic!("{other:?}"),
        }
        slow.abort();
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            probe("HTTP", "127.0.0.1", port, "/h", &[], Duration::from_secs(1), &HostDialer).await,
            Outcome::Failure(format!(
                "Get \"http://127.0.0.1:{port}/h\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }
}
