//! Cluster controllers, as kube-controller-manager runs them: Endpoints and
//! EndpointSlices from Services, namespace deletion, the garbage collector,
//! the `default` ServiceAccount, TTL-after-finished for Jobs and the status of
//! PodDisruptionBudgets.
//!
//! Each controller is an `async fn run(client)` that works until its future is
//! dropped (leadership lost, shutdown): every task it starts lives in a
//! `JoinSet` owned by that future, or stops when the [`Shutdown`](crate::runtime::Shutdown) it holds is
//! dropped with it. Each follows the informer + work queue shape of upstream,
//! with the tools of [`crate::runtime`]: watches keep local caches
//! ([`Informer`](crate::runtime::Informer)), changes enqueue keys ([`WorkQueue`](crate::runtime::WorkQueue)), and workers reconcile
//! one key at a time ([`run_workers`](crate::runtime::run_workers)).

pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod namespace;
pub mod pods;
pub mod resources;
pub mod selection;
pub mod service_account;
pub mod ttl_after_finished;

use crate::runtime::worker::SyncError;

/// A failed reconcile or start-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("discovering the API's resources: {0}")]
    Discovery(String),
    /// A reference names a kind discovery has not shown (yet: a new custom resource).
    #[error("no resource serves {kind} in {api_version}")]
    UnknownKind { api_version: String, kind: String },
    /// Something a later retry may resolve (stale caches, content still present).
    #[error("{0}")]
    Retry(String),
}

impl Error {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

impl SyncError for Error {
    fn is_conflict(&self) -> bool {
        Error::is_conflict(self)
    }
}

/// Whether a kube error is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is a 409 (conflict or already exists).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
