//! The server's PKI as one value: CAs, service-account key, API serving certificate and admin
//! credentials, loaded from (or created in) `<data-dir>/server/tls` at start.
//!
//! File layout (K3s names):
//! - `server-ca.crt/.key`: signs serving certificates; `/cacerts` serves `server-ca.crt`.
//! - `client-ca.crt/.key`: signs client certificates; the API server trusts it for x509 auth.
//! - `service.key`: service-account token signing key.
//! - `serving-kube-apiserver.crt/.key`: the API server's certificate.
//! - `client-admin.crt/.key`: `CN=system:admin, O=system:masters`, used by the admin kubeconfig.
//! - `client-kube-apiserver.crt/.key`: `CN=system:kube-apiserver`, the API server's identity
//!   towards kubelets (logs, exec, attach, port-forward proxying).
//!
//! All I/O here is blocking; call it before starting the runtime or from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rustls::{ClientConfig, ServerConfig};

use crate::authority::CertificateAuthority;
use crate::check::{CertInfo, check_certificates};
use crate::csr::verified_public_key;
use crate::error::Result;
use crate::files::ensure_private_dir;
use crate::kubeconfig::{DEFAULT_CLUSTER_NAME, KubeconfigSpec, write_kubeconfig};
use crate::leaf::{CertUsage, IssuedCert, LeafSpec, ensure_leaf, issue, issue_for_public_key};
use crate::options::PkiOptions;
use crate::san::SubjectAltName;
use crate::service_account::ServiceAccountKey;
use crate::tls;
use crate::token::ca_hash;
use crate::validity::LEAF_VALIDITY;

/// Stem of the server CA files.
pub const SERVER_CA: &str = "server-ca";
/// Stem of the client CA files.
pub const CLIENT_CA: &str = "client-ca";
/// Stem of the API server's serving certificate files.
pub const APISERVER_SERVING: &str = "serving-kube-apiserver";
/// Stem of the admin client certificate files.
pub const CLIENT_ADMIN: &str = "client-admin";
/// Stem of the API server's client certificate for kubelets.
pub const CLIENT_KUBE_APISERVER: &str = "client-kube-apiserver";
/// The API server's user name towards kubelets; kubelets admit only this identity to their
/// streaming endpoint.
pub const KUBE_APISERVER_USER: &str = "system:kube-apiserver";
/// Common name of the API server's serving certificate.
pub const APISERVER_COMMON_NAME: &str = "kube-apiserver";
/// The admin user.
pub const ADMIN_USER: &str = "system:admin";
/// The group Kubernetes' default RBAC binds to cluster-admin.
pub const MASTERS_GROUP: &str = "system:masters";

/// The cluster's certificates and keys, as loaded at start.
pub struct ClusterPki {
    dir: PathBuf,
    server_ca: CertificateAuthority,
    client_ca: CertificateAuthority,
    service_account: ServiceAccountKey,
    serving: IssuedCert,
    admin: IssuedCert,
    kubelet_client: IssuedCert,
}

impl ClusterPki {
    /// Loads the PKI from `dir` (`<data-dir>/server/tls`), creating what is missing and
    /// re-issuing leaf certificates that changed or are due for renewal.
    pub fn load_or_create(dir: &Path, opts: &PkiOptions) -> Result<ClusterPki> {
        Self::load_or_create_at(dir, opts, Timestamp::now())
    }

