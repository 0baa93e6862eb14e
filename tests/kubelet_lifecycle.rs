//! End-to-end: pod lifecycle on a real containerd through the kubelet's pod manager,
//! driven with kubectl — two containers sharing a volume, init containers and sidecars,
//! postStart and preStop hooks, ConfigMap/Secret environment and volumes, graceful
//! deletion and the cleanup after it.

mod common;
mod kubelet_common;

use std::time::{Duration, Instant};

use kubelet_common::{BUSYBOX, KubeletNode, NODE, container_status, is_ready, is_running, waiting_reason};

#[test]
fn two_containers_share_a_volume_and_reach_running() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: two-containers
spec:
  nodeName: {NODE}
  volumes:
  - name: shared-data
    emptyDir: {{}}
  containers:
  - name: web
    image: {BUSYBOX}
    command: ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
    volumeMounts:
    - name: shared-data
      mountPath: /usr/share/nginx/html
  - name: writer
    image: {BUSYBOX}
    volumeMounts:
    - name: shared-data
      mountPath: /pod-data
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the writer container > /pod-data/index.html; sleep 3600"]
"#
    ));
    let pod = node.wait_pod("two-containers", "2/2 Running", Duration::from_secs(60), |p| {
        is_ready(p) && is_running(p, "web") && is_running(p, "writer")
    });
    let row = node.row("two-containers");
    assert_eq!(&row[1..3], ["2/2", "Running"], "{row:?}");
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    assert!(pod["status"]["podIP"].is_null(), "pods have no IP until pod networking exists");
    assert!(pod["status"]["startTime"].is_string());
    assert!(container_status(&pod, "web")["containerID"].as_str().unwrap().starts_with("containerd://"));
    let types: Vec<&str> =
        pod["status"]["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
    let shared = node.volume_dir(&pod, "empty-dir", "shared-data").join("index.html");
    assert_eq!(std::fs::read_to_string(shared).unwrap(), "Hello from the writer container\n");
    let describe = node.describe("two-containers");
    for line in ["Created container: web", "Started container writer", "already present on machine"] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }

    // A pod that vanishes from the API (forced deletion) is cleaned up too.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    node.server.ok(&["delete", "pod", "two-containers", "--grace-period=0", "--force"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.runtime_objects(&uid) != (0, 0) || node.root_dir().join("pods").join(&uid).exists() {
        assert!(Instant::now() < deadline, "the forcibly deleted pod was not cleaned up");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn init_containers_run_first_and_sidecars_start_before_the_next_one() {
    let Some(node) = KubeletNode::start() else { return };
    let out = node.dir.join("init-out");
    std::fs::create_dir_all(&out).unwrap();
    let out = node.path(&out);
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: init-demo
spec:
  nodeName: {NODE}
  containers:
  - name: nginx
    image: {BUSYBOX}
    command: ["sh", "-c", "cp /usr/share/nginx/html/index.html /out/seen-by-main; exec httpd -f -p 80 -h /usr/share/nginx/html"]
    ports:
    - containerPort: 80
    volumeMounts:
    - name: workdir
      mountPath: /usr/share/nginx/html
    - name: out
      mountPath: /out
  initContainers:
  - name: logger
    image: {BUSYBOX}
    restartPolicy: Always
    command: ["sh", "-c", "touch /work-dir/sidecar-up; while true; do sleep 1; done"]
    volumeMounts:
    - name: workdir
      mountPath: /work-dir
  - name: install
    image: {BUSYBOX}
    command: ["sh", "-c", "test -f /work-dir/sidecar-up || exit 3; sleep 3; echo installed by the init container > /work-dir/index.html"]
    volumeMounts:
    - name: workdir
      mountPath: /work-dir
  dnsPolicy: Default
  volumes:
  - name: workdir
    emptyDir: {{}}
  - name: out
    hostPath:
      path: {out}
"#
    ));
    // While `install` runs, the pod is initializing.
    let pod =
        node.wait_pod("init-demo", "the init container running", Duration::from_secs(60), |p| is_running(p, "install"));
    assert_eq!(waiting_reason(&pod, "nginx"), "PodInitializing");
    assert_eq!(pod["status"]["phase"], "Pending");
    let row = node.row("init-demo");
    assert_eq!(row[2], "Init:1/2", "{row:?}");

    let pod = node
        .wait_pod("init-demo", "Running and ready", Duration::from_secs(60), |p| is_ready(p) && is_running(p, "nginx"));
    let install = container_status(&pod, "install");
    assert_eq!(install["state"]["terminated"]["reason"], "Completed");
    assert_eq!(install["restartCount"], 0, "the sidecar was up before install ran");
    assert!(is_running(&pod, "logger"), "the sidecar keeps running");
    let row = node.row("init-demo");
    assert_eq!(&row[1..3], ["2/2", "Running"], "{row:?}");
    let seen = std::fs::read_to_string(format!("{out}/seen-by-main")).unwrap();
    assert_eq!(seen, "installed by the init container\n");
}

