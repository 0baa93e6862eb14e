//! autoscaling: HorizontalPodAutoscaler in v2 (served and stored) and v1 (served,
//! converted to and from v2).

mod hpa;
mod hpa_v1;
mod printing;
mod v1_conversion;
mod validation;

pub use hpa::HorizontalPodAutoscalerStrategy;
pub use hpa_v1::HorizontalPodAutoscalerV1Strategy;
pub use v1_conversion::{v1_to_v2, v2_to_v1};
