//! Cluster controllers, as kube-controller-manager runs them: Endpoints and
//! EndpointSlices from Services, namespace deletion, the garbage collector,
//! the `default` ServiceAccount, TTL-after-finished for Jobs and the status of
//! PodDisruptionBudgets.
//!
//! Each controller is an `async fn run(client)` that works until its future is
//! dropped (leadership lost, shutdown): every task it starts lives in a
//! `JoinSet` owned by that future. Each follows the informer + work queue shape
//! of upstream: watches keep local caches ([`informer`]), changes enqueue keys
//! ([`queue`]), and workers reconcile one key at a time ([`workers`]).

pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod gc;
pub mod informer;
pub mod labels;
pub mod namespace;
pub mod pods;
pub mod queue;
pub mod resources;
pub mod selection;
pub mod service_account;
pub mod ttl_after_finished;
pub mod workers;

use std::fmt;

use kube::{Resource, ResourceExt};

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

/// Whether a kube error is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is a 409 (conflict or already exists).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Namespace and name of an object: the work queues' keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Key {
        Key { namespace: namespace.into(), name: name.into() }
    }

    pub fn of<K: Resource>(obj: &K) -> Key {
        Key { namespace: obj.namespace().unwrap_or_default(), name: obj.name_any() }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}
