//! DefaultTolerationSeconds: pods that do not say otherwise tolerate a not-ready or
//! unreachable node for five minutes before they are evicted from it.

use serde_json::{Value, json};

pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
pub const DEFAULT_SECONDS: i64 = 300;

/// Whether some toleration covers `key` with the NoExecute effect (an empty key or effect is
/// a wildcard).
fn tolerates(tolerations: &[Value], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let k = t.get("key").and_then(Value::as_str).unwrap_or("");
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
        (k.is_empty() || k == key) && (effect.is_empty() || effect == "NoExecute")
    })
}

pub fn admit_pod(pod: &mut Value) {
    let existing: Vec<Value> = pod.pointer("/spec/tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut added = Vec::new();
    for key in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        if !tolerates(&existing, key) {
            added.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": DEFAULT_SECONDS}),
            );
        }
    }
    if added.is_empty() {
        return;
    }
    let mut all = existing;
    all.extend(added);
    pod["spec"]["tolerations"] = json!(all);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_missing_tolerations_only() {
        let mut pod = json!({"spec": {}});
        admit_pod(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["spec"]["tolerations"][0]["tolerationSeconds"], 300);

        let mut pod = json!({"spec": {"tolerations": [{"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}});
        admit_pod(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 10);
        assert_eq!(t[1]["key"], UNREACHABLE_TAINT);

        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        admit_pod(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }
}
