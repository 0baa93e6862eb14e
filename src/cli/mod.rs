//! Command-line interface. Every flag can also come from the environment
//! (`K3RS_<FLAG>`) or from `/etc/rancher/k3rs/config.yaml` (keys are flag names).

pub mod config_file;
#[cfg(test)]
pub mod reference;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "k3rs", version = concat!(env!("CARGO_PKG_VERSION"), " (Kubernetes v1.33)"), about = "Lightweight Kubernetes: one binary for server and agent")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start and consumed: boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (API server and datastore).
    Server(ServerArgs),
    /// Check this host's kernel, cgroups and binaries for what k3rs needs.
    CheckConfig(CheckConfigArgs),
    /// Run the system kubectl with this cluster's kubeconfig.
    Kubectl(KubectlArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// Kernel configuration file to read (default: /proc/config.gz, then /boot/config-<release>)
    #[arg(long, env = "K3RS_KERNEL_CONFIG")]
    pub kernel_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct KubectlArgs {
    /// Arguments passed to kubectl unchanged
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<OsString>,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Configuration file (keys are flag names)
    #[arg(long, short = 'c', env = "K3RS_CONFIG_FILE", default_value = config_file::DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Folder to hold state
    #[arg(long, short = 'd', env = "K3RS_DATA_DIR", default_value = "/var/lib/rancher/k3rs")]
    pub data_dir: PathBuf,

    /// Address the API server listens on
    #[arg(long, env = "K3RS_BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,

    /// HTTPS listen port of the API server
    #[arg(long, env = "K3RS_HTTPS_LISTEN_PORT", default_value_t = 6443)]
    pub https_listen_port: u16,

    /// Address other nodes reach the API server at (default: the node IP)
    #[arg(long, env = "K3RS_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<std::net::IpAddr>,

    /// IP address of this node (default: the address of the default route)
    #[arg(long, env = "K3RS_NODE_IP")]
    pub node_ip: Option<std::net::IpAddr>,

    /// Additional host names or IPs as Subject Alternative Names in the serving certificate
    #[arg(long, env = "K3RS_TLS_SAN", value_delimiter = ',')]
    pub tls_san: Vec<String>,

    /// Write the admin kubeconfig to this file
    #[arg(long, short = 'o', env = "K3RS_KUBECONFIG_OUTPUT", default_value = "/etc/rancher/k3rs/k3rs.yaml")]
    pub write_kubeconfig: PathBuf,

    /// Write the kubeconfig with this mode (octal, e.g. 644)
    #[arg(long, env = "K3RS_KUBECONFIG_MODE")]
    pub write_kubeconfig_mode: Option<String>,

    /// IPv4 network CIDR for pod IPs
    #[arg(long, env = "K3RS_CLUSTER_CIDR", default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,

    /// IPv4 network CIDR for service cluster IPs
    #[arg(long, env = "K3RS_SERVICE_CIDR", default_value = "10.43.0.0/16")]
    pub service_cidr: String,

    /// Port range reserved for services with NodePort visibility
    #[arg(long, env = "K3RS_SERVICE_NODE_PORT_RANGE", default_value = "30000-32767")]
    pub service_node_port_range: String,

    /// Do not run a local agent and register a local kubelet
    #[arg(long, env = "K3RS_DISABLE_AGENT")]
    pub disable_agent: bool,

    /// Log at debug level
    #[arg(long, env = "K3RS_DEBUG")]
    pub debug: bool,

    /// Log format: text or json
    #[arg(long, env = "K3RS_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}
