//! Scheduling rules that the scheduler, the controllers (DaemonSet, NoExecute taint
//! eviction, disruption budgets) and the kubelet's admission must agree on, as upstream
//! keeps them in `k8s.io/api` and `component-helpers`: which taints a pod tolerates,
//! whether a node satisfies a pod's node selector and required node affinity, what a pod
//! requests, and typed label selectors.

pub mod label_selector;
pub mod node_affinity;
pub mod requests;
pub mod taints;

pub use label_selector::LabelMatcher;
pub use node_affinity::{matches_node_selector_term, pod_matches_node_affinity, preferred_affinity_weight};
pub use requests::{ResourceAmounts, pod_requests, pod_requests_by, quantity_amount};
pub use taints::{find_untolerated, tolerates, tolerates_all};
