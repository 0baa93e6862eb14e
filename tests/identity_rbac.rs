//! Authentication and RBAC with the real kubectl: anonymous requests, service-account tokens
//! with and without bindings, `kubectl auth can-i [--list]`, `kubectl auth whoami`,
//! impersonation, TokenReview and the default policy.

mod common;
mod identity_common;

use common::TestServer;
use identity_common::*;

#[test]
fn requests_without_credentials_reach_only_the_open_paths() {
    let server = TestServer::start();
    for path in ["/healthz", "/readyz", "/livez", "/version", "/cacerts", "/ping"] {
        let (code, _) = anonymous_get(&server, path);
        assert_eq!(code, 200, "{path}");
    }
    assert!(anonymous_get(&server, "/cacerts").1.contains("BEGIN CERTIFICATE"));
    for path in
        ["/api", "/apis", "/api/v1/namespaces/default/pods", "/openapi/v3", "/api/v1/nodes", "/v1-k3rs/apiservers"]
    {
        let (code, body) = anonymous_get(&server, path);
        assert_eq!(code, 401, "{path}: {body}");
        assert!(body.contains("\"reason\":\"Unauthorized\""), "{path}: {body}");
    }
    // A token that is not valid is refused even where anonymous requests are allowed.
    let bad = token_kubeconfig(&server, "bad", "not-a-valid-token");
    assert!(fails_with(&server, &bad, &["get", "--raw", "/healthz"]).contains("Unauthorized"));
    let err = fails_with(&server, &bad, &["get", "pods"]);
    assert!(err.contains("error: You must be logged in to the server"), "{err}");
    // The admin kubeconfig still works.
    server.ok(&["get", "namespaces"]);
}

