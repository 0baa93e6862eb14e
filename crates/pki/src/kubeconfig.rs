//! Admin kubeconfig files (`/etc/rancher/k3rs/k3rs.yaml`): cluster, user and context all named
//! after the cluster (`default`, as K3s does), with the CA and client credentials embedded so
//! the file works alone with plain `kubectl`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::error::{PkiError, Result};
use crate::files::{ensure_parent_dir, write_file_atomic};

/// Mode of a kubeconfig when the caller does not choose one (`--write-kubeconfig-mode`).
pub const DEFAULT_KUBECONFIG_MODE: u32 = 0o600;
/// The cluster, user and context name K3s uses.
pub const DEFAULT_CLUSTER_NAME: &str = "default";

/// What a kubeconfig connects to and authenticates with.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigSpec<'a> {
    /// API server URL, e.g. `https://127.0.0.1:6443`.
    pub server_url: &'a str,
    /// Name of the cluster, user and context entries.
    pub name: &'a str,
    /// PEM of the CA that signed the API server's serving certificate.
    pub ca_pem: &'a str,
    /// PEM of the client certificate.
    pub client_cert_pem: &'a str,
    /// PEM of the client key.
    pub client_key_pem: &'a str,
}

#[derive(Serialize)]
struct Kubeconfig<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: [Named<'a, Cluster<'a>>; 1],
    contexts: [Named<'a, Context<'a>>; 1],
    #[serde(rename = "current-context")]
    current_context: &'a str,
    preferences: BTreeMap<String, String>,
    users: [NamedUser<'a>; 1],
}

#[derive(Serialize)]
struct Named<'a, T> {
    name: &'a str,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct Cluster<'a> {
    cluster: ClusterBody<'a>,
}

#[derive(Serialize)]
struct ClusterBody<'a> {
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: String,
    server: &'a str,
}

#[derive(Serialize)]
struct Context<'a> {
    context: ContextBody<'a>,
}

#[derive(Serialize)]
struct ContextBody<'a> {
    cluster: &'a str,
    user: &'a str,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: &'a str,
    user: UserBody,
}

#[derive(Serialize)]
struct UserBody {
    #[serde(rename = "client-certificate-data")]
    client_certificate_data: String,
    #[serde(rename = "client-key-data")]
    client_key_data: String,
}

/// Renders the kubeconfig YAML.
pub fn render_kubeconfig(spec: &KubeconfigSpec<'_>) -> Result<String> {
    if spec.name.is_empty() {
        return Err(PkiError::Kubeconfig("the cluster name must not be empty".into()));
    }
    if !spec.server_url.starts_with("https://") {
        return Err(PkiError::Kubeconfig(format!("server URL {:?} must start with https://", spec.server_url)));
    }
    let doc = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: [Named {
            name: spec.name,
            body: Cluster {
                cluster: ClusterBody {
                    certificate_authority_data: STANDARD.encode(spec.ca_pem),
                    server: spec.server_url,
                },
            },
        }],
        contexts: [Named {
            name: spec.name,
            body: Context { context: ContextBody { cluster: spec.name, user: spec.name } },
        }],
        current_context: spec.name,
        preferences: BTreeMap::new(),
        users: [NamedUser {
            name: spec.name,
            user: UserBody {
                client_certificate_data: STANDARD.encode(spec.client_cert_pem),
                client_key_data: STANDARD.encode(spec.client_key_pem),
            },
        }],
    };
    // One line per base64 value, as kubectl writes it: scripts grep and cut these fields.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    serde_saphyr::to_string_with_options(&doc, options).map_err(|e| PkiError::Kubeconfig(e.to_string()))
}

/// Writes the kubeconfig to `path` atomically with `mode` (0600 when `None`), creating parent
/// directories.
pub fn write_kubeconfig(path: &Path, mode: Option<u32>, spec: &KubeconfigSpec<'_>) -> Result<()> {
    let yaml = render_kubeconfig(spec)?;
    ensure_parent_dir(path)?;
    write_file_atomic(path, yaml.as_bytes(), mode.unwrap_or(DEFAULT_KUBECONFIG_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SPEC: KubeconfigSpec<'static> = KubeconfigSpec {
        server_url: "https://127.0.0.1:6443",
        name: DEFAULT_CLUSTER_NAME,
        ca_pem: "CA PEM\n",
        client_cert_pem: "CERT PEM\n",
        client_key_pem: "KEY PEM\n",
    };

    #[test]
    fn rendered_yaml_has_the_kubeconfig_shape() {
        let yaml = render_kubeconfig(&SPEC).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], "default");
        assert_eq!(doc["clusters"][0]["name"], "default");
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(doc["clusters"][0]["cluster"]["certificate-authority-data"], STANDARD.encode("CA PEM\n"));
        assert_eq!(doc["contexts"][0]["context"]["cluster"], "default");
        assert_eq!(doc["contexts"][0]["context"]["user"], "default");
        assert_eq!(doc["users"][0]["user"]["client-key-data"], STANDARD.encode("KEY PEM\n"));
    }

    #[test]
    fn long_base64_values_stay_on_one_line() {
        let long = "x".repeat(600);
        let spec = KubeconfigSpec { ca_pem: &long, ..SPEC };
        let yaml = render_kubeconfig(&spec).unwrap();
        let line = yaml.lines().find(|l| l.contains("certificate-authority-data")).unwrap();
        assert_eq!(line.trim(), format!("certificate-authority-data: {}", STANDARD.encode(&long)));
    }

    #[test]
    fn written_with_mode_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/rancher/k3rs/k3rs.yaml");
        write_kubeconfig(&path, None, &SPEC).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        write_kubeconfig(&path, Some(0o644), &SPEC).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn plain_http_is_refused() {
        let spec = KubeconfigSpec { server_url: "http://127.0.0.1:6443", ..SPEC };
        assert!(render_kubeconfig(&spec).is_err());
    }
}
