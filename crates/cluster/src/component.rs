//! API clients for components that run inside the server process. Each gets a client
//! certificate of its own from the cluster's client CA (kept in memory, valid a year; the
//! process restarts long before), so the API server authenticates and authorizes it like any
//! other client: the default RBAC policy binds `system:kube-controller-manager`,
//! `system:kube-scheduler` and `system:kube-proxy` to their roles, and kubelets
//! (`system:node:<name>` in `system:nodes`) are authorized by the Node authorizer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_pki::{ClusterPki, LEAF_VALIDITY};
use serde_json::json;

/// An in-process component's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub user: String,
    /// At most one group (a limit of the certificate issuer).
    pub group: Option<String>,
}

impl Component {
    /// The controller manager (`system:kube-controller-manager`).
    pub fn controller_manager() -> Self {
        Component { user: "system:kube-controller-manager".into(), group: None }
    }

    /// The scheduler (`system:kube-scheduler`).
    pub fn scheduler() -> Self {
        Component { user: "system:kube-scheduler".into(), group: None }
    }

    /// The service proxy (`system:kube-proxy`).
    pub fn proxy() -> Self {
        Component { user: "system:kube-proxy".into(), group: None }
    }

    /// The kubelet of `node` (`system:node:<node>` in `system:nodes`).
    pub fn kubelet(node: &str) -> Self {
        Component { user: format!("system:node:{node}"), group: Some("system:nodes".into()) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("issuing the client certificate for {user}: {source}")]
    Certificate {
        user: String,
        #[source]
        source: k3rs_pki::PkiError,
    },
    #[error("building the client configuration: {0}")]
    Config(String),
}

/// The `kube::Config` of a component talking to `server_url` (e.g. `https://127.0.0.1:6443`)
/// as `user` in `groups` (at most one group).
pub async fn component_config(
    pki: &ClusterPki,
    server_url: &str,
    user: &str,
    groups: &[&str],
) -> Result<kube::Config, ComponentError> {
    let cert = pki
        .issue_client_cert(user, groups, LEAF_VALIDITY)
        .map_err(|source| ComponentError::Certificate { user: user.to_string(), source })?;
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "k3rs", "cluster": {
            "server": server_url,
            "certificate-authority-data": STANDARD.encode(pki.server_ca_pem()),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": STANDARD.encode(&cert.cert_pem),
            "client-key-data": STANDARD.encode(&cert.key_pem),
        }}],
        "contexts": [{"name": "k3rs", "context": {"cluster": "k3rs", "user": user}}],
        "current-context": "k3rs",
    });
    let kubeconfig: kube::config::Kubeconfig =
        serde_json::from_value(kubeconfig).map_err(|e| ComponentError::Config(e.to_string()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| ComponentError::Config(e.to_string()))
}

/// A `kube::Client` for a component talking to `server_url` as `user` in `groups`.
pub async fn component_client(
    pki: &ClusterPki,
    server_url: &str,
    user: &str,
    groups: &[&str],
) -> Result<kube::Client, ComponentError> {
    let config = component_config(pki, server_url, user, groups).await?;
    kube::Client::try_from(config).map_err(|e| ComponentError::Config(e.to_string()))
}

impl Component {
    /// [`component_client`] for this component.
    pub async fn client(&self, pki: &ClusterPki, server_url: &str) -> Result<kube::Client, ComponentError> {
        let groups: Vec<&str> = self.group.iter().map(String::as_str).collect();
        component_client(pki, server_url, &self.user, &groups).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn config_carries_the_components_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path(), &k3rs_pki::PkiOptions::default()).unwrap();
        let config = component_config(&pki, "https://127.0.0.1:6443", "system:kube-scheduler", &[]).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert!(config.root_cert.as_ref().is_some_and(|c| c.len() == 1));
        let cert_pem =
            String::from_utf8(STANDARD.decode(config.auth_info.client_certificate_data.as_deref().unwrap()).unwrap())
                .unwrap();
        let der = rustls_pki_der(&cert_pem);
        assert_eq!(k3rs_pki::peer_identity(&der).unwrap().0, "system:kube-scheduler");
        let kubelet = Component::kubelet("n1");
        assert_eq!((kubelet.user.as_str(), kubelet.group.as_deref()), ("system:node:n1", Some("system:nodes")));
    }

    fn rustls_pki_der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    }
}
