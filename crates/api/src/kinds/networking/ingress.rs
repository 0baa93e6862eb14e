//! Ingress (networking.k8s.io/v1): validation of rules, paths and backends, printing.

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use crate::kinds::support::checks::{
    dns1123_subdomain, path_segment, port_name, port_number, wildcard_dns1123_subdomain,
};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath, names};

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];

pub struct IngressStrategy;

impl Strategy for IngressStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Ingress>(obj)
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null), &FieldPath::root("spec"))
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            Column::new("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
            Column::new("Address", "string", "Address is a list containing ingress points for the load-balancer"),
            Column::new("Ports", "string", "Ports of TLS configurations that open"),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let class = obj.pointer("/spec/ingressClassName").and_then(Value::as_str).unwrap_or("<none>");
        let tls = obj.pointer("/spec/tls").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
        vec![
            json!(class),
            json!(format_hosts(obj)),
            json!(load_balancer_addresses(obj.pointer("/status/loadBalancer/ingress"))),
            json!(if tls { "80, 443" } else { "80" }),
            json!(table::age(obj, ctx)),
        ]
    }
}

/// The Hosts cell: up to three hosts, `*` when no rule names one.
fn format_hosts(obj: &Value) -> String {
    let rules = obj.pointer("/spec/rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let hosts: Vec<&str> =
        rules.iter().filter_map(|r| r.get("host").and_then(Value::as_str)).filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return "*".to_string();
    }
    const MAX: usize = 3;
    let shown = hosts.iter().take(MAX).copied().collect::<Vec<_>>().join(",");
    if rules.len() > MAX && hosts.len() > MAX { format!("{shown} + {} more...", rules.len() - MAX) } else { shown }
}

/// IPs (or else hostnames) of the load balancer, without duplicates.
pub fn load_balancer_addresses(ingress: Option<&Value>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for entry in ingress.and_then(Value::as_array).into_iter().flatten() {
        let ip = entry.get("ip").and_then(Value::as_str).filter(|s| !s.is_empty());
        let host = entry.get("hostname").and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(a) = ip.or(host)
            && !seen.contains(&a)
        {
            seen.push(a);
        }
    }
    seen.join(",")
}

fn validate_spec(spec: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules = spec.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let default_backend = spec.get("defaultBackend").filter(|v| !v.is_null());
    if rules.is_empty() && default_backend.is_none() {
        errs.push(FieldError::invalid(
            path,
            Value::Array(rules.to_vec()),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = default_backend {
        errs.extend(validate_backend(backend, &path.child("defaultBackend")));
    }
    for (i, rule) in rules.iter().enumerate() {
        errs.extend(validate_rule(rule, &path.child("rules").index(i)));
    }
    let tls = spec.get("tls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for (i, entry) in tls.iter().enumerate() {
        let p = path.child("tls").index(i);
        for (j, host) in entry.get("hosts").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let host = host.as_str().unwrap_or_default();
            let msgs =
                if host.contains('*') { wildcard_dns1123_subdomain(host) } else { names::dns1123_subdomain(host) };
            for m in msgs {
                errs.push(FieldError::invalid(p.child("hosts").index(j), host, m));
            }
        }
        let secret = entry.get("secretName").and_then(Value::as_str).unwrap_or_default();
        if !secret.is_empty() {
            errs.extend(dns1123_subdomain(secret, &p.child("secretName")));
        }
    }
    if let Some(class) = spec.get("ingressClassName").and_then(Value::as_str) {
        errs.extend(dns1123_subdomain(class, &path.child("ingressClassName")));
    }
    errs
}

fn validate_rule(rule: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let host = rule.get("host").and_then(Value::as_str).unwrap_or_default();
    if !host.is_empty() {
        let host_path = path.child("host");
        if host.parse::<std::net::IpAddr>().is_ok() {
            errs.push(FieldError::invalid(&host_path, host, "must be a DNS name, not an IP address"));
        }
        let msgs = if host.contains('*') { wildcard_dns1123_subdomain(host) } else { names::dns1123_subdomain(host) };
        for m in msgs {
            errs.push(FieldError::invalid(&host_path, host, m));
        }
    }
    if let Some(http) = rule.get("http").filter(|v| !v.is_null()) {
        let http_path = path.child("http");
        let paths = http.get("paths").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if paths.is_empty() {
            errs.push(FieldError::required(http_path.child("paths"), ""));
        }
        for (i, p) in paths.iter().enumerate() {
            errs.extend(validate_path(p, &http_path.child("paths").index(i)));
        }
    }
    errs
}

fn validate_path(p: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(path_type) = p.get("pathType").and_then(Value::as_str) else {
        return vec![FieldError::required(path.child("pathType"), "pathType must be specified")];
    };
    let value = p.get("path").and_then(Value::as_str).unwrap_or_default();
    let value_path = path.child("path");
    match path_type {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.push(FieldError::invalid(&value_path, value, "must be an absolute path"));
            }
            if !value.is_empty() {
                for seq in INVALID_PATH_SEQUENCES.iter().filter(|s| value.contains(**s)) {
                    errs.push(FieldError::invalid(&value_path, value, format!("must not contain '{seq}'")));
                }
                for suffix in INVALID_PATH_SUFFIXES.iter().filter(|s| value.ends_with(**s)) {
                    errs.push(FieldError::invalid(&value_path, value, format!("cannot end with '{suffix}'")));
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.push(FieldError::invalid(&value_path, value, "must be an absolute path"));
            }
        }
        other => errs.push(FieldError::not_supported(path.child("pathType"), other, PATH_TYPES)),
    }
    errs.extend(validate_backend(p.get("backend").unwrap_or(&Value::Null), &path.child("backend")));
    errs
}

/// An Ingress backend names exactly one of a Service (by name and port) or a resource.
fn validate_backend(backend: &Value, path: &FieldPath) -> Vec<FieldError> {
    let resource = backend.get("resource").filter(|v| !v.is_null());
    let service = backend.get("service").filter(|v| !v.is_null());
    match (resource, service) {
        (Some(_), Some(_)) => vec![FieldError::invalid(path, "", "cannot set both resource and service backends")],
        (Some(r), None) => typed_local_reference(r, &path.child("resource")),
        (None, Some(s)) => {
            let mut errs = Vec::new();
            let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
            let name_path = path.child("service").child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&name_path, ""));
            } else {
                for m in names::dns1035_label(name) {
                    errs.push(FieldError::invalid(&name_path, name, m));
                }
            }
            let port_path = path.child("service").child("port");
            let port_name_value = s.pointer("/port/name").and_then(Value::as_str).unwrap_or_default();
            let number = s.pointer("/port/number").and_then(Value::as_i64).unwrap_or(0);
            match (!port_name_value.is_empty(), number != 0) {
                (true, true) => errs.push(FieldError::invalid(path, "", "cannot set both port name & port number")),
                (true, false) => errs.extend(port_name(port_name_value, &port_path.child("name"))),
                (false, true) => errs.extend(port_number(number, &port_path.child("number"))),
                (false, false) => errs.push(FieldError::required(path, "port name or number is required")),
            }
            errs
        }
        (None, None) => vec![FieldError::invalid(path, "", "resource or service backend is required")],
    }
}

