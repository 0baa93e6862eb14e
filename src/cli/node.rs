//! Flags of the node agent, shared by `k3rs agent` and the agent `k3rs server` runs.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Node name (default: the host name)
    #[arg(long, env = "K3RS_NODE_NAME")]
    pub node_name: Option<String>,

    /// IP address to advertise for the node (default: the address of the default route)
    #[arg(long, short = 'i', env = "K3RS_NODE_IP")]
    pub node_ip: Option<std::net::IpAddr>,

    /// Label to register the node with (key=value)
    #[arg(long, env = "K3RS_NODE_LABEL", value_delimiter = ',')]
    pub node_label: Vec<String>,

    /// Taint to register the node with (key=value:Effect)
    #[arg(long, env = "K3RS_NODE_TAINT", value_delimiter = ',')]
    pub node_taint: Vec<String>,

    /// containerd socket to use instead of starting one (path or unix:// URL)
    #[arg(long, env = "K3RS_CONTAINER_RUNTIME_ENDPOINT")]
    pub container_runtime_endpoint: Option<String>,

    /// Private registry configuration (mirrors, auth, TLS)
    #[arg(long, env = "K3RS_PRIVATE_REGISTRY", default_value = "/etc/rancher/k3rs/registries.yaml")]
    pub private_registry: PathBuf,

    /// Pull only from the mirrors of registries.yaml, never from the registry itself
    #[arg(long, env = "K3RS_DISABLE_DEFAULT_REGISTRY_ENDPOINT")]
    pub disable_default_registry_endpoint: bool,

    /// Hard eviction thresholds the pressure conditions are reported against
    /// (memory.available, nodefs.available, pid.available), e.g. nodefs.available<5%
    #[arg(
        long,
        env = "K3RS_EVICTION_HARD",
        default_value = "memory.available<100Mi,nodefs.available<10%,pid.available<5%"
    )]
    pub eviction_hard: String,

    /// Port of the kubelet's HTTPS endpoint (logs, exec, port-forward; 0 picks a free one)
    #[arg(long, env = "K3RS_KUBELET_PORT", default_value_t = 10250)]
    pub kubelet_port: u16,

    /// Address the kubelet's HTTPS endpoint listens on (the API server reaches it at the
    /// node's address)
    #[arg(long, env = "K3RS_KUBELET_ADDRESS", default_value = "0.0.0.0")]
    pub kubelet_address: std::net::IpAddr,

    /// The kubelet's state directory (pod volumes)
    #[arg(long, env = "K3RS_KUBELET_ROOT_DIR", default_value = "/var/lib/kubelet", hide = true)]
    pub kubelet_root_dir: PathBuf,

    /// Where container log files are written
    #[arg(long, env = "K3RS_POD_LOG_DIR", default_value = "/var/log/pods", hide = true)]
    pub pod_log_dir: PathBuf,

    /// Runtime state that does not outlive a reboot (namespaces, sandboxes, runc state)
    #[arg(long, env = "K3RS_RUN_DIR", default_value = "/run/k3rs", hide = true)]
    pub run_dir: PathBuf,

    /// cgroup under which pods run (cgroupfs path)
    #[arg(long, env = "K3RS_CGROUP_PARENT", default_value = "/k3rs", hide = true)]
    pub cgroup_parent: String,
}
