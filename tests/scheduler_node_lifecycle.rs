//! Node lifecycle: a node whose kubelet stops renewing its Lease becomes Ready=Unknown
//! after the grace period and is tainted `node.kubernetes.io/unreachable` (NoSchedule and
//! NoExecute); its pods are evicted at once or after their tolerationSeconds; it recovers
//! when the kubelet is back. Nodes get pod CIDRs; the pods of a deleted node are
//! garbage-collected.

mod common;

use std::time::{Duration, Instant};

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn server() -> TestServer {
    TestServer::start_with(&[
        "--node-monitor-grace-period",
        "3s",
        "--node-monitor-period",
        "500ms",
        "--node-eviction-rate",
        "100",
    ])
}

fn pod_on(s: &TestServer, name: &str, node: &str, tolerations: Value) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "tolerations": tolerations,
                 "containers": [{"name": "app", "image": "busybox"}]}});
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

fn exists(s: &TestServer, pod: &str) -> bool {
    s.kubectl(&["get", "pod", pod]).status.success()
}

fn bound(s: &TestServer, pod: &str) -> bool {
    let out = s.kubectl(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
    out.status.success() && !out.stdout.is_empty()
}

fn deleting(s: &TestServer, pod: &str) -> bool {
    let out = s.kubectl(&["get", "pod", pod, "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    !out.status.success() || !out.stdout.is_empty()
}

fn taints(s: &TestServer, node: &str) -> Vec<(String, String)> {
    let n = s.get_json(&["node", node]);
    n.pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| (t["key"].as_str().unwrap_or("").to_string(), t["effect"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn ready(s: &TestServer, node: &str) -> String {
    let n = s.get_json(&["node", node]);
    n["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn silent_node_is_tainted_and_its_pods_evicted() {
    let s = server();
    let kubelet = FakeKubelet::start(&s);
    for n in ["n1", "n2", "n3"] {
        kubelet.add_node(n, "4", "8Gi", json!({}), json!([]));
    }
    let unreachable = |secs: Option<i64>| json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}]);
    // Admission gives every pod 300s of tolerance for an unreachable node; 0s means none.
    pod_on(&s, "fragile", "n2", unreachable(Some(0)));
    pod_on(&s, "patient", "n2", unreachable(Some(6)));
    pod_on(&s, "stubborn", "n2", unreachable(None));
    pod_on(&s, "elsewhere", "n1", json!([]));
    for p in ["fragile", "patient", "stubborn", "elsewhere"] {
        assert!(eventually(WAIT, || bound(&s, p)), "{p} not scheduled");
    }
    // Healthy nodes stay Ready without any status posts: the Leases are the heartbeat.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(ready(&s, "n2"), "True");

    kubelet.silence("n2");
    assert!(eventually(WAIT, || ready(&s, "n2") == "Unknown"), "n2 never went Unknown");
    let node = s.get_json(&["node", "n2"]);
    let cond = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(cond["reason"], "NodeStatusUnknown");
    assert_eq!(cond["message"], "Kubelet stopped posting node status.");
    let tainted_at = Instant::now();
    let want = [
        ("node.kubernetes.io/unreachable".to_string(), "NoSchedule".to_string()),
        ("node.kubernetes.io/unreachable".to_string(), "NoExecute".to_string()),
    ];
    assert!(
        eventually(WAIT, || {
            let t = taints(&s, "n2");
            want.iter().all(|w| t.contains(w))
        }),
        "taints: {:?}",
        taints(&s, "n2")
    );
    assert_eq!(s.ok(&["get", "node", "n2", "--no-headers"]).split_whitespace().nth(1), Some("NotReady"));
    let describe = s.ok(&["describe", "node", "n2"]);
    assert!(describe.contains("Node n2 status is now: NodeNotReady"), "{describe}");

    // Tolerating for 0s: evicted at once. For 6s: evicted after that. For ever: stays.
    assert!(eventually(WAIT, || deleting(&s, "fragile")), "fragile was not evicted");
    assert!(!deleting(&s, "patient"), "patient went before its tolerationSeconds");
    assert!(eventually(WAIT, || deleting(&s, "patient")), "patient was not evicted");
    assert!(tainted_at.elapsed() >= Duration::from_secs(4), "evicted too early: {:?}", tainted_at.elapsed());
    assert!(!deleting(&s, "stubborn"));
    assert!(!deleting(&s, "elsewhere"));
    let events = s.ok(&["get", "events", "--field-selector", "reason=TaintManagerEviction"]);
    assert!(events.contains("Marking for deletion Pod default/fragile"), "{events}");
    let fragile = s.get_json(&["pod", "fragile"]);
    let disruption =
        fragile["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "DisruptionTarget").cloned();
    assert_eq!(disruption.map(|c| c["reason"].clone()), Some(json!("DeletionByTaintManager")));

    // The kubelet comes back: Ready again, taints gone, terminating pods finished.
    kubelet.revive("n2");
    assert!(eventually(WAIT, || ready(&s, "n2") == "True"));
    assert!(eventually(WAIT, || taints(&s, "n2").is_empty()), "taints: {:?}", taints(&s, "n2"));
    assert!(eventually(WAIT, || !exists(&s, "fragile") && !exists(&s, "patient")));
    assert!(exists(&s, "stubborn"));
}

#[test]
fn pod_cidrs_and_garbage_collection_of_deleted_nodes() {
    let s = server();
    let kubelet = FakeKubelet::start(&s);
    for n in ["n1", "n2"] {
        kubelet.add_node(n, "4", "8Gi", json!({}), json!([]));
    }
    let cidr = |n: &str| s.get_json(&["node", n])["spec"]["podCIDR"].as_str().map(String::from);
    assert!(eventually(WAIT, || cidr("n1").is_some() && cidr("n2").is_some()));
    let mut cidrs = vec![cidr("n1").unwrap(), cidr("n2").unwrap()];
    cidrs.sort();
    assert_eq!(cidrs, vec!["10.42.0.0/24", "10.42.1.0/24"]);
    assert_eq!(s.get_json(&["node", "n1"])["spec"]["podCIDRs"], json!([cidr("n1").unwrap()]));

    let freed = cidr("n2").unwrap();
    pod_on(&s, "orphan", "n2", json!([{"operator": "Exists"}]));
    assert!(eventually(WAIT, || bound(&s, "orphan")));
    kubelet.silence("n2");
    s.ok(&["delete", "node", "n2"]);
    assert!(eventually(WAIT, || !exists(&s, "orphan")), "the pod of the deleted node is still there");
    // Its block is free for the next node.
    kubelet.add_node("n3", "4", "8Gi", json!({}), json!([]));
    assert!(eventually(WAIT, || cidr("n3").as_ref() == Some(&freed)), "n3 got {:?}, not {freed}", cidr("n3"));
}
