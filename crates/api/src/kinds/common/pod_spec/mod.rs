//! Pod specs as pods and every workload's pod template carry them: upstream's v1
//! defaulting and validation, generic over where the spec sits.
//!
//! The entry points other kinds call:
//! - [`default_pod_template_spec`] / [`default_pod_spec`]: defaults shared by pods
//!   and templates (restart and DNS policy, scheduler, grace period, container pull
//!   policy, probes, volume modes, ...); [`default_pod_only`] adds what only pods get.
//! - [`validate_pod_template_spec`]: a template at a path such as
//!   `spec.template` (labels, annotations, spec, no ephemeral containers);
//!   [`validate_pod_spec`] for a bare spec, told whether it belongs to a pod.
//!
//! Workload kinds add their own template rules (e.g. restart policy `Always` for
//! controllers that keep pods running, selector matching template labels).

mod containers;
mod defaults;
mod resources;
mod validation;
mod volumes;

pub use containers::{PROTOCOLS, env_var_name_errors, port_number_errors, validate_port_num_or_name};
pub use defaults::{
    DEFAULT_SCHEDULER_NAME, DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, canonicalize_quantity, canonicalize_resource_map,
    default_container, default_pod_only, default_pod_spec, default_pod_template_spec, default_probe,
    default_pull_policy, default_volume,
};
pub use resources::{is_extended_resource, validate_container_resource_name, validate_resource_requirements};
pub use validation::{
    RESTART_POLICIES, SpecOwner, TAINT_EFFECTS, template_labels, validate_pod_spec, validate_pod_template_spec,
    validate_taint_effect, validate_tolerations,
};
