//! The scheduler places pods as upstream's would: spread over equal nodes, kept off
//! tainted, cordoned and unmatching nodes (with upstream's FailedScheduling message in
//! `kubectl describe`), by node selector, node affinity, pod (anti-)affinity and topology
//! spread constraints, and never touching pods for another scheduler.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn create_pod(s: &TestServer, name: &str, spec: Value) {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "app", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}]);
    }
    let labels = spec.get("labels").cloned().unwrap_or(json!({"app": name}));
    if let Some(m) = spec.as_object_mut() {
        m.remove("labels");
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec});
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

fn node_of(s: &TestServer, pod: &str) -> Option<String> {
    let p = s.get_json(&["pod", pod]);
    p.pointer("/spec/nodeName").and_then(Value::as_str).map(String::from)
}

#[track_caller]
fn wait_bound(s: &TestServer, pod: &str) -> String {
    let mut node = None;
    assert!(
        eventually(WAIT, || {
            node = node_of(s, pod);
            node.is_some()
        }),
        "pod {pod} was not scheduled:\n{}",
        s.ok(&["describe", "pod", pod])
    );
    node.unwrap()
}

/// Waits for a FailedScheduling event and returns the pod's description.
#[track_caller]
fn wait_unschedulable(s: &TestServer, pod: &str, message: &str) -> String {
    let mut text = String::new();
    let found = eventually(WAIT, || {
        text = s.ok(&["describe", "pod", pod]);
        text.contains(message)
    });
    assert!(found, "no FailedScheduling with {message:?}:\n{text}");
    assert_eq!(node_of(s, pod), None);
    text
}

fn cluster(nodes: &[(&str, &str, Value, Value)]) -> (TestServer, FakeKubelet) {
    let s = TestServer::start();
    let kubelet = FakeKubelet::start(&s);
    for (name, cpu, labels, taints) in nodes {
        kubelet.add_node(name, cpu, "8Gi", labels.clone(), taints.clone());
    }
    (s, kubelet)
}

#[test]
fn pods_spread_over_equal_nodes() {
    let (s, _k) = cluster(&[
        ("n1", "4", json!({}), json!([])),
        ("n2", "4", json!({}), json!([])),
        ("n3", "4", json!({}), json!([])),
    ]);
    for i in 0..6 {
        create_pod(&s, &format!("web-{i}"), json!({}));
    }
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        *per_node.entry(wait_bound(&s, &format!("web-{i}"))).or_default() += 1;
    }
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{per_node:?}");
    let describe = s.ok(&["describe", "pod", "web-0"]);
    let node = node_of(&s, "web-0").unwrap();
    assert!(describe.contains(&format!("Successfully assigned default/web-0 to {node}")), "{describe}");
    assert!(describe.contains("default-scheduler"), "{describe}");
    let wide = s.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("Running"), "the fake kubelet runs bound pods:\n{wide}");
}

#[test]
fn untolerated_taint_keeps_a_pod_pending_until_it_tolerates() {
    let (s, _k) = cluster(&[
        ("gpu", "8", json!({}), json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])),
        ("small-1", "1", json!({}), json!([])),
        ("small-2", "1", json!({}), json!([])),
    ]);
    create_pod(
        &s,
        "trainer",
        json!({"containers": [{"name": "app", "image": "busybox", "resources": {"requests": {"cpu": "2"}}}]}),
    );
    let text = wait_unschedulable(
        &s,
        "trainer",
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. \
         preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
         2 No preemption victims found for incoming pod..",
    );
    assert!(text.contains("Warning  FailedScheduling"), "{text}");
    assert!(text.contains("PodScheduled   False"), "{text}");
    // A node change brings another attempt with the same outcome: one event, counted twice.
    s.ok(&["label", "node", "small-1", "rack=r1"]);
    let mut text = String::new();
    assert!(
        eventually(WAIT, || {
            text = s.ok(&["describe", "pod", "trainer"]);
            text.contains("(x2 over")
        }),
        "{text}"
    );
    assert_eq!(text.matches("FailedScheduling").count(), 1, "{text}");
    let events = s.get_json(&["events", "--field-selector", "involvedObject.name=trainer,reason=FailedScheduling"]);
    let event = &events["items"][0];
    assert_eq!(event["series"]["count"], 2, "{event}");
    assert_eq!(event["involvedObject"]["kind"], "Pod");
    assert_eq!(event["reportingComponent"], "default-scheduler");
    assert_eq!(event["type"], "Warning");
    // Adding a toleration (an allowed pod update) lets it in.
    // (Appended: admission's default not-ready/unreachable tolerations must stay.)
    s.ok(&[
        "patch",
        "pod",
        "trainer",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/tolerations/-","value":{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}}]"#,
    ]);
    assert_eq!(wait_bound(&s, "trainer"), "gpu");
}

