//! TEMPORARY wiring, until the controller-manager runner (one Lease for every
//! controller) is merged: runs the cluster controllers inside `k3rs server` as
//! the API client `system:kube-controller-manager`. The runner replaces this
//! module and its one call in `server.rs`.

use std::time::Duration;

use anyhow::Context;
use k3rs_pki::{ClusterPki, KubeconfigSpec, render_kubeconfig};
use tracing::error;

/// The controllers' client certificate lives as long as the process.
const CLIENT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Starts the cluster controllers against the API server at `url`.
pub async fn start(pki: &ClusterPki, url: &str) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let cert = pki
        .issue_client_cert("system:kube-controller-manager", &[], CLIENT_CERT_VALIDITY)
        .context("issuing the controller manager's client certificate")?;
    let spec = KubeconfigSpec {
        server_url: url,
        name: "default",
        ca_pem: pki.server_ca_pem(),
        client_cert_pem: &cert.cert_pem,
        client_key_pem: &cert.key_pem,
    };
    let yaml = render_kubeconfig(&spec).context("rendering the controller manager's kubeconfig")?;
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&yaml).context("reading the controller manager's kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("configuring the controller manager's client")?;
    let client = kube::Client::try_from(config).context("building the controller manager's client")?;
    Ok(tokio::spawn(async move {
        if let Err(e) = k3rs_controllers::cluster::run(client).await {
            error!(error = %e, "the cluster controllers stopped");
        }
    }))
}
