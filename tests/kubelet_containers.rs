//! End-to-end: how containers are set up and why they fail to start — image pull
//! failures and back-off, pull policy Never, runAsNonRoot, a hostPath type check
//! (FailedMount), the security context and memory limits (OOMKilled), and projected
//! service-account tokens.

mod common;
mod kubelet_common;

use std::time::{Duration, Instant};

use kubelet_common::{BUSYBOX, KubeletNode, NODE, container_status, is_ready, waiting_reason};

#[test]
fn start_failures_are_reported_as_upstream_reports_them() {
    let Some(node) = KubeletNode::start() else { return };
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: unreachable-image
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: 127.0.0.1:1/nope:1.0
---
apiVersion: v1
kind: Pod
metadata:
  name: never-pull
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: k3rs.local/test/missing:1.0
    imagePullPolicy: Never
---
apiVersion: v1
kind: Pod
metadata:
  name: non-root
spec:
  nodeName: {NODE}
  securityContext:
    runAsNonRoot: true
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: bad-host-path
spec:
  nodeName: {NODE}
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    hostPath:
      path: /nonexistent/k3rs-test-dir
      type: Directory
"#
    ));

    let pod = node.wait_pod("unreachable-image", "ErrImagePull", Duration::from_secs(60), |p| {
        waiting_reason(p, "app") == "ErrImagePull"
    });
    assert!(!container_status(&pod, "app")["state"]["waiting"]["message"].as_str().unwrap_or("").is_empty());
    node.wait_pod("unreachable-image", "ImagePullBackOff", Duration::from_secs(60), |p| {
        waiting_reason(p, "app") == "ImagePullBackOff"
    });
    let describe = node.describe("unreachable-image");
    for line in [
        "Pulling image \"127.0.0.1:1/nope:1.0\"",
        "Failed to pull image \"127.0.0.1:1/nope:1.0\"",
        "Error: ErrImagePull",
        "Back-off pulling image \"127.0.0.1:1/nope:1.0\"",
    ] {
        assert!(describe.contains(line), "missing {line:?} in:\n{describe}");
    }

    let pod = node.wait_pod("never-pull", "ErrImageNeverPull", Duration::from_secs(60), |p| {
        waiting_reason(p, "app") == "ErrImageNeverPull"
    });
    assert_eq!(
        container_status(&pod, "app")["state"]["waiting"]["message"],
        "Container image \"k3rs.local/test/missing:1.0\" is not present with pull policy of Never"
    );

    let pod = node.wait_pod("non-root", "CreateContainerConfigError", Duration::from_secs(60), |p| {
        waiting_reason(p, "app") == "CreateContainerConfigError"
    });
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        container_status(&pod, "app")["state"]["waiting"]["message"],
        format!(
            "container has runAsNonRoot and image will run as root (pod: \"non-root_default({uid})\", container: app)"
        )
    );

    node.wait_pod("bad-host-path", "a FailedMount event", Duration::from_secs(60), |_| {
        node.describe("bad-host-path").contains(
            "MountVolume.SetUp failed for volume \"data\" : hostPath type check failed: /nonexistent/k3rs-test-dir is not a directory",
        )
    });
    let pod = node.pod("bad-host-path");
    assert_eq!(waiting_reason(&pod, "app"), "ContainerCreating");
    assert_eq!(pod["status"]["phase"], "Pending");
}

#[test]
fn security_context_and_limits_apply() {
    let Some(node) = KubeletNode::start() else { return };
    let out_dir = node.dir.join("security-out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::set_permissions(&out_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = node.path(&out_dir);
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: secure
spec:
  nodeName: {NODE}
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "id -u > /out/uid; id -g > /out/gid; id -G > /out/groups; (touch /rootfs-write 2>/dev/null && echo rw || echo ro) > /out/rootfs; grep CapEff /proc/self/status > /out/caps; touch /data/file; stat -c %g /data/file > /out/data-group; sleep 3600"]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities:
        drop: ["ALL"]
    resources:
      limits:
        cpu: 250m
        memory: 64Mi
    volumeMounts:
    - name: out
      mountPath: /out
    - name: data
      mountPath: /data
  volumes:
  - name: out
    hostPath:
      path: {out}
  - name: data
    emptyDir: {{}}
---
apiVersion: v1
kind: Pod
metadata:
  name: memory-hog
spec:
  nodeName: {NODE}
  restartPolicy: Never
  containers:
  - name: hog
    image: {BUSYBOX}
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
    resources:
      limits:
        memory: 32Mi
"#
    ));
    let pod = node.wait_pod("secure", "ready", Duration::from_secs(60), is_ready);
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
    let read = |name: &str| {
        let path = out_dir.join(name);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && !text.is_empty()
            {
                return text.trim().to_string();
            }
            assert!(Instant::now() < deadline, "{} was not written", path.display());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(read("uid"), "1000");
    assert_eq!(read("gid"), "3000");
    assert!(read("groups").split_whitespace().any(|g| g == "2000"), "fsGroup is a supplemental group");
    assert_eq!(read("rootfs"), "ro");
    assert_eq!(read("caps"), "CapEff:\t0000000000000000");
    assert_eq!(read("data-group"), "2000", "emptyDir contents get the fsGroup");

    let pod = node.wait_pod("memory-hog", "Failed", Duration::from_secs(60), |p| p["status"]["phase"] == "Failed");
    let terminated = &container_status(&pod, "hog")["state"]["terminated"];
    assert_eq!(terminated["reason"], "OOMKilled", "{pod}");
    assert_eq!(terminated["exitCode"], 137);
    assert_eq!(node.row("memory-hog")[2], "OOMKilled");
}

#[test]
fn projected_service_account_tokens() {
    let Some(node) = KubeletNode::start() else { return };
    node.server.ok(&["create", "serviceaccount", "tokens"]);
    node.server.ok(&["create", "configmap", "token-ca", "--from-literal=ca.crt=CA"]);
    node.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: token-user
spec:
  nodeName: {NODE}
  serviceAccountName: tokens
  automountServiceAccountToken: false
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    volumeMounts:
    - name: access
      mountPath: /var/run/secrets/tokens
  volumes:
  - name: access
    projected:
      sources:
      - serviceAccountToken:
          path: token
          audience: vault
          expirationSeconds: 3600
      - configMap:
          name: token-ca
      - downwardAPI:
          items:
          - path: namespace
            fieldRef:
              fieldPath: metadata.namespace
"#
    ));
    // TokenRequest is served once the identity work is in; until then the volume cannot
    // be set up and the pod says why.
    let served = node.server.kubectl(&["create", "token", "tokens"]).status.success();
    if served {
        let pod = node.wait_pod("token-user", "ready", Duration::from_secs(60), is_ready);
        let dir = node.volume_dir(&pod, "projected", "access");
        let token = std::fs::read_to_string(dir.join("token")).unwrap();
        assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
        assert_eq!(std::fs::read_to_string(dir.join("ca.crt")).unwrap(), "CA");
        assert_eq!(std::fs::read_to_string(dir.join("namespace")).unwrap(), "default");
    } else {
        node.wait_pod("token-user", "a FailedMount event", Duration::from_secs(60), |_| {
            let describe = node.describe("token-user");
            describe.contains("FailedMount") && describe.contains("serviceaccounts/token")
        });
        assert_eq!(waiting_reason(&node.pod("token-user"), "app"), "ContainerCreating");
    }
}
