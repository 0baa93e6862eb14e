//! [`KubeletConfig`]: what the agent tells the pod manager about this node (its name,
//! directories, DNS settings, addresses and allocatable resources) and the tunables of
//! the pod workers (resync period, back-off limits).

use std::path::PathBuf;
use std::time::Duration;

use crate::downward::Allocatable;

/// Exponential back-off limits: the first delay, doubled up to the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffLimits {
    pub initial: Duration,
    pub max: Duration,
}

impl BackoffLimits {
    /// Upstream's container restart and image pull back-off: 10 s doubling to 5 minutes.
    pub const UPSTREAM: BackoffLimits =
        BackoffLimits { initial: Duration::from_secs(10), max: Duration::from_secs(300) };
}

impl Default for BackoffLimits {
    fn default() -> Self {
        BackoffLimits::UPSTREAM
    }
}

/// How the pod manager runs. The agent builds it from its flags.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// This node's name: the manager runs the pods whose `spec.nodeName` is this.
    pub node_name: String,
    /// The kubelet's state directory (upstream's `/var/lib/kubelet`); pod volumes live in
    /// `<root_dir>/pods/<pod uid>/volumes/<plugin>/<volume>`.
    pub root_dir: PathBuf,
    /// Where container log files go (`/var/log/pods`).
    pub pod_log_dir: PathBuf,
    /// The node's addresses; the first is each pod's `status.hostIP`, all are `hostIPs`.
    pub node_ips: Vec<String>,
    /// Cluster DNS server addresses (`--cluster-dns`). When empty, `ClusterFirst` pods get
    /// the host's resolvers, as upstream does without cluster DNS.
    pub cluster_dns: Vec<String>,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// The host resolver file used for `dnsPolicy: Default` (`/etc/resolv.conf`).
    pub resolv_conf: PathBuf,
    /// The node's allocatable resources: what the downward API reports for unset limits.
    pub node_allocatable: Allocatable,
    /// How often every pod is synced even when nothing happened (upstream `syncFrequency`):
    /// ConfigMap, Secret and token volume contents are refreshed at least this often.
    pub sync_frequency: Duration,
    /// How long a pod waits before retrying after a failed step (volume setup, sandbox
    /// creation, a container config error), as upstream's pod worker back-off.
    pub retry_period: Duration,
    /// CrashLoopBackOff delays.
    pub restart_backoff: BackoffLimits,
    /// ImagePullBackOff delays.
    pub image_pull_backoff: BackoffLimits,
    /// The component name events are reported with (`kubelet`); the host is `node_name`.
    pub event_component: String,
}

impl KubeletConfig {
    /// Upstream's defaults for a node: state in `/var/lib/kubelet`-like `root_dir`, logs in
    /// `/var/log/pods`, domain `cluster.local`, no cluster DNS, 1 minute resync.
    pub fn new(node_name: impl Into<String>, root_dir: impl Into<PathBuf>) -> KubeletConfig {
        KubeletConfig {
            node_name: node_name.into(),
            root_dir: root_dir.into(),
            pod_log_dir: PathBuf::from("/var/log/pods"),
            node_ips: Vec::new(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".to_string(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            node_allocatable: Allocatable::default(),
            sync_frequency: Duration::from_secs(60),
            retry_period: Duration::from_secs(10),
            restart_backoff: BackoffLimits::UPSTREAM,
            image_pull_backoff: BackoffLimits::UPSTREAM,
            event_component: "kubelet".to_string(),
        }
    }

    /// The directory of one pod's data (`<root>/pods/<uid>`).
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }
}
