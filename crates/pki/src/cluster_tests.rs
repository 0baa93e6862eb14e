//! Behaviour of the whole PKI: first start, restart, renewal, kubeconfig and real TLS handshakes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::inspect::{is_issued_by, peer_identity, summarize};
use crate::pem::{certs_from_pem, key_pair_from_pem};
use crate::tls::{anonymous_client_tls_config, client_tls_config};
use crate::validity::RENEW_BEFORE;

const FILES: [&str; 11] = [
    "server-ca.crt",
    "server-ca.key",
    "client-ca.crt",
    "client-ca.key",
    "service.key",
    "serving-kube-apiserver.crt",
    "serving-kube-apiserver.key",
    "client-admin.crt",
    "client-admin.key",
    "client-kube-apiserver.crt",
    "client-kube-apiserver.key",
];

fn opts() -> PkiOptions {
    PkiOptions {
        hostname: "node-1".into(),
        node_ips: vec!["192.168.1.10".parse().unwrap()],
        tls_sans: vec!["api.example.com".into()],
        ..PkiOptions::default()
    }
}

fn snapshot(dir: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    FILES.iter().map(|f| (*f, std::fs::read(dir.join(f)).unwrap())).collect()
}

fn summary_of(pem: &str) -> crate::inspect::CertSummary {
    summarize(&certs_from_pem("test", pem).unwrap()[0]).unwrap()
}

fn sans_of(pem: &str) -> Vec<String> {
    summary_of(pem).sans.iter().map(ToString::to_string).collect()
}

#[test]
fn first_start_creates_everything_and_restart_keeps_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("server/tls");
    let pki = ClusterPki::load_or_create(&tls, &opts()).unwrap();
    let before = snapshot(&tls);

    let again = ClusterPki::load_or_create(&tls, &opts()).unwrap();
    assert_eq!(snapshot(&tls), before, "a restart must not rewrite any file");
    assert_eq!(again.server_ca_pem(), pki.server_ca_pem());
    assert_eq!(again.admin_client_cert(), pki.admin_client_cert());
    assert_eq!(again.service_account_key(), pki.service_account_key());
    assert_eq!(pki.cacerts_bundle(), before["server-ca.crt"].as_slice());
    assert_ne!(pki.server_ca_pem(), pki.client_ca_pem(), "server and client CAs are distinct");
}

#[test]
fn serving_and_admin_certificates_have_the_kubernetes_identities() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();

    let serving = pki.apiserver_serving_cert();
    let sans = sans_of(&serving.cert_pem);
    for expected in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "node-1",
        "api.example.com",
        "127.0.0.1",
        "::1",
        "10.43.0.1",
        "192.168.1.10",
    ] {
        assert!(sans.iter().any(|s| s == expected), "serving cert lacks {expected}: {sans:?}");
    }
    let serving_der = &certs_from_pem("t", &serving.cert_pem).unwrap()[0];
    let server_ca_der = &certs_from_pem("t", pki.server_ca_pem()).unwrap()[0];
    let client_ca_der = &certs_from_pem("t", pki.client_ca_pem()).unwrap()[0];
    assert!(is_issued_by(serving_der, server_ca_der));

    let admin_der = &certs_from_pem("t", &pki.admin_client_cert().cert_pem).unwrap()[0];
    assert!(is_issued_by(admin_der, client_ca_der));
    assert!(!is_issued_by(admin_der, server_ca_der));
    assert_eq!(peer_identity(admin_der), Some(("system:admin".into(), vec!["system:masters".into()])));
}

#[test]
fn a_new_tls_san_reissues_only_the_serving_certificate() {
    let dir = tempfile::tempdir().unwrap();
    ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let before = snapshot(dir.path());

    let mut more = opts();
    more.tls_sans.push("203.0.113.7".into());
    let pki = ClusterPki::load_or_create(dir.path(), &more).unwrap();
    let after = snapshot(dir.path());

    for file in FILES {
        if file == "serving-kube-apiserver.crt" {
            assert_ne!(after[file], before[file], "{file} must be re-issued");
        } else {
            assert_eq!(after[file], before[file], "{file} must be kept");
        }
    }
    assert!(sans_of(&pki.apiserver_serving_cert().cert_pem).contains(&"203.0.113.7".to_string()));
    // The re-issued certificate is stable on the next restart.
    ClusterPki::load_or_create(dir.path(), &more).unwrap();
    assert_eq!(snapshot(dir.path()), after);
}

#[test]
fn a_leaf_near_expiry_is_renewed_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::now();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();

    // Replace the admin certificate with one for the same key that ends in 30 days.
    let key = key_pair_from_pem(&pki.admin_client_cert().key_pem).unwrap();
    let spec = LeafSpec {
        common_name: ADMIN_USER.into(),
        organizations: vec![MASTERS_GROUP.into()],
        sans: Default::default(),
        usage: CertUsage::Client,
        validity: Duration::from_secs(30 * 86_400),
    };
    let short = issue(&pki.client_ca, &spec, Some(key), now).unwrap();
    short.write(&dir.path().join("client-admin.crt"), &dir.path().join("client-admin.key")).unwrap();
    let before = snapshot(dir.path());

    let reloaded = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let renewed = summary_of(&reloaded.admin_client_cert().cert_pem);
    assert!(renewed.not_after.as_second() - now.as_second() > 360 * 86_400, "renewed for a year");
    assert_eq!(renewed.common_name.as_deref(), Some(ADMIN_USER));
    let after = snapshot(dir.path());
    assert_ne!(after["client-admin.crt"], before["client-admin.crt"]);
    assert_eq!(after["client-admin.key"], before["client-admin.key"], "the key is reused");
    assert_eq!(after["serving-kube-apiserver.crt"], before["serving-kube-apiserver.crt"]);
}

