//! rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

mod bindings;
mod roles;

pub use bindings::{ClusterRoleBindingStrategy, RoleBindingStrategy};
pub use roles::{ClusterRoleStrategy, RoleStrategy};

/// The API group role references and user/group subjects name.
pub const GROUP: &str = "rbac.authorization.k8s.io";
