//! This node as the API sees it: capacity and allocatable, addresses, system
//! info, labels, and the pressure conditions the kubelet reports.
//!
//! [`NodeManager`] keeps the Node alive in the API: it registers the Node
//! ([`registration`]), then reports its status every status period ([`status`]) and
//! renews its Lease every lease period ([`lease`]), until it is stopped. Stopping it
//! leaves the Node in place: a restarted agent finds it and carries on.

pub mod conditions;
pub mod labels;
pub mod lease;
pub mod machine;
pub mod registration;
pub mod status;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Taint};
use kube::Api;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use self::labels::LabelError;
use self::machine::Machine;
use self::status::StatusInputs;

/// How this node presents itself.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The Node's name (`--node-name`, else the host name, lower-cased).
    pub name: String,
    pub hostname: String,
    /// `--node-ip` (else the address of the default route).
    pub internal_ips: Vec<IpAddr>,
    /// `--node-label`s: only labels a kubelet may set (see [`NodeConfig::validate`]).
    pub labels: BTreeMap<String, String>,
    /// `--node-taint`s, set when the Node is created.
    pub taints: Vec<Taint>,
    pub annotations: BTreeMap<String, String>,
    /// The kubelet's streaming port (`status.daemonEndpoints.kubeletEndpoint.Port`).
    pub kubelet_port: u16,
    /// The directory whose filesystem holds pod data: ephemeral-storage capacity and
    /// disk pressure are measured on it.
    pub root_dir: PathBuf,
    /// How often the status is written (upstream's nodeStatusUpdateFrequency: 10s).
    pub status_period: Duration,
    /// How often the Lease is renewed (upstream: a quarter of its 40s duration, 10s).
    pub lease_period: Duration,
    /// The pressure conditions' thresholds (`--eviction-hard`).
    pub eviction_hard: conditions::Thresholds,
}

impl NodeConfig {
    pub fn new(name: &str, hostname: &str, internal_ips: Vec<IpAddr>, root_dir: PathBuf) -> NodeConfig {
        NodeConfig {
            name: name.to_string(),
            hostname: hostname.to_string(),
            internal_ips,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            annotations: BTreeMap::new(),
            kubelet_port: 10250,
            root_dir,
            status_period: Duration::from_secs(10),
            lease_period: Duration::from_secs(10),
            eviction_hard: conditions::Thresholds::default(),
        }
    }

    /// Refuses `--node-label`s that the API server would refuse from a kubelet, naming
    /// them all, as upstream's kubelet does at start.
    pub fn validate(&self) -> Result<(), LabelError> {
        let refused: Vec<&str> =
            self.labels.keys().map(String::as_str).filter(|k| !labels::kubelet_may_set(k)).collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(LabelError::Label {
            given: refused.join(", "),
            reason: "labels in the kubernetes.io and k8s.io namespaces other than the well-known ones \
                     (and those under kubelet.kubernetes.io/ and node.kubernetes.io/) may only be set \
                     by an administrator: use kubectl label node"
                .into(),
        })
    }
}

/// Registers the Node and keeps its status and Lease current. See the module docs.
pub struct NodeManager {
    stop: watch::Sender<bool>,
    registered: watch::Receiver<Option<Node>>,
    tasks: Vec<JoinHandle<()>>,
}

/// `containerd://<version>`, as `nodeInfo.containerRuntimeVersion` shows it.
pub fn runtime_version(version: &str) -> String {
    format!("containerd://{version}")
}

async fn gather(runtime: &k3rs_runtime::Runtime, config: &NodeConfig, machine: &Machine) -> StatusInputs {
    let version = tokio::time::timeout(Duration::from_secs(5), runtime.containerd().version()).await;
    let (runtime_version, runtime_ready) = match version {
        Ok(Ok(v)) => (runtime_version(&v), Ok(())),
        Ok(Err(e)) => (String::new(), Err(format!("container runtime is down: {e}"))),
        Err(_) => (String::new(), Err("container runtime is down: containerd did not answer in 5s".to_string())),
    };
    let images = match runtime.list_images().await {
        Ok(images) => status::status_images(&images),
        Err(_) => Vec::new(),
    };
    let root = config.root_dir.clone();
    let available = tokio::task::spawn_blocking(move || status::read_available(&root)).await.unwrap_or_default();
    StatusInputs {
        machine: machine.clone(),
        runtime_version,
        runtime_ready,
        available,
        images,
        now: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
    }
}

