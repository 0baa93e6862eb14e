//! This node as the API sees it: capacity and allocatable, addresses, system
//! info, labels, and the pressure conditions the kubelet reports.

pub mod conditions;
pub mod machine;
