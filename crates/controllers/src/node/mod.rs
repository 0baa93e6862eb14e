//! Node controllers of the controller manager: node lifecycle (heartbeats via Leases,
//! Unknown conditions and readiness taints), NoExecute taint eviction, node IPAM (a pod
//! CIDR per node) and pod garbage collection.

pub mod conditions;
pub mod ipam;
pub mod lifecycle;
pub mod pod_gc;
pub mod taint_eviction;
mod writes;

use std::net::Ipv4Addr;
use std::time::Duration;

use k3rs_control_runtime::events::EventRecorder;
use kube::Client;

pub use ipam::CidrAllocator;
pub use pod_gc::PodGcConfig;

/// Timings and ranges of the node controllers (kube-controller-manager's flags).
#[derive(Debug, Clone)]
pub struct NodeControllerConfig {
    /// How often node health is checked (`--node-monitor-period`, 5s).
    pub monitor_period: Duration,
    /// How long a node may stay silent before it is Unknown (`--node-monitor-grace-period`, 40s).
    pub grace_period: Duration,
    /// Nodes tainted NoExecute per second in a healthy zone (`--node-eviction-rate`, 0.1).
    pub eviction_rate: f64,
    /// The same in a partly disrupted large zone (`--secondary-node-eviction-rate`, 0.01).
    pub secondary_eviction_rate: f64,
    /// Share of not-ready nodes that makes a zone partly disrupted (`--unhealthy-zone-threshold`, 0.55).
    pub unhealthy_zone_threshold: f64,
    /// Zones up to this size stop evicting when partly disrupted (`--large-cluster-size-threshold`, 50).
    pub large_cluster_threshold: usize,
    /// The cluster CIDR to carve pod CIDRs from (`--cluster-cidr`); `None` disables node IPAM.
    pub cluster_cidr: Option<(Ipv4Addr, u8)>,
    /// Size of each node's pod CIDR (`--node-cidr-mask-size`, 24).
    pub node_cidr_mask_size: u8,
    pub pod_gc: PodGcConfig,
}

impl Default for NodeControllerConfig {
    fn default() -> Self {
        NodeControllerConfig {
            monitor_period: Duration::from_secs(5),
            grace_period: Duration::from_secs(40),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_threshold: 50,
            cluster_cidr: Some((Ipv4Addr::new(10, 42, 0, 0), 16)),
            node_cidr_mask_size: 24,
            pod_gc: PodGcConfig {
                period: Duration::from_secs(20),
                quarantine: Duration::from_secs(40),
                terminated_threshold: 12500,
            },
        }
    }
}

impl NodeControllerConfig {
    /// The pod CIDR allocator, when node IPAM is on; an error for sizes that do not fit.
    pub fn cidr_allocator(&self) -> Result<Option<CidrAllocator>, String> {
        self.cluster_cidr.map(|(net, prefix)| CidrAllocator::new(net, prefix, self.node_cidr_mask_size)).transpose()
    }
}

/// Runs every node controller until the future is dropped. `instance` names this server
/// in the events the controllers record.
pub async fn run(client: Client, config: NodeControllerConfig, instance: &str) {
    let recorder = |controller: &str| EventRecorder::new(client.clone(), controller, instance);
    let allocator = match config.cidr_allocator() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "node IPAM is off: the cluster CIDR cannot be divided");
            None
        }
    };
    let ipam = async {
        match allocator {
            Some(a) => ipam::run(client.clone(), a, recorder("node-ipam-controller")).await,
            None => std::future::pending().await,
        }
    };
    tokio::join!(
        lifecycle::run(client.clone(), config.clone(), recorder("node-controller")),
        taint_eviction::run(client.clone(), recorder("taint-eviction-controller")),
        pod_gc::run(client.clone(), config.pod_gc.clone()),
        ipam,
    );
}
