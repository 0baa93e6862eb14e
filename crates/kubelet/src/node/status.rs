//! The Node's status as the kubelet reports it every status period: conditions,
//! capacity and allocatable, addresses, `nodeInfo`, the kubelet's endpoint and the
//! images present. Written through the `status` subresource with the stored object's
//! resourceVersion, so a concurrent writer (a controller adding its own condition)
//! is never overwritten: a conflict means read again and merge again.

use std::net::IpAddr;
use std::path::Path;

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::PostParams;

use super::NodeConfig;
use super::conditions::{Available, carry_transition_times, memory_available, node_conditions};
use super::machine::{Machine, filesystem_usage};

/// What the kubelet reports as its version (`kubectl get nodes` VERSION).
pub const KUBELET_VERSION: &str = "v1.33.0-k3rs";
/// Upstream reports at most this many images in the Node's status.
const MAX_IMAGES: usize = 50;

/// Everything the status is computed from, gathered once per period.
#[derive(Debug, Clone)]
pub struct StatusInputs {
    pub machine: Machine,
    /// `containerd://<version>`.
    pub runtime_version: String,
    /// `Ok` when the container runtime answers; the reason otherwise.
    pub runtime_ready: Result<(), String>,
    pub available: Available,
    pub images: Vec<ContainerImage>,
    pub now: Time,
}

fn quantities(map: std::collections::BTreeMap<String, String>) -> std::collections::BTreeMap<String, Quantity> {
    map.into_iter().map(|(k, v)| (k, Quantity(v))).collect()
}

/// The addresses: every internal IP, then the host name.
pub fn addresses(ips: &[IpAddr], hostname: &str) -> Vec<NodeAddress> {
    let mut out: Vec<NodeAddress> =
        ips.iter().map(|ip| NodeAddress { type_: "InternalIP".into(), address: ip.to_string() }).collect();
    out.push(NodeAddress { type_: "Hostname".into(), address: hostname.to_string() });
    out
}

/// The status the kubelet wants, before merging with what is stored.
pub fn desired_status(config: &NodeConfig, inputs: &StatusInputs) -> NodeStatus {
    let m = &inputs.machine;
    NodeStatus {
        capacity: Some(quantities(m.capacity())),
        allocatable: Some(quantities(m.allocatable())),
        conditions: Some(node_conditions(
            &inputs.available,
            &config.eviction_hard,
            inputs.runtime_ready.clone(),
            &inputs.now,
        )),
        addresses: Some(addresses(&config.internal_ips, &config.hostname)),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(config.kubelet_port) }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: m.architecture.clone(),
            boot_id: m.boot_id.clone(),
            container_runtime_version: inputs.runtime_version.clone(),
            kernel_version: m.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: m.machine_id.clone(),
            operating_system: m.operating_system.clone(),
            os_image: m.os_image.clone(),
            system_uuid: m.system_uuid.clone(),
            swap: None,
        }),
        images: Some(inputs.images.clone()),
        ..NodeStatus::default()
    }
}

/// The stored status with the kubelet's fields replaced: conditions of other types
/// (e.g. `NetworkUnavailable` from a network plugin) stay, and the kubelet's keep their
/// transition time while their status does not change. Fields the kubelet does not own
/// (volumes, config) stay as stored.
pub fn merge_status(stored: Option<NodeStatus>, desired: NodeStatus) -> NodeStatus {
    let mut out = stored.unwrap_or_default();
    let old_conditions = out.conditions.take().unwrap_or_default();
    let mut ours = desired.conditions.unwrap_or_default();
    carry_transition_times(&mut ours, &old_conditions);
    let mut conditions: Vec<_> =
        old_conditions.into_iter().filter(|c| !ours.iter().any(|o| o.type_ == c.type_)).collect();
    conditions.extend(ours);
    out.conditions = Some(conditions);
    out.capacity = desired.capacity;
    out.allocatable = desired.allocatable;
    out.addresses = desired.addresses;
    out.daemon_endpoints = desired.daemon_endpoints;
    out.node_info = desired.node_info;
    out.images = desired.images;
    out
}

/// Writes the kubelet's status onto the stored Node, retrying a few times on conflict.
pub async fn update_status(api: &Api<Node>, config: &NodeConfig, inputs: &StatusInputs) -> Result<Node, kube::Error> {
    let desired = desired_status(config, inputs);
    let mut attempt = 0;
    loop {
        let mut node = api.get_status(&config.name).await?;
        node.status = Some(merge_status(node.status.take(), desired.clone()));
        match api.replace_status(&config.name, &PostParams::default(), &node).await {
            Err(kube::Error::Api(status)) if status.code == 409 && attempt < 4 => attempt += 1,
            other => return other,
        }
    }
}

