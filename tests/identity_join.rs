//! The join flow against a real server: CA pinning, token checks, node certificates and the
//! node password, the server bootstrap bundle, and what a node credential may (not) do.

mod common;
mod identity_common;

use common::TestServer;
use identity_common::*;
use k3rs_cluster::{JoinClient, JoinError, NodeIdentity};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A request with a client certificate (curl), for verbs kubectl does not send alone.
fn request_with_cert(
    server: &TestServer,
    cert: &str,
    key: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let dir = server.dir.path();
    let (cert_file, key_file, ca_file) = (dir.join("curl.crt"), dir.join("curl.key"), dir.join("curl-ca.crt"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    std::fs::write(&ca_file, ca_pem(server)).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-X", method, "-H", "Content-Type: application/merge-patch+json", "--data", body])
        .arg("--cacert")
        .arg(&ca_file)
        .arg("--cert")
        .arg(&cert_file)
        .arg("--key")
        .arg(&key_file)
        .args(["-w", "\n%{http_code}", &format!("{}{path}", server_url(server))])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn node(server: &TestServer, name: &str) -> NodeIdentity {
    NodeIdentity::load_or_create(name, &server.dir.path().join(format!("{name}.password"))).unwrap()
}

#[test]
fn tokens_are_checked_before_and_after_the_ca_is_pinned() {
    let server = TestServer::start_with(&["--agent-token", "agent-only-secret"]);
    let url = server_url(&server);
    let token = server_token(&server);
    assert!(token.starts_with("K10") && token.contains("::server:"), "{token}");
    let (hash, secret) = token.trim_start_matches("K10").split_once("::server:").unwrap();
    let rt = runtime();
    rt.block_on(async {
        // A token of another cluster: refused before anything secret is sent.
        let wrong = format!("K10{}::server:{secret}", "0".repeat(64));
        assert!(matches!(JoinClient::connect(&url, &wrong).await, Err(JoinError::CaHashMismatch { .. })));

        // The right CA but a wrong secret: 401.
        let client = JoinClient::connect(&url, &format!("K10{hash}::server:wrong")).await.unwrap();
        let err = client.api_servers().await.unwrap_err();
        assert!(matches!(err, JoinError::Unauthorized(_)), "{err}");

        // The server token: everything, the bootstrap material included.
        let client = JoinClient::connect(&url, &token).await.unwrap();
        client.ping().await.unwrap();
        assert_eq!(client.api_servers().await.unwrap(), vec![format!("127.0.0.1:{}", server.port)]);
        let bundle = client.server_bootstrap().await.unwrap();
        let on_disk = std::fs::read_to_string(server.data_dir().join("server/tls/server-ca.key")).unwrap();
        assert_eq!(bundle.tls["server-ca.key"], on_disk);
        assert_eq!(bundle.tls.len(), 5);

        // The agent token: node credentials, but not the cluster's keys.
        let agent = JoinClient::connect(&url, &format!("K10{hash}::node:agent-only-secret")).await.unwrap();
        agent.api_servers().await.unwrap();
        // It does not authenticate as a server at all.
        assert!(matches!(agent.server_bootstrap().await, Err(JoinError::Unauthorized(_))));
        // A bare secret pins nothing but still authenticates.
        let bare = JoinClient::connect(&url, "agent-only-secret").await.unwrap();
        assert_eq!(bare.full_token().ca_hash.as_deref(), Some(hash));
        let csr = k3rs_pki::generate_key_and_csr("n0").unwrap();
        bare.kubelet_client_cert(&node(&server, "n0"), &csr.csr_pem).await.unwrap();
    });
}

#[test]
fn node_credentials_reach_only_their_own_node_and_pods() {
    let server = TestServer::start();
    let url = server_url(&server);
    let token = server_token(&server);
    let rt = runtime();
    let n1 = node(&server, "n1");
    let (cert, key) = rt.block_on(async {
        let client = JoinClient::connect(&url, &token).await.unwrap();
        let made = k3rs_pki::generate_key_and_csr("ignored").unwrap();
        let chain = client.kubelet_client_cert(&n1, &made.csr_pem).await.unwrap();
        // The serving certificate names the node and its addresses.
        let serving = k3rs_pki::generate_key_and_csr("n1").unwrap();
        let serving = client.kubelet_serving_cert(&n1, &["10.0.0.5".parse().unwrap()], &serving.csr_pem).await.unwrap();
        assert!(serving.matches("BEGIN CERTIFICATE").count() == 2);
        // Another machine claiming the name n1 is refused.
        let impostor = NodeIdentity { name: "n1".into(), password: "another-machine".into() };
        let again = k3rs_pki::generate_key_and_csr("n1").unwrap();
        let err = client.kubelet_client_cert(&impostor, &again.csr_pem).await.unwrap_err();
        assert!(err.to_string().contains("Node password rejected"), "{err}");
        // The first machine gets credentials again.
        client.kubelet_client_cert(&n1, &again.csr_pem).await.unwrap();
        (chain, made.key_pem)
    });
    let kubelet = cert_kubeconfig(&server, "n1", &cert, &key);
    let whoami = ok_with(&server, &kubelet, &["auth", "whoami"]);
    assert!(whoami.contains("system:node:n1") && whoami.contains("system:nodes"), "{whoami}");

    // The node registers itself; the admin adds another node, a secret and a pod for n1.
    let node_yaml = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
        )
    };
    server.manifest("n1.yaml", &node_yaml("n1"));
    ok_with(&server, &kubelet, &["create", "-f", common::path_str(&server.dir.path().join("n1.yaml"))]);
    server.ok_stdin(&["apply", "-f", "-"], &node_yaml("n2"));
    server.ok(&["create", "secret", "generic", "unrelated", "--from-literal=k=v"]);
    server.ok(&["create", "secret", "generic", "used", "--from-literal=k=v"]);
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: on-n1\nspec:\n  nodeName: n1\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: K\n      valueFrom:\n        secretKeyRef: {name: used, key: k}\n",
    );

    // Its own node: yes. Another node: no.
    ok_with(&server, &kubelet, &["label", "node", "n1", "example.com/ready=yes"]);
    ok_with(&server, &kubelet, &["patch", "node", "n1", "-p", r#"{"metadata":{"annotations":{"a":"b"}}}"#]);
    // kubectl reads a node before patching it; the PATCH itself is refused as well.
    let err = fails_with(&server, &kubelet, &["patch", "node", "n2", "-p", r#"{"metadata":{"labels":{"a":"b"}}}"#]);
    assert!(err.contains("nodes \"n2\" is forbidden"), "{err}");
    let (code, body) =
        request_with_cert(&server, &cert, &key, "PATCH", "/api/v1/nodes/n2", r#"{"metadata":{"labels":{"a":"b"}}}"#);
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("nodes \\\"n2\\\" is forbidden: User \\\"system:node:n1\\\" cannot patch resource \\\"nodes\\\" in API group \\\"\\\" at the cluster scope"),
        "{body}"
    );
    let (code, _) =
        request_with_cert(&server, &cert, &key, "PATCH", "/api/v1/nodes/n1", r#"{"metadata":{"labels":{"a":"b"}}}"#);
    assert_eq!(code, 200);
    let err = fails_with(&server, &kubelet, &["get", "node", "n2"]);
    assert!(err.contains("cannot get resource \"nodes\""), "{err}");
    assert!(fails_with(&server, &kubelet, &["delete", "node", "n2"]).contains("forbidden"));
    // Reserved labels stay with the administrator, even on its own node.
    let err = fails_with(&server, &kubelet, &["label", "node", "n1", "node-role.kubernetes.io/master=true"]);
    assert!(err.contains("is not allowed to modify labels: node-role.kubernetes.io/master"), "{err}");

    // Secrets: only those its pods use.
    ok_with(&server, &kubelet, &["get", "secret", "used"]);
    let err = fails_with(&server, &kubelet, &["get", "secret", "unrelated"]);
    assert!(
        err.contains("secrets \"unrelated\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object"),
        "{err}"
    );
    assert!(fails_with(&server, &kubelet, &["get", "secrets"]).contains("forbidden"));

    // Pods: its own, and lists only of its own.
    ok_with(&server, &kubelet, &["get", "pod", "on-n1"]);
    assert!(
        ok_with(&server, &kubelet, &["get", "pods", "--field-selector", "spec.nodeName=n1", "-o", "name"])
            .contains("on-n1")
    );
    let err = fails_with(&server, &kubelet, &["get", "pods"]);
    assert!(err.contains("can only list/watch pods with spec.nodeName field selector"), "{err}");
    // Its lease, not another's.
    let lease = |name: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {name}\n  namespace: kube-node-lease\nspec:\n  holderIdentity: {name}\n"
        )
    };
    server.manifest("lease-n1.yaml", &lease("n1"));
    server.manifest("lease-n2.yaml", &lease("n2"));
    ok_with(&server, &kubelet, &["create", "-f", common::path_str(&server.dir.path().join("lease-n1.yaml"))]);
    assert!(
        fails_with(&server, &kubelet, &["create", "-f", common::path_str(&server.dir.path().join("lease-n2.yaml"))])
            .contains("forbidden")
    );
    // Pods it creates must be mirror pods bound to itself.
    server.manifest(
        "plain-pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\nspec:\n  nodeName: n1\n  containers:\n  - {name: c, image: busybox}\n",
    );
    let err =
        fails_with(&server, &kubelet, &["create", "-f", common::path_str(&server.dir.path().join("plain-pod.yaml"))]);
    assert!(err.contains("can only create mirror pods"), "{err}");
}

#[test]
fn bootstrap_tokens_join_and_expire() {
    let server = TestServer::start();
    let admin = server.kubeconfig();
    let kc = common::path_str(&admin);
    let full = k3rs_ok(&["token", "create", "--ttl", "1h", "--description", "for workers", "--kubeconfig", kc])
        .trim()
        .to_string();
    let (hash, token) = full.trim_start_matches("K10").split_once("::").unwrap();
    assert_eq!(
        format!("K10{hash}"),
        server_token(&server).split("::").next().unwrap(),
        "same CA hash as the server token"
    );
    let list = k3rs_ok(&["token", "list", "--kubeconfig", kc]);
    assert!(list.contains(token) && list.contains("for workers") && list.contains("authentication,signing"), "{list}");

    // It authenticates API requests as a bootstrapper...
    let as_token = token_kubeconfig(&server, "bootstrap", token);
    let id = token.split('.').next().unwrap();
    let whoami = ok_with(&server, &as_token, &["auth", "whoami"]);
    assert!(whoami.contains(&format!("system:bootstrap:{id}")) && whoami.contains("system:bootstrappers"), "{whoami}");
    // ...and lets an agent join.
    let rt = runtime();
    rt.block_on(async {
        let client = JoinClient::connect(&server_url(&server), &full).await.unwrap();
        let csr = k3rs_pki::generate_key_and_csr("w1").unwrap();
        client.kubelet_client_cert(&node(&server, "w1"), &csr.csr_pem).await.unwrap();
        assert!(matches!(client.server_bootstrap().await, Err(JoinError::Unauthorized(_))));
    });

    // A token past its expiry is refused everywhere.
    let short = k3rs_ok(&["token", "create", "--ttl", "2s", "--kubeconfig", kc]).trim().to_string();
    let short_token = short.split("::").nth(1).unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let expired = token_kubeconfig(&server, "expired", &short_token);
    assert!(fails_with(&server, &expired, &["auth", "whoami"]).contains("You must be logged in"));
    rt.block_on(async {
        let client = JoinClient::connect(&server_url(&server), &short).await.unwrap();
        assert!(matches!(client.api_servers().await, Err(JoinError::Unauthorized(_))));
    });
    assert!(k3rs_ok(&["token", "list", "--kubeconfig", kc]).contains("<expired>"));

    // Deleted tokens stop working.
    k3rs_ok(&["token", "delete", id, "--kubeconfig", kc]);
    assert!(fails_with(&server, &as_token, &["auth", "whoami"]).contains("You must be logged in"));
}
