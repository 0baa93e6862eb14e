//! Harness of the kubelet end-to-end tests: a real `k3rs server --disable-agent`, a
//! private containerd in the test process (`k3rs_runtime::testing::TestEnvironment`),
//! test images built from the host's busybox, a Node object, and the pod manager started
//! in the test process with a client from the server's kubeconfig. Tests drive the real
//! kubectl with pods bound to the node (`spec.nodeName`).
//!
//! Everything is removed at the end, even when a test fails: pods' containers, sandboxes
//! and snapshots (containerd), volume mounts, namespace files, and the directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k3rs_kubelet::pod::{BackoffLimits, KubeletConfig, PodManager, PodManagerHandle};
use k3rs_runtime::image::builder::{ArchiveFormat, Compression, ImageBuilder, Layer, write_archive};
use k3rs_runtime::testing::{TestEnvironment, can_run_containers};
use serde_json::Value;

use crate::common::{TestServer, path_str};

/// The node the tests run pods on.
pub const NODE: &str = "kubelet-test-node";
/// The node's address (reported as hostIP).
pub const NODE_IP: &str = "127.0.0.1";

/// Test images: one userland (the host's static busybox plus a few scripts) under the
/// names the tutorials use, with the tutorials' entrypoints.
pub const BUSYBOX: &str = "k3rs.local/test/busybox:1.36";
pub const AGNHOST: &str = "k3rs.local/test/agnhost:2.40";
pub const GOPROXY: &str = "k3rs.local/test/goproxy:0.1";

/// A tiny HTTP responder for `nc -ll -e`: `GET /healthz` answers 200 for the first 10
/// seconds after the server started and 500 afterwards (agnhost's `liveness`), anything
/// else 200 with the file under /www if there is one.
const HTTP_HANDLER: &str = r#"#!/bin/sh
read -r method path version
while read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
done
status="200 OK"
body=ok
case "$path" in
  /healthz)
    started=$(cat /tmp/server-started 2>/dev/null || date +%s)
    age=$(( $(date +%s) - started ))
    if [ "$age" -gt 10 ]; then status="500 Internal Server Error"; body="error: $age"; fi
    ;;
  *)
    if [ -f "/www$path" ]; then body=$(cat "/www$path"); fi
    ;;
esac
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$status" "${#body}" "$body"
"#;

/// agnhost's `liveness` subcommand, in shell.
const AGNHOST_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  liveness)
    date +%s > /tmp/server-started
    trap 'exit 0' TERM INT
    nc -ll -p 8080 -e /bin/http-handler &
    wait
    ;;
  *)
    echo "agnhost: unknown command $1" >&2
    exit 1
    ;;
esac
"#;

/// goproxy listens on 8080.
const GOPROXY_SCRIPT: &str = r#"#!/bin/sh
trap 'exit 0' TERM INT
nc -ll -p 8080 -e /bin/cat &
wait
"#;

fn images() -> std::io::Result<Vec<k3rs_runtime::image::builder::BuiltImage>> {
    let base = Layer::busybox()?;
    let scripts = Layer::new()
        .file("bin/http-handler", HTTP_HANDLER, 0o755)
        .file("agnhost", AGNHOST_SCRIPT, 0o755)
        .file("goproxy", GOPROXY_SCRIPT, 0o755)
        .dir("www", 0o755)
        .dir("usr/share", 0o755);
    let layered = |name: &str| ImageBuilder::new(name).layer(base.clone()).layer(scripts.clone());
    Ok(vec![
        layered(BUSYBOX).cmd(&["sh"]).build()?,
        layered(AGNHOST).entrypoint(&["/agnhost"]).build()?,
        layered(GOPROXY).entrypoint(&["/goproxy"]).build()?,
    ])
}

