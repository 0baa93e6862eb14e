//! grpc probes: the standard health-checking protocol (`grpc.health.v1.Health/Check`)
//! over plaintext HTTP/2; only `SERVING` is a success.

use std::time::Duration;

use super::{Dialer, Outcome, join_host_port};
use bytes::{Buf, Bytes};
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

const STATUS_NAMES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// The request message: `HealthCheckRequest { string service = 1; }`, gRPC-framed.
fn request_frame(service: Option<&str>) -> Bytes {
    let mut msg = Vec::new();
    if let Some(s) = service.filter(|s| !s.is_empty()) {
        msg.push(0x0a);
        encode_varint(s.len() as u64, &mut msg);
        msg.extend_from_slice(s.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    Bytes::from(frame)
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn decode_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.first()?;
        buf.advance(1);
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `status` of a `HealthCheckResponse` (field 1, an enum); absent means UNKNOWN.
fn response_status(frame: &[u8]) -> Option<u64> {
    if frame.len() < 5 {
        return None;
    }
    let mut msg = &frame[5..];
    let mut status = 0;
    while !msg.is_empty() {
        let key = decode_varint(&mut msg)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = decode_varint(&mut msg)?,
            (_, 0) => {
                decode_varint(&mut msg)?;
            }
            (_, 2) => {
                let len = decode_varint(&mut msg)? as usize;
                if msg.len() < len {
                    return None;
                }
                msg.advance(len);
            }
            _ => return None,
        }
    }
    Some(status)
}

async fn check(
    host: &str,
    port: u16,
    service: Option<&str>,
    dialer: &dyn Dialer,
) -> Result<Result<u64, String>, String> {
    let addr = join_host_port(host, port);
    let tcp = dialer.dial(host, port).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .header(header::USER_AGENT, "kube-probe/1.33")
        .body(Full::new(request_frame(service)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let header_status = resp.headers().get("grpc-status").and_then(|v| v.to_str().ok()).map(String::from);
    let collected = resp.into_body().collect().await.map_err(|e| e.to_string())?;
    let trailers = collected.trailers().cloned();
    let body = collected.to_bytes();
    let grpc_status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or(header_status);
    if let Some(code) = grpc_status.filter(|c| c != "0") {
        let message = trailers.as_ref().and_then(|t| t.get("grpc-message")).and_then(|v| v.to_str().ok()).unwrap_or("");
        return Ok(Err(format!("rpc error: code = {code} desc = {message}")));
    }
    Ok(response_status(&body).ok_or_else(|| "malformed health check response".to_string()))
}

pub async fn probe(host: &str, port: u16, service: Option<&str>, timeout: Duration, dialer: &dyn Dialer) -> Outcome {
    let addr = join_host_port(host, port);
    match tokio::time::timeout(timeout, check(host, port, service, dialer)).await {
        Err(_) | Ok(Err(_)) => Outcome::Failure(format!(
            "timeout: failed to connect service {addr:?} within {}s",
            timeout.as_secs().max(1)
        )),
        Ok(Ok(Err(rpc))) => Outcome::Failure(format!("error: health rpc probe failed: {rpc}")),
        Ok(Ok(Ok(1))) => Outcome::Success,
        Ok(Ok(Ok(status))) => {
            let name = STATUS_NAMES.get(status as usize).copied().unwrap_or("UNKNOWN");
            Outcome::Failure(format!("service unhealthy (responded with {name:?})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(request_frame(None).as_ref(), &[0, 0, 0, 0, 0]);
        assert_eq!(request_frame(Some("svc")).as_ref(), &[0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']);
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(response_status(&[0, 0]), None);
    }

    #[tokio::test]
    async fn nothing_listening() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        assert_eq!(
            probe("127.0.0.1", port, None, Duration::from_secs(1), &crate::probe::HostDialer).await,
            Outcome::Failure(format!("timeout: failed to connect service \"127.0.0.1:{port}\" within 1s"))
        );
    }
}
