//! What the agent authenticates with: a client certificate for the API server
//! (`system:node:<name>` in `system:nodes`, so the Node authorizer and NodeRestriction see
//! a kubelet) and a serving certificate for its HTTPS endpoint, both from the cluster's
//! CAs. The server's own agent gets them straight from the cluster PKI; a joining agent
//! gets them from a server through the join flow.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_cluster::{JoinClient, JoinError, NodeIdentity};
use k3rs_pki::{ClusterPki, generate_key_and_csr};
use serde_json::json;

/// Why joining failed: worth retrying (the server is not reachable or not ready yet), or not
/// (a wrong token, a CA that does not match, a node name taken by another machine).
#[derive(Debug, thiserror::Error)]
pub enum JoinFailure {
    #[error("{0}")]
    Retry(JoinError),
    #[error("{0:#}")]
    Fatal(anyhow::Error),
}

impl From<JoinError> for JoinFailure {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::Connect(_) => JoinFailure::Retry(e),
            JoinError::Server { status, .. } if status >= 500 => JoinFailure::Retry(e),
            other => JoinFailure::Fatal(other.into()),
        }
    }
}

/// A certificate chain answer (`leaf` then its CA, PEM) split into the leaf and the rest.
pub fn split_chain(chain: &str) -> anyhow::Result<(String, String)> {
    const END: &str = "-----END CERTIFICATE-----";
    let at = chain.find(END).context("the server's answer holds no certificate")? + END.len();
    let (leaf, rest) = chain.split_at(at);
    anyhow::ensure!(rest.contains(END), "the server's answer lacks the CA certificate after the leaf");
    Ok((format!("{}\n", leaf.trim()), format!("{}\n", rest.trim())))
}

/// A certificate and its key, PEM.
#[derive(Clone)]
pub struct KeyPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The agent's credentials and the cluster's trust anchors.
#[derive(Clone)]
pub struct Credentials {
    /// `https://host:port` of the API server.
    pub server_url: String,
    /// The CA that signed the API server's serving certificate.
    pub server_ca_pem: String,
    /// The CA client certificates chain to (the kubelet endpoint admits only those).
    pub client_ca_pem: String,
    /// `system:node:<name>` in `system:nodes`.
    pub client: KeyPair,
    /// The kubelet endpoint's serving certificate, for the node's names and addresses.
    pub serving: KeyPair,
}

/// The SANs of a kubelet serving certificate: host name, node name and addresses.
pub fn serving_sans(node_name: &str, hostname: &str, ips: &[IpAddr]) -> Vec<String> {
    let mut sans = vec![hostname.to_string(), node_name.to_string(), "localhost".to_string()];
    sans.extend(ips.iter().map(ToString::to_string));
    sans.push("127.0.0.1".to_string());
    sans.sort();
    sans.dedup();
    sans
}

impl Credentials {
    /// Issues the server's own agent its certificates from the cluster PKI.
    pub fn from_cluster_pki(
        pki: &ClusterPki,
        server_url: &str,
        node_name: &str,
        hostname: &str,
        ips: &[IpAddr],
    ) -> anyhow::Result<Credentials> {
        let user = format!("system:node:{node_name}");
        let client = pki
            .issue_client_cert(&user, &["system:nodes"], k3rs_pki::LEAF_VALIDITY)
            .with_context(|| format!("issuing the client certificate of {user}"))?;
        let serving = pki
            .issue_serving_cert(node_name, &serving_sans(node_name, hostname, ips))
            .context("issuing the kubelet serving certificate")?;
        Ok(Credentials {
            server_url: server_url.to_string(),
            server_ca_pem: pki.server_ca_pem().to_string(),
            client_ca_pem: pki.client_ca_pem().to_string(),
            client: KeyPair { cert_pem: client.cert_pem, key_pem: client.key_pem },
            serving: KeyPair { cert_pem: serving.cert_pem, key_pem: serving.key_pem },
        })
    }

