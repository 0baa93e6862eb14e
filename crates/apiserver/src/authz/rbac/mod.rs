//! Role-based access control: rules granted through RoleBindings and ClusterRoleBindings,
//! evaluated against an in-memory copy of the RBAC objects, with ClusterRole aggregation and
//! the escalation checks that keep RBAC writes from granting more than their author holds.

pub mod aggregation;
pub mod cache;
pub mod escalation;
pub mod rules;
pub mod snapshot;

pub use cache::RbacCache;
pub use rules::PolicyRule;
