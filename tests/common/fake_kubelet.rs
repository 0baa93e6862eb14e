//! Nodes without containers: a test registers Node objects (capacity, allocatable, Ready)
//! and this fake kubelet keeps their Leases in `kube-node-lease` renewed, reports bound
//! pods Running and Ready, and finishes the termination of pods being deleted, as a real
//! kubelet would. A node can be made to go silent and come back, or be removed.
//!
//! Annotations on a pod (usually set in a workload's pod template) change how it runs:
//! - `k3rs.test/ready: "false"`: running but never ready;
//! - `k3rs.test/ready-after-ms: "N"`: running at once, ready about N milliseconds later;
//! - `k3rs.test/exit-code: "N"`: the container exits with N after `k3rs.test/run-ms`
//!   (default 300) milliseconds, so the pod ends Succeeded (N = 0) or Failed;
//! - `k3rs.test/fail-indexes: "1,3"`: with `exit-code`, pods of those completion indexes
//!   exit 1 (Indexed Jobs).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::TestServer;

/// How often leases are renewed and pods looked at.
const BEAT: Duration = Duration::from_millis(400);

pub const READY_ANNOTATION: &str = "k3rs.test/ready";
pub const READY_AFTER_MS_ANNOTATION: &str = "k3rs.test/ready-after-ms";
pub const EXIT_CODE_ANNOTATION: &str = "k3rs.test/exit-code";
pub const RUN_MS_ANNOTATION: &str = "k3rs.test/run-ms";
pub const FAIL_INDEXES_ANNOTATION: &str = "k3rs.test/fail-indexes";

pub struct FakeKubelet {
    rt: tokio::runtime::Runtime,
    pub client: kube::Client,
    /// Node name → whether its kubelet is alive.
    alive: Arc<Mutex<BTreeMap<String, bool>>>,
}

/// When a pod started running here (by uid), for readiness delays and exits.
type Started = HashMap<String, Instant>;

/// A kube client for the test server's admin kubeconfig.
pub fn client(rt: &tokio::runtime::Runtime, server: &TestServer) -> kube::Client {
    rt.block_on(async {
        let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig()).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
        kube::Client::try_from(config).expect("client")
    })
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn renew_lease(client: &kube::Client, node: &str) {
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let spec = json!({"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": MicroTime(now())});
    match api.get_opt(node).await {
        Ok(Some(_)) => {
            let _ = api.patch(node, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec}))).await;
        }
        Ok(None) => {
            let lease: Lease =
                serde_json::from_value(json!({"metadata": {"name": node}, "spec": spec})).expect("lease");
            let _ = api.create(&PostParams::default(), &lease).await;
        }
        Err(_) => {}
    }
}

/// Reports Ready again after the node was marked otherwise (the kubelet's status update).
async fn post_ready(client: &kube::Client, node: &str) {
    let api: Api<Node> = Api::all(client.clone());
    let Ok(Some(mut n)) = api.get_opt(node).await else { return };
    let conditions = n.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new);
    let Some(ready) = conditions.iter_mut().find(|c| c.type_ == "Ready") else { return };
    if ready.status == "True" {
        return;
    }
    ready.status = "True".into();
    ready.reason = Some("KubeletReady".into());
    ready.message = Some("kubelet is posting ready status".into());
    ready.last_heartbeat_time = Some(Time(now()));
    ready.last_transition_time = Some(Time(now()));
    for c in conditions.iter_mut().filter(|c| c.type_ != "Ready" && c.status == "Unknown") {
        c.status = "False".into();
        c.last_heartbeat_time = Some(Time(now()));
        c.last_transition_time = Some(Time(now()));
    }
    let _ = api.replace_status(node, &PostParams::default(), &n).await;
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn millis(pod: &Pod, key: &str) -> Option<u64> {
    annotation(pod, key).and_then(|v| v.parse().ok())
}

/// The exit code a pod's containers end with, if it is meant to exit.
fn exit_code(pod: &Pod) -> Option<i32> {
    let code = annotation(pod, EXIT_CODE_ANNOTATION)?.parse::<i32>().ok()?;
    let index = annotation(pod, "batch.kubernetes.io/job-completion-index");
    let fails = annotation(pod, FAIL_INDEXES_ANNOTATION)
        .is_some_and(|list| index.is_some_and(|i| list.split(',').any(|x| x.trim() == i)));
    Some(if fails { 1 } else { code })
}

