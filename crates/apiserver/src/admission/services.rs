//! Service admission: cluster IP and node port allocation on create and update,
//! and their release when a Service gives them up.

use k3rs_api::validation::FieldError;
use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};

use super::allocator::{ClaimError, service_ips, service_node_ports};
use crate::rest::ResourceRequest;

fn owner(obj: &Value) -> String {
    format!("{}/{}", meta::namespace(obj), meta::name(obj))
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP")
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

fn invalid(r: &ResourceRequest, obj: &Value, err: FieldError) -> ApiError {
    ApiError::invalid(&r.def.kind, &r.def.group, meta::name(obj), &[err])
}

fn ip_error(r: &ResourceRequest, obj: &Value, ip: &str, e: ClaimError) -> ApiError {
    let cidr = r.state.allocators.service_cidr;
    let detail = match e {
        ClaimError::OutOfRange => format!(
            "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
        ),
        ClaimError::Taken => format!("failed to allocate IP {ip}: provided IP is already allocated"),
        ClaimError::Exhausted => "failed to allocate a serviceIP: range is full".to_string(),
        ClaimError::Store(s) => return ApiError::internal(format!("allocating a service IP: {s}")),
    };
    invalid(r, obj, FieldError::invalid("spec.clusterIPs", json!([ip]), detail))
}

fn port_error(r: &ResourceRequest, obj: &Value, index: usize, port: u16, e: ClaimError) -> ApiError {
    let range = &r.state.allocators.node_ports;
    let detail = match e {
        ClaimError::OutOfRange => {
            format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                range.start(),
                range.end()
            )
        }
        ClaimError::Taken => "provided port is already allocated".to_string(),
        ClaimError::Exhausted => "failed to allocate a nodePort: range is full".to_string(),
        ClaimError::Store(s) => return ApiError::internal(format!("allocating a node port: {s}")),
    };
    invalid(r, obj, FieldError::invalid(format!("spec.ports[{index}].nodePort"), port, detail))
}

/// Fills in and claims the cluster IP and node ports of `svc`; values already held
/// by `held` (the stored object on updates) are kept without a new claim.
async fn allocate(r: &ResourceRequest, svc: &mut Value, held: Option<&Value>, dry_run: bool) -> Result<(), ApiError> {
    let store = &r.state.store;
    let alloc = &r.state.allocators;
    let who = owner(svc);
    let held_ips = held.map(service_ips).unwrap_or_default();
    let held_ports = held.map(service_node_ports).unwrap_or_default();

    if service_type(svc) == "ExternalName" {
        if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
    } else {
        let given = svc.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
        let ip = if given == "None" {
            "None".to_string()
        } else if given.is_empty() {
            alloc.allocate_ip(store, &who, dry_run).await.map_err(|e| ip_error(r, svc, "", e))?.to_string()
        } else {
            let parsed = given.parse().map_err(|_| {
                invalid(r, svc, FieldError::invalid("spec.clusterIPs[0]", json!(given), "must be a valid IP address"))
            })?;
            if !held_ips.contains(&parsed) {
                alloc.claim_ip(store, parsed, &who, dry_run).await.map_err(|e| ip_error(r, svc, &given, e))?;
            }
            given
        };
        svc["spec"]["clusterIP"] = json!(ip);
        svc["spec"]["clusterIPs"] = json!([ip]);
        if ip != "None" || svc.pointer("/spec/ipFamilies").is_none() {
            svc["spec"]["ipFamilies"] = json!(["IPv4"]);
        }
        if svc.pointer("/spec/ipFamilyPolicy").is_none() {
            svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
        }
    }

    let node_ports = wants_node_ports(svc);
    if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        let mut used_here: Vec<u16> = Vec::new();
        for (i, entry) in ports.iter_mut().enumerate() {
            let given = entry.get("nodePort").and_then(Value::as_u64).unwrap_or(0);
            if !node_ports {
                if let Some(p) = entry.as_object_mut() {
                    p.remove("nodePort");
                }
                continue;
            }
            let port = if given == 0 {
                alloc.allocate_port(store, &who, dry_run).await.map_err(|e| port_error(r, &Value::Null, i, 0, e))?
            } else {
                let port = u16::try_from(given).unwrap_or(0);
                // One node port may serve the same port number over several protocols.
                if !held_ports.contains(&port) && !used_here.contains(&port) {
                    alloc
                        .claim_port(store, port, &who, dry_run)
                        .await
                        .map_err(|e| port_error(r, &Value::Null, i, port, e))?;
                }
                port
            };
            used_here.push(port);
            entry["nodePort"] = json!(port);
        }
    }
    Ok(())
}

pub async fn allocate_on_create(r: &ResourceRequest, svc: &mut Value, dry_run: bool) -> Result<(), ApiError> {
    allocate(r, svc, None, dry_run).await
}

pub async fn allocate_on_update(
    r: &ResourceRequest,
    new: &mut Value,
    old: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    allocate(r, new, Some(old), dry_run).await
}

/// Releases what `from` holds and `to` does not.
pub async fn release_unused(r: &ResourceRequest, from: &Value, to: &Value) {
    let who = owner(from);
    let keep_ips = service_ips(to);
    for ip in service_ips(from) {
        if !keep_ips.contains(&ip) {
            r.state.allocators.release_ip(&r.state.store, ip, &who).await;
        }
    }
    let keep_ports = service_node_ports(to);
    for port in service_node_ports(from) {
        if !keep_ports.contains(&port) {
            r.state.allocators.release_port(&r.state.store, port, &who).await;
        }
    }
}

pub async fn release_all(r: &ResourceRequest, svc: &Value) {
    release_unused(r, svc, &Value::Null).await;
}
