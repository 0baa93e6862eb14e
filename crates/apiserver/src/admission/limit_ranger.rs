//! LimitRanger: the LimitRanges of a namespace give containers default requests and limits
//! and bound what containers, pods and claims may ask for, with upstream's messages
//! (`maximum cpu usage per Container is 1, but limit is 2`).

use std::collections::BTreeMap;

use k3rs_api::kinds::common::quantity::Quantity;
use k3rs_api::{ApiError, meta};
use serde_json::{Map, Value, json};

use crate::rest::ResourceRequest;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// The items of every LimitRange in `namespace`.
async fn items(r: &ResourceRequest, namespace: &str) -> Result<Vec<Value>, ApiError> {
    let ranges = r.state.list_objects(&format!("/registry/limitranges/{namespace}/")).await?;
    Ok(ranges
        .iter()
        .flat_map(|lr| lr.pointer("/spec/limits").and_then(Value::as_array).cloned().unwrap_or_default())
        .collect())
}

fn map_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

fn quantity(v: &Value) -> Option<Quantity> {
    v.as_str().and_then(Quantity::parse)
}

/// Upstream's aggregate error text: one message alone, several in brackets.
fn aggregate(errors: &[String]) -> String {
    if errors.len() == 1 { errors[0].clone() } else { format!("[{}]", errors.join(", ")) }
}

fn forbidden(kind_plural: &str, name: &str, errors: &[String]) -> ApiError {
    ApiError::forbidden(format!("{kind_plural} {name:?} is forbidden: {}", aggregate(errors))).with_details(
        "",
        kind_plural,
        name,
    )
}

/// Sets the entries of `source` that `resources.<field>` of container `c` lacks; returns
/// their names, sorted.
fn set_missing(c: &mut Value, field: &str, source: &Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    if !c["resources"].get(field).is_some_and(Value::is_object) {
        c["resources"][field] = json!({});
    }
    for (res, qty) in source {
        if c["resources"][field].get(res).is_none() {
            c["resources"][field][res] = qty.clone();
            names.push(res.clone());
        }
    }
    if c["resources"][field].as_object().is_some_and(Map::is_empty)
        && let Some(m) = c["resources"].as_object_mut()
    {
        m.remove(field);
    }
    names.sort();
    names
}

/// Sets default requests and limits of containers; returns the annotation text parts.
fn apply_defaults(pod: &mut Value, item: &Value) -> Vec<String> {
    let defaults = map_at(item, "/default").cloned().unwrap_or_default();
    let default_requests = map_at(item, "/defaultRequest").cloned().unwrap_or_default();
    let mut notes = Vec::new();
    for (list, what) in [("containers", "container"), ("initContainers", "init container")] {
        let Some(containers) = pod.pointer_mut(&format!("/spec/{list}")).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut() {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if !c.get("resources").is_some_and(Value::is_object) {
                c["resources"] = json!({});
            }
            let limits = set_missing(c, "limits", &defaults);
            // A request defaults to the range's default request, or else to the limit now set.
            let mut request_source = default_requests.clone();
            for (res, qty) in c["resources"].get("limits").and_then(Value::as_object).cloned().unwrap_or_default() {
                if limits.contains(&res) {
                    request_source.entry(res).or_insert(qty);
                }
            }
            let requests = set_missing(c, "requests", &request_source);
            if !requests.is_empty() {
                notes.push(format!("{} request for {what} {name}", requests.join(", ")));
            }
            if !limits.is_empty() {
                notes.push(format!("{} limit for {what} {name}", limits.join(", ")));
            }
        }
    }
    notes
}

/// Checks requests and limits against an item's min, max and ratio for `scope` ("Container",
/// "Pod").
fn check_bounds(
    scope: &str,
    item: &Value,
    requests: &BTreeMap<String, String>,
    limits: &BTreeMap<String, String>,
    errors: &mut Vec<String>,
) {
    for (res, min) in map_at(item, "/min").into_iter().flatten() {
        let Some(min_q) = quantity(min) else { continue };
        let min_s = min.as_str().unwrap_or("");
        match requests.get(res) {
            None => errors.push(format!("minimum {res} usage per {scope} is {min_s}.  No request is specified")),
            Some(req) if Quantity::parse(req).is_some_and(|q| q < min_q) => {
                errors.push(format!("minimum {res} usage per {scope} is {min_s}, but request is {req}"))
            }
            _ => {}
        }
    }
    for (res, max) in map_at(item, "/max").into_iter().flatten() {
        let Some(max_q) = quantity(max) else { continue };
        let max_s = max.as_str().unwrap_or("");
        match limits.get(res) {
            None => errors.push(format!("maximum {res} usage per {scope} is {max_s}.  No limit is specified")),
            Some(lim) if Quantity::parse(lim).is_some_and(|q| q > max_q) => {
                errors.push(format!("maximum {res} usage per {scope} is {max_s}, but limit is {lim}"))
            }
            _ => {}
        }
    }
    for (res, ratio) in map_at(item, "/maxLimitRequestRatio").into_iter().flatten() {
        let Some(ratio_q) = quantity(ratio) else { continue };
        let (Some(req), Some(lim)) =
            (requests.get(res).and_then(|s| Quantity::parse(s)), limits.get(res).and_then(|s| Quantity::parse(s)))
        else {
            continue;
        };
        if req.is_zero() {
            continue;
        }
        let actual = lim.milli_value() as f64 / req.milli_value() as f64;
        if actual > ratio_q.milli_value() as f64 / 1000.0 {
            errors.push(format!(
                "{res} max limit to request ratio per {scope} is {}, but provided ratio is {actual:.6}",
                ratio.as_str().unwrap_or("")
            ));
        }
    }
}

