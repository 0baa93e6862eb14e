//! End-to-end: `kubectl delete namespace` removes everything in the namespace
//! (custom resources too), waits for what is held by finalizers or still
//! terminating, reports it in the namespace's conditions, and then the
//! namespace itself goes.

mod cluster_support;
mod common;

use cluster_support::{create_pod, get_opt, wait_until};
use common::TestServer;
use serde_json::Value;

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

const CONTENT: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: held, namespace: demo, finalizers: [example.com/hold]}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: demo}
stringData: {password: x}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: gadget, namespace: demo}
spec: {size: 3}
"#;

fn condition<'a>(ns: &'a Value, ty: &str) -> Option<&'a Value> {
    ns["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == ty)
}

fn names(s: &TestServer, kind: &str, ns: &str) -> Vec<String> {
    let list = get_opt(s, &[kind, "-n", ns]).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn deleting_a_namespace_removes_its_content_then_the_namespace() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], WIDGET_CRD);
    s.ok(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]);
    s.ok(&["create", "namespace", "demo"]);
    s.ok_stdin(&["apply", "-f", "-"], CONTENT);
    create_pod(&s, "demo", "worker", &[("app", "web")], &[]);
    assert_eq!(names(&s, "widgets", "demo"), ["gadget"]);

    s.ok(&["delete", "namespace", "demo", "--wait=false"]);
    let ns = get_opt(&s, &["namespace", "demo"]).expect("still there");
    assert_eq!(ns["status"]["phase"], "Terminating");

    // Everything goes but the finalized ConfigMap, which the conditions name.
    wait_until(&s, "the conditions report the held ConfigMap", || {
        get_opt(&s, &["namespace", "demo"]).is_some_and(|ns| {
            condition(&ns, "NamespaceFinalizersRemaining").is_some_and(|c| {
                c["status"] == "True"
                    && c["reason"] == "SomeFinalizerRemain"
                    && c["message"] == "Some finalizers are remaining: example.com/hold in 1 resource instances"
            }) && condition(&ns, "NamespaceContentRemaining").is_some_and(|c| {
                c["status"] == "True"
                    && c["message"] == "Some resources are remaining: configmaps. has 1 resource instances"
            })
        })
    });
    let ns = get_opt(&s, &["namespace", "demo"]).unwrap();
    assert_eq!(condition(&ns, "NamespaceDeletionDiscoveryFailure").unwrap()["status"], "False");
    assert_eq!(condition(&ns, "NamespaceDeletionContentFailure").unwrap()["reason"], "ContentDeleted");
    for kind in ["pods", "secrets", "services", "deployments", "widgets"] {
        assert!(names(&s, kind, "demo").is_empty(), "{kind} left in demo: {:?}", names(&s, kind, "demo"));
    }
    assert_eq!(names(&s, "configmaps", "demo"), ["held"]);
    // Nothing new may be created meanwhile.
    let err = s.fails(&["create", "configmap", "late", "-n", "demo"]);
    assert!(err.contains("because it is being terminated"), "{err}");

    // Releasing the finalizer lets the namespace go; `kubectl delete` waits for it.
    s.ok(&["patch", "configmap", "held", "-n", "demo", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    s.ok(&["delete", "namespace", "demo", "--timeout=60s"]);
    assert!(get_opt(&s, &["namespace", "demo"]).is_none());
    // The custom resource definition itself is cluster-scoped and stays.
    assert!(get_opt(&s, &["crd", "widgets.example.com"]).is_some());
}

#[test]
fn a_namespace_waits_for_its_terminating_pods() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "slow"]);
    // A pod on a node with a grace period: deletion waits for its kubelet.
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: graceful, namespace: slow}
spec:
  nodeName: node-a
  terminationGracePeriodSeconds: 600
  containers: [{name: app, image: busybox}]
"#,
    );
    s.ok(&["delete", "namespace", "slow", "--wait=false"]);
    wait_until(&s, "the pod is terminating", || {
        get_opt(&s, &["pod", "graceful", "-n", "slow"]).is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
    });
    wait_until(&s, "the conditions name the pod", || {
        get_opt(&s, &["namespace", "slow"]).is_some_and(|ns| {
            condition(&ns, "NamespaceContentRemaining")
                .is_some_and(|c| c["message"] == "Some resources are remaining: pods. has 1 resource instances")
        })
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(get_opt(&s, &["namespace", "slow"]).is_some(), "the namespace waits for the pod");
    // The kubelet confirms the pod is gone.
    s.ok(&["delete", "pod", "graceful", "-n", "slow", "--force", "--grace-period=0"]);
    wait_until(&s, "the namespace is gone", || get_opt(&s, &["namespace", "slow"]).is_none());
}
