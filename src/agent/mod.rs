//! The node agent: containerd (supervised or given), airgap images, the Node's
//! registration, status and Lease, and the pods bound to the node. `k3rs agent` runs it
//! alone and joins a server; `k3rs server` runs the same agent in its own process unless
//! `--disable-agent`, with credentials issued straight from the cluster PKI.
//!
//! The kubelet's HTTPS endpoint ([`kubelet_endpoint`]) serves logs, exec, attach and
//! port-forward to the API server.
//!
//! Stopping the agent stops watching and reporting; containers keep running (a systemd
//! unit uses `KillMode=process`), and the next start re-adopts them from containerd.

pub mod airgap;
pub mod containerd;
pub mod credentials;
pub mod kubelet_endpoint;
pub mod node;
pub mod pods;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use k3rs_kubelet::node::machine::Machine;
use k3rs_kubelet::node::{NodeConfig, NodeManager, registration};
use k3rs_kubelet::pod::{PodManager, PodManagerHandle};
use k3rs_runtime::Runtime;
use k8s_openapi::api::core::v1::Node;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use credentials::{Credentials, JoinFailure};

use crate::cli::{AgentArgs, NodeArgs};

/// Everything an agent starts from.
pub struct AgentSetup {
    pub data_dir: PathBuf,
    pub args: NodeArgs,
    pub node: NodeConfig,
    pub credentials: Credentials,
    /// Labels a kubelet may not set on its own Node (the control-plane role), with a client
    /// that may: the server's own agent has one; a joined agent does not.
    pub privileged_labels: Option<(kube::Client, BTreeMap<String, String>)>,
}

/// A running agent.
pub struct Agent {
    runtime: Runtime,
    node: NodeManager,
    pods: PodManagerHandle,
    endpoint: k3rs_kubelet::streaming::StreamingServer,
    stop: watch::Sender<bool>,
    background: Vec<JoinHandle<()>>,
}

/// Starts containerd (or connects to it) and re-adopts the containers a previous run left.
pub async fn start_runtime(data_dir: &Path, args: &NodeArgs) -> anyhow::Result<Runtime> {
    let (dir, node_args) = (data_dir.to_path_buf(), args.clone());
    let config = tokio::task::spawn_blocking(move || containerd::runtime_config(&dir, &node_args))
        .await
        .context("runtime configuration task")??;
    let managed = matches!(config.endpoint, k3rs_runtime::Endpoint::Managed(_));
    Runtime::start(config).await.with_context(|| {
        if managed {
            "starting containerd (install containerd and runc, or point --container-runtime-endpoint at a running \
             containerd; `k3rs server --disable-agent` runs the control plane without a node)"
                .to_string()
        } else {
            format!("connecting to containerd at {}", args.container_runtime_endpoint.as_deref().unwrap_or_default())
        }
    })
}

impl Agent {
    /// Starts the agent: containerd, airgap images, then the Node and its pods.
    pub async fn start(setup: AgentSetup) -> anyhow::Result<Agent> {
        let (credentials, agent_dir) = (setup.credentials.clone(), setup.data_dir.join("agent"));
        tokio::task::spawn_blocking(move || credentials.write(&agent_dir))
            .await
            .context("certificate writing task")??;
        let runtime = start_runtime(&setup.data_dir, &setup.args).await?;
        let version = runtime.containerd().version().await.unwrap_or_default();
        info!(containerd = %version, socket = %runtime.containerd().socket().display(), "container runtime ready");
        if let Err(e) = airgap::import(&runtime, &setup.data_dir).await {
            warn!(error = %format!("{e:#}"), "importing airgap images failed");
        }
        let client = match setup.credentials.kube_config().await.and_then(|c| Ok(kube::Client::try_from(c)?)) {
            Ok(client) => client,
            Err(e) => {
                runtime.close().await;
                return Err(e.context("building the kubelet's API client"));
            }
        };
        let root = setup.args.kubelet_root_dir.to_string_lossy().into_owned();
        let machine = tokio::task::spawn_blocking(move || Machine::read(&root)).await.context("machine facts task")?;
        let kubelet = pods::kubelet_config(&setup.node, &setup.args, &machine);
        let pods = match PodManager::start(client.clone(), runtime.clone(), kubelet).await {
            Ok(pods) => pods,
            Err(e) => {
                runtime.close().await;
                return Err(anyhow::Error::new(e).context("starting the pod manager"));
            }
        };
        let agent_dir = setup.data_dir.join("agent");
        let directory = pods.directory();
        let endpoint = match kubelet_endpoint::serve(&agent_dir, &setup.args, runtime.clone(), directory).await {
            Ok(endpoint) => endpoint,
            Err(e) => {
                pods.shutdown().await;
                runtime.close().await;
                return Err(e);
            }
        };
        // The Node reports the port actually bound (`--kubelet-port 0` picks a free one).
        let mut node_config = setup.node.clone();
        node_config.kubelet_port = endpoint.local_addr().port();
        let node = NodeManager::start(client, runtime.clone(), node_config);
        let (stop, stop_rx) = watch::channel(false);
        let mut background = Vec::new();
        if let Some((admin, labels)) = setup.privileged_labels.filter(|(_, l)| !l.is_empty()) {
            let registered = node.registered_watch();
            background.push(tokio::spawn(label_node(admin, setup.node.name.clone(), labels, registered, stop_rx)));
        }
        info!(node = %setup.node.name, kubelet = %endpoint.local_addr(), "agent started");
        Ok(Agent { runtime, node, pods, endpoint, stop, background })
    }

