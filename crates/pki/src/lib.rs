//! k3rs-pki: the cluster's certificates, keys, join token and kubeconfig, K3s style.
//!
//! At start the server calls [`ClusterPki::load_or_create`] on `<data-dir>/server/tls`. The
//! first start creates a server CA and a client CA (10 years), a service-account key, the API
//! server's serving certificate, the admin client certificate and the API server's client
//! certificate for kubelets (1 year). Later starts reuse
//! them byte for byte, re-issuing only leaf certificates that no longer fit the options (a new
//! `--tls-san`) or expire within 90 days.
//!
//! Everything is rustls + rcgen + x509-parser (ring); there is no OpenSSL.

mod authority;
pub mod bootstrap;
pub mod check;
mod cluster;
pub mod csr;
pub mod error;
mod files;
pub mod inspect;
pub mod join;
pub mod jwt;
pub mod kubeconfig;
mod leaf;
pub mod options;
mod pem;
pub mod rotate;
pub mod san;
pub mod sealed;
pub mod service_account;
pub mod tls;
pub mod token;
pub mod unverified;
mod validity;

pub use check::{CertInfo, check_certificates};
pub use cluster::{
    ADMIN_USER, APISERVER_COMMON_NAME, APISERVER_SERVING, CLIENT_ADMIN, CLIENT_CA, CLIENT_KUBE_APISERVER, ClusterPki,
    KUBE_APISERVER_USER, MASTERS_GROUP, SERVER_CA,
};
pub use csr::{KeyAndCsr, generate_key_and_csr};
pub use error::{PkiError, Result};
pub use files::{CERTIFICATE_MODE, PRIVATE_KEY_MODE, write_file_atomic};
pub use inspect::{CertSummary, peer_identity};
pub use kubeconfig::{DEFAULT_KUBECONFIG_MODE, KubeconfigSpec, render_kubeconfig, write_kubeconfig};
pub use leaf::{CertUsage, IssuedCert};
pub use options::PkiOptions;
pub use san::SubjectAltName;
pub use service_account::ServiceAccountKey;
pub use tls::{anonymous_client_tls_config, client_tls_config, server_tls_config};
pub use token::JoinToken;
pub use unverified::{AcceptAnyServerCertificate, unverified_client_tls_config};
pub use validity::{CA_VALIDITY, LEAF_VALIDITY, RENEW_BEFORE};
