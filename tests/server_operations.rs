//! End-to-end: what an operator relies on around `k3rs server`: the systemd
//! readiness notification, manifests applied from `<data-dir>/server/manifests/`,
//! and `k3rs kubectl` finding the cluster's kubeconfig. Real processes, the real
//! kubectl, loopback only.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{eventually, free_port};
use serde_json::Value;

/// A server started by hand, so that the test controls its environment and can
/// prepare its data directory before the first start.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn new() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.yaml"), "").expect("config");
        Server { dir, port: free_port(), child: None }
    }

    fn manifests(&self) -> PathBuf {
        self.dir.path().join("data/server/manifests")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn spawn(&mut self, env: &[(&str, &Path)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_k3rs"));
        cmd.arg("server")
            .arg("--disable-agent")
            .arg("--config")
            .arg(self.dir.path().join("config.yaml"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--bind-address", "127.0.0.1", "--https-listen-port", &self.port.to_string()])
            .arg("--write-kubeconfig")
            .arg(self.kubeconfig())
            .env_remove("K3RS_CONFIG_FILE")
            .env_remove("NOTIFY_SOCKET")
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start k3rs server"));
    }

    fn start(&mut self) {
        self.spawn(&[]);
        let ready = eventually(Duration::from_secs(60), || {
            self.kubeconfig().exists() && self.kubectl(&["get", "--raw", "/readyz"]).status.success()
        });
        assert!(ready, "server did not become ready:\n{}", self.log());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .output()
            .expect("run kubectl")
    }

    /// The object as JSON, or None when it does not exist.
    fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all);
        out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("kubectl json"))
    }

    fn write_manifest(&self, name: &str, text: &str) {
        let path = self.manifests().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("manifest dir");
        std::fs::write(path, text).expect("write manifest");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn readiness_is_notified_once_the_api_serves() {
    let mut server = Server::new();
    let socket_path = server.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    server.spawn(&[("NOTIFY_SOCKET", &socket_path)]);

    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no notification ({e}):\n{}", server.log()));
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(message.lines().any(|l| l == "READY=1"), "{message}");
    // READY=1 means the API answers now, not eventually.
    let out = server.kubectl(&["get", "--raw", "/readyz"]);
    assert!(out.status.success(), "API not serving after READY=1: {}", String::from_utf8_lossy(&out.stderr));

    let pid = server.child.as_ref().expect("child").id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let n = socket.recv(&mut buf).expect("a stopping notification");
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim(), "STOPPING=1");
    let status = server.child.take().expect("child").wait().expect("wait");
    assert!(status.success(), "server exit after SIGTERM: {status}\n{}", server.log());
}

const NAMESPACE_AND_CONFIGMAPS: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: deploy-test
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: deploy-test
data:
  level: one
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: deploy-test
data:
  x: x
";

const CRD_AND_RESOURCE: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gear
spec:
  teeth: 12
";

#[test]
fn manifests_are_applied_updated_pruned_and_skipped() {
    let mut server = Server::new();
    server.write_manifest("app.yaml", NAMESPACE_AND_CONFIGMAPS);
    server.write_manifest("addons/crd.yaml", CRD_AND_RESOURCE);
    server.write_manifest("off.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n");
    server.write_manifest("off.yaml.skip", "");
    server.write_manifest("README.txt", "not a manifest");
    server.start();

    let settings = |server: &Server| server.get(&["configmap", "settings", "-n", "deploy-test"]);
    assert!(eventually(Duration::from_secs(30), || settings(&server).is_some()), "not applied:\n{}", server.log());
    let cm = server.get(&["configmap", "settings", "-n", "deploy-test", "--show-managed-fields"]).expect("configmap");
    assert_eq!(cm["data"]["level"], "one");
    let managers: Vec<(&str, &str)> = cm["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|m| (m["manager"].as_str().unwrap_or(""), m["operation"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(managers, vec![("k3rs-deploy", "Apply")]);
    // A custom resource whose CRD is in the same file lands once the kind is served.
    assert!(
        eventually(Duration::from_secs(30), || server.get(&["widgets.example.com", "gear", "-n", "default"]).is_some()),
        "custom resource not applied:\n{}",
        server.log()
    );
    assert!(server.get(&["configmap", "skipped", "-n", "default"]).is_none(), "a skipped manifest was applied");

    // A change is applied; an object that left the file is deleted.
    server.write_manifest(
        "app.yaml",
        NAMESPACE_AND_CONFIGMAPS
            .replace("level: one", "level: two")
            .split("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra")
            .next()
            .expect("split"),
    );
    assert!(
        eventually(Duration::from_secs(30), || settings(&server).is_some_and(|cm| cm["data"]["level"] == "two")),
        "change not applied:\n{}",
        server.log()
    );
    assert!(
        eventually(Duration::from_secs(30), || server.get(&["configmap", "extra", "-n", "deploy-test"]).is_none()),
        "object removed from the manifest was not pruned:\n{}",
        server.log()
    );

    // Removing .skip turns the file on.
    std::fs::remove_file(server.manifests().join("off.yaml.skip")).expect("remove skip");
    assert!(
        eventually(Duration::from_secs(30), || server.get(&["configmap", "skipped", "-n", "default"]).is_some()),
        "manifest not applied once its .skip file was removed:\n{}",
        server.log()
    );

    // A manifest deleted while the server is down is pruned at the next start.
    server.stop();
    std::fs::remove_file(server.manifests().join("addons/crd.yaml")).expect("remove manifest");
    server.start();
    assert!(
        eventually(Duration::from_secs(30), || server.get(&["crd", "widgets.example.com"]).is_none()),
        "objects of a removed manifest were not deleted after restart:\n{}",
        server.log()
    );
    assert!(settings(&server).is_some_and(|cm| cm["data"]["level"] == "two"));
}

#[test]
fn k3rs_kubectl_uses_the_servers_kubeconfig() {
    let mut server = Server::new();
    server.start();
    // The kubeconfig path comes from the configuration file, as `k3rs server` reads it.
    let config = server.dir.path().join("kubectl-config.yaml");
    std::fs::write(&config, format!("write-kubeconfig: {}\n", server.kubeconfig().display())).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["kubectl", "get", "namespaces", "-o", "name"])
        .env_remove("KUBECONFIG")
        .env_remove("K3RS_KUBECONFIG_OUTPUT")
        .env("K3RS_CONFIG_FILE", &config)
        .env("HOME", server.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("k3rs kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));

    // kubectl's own exit code comes back.
    let out = Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["kubectl", "get", "configmap", "does-not-exist"])
        .env("KUBECONFIG", server.kubeconfig())
        .env("HOME", server.dir.path())
        .output()
        .expect("k3rs kubectl");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"does-not-exist\" not found"));
}