#[test]
fn near_the_end_of_the_year_all_leaves_renew_but_the_cas_stay() {
    let dir = tempfile::tempdir().unwrap();
    ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let before = snapshot(dir.path());

    let later =
        Timestamp::from_second(Timestamp::now().as_second() + (365 * 86_400 - RENEW_BEFORE.as_secs() as i64) + 86_400)
            .unwrap();
    ClusterPki::load_or_create_at(dir.path(), &opts(), later).unwrap();
    let after = snapshot(dir.path());
    for renewed in ["serving-kube-apiserver.crt", "client-admin.crt", "client-kube-apiserver.crt"] {
        assert_ne!(after[renewed], before[renewed], "{renewed}");
    }
    for kept in ["server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key", "service.key"] {
        assert_eq!(after[kept], before[kept], "{kept}");
    }
}

#[test]
fn private_keys_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    ClusterPki::load_or_create(&tls, &opts()).unwrap();
    let mode = |f: &str| std::fs::metadata(tls.join(f)).unwrap().permissions().mode() & 0o777;
    for file in FILES {
        let expected = if file.ends_with(".key") { 0o600 } else { 0o644 };
        assert_eq!(mode(file), expected, "{file}");
    }
    assert_eq!(std::fs::metadata(&tls).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn bad_tls_san_fails_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let bad = PkiOptions { tls_sans: vec!["not a name".into()], ..opts() };
    let err = ClusterPki::load_or_create(&tls, &bad).unwrap_err();
    assert!(err.to_string().contains("not a name"), "{err}");
    assert!(!tls.exists());
}

#[test]
fn token_hash_is_sha256_of_the_served_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let file = std::fs::read(dir.path().join("server-ca.crt")).unwrap();
    let hash = pki.token_ca_hash();
    assert_eq!(hash, crate::token::ca_hash(&file));
    assert_eq!(hash.len(), 64);
    let token = crate::token::JoinToken::server(hash, "secret");
    assert!(token.verify_ca_bundle(pki.cacerts_bundle()).is_ok());
}

#[test]
fn admin_kubeconfig_embeds_the_ca_and_admin_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(&dir.path().join("tls"), &opts()).unwrap();
    let path = dir.path().join("etc/rancher/k3rs/k3rs.yaml");
    pki.write_kubeconfig(&path, None, "https://127.0.0.1:6443").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let doc: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let decode = |v: &serde_json::Value| String::from_utf8(STANDARD.decode(v.as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(doc["clusters"][0]["name"], "default");
    assert_eq!(doc["users"][0]["name"], "default");
    assert_eq!(doc["contexts"][0]["name"], "default");
    assert_eq!(decode(&doc["clusters"][0]["cluster"]["certificate-authority-data"]), pki.server_ca_pem());
    assert_eq!(decode(&doc["users"][0]["user"]["client-certificate-data"]), pki.admin_client_cert().cert_pem);
    assert_eq!(decode(&doc["users"][0]["user"]["client-key-data"]), pki.admin_client_cert().key_pem);
}

#[test]
fn issued_certificates_come_from_the_right_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let kubelet = pki.issue_client_cert("system:node:node-2", &["system:nodes"], LEAF_VALIDITY).unwrap();
    let kubelet_der = &certs_from_pem("t", &kubelet.cert_pem).unwrap()[0];
    assert!(is_issued_by(kubelet_der, &certs_from_pem("t", pki.client_ca_pem()).unwrap()[0]));
    assert_eq!(peer_identity(kubelet_der), Some(("system:node:node-2".into(), vec!["system:nodes".into()])));

    let serving = pki.issue_serving_cert("node-2", &["node-2".into(), "10.0.0.2".into()]).unwrap();
    let serving_der = &certs_from_pem("t", &serving.cert_pem).unwrap()[0];
    assert!(is_issued_by(serving_der, &certs_from_pem("t", pki.server_ca_pem()).unwrap()[0]));
    assert_eq!(sans_of(&serving.cert_pem), vec!["node-2".to_string(), "10.0.0.2".to_string()]);
    assert!(pki.issue_serving_cert("x", &["bad name".into()]).is_err());
}

