//! The join client against a recording TLS server: a CA that does not match the token stops
//! the client after `/cacerts`, before anything secret is sent.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_pki::{ClusterPki, PkiOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;

/// A TLS server presenting the PKI's serving certificate that records every request it
/// receives (decrypted) and answers `/cacerts` with the CA and everything else with `[]`.
struct RecordingServer {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn recording_server(pki: &ClusterPki) -> RecordingServer {
    let acceptor = TlsAcceptor::from(Arc::new(pki.server_tls_config().unwrap()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let received = Arc::new(Mutex::new(Vec::new()));
    let ca = pki.server_ca_pem().to_string();
    let log = received.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            let log = log.clone();
            let ca = ca.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                log.lock().unwrap().push(text.clone());
                let body = if text.starts_with("GET /cacerts ") { ca } else { "[]".to_string() };
                let resp =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    RecordingServer { url, received, task }
}

fn new_pki() -> (tempfile::TempDir, ClusterPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &PkiOptions::default()).unwrap();
    (dir, pki)
}

#[tokio::test]
async fn a_wrong_ca_hash_stops_before_the_secret_is_sent() {
    let (_dir, pki) = new_pki();
    let server = recording_server(&pki).await;
    let secret = "do-not-leak-this-secret";
    let wrong = "ab".repeat(32);
    let err = JoinClient::connect(&server.url, &format!("K10{wrong}::server:{secret}")).await.unwrap_err();
    assert!(matches!(err, JoinError::CaHashMismatch { .. }), "{err}");
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].starts_with("GET /cacerts "), "{received:?}");
    let encoded = STANDARD.encode(format!("server:{secret}"));
    for r in &received {
        assert!(!r.contains(secret) && !r.contains(&encoded), "secret leaked: {r}");
        assert!(!r.to_ascii_lowercase().contains("authorization"), "{r}");
    }
}

#[tokio::test]
async fn the_right_hash_pins_the_ca_and_then_authenticates() {
    let (_dir, pki) = new_pki();
    let server = recording_server(&pki).await;
    let token = format!("K10{}::server:s3cret", pki.token_ca_hash());
    let client = JoinClient::connect(&server.url, &token).await.unwrap();
    assert_eq!(client.ca_pem(), pki.server_ca_pem());
    assert_eq!(client.api_servers().await.unwrap(), Vec::<String>::new());
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert!(received[1].starts_with("GET /v1-k3rs/apiservers "));
    assert!(received[1].contains(&STANDARD.encode("node:s3cret")), "{}", received[1]);
}

#[tokio::test]
async fn a_server_with_another_ca_fails_the_pinned_handshake() {
    let (_dir, pki) = new_pki();
    let (_other_dir, other) = new_pki();
    let server = recording_server(&pki).await;
    // A client pinned to another cluster's CA cannot even complete TLS with this server.
    let client = JoinClient {
        endpoint: Endpoint::parse(&server.url).unwrap(),
        token: JoinToken::parse("secret").unwrap(),
        ca_pem: other.server_ca_pem().to_string(),
        tls: trust::pinned(other.server_ca_pem()).unwrap(),
    };
    assert!(matches!(client.api_servers().await, Err(JoinError::Connect(_))));
    assert!(server.received.lock().unwrap().is_empty());
}

#[test]
fn node_password_is_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node/password");
    let first = NodeIdentity::load_or_create("n1", &path).unwrap();
    assert_eq!(first.password.len(), 32);
    let again = NodeIdentity::load_or_create("n1", &path).unwrap();
    assert_eq!(first, again);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}
