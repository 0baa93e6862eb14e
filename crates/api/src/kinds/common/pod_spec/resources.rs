//! Container resource requirements: resource names, quantity values, and the
//! request/limit relation upstream enforces.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as QuantityString;

use crate::kinds::common::quantity::{QUANTITY_FORMAT_MESSAGE, Quantity};
use crate::validation::names::qualified_name;
use crate::validation::{FieldError, FieldPath};

pub const NEGATIVE_MESSAGE: &str = "must be greater than or equal to 0";

/// Resource names a container may use without a domain prefix.
fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// Native resources are unprefixed or under `kubernetes.io/`.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Extended resources (`example.com/gpu`) are prefixed, not native, not `requests.`-quota names.
pub fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name) && !name.starts_with("requests.")
}

/// Requests may be below limits only for native resources other than huge pages.
fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !name.starts_with("hugepages-")
}

/// Checks a resource name as a container may use it.
pub fn validate_container_resource_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !is_standard_container_resource(name) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(path, name, "doesn't follow extended resource name standard"));
    }
    errs
}

/// Parses a quantity, reporting malformed and negative values; extended resources must be whole.
pub fn validate_quantity_value(
    name: &str,
    value: &QuantityString,
    path: &FieldPath,
) -> (Option<Quantity>, Vec<FieldError>) {
    let Some(q) = Quantity::parse(&value.0) else {
        return (None, vec![FieldError::invalid(path, value.0.as_str(), QUANTITY_FORMAT_MESSAGE)]);
    };
    let mut errs = Vec::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.canonical(), NEGATIVE_MESSAGE));
    }
    if is_extended_resource(name) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(path, q.canonical(), "must be an integer"));
    }
    (Some(q), errs)
}

/// Validates a container's `resources`: names, values, and requests against limits.
pub fn validate_resource_requirements(res: &ResourceRequirements, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits_in = res.limits.as_ref().unwrap_or(&empty);
    let mut limits = BTreeMap::new();
    for (name, value) in limits_in {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let (q, e) = validate_quantity_value(name, value, &p);
        errs.extend(e);
        if let Some(q) = q {
            limits.insert(name.as_str(), q);
        }
    }
    for (name, value) in res.requests.iter().flatten() {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let (q, e) = validate_quantity_value(name, value, &p);
        errs.extend(e);
        let Some(request) = q else { continue };
        match limits.get(name.as_str()) {
            Some(limit) if request != *limit && !overcommit_allowed(name) => errs.push(FieldError::invalid(
                &req_path,
                request.canonical(),
                format!("must be equal to {name} limit of {}", limit.canonical()),
            )),
            Some(limit) if request > *limit => errs.push(FieldError::invalid(
                &req_path,
                request.canonical(),
                format!("must be less than or equal to {name} limit of {}", limit.canonical()),
            )),
            Some(_) => {}
            None if !overcommit_allowed(name) && !limits_in.contains_key(name) => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"))
            }
            None => {}
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: serde_json::Value) -> Vec<String> {
        let res: ResourceRequirements = serde_json::from_value(v).unwrap();
        validate_resource_requirements(&res, &FieldPath::root("resources")).iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn requests_must_not_exceed_limits() {
        assert_eq!(
            check(json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}})),
            vec!["resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"]
        );
        assert!(check(json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m"}})).is_empty());
    }

    #[test]
    fn names_and_values() {
        assert_eq!(
            check(json!({"limits": {"gpu": "1"}})),
            vec!["resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers"]
        );
        assert_eq!(
            check(json!({"requests": {"memory": "-1"}})),
            vec!["resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0"]
        );
        assert_eq!(
            check(json!({"requests": {"cpu": "lots"}})),
            vec![format!("resources.requests[cpu]: Invalid value: \"lots\": {QUANTITY_FORMAT_MESSAGE}")]
        );
    }

    #[test]
    fn extended_resources_need_equal_limits() {
        assert_eq!(
            check(json!({"requests": {"example.com/gpu": "1"}})),
            vec!["resources.limits: Required value: Limit must be set for non overcommitable resources"]
        );
        assert_eq!(
            check(json!({"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "2"}})),
            vec!["resources.requests: Invalid value: \"1\": must be equal to example.com/gpu limit of 2"]
        );
        assert!(check(json!({"requests": {"example.com/gpu": "2"}, "limits": {"example.com/gpu": "2"}})).is_empty());
    }
}
