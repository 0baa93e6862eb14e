//! What an object counts against a ResourceQuota: object counts (`pods`, `count/<resource>`),
//! compute requests and limits of pods that are not finished, Service node ports and load
//! balancers, and claimed storage (per storage class too). Quota scopes select pods.

use std::collections::BTreeMap;

use k3rs_api::kinds::common::quantity::Quantity;
use serde_json::Value;

pub type Usage = BTreeMap<String, Quantity>;

fn one() -> Quantity {
    Quantity::parse("1").unwrap_or(Quantity::ZERO)
}

fn add(usage: &mut Usage, key: &str, q: Quantity) {
    let total = usage.get(key).map(|u| u.add(&q)).unwrap_or(q);
    usage.insert(key.to_string(), total);
}

/// `count/<resource>` for the core group, `count/<resource>.<group>` otherwise.
pub fn count_key(plural: &str, group: &str) -> String {
    if group.is_empty() { format!("count/{plural}") } else { format!("count/{plural}.{group}") }
}

/// Whether a pod is finished (its resources are free again).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

fn container_sums(pod: &Value, field: &str) -> Usage {
    let mut sum = Usage::new();
    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in c.pointer(&format!("/resources/{field}")).and_then(Value::as_object).into_iter().flatten() {
            if let Some(q) = v.as_str().and_then(Quantity::parse) {
                add(&mut sum, k, q);
            }
        }
    }
    // An init container runs alone: the pod needs at least its amount.
    for c in pod.pointer("/spec/initContainers").and_then(Value::as_array).into_iter().flatten() {
        for (k, v) in c.pointer(&format!("/resources/{field}")).and_then(Value::as_object).into_iter().flatten() {
            if let Some(q) = v.as_str().and_then(Quantity::parse)
                && sum.get(k).is_none_or(|s| q > *s)
            {
                sum.insert(k.clone(), q);
            }
        }
    }
    sum
}

/// The usage of one object of `plural` in `group`.
pub fn usage(plural: &str, group: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    match (group, plural) {
        ("", "pods") => {
            if is_terminal(obj) {
                return u;
            }
            add(&mut u, "pods", one());
            for (k, q) in container_sums(obj, "requests") {
                add(&mut u, &format!("requests.{k}"), q);
                if matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") {
                    add(&mut u, &k, q);
                }
            }
            for (k, q) in container_sums(obj, "limits") {
                add(&mut u, &format!("limits.{k}"), q);
            }
        }
        ("", "services") => {
            add(&mut u, "services", one());
            let ty = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            if ty == "LoadBalancer" {
                add(&mut u, "services.loadbalancers", one());
            }
            if matches!(ty, "NodePort" | "LoadBalancer") {
                let ports = obj.pointer("/spec/ports").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
                if ports > 0 {
                    add(&mut u, "services.nodeports", Quantity::parse(&ports.to_string()).unwrap_or(Quantity::ZERO));
                }
            }
        }
        ("", "persistentvolumeclaims") => {
            add(&mut u, "persistentvolumeclaims", one());
            let class = obj.pointer("/spec/storageClassName").and_then(Value::as_str).unwrap_or("");
            if !class.is_empty() {
                add(&mut u, &format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"), one());
            }
            if let Some(q) =
                obj.pointer("/spec/resources/requests/storage").and_then(Value::as_str).and_then(Quantity::parse)
            {
                add(&mut u, "requests.storage", q);
                if !class.is_empty() {
                    add(&mut u, &format!("{class}.storageclass.storage.k8s.io/requests.storage"), q);
                }
            }
        }
        ("", "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas") => add(&mut u, plural, one()),
        _ => {}
    }
    // Terminal pods were left out above; everything else counts as an object.
    add(&mut u, &count_key(plural, group), one());
    u
}

fn best_effort(pod: &Value) -> bool {
    let lists = ["containers", "initContainers"];
    !lists.iter().any(|l| {
        pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array).into_iter().flatten().any(|c| {
            ["requests", "limits"].iter().any(|f| {
                c.pointer(&format!("/resources/{f}")).and_then(Value::as_object).is_some_and(|m| !m.is_empty())
            })
        })
    })
}

