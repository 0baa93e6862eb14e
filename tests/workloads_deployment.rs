//! End-to-end: the Deployment controller with the real kubectl (`create deployment`,
//! `scale`, `set image`, `rollout status|history|undo|restart|pause|resume`), nodes and
//! pod status driven by the fake kubelet.

mod common;

use std::time::{Duration, Instant};

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::Value;

fn replica_sets(s: &TestServer, selector: &str) -> Vec<Value> {
    s.get_json(&["rs", "-l", selector])["items"].as_array().cloned().unwrap_or_default()
}

fn rs_replicas(rs: &Value) -> i64 {
    rs["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn revision(rs: &Value) -> String {
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().unwrap_or("").to_string()
}

fn image_of(rs: &Value) -> String {
    rs["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or("").to_string()
}

fn ready_pods(s: &TestServer, selector: &str) -> usize {
    let pods = s.get_json(&["pods", "-l", selector]);
    pods["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .filter(|p| {
                    p["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn rollout_status(s: &TestServer, name: &str) -> String {
    s.ok(&["rollout", "status", &format!("deployment/{name}"), "--timeout=90s"])
}

#[test]
fn create_scale_set_image_history_undo_restart() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b", "node-c"]);

    s.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]);
    let out = rollout_status(&s, "web");
    assert!(out.contains("deployment \"web\" successfully rolled out"), "{out}");
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(d["status"]["observedGeneration"], d["metadata"]["generation"]);
    let conditions = d["status"]["conditions"].as_array().unwrap();
    let cond = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned().unwrap();
    assert_eq!(cond("Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(cond("Progressing")["reason"], "NewReplicaSetAvailable");
    let rss = replica_sets(&s, "app=web");
    assert_eq!(rss.len(), 1);
    let rs1 = &rss[0];
    let hash = rs1["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string();
    assert_eq!(rs1["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs1["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash.as_str());
    assert_eq!(rs1["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"]);
    assert_eq!(rs1["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(rs1["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "2");
    assert_eq!(rs1["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "3");

    s.ok(&["scale", "deployment", "web", "--replicas=10"]);
    rollout_status(&s, "web");
    assert_eq!(ready_pods(&s, "app=web"), 10);
    let nodes: std::collections::BTreeSet<String> = s.get_json(&["pods", "-l", "app=web"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(nodes.len(), 3, "pods spread over the nodes: {nodes:?}");

    // A rolling update with explicit budgets and pods that take a moment to get ready
    // (the template annotation is itself a new revision).
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"strategy":{"rollingUpdate":{"maxSurge":2,"maxUnavailable":1}},
            "template":{"metadata":{"annotations":{"k3rs.test/ready-after-ms":"400"}}}}}"#,
    ]);
    rollout_status(&s, "web");
    let rev2 = replica_sets(&s, "app=web").into_iter().find(|rs| revision(rs) == "2").expect("revision 2");
    let rev2_name = rev2["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut saw_both = false;
    loop {
        let rss = replica_sets(&s, "app=web");
        let total: i64 = rss.iter().map(rs_replicas).sum();
        assert!(total <= 12, "maxSurge 2 exceeded: {total} replicas in {rss:#?}");
        let new = rss.iter().find(|rs| image_of(rs) == "nginx:1.28");
        let old_active = rss.iter().filter(|rs| image_of(rs) != "nginx:1.28" && rs_replicas(rs) > 0).count();
        if new.is_some_and(|n| rs_replicas(n) > 0) && old_active > 0 {
            saw_both = true;
        }
        let ready = ready_pods(&s, "app=web");
        assert!(ready >= 9, "maxUnavailable 1 violated: only {ready} ready pods");
        let d = s.get_json(&["deployment", "web"]);
        let done = d["status"]["updatedReplicas"] == 10
            && d["status"]["availableReplicas"] == 10
            && d["status"]["replicas"] == 10
            && d["status"]["observedGeneration"] == d["metadata"]["generation"];
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "rollout did not finish: {}", d["status"]);
    }
    assert!(saw_both, "old and new ReplicaSets were never active together");
    rollout_status(&s, "web");

    let history = s.ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, vec!["1", "2", "3"], "{history}");
    let rev3 = s.ok(&["rollout", "history", "deployment/web", "--revision=3"]);
    assert!(rev3.contains("nginx:1.28"), "{rev3}");

    // Undo returns to the previous template, reusing its ReplicaSet as revision 4.
    s.ok(&["rollout", "undo", "deployment/web"]);
    rollout_status(&s, "web");
    let d = s.get_json(&["deployment", "web"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    let rss = replica_sets(&s, "app=web");
    assert_eq!(rss.len(), 3, "{rss:#?}");
    let reused = rss.iter().find(|rs| rs["metadata"]["name"] == rev2_name.as_str()).unwrap();
    assert_eq!(revision(reused), "4");
    assert_eq!(reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "2");
    assert_eq!(rs_replicas(reused), 10);
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4");
    let history = s.ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, vec!["1", "3", "4"], "{history}");

    // Restart rolls out a new ReplicaSet with the restartedAt annotation.
    s.ok(&["rollout", "restart", "deployment/web"]);
    rollout_status(&s, "web");
    let rss = replica_sets(&s, "app=web");
    let newest = rss.iter().find(|rs| revision(rs) == "5").expect("revision 5");
    assert!(newest["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string());
    assert_eq!(rs_replicas(newest), 10);
    assert!(rss.iter().filter(|rs| revision(rs) != "5").all(|rs| rs_replicas(rs) == 0));

    let describe = s.ok(&["describe", "deployment", "web"]);
    assert!(describe.contains("ScalingReplicaSet"), "{describe}");
    assert!(describe.contains(&format!("Scaled up replica set web-{hash} from 0 to 2")), "{describe}");
    assert!(describe.contains(&format!("Scaled up replica set web-{hash} from 2 to 10")), "{describe}");
    assert!(describe.contains("NewReplicaSet:"), "{describe}");
}

#[test]
fn recreate_scales_old_pods_down_before_creating_new_ones() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  replicas: 3
  strategy:
    type: Recreate
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
      annotations: {k3rs.test/ready-after-ms: "200"}
    spec:
      containers:
      - name: db
        image: postgres:16
"#,
    );
    rollout_status(&s, "db");
    s.ok(&["set", "image", "deployment/db", "db=postgres:17"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rss = replica_sets(&s, "app=db");
        let active = rss.iter().filter(|rs| rs_replicas(rs) > 0 || rs["status"]["replicas"].as_i64().unwrap_or(0) > 0);
        assert!(active.count() <= 1, "old and new ReplicaSets had pods at once: {rss:#?}");
        let d = s.get_json(&["deployment", "db"]);
        if d["status"]["updatedReplicas"] == 3 && d["status"]["availableReplicas"] == 3 && d["status"]["replicas"] == 3
        {
            break;
        }
        assert!(Instant::now() < deadline, "recreate did not finish: {}", d["status"]);
    }
    rollout_status(&s, "db");
}

#[test]
fn progress_deadline_pause_resume_and_history_limit() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  revisionHistoryLimit: 1
  progressDeadlineSeconds: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: api:1
"#,
    );
    rollout_status(&s, "api");

    // Pause: a template change makes no new ReplicaSet until resumed.
    s.ok(&["rollout", "pause", "deployment/api"]);
    s.ok(&["set", "image", "deployment/api", "api=api:2"]);
    assert!(eventually(Duration::from_secs(20), || {
        let d = s.get_json(&["deployment", "api"]);
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Progressing" && c["reason"] == "DeploymentPaused"))
    }));
    assert_eq!(replica_sets(&s, "app=api").len(), 1);
    s.ok(&["rollout", "resume", "deployment/api"]);
    rollout_status(&s, "api");
    assert_eq!(replica_sets(&s, "app=api").len(), 2);

    // A third template: the history limit keeps one old ReplicaSet.
    s.ok(&["set", "image", "deployment/api", "api=api:3"]);
    rollout_status(&s, "api");
    assert!(eventually(Duration::from_secs(20), || replica_sets(&s, "app=api").len() == 2));
    let revisions: Vec<String> = replica_sets(&s, "app=api").iter().map(revision).collect();
    assert!(revisions.contains(&"3".to_string()) && revisions.contains(&"2".to_string()), "{revisions:?}");

    // Pods that never get ready: the rollout exceeds its progress deadline.
    s.ok(&[
        "patch",
        "deployment",
        "api",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"k3rs.test/ready":"false"}}}}}"#,
    ]);
    let out = s.kubectl(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("deployment \"api\" exceeded its progress deadline"), "{stderr}");
    let d = s.get_json(&["deployment", "api"]);
    let progressing =
        d["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Progressing").unwrap().clone();
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert!(progressing["message"].as_str().unwrap().ends_with("has timed out progressing."));
    // Availability held: old pods stayed while new ones were not ready.
    assert!(ready_pods(&s, "app=api") >= 1);
}

