//! The error type of the PKI crate: every failure names the file or value at fault.

use std::path::PathBuf;

/// Result alias used throughout `k3rs-pki`.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, loading or using cluster certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its content cannot be used.
    #[error("{path}: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    /// A CA is only half present (certificate without key or the reverse), or unusable.
    #[error("certificate authority {name}: {reason}")]
    CertificateAuthority { name: String, reason: String },
    /// rcgen refused to build or sign a certificate or key.
    #[error("generating {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    /// A subject alternative name (from `--tls-san`, a host name or a caller) is not usable.
    #[error("invalid subject alternative name {value:?}: {reason}")]
    InvalidSan { value: String, reason: String },
    /// The service CIDR cannot yield the API server's service IP.
    #[error("invalid service CIDR {value:?}: {reason}")]
    InvalidServiceCidr { value: String, reason: String },
    /// PEM input given by a caller holds no usable certificate or key.
    #[error("invalid PEM for {what}: {reason}")]
    InvalidPem { what: &'static str, reason: String },
    /// A request this crate cannot honour (the message says which and why).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// rustls rejected the certificates or keys for a TLS configuration.
    #[error("building TLS configuration: {0}")]
    Tls(String),
    /// The kubeconfig could not be rendered.
    #[error("rendering kubeconfig: {0}")]
    Kubeconfig(String),
    /// A join token is malformed.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The server's CA bundle does not match the hash pinned in the join token.
    #[error(
        "the server's CA certificate hash {actual} does not match the token's {expected}; \
         check that the token belongs to this cluster"
    )]
    CaHashMismatch { expected: String, actual: String },
}

impl PkiError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io { op, path: path.into(), source }
    }

    pub(crate) fn invalid_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        PkiError::InvalidFile { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn generate(what: impl Into<String>, source: rcgen::Error) -> Self {
        PkiError::Generate { what: what.into(), source }
    }
}