#[test]
fn check_reports_every_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let report = pki.check().unwrap();
    let names: Vec<String> =
        report.iter().map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "client-admin.crt",
            "client-ca.crt",
            "client-kube-apiserver.crt",
            "server-ca.crt",
            "serving-kube-apiserver.crt"
        ]
    );
    let admin = &report[0];
    assert!(admin.subject.contains("CN=system:admin"), "{}", admin.subject);
    assert!((363..=365).contains(&admin.days_left), "{}", admin.days_left);
    assert!(report[1].days_left > 3600);
    assert!(report[2].subject.contains("CN=system:kube-apiserver"), "{}", report[2].subject);
}

/// What the server saw of a client: its identity (if it presented a certificate) and ALPN.
type Seen = (Option<(String, Vec<String>)>, Option<Vec<u8>>);

/// Runs one TLS handshake over loopback and an echo of one byte.
async fn handshake(server: ServerConfig, mut client: ClientConfig) -> (Result<Seen, String>, Result<(), String>) {
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let server_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let identity = conn.peer_certificates().and_then(|chain| chain.first()).and_then(|c| peer_identity(c));
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        tls.write_all(&byte).await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<Seen, String>((identity, alpn))
    });
    let client_result = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = TlsConnector::from(Arc::new(client)).connect(name, tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(b"x").await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    }
    .await;
    (server_task.await.unwrap(), client_result)
}

#[tokio::test]
async fn admin_handshake_shows_the_verified_identity() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let admin = pki.admin_client_cert();
    let client = client_tls_config(pki.server_ca_pem(), &admin.cert_pem, &admin.key_pem).unwrap();
    let (server, client) = handshake(pki.server_tls_config().unwrap(), client).await;
    client.unwrap();
    let (identity, alpn) = server.unwrap();
    assert_eq!(identity, Some(("system:admin".to_string(), vec!["system:masters".to_string()])));
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn the_api_server_reaches_a_kubelet_as_system_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    // A kubelet serving certificate for the loopback address the test connects to.
    let kubelet = pki.issue_serving_cert("node-1", &["127.0.0.1".into()]).unwrap();
    let server = crate::tls::server_tls_config(&kubelet.cert_pem, &kubelet.key_pem, pki.client_ca_pem()).unwrap();
    let mut client = pki.kubelet_client_tls_config().unwrap();
    assert_eq!(client.alpn_protocols, vec![b"http/1.1".to_vec()]);
    client.alpn_protocols.clear();
    let (server, client) = handshake(server, client).await;
    client.unwrap();
    let (identity, _) = server.unwrap();
    assert_eq!(identity, Some((KUBE_APISERVER_USER.to_string(), vec![])));
}

#[tokio::test]
async fn a_client_without_certificate_is_allowed_but_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let client = anonymous_client_tls_config(pki.server_ca_pem()).unwrap();
    let (server, client) = handshake(pki.server_tls_config().unwrap(), client).await;
    client.unwrap();
    assert_eq!(server.unwrap().0, None);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let other = ClusterPki::load_or_create(other_dir.path(), &opts()).unwrap();
    let foreign = other.admin_client_cert();
    let client = client_tls_config(pki.server_ca_pem(), &foreign.cert_pem, &foreign.key_pem).unwrap();
    let (server, client) = handshake(pki.server_tls_config().unwrap(), client).await;
    // Both clusters' CAs may share a subject (named after the creation second), so rustls
    // reports either an unknown issuer or a bad signature: either way a refusal.
    let err = server.expect_err("the server must refuse a foreign client certificate");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(client.is_err());
}

#[tokio::test]
async fn a_server_from_another_cluster_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    let other = ClusterPki::load_or_create(other_dir.path(), &opts()).unwrap();
    let client = anonymous_client_tls_config(other.server_ca_pem()).unwrap();
    let (_, client) = handshake(pki.server_tls_config().unwrap(), client).await;
    assert!(client.is_err());
}

#[test]
fn node_csrs_are_signed_with_the_servers_identity_choice() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClusterPki::load_or_create(dir.path(), &opts()).unwrap();
    // The CSR asks for admin rights; the server decides the subject.
    let made = crate::csr::generate_key_and_csr("system:admin").unwrap();
    let cert = pki.sign_client_csr(&made.csr_pem, "system:node:n1", &["system:nodes"]).unwrap();
    let der = certs_from_pem("t", &cert).unwrap().remove(0);
    assert_eq!(peer_identity(&der), Some(("system:node:n1".to_string(), vec!["system:nodes".to_string()])));
    let client_ca = certs_from_pem("t", pki.client_ca_pem()).unwrap().remove(0);
    assert!(is_issued_by(&der, &client_ca));
    let key = key_pair_from_pem(&made.key_pem).unwrap();
    use rcgen::PublicKeyData;
    assert_eq!(summarize(&der).unwrap().public_key_info, key.subject_public_key_info());

    let serving = pki.sign_serving_csr(&made.csr_pem, "n1", &[], &["n1".into(), "10.0.0.5".into()]).unwrap();
    let der = certs_from_pem("t", &serving).unwrap().remove(0);
    let server_ca = certs_from_pem("t", pki.server_ca_pem()).unwrap().remove(0);
    assert!(is_issued_by(&der, &server_ca));
    assert_eq!(summarize(&der).unwrap().sans.len(), 2);
    assert!(pki.sign_client_csr("garbage", "x", &[]).is_err());
}
