//! networking.k8s.io/v1: Ingress, IngressClass, NetworkPolicy.

mod ingress;
mod ingress_class;
mod network_policy;

pub use ingress::IngressStrategy;
pub use ingress_class::IngressClassStrategy;
pub use network_policy::NetworkPolicyStrategy;