    /// [`Self::load_or_create`] as if the current time were `now` (renewal tests).
    pub(crate) fn load_or_create_at(dir: &Path, opts: &PkiOptions, now: Timestamp) -> Result<ClusterPki> {
        // Validate the options before touching the disk, so a bad --tls-san leaves no half state.
        let serving_spec = LeafSpec {
            common_name: APISERVER_COMMON_NAME.to_string(),
            organizations: Vec::new(),
            sans: opts.apiserver_sans()?,
            usage: CertUsage::Server,
            validity: LEAF_VALIDITY,
        };
        let admin_spec = LeafSpec {
            common_name: ADMIN_USER.to_string(),
            organizations: vec![MASTERS_GROUP.to_string()],
            sans: Default::default(),
            usage: CertUsage::Client,
            validity: LEAF_VALIDITY,
        };
        let kubelet_client_spec = LeafSpec {
            common_name: KUBE_APISERVER_USER.to_string(),
            organizations: Vec::new(),
            sans: Default::default(),
            usage: CertUsage::Client,
            validity: LEAF_VALIDITY,
        };
        ensure_private_dir(dir)?;
        let server_ca = CertificateAuthority::load_or_create(dir, SERVER_CA, now)?;
        let client_ca = CertificateAuthority::load_or_create(dir, CLIENT_CA, now)?;
        let service_account = ServiceAccountKey::load_or_create(dir)?;
        let serving = ensure_leaf(dir, APISERVER_SERVING, &server_ca, &serving_spec, now)?;
        let admin = ensure_leaf(dir, CLIENT_ADMIN, &client_ca, &admin_spec, now)?;
        let kubelet_client = ensure_leaf(dir, CLIENT_KUBE_APISERVER, &client_ca, &kubelet_client_spec, now)?;
        Ok(ClusterPki { dir: dir.to_path_buf(), server_ca, client_ca, service_account, serving, admin, kubelet_client })
    }

    /// The TLS directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PEM of the server CA (trust anchor for the API server's certificate).
    pub fn server_ca_pem(&self) -> &str {
        self.server_ca.cert_pem()
    }

    /// PEM of the client CA (trust anchor for client certificates).
    pub fn client_ca_pem(&self) -> &str {
        self.client_ca.cert_pem()
    }

    /// What `/cacerts` serves: the server CA file, byte for byte.
    pub fn cacerts_bundle(&self) -> &[u8] {
        self.server_ca.cert_pem().as_bytes()
    }

    /// SHA-256 hex of [`Self::cacerts_bundle`], the hash in `K10<hash>::server:<secret>`.
    pub fn token_ca_hash(&self) -> String {
        ca_hash(self.cacerts_bundle())
    }

    /// The service-account token signing key.
    pub fn service_account_key(&self) -> &ServiceAccountKey {
        &self.service_account
    }

    /// The API server's serving certificate and key.
    pub fn apiserver_serving_cert(&self) -> &IssuedCert {
        &self.serving
    }

    /// The admin client certificate and key (`system:admin`, `system:masters`).
    pub fn admin_client_cert(&self) -> &IssuedCert {
        &self.admin
    }

    /// The API server's client certificate towards kubelets (`system:kube-apiserver`).
    pub fn kubelet_client_cert(&self) -> &IssuedCert {
        &self.kubelet_client
    }

    /// The API server's client config towards kubelets: trusts the server CA (which signs
    /// kubelet serving certificates), presents [`Self::kubelet_client_cert`], speaks HTTP/1.1
    /// (the streaming protocols are HTTP/1.1 upgrades).
    pub fn kubelet_client_tls_config(&self) -> Result<ClientConfig> {
        let mut config = tls::client_tls_config(
            self.server_ca.cert_pem(),
            &self.kubelet_client.cert_pem,
            &self.kubelet_client.key_pem,
        )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Issues a client certificate (CN = user, O = group; at most one group, an rcgen limit)
    /// from the client CA; nothing is stored.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        organizations: &[&str],
        validity: Duration,
    ) -> Result<IssuedCert> {
        let spec = LeafSpec {
            common_name: common_name.to_string(),
            organizations: organizations.iter().map(|o| o.to_string()).collect(),
            sans: Default::default(),
            usage: CertUsage::Client,
            validity,
        };
        issue(&self.client_ca, &spec, None, Timestamp::now())
    }

