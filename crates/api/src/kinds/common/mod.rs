//! Helpers several kinds share: resource quantities, label maps, data keys, and
//! pod-spec/pod-template defaulting and validation (used by pods, pod templates,
//! replication controllers and the workload kinds of `apps` and `batch`).

pub mod data_keys;
pub mod ip;
pub mod labels;
pub mod pod_spec;
pub mod printing;
pub mod quantity;
pub mod typed;
