//! The streaming endpoint over real TLS with a scripted backend: who gets in, and the
//! protocol variants kubectl does not use (base64 and pre-v4 channel protocols, SPDY
//! negotiation failures).

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k3rs_kubelet::streaming::{
    AccessPolicy, BackendError, ContainerRef, LogOptions, LogStream, PodRef, PortStream, ProcessIo, StreamingBackend,
    StreamingServer, StreamingServerConfig, tls_config,
};
use k3rs_pki::{ClusterPki, PkiOptions};
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Exec prints its command, copies stdin for `cat`, and exits with the number in `exit N`.
struct Scripted;

impl StreamingBackend for Scripted {
    async fn logs(&self, c: &ContainerRef, _: &LogOptions) -> Result<LogStream, BackendError> {
        let line = Bytes::from(format!("log of {}\n", c.container));
        Ok(Box::pin(futures::stream::iter([Ok(line)])))
    }

    async fn exec(&self, _: &ContainerRef, command: Vec<String>, io: ProcessIo) -> Result<i32, BackendError> {
        if let Some(mut out) = io.stdout {
            out.write_all(format!("ran {}\n", command.join(" ")).as_bytes()).await.ok();
            // `cat` copies stdin until the client closes it.
            if let (Some(mut input), true) = (io.stdin, command == ["cat"]) {
                tokio::io::copy(&mut input, &mut out).await.ok();
            }
        }
        match command.as_slice() {
            [exit, code] if exit == "exit" => Ok(code.parse().unwrap_or(1)),
            [fail] if fail == "fail" => Err(BackendError::Internal("no such process".into())),
            _ => Ok(0),
        }
    }

    async fn attach(&self, _: &ContainerRef, _: ProcessIo) -> Result<(), BackendError> {
        Ok(())
    }

    async fn port_forward(&self, _: &PodRef, port: u16) -> Result<Box<dyn PortStream>, BackendError> {
        Err(BackendError::Unsupported(format!("no port {port} here")))
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    pki: ClusterPki,
    server: StreamingServer,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &PkiOptions::default()).unwrap();
    let serving = pki.issue_serving_cert("node-1", &["127.0.0.1".into()]).unwrap();
    let config = StreamingServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Arc::new(tls_config(&serving.cert_pem, &serving.key_pem, pki.client_ca_pem()).unwrap()),
        access: AccessPolicy::default(),
    };
    let server = StreamingServer::start(config, Arc::new(Scripted)).await.unwrap();
    Setup { _dir: dir, pki, server }
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(s: &Setup, client: rustls::ClientConfig) -> Tls {
    let tcp = tokio::net::TcpStream::connect(s.server.local_addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    TlsConnector::from(Arc::new(client)).connect(name, tcp).await.unwrap()
}

async fn as_apiserver(s: &Setup) -> Tls {
    connect(s, s.pki.kubelet_client_tls_config().unwrap()).await
}

/// One plain HTTP request; returns status and body.
async fn request(tls: Tls, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender.send_request(req.body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn only_the_api_server_identity_gets_in() {
    let s = setup().await;
    let (code, body) = request(as_apiserver(&s).await, "GET", "/containerLogs/ns/p/c", &[]).await;
    assert_eq!((code, body.as_str()), (200, "log of c\n"));

    let anonymous = k3rs_pki::anonymous_client_tls_config(s.pki.server_ca_pem()).unwrap();
    let (code, body) = request(connect(&s, anonymous).await, "GET", "/containerLogs/ns/p/c", &[]).await;
    assert_eq!(code, 401, "{body}");

    let admin = s.pki.admin_client_tls_config().unwrap();
    let (code, body) = request(connect(&s, admin).await, "GET", "/containerLogs/ns/p/c", &[]).await;
    assert_eq!(code, 403);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["message"], "Forbidden (user=system:admin, verb=get, resource=nodes, subresource(s)=[proxy])");
}

#[tokio::test]
async fn bad_requests_get_a_status() {
    let s = setup().await;
    let (code, body) = request(as_apiserver(&s).await, "GET", "/exec/ns/p/c?command=ls&output=1", &[]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Upgrade request required"), "{body}");
    let (code, _) = request(as_apiserver(&s).await, "GET", "/nothing/here", &[]).await;
    assert_eq!(code, 404);
    let spdy = [("connection", "Upgrade"), ("upgrade", "SPDY/3.1"), ("x-stream-protocol-version", "v9.channel.k8s.io")];
    let (code, body) = request(as_apiserver(&s).await, "POST", "/exec/ns/p/c?command=ls&output=1", &spdy).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("unable to negotiate protocol"), "{body}");
    let pf = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "a2V5a2V5a2V5a2V5a2V5aw=="),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "v4.channel.k8s.io"),
    ];
    let (code, body) = request(as_apiserver(&s).await, "GET", "/portForward/ns/p", &pf).await;
    assert_eq!(code, 400, "{body}");
}

/// Runs an exec over WebSocket with `protocol`; returns every message received.
async fn ws_exec(s: &Setup, protocol: &str, command: &str) -> Vec<Message> {
    let url = format!("wss://127.0.0.1/exec/ns/p/c?{command}&output=1");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::client_async(req, as_apiserver(s).await).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    let mut messages = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Close(frame) = &m {
            assert_eq!(frame.as_ref().map(|f| u16::from(f.code)), Some(1000));
            break;
        }
        messages.push(m);
    }
    let _ = ws.close(None).await;
    messages
}

#[tokio::test]
async fn base64_and_legacy_channel_protocols() {
    let s = setup().await;
    // v4.base64: text messages, channel digit + base64; the status is JSON.
    let messages = ws_exec(&s, "v4.base64.channel.k8s.io", "command=exit&command=7").await;
    assert_eq!(messages[0], Message::Text("1".into()), "the empty ready message on stdout");
    assert_eq!(messages[1], Message::Text("1cmFuIGV4aXQgNwo=".into()), "base64 of 'ran exit 7\\n'");
    let Message::Text(status) = &messages[2] else { panic!("{messages:?}") };
    assert!(status.starts_with('3'));
    let status: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &status[1..]).unwrap(),
    )
    .unwrap();
    assert_eq!(status["details"]["causes"][0]["message"], "7");

    // channel.k8s.io: nothing on the error channel after success, error text after a failure.
    let messages = ws_exec(&s, "channel.k8s.io", "command=true").await;
    assert_eq!(messages, vec![Message::Binary(vec![1].into()), Message::Binary(b"\x01ran true\n".to_vec().into())]);
    let messages = ws_exec(&s, "channel.k8s.io", "command=fail").await;
    let Some(Message::Binary(last)) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(&last[..], b"\x03Internal error occurred: no such process");
}

#[tokio::test]
async fn v5_clients_can_close_stdin() {
    let s = setup().await;
    let url = "wss://127.0.0.1/exec/ns/p/c?command=cat&output=1&input=1";
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "v5.channel.k8s.io".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, as_apiserver(&s).await).await.unwrap();
    ws.send(Message::Binary(vec![0, b'x'].into())).await.unwrap();
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    let mut got_status = false;
    let mut output = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Binary(b) = &m
            && b.first() == Some(&1)
        {
            output.extend_from_slice(&b[1..]);
        }
        if let Message::Binary(b) = &m
            && b.first() == Some(&3)
        {
            let status: serde_json::Value = serde_json::from_slice(&b[1..]).unwrap();
            assert_eq!(status["status"], "Success");
            got_status = true;
        }
        if matches!(m, Message::Close(_)) {
            break;
        }
    }
    assert!(got_status, "the session ended after stdin was closed");
    assert_eq!(output, b"ran cat\nx");
}