/// A reference to a local object by API group, kind and name (also IngressClass parameters).
pub fn typed_local_reference(r: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(group) = r.get("apiGroup").and_then(Value::as_str) {
        errs.extend(dns1123_subdomain(group, &path.child("apiGroup")));
    }
    for (field, required) in [("kind", "kind is required"), ("name", "name is required")] {
        let value = r.get(field).and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            errs.push(FieldError::required(path.child(field), required));
        } else {
            errs.extend(path_segment(value, &path.child(field)));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"ingressClassName": "traefik", "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        })
    }

    fn messages(obj: &Value) -> Vec<String> {
        IngressStrategy.validate_create(obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn valid_ingress() {
        let mut i = ingress();
        IngressStrategy.normalize(&mut i).unwrap();
        assert!(messages(&i).is_empty(), "{:?}", messages(&i));
    }

    #[test]
    fn rules_and_paths() {
        let mut i = ingress();
        i["spec"]["rules"][0]["host"] = json!("10.0.0.1");
        i["spec"]["rules"][0]["http"]["paths"] = json!([
            {"path": "api", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/a//b", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}},
            {"path": "/", "pathType": "Regex", "backend": {"service": {"name": "Web", "port": {}}}},
            {"path": "/", "backend": {}}
        ]);
        let errs = messages(&i);
        for want in [
            "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
            "spec.rules[0].http.paths[0].path: Invalid value: \"api\": must be an absolute path",
            "spec.rules[0].http.paths[1].path: Invalid value: \"/a//b\": must not contain '//'",
            "spec.rules[0].http.paths[2].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
            "spec.rules[0].http.paths[2].backend: Required value: port name or number is required",
            "spec.rules[0].http.paths[3].pathType: Required value: pathType must be specified",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
        assert!(errs.iter().any(|e| e.starts_with(
            "spec.rules[0].http.paths[2].backend.service.name: Invalid value: \"Web\": a DNS-1035 label"
        )));
    }

    #[test]
    fn backends() {
        let mut i = ingress();
        i["spec"] = json!({});
        assert_eq!(messages(&i), vec!["spec: Invalid value: []: either `defaultBackend` or `rules` must be specified"]);
        i["spec"] = json!({"defaultBackend": {}});
        assert_eq!(
            messages(&i),
            vec!["spec.defaultBackend: Invalid value: \"\": resource or service backend is required"]
        );
        i["spec"] = json!({"defaultBackend": {"resource": {"kind": "StorageBucket"}}});
        assert_eq!(messages(&i), vec!["spec.defaultBackend.resource.name: Required value: name is required"]);
    }

    #[test]
    fn prints() {
        let mut i = ingress();
        i["spec"]["tls"] = json!([{"hosts": ["shop.example.com"], "secretName": "tls"}]);
        i["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example.com"}, {"ip": "192.0.2.1"}]}});
        let ctx = Context { now: "2024-01-01T00:00:05Z".parse().unwrap() };
        assert_eq!(
            IngressStrategy.row(&i, &ctx),
            vec![
                json!("traefik"),
                json!("shop.example.com"),
                json!("192.0.2.1,lb.example.com"),
                json!("80, 443"),
                json!("5s")
            ]
        );
        i["spec"]["rules"] = json!([{}, {"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d"}]);
        assert_eq!(format_hosts(&i), "a,b,c + 2 more...");
    }
}