fn resources_of(c: &Value, field: &str) -> BTreeMap<String, String> {
    c.pointer(&format!("/resources/{field}"))
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// The pod's total: containers summed, at least each init container (upstream's pod
/// resource rule).
fn pod_totals(pod: &Value, field: &str) -> BTreeMap<String, String> {
    let mut sum: BTreeMap<String, Quantity> = BTreeMap::new();
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in resources_of(c, field) {
            if let Some(q) = Quantity::parse(&v) {
                let total = sum.get(&k).map(|s| s.add(&q)).unwrap_or(q);
                sum.insert(k, total);
            }
        }
    }
    for c in pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in resources_of(c, field) {
            if let Some(q) = Quantity::parse(&v)
                && sum.get(&k).is_none_or(|s| q > *s)
            {
                sum.insert(k, q);
            }
        }
    }
    sum.into_iter().map(|(k, q)| (k, q.canonical())).collect()
}

pub async fn admit_pod(r: &ResourceRequest, pod: &mut Value) -> Result<(), ApiError> {
    let items = items(r, meta::namespace(pod)).await?;
    if items.is_empty() {
        return Ok(());
    }
    let mut notes = Vec::new();
    for item in items.iter().filter(|i| i["type"] == "Container") {
        notes.extend(apply_defaults(pod, item));
    }
    if !notes.is_empty() {
        let annotations = meta::metadata_mut(pod).entry("annotations").or_insert_with(|| json!({}));
        annotations[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
    let mut errors = Vec::new();
    for item in &items {
        match item["type"].as_str() {
            Some("Container") => {
                for list in ["containers", "initContainers"] {
                    for c in pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).into_iter().flatten() {
                        check_bounds(
                            "Container",
                            item,
                            &resources_of(c, "requests"),
                            &resources_of(c, "limits"),
                            &mut errors,
                        );
                    }
                }
            }
            Some("Pod") => {
                check_bounds("Pod", item, &pod_totals(pod, "requests"), &pod_totals(pod, "limits"), &mut errors)
            }
            _ => {}
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(forbidden("pods", meta::name(pod), &errors)) }
}

pub async fn admit_claim(r: &ResourceRequest, claim: &Value) -> Result<(), ApiError> {
    let items = items(r, meta::namespace(claim)).await?;
    let mut errors = Vec::new();
    let requested = claim.pointer("/spec/resources/requests/storage").and_then(Value::as_str);
    for item in items.iter().filter(|i| i["type"] == "PersistentVolumeClaim") {
        let requests: BTreeMap<String, String> =
            requested.map(|s| BTreeMap::from([("storage".to_string(), s.to_string())])).unwrap_or_default();
        // For claims the maximum bounds the request: there is no limit.
        let mut max_errors = Vec::new();
        check_bounds("PersistentVolumeClaim", item, &requests, &requests, &mut max_errors);
        errors.extend(max_errors.into_iter().map(|e| e.replace(", but limit is", ", but request is")));
    }
    if errors.is_empty() { Ok(()) } else { Err(forbidden("persistentvolumeclaims", meta::name(claim), &errors)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Value {
        json!({"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "250m"},
            "max": {"cpu": "1"}, "min": {"cpu": "100m"}, "maxLimitRequestRatio": {"cpu": "4"}})
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"limits": {"cpu": "800m"}}},
        ]}});
        let notes = apply_defaults(&mut pod, &item());
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "250m"}})
        );
        assert_eq!(
            pod["spec"]["containers"][1]["resources"],
            json!({"limits": {"cpu": "800m"}, "requests": {"cpu": "250m"}})
        );
        assert_eq!(
            notes,
            vec!["cpu request for container a", "cpu limit for container a", "cpu request for container b"]
        );
    }

    #[test]
    fn bounds_use_upstream_wording() {
        let mut errors = Vec::new();
        let req = BTreeMap::from([("cpu".to_string(), "50m".to_string())]);
        let lim = BTreeMap::from([("cpu".to_string(), "2".to_string())]);
        check_bounds("Container", &item(), &req, &lim, &mut errors);
        assert_eq!(
            errors,
            vec![
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum cpu usage per Container is 1, but limit is 2",
                "cpu max limit to request ratio per Container is 4, but provided ratio is 40.000000",
            ]
        );
        assert_eq!(aggregate(&errors[..1]), errors[0]);
        assert!(aggregate(&errors).starts_with("[minimum"));
        let mut errors = Vec::new();
        check_bounds("Container", &item(), &BTreeMap::new(), &BTreeMap::new(), &mut errors);
        assert_eq!(errors[1], "maximum cpu usage per Container is 1.  No limit is specified");
    }

    #[test]
    fn pod_totals_sum_containers_and_respect_init_containers() {
        let pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "200m"}}}, {"resources": {"requests": {"cpu": "300m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        }});
        let totals = pod_totals(&pod, "requests");
        assert_eq!(totals["cpu"], "1");
        assert_eq!(totals["memory"], "1Gi");
    }
}
