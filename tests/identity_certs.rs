//! Certificates that don't expire on users: leaf certificates near expiry are renewed at
//! start, `k3rs certificate check` reports them, and `k3rs certificate rotate` re-issues them.

mod common;
mod identity_common;

use common::TestServer;
use identity_common::*;
use k3rs_pki::{ClusterPki, PkiOptions};

fn days_left(server: &TestServer, file: &str) -> i64 {
    let tls = server.data_dir().join("server/tls");
    let report = k3rs_pki::check_certificates(&tls, jiff::Timestamp::now()).unwrap();
    report.iter().find(|c| c.path.ends_with(file)).map(|c| c.days_left).unwrap()
}

#[test]
fn certificates_near_expiry_are_renewed_on_restart() {
    let mut server = TestServer::start();
    server.kill();
    let tls = server.data_dir().join("server/tls");
    // Replace the admin certificate with one that ends in 30 days (same CA, same identity).
    let pki = ClusterPki::load_or_create(&tls, &PkiOptions::default()).unwrap();
    let short = pki
        .issue_client_cert("system:admin", &["system:masters"], std::time::Duration::from_secs(30 * 86_400))
        .unwrap();
    short.write(&tls.join("client-admin.crt"), &tls.join("client-admin.key")).unwrap();
    assert!(days_left(&server, "client-admin.crt") < 31);
    let data = server.data_dir();
    let check = k3rs_ok(&["certificate", "check", "--data-dir", common::path_str(&data)]);
    assert!(check.lines().any(|l| l.starts_with("client-admin.crt") && l.contains("RENEW AT NEXT START")), "{check}");

    server.restart();
    assert!(days_left(&server, "client-admin.crt") >= 364);
    server.ok(&["get", "namespaces"]);
    let whoami = server.ok(&["auth", "whoami"]);
    assert!(whoami.contains("system:admin"), "{whoami}");
    let check = k3rs_ok(&["certificate", "check", "--data-dir", common::path_str(&data)]);
    assert!(!check.contains("RENEW AT NEXT START"), "{check}");
}

#[test]
fn rotate_issues_new_leaf_certificates_from_the_same_cas() {
    let mut server = TestServer::start();
    let tls = server.data_dir().join("server/tls");
    let serving_before = std::fs::read(tls.join("serving-kube-apiserver.crt")).unwrap();
    let ca_before = std::fs::read(tls.join("server-ca.crt")).unwrap();
    let token_before = server_token(&server);
    server.kill();
    let out = k3rs_ok(&["certificate", "rotate", "--data-dir", common::path_str(&server.data_dir())]);
    assert!(out.contains("serving-kube-apiserver.crt"), "{out}");
    assert!(!tls.join("serving-kube-apiserver.crt").exists());
    server.restart();
    assert_ne!(std::fs::read(tls.join("serving-kube-apiserver.crt")).unwrap(), serving_before);
    assert_eq!(std::fs::read(tls.join("server-ca.crt")).unwrap(), ca_before);
    // Joined nodes keep trusting the cluster: the CA and so the token stay the same.
    assert_eq!(server_token(&server), token_before);
    server.ok(&["get", "namespaces"]);
}