#[test]
fn hooks_run_around_the_container_and_deletion_cleans_up() {
    let Some(node) = KubeletNode::start() else { return };
    let out_dir = node.dir.join("hooks-out");
    let out = node.path(&out_dir);
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: lifecycle-demo
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 30
  volumes:
  - name: out
    hostPath:
      path: {out}
      type: DirectoryOrCreate
  - name: scratch
    emptyDir:
      medium: Memory
      sizeLimit: 16Mi
  containers:
  - name: lifecycle-demo-container
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'echo got SIGTERM >> /out/events; exit 0' TERM; echo main started >> /out/events; while true; do sleep 1; done"]
    volumeMounts:
    - name: out
      mountPath: /out
    - name: scratch
      mountPath: /scratch
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "sleep 2; echo Hello from the postStart handler > /usr/share/message; cp /usr/share/message /out/poststart"]
      preStop:
        exec:
          command: ["/bin/sh", "-c", "echo preStop ran >> /out/events"]
  - name: stubborn
    image: {BUSYBOX}
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
"#
    ));
    // The container is not Running until postStart is done.
    let pod = node.wait_pod("lifecycle-demo", "the first container created", Duration::from_secs(60), |p| {
        container_status(p, "lifecycle-demo-container")["containerID"].is_string()
    });
    if !out_dir.join("poststart").exists() {
        assert_eq!(waiting_reason(&pod, "lifecycle-demo-container"), "ContainerCreating", "{pod}");
    }
    let pod = node.wait_pod("lifecycle-demo", "Running", Duration::from_secs(60), is_ready);
    assert_eq!(std::fs::read_to_string(out_dir.join("poststart")).unwrap(), "Hello from the postStart handler\n");
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    let scratch = node.volume_dir(&pod, "empty-dir", "scratch");
    assert_eq!(node.mounts_under(&scratch), vec![scratch.clone()], "a Memory emptyDir is a tmpfs");
    assert_eq!(node.runtime_objects(&uid), (1, 2));

    // Delete with a short grace period: preStop, then SIGTERM; the stubborn one is killed.
    let started = Instant::now();
    node.server.ok(&["delete", "pod", "lifecycle-demo", "--grace-period=4", "--wait=false"]);
    node.wait_pod_gone("lifecycle-demo", Duration::from_secs(60));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(3500), "the grace period was not honoured: {took:?}");
    assert!(took < Duration::from_secs(30), "SIGKILL did not come after the grace period: {took:?}");
    let events = std::fs::read_to_string(out_dir.join("events")).unwrap();
    assert_eq!(events, "main started\npreStop ran\ngot SIGTERM\n");

    // Nothing is left: containers, snapshots, sandbox, namespaces, volumes, logs.
    assert_eq!(node.runtime_objects(&uid), (0, 0));
    let pod_dir = node.root_dir().join("pods").join(&uid);
    assert!(!pod_dir.exists(), "{} is left", pod_dir.display());
    assert!(node.mounts_under(&node.root_dir()).is_empty());
    let ns_files: Vec<_> = std::fs::read_dir(node.run_dir().join("ns")).unwrap().flatten().collect();
    assert!(ns_files.is_empty(), "namespace files left: {ns_files:?}");
    let logs: Vec<_> = std::fs::read_dir(node.log_dir()).unwrap().flatten().collect();
    assert!(logs.is_empty(), "log directories left: {logs:?}");
}

#[test]
fn a_failing_post_start_hook_kills_the_container() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: bad-hook
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "exit 7"]
"#
    ));
    node.wait_pod("bad-hook", "a restart after the failed hook", Duration::from_secs(90), |p| {
        kubelet_common::restart_count(p, "app") >= 1
    });
    let describe = node.describe("bad-hook");
    for line in ["FailedPostStartHook", "PostStartHook failed", "Killing"] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }
}

