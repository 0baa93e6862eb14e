//! NetworkPolicy (networking.k8s.io/v1): policy-type and port defaults, validation
//! of peers, ports and IP blocks, printing.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

use crate::kinds::support::checks::{cidr, cidr_contains, parse_cidr, port_name, port_number};
use crate::kinds::support::json::{default_key, existing_object_mut};
use crate::kinds::support::selector::{format_label_selector, validate_label_selector};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct NetworkPolicyStrategy;

impl Strategy for NetworkPolicyStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<NetworkPolicy>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = existing_object_mut(obj, &["spec"]) else { return };
        if spec.get("policyTypes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            // A policy that says nothing applies to ingress, and to egress if it has egress rules.
            let has_egress = spec.get("egress").and_then(Value::as_array).is_some_and(|e| !e.is_empty());
            let types = if has_egress { json!(["Ingress", "Egress"]) } else { json!(["Ingress"]) };
            spec.insert("policyTypes".into(), types);
        }
        for direction in ["ingress", "egress"] {
            let rules = spec.get_mut(direction).and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten() {
                let ports = rule.get_mut("ports").and_then(Value::as_array_mut);
                for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
                    default_key(port, "protocol", json!("TCP"));
                }
            }
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Pod-Selector",
                "string",
                "podSelector selects the pods to which this NetworkPolicy object applies.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        // The pod selector is a value in Go: an absent one prints like an empty one.
        let selector = obj.pointer("/spec/podSelector").cloned().unwrap_or_else(|| json!({}));
        vec![json!(format_label_selector(Some(&selector))), json!(table::age(obj, ctx))]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::root("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = validate_label_selector(spec.get("podSelector"), &path.child("podSelector"));
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in spec.get(direction).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let rule_path = path.child(direction).index(i);
            for (j, port) in rule.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
                errs.extend(validate_port(port, &rule_path.child("ports").index(j)));
            }
            for (j, peer) in rule.get(peers).and_then(Value::as_array).into_iter().flatten().enumerate() {
                errs.extend(validate_peer(peer, &rule_path.child(peers).index(j)));
            }
        }
    }
    let types = spec.get("policyTypes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            path.child("policyTypes"),
            Value::Array(types.to_vec()),
            "may not specify more than two policyTypes",
        ));
        return errs;
    }
    for (i, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or_default();
        if t != "Ingress" && t != "Egress" {
            errs.push(FieldError::not_supported(path.child("policyTypes").index(i), t, &["Ingress", "Egress"]));
        }
    }
    errs
}

fn validate_port(port: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(protocol) = port.get("protocol").and_then(Value::as_str)
        && !matches!(protocol, "TCP" | "UDP" | "SCTP")
    {
        errs.push(FieldError::not_supported(path.child("protocol"), protocol, &["TCP", "UDP", "SCTP"]));
    }
    let end_port = port.get("endPort").and_then(Value::as_i64);
    match port.get("port").filter(|v| !v.is_null()) {
        Some(Value::Number(n)) => {
            let number = n.as_i64().unwrap_or(0);
            errs.extend(port_number(number, &path.child("port")));
            if let Some(end) = end_port {
                if end < number {
                    errs.push(FieldError::invalid(
                        path.child("endPort"),
                        number,
                        "must be greater than or equal to `port`",
                    ));
                }
                errs.extend(port_number(end, &path.child("endPort")));
            }
        }
        Some(named) => {
            if let Some(end) = end_port {
                errs.push(FieldError::invalid(
                    path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            errs.extend(port_name(named.as_str().unwrap_or_default(), &path.child("port")));
        }
        None => {
            if let Some(end) = end_port {
                errs.push(FieldError::invalid(
                    path.child("endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
    errs
}

fn validate_peer(peer: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for key in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = peer.get(key).filter(|v| !v.is_null()) {
            count += 1;
            errs.extend(validate_label_selector(Some(sel), &path.child(key)));
        }
    }
    let ip_block = peer.get("ipBlock").filter(|v| !v.is_null());
    if let Some(block) = ip_block {
        count += 1;
        errs.extend(validate_ip_block(block, &path.child("ipBlock")));
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if count > 1 && ip_block.is_some() {
        errs.push(FieldError::forbidden(path, "may not specify both ipBlock and another peer"));
    }
    errs
}

fn validate_ip_block(block: &Value, path: &FieldPath) -> Vec<FieldError> {
    let network = block.get("cidr").and_then(Value::as_str).unwrap_or_default();
    if network.is_empty() {
        return vec![FieldError::required(path.child("cidr"), "")];
    }
    let mut errs: Vec<FieldError> = cidr(network, &path.child("cidr")).into_iter().collect();
    let Some(outer) = parse_cidr(network) else { return errs };
    for (i, except) in block.get("except").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let except = except.as_str().unwrap_or_default();
        let p = path.child("except").index(i);
        match parse_cidr(except) {
            None => errs.extend(cidr(except, &p)),
            Some(inner) => {
                if !cidr_contains(outer, inner.0) || outer.1 >= inner.1 {
                    errs.push(FieldError::invalid(&p, except, "must be a strict subset of `cidr`"));
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(obj: &Value) -> Vec<String> {
        NetworkPolicyStrategy.validate_create(obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults() {
        let mut np = json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}});
        NetworkPolicyStrategy.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(np["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{}]}});
        NetworkPolicyStrategy.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    }

    #[test]
    fn validation() {
        let np = json!({"spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{}, {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24", "10.0.0.0/8"]}, "podSelector": {}}],
                         "ports": [{"port": 8080, "endPort": 80}, {"port": "http", "endPort": 90}, {"protocol": "ICMP"}]}],
            "policyTypes": ["Ingress", "Sideways"]
        }});
        let errs = messages(&np);
        for want in [
            "spec.ingress[0].ports[0].endPort: Invalid value: 8080: must be greater than or equal to `port`",
            "spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
            "spec.ingress[0].ports[2].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\"",
            "spec.ingress[0].from[0]: Required value: must specify a peer",
            "spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"10.1.0.0/24\": must be a strict subset of `cidr`",
            "spec.ingress[0].from[1].ipBlock.except[1]: Invalid value: \"10.0.0.0/8\": must be a strict subset of `cidr`",
            "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer",
            "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\"",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
    }

    #[test]
    fn prints_pod_selector() {
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        let np = json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}}}});
        assert_eq!(NetworkPolicyStrategy.row(&np, &ctx), vec![json!("app=db"), json!("0s")]);
        let all = json!({"spec": {"podSelector": {}}});
        assert_eq!(NetworkPolicyStrategy.row(&all, &ctx)[0], json!("<none>"));
    }
}
