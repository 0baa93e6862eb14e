//! Machinery shared by every controller. Leader election and event recording live in
//! `k3rs-control-runtime` (the scheduler uses them too) and are re-exported here.

pub use k3rs_control_runtime::{events, leader};
