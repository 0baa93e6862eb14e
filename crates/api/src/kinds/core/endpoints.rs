//! Endpoints: address and port rules of each subset, and the ENDPOINTS column
//! (`ip:port` pairs, at most three, then `+ N more...`).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};
use serde_json::{Value, json};

use crate::kinds::common::ip::{INVALID_IP, special_ip_errors};
use crate::kinds::common::pod_spec::{PROTOCOLS, port_number_errors};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as};
use crate::table::{Column, age};
use crate::validation::names::{dns1123_label, dns1123_subdomain};
use crate::validation::{FieldError, FieldPath};

pub struct EndpointsStrategy;

fn validate_address(a: &EndpointAddress, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ip_path = path.child("ip");
    match a.ip.parse::<IpAddr>() {
        Err(_) => errs.push(FieldError::invalid(&ip_path, a.ip.as_str(), INVALID_IP)),
        Ok(ip) => errs.extend(special_ip_errors(ip).map(|m| FieldError::invalid(&ip_path, a.ip.as_str(), m))),
    }
    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
        errs.extend(dns1123_label(h).into_iter().map(|m| FieldError::invalid(path.child("hostname"), h, m)));
    }
    if let Some(n) = a.node_name.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(dns1123_subdomain(n).into_iter().map(|m| FieldError::invalid(path.child("nodeName"), n, m)));
    }
    errs
}

fn validate_port(p: &EndpointPort, require_name: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = p.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(dns1123_label(name).into_iter().map(|m| FieldError::invalid(path.child("name"), name, m)));
    }
    errs.extend(
        port_number_errors(i64::from(p.port)).into_iter().map(|m| FieldError::invalid(path.child("port"), p.port, m)),
    );
    match p.protocol.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(path.child("protocol"), "")),
        proto if !PROTOCOLS.contains(&proto) => {
            errs.push(FieldError::not_supported(path.child("protocol"), proto, PROTOCOLS))
        }
        _ => {}
    }
    errs
}

fn validate(ep: &Endpoints) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ss) in ep.subsets.iter().flatten().enumerate() {
        let path = FieldPath::root("subsets").index(i);
        let addresses = ss.addresses.as_deref().unwrap_or_default();
        let not_ready = ss.not_ready_addresses.as_deref().unwrap_or_default();
        if addresses.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(&path, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (j, a) in addresses.iter().enumerate() {
            errs.extend(validate_address(a, &path.child("addresses").index(j)));
        }
        for (j, a) in not_ready.iter().enumerate() {
            errs.extend(validate_address(a, &path.child("notReadyAddresses").index(j)));
        }
        let ports = ss.ports.as_deref().unwrap_or_default();
        for (j, p) in ports.iter().enumerate() {
            errs.extend(validate_port(p, ports.len() > 1, &path.child("ports").index(j)));
        }
    }
    errs
}

fn host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }
}

/// Upstream's `formatEndpoints` for all ports.
pub fn format_endpoints(ep: &Endpoints) -> String {
    const MAX: usize = 3;
    let subsets = ep.subsets.as_deref().unwrap_or_default();
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0usize;
    for ss in subsets {
        let addresses = ss.addresses.as_deref().unwrap_or_default();
        let ports = ss.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| a.ip.clone()));
            continue;
        }
        for p in ports {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| host_port(&a.ip, p.port)));
        }
    }
    let more = list.len() > MAX;
    list.truncate(MAX);
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", count - MAX) } else { joined }
}

impl Strategy for EndpointsStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Endpoints>(obj)
    }

    fn default(&self, obj: &mut Value) {
        crate::strategy::typed::<Endpoints>(obj, |ep| {
            for p in ep.subsets.iter_mut().flatten().flat_map(|s| s.ports.iter_mut().flatten()) {
                if p.protocol.as_deref().unwrap_or("").is_empty() {
                    p.protocol = Some("TCP".into());
                }
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<Endpoints>(obj) {
            Ok(ep) => validate(&ep),
            Err(e) => vec![FieldError::invalid("subsets", Value::Null, e)],
        }
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new("Endpoints", "string", "The set of all endpoints is the union of all subsets."), Column::age()]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![json!(format_endpoints(&decode_or_default(obj))), json!(age(obj, ctx))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(subsets: Value) -> Value {
        let mut v = json!({"metadata": {"name": "web"}, "subsets": subsets});
        EndpointsStrategy.normalize(&mut v).unwrap();
        EndpointsStrategy.default(&mut v);
        v
    }

    #[test]
    fn column_lists_three_then_more() {
        let v = ep(
            json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443, "name": "https"}]}]),
        );
        assert_eq!(
            EndpointsStrategy.row(&v, &Context::now())[0],
            json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...")
        );
        let empty = ep(json!([]));
        assert_eq!(EndpointsStrategy.row(&empty, &Context::now())[0], json!("<none>"));
        let headless = ep(json!([{"addresses": [{"ip": "10.0.0.1"}]}]));
        assert_eq!(EndpointsStrategy.row(&headless, &Context::now())[0], json!("10.0.0.1"));
    }

    #[test]
    fn validation() {
        let v = ep(json!([
            {"addresses": [{"ip": "nope"}], "ports": [{"port": 80}, {"port": 0, "name": "b"}]},
            {"ports": [{"port": 80}]}
        ]));
        let errs: Vec<String> = EndpointsStrategy.validate_create(&v).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                "subsets[0].ports[0].name: Required value",
                "subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
            ]
        );
    }
}
