//! End-to-end: the probe engine on real containers, with the Kubernetes tutorial pods
//! ("Configure Liveness, Readiness and Startup Probes") run as written except for the
//! image names: an exec liveness probe on a file that disappears, an httpGet liveness
//! probe against an endpoint that starts failing, a tcpSocket probe on a named port with
//! a readiness probe that has an initial delay, and a startup probe gating readiness.
//! The pods run side by side on one node.

mod common;
mod kubelet_common;

use std::time::Duration;

use kubelet_common::{
    AGNHOST, BUSYBOX, GOPROXY, KubeletNode, NODE, container_status, is_ready, is_running, restart_count,
};

#[test]
fn tutorial_probes() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-exec
spec:
  nodeName: {NODE}
  containers:
  - name: liveness
    image: {BUSYBOX}
    args:
    - /bin/sh
    - -c
    - touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600
    livenessProbe:
      exec:
        command:
        - cat
        - /tmp/healthy
      initialDelaySeconds: 5
      periodSeconds: 5
---
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-http
spec:
  nodeName: {NODE}
  containers:
  - name: liveness
    image: {AGNHOST}
    args:
    - liveness
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 3
      periodSeconds: 3
---
apiVersion: v1
kind: Pod
metadata:
  name: goproxy
  labels:
    app: goproxy
spec:
  nodeName: {NODE}
  containers:
  - name: goproxy
    image: {GOPROXY}
    ports:
    - name: proxy-port
      containerPort: 8080
    readinessProbe:
      tcpSocket:
        port: proxy-port
      initialDelaySeconds: 15
      periodSeconds: 10
    livenessProbe:
      tcpSocket:
        port: proxy-port
      initialDelaySeconds: 15
      periodSeconds: 10
---
apiVersion: v1
kind: Pod
metadata:
  name: slow-start
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "sleep 4; touch /tmp/started; sleep 3600"]
    startupProbe:
      exec:
        command: ["cat", "/tmp/started"]
      failureThreshold: 30
      periodSeconds: 1
    readinessProbe:
      exec:
        command: ["true"]
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: readiness-flip
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "touch /tmp/ready; sleep 6; rm /tmp/ready; sleep 3600"]
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
      failureThreshold: 2
"#
    ));

    // readiness-flip: ready, then not ready without a restart once its file is gone.
    node.wait_pod("readiness-flip", "ready", Duration::from_secs(60), is_ready);
    let pod = node.wait_pod("readiness-flip", "unready", Duration::from_secs(30), |p| !is_ready(p));
    assert!(is_running(&pod, "app"));
    assert_eq!(restart_count(&pod, "app"), 0);
    let ready = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["reason"], "ContainersNotReady");
    assert_eq!(ready["message"], "containers with unready status: [app]");
    let describe = node.describe("readiness-flip");
    assert!(
        describe.contains("Readiness probe failed: cat: can't open '/tmp/ready': No such file or directory"),
        "{describe}"
    );

    // goproxy: Running but not ready during its readiness probe's initial delay, then 1/1.
    let pod = node.wait_pod("goproxy", "Running", Duration::from_secs(60), |p| is_running(p, "goproxy"));
    assert!(!is_ready(&pod), "ready before the readiness probe ran: {pod}");
    let row = node.row("goproxy");
    assert_eq!(&row[1..3], ["0/1", "Running"], "{row:?}");

    // slow-start: not started (and so not ready) until its startup probe succeeds.
    let pod = node.wait_pod("slow-start", "Running", Duration::from_secs(60), |p| is_running(p, "app"));
    if container_status(&pod, "app")["started"] == false {
        assert!(!is_ready(&pod));
    }
    let pod = node.wait_pod("slow-start", "started and ready", Duration::from_secs(30), is_ready);
    assert_eq!(container_status(&pod, "app")["started"], true);
    assert_eq!(restart_count(&pod, "app"), 0);

    let pod = node.wait_pod("goproxy", "1/1", Duration::from_secs(60), is_ready);
    let time = |v: &serde_json::Value| v.as_str().unwrap().parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    let running_since = time(&container_status(&pod, "goproxy")["state"]["running"]["startedAt"]);
    let ready = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    let ready_after = time(&ready["lastTransitionTime"]).duration_since(running_since);
    assert!(ready_after.as_secs() >= 14, "ready before the initial delay: {ready_after:?}");
    assert_eq!(restart_count(&pod, "goproxy"), 0, "the tcpSocket liveness probe on the named port passes");
    let row = node.row("goproxy");
    assert_eq!(&row[1..3], ["1/1", "Running"], "{row:?}");
    let describe = node.describe("goproxy");
    assert!(
        describe
            .contains("Liveness:       tcp-socket :proxy-port delay=15s timeout=1s period=10s #success=1 #failure=3"),
        "{describe}"
    );

    // liveness-http: /healthz fails after 10 seconds; the container is restarted.
    let pod = node.wait_pod("liveness-http", "a restart", Duration::from_secs(90), |p| {
        restart_count(p, "liveness") >= 1 && is_running(p, "liveness")
    });
    let last = &container_status(&pod, "liveness")["lastState"]["terminated"];
    assert!(last["exitCode"].is_i64(), "{pod}");
    let describe = node.describe("liveness-http");
    for line in [
        "Liveness probe failed: HTTP probe failed with statuscode: 500",
        "Container liveness failed liveness probe, will be restarted",
        "Liveness:       http-get http://:8080/healthz delay=3s timeout=1s period=3s #success=1 #failure=3",
    ] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }

    // liveness-exec: /tmp/healthy goes away after 30 seconds; three failures, then a restart.
    let pod =
        node.wait_pod("liveness-exec", "a restart", Duration::from_secs(150), |p| restart_count(p, "liveness") >= 1);
    assert!(restart_count(&pod, "liveness") >= 1);
    let describe = node.describe("liveness-exec");
    for line in [
        "Unhealthy",
        "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory",
        "Killing",
        "Container liveness failed liveness probe, will be restarted",
        "Liveness:       exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3",
    ] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }
    let unhealthy = describe.lines().find(|l| l.contains("Liveness probe failed")).unwrap();
    assert!(unhealthy.contains("(x3 over"), "three failures before the kill: {unhealthy}");
}
