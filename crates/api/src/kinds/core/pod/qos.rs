//! A pod's quality-of-service class, computed at creation as upstream's `GetPodQOS`:
//! `Guaranteed` when every container limits CPU and memory and requests equal limits,
//! `BestEffort` when nothing requests or limits CPU or memory, `Burstable` otherwise.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;

use crate::kinds::common::quantity::Quantity;

const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

fn positive(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Option<Quantity> {
    Quantity::parse(&q.0).filter(|q| !q.is_zero() && !q.is_negative())
}

pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        let res = c.resources.clone().unwrap_or_default();
        for (name, q) in res.requests.iter().flatten() {
            if let (Some(r), Some(q)) = (QOS_RESOURCES.iter().find(|r| **r == name.as_str()), positive(q)) {
                let sum = requests.get(r).map_or(q, |s| s.add(&q));
                requests.insert(r, sum);
            }
        }
        let mut found = 0;
        for (name, q) in res.limits.iter().flatten() {
            if let (Some(r), Some(q)) = (QOS_RESOURCES.iter().find(|r| **r == name.as_str()), positive(q)) {
                found += 1;
                let sum = limits.get(r).map_or(q, |s| s.add(&q));
                limits.insert(r, sum);
            }
        }
        if found < QOS_RESOURCES.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) && requests.len() == limits.len() {
        return "Guaranteed";
    }
    "Burstable"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(containers: serde_json::Value) -> &'static str {
        let spec: PodSpec = serde_json::from_value(json!({"containers": containers})).unwrap();
        qos_class(&spec)
    }

    #[test]
    fn classes() {
        assert_eq!(class(json!([{"name": "a"}])), "BestEffort");
        assert_eq!(class(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}])), "Burstable");
        let full = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(class(json!([{"name": "a", "resources": {"requests": full, "limits": full}}])), "Guaranteed");
        assert_eq!(
            class(json!([{"name": "a", "resources": {"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": full}}])),
            "Guaranteed"
        );
        assert_eq!(
            class(json!([{"name": "a", "resources": {"requests": full, "limits": full}}, {"name": "b"}])),
            "Burstable"
        );
        assert_eq!(
            class(json!([{"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}])),
            "Burstable"
        );
    }
}