    /// Waits until the Node is registered.
    pub async fn registered(&self) {
        self.node.registered().await;
    }

    /// Stops reporting and watching; containers keep running.
    pub async fn shutdown(self) {
        // No new streaming sessions; running ones end with it.
        drop(self.endpoint);
        let _ = self.stop.send(true);
        for task in self.background {
            let _ = task.await;
        }
        self.pods.shutdown().await;
        self.node.stop().await;
        self.runtime.close().await;
        info!("agent stopped; containers keep running");
    }
}

/// Applies `labels` to the Node once it is registered (and again after a re-registration),
/// retrying with back-off.
async fn label_node(
    admin: kube::Client,
    name: String,
    labels: BTreeMap<String, String>,
    mut registered: watch::Receiver<Option<Node>>,
    mut stop: watch::Receiver<bool>,
) {
    let api: kube::Api<Node> = kube::Api::all(admin);
    loop {
        tokio::select! {
            r = registered.wait_for(Option::is_some) => if r.is_err() { return },
            _ = stop.changed() => return,
        }
        registered.mark_unchanged();
        let mut delay = Duration::from_millis(200);
        loop {
            match registration::apply_privileged_labels(&api, &name, &labels).await {
                Ok(()) => break,
                Err(e) => warn!(node = %name, error = %e, "labelling the node failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tokio::select! {
            r = registered.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// The join token from `--token` or `--token-file`.
fn token(args: &AgentArgs) -> anyhow::Result<String> {
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(token.trim().to_string());
    }
    match &args.token_file {
        Some(path) => Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading --token-file {}", path.display()))?
            .trim()
            .to_string()),
        None => anyhow::bail!("--token or --token-file is required to join {}", args.server),
    }
}

/// Joins, retrying while the server cannot be reached (it may be starting), as K3s does.
async fn join(args: &AgentArgs, token: &str, node: &NodeConfig) -> anyhow::Result<Credentials> {
    let mut delay = Duration::from_secs(1);
    loop {
        match Credentials::join(&args.server, token, &node.name, &node.internal_ips, &args.node_password_file).await {
            Ok(credentials) => return Ok(credentials),
            Err(JoinFailure::Fatal(e)) => return Err(e.context(format!("joining {}", args.server))),
            Err(JoinFailure::Retry(e)) => {
                warn!(server = %args.server, error = %e, retry_in = ?delay, "waiting for the server");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// `k3rs agent`: joins the server and runs until SIGTERM or Ctrl-C.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let node = node::node_config(&args.node)?;
    let token = token(&args)?;
    let credentials = tokio::select! {
        credentials = join(&args, &token, &node) => credentials?,
        _ = crate::server::shutdown_signal() => return Ok(()),
    };
    info!(server = %args.server, node = %node.name, "joined the cluster");
    let agent = Agent::start(AgentSetup {
        data_dir: args.data_dir.clone(),
        args: args.node.clone(),
        node,
        credentials,
        privileged_labels: None,
    })
    .await?;
    // With a Type=notify unit, systemd considers the agent started once its Node exists.
    tokio::select! {
        _ = agent.registered() => crate::systemd_notify::ready("node registered"),
        _ = crate::server::shutdown_signal() => {
            agent.shutdown().await;
            return Ok(());
        }
    }
    crate::server::shutdown_signal().await;
    info!("shutting down");
    crate::systemd_notify::stopping();
    agent.shutdown().await;
    Ok(())
}
