//! The API client of the administration subcommands (`token`, `secrets-encrypt`): the admin
//! kubeconfig, as K3s' subcommands use it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Where the admin kubeconfig is unless `--kubeconfig`/`KUBECONFIG` say otherwise.
pub const DEFAULT_KUBECONFIG: &str = "/etc/rancher/k3rs/k3rs.yaml";

#[derive(Debug, Clone, clap::Args)]
pub struct KubeconfigArg {
    /// Admin kubeconfig of the cluster
    #[arg(long, env = "KUBECONFIG", default_value = DEFAULT_KUBECONFIG)]
    pub kubeconfig: PathBuf,
}

fn read(path: &Path) -> anyhow::Result<kube::config::Kubeconfig> {
    kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading the kubeconfig {}", path.display()))
}

/// A client for the kubeconfig's current context.
pub async fn client(path: &Path) -> anyhow::Result<kube::Client> {
    let config = kube::Config::from_custom_kubeconfig(read(path)?, &kube::config::KubeConfigOptions::default()).await?;
    kube::Client::try_from(config).context("building the API client")
}

/// The CA bundle of the kubeconfig's current cluster, exactly as the server's `/cacerts`
/// serves it (the join token's hash is taken over these bytes).
pub fn cluster_ca(path: &Path) -> anyhow::Result<Vec<u8>> {
    let kubeconfig = read(path)?;
    let context_name = kubeconfig.current_context.clone().unwrap_or_default();
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .or_else(|| kubeconfig.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .context("the kubeconfig names no cluster")?;
    if let Some(data) = &cluster.certificate_authority_data {
        return STANDARD.decode(data.trim()).context("certificate-authority-data is not base64");
    }
    let file = cluster.certificate_authority.as_ref().context("the kubeconfig has no cluster CA")?;
    std::fs::read(file).with_context(|| format!("reading {file}"))
}

/// A current-thread runtime for a subcommand.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}
