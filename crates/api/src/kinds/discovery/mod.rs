//! discovery.k8s.io/v1: EndpointSlice.

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use crate::kinds::support::checks::{
    dns1123_label, dns1123_subdomain, fully_qualified_domain_name, immutable_at, non_special_ip, qualified_name,
};
use crate::kinds::support::json::default_key;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column, list_with_more};
use crate::validation::{FieldError, FieldPath};

const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub struct EndpointSliceStrategy;

impl Strategy for EndpointSliceStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<EndpointSlice>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let ports = obj.get_mut("ports").and_then(Value::as_array_mut);
        for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
            default_key(port, "name", json!(""));
            default_key(port, "protocol", json!("TCP"));
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        errs.extend(immutable_at(new, old, "/addressType", &FieldPath::root("addressType")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "AddressType",
                "string",
                "addressType specifies the type of address carried by this EndpointSlice.",
            ),
            Column::new(
                "Ports",
                "string",
                "ports specifies the list of network ports exposed by each endpoint in this slice.",
            ),
            Column::new("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let ports: Vec<String> = obj
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| match (p.get("port").and_then(Value::as_i64), p.get("name").and_then(Value::as_str)) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            })
            .collect();
        let addresses: Vec<String> = obj
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|e| e.get("addresses").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        vec![
            json!(obj.get("addressType").and_then(Value::as_str).unwrap_or_default()),
            json!(list_with_more(&ports, 3)),
            json!(list_with_more(&addresses, 3)),
            json!(table::age(obj, ctx)),
        ]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let address_type = obj.get("addressType").and_then(Value::as_str).unwrap_or_default();
    let endpoints = obj.get("endpoints").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let endpoints_path = FieldPath::root("endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(&endpoints_path, MAX_ENDPOINTS));
    }
    for (i, endpoint) in endpoints.iter().enumerate() {
        let p = endpoints_path.index(i);
        let addresses_path = p.child("addresses");
        let addresses = endpoint.get("addresses").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if addresses.is_empty() {
            errs.push(FieldError::required(&addresses_path, "must contain at least 1 address"));
        } else if addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::too_many(&addresses_path, MAX_ADDRESSES));
        }
        for (j, address) in addresses.iter().enumerate() {
            let address = address.as_str().unwrap_or_default();
            let ap = addresses_path.index(j);
            let parsed = address.parse::<std::net::IpAddr>();
            match address_type {
                "IPv4" if !matches!(parsed, Ok(std::net::IpAddr::V4(_))) => {
                    errs.push(FieldError::invalid(&ap, address, "must be a valid IPv4 address"))
                }
                "IPv6" if !matches!(parsed, Ok(std::net::IpAddr::V6(_))) => {
                    errs.push(FieldError::invalid(&ap, address, "must be a valid IPv6 address"))
                }
                "IPv4" | "IPv6" => errs.extend(non_special_ip(address, &ap)),
                "FQDN" => errs.extend(fully_qualified_domain_name(address, &ap)),
                _ => {}
            }
        }
        if let Some(node) = endpoint.get("nodeName").and_then(Value::as_str) {
            errs.extend(dns1123_subdomain(node, &p.child("nodeName")));
        }
        if let Some(hostname) = endpoint.get("hostname").and_then(Value::as_str) {
            errs.extend(dns1123_label(hostname, &p.child("hostname")));
        }
    }
    let type_path = FieldPath::root("addressType");
    if address_type.is_empty() {
        errs.push(FieldError::required(&type_path, ""));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        errs.push(FieldError::not_supported(&type_path, address_type, ADDRESS_TYPES));
    }
    let ports = obj.get("ports").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let ports_path = FieldPath::root("ports");
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many(&ports_path, MAX_PORTS));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let p = ports_path.index(i);
        match port.get("name").and_then(Value::as_str) {
            None => errs.push(FieldError::required(p.child("name"), "")),
            Some(name) => {
                if !name.is_empty() {
                    errs.extend(dns1123_label(name, &p.child("name")));
                }
                if names.contains(&name) {
                    errs.push(FieldError::duplicate(p.child("name"), name));
                } else {
                    names.push(name);
                }
            }
        }
        match port.get("protocol").and_then(Value::as_str) {
            None => errs.push(FieldError::required(p.child("protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => {
                errs.push(FieldError::not_supported(p.child("protocol"), proto, PROTOCOLS))
            }
            Some(_) => {}
        }
        if let Some(app) = port.get("appProtocol").and_then(Value::as_str) {
            errs.extend(qualified_name(app, &p.child("appProtocol")));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice() -> Value {
        let mut s = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "addressType": "IPv4",
            "ports": [{"port": 80}],
            "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.0.6"]}, {"addresses": ["10.42.0.7"]}, {"addresses": ["10.42.0.8"]}]
        });
        EndpointSliceStrategy.normalize(&mut s).unwrap();
        EndpointSliceStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults_and_valid() {
        let s = slice();
        assert_eq!(s["ports"][0], json!({"name": "", "port": 80, "protocol": "TCP"}));
        assert!(EndpointSliceStrategy.validate_create(&s).is_empty());
    }

    #[test]
    fn validation() {
        let mut s = slice();
        s["endpoints"] = json!([{"addresses": ["fe80::1"]}, {"addresses": []}, {"addresses": ["127.0.0.1"]}]);
        s["ports"] = json!([{"name": "http", "protocol": "TCP"}, {"name": "http", "protocol": "ICMP"}]);
        let errs: Vec<String> = EndpointSliceStrategy.validate_create(&s).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "endpoints[0].addresses[0]: Invalid value: \"fe80::1\": must be a valid IPv4 address",
                "endpoints[1].addresses: Required value: must contain at least 1 address",
                "endpoints[2].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "ports[1].name: Duplicate value: \"http\"",
                "ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ]
        );
        let old = slice();
        let mut new = old.clone();
        new["addressType"] = json!("IPv6");
        new["endpoints"] = json!([]);
        let errs: Vec<String> =
            EndpointSliceStrategy.validate_update(&new, &old).iter().map(ToString::to_string).collect();
        assert_eq!(errs, vec!["addressType: Invalid value: \"IPv6\": field is immutable"]);
    }

    #[test]
    fn prints() {
        let ctx = Context { now: "2024-01-01T00:00:03Z".parse().unwrap() };
        assert_eq!(
            EndpointSliceStrategy.row(&slice(), &ctx),
            vec![json!("IPv4"), json!("80"), json!("10.42.0.5,10.42.0.6,10.42.0.7 + 1 more..."), json!("3s")]
        );
    }
}