/// A server, a containerd and a kubelet for one test.
pub struct KubeletNode {
    pub server: TestServer,
    pub rt: tokio::runtime::Runtime,
    env: Option<TestEnvironment>,
    manager: Option<PodManagerHandle>,
    /// The kubelet's root and log directories live here.
    pub dir: PathBuf,
}

impl KubeletNode {
    /// Starts everything; `None` (the test is skipped) when containerd, runc, busybox or
    /// root privileges are missing.
    pub fn start() -> Option<KubeletNode> {
        if !can_run_containers() {
            return None;
        }
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("K3RS_TEST_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("k3rs_kubelet=info,k3rs_runtime=warn")),
            )
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
        let server = TestServer::start();
        let env = rt.block_on(TestEnvironment::start()).expect("private containerd starts");
        let dir = env.dir().join("kubelet");
        std::fs::create_dir_all(&dir).expect("kubelet dir");
        let mut node = KubeletNode { server, rt, env: Some(env), manager: None, dir };
        node.import_images();
        node.register_node();
        node.start_kubelet();
        Some(node)
    }

    fn runtime(&self) -> &k3rs_runtime::Runtime {
        &self.env.as_ref().expect("environment").runtime
    }

    fn import_images(&self) {
        let archive = self.dir.join("images.tar");
        let built = images().expect("build test images");
        write_archive(&built.iter().collect::<Vec<_>>(), &archive, ArchiveFormat::Oci, Compression::None)
            .expect("write image archive");
        let imported = self.rt.block_on(self.runtime().import_images(&archive, None)).expect("import images");
        assert_eq!(imported.len(), 3, "{imported:?}");
        let _ = std::fs::remove_file(&archive);
    }

