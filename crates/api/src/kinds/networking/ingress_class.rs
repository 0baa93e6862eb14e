//! IngressClass (networking.k8s.io/v1).

use k8s_openapi::api::networking::v1::IngressClass;
use serde_json::{Value, json};

use super::ingress::typed_local_reference;
use crate::kinds::support::checks::{IMMUTABLE, dns1123_label, domain_prefixed_path};
use crate::kinds::support::json::{default_key, existing_object_mut};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

const MAX_CONTROLLER_LENGTH: usize = 250;

pub struct IngressClassStrategy;

impl Strategy for IngressClassStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<IngressClass>(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(params) = existing_object_mut(obj, &["spec", "parameters"]) {
            default_key(params, "scope", json!("Cluster"));
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let controller =
            |o: &Value| o.pointer("/spec/controller").and_then(Value::as_str).unwrap_or_default().to_string();
        if controller(new) != controller(old) {
            errs.push(FieldError::invalid("spec.controller", controller(new), IMMUTABLE));
        }
        errs.extend(validate(new));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Controller", "string", "Controller that is responsible for handling this class"),
            Column::new("Parameters", "string", "A reference to a resource with additional parameters"),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let parameters = match obj.pointer("/spec/parameters").filter(|v| !v.is_null()) {
            None => "<none>".to_string(),
            Some(p) => {
                let kind = p.get("kind").and_then(Value::as_str).unwrap_or_default();
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                match p.get("apiGroup").and_then(Value::as_str) {
                    Some(group) => format!("{kind}.{group}/{name}"),
                    None => format!("{kind}/{name}"),
                }
            }
        };
        vec![
            json!(obj.pointer("/spec/controller").and_then(Value::as_str).unwrap_or_default()),
            json!(parameters),
            json!(table::age(obj, ctx)),
        ]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    let controller = obj.pointer("/spec/controller").and_then(Value::as_str).unwrap_or_default();
    if controller.len() > MAX_CONTROLLER_LENGTH {
        errs.push(FieldError::too_long(spec.child("controller"), MAX_CONTROLLER_LENGTH));
    }
    errs.extend(domain_prefixed_path(controller, &spec.child("controller")));
    if let Some(params) = obj.pointer("/spec/parameters").filter(|v| !v.is_null()) {
        let path = spec.child("parameters");
        errs.extend(typed_local_reference(params, &path));
        match params.get("scope").and_then(Value::as_str) {
            None => errs.push(FieldError::required(path.child("scope"), "")),
            Some("Namespace") => match params.get("namespace").and_then(Value::as_str) {
                None => {
                    errs.push(FieldError::required(path.child("namespace"), "`parameters.scope` is set to 'Namespace'"))
                }
                Some(ns) => errs.extend(dns1123_label(ns, &path.child("namespace"))),
            },
            Some("Cluster") => {
                if params.get("namespace").is_some_and(|v| !v.is_null()) {
                    errs.push(FieldError::forbidden(path.child("namespace"), "`parameters.scope` is set to 'Cluster'"));
                }
            }
            Some(other) => errs.push(FieldError::not_supported(path.child("scope"), other, &["Cluster", "Namespace"])),
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validation_and_printing() {
        let s = IngressClassStrategy;
        let mut ic = json!({"metadata": {"name": "nginx", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        s.default(&mut ic);
        assert_eq!(ic["spec"]["parameters"]["scope"], "Cluster");
        assert!(s.validate_create(&ic).is_empty());
        let ctx = Context { now: "2024-01-01T00:00:01Z".parse().unwrap() };
        assert_eq!(
            s.row(&ic, &ctx),
            vec![json!("k8s.io/ingress-nginx"), json!("IngressParameters.k8s.example.com/external-lb"), json!("1s")]
        );
        let mut bad = ic.clone();
        bad["spec"]["controller"] = json!("nginx");
        bad["spec"]["parameters"]["scope"] = json!("Namespace");
        let errs: Vec<String> = s.validate_update(&bad, &ic).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.controller: Invalid value: \"nginx\": field is immutable",
                "spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")",
                "spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'",
            ]
        );
    }
}