#[test]
fn config_maps_and_secrets_feed_environment_and_volumes() {
    let Some(node) = KubeletNode::start() else { return };
    let out_dir = node.dir.join("config-out");
    let out = node.path(&out_dir);
    node.apply(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: game-config
data:
  SPECIAL_LEVEL: very
  game.properties: "lives=3\n"
---
apiVersion: v1
kind: Secret
metadata:
  name: db-secret
stringData:
  username: admin
  password: s3cr3t
---
apiVersion: v1
kind: Pod
metadata:
  name: config-demo
  labels:
    app: config
spec:
  nodeName: {NODE}
  hostAliases:
  - ip: "10.1.2.3"
    hostnames: ["foo.local", "bar.local"]
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "env > /out/env; cat /etc/config/game.properties > /out/config; cat /etc/secret/password > /out/secret; cat /etc/podinfo/labels > /out/labels; cat /etc/hosts > /out/hosts; cat /etc/resolv.conf > /out/resolv; hostname > /out/hostname; sleep 3600"]
    env:
    - name: SPECIAL_LEVEL_KEY
      valueFrom:
        configMapKeyRef:
          name: game-config
          key: SPECIAL_LEVEL
    - name: DB_USER
      valueFrom:
        secretKeyRef:
          name: db-secret
          key: username
    - name: MY_POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: GREETING
      value: "level $(SPECIAL_LEVEL_KEY)"
    envFrom:
    - configMapRef:
        name: game-config
      prefix: CFG_
    volumeMounts:
    - name: config-volume
      mountPath: /etc/config
    - name: secret-volume
      mountPath: /etc/secret
    - name: podinfo
      mountPath: /etc/podinfo
    - name: out
      mountPath: /out
  volumes:
  - name: config-volume
    configMap:
      name: game-config
  - name: secret-volume
    secret:
      secretName: db-secret
  - name: podinfo
    downwardAPI:
      items:
      - path: labels
        fieldRef:
          fieldPath: metadata.labels
  - name: out
    hostPath:
      path: {out}
      type: DirectoryOrCreate
"#
    ));
    let pod = node.wait_pod("config-demo", "Running", Duration::from_secs(60), is_ready);
    let read = |name: &str| {
        let path = out_dir.join(name);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.is_empty()
            {
                return text;
            }
            assert!(Instant::now() < deadline, "{} was not written", path.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let env = read("env");
    for line in [
        "SPECIAL_LEVEL_KEY=very",
        "DB_USER=admin",
        "MY_POD_NAME=config-demo",
        "GREETING=level very",
        "CFG_SPECIAL_LEVEL=very",
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line:?} in:\n{env}");
    }
    assert_eq!(read("config"), "lives=3\n");
    assert_eq!(read("secret"), "s3cr3t");
    assert_eq!(read("labels"), "app=\"config\"");
    let hosts = read("hosts");
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.lines().any(|l| l == "10.1.2.3\tfoo.local\tbar.local"), "{hosts}");
    let resolv = read("resolv");
    assert!(resolv.lines().any(|l| l.starts_with("search default.svc.cluster.local svc.cluster.local cluster.local")));
    assert!(resolv.lines().any(|l| l == "nameserver 10.43.0.10"), "{resolv}");
    assert!(resolv.lines().any(|l| l == "options ndots:5"), "{resolv}");
    assert_eq!(read("hostname"), "config-demo\n");
    let secret_dir = node.volume_dir(&pod, "secret", "secret-volume");
    assert_eq!(node.mounts_under(&secret_dir), vec![secret_dir.clone()], "secrets live on a tmpfs");

    // Changes reach the volumes (through the watches), not the environment.
    node.server.ok(&[
        "patch",
        "configmap",
        "game-config",
        "--type=merge",
        "-p",
        r#"{"data":{"game.properties":"lives=5\n"}}"#,
    ]);
    node.server.ok(&["label", "pod", "config-demo", "tier=backend"]);
    let config_file = node.volume_dir(&pod, "configmap", "config-volume").join("game.properties");
    let labels_file = node.volume_dir(&pod, "downward-api", "podinfo").join("labels");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let config = std::fs::read_to_string(&config_file).unwrap_or_default();
        let labels = std::fs::read_to_string(&labels_file).unwrap_or_default();
        if config == "lives=5\n" && labels == "app=\"config\"\ntier=\"backend\"" {
            break;
        }
        assert!(Instant::now() < deadline, "volumes not refreshed: {config:?} {labels:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A missing key keeps the container in CreateContainerConfigError until it exists.
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: missing-key
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    env:
    - name: NOPE
      valueFrom:
        configMapKeyRef:
          name: late-config
          key: value
"#
    ));
    let pod = node.wait_pod("missing-key", "CreateContainerConfigError", Duration::from_secs(60), |p| {
        waiting_reason(p, "app") == "CreateContainerConfigError"
    });
    assert_eq!(container_status(&pod, "app")["state"]["waiting"]["message"], "configmap \"late-config\" not found");
    let row = node.row("missing-key");
    assert_eq!(row[2], "CreateContainerConfigError", "{row:?}");
    node.server.ok(&["create", "configmap", "late-config", "--from-literal=value=here"]);
    node.wait_pod("missing-key", "Running once the ConfigMap exists", Duration::from_secs(60), is_ready);
}