#[test]
fn selectors_affinity_and_cordon() {
    let (s, _k) = cluster(&[
        ("ssd-a", "4", json!({"disk": "ssd", "topology.kubernetes.io/zone": "a"}), json!([])),
        ("hdd-b", "4", json!({"disk": "hdd", "topology.kubernetes.io/zone": "b"}), json!([])),
        ("ssd-b", "4", json!({"disk": "ssd", "topology.kubernetes.io/zone": "b"}), json!([])),
    ]);
    create_pod(&s, "fast", json!({"nodeSelector": {"disk": "ssd", "topology.kubernetes.io/zone": "a"}}));
    assert_eq!(wait_bound(&s, "fast"), "ssd-a");
    create_pod(
        &s,
        "zoned",
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]},
                                  {"key": "disk", "operator": "NotIn", "values": ["ssd"]}]}]}}}}),
    );
    assert_eq!(wait_bound(&s, "zoned"), "hdd-b");
    create_pod(
        &s,
        "prefers",
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}}]}}}),
    );
    assert_eq!(wait_bound(&s, "prefers"), "hdd-b");
    create_pod(&s, "nowhere", json!({"nodeSelector": {"disk": "tape"}}));
    wait_unschedulable(
        &s,
        "nowhere",
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..",
    );
    // Cordoned nodes take no new pods.
    s.ok(&["cordon", "ssd-a"]);
    create_pod(&s, "after-cordon", json!({"nodeSelector": {"topology.kubernetes.io/zone": "a"}}));
    wait_unschedulable(&s, "after-cordon", "1 node(s) were unschedulable");
    s.ok(&["uncordon", "ssd-a"]);
    assert_eq!(wait_bound(&s, "after-cordon"), "ssd-a");
}

#[test]
fn pod_affinity_anti_affinity_and_topology_spread() {
    let (s, _k) = cluster(&[
        ("a1", "4", json!({"topology.kubernetes.io/zone": "a"}), json!([])),
        ("a2", "4", json!({"topology.kubernetes.io/zone": "a"}), json!([])),
        ("b1", "4", json!({"topology.kubernetes.io/zone": "b"}), json!([])),
    ]);
    let one_per_node = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    let mut nodes = Vec::new();
    for i in 0..3 {
        create_pod(&s, &format!("cache-{i}"), json!({"labels": {"app": "cache"}, "affinity": one_per_node}));
        nodes.push(wait_bound(&s, &format!("cache-{i}")));
    }
    nodes.sort();
    assert_eq!(nodes, vec!["a1", "a2", "b1"]);
    create_pod(&s, "cache-3", json!({"labels": {"app": "cache"}, "affinity": one_per_node}));
    wait_unschedulable(
        &s,
        "cache-3",
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
         preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod..",
    );
    // Affinity: next to the pod labelled db.
    create_pod(&s, "db", json!({"labels": {"app": "db"}, "nodeSelector": {"kubernetes.io/hostname": "a2"}}));
    assert_eq!(wait_bound(&s, "db"), "a2");
    create_pod(
        &s,
        "db-client",
        json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
    );
    assert_eq!(wait_bound(&s, "db-client"), "a2");
    // Zone spread with maxSkew 1: zone a has two nodes, b one, yet pods split evenly by zone.
    let spread = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                         "labelSelector": {"matchLabels": {"app": "spread"}}}]);
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..4 {
        let name = format!("spread-{i}");
        create_pod(&s, &name, json!({"labels": {"app": "spread"}, "topologySpreadConstraints": spread}));
        let node = wait_bound(&s, &name);
        *zones.entry(if node.starts_with('a') { "a".into() } else { "b".into() }).or_default() += 1;
    }
    assert_eq!(zones, BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 2)]));
}

#[test]
fn pods_for_another_scheduler_are_left_alone() {
    let (s, _k) = cluster(&[("n1", "4", json!({}), json!([]))]);
    create_pod(&s, "custom", json!({"schedulerName": "my-scheduler"}));
    create_pod(&s, "normal", json!({}));
    assert_eq!(wait_bound(&s, "normal"), "n1");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(node_of(&s, "custom"), None);
    let describe = s.ok(&["describe", "pod", "custom"]);
    let events = describe.lines().find(|l| l.starts_with("Events:")).unwrap_or_default();
    assert!(events.ends_with("<none>"), "{describe}");
}
