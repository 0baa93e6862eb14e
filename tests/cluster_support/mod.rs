//! Helpers for the cluster controllers' end-to-end tests: pods created by hand
//! on a named node, and their status driven like a kubelet would.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{TestServer, eventually};

/// How long a controller gets to react.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Creates a pod bound to `node` (no scheduler needed) with `labels` and named
/// container ports.
pub fn create_pod(s: &TestServer, ns: &str, name: &str, labels: &[(&str, &str)], ports: &[(&str, i32)]) {
    let labels: serde_json::Map<String, Value> = labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let ports: Vec<Value> =
        ports.iter().map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"})).collect();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": "node-a",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "busybox", "ports": ports}],
        },
    });
    s.ok_stdin(&["create", "-f", "-"], &pod.to_string());
}

/// Sets the pod's phase, address and Ready condition through `pods/status`, as the kubelet does.
pub fn set_pod_status(s: &TestServer, ns: &str, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [
            {"type": "Ready", "status": status},
            {"type": "ContainersReady", "status": status},
        ],
    }});
    s.ok(&["patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", &patch.to_string()]);
}

/// Sets the pod's phase only (e.g. `Succeeded`).
pub fn set_pod_phase(s: &TestServer, ns: &str, name: &str, phase: &str) {
    let patch = json!({"status": {"phase": phase}});
    s.ok(&["patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", &patch.to_string()]);
}

/// `kubectl get` as JSON, `None` when the object does not exist.
pub fn get_opt(s: &TestServer, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json", "--ignore-not-found"]);
    let out = s.kubectl(&all);
    if !out.status.success() || out.stdout.is_empty() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Waits for `f`, failing with `what` and the server log.
#[track_caller]
pub fn wait_until(s: &TestServer, what: &str, f: impl FnMut() -> bool) {
    if !eventually(SETTLE, f) {
        panic!("timed out waiting until {what}\n--- server log (tail) ---\n{}", tail(&s.log(), 80));
    }
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
