//! Command-line interface. Every flag can also come from the environment
//! (`K3RS_<FLAG>`) or from `/etc/rancher/k3rs/config.yaml` (keys are flag names).

pub mod admin_client;
pub mod certificate;
pub mod config_file;
pub mod duration;
pub mod node;
#[cfg(test)]
pub mod reference;
pub mod secrets_encrypt;
pub mod token;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use node::NodeArgs;

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
    /// Run the control plane (API server and datastore) and, unless --disable-agent, a
    /// node agent in the same process.
    Server(ServerArgs),
    /// Run a node agent (kubelet over containerd) that joins a server.
    Agent(AgentArgs),
    /// Manage the images of the node's containerd (import archives, list, remove).
    Images(ImagesArgs),
    /// Manage bootstrap tokens
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Manage the cluster's certificates
    #[command(subcommand)]
    Certificate(certificate::CertificateCommand),
    /// Control secrets encryption at rest
    #[command(name = "secrets-encrypt", subcommand)]
    SecretsEncrypt(secrets_encrypt::SecretsEncryptCommand),
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

    /// Shared secret used to join a server or agent to a cluster (generated when not given)
    #[arg(long, short = 't', env = "K3RS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File containing the token
    #[arg(long, env = "K3RS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Shared secret used to join agents to the cluster, but not servers
    #[arg(long, env = "K3RS_AGENT_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,

    /// File containing the agent secret
    #[arg(long, env = "K3RS_AGENT_TOKEN_FILE")]
    pub agent_token_file: Option<PathBuf>,

    /// Enable secret encryption at rest
    #[arg(long, env = "K3RS_SECRETS_ENCRYPTION")]
    pub secrets_encryption: bool,

    /// Do not run the scheduler
    #[arg(long, env = "K3RS_DISABLE_SCHEDULER")]
    pub disable_scheduler: bool,

    /// Do not run the controller manager
    #[arg(long, env = "K3RS_DISABLE_CONTROLLER_MANAGER")]
    pub disable_controller_manager: bool,

    /// How long a node may go without heartbeats before it is marked Unknown (and tainted unreachable)
    #[arg(long, env = "K3RS_NODE_MONITOR_GRACE_PERIOD", default_value = "40s", value_parser = duration::parse)]
    pub node_monitor_grace_period: Duration,

    /// How often node health is checked
    #[arg(long, env = "K3RS_NODE_MONITOR_PERIOD", default_value = "5s", value_parser = duration::parse)]
    pub node_monitor_period: Duration,

    /// Nodes per second that may be tainted NoExecute (pods evicted) in a healthy zone
    #[arg(long, env = "K3RS_NODE_EVICTION_RATE", default_value_t = 0.1)]
    pub node_eviction_rate: f64,

    /// Prefix length of the pod CIDR each node gets from --cluster-cidr
    #[arg(long, env = "K3RS_NODE_CIDR_MASK_SIZE", default_value_t = 24)]
    pub node_cidr_mask_size: u8,

    /// Finished pods kept before the oldest are deleted (0: keep all)
    #[arg(long, env = "K3RS_TERMINATED_POD_GC_THRESHOLD", default_value_t = 12500)]
    pub terminated_pod_gc_threshold: usize,

    /// How long a scheduler or controller manager leader's Lease is valid without renewal
    #[arg(long, env = "K3RS_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = duration::parse)]
    pub leader_elect_lease_duration: Duration,

    /// How often leaders renew, and candidates try, the Lease
    #[arg(long, env = "K3RS_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = duration::parse)]
    pub leader_elect_retry_period: Duration,

    #[command(flatten)]
    pub node: NodeArgs,

    /// Log at debug level
    #[arg(long, env = "K3RS_DEBUG")]
    pub debug: bool,

    /// Log format: text or json
    #[arg(long, env = "K3RS_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Configuration file (keys are flag names)
    #[arg(long, short = 'c', env = "K3RS_CONFIG_FILE", default_value = config_file::DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Folder to hold state
    #[arg(long, short = 'd', env = "K3RS_DATA_DIR", default_value = "/var/lib/rancher/k3rs")]
    pub data_dir: PathBuf,

    /// Server to connect to (https://host:6443)
    #[arg(long, short = 's', env = "K3RS_URL")]
    pub server: String,

    /// Token to use for authentication
    #[arg(long, short = 't', env = "K3RS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File containing the token
    #[arg(long, env = "K3RS_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Where the node's password is kept (it proves this machine owns the node name)
    #[arg(long, env = "K3RS_NODE_PASSWORD_FILE", default_value = "/etc/rancher/node/password", hide = true)]
    pub node_password_file: PathBuf,

    #[command(flatten)]
    pub node: NodeArgs,

    /// Log at debug level
    #[arg(long, env = "K3RS_DEBUG")]
    pub debug: bool,

    /// Log format: text or json
    #[arg(long, env = "K3RS_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

#[derive(Debug, Clone, Args)]
pub struct ImagesArgs {
    /// Folder the agent holds its state in (its containerd socket is found there)
    #[arg(long, short = 'd', env = "K3RS_DATA_DIR", default_value = "/var/lib/rancher/k3rs", global = true)]
    pub data_dir: PathBuf,

    /// The agent's containerd socket, when the agent was given one
    #[arg(long, env = "K3RS_CONTAINER_RUNTIME_ENDPOINT", global = true)]
    pub container_runtime_endpoint: Option<String>,

    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ImagesCommand {
    /// Import image archives (docker save or OCI layout; .tar, .tar.gz, .tar.zst)
    Import {
        /// Archive files
        #[arg(required = true)]
        archives: Vec<PathBuf>,
    },
    /// List images
    #[command(alias = "list")]
    Ls {
        /// Print image names only
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Remove images by name
    #[command(alias = "remove")]
    Rm {
        /// Image references (busybox, docker.io/library/busybox:latest, ...)
        #[arg(required = true)]
        images: Vec<String>,
    },
}
