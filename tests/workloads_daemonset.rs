//! End-to-end: the DaemonSet controller following nodes (added, tainted, labelled,
//! removed), rolling updates with ControllerRevisions, and OnDelete.

mod common;

use std::time::Duration;

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::{Value, json};

const AGENT: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: agent:1
"#;

fn pods(s: &TestServer, selector: &str) -> Vec<Value> {
    s.get_json(&["pods", "-l", selector])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

fn pinned_node(pod: &Value) -> String {
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        ["matchFields"][0]["values"][0]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn nodes_of(pods: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = pods.iter().map(pinned_node).collect();
    v.sort();
    v
}

fn status(s: &TestServer, name: &str) -> Value {
    s.get_json(&["ds", name])["status"].clone()
}

#[test]
fn daemonset_follows_nodes_taints_and_selectors() {
    let s = TestServer::start();
    let kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(&["apply", "-f", "-"], AGENT);
    assert!(eventually(Duration::from_secs(30), || status(&s, "agent")["numberReady"] == 2), "{}", status(&s, "agent"));
    let list = pods(&s, "app=agent");
    assert_eq!(nodes_of(&list), vec!["node-a", "node-b"]);
    let ds = s.get_json(&["ds", "agent"]);
    for p in &list {
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], ds["metadata"]["uid"]);
        assert!(p["metadata"]["labels"]["controller-revision-hash"].is_string());
        assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "1");
        let tolerations = p["spec"]["tolerations"].as_array().unwrap();
        assert!(
            tolerations.iter().any(|t| t["key"] == "node.kubernetes.io/unschedulable" && t["effect"] == "NoSchedule")
        );
        assert!(tolerations.iter().any(|t| t["key"] == "node.kubernetes.io/not-ready" && t["effect"] == "NoExecute"));
        assert_eq!(p["spec"]["nodeName"], pinned_node(p).as_str());
    }
    let st = status(&s, "agent");
    assert_eq!(
        (st["desiredNumberScheduled"].clone(), st["currentNumberScheduled"].clone(), st["numberMisscheduled"].clone()),
        (json!(2), json!(2), json!(0))
    );
    assert_eq!((st["numberAvailable"].clone(), st["updatedNumberScheduled"].clone()), (json!(2), json!(2)));
    assert_eq!(st["observedGeneration"], ds["metadata"]["generation"]);

    // A new node gets a pod; a node with an untolerated taint does not.
    kubelet.add_node("node-c", "4", "8Gi", json!({}), json!([]));
    s.ok(&["taint", "node", "node-b", "dedicated=db:NoSchedule"]);
    kubelet.add_node(
        "node-d",
        "4",
        "8Gi",
        json!({"kubernetes.io/hostname": "node-d"}),
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    );
    assert!(
        eventually(Duration::from_secs(30), || nodes_of(&pods(&s, "app=agent")) == ["node-a", "node-b", "node-c"]),
        "{:?}\n{}\n{}",
        nodes_of(&pods(&s, "app=agent")),
        s.ok(&["get", "pods,nodes,events", "-o", "wide"]),
        s.log().lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect::<Vec<_>>().join("\n")
    );
    // The NoSchedule taint keeps node-b's pod (already running) but node-d gets none.
    assert!(eventually(Duration::from_secs(10), || {
        let st = status(&s, "agent");
        st["desiredNumberScheduled"] == 2 && st["numberMisscheduled"] == 1
    }));

    // NoExecute evicts the daemon pod.
    s.ok(&["taint", "node", "node-c", "drain=now:NoExecute"]);
    assert!(eventually(Duration::from_secs(30), || nodes_of(&pods(&s, "app=agent")) == ["node-a", "node-b"]));

    // A removed node no longer counts (its pod is left to the pod garbage collector).
    kubelet.remove_node("node-a");
    assert!(eventually(Duration::from_secs(30), || status(&s, "agent")["desiredNumberScheduled"] == 0));

    // A node selector limits the DaemonSet to labelled nodes.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &AGENT
            .replace("name: agent\n", "name: ssd\n")
            .replace("app: agent", "app: ssd")
            .replace("    spec:\n      containers", "    spec:\n      nodeSelector: {disk: ssd}\n      containers"),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(pods(&s, "app=ssd").is_empty());
    s.ok(&["label", "node", "node-b", "disk=ssd"]);
    s.ok(&["taint", "node", "node-b", "dedicated-"]);
    assert!(eventually(Duration::from_secs(30), || nodes_of(&pods(&s, "app=ssd")) == ["node-b"]));

    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=agent"]);
    assert!(events.contains("SuccessfulCreate") && events.contains("SuccessfulDelete"), "{events}");
}

#[test]
fn daemonset_rolling_update_history_and_on_delete() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b", "node-c"]);
    s.ok_stdin(&["apply", "-f", "-"], AGENT);
    s.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    let first_hash =
        pods(&s, "app=agent")[0]["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap().to_string();

    s.ok(&["set", "image", "ds/agent", "agent=agent:2"]);
    let out = s.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let list = pods(&s, "app=agent");
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|p| p["spec"]["containers"][0]["image"] == "agent:2"));
    assert!(list.iter().all(|p| p["metadata"]["labels"]["controller-revision-hash"] != first_hash.as_str()));
    assert!(list.iter().all(|p| p["metadata"]["labels"]["pod-template-generation"] == "2"));
    let revisions = s.get_json(&["controllerrevisions", "-l", "app=agent"]);
    let mut numbers: Vec<i64> =
        revisions["items"].as_array().unwrap().iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, vec![1, 2]);
    let history = s.ok(&["rollout", "history", "ds/agent"]);
    assert!(history.lines().any(|l| l.starts_with('1')) && history.lines().any(|l| l.starts_with('2')), "{history}");

    // Undo brings the first template back, as revision 3.
    s.ok(&["rollout", "undo", "ds/agent"]);
    s.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(eventually(Duration::from_secs(30), || {
        pods(&s, "app=agent").iter().all(|p| p["spec"]["containers"][0]["image"] == "agent:1")
    }));
    let revisions = s.get_json(&["controllerrevisions", "-l", "app=agent"]);
    let current =
        revisions["items"].as_array().unwrap().iter().find(|r| r["metadata"]["name"] == format!("agent-{first_hash}"));
    assert_eq!(current.map(|r| r["revision"].clone()), Some(json!(3)));

    // OnDelete: a template change waits until a pod is deleted.
    s.ok(&[
        "patch",
        "ds",
        "agent",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}"#,
    ]);
    s.ok(&["set", "image", "ds/agent", "agent=agent:3"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(pods(&s, "app=agent").iter().all(|p| p["spec"]["containers"][0]["image"] == "agent:1"));
    let victim = pods(&s, "app=agent")[0]["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["delete", "pod", &victim]);
    assert!(eventually(Duration::from_secs(30), || {
        let list = pods(&s, "app=agent");
        list.len() == 3 && list.iter().filter(|p| p["spec"]["containers"][0]["image"] == "agent:3").count() == 1
    }));
    assert_eq!(status(&s, "agent")["updatedNumberScheduled"], 1);
}
