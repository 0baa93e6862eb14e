//! Nodes without containers: a test registers Node objects (capacity, allocatable, Ready)
//! and this fake kubelet keeps their Leases in `kube-node-lease` renewed, reports bound
//! pods Running and Ready, and finishes the termination of pods being deleted, as a real
//! kubelet would. A node can be made to go silent and come back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::TestServer;

/// How often leases are renewed and pods looked at.
const BEAT: Duration = Duration::from_millis(400);

pub struct FakeKubelet {
    rt: tokio::runtime::Runtime,
    pub client: kube::Client,
    /// Node name → whether its kubelet is alive.
    alive: Arc<Mutex<BTreeMap<String, bool>>>,
}

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

/// Runs bound pods and finishes deleting terminating ones on live nodes.
async fn tend_pods(client: &kube::Client, alive: &BTreeMap<String, bool>) {
    let all: Api<Pod> = Api::all(client.clone());
    let Ok(pods) = all.list(&ListParams::default()).await else { return };
    for pod in pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { continue };
        if alive.get(&node) != Some(&true) {
            continue;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        if pod.metadata.deletion_timestamp.is_some() {
            let _ = api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
            continue;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        if phase == "Pending" || phase.is_empty() {
            let t = time(now());
            let status = json!({"status": {"phase": "Running", "startTime": t, "podIP": "10.42.0.10",
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                    {"type": "Ready", "status": "True", "lastTransitionTime": t}]}});
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
            loop {
                let nodes = a.lock().expect("lock").clone();
                for (node, _) in nodes.iter().filter(|(_, up)| **up) {
                    renew_lease(&c, node).await;
                    post_ready(&c, node).await;
                }
                tend_pods(&c, &nodes).await;
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
