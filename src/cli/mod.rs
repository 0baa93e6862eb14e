//! Command-line interface. Every flag can also come from the environment
//! (`K3RS_<FLAG>`) or from `/etc/rancher/k3rs/config.yaml` (keys are flag names).

pub mod config_file;
pub mod node;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use node::NodeArgs;

#[derive(Debug, Parser)]
#[command(name = "k3rs", version = concat!(env!("CARGO_PKG_VERSION"), " (Kubernetes v1.33)"), about = "Lightweight Kubernetes: one binary for server and agent")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control plane (API server and datastore) and, unless --disable-agent, a
    /// node agent in the same process.
    Server(ServerArgs),
    /// Run a node agent (kubelet over containerd) that joins a server.
    Agent(AgentArgs),
    /// Manage the images of the node's containerd (import archives, list, remove).
    Images(ImagesArgs),
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