fn container_statuses(pod: &Pod, state: Value, ready: bool) -> Vec<Value> {
    pod.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| {
                    json!({"name": c.name, "image": c.image, "imageID": "", "ready": ready, "restartCount": 0,
                           "started": state.get("running").is_some(), "state": state})
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs bound pods and finishes deleting terminating ones on live nodes.
async fn tend_pods(client: &kube::Client, alive: &BTreeMap<String, bool>, started: &Mutex<Started>) {
    let all: Api<Pod> = Api::all(client.clone());
    let Ok(pods) = all.list(&ListParams::default()).await else { return };
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { continue };
        if alive.get(&node) != Some(&true) {
            continue;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            let _ = api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
            continue;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        let t = time(now());
        if phase == "Pending" || phase.is_empty() {
            let ready = annotation(&pod, READY_ANNOTATION) != Some("false")
                && millis(&pod, READY_AFTER_MS_ANNOTATION).is_none();
            started.lock().expect("lock").insert(uid, Instant::now());
            let r = if ready { "True" } else { "False" };
            let running = container_statuses(&pod, json!({"running": {"startedAt": t}}), ready);
            let status = json!({"status": {"phase": "Running", "startTime": t, "podIP": "10.42.0.10",
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                    {"type": "ContainersReady", "status": r, "lastTransitionTime": t},
                    {"type": "Ready", "status": r, "lastTransitionTime": t}],
                "containerStatuses": running}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status)).await;
            continue;
        }
        if phase != "Running" {
            continue;
        }
        let Some(since) = started.lock().expect("lock").get(&uid).copied() else { continue };
        let ready_now = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if let Some(code) = exit_code(&pod)
            && since.elapsed() >= Duration::from_millis(millis(&pod, RUN_MS_ANNOTATION).unwrap_or(300))
        {
            let (phase, reason) = if code == 0 { ("Succeeded", "Completed") } else { ("Failed", "Error") };
            let terminated = container_statuses(
                &pod,
                json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t}}),
                false,
            );
            let status = json!({"status": {"phase": phase,
                "conditions": [
                    {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": t},
                    {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": t}],
                "containerStatuses": terminated}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status)).await;
            continue;
        }
        if !ready_now
            && annotation(&pod, READY_ANNOTATION) != Some("false")
            && millis(&pod, READY_AFTER_MS_ANNOTATION).is_some_and(|ms| since.elapsed() >= Duration::from_millis(ms))
        {
            let running = container_statuses(&pod, json!({"running": {"startedAt": t}}), true);
            let status = json!({"status": {
                "conditions": [
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                    {"type": "Ready", "status": "True", "lastTransitionTime": t}],
                "containerStatuses": running}});
            let _ = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status)).await;
        }
    }
}

impl FakeKubelet {
    pub fn start(server: &TestServer) -> FakeKubelet {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let client = client(&rt, server);
        let alive: Arc<Mutex<BTreeMap<String, bool>>> = Arc::default();
        let (c, a) = (client.clone(), alive.clone());
        rt.spawn(async move {
            let started = Mutex::new(Started::new());
            loop {
                let nodes = a.lock().expect("lock").clone();
                for (node, _) in nodes.iter().filter(|(_, up)| **up) {
                    renew_lease(&c, node).await;
                    post_ready(&c, node).await;
                }
                tend_pods(&c, &nodes, &started).await;
                tokio::time::sleep(BEAT).await;
            }
        });
        FakeKubelet { rt, client, alive }
    }

    /// Registers a Ready node with `cpu`/`memory` allocatable, extra labels and taints.
    pub fn add_node(&self, name: &str, cpu: &str, memory: &str, labels: Value, taints: Value) {
        let mut all_labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
        if let Value::Object(extra) = labels {
            for (k, v) in extra {
                all_labels[k] = v;
            }
        }
        let t = time(now());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": all_labels},
            "spec": {"taints": taints},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                     "lastHeartbeatTime": t, "lastTransitionTime": t},
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                     "lastHeartbeatTime": t, "lastTransitionTime": t}
                ],
                "nodeInfo": {"kubeletVersion": "v1.33.0+k3rs", "architecture": "amd64", "operatingSystem": "linux",
                    "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
                    "machineID": "", "osImage": "fake", "systemUUID": ""}
            }
        }))
        .expect("node");
        let api: Api<Node> = Api::all(self.client.clone());
        self.rt.block_on(async {
            api.create(&PostParams::default(), &node).await.expect("create node");
            renew_lease(&self.client, name).await;
        });
        self.alive.lock().expect("lock").insert(name.to_string(), true);
    }

    /// Starts a fake kubelet with Ready nodes `names` (4 CPUs, 8Gi each, no taints).
    pub fn start_with_nodes(server: &TestServer, names: &[&str]) -> FakeKubelet {
        let kubelet = Self::start(server);
        for name in names {
            kubelet.add_node(name, "4", "8Gi", json!({}), json!([]));
        }
        kubelet
    }

    /// The node's kubelet stops, and its Node object is deleted.
    pub fn remove_node(&self, name: &str) {
        self.alive.lock().expect("lock").remove(name);
        let api: Api<Node> = Api::all(self.client.clone());
        self.rt.block_on(async {
            let _ = api.delete(name, &DeleteParams::default()).await;
        });
    }

    /// The node's kubelet stops renewing its Lease and tending its pods.
    pub fn silence(&self, name: &str) {
        self.alive.lock().expect("lock").insert(name.to_string(), false);
    }

    /// The node's kubelet is back.
    pub fn revive(&self, name: &str) {
        self.alive.lock().expect("lock").insert(name.to_string(), true);
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.alive.lock().map(|mut a| a.clear()).ok();
    }
}
