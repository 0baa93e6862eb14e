//! End-to-end: the ReplicaSet and ReplicationController controllers against a real
//! `k3rs server`, with nodes and pod status driven by the fake kubelet.

mod common;

use std::time::Duration;

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::Value;

const RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
spec:
  replicas: 3
  selector:
    matchLabels:
      tier: frontend
  template:
    metadata:
      labels:
        tier: frontend
    spec:
      containers:
      - name: php-redis
        image: registry.k8s.io/gb-frontend:v5
"#;

fn pods_of(s: &TestServer, selector: &str) -> Vec<Value> {
    let list = s.get_json(&["pods", "-l", selector]);
    list["items"].as_array().cloned().unwrap_or_default()
}

fn active(pods: &[Value]) -> usize {
    pods.iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).count()
}

#[test]
fn replicaset_keeps_its_replicas_and_reports_status() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(&["apply", "-f", "-"], RS);

    assert!(
        eventually(Duration::from_secs(30), || {
            let rs = s.get_json(&["rs", "frontend"]);
            rs["status"]["readyReplicas"] == 3 && rs["status"]["availableReplicas"] == 3
        }),
        "status: {}",
        s.get_json(&["rs", "frontend"])["status"]
    );
    let rs = s.get_json(&["rs", "frontend"]);
    assert_eq!(rs["status"]["replicas"], 3);
    assert_eq!(rs["status"]["fullyLabeledReplicas"], 3);
    assert_eq!(rs["status"]["observedGeneration"], rs["metadata"]["generation"]);
    let pods = pods_of(&s, "tier=frontend");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["name"], "frontend");
        assert_eq!(owner["uid"], rs["metadata"]["uid"]);
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
        assert!(p["metadata"]["name"].as_str().unwrap().starts_with("frontend-"));
    }

    // A deleted pod is replaced.
    let victim = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["delete", "pod", &victim, "--wait=false"]);
    assert!(eventually(Duration::from_secs(30), || {
        let pods = pods_of(&s, "tier=frontend");
        active(&pods) == 3 && pods.iter().all(|p| p["metadata"]["name"] != victim.as_str())
    }));

    // Scaling down deletes the surplus.
    s.ok(&["scale", "rs", "frontend", "--replicas=1"]);
    assert!(eventually(Duration::from_secs(30), || active(&pods_of(&s, "tier=frontend")) == 1));
    assert!(eventually(Duration::from_secs(30), || s.get_json(&["rs", "frontend"])["status"]["replicas"] == 1));

    // An orphan pod matching the selector is adopted, then deleted as surplus.
    s.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stray\n  labels:\n    tier: frontend\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    assert!(eventually(Duration::from_secs(30), || {
        let pods = pods_of(&s, "tier=frontend");
        active(&pods) == 1 && !pods.iter().any(|p| p["metadata"]["name"] == "stray")
    }));

    // Relabelling a pod releases it: the controller replaces it.
    let kept = pods_of(&s, "tier=frontend")[0]["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["label", "pod", &kept, "tier=released", "--overwrite"]);
    assert!(eventually(Duration::from_secs(30), || {
        let released = s.get_json(&["pod", &kept]);
        released["metadata"]["ownerReferences"].as_array().is_none_or(|a| a.is_empty())
            && active(&pods_of(&s, "tier=frontend")) == 1
    }));

    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=frontend"]);
    assert!(events.contains("SuccessfulCreate") && events.contains("Created pod: frontend-"), "{events}");
    assert!(events.contains("SuccessfulDelete"), "{events}");
}

#[test]
fn replication_controller_keeps_its_replicas() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 2
  selector:
    app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
"#,
    );
    assert!(eventually(Duration::from_secs(30), || {
        let rc = s.get_json(&["rc", "nginx"]);
        rc["status"]["readyReplicas"] == 2 && rc["status"]["availableReplicas"] == 2
    }));
    let pods = pods_of(&s, "app=nginx");
    assert_eq!(pods.len(), 2);
    assert_eq!(pods[0]["metadata"]["ownerReferences"][0]["kind"], "ReplicationController");
    let out = s.ok(&["get", "rc", "nginx"]);
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(4).collect::<Vec<_>>() == ["nginx", "2", "2", "2"]),
        "{out}"
    );
}
