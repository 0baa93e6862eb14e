//! Priority and preemption: a pod of a higher PriorityClass that fits nowhere evicts
//! lower-priority pods (DisruptionTarget condition, Preempted event), is nominated to the
//! node, and is bound there once they are gone; `preemptionPolicy: Never` waits instead.

mod common;

use std::time::Duration;

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn pod(s: &TestServer, name: &str, class: &str, cpu: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"priorityClassName": class, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "app", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}});
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

fn node_of(s: &TestServer, name: &str) -> Option<String> {
    let out = s.kubectl(&["get", "pod", name, "-o", "json"]);
    if !out.status.success() {
        return None;
    }
    let p: Value = serde_json::from_slice(&out.stdout).ok()?;
    p.pointer("/spec/nodeName").and_then(Value::as_str).map(String::from)
}

#[test]
fn higher_priority_pods_preempt_lower_ones() {
    let s = TestServer::start();
    let kubelet = FakeKubelet::start(&s);
    kubelet.add_node("n1", "2", "4Gi", json!({}), json!([]));
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "low"}, "value": 10}"#,
    );
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000}"#,
    );
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high-polite"}, "value": 1000, "preemptionPolicy": "Never"}"#,
    );
    pod(&s, "batch-1", "low", "1");
    pod(&s, "batch-2", "low", "1");
    assert!(eventually(WAIT, || node_of(&s, "batch-1").is_some() && node_of(&s, "batch-2").is_some()));

    // Never-preempting pods wait, saying why.
    pod(&s, "polite", "high-polite", "1");
    let mut text = String::new();
    assert!(
        eventually(WAIT, || {
            text = s.ok(&["describe", "pod", "polite"]);
            text.contains(
                "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never..",
            )
        }),
        "{text}"
    );
    s.ok(&["delete", "pod", "polite", "--wait=false"]);

    pod(&s, "urgent", "high", "1500m");
    assert!(
        eventually(WAIT, || node_of(&s, "urgent").as_deref() == Some("n1")),
        "urgent was not scheduled:\n{}",
        s.ok(&["describe", "pod", "urgent"])
    );
    // Both low pods had to go (1.5 CPUs needed of 2); the events say who preempted them.
    let urgent_uid = s.get_json(&["pod", "urgent"])["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(node_of(&s, "batch-1").is_none() && node_of(&s, "batch-2").is_none());
    let events = s.ok(&["get", "events", "--field-selector", "reason=Preempted"]);
    assert!(events.contains(&format!("Preempted by pod {urgent_uid} on node n1")), "{events}");
    let urgent = s.get_json(&["pod", "urgent"]);
    assert_eq!(urgent["status"]["nominatedNodeName"], "n1");
    assert_eq!(urgent["spec"]["priority"].as_i64().or(Some(1000)), Some(1000));
    let describe = s.ok(&["describe", "pod", "urgent"]);
    assert!(describe.contains("Successfully assigned default/urgent to n1"), "{describe}");
}
