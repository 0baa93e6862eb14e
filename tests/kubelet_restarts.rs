//! End-to-end: restarts — a crashing container reaching CrashLoopBackOff with a growing
//! back-off, restartPolicy Never/OnFailure outcomes, and an agent restart (kubelet and
//! containerd) that leaves running containers untouched and cleans up pods deleted while
//! it was down.

mod common;
mod kubelet_common;

use std::time::{Duration, Instant};

use kubelet_common::{
    AGNHOST, BUSYBOX, KubeletNode, NODE, container_status, is_ready, is_running, restart_count, waiting_reason,
};

fn waiting_message(pod: &serde_json::Value, name: &str) -> String {
    container_status(pod, name)["state"]["waiting"]["message"].as_str().unwrap_or("").to_string()
}

#[test]
fn crash_loop_back_off_grows() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  nodeName: {NODE}
  containers:
  - name: crash
    image: {BUSYBOX}
    command: ["sh", "-c", "echo crashing; exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  nodeName: {NODE}
  restartPolicy: Never
  containers:
  - name: job
    image: {BUSYBOX}
    command: ["sh", "-c", "echo done > /dev/termination-log; exit 0"]
---
apiVersion: v1
kind: Pod
metadata:
  name: deadline
spec:
  nodeName: {NODE}
  activeDeadlineSeconds: 3
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: fails-once
spec:
  nodeName: {NODE}
  restartPolicy: OnFailure
  containers:
  - name: job
    image: {BUSYBOX}
    command: ["sh", "-c", "if [ -f /data/ran ]; then exit 0; fi; touch /data/ran; echo boom; exit 2"]
    terminationMessagePolicy: FallbackToLogsOnError
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    emptyDir: {{}}
"#
    ));

    // restartPolicy Never: Succeeded with the termination message.
    let pod = node.wait_pod("once", "Succeeded", Duration::from_secs(60), |p| p["status"]["phase"] == "Succeeded");
    let terminated = &container_status(&pod, "job")["state"]["terminated"];
    assert_eq!(terminated["reason"], "Completed");
    assert_eq!(terminated["message"], "done\n");
    assert_eq!(node.row("once")[2], "Completed");

    // restartPolicy OnFailure: restarted once after the failure, then Succeeded; the
    // failure's message falls back to its log.
    let pod =
        node.wait_pod("fails-once", "Succeeded", Duration::from_secs(60), |p| p["status"]["phase"] == "Succeeded");
    let status = container_status(&pod, "job");
    assert_eq!(status["restartCount"], 1);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 2);
    assert_eq!(status["lastState"]["terminated"]["message"], "boom\n");

    // activeDeadlineSeconds: the pod fails and its container is stopped.
    let pod =
        node.wait_pod("deadline", "DeadlineExceeded", Duration::from_secs(60), |p| p["status"]["phase"] == "Failed");
    assert_eq!(pod["status"]["reason"], "DeadlineExceeded");
    assert_eq!(pod["status"]["message"], "Pod was active on the node longer than the specified deadline");
    let pod = node.wait_pod("deadline", "the container stopped", Duration::from_secs(30), |p| !is_running(p, "app"));
    assert!(container_status(&pod, "app")["state"]["terminated"].is_object(), "{pod}");

    // restartPolicy Always with a container that always fails: 10s, then 20s of back-off.
    let pod = node.wait_pod("crasher", "CrashLoopBackOff", Duration::from_secs(60), |p| {
        waiting_reason(p, "crash") == "CrashLoopBackOff"
    });
    let message = waiting_message(&pod, "crash");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    assert_eq!(message, format!("back-off 10s restarting failed container=crash pod=crasher_default({uid})"));
    let last = container_status(&pod, "crash")["lastState"]["terminated"].clone();
    assert_eq!((last["exitCode"].as_i64(), last["reason"].as_str()), (Some(1), Some("Error")));
    let row = node.row("crasher");
    assert_eq!(&row[1..3], ["0/1", "CrashLoopBackOff"], "{row:?}");
    let restarts = restart_count(&pod, "crash");

    let pod = node.wait_pod("crasher", "a longer back-off", Duration::from_secs(60), |p| {
        waiting_message(p, "crash").starts_with("back-off 20s")
    });
    // The run that crashed into the 20s back-off started 10s after the one before ended.
    let time = |v: &serde_json::Value| v.as_str().unwrap().parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    let finished_before = time(&last["finishedAt"]);
    let started_after = time(&container_status(&pod, "crash")["lastState"]["terminated"]["startedAt"]);
    let waited = started_after.duration_since(finished_before);
    assert!(waited.as_secs() >= 9, "the 10s back-off was cut short: {waited:?}");
    assert_eq!(restart_count(&pod, "crash"), restarts + 1);
    assert_eq!(pod["status"]["phase"], "Running");
    // Only the current run and the one before it are kept in the runtime.
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.runtime_objects(uid).1 > 2 {
        assert!(Instant::now() < deadline, "old runs are not removed: {:?}", node.runtime_objects(uid));
        std::thread::sleep(Duration::from_millis(200));
    }
    let describe = node.describe("crasher");
    let line = format!("Back-off restarting failed container crash in pod crasher_default({uid})");
    assert!(describe.contains(&line), "missing {line:?} in:\n{describe}");
}

