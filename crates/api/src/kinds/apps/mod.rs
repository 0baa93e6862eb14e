//! apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision.

mod controller_revision;
mod daemon_set;
mod deployment;
mod replica_set;
mod stateful_set;
mod workload;

pub use controller_revision::ControllerRevisionStrategy;
pub use daemon_set::{DaemonSetStrategy, TEMPLATE_GENERATION_ANNOTATION};
pub use deployment::DeploymentStrategy;
pub use replica_set::ReplicaSetStrategy;
pub use stateful_set::StatefulSetStrategy;
pub(crate) use workload::{containers_column, images_column};