#[test]
fn service_account_tokens_are_authorized_by_rbac() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "team"]);
    server.ok(&["create", "serviceaccount", "bot", "-n", "team"]);
    server.ok(&["create", "configmap", "settings", "-n", "team", "--from-literal=a=b"]);
    let token = server.ok(&["create", "token", "bot", "-n", "team"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let bot = token_kubeconfig(&server, "bot", &token);

    // No bindings: 403 with upstream's message.
    let err = fails_with(&server, &bot, &["get", "pods", "-n", "team"]);
    assert!(
        err.contains(
            "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:team:bot\" cannot list resource \"pods\" in API group \"\" in the namespace \"team\""
        ),
        "{err}"
    );
    let err = fails_with(&server, &bot, &["get", "nodes"]);
    assert!(err.contains("cannot list resource \"nodes\" in API group \"\" at the cluster scope"), "{err}");

    // Discovery and self-review are allowed to every authenticated user.
    let whoami = ok_with(&server, &bot, &["auth", "whoami"]);
    assert!(whoami.contains("system:serviceaccount:team:bot"), "{whoami}");
    assert!(whoami.contains("system:serviceaccounts:team"), "{whoami}");
    assert!(whoami.contains("system:authenticated"), "{whoami}");

    // Bound to `view` in the namespace: reads work, writes do not, other namespaces stay closed.
    server.ok(&["create", "rolebinding", "bot-view", "--clusterrole=view", "--serviceaccount=team:bot", "-n", "team"]);
    ok_with(&server, &bot, &["get", "pods", "-n", "team"]);
    assert!(ok_with(&server, &bot, &["get", "configmap", "settings", "-n", "team", "-o", "name"]).contains("settings"));
    let err = fails_with(&server, &bot, &["delete", "configmap", "settings", "-n", "team"]);
    assert!(
        err.contains("configmaps \"settings\" is forbidden: User \"system:serviceaccount:team:bot\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"team\""),
        "{err}"
    );
    assert!(fails_with(&server, &bot, &["get", "secrets", "-n", "team"]).contains("forbidden"));
    assert!(fails_with(&server, &bot, &["get", "pods", "-n", "default"]).contains("forbidden"));

    // can-i agrees with what happened.
    assert_eq!(ok_with(&server, &bot, &["auth", "can-i", "get", "pods", "-n", "team"]).trim(), "yes");
    let out = kubectl_with(&server, &bot, &["auth", "can-i", "delete", "configmaps", "-n", "team"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    assert!(!out.status.success());
    let list = ok_with(&server, &bot, &["auth", "can-i", "--list", "-n", "team"]);
    let line =
        |resource: &str| list.lines().find(|l| l.split_whitespace().next() == Some(resource)).unwrap_or("").to_string();
    assert!(line("pods").contains("[get list watch]"), "{list}");
    assert!(line("selfsubjectaccessreviews.authorization.k8s.io").contains("[create]"), "{list}");
    assert!(line("deployments.apps").contains("[get list watch]"), "{list}");
    assert!(line("secrets").is_empty(), "view does not read secrets:\n{list}");
    assert!(!list.contains("delete"), "{list}");
    assert!(list.contains("/api/*"), "{list}");

    // The admin may impersonate; the service account may not.
    assert_eq!(
        server.ok(&["auth", "can-i", "list", "pods", "-n", "team", "--as=system:serviceaccount:team:bot"]).trim(),
        "yes"
    );
    let out =
        server.kubectl(&["auth", "can-i", "list", "secrets", "-n", "team", "--as=system:serviceaccount:team:bot"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let err = fails_with(&server, &bot, &["get", "pods", "-n", "team", "--as=system:admin"]);
    assert!(err.contains("cannot impersonate resource \"users\""), "{err}");

    // Deleting the binding takes the access away again.
    server.ok(&["delete", "rolebinding", "bot-view", "-n", "team"]);
    assert!(fails_with(&server, &bot, &["get", "pods", "-n", "team"]).contains("forbidden"));
    // Deleting the service account ends its tokens.
    server.ok(&["delete", "serviceaccount", "bot", "-n", "team"]);
    assert!(fails_with(&server, &bot, &["auth", "whoami"]).contains("Unauthorized"));
}

#[test]
fn admin_identity_reviews_and_default_policy() {
    let server = TestServer::start();
    let whoami = server.ok(&["auth", "whoami"]);
    assert!(whoami.contains("system:admin") && whoami.contains("system:masters"), "{whoami}");
    assert_eq!(server.ok(&["auth", "can-i", "*", "*"]).trim(), "yes");

    // The upstream default roles and bindings exist, and aggregation filled admin/edit/view.
    for role in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:node",
        "system:kube-scheduler",
        "system:kube-controller-manager",
    ] {
        server.ok(&["get", "clusterrole", role]);
    }
    server.ok(&["get", "clusterrolebinding", "cluster-admin", "system:basic-user", "system:kube-scheduler"]);
    let view = server.get_json(&["clusterrole", "view"]);
    assert!(view["rules"].as_array().is_some_and(|r| !r.is_empty()), "{view}");
    let admin = server.get_json(&["clusterrole", "admin"]);
    let has = |role: &serde_json::Value, resource: &str| {
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"].as_array().unwrap().iter().any(|x| x == resource))
    };
    assert!(has(&admin, "rolebindings") && has(&admin, "pods"), "admin aggregates edit and view: {admin}");

    // A new ClusterRole labelled for aggregation joins `view`.
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widget-viewer\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get]\n",
    );
    assert!(common::eventually(std::time::Duration::from_secs(10), || {
        has(&server.get_json(&["clusterrole", "view"]), "widgets")
    }));

    // SubjectAccessReview and TokenReview as an authorizing webhook would use them.
    let sar = server.ok_stdin(
        &["create", "--validate=false", "-f", "-", "-o", "json"],
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"jane","groups":["system:authenticated"],"resourceAttributes":{"verb":"create","resource":"selfsubjectaccessreviews","group":"authorization.k8s.io"}}}"#,
    );
    let sar: serde_json::Value = serde_json::from_str(&sar).unwrap();
    assert_eq!(sar["status"]["allowed"], true, "{sar}");
    assert!(sar["status"]["reason"].as_str().unwrap().contains("system:basic-user"), "{sar}");
    server.ok(&["create", "serviceaccount", "reviewer"]);
    let token = server.ok(&["create", "token", "reviewer", "--duration=10m"]).trim().to_string();
    let review = |t: &str| -> serde_json::Value {
        let body =
            format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{t}"}}}}"#);
        serde_json::from_str(&server.ok_stdin(&["create", "--validate=false", "-f", "-", "-o", "json"], &body)).unwrap()
    };
    let good = review(&token);
    assert_eq!(good["status"]["authenticated"], true, "{good}");
    assert_eq!(good["status"]["user"]["username"], "system:serviceaccount:default:reviewer");
    assert_eq!(review("abc.def.ghi")["status"]["authenticated"], false);
    // Reviews are answered, never stored: there is nothing to list.
    let err = server.fails(&["get", "tokenreviews"]);
    assert!(err.contains("MethodNotAllowed") || err.contains("not supported"), "{err}");
    let err = server.fails(&["create", "token", "reviewer", "--duration=1m"]);
    assert!(err.contains("may not specify a duration less than 10 minutes"), "{err}");

    // A user may not grant what it does not hold.
    server.ok(&["create", "serviceaccount", "granter"]);
    server.ok(&["create", "rolebinding", "granter-admin", "--clusterrole=admin", "--serviceaccount=default:granter"]);
    let granter = token_kubeconfig(&server, "granter", server.ok(&["create", "token", "granter"]).trim());
    ok_with(&server, &granter, &["create", "rolebinding", "x-view", "--clusterrole=view", "--user=x"]);
    let err =
        fails_with(&server, &granter, &["create", "rolebinding", "x-all", "--clusterrole=cluster-admin", "--user=x"]);
    assert!(err.contains("is attempting to grant RBAC permissions not currently held"), "{err}");
}
