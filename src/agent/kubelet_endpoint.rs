//! The kubelet's HTTPS endpoint (`--kubelet-port`, 10250): logs, exec, attach and
//! port-forward for the API server, served by the kubelet's streaming server over the
//! container runtime and the pod manager's pods. TLS uses the serving certificate and the
//! client CA in `<data-dir>/agent/`; only the API server's client identity gets in.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use k3rs_kubelet::pod::PodDirectory;
use k3rs_kubelet::streaming::{AccessPolicy, RuntimeBackend, StreamingServer, StreamingServerConfig, tls_config};
use k3rs_runtime::Runtime;

use crate::cli::NodeArgs;

/// Where the endpoint listens: `--kubelet-address`:`--kubelet-port`.
pub fn listen_address(args: &NodeArgs) -> SocketAddr {
    SocketAddr::new(args.kubelet_address, args.kubelet_port)
}

async fn read(agent_dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = agent_dir.join(name);
    tokio::fs::read_to_string(&path).await.with_context(|| format!("reading {}", path.display()))
}

/// Starts serving; fails when the certificates are unusable or the port is taken.
pub async fn serve(
    agent_dir: &Path,
    args: &NodeArgs,
    runtime: Runtime,
    pods: PodDirectory,
) -> anyhow::Result<StreamingServer> {
    let cert = read(agent_dir, "serving-kubelet.crt").await?;
    let key = read(agent_dir, "serving-kubelet.key").await?;
    let client_ca = read(agent_dir, "client-ca.crt").await?;
    let tls = tls_config(&cert, &key, &client_ca).context("the kubelet's serving certificate or client CA")?;
    let listen = listen_address(args);
    let config = StreamingServerConfig { listen, tls: Arc::new(tls), access: AccessPolicy::default() };
    StreamingServer::start(config, Arc::new(RuntimeBackend::new(runtime, pods)))
        .await
        .with_context(|| format!("serving the kubelet endpoint on {listen} (--kubelet-address, --kubelet-port)"))
}