/// With the node controllers: a node that stops heartbeating is tainted, its pods are
/// evicted after their tolerationSeconds, and the Deployment's replacements run elsewhere.
#[test]
fn pods_of_a_silent_node_are_replaced_on_other_nodes() {
    let s = TestServer::start_with(&["--node-monitor-grace-period", "3s", "--node-monitor-period", "500ms"]);
    let kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 4
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      containers:
      - name: api
        image: api:1
"#,
    );
    rollout_status(&s, "api");
    let on_a = |s: &TestServer| {
        s.get_json(&["pods", "-l", "app=api"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "node-a" && p["metadata"]["deletionTimestamp"].is_null())
            .count()
    };
    assert!(on_a(&s) > 0, "the scheduler spread the pods over both nodes");
    kubelet.silence("node-a");
    assert!(
        eventually(Duration::from_secs(60), || {
            let d = s.get_json(&["deployment", "api"]);
            on_a(&s) == 0 && d["status"]["availableReplicas"] == 4 && d["status"]["readyReplicas"] == 4
        }),
        "{}",
        s.get_json(&["deployment", "api"])["status"]
    );
    let running_on_b = s.get_json(&["pods", "-l", "app=api", "--field-selector", "spec.nodeName=node-b"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && ready(p))
        .count();
    assert_eq!(running_on_b, 4);
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}