/// The images for the Node's status, largest first, as upstream lists them.
pub fn status_images(images: &[k3rs_runtime::ImageSummary]) -> Vec<ContainerImage> {
    let mut sorted: Vec<_> = images.iter().collect();
    sorted.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    sorted
        .into_iter()
        .take(MAX_IMAGES)
        .map(|i| ContainerImage {
            names: Some(vec![i.repo_digest.clone(), i.name.clone()]),
            size_bytes: Some(i64::try_from(i.size).unwrap_or(i64::MAX)),
        })
        .collect()
}

/// Total threads of the machine: the fourth field of `/proc/loadavg` is `running/total`.
pub fn parse_thread_count(loadavg: &str) -> Option<u64> {
    loadavg.split_whitespace().nth(3)?.split_once('/')?.1.parse().ok()
}

/// Free memory, disk space (of the filesystem holding `root`) and process ids now.
/// Reads `/proc`: call it off the async threads.
pub fn read_available(root: &Path) -> Available {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let fs = filesystem_usage(&root.to_string_lossy());
    Available {
        memory_bytes: memory_available(&read("/proc/meminfo")).unwrap_or(u64::MAX),
        disk_bytes: fs.available_bytes,
        disk_total_bytes: fs.total_bytes,
        pids: parse_thread_count(&read("/proc/loadavg")).unwrap_or(0),
        pid_max: read("/proc/sys/kernel/pid_max").trim().parse().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::{sample_config, sample_machine};
    use k8s_openapi::api::core::v1::NodeCondition;

    fn inputs(ready: Result<(), String>, at: i64) -> StatusInputs {
        StatusInputs {
            machine: sample_machine(),
            runtime_version: "containerd://1.6.20".into(),
            runtime_ready: ready,
            available: Available {
                memory_bytes: 1 << 30,
                disk_bytes: 50,
                disk_total_bytes: 100,
                pids: 10,
                pid_max: 1000,
            },
            images: Vec::new(),
            now: Time(jiff::Timestamp::from_second(at).unwrap()),
        }
    }

    #[test]
    fn desired_status_has_every_reported_field() {
        let status = desired_status(&sample_config(), &inputs(Ok(()), 100));
        let addresses = status.addresses.unwrap();
        assert_eq!(addresses[0].type_, "InternalIP");
        assert_eq!(addresses[0].address, "10.0.0.5");
        assert_eq!(addresses.last().unwrap().type_, "Hostname");
        let info = status.node_info.unwrap();
        assert_eq!(info.kubelet_version, KUBELET_VERSION);
        assert_eq!(info.container_runtime_version, "containerd://1.6.20");
        assert_eq!(info.architecture, "amd64");
        assert_eq!(status.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port, 10250);
        let capacity = status.capacity.unwrap();
        assert_eq!(capacity["pods"].0, "110");
        assert_eq!(capacity["cpu"].0, "4");
        let conditions = status.conditions.unwrap();
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]);
    }

    #[test]
    fn merge_keeps_foreign_conditions_and_transition_times() {
        let config = sample_config();
        let first = merge_status(None, desired_status(&config, &inputs(Ok(()), 100)));
        let mut stored = first.clone();
        stored.conditions.as_mut().unwrap().push(NodeCondition {
            type_: "NetworkUnavailable".into(),
            status: "False".into(),
            ..NodeCondition::default()
        });
        stored.volumes_in_use = Some(vec!["v".into()]);
        // Ten seconds later, still ready: heartbeat moves, transition stays.
        let second = merge_status(Some(stored), desired_status(&config, &inputs(Ok(()), 110)));
        let ready = second.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.last_transition_time.as_ref().unwrap().0.as_second(), 100);
        assert_eq!(ready.last_heartbeat_time.as_ref().unwrap().0.as_second(), 110);
        assert!(second.conditions.as_ref().unwrap().iter().any(|c| c.type_ == "NetworkUnavailable"));
        assert_eq!(second.volumes_in_use, Some(vec!["v".into()]));
        // The runtime goes away: Ready turns False with a new transition time.
        let third = merge_status(Some(second), desired_status(&config, &inputs(Err("runtime down".into()), 120)));
        let ready = third.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.message.as_deref()), ("False", Some("runtime down")));
        assert_eq!(ready.last_transition_time.as_ref().unwrap().0.as_second(), 120);
    }

    #[test]
    fn images_are_listed_largest_first() {
        let image = |name: &str, size| k3rs_runtime::ImageSummary {
            name: name.into(),
            id: "sha256:1".into(),
            repo_digest: format!("{name}@sha256:2"),
            size,
            unpacked: true,
        };
        let listed = status_images(&[image("a", 1), image("b", 5)]);
        assert_eq!(listed[0].names.as_ref().unwrap()[1], "b");
        assert_eq!(listed[0].size_bytes, Some(5));
        assert_eq!(listed[1].names.as_ref().unwrap()[0], "a@sha256:2");
    }

    #[test]
    fn reads_this_machines_availability() {
        assert_eq!(parse_thread_count("0.00 0.01 0.05 1/234 5678"), Some(234));
        let available = read_available(Path::new("/"));
        assert!(available.memory_bytes > 0 && available.disk_total_bytes > 0 && available.pid_max > 0);
    }
}
