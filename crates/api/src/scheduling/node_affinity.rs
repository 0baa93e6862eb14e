//! Node selectors and node affinity (upstream's `component-helpers/scheduling/corev1/nodeaffinity`):
//! `spec.nodeSelector` must match the node's labels exactly, and at least one of the required
//! node-selector terms must match; preferred terms add their weight.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

/// The only field `matchFields` may name.
const NAME_FIELD: &str = "metadata.name";

fn labels(node: &Node) -> Option<&BTreeMap<String, String>> {
    node.metadata.labels.as_ref()
}

/// One requirement against the value the node has for its key (`None`: the key is absent).
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            // Both sides must be integers; anything else does not match (upstream rejects the term).
            let [bound] = values else { return false };
            let (Ok(bound), Some(Ok(actual))) = (bound.parse::<i64>(), value.map(str::parse::<i64>)) else {
                return false;
            };
            if req.operator == "Gt" { actual > bound } else { actual < bound }
        }
        _ => false,
    }
}

fn field_matches(req: &NodeSelectorRequirement, node: &Node) -> bool {
    if req.key != NAME_FIELD || !matches!(req.operator.as_str(), "In" | "NotIn") {
        return false;
    }
    requirement_matches(req, node.metadata.name.as_deref())
}

/// Whether a node-selector term matches: every label expression and every field
/// expression holds. A term without any requirement matches nothing.
pub fn matches_node_selector_term(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = labels(node);
    exprs.iter().all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| field_matches(r, node))
}

/// `spec.nodeSelector` and the required node affinity together, as the scheduler's
/// NodeAffinity filter and the DaemonSet controller apply them.
pub fn pod_matches_node_affinity(spec: &PodSpec, node: &Node) -> bool {
    let node_labels = labels(node);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node_labels.and_then(|l| l.get(k)).is_some_and(|actual| actual == v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
    match required {
        None => true,
        Some(selector) => selector.node_selector_terms.iter().any(|t| matches_node_selector_term(t, node)),
    }
}

/// The summed weight of the pod's preferred node-affinity terms that match the node.
pub fn preferred_affinity_weight(spec: &PodSpec, node: &Node) -> i64 {
    spec.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_ref())
        .into_iter()
        .flatten()
        .filter(|p| p.weight != 0 && matches_node_selector_term(&p.preference, node))
        .map(|p| i64::from(p.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut v = v;
        v["containers"] = json!([{"name": "c"}]);
        serde_json::from_value(v).unwrap()
    }

    fn required(terms: serde_json::Value) -> PodSpec {
        spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
        )
    }

    #[test]
    fn node_selector_needs_every_label() {
        let n = node("n1", json!({"disk": "ssd", "zone": "a"}));
        assert!(pod_matches_node_affinity(&spec(json!({"nodeSelector": {"disk": "ssd"}})), &n));
        assert!(!pod_matches_node_affinity(&spec(json!({"nodeSelector": {"disk": "ssd", "gpu": "1"}})), &n));
        assert!(!pod_matches_node_affinity(&spec(json!({"nodeSelector": {"disk": "hdd"}})), &n));
        assert!(pod_matches_node_affinity(&spec(json!({})), &n));
    }

    #[test]
    fn operators() {
        let n = node("n1", json!({"disk": "ssd", "cores": "8"}));
        let ok =
            |expr: serde_json::Value| pod_matches_node_affinity(&required(json!([{"matchExpressions": [expr]}])), &n);
        assert!(ok(json!({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]})));
        assert!(!ok(json!({"key": "disk", "operator": "NotIn", "values": ["ssd"]})));
        assert!(ok(json!({"key": "gpu", "operator": "NotIn", "values": ["x"]})));
        assert!(ok(json!({"key": "disk", "operator": "Exists"})));
        assert!(ok(json!({"key": "gpu", "operator": "DoesNotExist"})));
        assert!(ok(json!({"key": "cores", "operator": "Gt", "values": ["4"]})));
        assert!(!ok(json!({"key": "cores", "operator": "Lt", "values": ["4"]})));
        assert!(!ok(json!({"key": "disk", "operator": "Gt", "values": ["4"]})));
        assert!(!ok(json!({"key": "disk", "operator": "Bogus", "values": ["ssd"]})));
    }

    #[test]
    fn terms_are_ored_and_fields_name_the_node() {
        let n = node("n1", json!({"disk": "ssd"}));
        let pod = required(json!([
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]));
        assert!(pod_matches_node_affinity(&pod, &n));
        assert!(!pod_matches_node_affinity(&pod, &node("n2", json!({"disk": "ssd"}))));
        // An empty term matches nothing.
        assert!(!pod_matches_node_affinity(&required(json!([{}])), &n));
        let bad_field =
            required(json!([{"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1"]}]}]));
        assert!(!pod_matches_node_affinity(&bad_field, &n));
    }

    #[test]
    fn preferred_weights_add_up() {
        let n = node("n1", json!({"disk": "ssd", "zone": "a"}));
        let pod = spec(json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
            {"weight": 7, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 11, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}}
        ]}}}));
        assert_eq!(preferred_affinity_weight(&pod, &n), 12);
    }
}
