//! End-to-end: PodDisruptionBudget status follows the pods, and the eviction
//! API (directly and through `kubectl drain`) refuses what the budget forbids.

mod cluster_support;
mod common;

use cluster_support::{create_pod, get_opt, set_pod_status, wait_until};
use common::TestServer;
use serde_json::{Value, json};

const NODE: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {kubernetes.io/hostname: node-a}}
"#;

fn status(s: &TestServer, pdb: &str) -> Value {
    get_opt(s, &["pdb", pdb]).map(|p| p["status"].clone()).unwrap_or_default()
}

/// (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed)
fn counts(s: &TestServer, pdb: &str) -> (i64, i64, i64, i64) {
    let st = status(s, pdb);
    let n = |f: &str| st[f].as_i64().unwrap_or(-1);
    (n("currentHealthy"), n("desiredHealthy"), n("expectedPods"), n("disruptionsAllowed"))
}

/// POSTs an Eviction for the pod; returns kubectl's result.
fn evict(s: &TestServer, pod: &str) -> std::process::Output {
    let body =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}});
    let path = s.manifest(&format!("evict-{pod}.json"), &body.to_string());
    s.kubectl(&[
        "create",
        "--raw",
        &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
        "-f",
        path.to_str().unwrap(),
    ])
}

fn ready_pod(s: &TestServer, name: &str, ip: &str) {
    create_pod(s, "default", name, &[("app", "db")], &[]);
    set_pod_status(s, "default", name, ip, true);
}

#[test]
fn budget_status_and_evictions() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], NODE);
    for (i, name) in ["db-0", "db-1", "db-2"].iter().enumerate() {
        ready_pod(&s, name, &format!("10.42.0.{}", i + 10));
    }
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: db}}\n",
    );
    wait_until(&s, "the budget allows one disruption", || counts(&s, "db") == (3, 2, 3, 1));
    let st = status(&s, "db");
    assert_eq!(st["conditions"][0]["type"], "DisruptionAllowed");
    assert_eq!(st["conditions"][0]["status"], "True");
    assert_eq!(st["conditions"][0]["reason"], "SufficientPods");
    let out = s.ok(&["get", "pdb", "db"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["db", "2", "N/A", "1"], "{out}");

    // One eviction is allowed; the pod goes.
    let out = evict(&s, "db-0");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until(&s, "db-0 is gone", || get_opt(&s, &["pod", "db-0"]).is_none());
    wait_until(&s, "the budget allows nothing more", || counts(&s, "db") == (2, 2, 2, 0));
    assert_eq!(status(&s, "db")["conditions"][0]["reason"], "InsufficientPods");

    // The next one would break the budget: 429.
    let out = evict(&s, "db-1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot evict pod as it would violate the pod's disruption budget"), "{err}");
    assert!(get_opt(&s, &["pod", "db-1"]).is_some());

    // A pod that is not running yet can go regardless.
    create_pod(&s, "default", "db-pending", &[("app", "db")], &[]);
    let out = evict(&s, "db-pending");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A new healthy pod allows one more: drain evicts exactly one and then waits on the budget.
    ready_pod(&s, "db-3", "10.42.0.13");
    wait_until(&s, "the budget allows one disruption again", || counts(&s, "db") == (3, 2, 3, 1));
    let out = s.kubectl(&["drain", "node-a", "--force", "--timeout=12s", "--delete-emptydir-data"]);
    assert!(!out.status.success(), "drain cannot finish while the budget holds");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot evict pod as it would violate the pod's disruption budget"), "{err}");
    let left: Vec<String> =
        ["db-1", "db-2", "db-3"].iter().filter(|p| get_opt(&s, &["pod", p]).is_some()).map(|p| p.to_string()).collect();
    assert_eq!(left.len(), 2, "exactly one pod was evicted: {left:?}");
    let node = get_opt(&s, &["node", "node-a"]).unwrap();
    assert_eq!(node["spec"]["unschedulable"], true, "drain cordons the node");
}

#[test]
fn percentages_count_the_controllers_replicas() {
    let s = TestServer::start();
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}},
        },
    });
    s.ok_stdin(&["create", "-f", "-"], &rs.to_string());
    let uid = get_opt(&s, &["rs", "web"]).unwrap()["metadata"]["uid"].as_str().unwrap().to_string();
    for (i, name) in ["web-a", "web-b"].iter().enumerate() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 0, "containers": [{"name": "app", "image": "busybox"}]},
        });
        s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
        set_pod_status(&s, "default", name, &format!("10.42.1.{}", i + 2), true);
    }
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 50%\n  selector: {matchLabels: {app: web}}\n",
    );
    // Four replicas expected, half of them (2) must be healthy, 2 are: nothing may go.
    wait_until(&s, "the budget counts the ReplicaSet's replicas", || counts(&s, "web") == (2, 2, 4, 0));

    // maxUnavailable counts replicas too; an unmanaged pod leaves a warning event.
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: loose}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {tier: loose}}\n",
    );
    create_pod(&s, "default", "stray", &[("tier", "loose")], &[]);
    set_pod_status(&s, "default", "stray", "10.42.1.9", true);
    wait_until(&s, "the unmanaged pod is reported", || {
        !s.ok(&["get", "events", "--field-selector", "reason=UnmanagedPods", "-o", "name"]).trim().is_empty()
    });
    assert_eq!(counts(&s, "loose").2, 0, "unmanaged pods are not expected");
}