/// Registers until it works (or the manager is stopped), backing off from 100ms to 7s.
async fn register_until_done(api: &Api<Node>, desired: &Node, stop: &mut watch::Receiver<bool>) -> Option<Node> {
    let mut delay = Duration::from_millis(100);
    loop {
        match registration::register(api, desired).await {
            Ok(node) => return Some(node),
            Err(e) => warn!(error = %e, retry_in = ?delay, "registering the node failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(7));
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl NodeManager {
    /// Starts registering the Node and reporting its status with `client` (the kubelet's
    /// own identity, `system:node:<name>`).
    pub fn start(client: kube::Client, runtime: k3rs_runtime::Runtime, config: NodeConfig) -> NodeManager {
        let (stop, stop_rx) = watch::channel(false);
        let (registered_tx, registered) = watch::channel(None);
        let status_task =
            tokio::spawn(status_loop(client.clone(), runtime, config.clone(), stop_rx.clone(), registered_tx));
        let lease_task = tokio::spawn(lease_loop(client, config, stop_rx, registered.clone()));
        NodeManager { stop, registered, tasks: vec![status_task, lease_task] }
    }

    /// Waits until the Node is registered and returns it as first stored.
    pub async fn registered(&self) -> Option<Node> {
        let mut rx = self.registered.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|n| n.clone())
    }

    /// Follows the registered Node: `Some` once registered, updated on re-registration.
    pub fn registered_watch(&self) -> watch::Receiver<Option<Node>> {
        self.registered.clone()
    }

    /// Stops reporting. The Node and its Lease stay.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn status_loop(
    client: kube::Client,
    runtime: k3rs_runtime::Runtime,
    config: NodeConfig,
    mut stop: watch::Receiver<bool>,
    registered: watch::Sender<Option<Node>>,
) {
    let api: Api<Node> = Api::all(client);
    let root = config.root_dir.to_string_lossy().into_owned();
    let Ok(machine) = tokio::task::spawn_blocking(move || Machine::read(&root)).await else { return };
    let desired = registration::initial_node(&config, &machine);
    let Some(node) = register_until_done(&api, &desired, &mut stop).await else { return };
    info!(node = %config.name, "node registered; reporting status every {:?}", config.status_period);
    let _ = registered.send(Some(node));
    let mut tick = tokio::time::interval(config.status_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let inputs = gather(&runtime, &config, &machine).await;
        match status::update_status(&api, &config, &inputs).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                // Someone deleted the Node: register it again, as a fresh agent would.
                warn!(node = %config.name, "the node was deleted; registering it again");
                let Some(node) = register_until_done(&api, &desired, &mut stop).await else { return };
                let _ = registered.send(Some(node));
                tick.reset_immediately();
            }
            Err(e) => warn!(node = %config.name, error = %e, "updating the node status failed"),
        }
    }
}

async fn lease_loop(
    client: kube::Client,
    config: NodeConfig,
    mut stop: watch::Receiver<bool>,
    mut registered: watch::Receiver<Option<Node>>,
) {
    // The Lease names its Node as owner, so wait for the Node to exist.
    let node = tokio::select! {
        node = registered.wait_for(Option::is_some) => match node { Ok(n) => n.clone(), Err(_) => return },
        _ = stop.changed() => return,
    };
    let owner = |node: &Option<Node>| {
        node.as_ref().and_then(|n| n.metadata.uid.as_deref()).map(|uid| lease::node_owner(&config.name, uid))
    };
    let mut lease = lease::NodeLease::new(client.clone(), &config.name, owner(&node));
    let mut tick = tokio::time::interval(config.lease_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = registered.changed() => {
                if changed.is_err() { return }
                // Re-registered: the Node has a new uid to own the Lease.
                let node = registered.borrow_and_update().clone();
                lease = lease::NodeLease::new(client.clone(), &config.name, owner(&node));
                continue;
            }
            _ = stop.changed() => return,
        }
        if let Err(e) = lease.renew().await {
            warn!(node = %config.name, error = %e, "renewing the node lease failed");
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample_machine() -> Machine {
        Machine {
            cpus: 4,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 100 << 30,
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            architecture: "amd64".into(),
            operating_system: "linux".into(),
            machine_id: "m".into(),
            system_uuid: "u".into(),
            boot_id: "b".into(),
        }
    }

    pub fn sample_config() -> NodeConfig {
        NodeConfig::new("node-1", "host-1", vec!["10.0.0.5".parse().unwrap()], PathBuf::from("/"))
    }

    #[test]
    fn validate_refuses_labels_only_administrators_may_set() {
        let mut config = sample_config();
        config.labels.insert("example.com/a".into(), "1".into());
        config.labels.insert("node.kubernetes.io/pool".into(), "x".into());
        assert!(config.validate().is_ok());
        config.labels.insert(labels::CONTROL_PLANE.into(), "true".into());
        config.labels.insert("kubernetes.io/role".into(), "w".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("kubernetes.io/role, node-role.kubernetes.io/control-plane"), "{err}");
    }

    #[test]
    fn runtime_version_names_containerd() {
        assert_eq!(runtime_version("1.6.20~ds1"), "containerd://1.6.20~ds1");
    }
}