    /// Signs the public key of a node's certificate signing request as a client certificate
    /// (CN = user, O = group) from the client CA. Nothing but the key is taken from the CSR.
    pub fn sign_client_csr(&self, csr_pem: &str, common_name: &str, organizations: &[&str]) -> Result<String> {
        let public_key = verified_public_key(csr_pem)?;
        let spec = LeafSpec {
            common_name: common_name.to_string(),
            organizations: organizations.iter().map(|o| o.to_string()).collect(),
            sans: Default::default(),
            usage: CertUsage::Client,
            validity: LEAF_VALIDITY,
        };
        issue_for_public_key(&self.client_ca, &spec, &public_key, Timestamp::now())
    }

    /// Signs the public key of a certificate signing request as a serving certificate for
    /// `sans` from the server CA (a kubelet's serving certificate).
    pub fn sign_serving_csr(
        &self,
        csr_pem: &str,
        common_name: &str,
        organizations: &[&str],
        sans: &[String],
    ) -> Result<String> {
        let public_key = verified_public_key(csr_pem)?;
        let spec = LeafSpec {
            common_name: common_name.to_string(),
            organizations: organizations.iter().map(|o| o.to_string()).collect(),
            sans: sans.iter().map(|s| SubjectAltName::parse(s)).collect::<Result<_>>()?,
            usage: CertUsage::Server,
            validity: LEAF_VALIDITY,
        };
        issue_for_public_key(&self.server_ca, &spec, &public_key, Timestamp::now())
    }

    /// Issues a one-year serving certificate from the server CA for `sans` (names or IPs);
    /// nothing is stored.
    pub fn issue_serving_cert(&self, common_name: &str, sans: &[String]) -> Result<IssuedCert> {
        self.issue_serving_cert_for(common_name, sans, LEAF_VALIDITY, Timestamp::now())
    }

    pub(crate) fn issue_serving_cert_for(
        &self,
        common_name: &str,
        sans: &[String],
        validity: Duration,
        now: Timestamp,
    ) -> Result<IssuedCert> {
        let spec = LeafSpec {
            common_name: common_name.to_string(),
            organizations: Vec::new(),
            sans: sans.iter().map(|s| SubjectAltName::parse(s)).collect::<Result<_>>()?,
            usage: CertUsage::Server,
            validity,
        };
        issue(&self.server_ca, &spec, None, now)
    }

    /// The API server's TLS config: serving certificate, ALPN h2 + http/1.1, optional client
    /// certificates verified against the client CA.
    pub fn server_tls_config(&self) -> Result<ServerConfig> {
        tls::server_tls_config(&self.serving.cert_pem, &self.serving.key_pem, self.client_ca.cert_pem())
    }

    /// A client config for in-process components acting as `system:admin`.
    pub fn admin_client_tls_config(&self) -> Result<ClientConfig> {
        tls::client_tls_config(self.server_ca.cert_pem(), &self.admin.cert_pem, &self.admin.key_pem)
    }

    /// The admin kubeconfig's content for `server_url` (entries named `default`).
    pub fn admin_kubeconfig_spec<'a>(&'a self, server_url: &'a str) -> KubeconfigSpec<'a> {
        KubeconfigSpec {
            server_url,
            name: DEFAULT_CLUSTER_NAME,
            ca_pem: self.server_ca.cert_pem(),
            client_cert_pem: &self.admin.cert_pem,
            client_key_pem: &self.admin.key_pem,
        }
    }

    /// Writes the admin kubeconfig to `path` with `mode` (0600 when `None`).
    pub fn write_kubeconfig(&self, path: &Path, mode: Option<u32>, server_url: &str) -> Result<()> {
        write_kubeconfig(path, mode, &self.admin_kubeconfig_spec(server_url))
    }

    /// Expiry report of every certificate in the TLS directory.
    pub fn check(&self) -> Result<Vec<CertInfo>> {
        check_certificates(&self.dir, Timestamp::now())
    }
}

impl std::fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
