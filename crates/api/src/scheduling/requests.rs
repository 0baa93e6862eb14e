//! What a pod requests (upstream's `resourcehelper.PodRequests`): the sum of its
//! containers plus its restartable init containers (sidecars run alongside them), or the
//! largest single init container (with the sidecars started before it) when that is more,
//! plus the pod overhead.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as WireQuantity;

use crate::kinds::common::quantity::Quantity;

/// Resource amounts by name: `cpu` in millicores, every other resource in whole units
/// (bytes for memory and storage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAmounts(pub BTreeMap<String, i64>);

impl ResourceAmounts {
    /// Amounts from a resource list (`requests`, `allocatable`); malformed quantities count as 0.
    pub fn from_list(list: Option<&BTreeMap<String, WireQuantity>>) -> Self {
        ResourceAmounts(list.into_iter().flatten().map(|(k, q)| (k.clone(), quantity_amount(k, q))).collect())
    }

    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    pub fn set(&mut self, name: &str, amount: i64) {
        self.0.insert(name.to_string(), amount);
    }

    pub fn add(&mut self, other: &ResourceAmounts) {
        for (k, v) in &other.0 {
            let e = self.0.entry(k.clone()).or_insert(0);
            *e = e.saturating_add(*v);
        }
    }

    pub fn subtract(&mut self, other: &ResourceAmounts) {
        for (k, v) in &other.0 {
            let e = self.0.entry(k.clone()).or_insert(0);
            *e = e.saturating_sub(*v);
        }
    }

    /// Raises every amount to at least `other`'s.
    pub fn max_with(&mut self, other: &ResourceAmounts) {
        for (k, v) in &other.0 {
            let e = self.0.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// A quantity in the unit [`ResourceAmounts`] keeps for `resource`.
pub fn quantity_amount(resource: &str, q: &WireQuantity) -> i64 {
    let Some(q) = Quantity::parse(&q.0) else { return 0 };
    let v = if resource == "cpu" { q.milli_value() } else { q.value() };
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn container_requests(c: &Container) -> ResourceAmounts {
    ResourceAmounts::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's effective requests, each container's requests read by `per_container`
/// (the scheduler substitutes defaults for unset CPU and memory when scoring).
pub fn pod_requests_by(spec: &PodSpec, per_container: impl Fn(&Container) -> ResourceAmounts) -> ResourceAmounts {
    let mut total = ResourceAmounts::default();
    for c in &spec.containers {
        total.add(&per_container(c));
    }
    let mut sidecars = ResourceAmounts::default();
    let mut init_peak = ResourceAmounts::default();
    for c in spec.init_containers.iter().flatten() {
        let own = per_container(c);
        let running_then = if is_sidecar(c) {
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            with_sidecars.add(&sidecars);
            with_sidecars
        };
        init_peak.max_with(&running_then);
    }
    total.max_with(&init_peak);
    total.add(&ResourceAmounts::from_list(spec.overhead.as_ref()));
    total
}

/// The pod's effective requests from its containers' `resources.requests`.
pub fn pod_requests(spec: &PodSpec) -> ResourceAmounts {
    pod_requests_by(spec, container_requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn c(name: &str, cpu: &str, mem: &str) -> serde_json::Value {
        json!({"name": name, "resources": {"requests": {"cpu": cpu, "memory": mem}}})
    }

    #[test]
    fn containers_add_up() {
        let s = spec(json!({"containers": [c("a", "250m", "64Mi"), c("b", "1", "1Gi")]}));
        let r = pod_requests(&s);
        assert_eq!(r.get("cpu"), 1250);
        assert_eq!(r.get("memory"), (64 + 1024) * 1024 * 1024);
        assert_eq!(r.get("nvidia.com/gpu"), 0);
    }

    #[test]
    fn init_containers_take_the_peak() {
        let s = spec(json!({
            "initContainers": [c("init", "2", "10Mi")],
            "containers": [c("a", "500m", "100Mi")]
        }));
        let r = pod_requests(&s);
        assert_eq!(r.get("cpu"), 2000);
        assert_eq!(r.get("memory"), 100 * 1024 * 1024);
    }

    #[test]
    fn sidecars_run_with_everything_after_them() {
        let mut sidecar = c("proxy", "200m", "0");
        sidecar["restartPolicy"] = json!("Always");
        let s = spec(json!({
            "initContainers": [sidecar, c("setup", "1", "0")],
            "containers": [c("a", "500m", "0")],
            "overhead": {"cpu": "50m"}
        }));
        // Main phase: 500m + 200m; init phase: setup 1 + sidecar 200m = 1200m; plus overhead.
        assert_eq!(pod_requests(&s).get("cpu"), 1250);
    }

    #[test]
    fn malformed_quantities_count_as_zero() {
        let s = spec(json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "lots"}}}]}));
        assert_eq!(pod_requests(&s).get("cpu"), 0);
    }
}
