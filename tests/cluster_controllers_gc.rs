//! End-to-end: the garbage collector, on owner chains built by hand
//! (ReplicaSet -> Pods -> ConfigMap) and deleted with each propagation policy.

mod cluster_support;
mod common;

use cluster_support::{get_opt, wait_until};
use common::TestServer;
use serde_json::{Value, json};

fn uid(s: &TestServer, kind: &str, name: &str) -> String {
    get_opt(s, &[kind, name]).and_then(|o| o["metadata"]["uid"].as_str().map(String::from)).expect("uid")
}

fn owner(kind: &str, api_version: &str, name: &str, uid: &str, block: bool) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": block})
}

/// A ReplicaSet with `replicas` pods labelled for it, as its controller would make them.
fn replica_set(s: &TestServer, name: &str, replicas: usize) -> String {
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"rs": name}},
            "template": {"metadata": {"labels": {"rs": name}}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}},
        },
    });
    s.ok_stdin(&["create", "-f", "-"], &rs.to_string());
    uid(s, "replicaset", name)
}

fn pod(s: &TestServer, name: &str, labels: Value, owners: Vec<Value>, finalizers: &[&str]) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "ownerReferences": owners, "finalizers": finalizers},
        "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 0, "containers": [{"name": "app", "image": "busybox"}]},
    });
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

fn config_map(s: &TestServer, name: &str, owners: Vec<Value>) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": owners}});
    s.ok_stdin(&["create", "-f", "-"], &cm.to_string());
}

fn exists(s: &TestServer, kind: &str, name: &str) -> bool {
    get_opt(s, &[kind, name]).is_some()
}

#[test]
fn background_deletion_collects_the_whole_chain() {
    let s = TestServer::start();
    let rs = replica_set(&s, "bg", 2);
    for p in ["bg-1", "bg-2"] {
        pod(&s, p, json!({"rs": "bg"}), vec![owner("ReplicaSet", "apps/v1", "bg", &rs, true)], &[]);
    }
    let p1 = uid(&s, "pod", "bg-1");
    config_map(&s, "bg-1-config", vec![owner("Pod", "v1", "bg-1", &p1, false)]);

    s.ok(&["delete", "replicaset", "bg"]);
    wait_until(&s, "the pods are collected", || !exists(&s, "pod", "bg-1") && !exists(&s, "pod", "bg-2"));
    wait_until(&s, "the pod's ConfigMap is collected", || !exists(&s, "configmap", "bg-1-config"));
}

#[test]
fn foreground_deletion_waits_for_blocking_dependents() {
    let s = TestServer::start();
    let rs = replica_set(&s, "fg", 2);
    // fg-1 blocks its owner and is held by a finalizer of its own; fg-2 does not block.
    pod(&s, "fg-1", json!({"rs": "fg"}), vec![owner("ReplicaSet", "apps/v1", "fg", &rs, true)], &["example.com/hold"]);
    pod(&s, "fg-2", json!({"rs": "fg"}), vec![owner("ReplicaSet", "apps/v1", "fg", &rs, false)], &[]);

    s.ok(&["delete", "replicaset", "fg", "--cascade=foreground", "--wait=false"]);
    wait_until(&s, "the non-blocking dependent is deleted", || !exists(&s, "pod", "fg-2"));
    wait_until(&s, "the blocking dependent is being deleted", || {
        get_opt(&s, &["pod", "fg-1"]).is_some_and(|p| p["metadata"]["deletionTimestamp"].is_string())
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let owner = get_opt(&s, &["replicaset", "fg"]).expect("the owner waits for fg-1");
    assert!(owner["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(owner["metadata"]["finalizers"], json!(["foregroundDeletion"]));

    // The dependent's own finalizer is released: it goes, then its owner.
    s.ok(&["patch", "pod", "fg-1", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    wait_until(&s, "the owner is deleted after its dependents", || !exists(&s, "replicaset", "fg"));
    assert!(!exists(&s, "pod", "fg-1"));
}

#[test]
fn orphan_deletion_keeps_dependents_without_the_reference() {
    let s = TestServer::start();
    let rs = replica_set(&s, "or", 2);
    for p in ["or-1", "or-2"] {
        pod(&s, p, json!({"rs": "or"}), vec![owner("ReplicaSet", "apps/v1", "or", &rs, true)], &[]);
    }
    s.ok(&["delete", "replicaset", "or", "--cascade=orphan"]);
    wait_until(&s, "the owner is gone", || !exists(&s, "replicaset", "or"));
    for p in ["or-1", "or-2"] {
        let pod = get_opt(&s, &["pod", p]).expect("orphaned pod kept");
        assert!(pod["metadata"]["ownerReferences"].is_null(), "{p} still has {}", pod["metadata"]["ownerReferences"]);
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(exists(&s, "pod", "or-1") && exists(&s, "pod", "or-2"), "orphans are not collected later");
}

#[test]
fn dangling_references_are_collected_or_dropped() {
    let s = TestServer::start();
    // Owned only by something that never existed: collected.
    config_map(&s, "lost", vec![owner("ConfigMap", "v1", "ghost", "7a1f4c1e-0000-4000-8000-000000000001", false)]);
    // Owned by a live object and a missing one: kept, the dangling reference dropped.
    let keeper = {
        config_map(&s, "keeper", vec![]);
        uid(&s, "configmap", "keeper")
    };
    config_map(
        &s,
        "shared",
        vec![
            owner("ConfigMap", "v1", "keeper", &keeper, false),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "7a1f4c1e-0000-4000-8000-000000000002"}),
        ],
    );
    wait_until(&s, "the ownerless ConfigMap is collected", || !exists(&s, "configmap", "lost"));
    wait_until(&s, "the dangling reference is dropped", || {
        get_opt(&s, &["configmap", "shared"])
            .is_some_and(|c| c["metadata"]["ownerReferences"].as_array().is_some_and(|r| r.len() == 1))
    });
    let shared = get_opt(&s, &["configmap", "shared"]).unwrap();
    assert_eq!(shared["metadata"]["ownerReferences"][0]["uid"], keeper.as_str());
}

#[test]
fn custom_resources_created_later_own_objects_too() {
    let s = TestServer::start();
    // The kind appears after the collector started: discovery finds it when referenced.
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
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
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
    );
    s.ok(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]);
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "gear"}}"#,
    );
    let widget = uid(&s, "widget", "gear");
    config_map(&s, "gear-settings", vec![owner("Widget", "example.com/v1", "gear", &widget, true)]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(exists(&s, "configmap", "gear-settings"), "kept while its owner exists");

    s.ok(&["delete", "widget", "gear"]);
    wait_until(&s, "the custom resource's dependent is collected", || !exists(&s, "configmap", "gear-settings"));
}
