//! Admission with the real kubectl: service accounts and their token volume,
//! DefaultTolerationSeconds, LimitRanger and ResourceQuota with upstream's messages.

mod common;

use common::TestServer;

const POD: &str =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: NAME\nspec:\n  containers:\n  - name: app\n    image: busybox\n";

fn pod(name: &str) -> String {
    POD.replace("NAME", name)
}

#[test]
fn pods_get_their_service_account_token_volume_and_tolerations() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "apps"]);
    // Every namespace gets its default service account and the cluster CA at once.
    server.ok(&["get", "serviceaccount", "default", "-n", "apps"]);
    let ca = server.get_json(&["configmap", "kube-root-ca.crt", "-n", "apps"]);
    assert!(ca["data"]["ca.crt"].as_str().unwrap().contains("BEGIN CERTIFICATE"));

    server.ok_stdin(&["apply", "-n", "apps", "-f", "-"], &pod("web"));
    let p = server.get_json(&["pod", "web", "-n", "apps"]);
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    let volume = &p["spec"]["volumes"][0];
    assert!(volume["name"].as_str().unwrap().starts_with("kube-api-access-"), "{volume}");
    assert_eq!(volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
    let mount = &p["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(mount["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    assert_eq!(mount["readOnly"], true);
    let tolerations = p["spec"]["tolerations"].as_array().unwrap();
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        assert!(
            tolerations.iter().any(|t| t["key"] == key && t["tolerationSeconds"] == 300 && t["effect"] == "NoExecute"),
            "{tolerations:?}"
        );
    }

    // No automounting when the pod (or its account) says so.
    let quiet = pod("quiet").replace("spec:\n", "spec:\n  automountServiceAccountToken: false\n");
    server.ok_stdin(&["apply", "-n", "apps", "-f", "-"], &quiet);
    assert!(server.get_json(&["pod", "quiet", "-n", "apps"])["spec"].get("volumes").is_none());

    // A service account that does not exist is an error.
    let ghost = pod("ghost").replace("spec:\n", "spec:\n  serviceAccountName: nobody\n");
    let out = server.kubectl_stdin(&["apply", "-n", "apps", "-f", "-"], &ghost);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pods \"ghost\" is forbidden: error looking up service account apps/nobody: serviceaccount \"nobody\" not found"),
        "{err}"
    );

    // Deleting the default service account brings it back.
    server.ok(&["delete", "serviceaccount", "default", "-n", "apps"]);
    server.ok(&["get", "serviceaccount", "default", "-n", "apps"]);

    // A legacy token Secret is filled in and authenticates.
    server.ok(&["create", "serviceaccount", "legacy", "-n", "apps"]);
    server.ok_stdin(
        &["apply", "-n", "apps", "-f", "-"],
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy-token\n  annotations:\n    kubernetes.io/service-account.name: legacy\ntype: kubernetes.io/service-account-token\n",
    );
    let secret = server.get_json(&["secret", "legacy-token", "-n", "apps"]);
    assert!(secret["data"]["token"].is_string() && secret["data"]["ca.crt"].is_string(), "{secret}");
}

#[test]
fn limit_ranges_default_and_bound_resources() {
    let server = TestServer::start();
    server.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: limits\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 128Mi}\n    defaultRequest: {cpu: 250m}\n    max: {cpu: \"1\"}\n",
    );
    server.ok_stdin(&["apply", "-f", "-"], &pod("defaults"));
    let p = server.get_json(&["pod", "defaults"]);
    let resources = &p["spec"]["containers"][0]["resources"];
    assert_eq!(resources["limits"]["cpu"], "500m", "{resources}");
    assert_eq!(resources["requests"]["cpu"], "250m", "{resources}");
    assert_eq!(resources["requests"]["memory"], "128Mi", "{resources}");
    let note = p["metadata"]["annotations"]["kubernetes.io/limit-ranger"].as_str().unwrap();
    assert_eq!(
        note,
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    );

    let big = pod("big").replace("image: busybox\n", "image: busybox\n    resources:\n      limits: {cpu: \"2\"}\n");
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"), "{err}");
}

#[test]
fn resource_quotas_track_usage_and_refuse_what_exceeds_them() {
    let server = TestServer::start();
    server.ok(&["create", "namespace", "q"]);
    server.ok(&["create", "quota", "small", "-n", "q", "--hard=pods=2,configmaps=3,requests.cpu=1"]);
    let within = pod("a").replace("image: busybox\n", "image: busybox\n    resources:\n      requests: {cpu: 600m}\n");
    server.ok_stdin(&["apply", "-n", "q", "-f", "-"], &within);
    let quota = server.get_json(&["quota", "small", "-n", "q"]);
    assert_eq!(quota["status"]["used"]["pods"], "1", "{quota}");
    assert_eq!(quota["status"]["used"]["requests.cpu"], "600m", "{quota}");
    assert_eq!(quota["status"]["hard"]["pods"], "2");

    let greedy = pod("b").replace("image: busybox\n", "image: busybox\n    resources:\n      requests: {cpu: 500m}\n");
    let out = server.kubectl_stdin(&["apply", "-n", "q", "-f", "-"], &greedy);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pods \"b\" is forbidden: exceeded quota: small, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1"),
        "{err}"
    );
    let unspecified = server.kubectl_stdin(&["apply", "-n", "q", "-f", "-"], &pod("c"));
    let err = String::from_utf8_lossy(&unspecified.stderr);
    assert!(err.contains("pods \"c\" is forbidden: failed quota: small: must specify requests.cpu for: app"), "{err}");

    // Object counts (the namespace's kube-root-ca.crt counts too).
    server.ok(&["create", "configmap", "one", "-n", "q"]);
    server.ok(&["create", "configmap", "two", "-n", "q"]);
    let err = server.fails(&["create", "configmap", "three", "-n", "q"]);
    assert!(
        err.contains("exceeded quota: small, requested: configmaps=1, used: configmaps=3, limited: configmaps=3"),
        "{err}"
    );

    // Deleting frees the quota again.
    server.ok(&["delete", "pod", "a", "-n", "q", "--wait=false"]);
    assert!(common::eventually(std::time::Duration::from_secs(30), || {
        server.get_json(&["quota", "small", "-n", "q"])["status"]["used"]["pods"] == "0"
    }));
    server.ok_stdin(&["apply", "-n", "q", "-f", "-"], &greedy);
}