fn scope_matches(scope: &str, operator: &str, values: &[&str], pod: &Value) -> bool {
    match scope {
        "Terminating" => pod.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()),
        "NotTerminating" => pod.pointer("/spec/activeDeadlineSeconds").is_none_or(Value::is_null),
        "BestEffort" => best_effort(pod),
        "NotBestEffort" => !best_effort(pod),
        "PriorityClass" => {
            let class = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or("");
            match operator {
                "In" => values.contains(&class),
                "NotIn" => !values.contains(&class),
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether `quota` applies to an object of `plural`/`group`: unscoped quotas apply to all;
/// scoped ones only to pods their scopes select.
pub fn quota_applies(quota: &Value, plural: &str, group: &str, obj: &Value) -> bool {
    let scopes: Vec<&str> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let expressions: Vec<&Value> =
        quota.pointer("/spec/scopeSelector/matchExpressions").and_then(Value::as_array).into_iter().flatten().collect();
    if scopes.is_empty() && expressions.is_empty() {
        return true;
    }
    if !(group.is_empty() && plural == "pods") {
        return false;
    }
    scopes.iter().all(|s| scope_matches(s, "Exists", &[], obj))
        && expressions.iter().all(|e| {
            let values: Vec<&str> =
                e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            scope_matches(
                e.get("scopeName").and_then(Value::as_str).unwrap_or(""),
                e.get("operator").and_then(Value::as_str).unwrap_or(""),
                &values,
                obj,
            )
        })
}

/// Containers lacking a request or limit that `hard` constrains: (resource, container names).
pub fn missing_compute(hard: &[String], pod: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for key in hard {
        let (field, resource) = match key.as_str() {
            "cpu" | "memory" => ("requests", key.as_str()),
            k => match k.split_once('.') {
                Some(("requests", r)) if matches!(r, "cpu" | "memory") => ("requests", r),
                Some(("limits", r)) if matches!(r, "cpu" | "memory") => ("limits", r),
                _ => continue,
            },
        };
        let lacking: Vec<String> = ["containers", "initContainers"]
            .iter()
            .flat_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array).into_iter().flatten())
            .filter(|c| c.pointer(&format!("/resources/{field}/{resource}")).is_none())
            .map(|c| c.get("name").and_then(Value::as_str).unwrap_or("").to_string())
            .collect();
        if !lacking.is_empty() {
            out.push((key.clone(), lacking));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn pod_usage_counts_requests_and_limits() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}}},
        ]}});
        let u = usage("pods", "", &pod);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"].canonical(), "500m");
        assert_eq!(u["cpu"].canonical(), "500m");
        assert_eq!(u["requests.memory"].canonical(), "64Mi");
        assert_eq!(u["limits.cpu"].canonical(), "500m");
        let done = json!({"spec": {"containers": []}, "status": {"phase": "Succeeded"}});
        assert!(usage("pods", "", &done).is_empty());
    }

    #[test]
    fn other_kinds() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage("services", "", &svc);
        assert_eq!(u["services.nodeports"], q("2"));
        assert!(!u.contains_key("services.loadbalancers"));
        let pvc = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        let u = usage("persistentvolumeclaims", "", &pvc);
        assert_eq!(u["fast.storageclass.storage.k8s.io/requests.storage"].canonical(), "1Gi");
        assert_eq!(usage("deployments", "apps", &json!({}))["count/deployments.apps"], q("1"));
    }

    #[test]
    fn scopes_select_pods() {
        let quota = json!({"spec": {"scopes": ["BestEffort"]}});
        assert!(quota_applies(&quota, "pods", "", &json!({"spec": {"containers": [{"name": "a"}]}})));
        assert!(!quota_applies(
            &quota,
            "pods",
            "",
            &json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1"}}}]}})
        ));
        assert!(!quota_applies(&quota, "services", "", &json!({})));
        let by_class = json!({"spec": {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}});
        assert!(quota_applies(&by_class, "pods", "", &json!({"spec": {"priorityClassName": "high"}})));
        assert!(!quota_applies(&by_class, "pods", "", &json!({"spec": {}})));
    }

    #[test]
    fn missing_compute_names_the_containers() {
        let pod =
            json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}}}, {"name": "b"}]}});
        let missing = missing_compute(&["limits.cpu".into(), "requests.memory".into(), "pods".into()], &pod);
        assert_eq!(
            missing,
            vec![
                ("limits.cpu".to_string(), vec!["b".to_string()]),
                ("requests.memory".to_string(), vec!["a".to_string(), "b".to_string()])
            ]
        );
    }
}