    /// Joins the cluster at `server` with `token`: pins the server's CA by the token's hash
    /// (nothing secret is sent to a server whose CA does not match), then has the kubelet's
    /// client and serving certificates signed for keys made here, proving the node's name
    /// with the password kept in `password_file` (created on first use).
    pub async fn join(
        server: &str,
        token: &str,
        node_name: &str,
        ips: &[IpAddr],
        password_file: &Path,
    ) -> Result<Credentials, JoinFailure> {
        let client = JoinClient::connect(server, token).await?;
        let (name, file) = (node_name.to_string(), password_file.to_path_buf());
        let identity = tokio::task::spawn_blocking(move || NodeIdentity::load_or_create(&name, &file))
            .await
            .map_err(|e| JoinFailure::Fatal(anyhow::anyhow!("node password task: {e}")))??;
        let client_key = generate_key_and_csr(&format!("system:node:{node_name}")).map_err(JoinError::from)?;
        let client_chain = client.kubelet_client_cert(&identity, &client_key.csr_pem).await?;
        let (client_cert, client_ca) = split_chain(&client_chain).map_err(JoinFailure::Fatal)?;
        let serving_key = generate_key_and_csr(node_name).map_err(JoinError::from)?;
        let serving_chain = client.kubelet_serving_cert(&identity, ips, &serving_key.csr_pem).await?;
        let (serving_cert, _) = split_chain(&serving_chain).map_err(JoinFailure::Fatal)?;
        Ok(Credentials {
            server_url: server.trim_end_matches('/').to_string(),
            server_ca_pem: client.ca_pem().to_string(),
            client_ca_pem: client_ca,
            client: KeyPair { cert_pem: client_cert, key_pem: client_key.key_pem },
            serving: KeyPair { cert_pem: serving_cert, key_pem: serving_key.key_pem },
        })
    }

    /// Writes the certificates where K3s keeps its agent's (`<data-dir>/agent/`):
    /// `client-kubelet.{crt,key}`, `serving-kubelet.{crt,key}`, `client-ca.crt`,
    /// `server-ca.crt`. Keys get mode 0600. Blocking file I/O.
    pub fn write(&self, agent_dir: &Path) -> anyhow::Result<()> {
        use k3rs_pki::{CERTIFICATE_MODE, PRIVATE_KEY_MODE, write_file_atomic};
        std::fs::create_dir_all(agent_dir).with_context(|| format!("creating {}", agent_dir.display()))?;
        let files: [(&str, &str, u32); 6] = [
            ("client-kubelet.crt", &self.client.cert_pem, CERTIFICATE_MODE),
            ("client-kubelet.key", &self.client.key_pem, PRIVATE_KEY_MODE),
            ("serving-kubelet.crt", &self.serving.cert_pem, CERTIFICATE_MODE),
            ("serving-kubelet.key", &self.serving.key_pem, PRIVATE_KEY_MODE),
            ("client-ca.crt", &self.client_ca_pem, CERTIFICATE_MODE),
            ("server-ca.crt", &self.server_ca_pem, CERTIFICATE_MODE),
        ];
        for (name, content, mode) in files {
            let path = agent_dir.join(name);
            write_file_atomic(&path, content.as_bytes(), mode)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// A kube-rs configuration that talks to the API server with the client certificate.
    pub async fn kube_config(&self) -> anyhow::Result<kube::Config> {
        kube_config(&self.server_url, &self.server_ca_pem, &self.client, "k3rs-agent").await
    }
}

/// A kube-rs configuration for `server_url`, trusting `ca_pem`, authenticating with `pair`.
pub async fn kube_config(server_url: &str, ca_pem: &str, pair: &KeyPair, user: &str) -> anyhow::Result<kube::Config> {
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "k3rs", "cluster": {
            "server": server_url,
            "certificate-authority-data": STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": user, "user": {
            "client-certificate-data": STANDARD.encode(&pair.cert_pem),
            "client-key-data": STANDARD.encode(&pair.key_pem),
        }}],
        "contexts": [{"name": "k3rs", "context": {"cluster": "k3rs", "user": user}}],
        "current-context": "k3rs",
    });
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).context("building a kubeconfig")?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .context("building the API client configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_split_into_leaf_and_ca() {
        let chain = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let (leaf, ca) = split_chain(chain).unwrap();
        assert!(leaf.contains("AAA") && !leaf.contains("BBB"));
        assert!(ca.contains("BBB") && ca.starts_with("-----BEGIN"));
        assert!(split_chain("garbage").is_err());
        assert!(split_chain("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n").is_err());
    }

    #[test]
    fn serving_sans_cover_names_and_addresses() {
        let sans = serving_sans("n1", "host", &["10.0.0.2".parse().unwrap()]);
        for want in ["n1", "host", "localhost", "10.0.0.2", "127.0.0.1"] {
            assert!(sans.iter().any(|s| s == want), "{want} in {sans:?}");
        }
    }

    #[tokio::test]
    async fn in_process_credentials_name_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path(), &k3rs_pki::PkiOptions::default()).unwrap();
        let creds =
            Credentials::from_cluster_pki(&pki, "https://127.0.0.1:6443", "n1", "host", &["10.0.0.2".parse().unwrap()])
                .unwrap();
        let body: String = creds.client.cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        let (user, groups) = k3rs_pki::peer_identity(&der).unwrap();
        assert_eq!(user, "system:node:n1");
        assert_eq!(groups, vec!["system:nodes".to_string()]);
        let config = creds.kube_config().await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
    }
}
