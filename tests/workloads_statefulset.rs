//! End-to-end: the StatefulSet controller — ordinal creation in order, claims from
//! volumeClaimTemplates, ordered scale-down, partitioned rolling updates, Parallel.

mod common;

use std::time::{Duration, Instant};

use common::fake_kubelet::FakeKubelet;
use common::{TestServer, eventually};
use serde_json::Value;

const WEB: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
      annotations: {k3rs.test/ready-after-ms: "400"}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        volumeMounts:
        - {name: www, mountPath: /usr/share/nginx/html}
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"#;

fn pods(s: &TestServer, selector: &str) -> Vec<Value> {
    s.get_json(&["pods", "-l", selector])["items"].as_array().cloned().unwrap_or_default()
}

fn by_name<'a>(pods: &'a [Value], name: &str) -> Option<&'a Value> {
    pods.iter().find(|p| p["metadata"]["name"] == name)
}

fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Polls until `done`, asserting `invariant` on every observation of the pods.
fn watch_pods(
    s: &TestServer,
    selector: &str,
    timeout: Duration,
    invariant: impl Fn(&[Value]),
    done: impl Fn(&[Value]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let list = pods(s, selector);
        invariant(&list);
        if done(&list) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; pods: {:#?}",
            list.iter().map(|p| &p["metadata"]["name"]).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ordered_creation_claims_scale_down_and_partitioned_update() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a", "node-b"]);
    s.ok_stdin(&["apply", "-f", "-"], WEB);
    // Each ordinal appears only once its predecessor is Ready.
    watch_pods(
        &s,
        "app=nginx",
        Duration::from_secs(60),
        |list| {
            for (next, prev) in [("web-1", "web-0"), ("web-2", "web-1")] {
                if by_name(list, next).is_some() {
                    assert!(by_name(list, prev).is_some_and(ready), "{next} exists before {prev} is ready");
                }
            }
        },
        |list| list.len() == 3 && list.iter().all(ready),
    );
    let list = pods(&s, "app=nginx");
    let web1 = by_name(&list, "web-1").unwrap();
    assert_eq!(web1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "web-1");
    assert_eq!(web1["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
    assert_eq!(web1["spec"]["hostname"], "web-1");
    assert_eq!(web1["spec"]["subdomain"], "nginx");
    assert_eq!(web1["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "www-web-1");
    for i in 0..3 {
        let pvc = s.get_json(&["pvc", &format!("www-web-{i}")]);
        assert_eq!(pvc["metadata"]["labels"]["app"], "nginx");
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
    }
    assert!(eventually(Duration::from_secs(10), || {
        let st = s.get_json(&["sts", "web"])["status"].clone();
        st["readyReplicas"] == 3
            && st["availableReplicas"] == 3
            && st["currentReplicas"] == 3
            && st["currentRevision"] == st["updateRevision"]
    }));
    let st = s.get_json(&["sts", "web"])["status"].clone();
    let first_revision = st["currentRevision"].as_str().unwrap().to_string();
    assert_eq!(web1["metadata"]["labels"]["controller-revision-hash"], first_revision.as_str());

    // Scale down: the highest ordinal goes first.
    s.ok(&["scale", "sts", "web", "--replicas=1"]);
    watch_pods(
        &s,
        "app=nginx",
        Duration::from_secs(60),
        |list| {
            if by_name(list, "web-1").is_none() {
                assert!(by_name(list, "web-2").is_none(), "web-1 went before web-2");
            }
        },
        |list| list.len() == 1,
    );
    assert!(s.get_json(&["pvc", "www-web-2"])["metadata"]["name"].is_string(), "claims are retained by default");

    // Partitioned update: only ordinals >= 2 take the new template.
    s.ok(&["scale", "sts", "web", "--replicas=3"]);
    s.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    s.ok(&[
        "patch",
        "sts",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#,
    ]);
    s.ok(&["set", "image", "sts/web", "nginx=nginx:1.28"]);
    assert!(eventually(Duration::from_secs(60), || {
        let list = pods(&s, "app=nginx");
        by_name(&list, "web-2").is_some_and(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28" && ready(p))
    }));
    std::thread::sleep(Duration::from_secs(2));
    let list = pods(&s, "app=nginx");
    for name in ["web-0", "web-1"] {
        assert_eq!(
            by_name(&list, name).unwrap()["spec"]["containers"][0]["image"],
            "nginx:1.27",
            "{name} is below the partition"
        );
    }
    let st = s.get_json(&["sts", "web"])["status"].clone();
    assert_eq!(st["updatedReplicas"], 1);
    assert_eq!(st["currentRevision"], first_revision.as_str());
    assert_ne!(st["updateRevision"], first_revision.as_str());

    // Partition 0: the rest follows, highest ordinal first, and the revision becomes current.
    s.ok(&[
        "patch",
        "sts",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    s.ok(&["rollout", "status", "sts/web", "--timeout=90s"]);
    assert!(eventually(Duration::from_secs(30), || {
        let st = s.get_json(&["sts", "web"])["status"].clone();
        st["currentRevision"] == st["updateRevision"] && st["updatedReplicas"] == 3
    }));
    assert!(pods(&s, "app=nginx").iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28"));
    let history = s.ok(&["rollout", "history", "sts/web"]);
    assert!(history.lines().any(|l| l.starts_with('2')), "{history}");
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=web"]);
    assert!(events.contains("create Pod web-0 in StatefulSet web successful"), "{events}");
    assert!(events.contains("create Claim www-web-0 Pod web-0 in StatefulSet web success"), "{events}");
}

#[test]
fn parallel_pod_management_creates_all_at_once() {
    let s = TestServer::start();
    let _kubelet = FakeKubelet::start_with_nodes(&s, &["node-a"]);
    let parallel = WEB
        .replace("name: web\n", "name: db\n")
        .replace("app: nginx", "app: db")
        .replace("  serviceName: nginx\n", "  serviceName: db\n  podManagementPolicy: Parallel\n")
        .replace("k3rs.test/ready-after-ms: \"400\"", "k3rs.test/ready: \"false\"");
    s.ok_stdin(&["apply", "-f", "-"], &parallel);
    // None ever gets ready, yet all three exist.
    assert!(eventually(Duration::from_secs(30), || pods(&s, "app=db").len() == 3));
    assert!(pods(&s, "app=db").iter().all(|p| !ready(p)));
    let st = s.get_json(&["sts", "db"])["status"].clone();
    assert_eq!(st["replicas"], 3);
}