#[test]
fn a_new_image_replaces_the_container() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: upgraded
spec:
  nodeName: {NODE}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
"#
    ));
    let before = node.wait_pod("upgraded", "ready", Duration::from_secs(60), is_ready);
    node.server.ok(&["set", "image", "pod/upgraded", &format!("app={AGNHOST}")]);
    let after = node.wait_pod("upgraded", "the new image running", Duration::from_secs(60), |p| {
        is_running(p, "app") && container_status(p, "app")["image"] == AGNHOST
    });
    assert_ne!(container_status(&after, "app")["containerID"], container_status(&before, "app")["containerID"]);
    assert_eq!(restart_count(&after, "app"), 1);
    let describe = node.describe("upgraded");
    assert!(describe.contains("Container app definition changed, will be restarted"), "{describe}");
}

#[test]
fn agent_restart_leaves_containers_untouched() {
    let Some(mut node) = KubeletNode::start() else { return };
    for name in ["steady", "doomed"] {
        node.apply(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: prepare
    image: {BUSYBOX}
    command: ["sh", "-c", "echo ready > /data/ready"]
    volumeMounts:
    - name: data
      mountPath: /data
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "touch /tmp/healthy; while true; do sleep 1; done"]
    volumeMounts:
    - name: data
      mountPath: /data
    livenessProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      periodSeconds: 2
    readinessProbe:
      exec:
        command: ["cat", "/data/ready"]
      periodSeconds: 2
  volumes:
  - name: data
    emptyDir: {{}}
"#
        ));
    }
    let before = node.wait_pod("steady", "ready", Duration::from_secs(60), is_ready);
    let doomed = node.wait_pod("doomed", "ready", Duration::from_secs(60), is_ready);
    let doomed_uid = doomed["metadata"]["uid"].as_str().unwrap().to_string();
    let id_before = container_status(&before, "app")["containerID"].clone();
    let started_before = container_status(&before, "app")["state"]["running"]["startedAt"].clone();

    // The agent goes away (kubelet and containerd); a pod is deleted meanwhile.
    node.stop_kubelet();
    node.restart_runtime();
    node.server.ok(&["delete", "pod", "doomed", "--grace-period=0", "--force"]);
    node.start_kubelet();

    // Several probe periods later: the same containers, no restarts, still ready.
    let steady_ready_since = Instant::now();
    while steady_ready_since.elapsed() < Duration::from_secs(12) {
        let pod = node.pod("steady");
        assert!(is_ready(&pod), "steady became unready after the restart: {pod}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = node.pod("steady");
    assert_eq!(container_status(&after, "app")["containerID"], id_before);
    assert_eq!(container_status(&after, "app")["state"]["running"]["startedAt"], started_before);
    assert_eq!(restart_count(&after, "app"), 0);
    assert_eq!(restart_count(&after, "prepare"), 0, "init containers do not run again");
    assert!(is_running(&after, "app"));
    let describe = node.describe("steady");
    assert_eq!(describe.matches("Started container app").count(), 1, "{describe}");

    // The pod deleted while the agent was down is gone from the node.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.runtime_objects(&doomed_uid) != (0, 0) {
        assert!(Instant::now() < deadline, "the deleted pod's containers are still there");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!node.root_dir().join("pods").join(&doomed_uid).exists());

    // Liveness still works on the re-adopted container, and deletion still cleans up.
    let uid = after["metadata"]["uid"].as_str().unwrap().to_string();
    node.server.ok(&["delete", "pod", "steady", "--wait=false"]);
    node.wait_pod_gone("steady", Duration::from_secs(60));
    assert_eq!(node.runtime_objects(&uid), (0, 0));
}
