//! The error type of the runtime crate. Every variant names the object at fault, so the
//! kubelet can surface the message to users (container status messages, events) as is.

use std::path::PathBuf;

/// Result alias used throughout `k3rs-runtime`.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Everything that can go wrong while driving containerd, images, sandboxes and containers.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A containerd API call failed.
    #[error("containerd {op}: {}", status.message())]
    Containerd {
        op: &'static str,
        #[source]
        status: tonic::Status,
    },
    /// The containerd socket could not be reached.
    #[error("cannot connect to containerd at {path}: {reason}")]
    Connect { path: PathBuf, reason: String },
    /// Starting or supervising the containerd daemon failed.
    #[error("containerd daemon: {0}")]
    Daemon(String),
    /// A file system or process operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An image reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// The image is not in the image store.
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    /// An image's manifest, index or configuration is unusable.
    #[error("image {image}: {reason}")]
    InvalidImage { image: String, reason: String },
    /// An image archive is unreadable or not a docker-archive / OCI layout.
    #[error("image archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    /// A registry refused or failed a pull.
    #[error("pulling {image} from {endpoint}: {reason}")]
    Registry { image: String, endpoint: String, reason: String },
    /// `registries.yaml` is unreadable or invalid.
    #[error("registries config {path}: {reason}")]
    RegistriesConfig { path: PathBuf, reason: String },
    /// No sandbox with this id exists.
    #[error("sandbox {0:?} not found")]
    SandboxNotFound(String),
    /// No container with this id exists.
    #[error("container {0:?} not found")]
    ContainerNotFound(String),
    /// A container description cannot be turned into a runtime spec.
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    /// The operation is not valid in the container's current state.
    #[error("container {id}: {reason}")]
    InvalidState { id: String, reason: String },
    /// A feature this runtime does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An operation did not finish in time.
    #[error("{0} timed out")]
    Timeout(String),
}

impl RuntimeError {
    /// Wraps an I/O error with the operation and path it concerns.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io { op, path: path.into(), source }
    }

    /// True when containerd answered "not found" (or the object is missing on our side).
    pub fn is_not_found(&self) -> bool {
        match self {
            RuntimeError::Containerd { status, .. } => status.code() == tonic::Code::NotFound,
            RuntimeError::ImageNotFound(_) | RuntimeError::SandboxNotFound(_) | RuntimeError::ContainerNotFound(_) => {
                true
            }
            _ => false,
        }
    }
}

/// Attaches the name of the containerd operation to a gRPC status.
pub(crate) trait StatusExt<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> StatusExt<T> for std::result::Result<T, tonic::Status> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|status| RuntimeError::Containerd { op, status })
    }
}

/// True when a gRPC status means the object does not exist.
pub(crate) fn is_not_found(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::NotFound
}

/// True when a gRPC status means the object exists already.
pub(crate) fn is_already_exists(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::AlreadyExists
}