    fn register_node(&self) {
        self.server.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: {NODE}\n  labels:\n    kubernetes.io/hostname: {NODE}\n"
            ),
        );
    }

    /// The kubelet root directory (volumes under `pods/<uid>/volumes`).
    pub fn root_dir(&self) -> PathBuf {
        self.dir.join("root")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The runtime's run directory (sandboxes, namespace files).
    pub fn run_dir(&self) -> PathBuf {
        self.env.as_ref().expect("environment").config().run_dir.clone()
    }

    pub fn kubelet_config(&self) -> KubeletConfig {
        let mut config = KubeletConfig::new(NODE, self.root_dir());
        config.pod_log_dir = self.log_dir();
        config.node_ips = vec![NODE_IP.to_string()];
        config.cluster_dns = vec!["10.43.0.10".to_string()];
        config.node_allocatable.cpu = Some("2".into());
        config.node_allocatable.memory = Some("2Gi".into());
        config.retry_period = Duration::from_secs(2);
        config.image_pull_backoff = BackoffLimits { initial: Duration::from_secs(2), max: Duration::from_secs(10) };
        config
    }

    /// Starts the pod manager (again).
    pub fn start_kubelet(&mut self) {
        assert!(self.manager.is_none(), "the kubelet already runs");
        let kubeconfig = self.server.kubeconfig();
        let runtime = self.runtime().clone();
        let config = self.kubelet_config();
        let manager = self.rt.block_on(async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig");
            let options = kube::config::KubeConfigOptions::default();
            let client_config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("client config");
            let client = kube::Client::try_from(client_config).expect("client");
            PodManager::start(client, runtime, config).await.expect("pod manager starts")
        });
        self.manager = Some(manager);
    }

    /// Stops the pod manager (containers keep running).
    pub fn stop_kubelet(&mut self) {
        if let Some(manager) = self.manager.take() {
            self.rt.block_on(manager.shutdown());
        }
    }

    /// Closes the runtime and containerd and starts both again (an agent restart).
    pub fn restart_runtime(&mut self) {
        let env = self.env.as_mut().expect("environment");
        self.rt.block_on(env.restart()).expect("runtime restarts");
    }

    /// `kubectl apply -f -`.
    pub fn apply(&self, manifest: &str) {
        self.server.ok_stdin(&["apply", "-f", "-"], manifest);
    }

    /// The pod as JSON.
    pub fn pod(&self, name: &str) -> Value {
        self.server.get_json(&["pod", name])
    }

    /// Polls the pod until `check` holds; panics with the pod and its events otherwise.
    #[track_caller]
    pub fn wait_pod(&self, name: &str, what: &str, timeout: Duration, mut check: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.server.kubectl(&["get", "pod", name, "-o", "json"]);
            if out.status.success()
                && let Ok(pod) = serde_json::from_slice::<Value>(&out.stdout)
                && check(&pod)
            {
                return pod;
            }
            if Instant::now() > deadline {
                let describe = self.server.kubectl(&["describe", "pod", name]);
                panic!(
                    "pod {name}: timed out waiting for {what}\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&describe.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until `kubectl get pod` is gone.
    #[track_caller]
    pub fn wait_pod_gone(&self, name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.server.kubectl(&["get", "pod", name, "-o", "name"]);
            if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound") {
                return;
            }
            assert!(Instant::now() < deadline, "pod {name} was not deleted: {}", String::from_utf8_lossy(&out.stdout));
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The row `kubectl get pod <name>` prints (READY, STATUS, RESTARTS columns).
    pub fn row(&self, name: &str) -> Vec<String> {
        let out = self.server.ok(&["get", "pod", name, "--no-headers"]);
        out.split_whitespace().map(String::from).collect()
    }

    /// `kubectl describe pod`.
    pub fn describe(&self, name: &str) -> String {
        self.server.ok(&["describe", "pod", name])
    }

    /// A volume's directory on the host.
    pub fn volume_dir(&self, pod: &Value, plugin: &str, volume: &str) -> PathBuf {
        let uid = pod["metadata"]["uid"].as_str().expect("uid");
        self.root_dir().join("pods").join(uid).join("volumes").join(format!("kubernetes.io~{plugin}")).join(volume)
    }

    /// The sandboxes and containers the runtime holds for a pod UID.
    pub fn runtime_objects(&self, uid: &str) -> (usize, usize) {
        let runtime = self.runtime();
        self.rt.block_on(async {
            let sandboxes = runtime.list_sandboxes().await.expect("sandboxes");
            let filter = k3rs_runtime::ContainerFilter { pod_uid: Some(uid.to_string()), ..Default::default() };
            let containers = runtime.list_containers(&filter).await.expect("containers");
            (sandboxes.iter().filter(|s| s.config.uid == uid).count(), containers.len())
        })
    }

    /// Mount points under a directory.
    pub fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        k3rs_runtime::mounts::mounts_under(dir).unwrap_or_default()
    }

    pub fn path(&self, p: &Path) -> String {
        path_str(p).to_string()
    }
}

impl Drop for KubeletNode {
    fn drop(&mut self) {
        self.stop_kubelet();
        if let Some(env) = self.env.take() {
            let dir = env.dir().to_path_buf();
            self.rt.block_on(env.cleanup());
            // Volume tmpfs mounts of the pods.
            let _ = k3rs_runtime::mounts::unmount_all_under(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Container status by name.
pub fn container_status<'a>(pod: &'a Value, name: &str) -> &'a Value {
    for list in ["containerStatuses", "initContainerStatuses"] {
        if let Some(found) = pod["status"][list].as_array().and_then(|l| l.iter().find(|c| c["name"] == name)) {
            return found;
        }
    }
    &Value::Null
}

pub fn restart_count(pod: &Value, name: &str) -> i64 {
    container_status(pod, name)["restartCount"].as_i64().unwrap_or(0)
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

pub fn is_running(pod: &Value, name: &str) -> bool {
    !container_status(pod, name)["state"]["running"].is_null()
}

pub fn waiting_reason(pod: &Value, name: &str) -> String {
    container_status(pod, name)["state"]["waiting"]["reason"].as_str().unwrap_or("").to_string()
}
