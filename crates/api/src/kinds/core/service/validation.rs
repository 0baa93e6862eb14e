//! Upstream's Service validation: ports, type-specific rules, cluster IPs and IP
//! families, external IPs, session affinity and traffic policies, and what an update
//! may not change.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::{externally_accessible, is_headless, spec_type};
use crate::kinds::common::ip::{INVALID_IP, special_ip_errors};
use crate::kinds::common::labels::validate_labels;
use crate::kinds::common::pod_spec::{PROTOCOLS, port_number_errors, validate_port_num_or_name};
use crate::validation::names::{dns1123_label, dns1123_subdomain, qualified_name};
use crate::validation::{FieldError, FieldPath};

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
const FAMILY_POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
const FAMILIES: &[&str] = &["IPv4", "IPv6"];

fn list_value(items: &[String]) -> Value {
    json!(items)
}

pub fn validate_service(spec: &ServiceSpec) -> Vec<FieldError> {
    let path = FieldPath::root("spec");
    let mut errs = Vec::new();
    let ports = spec.ports.as_deref().unwrap_or_default();
    let ty = spec_type(spec);
    let headless = is_headless(spec);
    let cluster_ips = spec.cluster_ips.clone().unwrap_or_default();

    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            path.child("clusterIPs").index(0),
            "None",
            format!("may not be set to 'None' for {ty} services"),
        )),
        "ExternalName" => {
            if !cluster_ips.is_empty() || spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty()) {
                errs.push(FieldError::forbidden(path.child("clusterIPs"), "may not be set for ExternalName services"));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.push(FieldError::forbidden(path.child("ipFamilies"), "may not be set for ExternalName services"));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = spec.external_name.as_deref().unwrap_or("");
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(path.child("externalName"), ""));
            } else {
                errs.extend(
                    dns1123_subdomain(cname)
                        .into_iter()
                        .map(|m| FieldError::invalid(path.child("externalName"), cname, m)),
                );
            }
        }
        _ => {}
    }

    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(validate_service_port(p, ports.len() > 1, &mut names, &path.child("ports").index(i)));
    }
    if let Some(sel) = &spec.selector {
        errs.extend(validate_labels(sel, &path.child("selector")));
    }

    match spec.session_affinity.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(path.child("sessionAffinity"), "")),
        "ClientIP" => {
            let cfg_path = path.child("sessionAffinityConfig");
            match spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()) {
                None => errs.push(FieldError::required(&cfg_path, "when session affinity type is ClientIP")),
                Some(c) => {
                    let t = c.timeout_seconds.unwrap_or(0);
                    if !(1..=86400).contains(&t) {
                        errs.push(FieldError::invalid(
                            cfg_path.child("clientIP").child("timeoutSeconds"),
                            t,
                            "must be greater than 0 and less than 86400",
                        ));
                    }
                }
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(path.child("sessionAffinity"), other, AFFINITIES)),
    }

    if ty != "ExternalName" {
        errs.extend(validate_cluster_ips(spec, &path));
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        let ip_path = path.child("externalIPs").index(i);
        match ip.parse::<IpAddr>() {
            Err(_) => errs.push(FieldError::invalid(&ip_path, ip.as_str(), INVALID_IP)),
            Ok(addr) => errs.extend(special_ip_errors(addr).map(|m| FieldError::invalid(&ip_path, ip.as_str(), m))),
        }
    }

    match ty {
        "" => errs.push(FieldError::required(path.child("type"), "")),
        t if !SERVICE_TYPES.contains(&t) => errs.push(FieldError::not_supported(path.child("type"), t, SERVICE_TYPES)),
        _ => {}
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if p.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    let mut port_keys = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("");
        if let Some(np) = p.node_port.filter(|n| *n != 0)
            && !node_ports.insert((proto, np))
        {
            errs.push(FieldError::duplicate(path.child("ports").index(i).child("nodePort"), np));
        }
        if !port_keys.insert((proto, p.port)) {
            errs.push(FieldError::duplicate(path.child("ports").index(i), json!({"port": p.port, "protocol": proto})));
        }
    }
    if spec.load_balancer_source_ranges.as_ref().is_some_and(|r| !r.is_empty()) && ty != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            path.child("loadBalancerSourceRanges"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if let Some(class) = &spec.load_balancer_class {
        if ty == "LoadBalancer" {
            errs.extend(
                qualified_name(class)
                    .into_iter()
                    .map(|m| FieldError::invalid(path.child("loadBalancerClass"), class.as_str(), m)),
            );
        } else {
            errs.push(FieldError::forbidden(
                path.child("loadBalancerClass"),
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    errs.extend(validate_traffic_policies(spec, &path));
    errs
}

fn validate_service_port(
    p: &ServicePort,
    require_name: bool,
    names: &mut HashSet<String>,
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = p.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(dns1123_label(name).into_iter().map(|m| FieldError::invalid(path.child("name"), name, m)));
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        }
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
    let target = p.target_port.clone().unwrap_or(IntOrString::Int(0));
    errs.extend(validate_port_num_or_name(&target, &path.child("targetPort")));
    if let Some(ap) = &p.app_protocol {
        errs.extend(
            qualified_name(ap).into_iter().map(|m| FieldError::invalid(path.child("appProtocol"), ap.as_str(), m)),
        );
    }
    errs
}

/// Upstream's `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(spec: &ServiceSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ips_path = path.child("clusterIPs");
    let ip = spec.cluster_ip.as_deref().unwrap_or("");
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    if !ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required(&ips_path, ""));
        } else if ips[0] != ip {
            errs.push(FieldError::invalid(&ips_path, list_value(&ips), "first value must match `clusterIP`"));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(&ips_path, list_value(&ips), "must be empty when `clusterIP` is not specified"));
    }
    let mut seen = HashSet::new();
    for (i, family) in spec.ip_families.iter().flatten().enumerate() {
        let fp = path.child("ipFamilies").index(i);
        if !FAMILIES.contains(&family.as_str()) {
            errs.push(FieldError::not_supported(&fp, family.as_str(), FAMILIES));
        }
        if !seen.insert(family.as_str()) {
            errs.push(FieldError::duplicate(&fp, family.as_str()));
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref()
        && !FAMILY_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(path.child("ipFamilyPolicy"), policy, FAMILY_POLICIES));
    }
    let mut invalid = false;
    let mut parsed = Vec::new();
    for (i, addr) in ips.iter().enumerate() {
        if i == 0 && addr == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(&ips_path, list_value(&ips), "'None' must be the first and only value"));
            }
            continue;
        }
        match addr.parse::<IpAddr>() {
            Ok(a) => parsed.push(a),
            Err(_) => {
                invalid = true;
                errs.push(FieldError::invalid(ips_path.index(i), addr.as_str(), INVALID_IP));
            }
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(&ips_path, list_value(&ips), "may only hold up to 2 values"));
    }
    if invalid {
        return errs;
    }
    if parsed.len() > 1 && parsed.iter().filter(|a| a.is_ipv6()).count() != 1 {
        errs.push(FieldError::invalid(
            &ips_path,
            list_value(&ips),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(spec) {
        for (i, (addr, family)) in parsed.iter().zip(spec.ip_families.iter().flatten()).enumerate() {
            let expected_v6 = family == "IPv6";
            if addr.is_ipv6() != expected_v6 {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    addr.to_string(),
                    format!("expected an {family} value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

fn validate_traffic_policies(spec: &ServiceSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let etp_path = path.child("externalTrafficPolicy");
    match spec.external_traffic_policy.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if !externally_accessible(spec) => {
            errs.push(FieldError::invalid(&etp_path, p, "may only be set for externally-accessible services"))
        }
        Some(p) if !TRAFFIC_POLICIES.contains(&p) => {
            errs.push(FieldError::not_supported(&etp_path, p, TRAFFIC_POLICIES))
        }
        None if externally_accessible(spec) => errs.push(FieldError::required(&etp_path, "")),
        _ => {}
    }
    let needs_hc = spec_type(spec) == "LoadBalancer" && spec.external_traffic_policy.as_deref() == Some("Local");
    if let Some(hc) = spec.health_check_node_port.filter(|h| *h != 0) {
        let hc_path = path.child("healthCheckNodePort");
        if !needs_hc {
            errs.push(FieldError::invalid(
                &hc_path,
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        } else {
            errs.extend(port_number_errors(i64::from(hc)).into_iter().map(|m| FieldError::invalid(&hc_path, hc, m)));
        }
    }
    let itp_path = path.child("internalTrafficPolicy");
    match spec.internal_traffic_policy.as_deref() {
        None if matches!(spec_type(spec), "ClusterIP" | "NodePort" | "LoadBalancer") => {
            errs.push(FieldError::required(&itp_path, ""))
        }
        Some(p) if !TRAFFIC_POLICIES.contains(&p) => {
            errs.push(FieldError::not_supported(&itp_path, p, TRAFFIC_POLICIES))
        }
        _ => {}
    }
    errs
}

/// Cluster IPs and IP families may be added or released (for dual-stack), but the
/// primary ones never change, except to or from ExternalName.
pub fn validate_service_update(new: &ServiceSpec, old: &ServiceSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec_type(new) == "ExternalName" || spec_type(old) == "ExternalName" {
        return errs;
    }
    let ips_path = FieldPath::root("spec").child("clusterIPs");
    let new_ips = new.cluster_ips.clone().unwrap_or_default();
    let old_ips = old.cluster_ips.clone().unwrap_or_default();
    if !(is_headless(new) && is_headless(old)) {
        if new_ips.len() == old_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if *ip != new_ips[i] {
                    errs.push(FieldError::invalid(ips_path.index(i), list_value(&new_ips), "may not change once set"));
                }
            }
        } else if new_ips.len() < old_ips.len() {
            if new_ips.is_empty() {
                errs.push(FieldError::invalid(
                    ips_path.index(0),
                    list_value(&new_ips),
                    "primary clusterIP can not be unset",
                ));
            } else if new_ips[0] != old_ips[0] {
                errs.push(FieldError::invalid(ips_path.index(0), list_value(&new_ips), "may not change once set"));
            }
            if new_ips.len() == 1 && new.ip_family_policy.as_deref() != Some("SingleStack") {
                errs.push(FieldError::invalid(
                    FieldPath::root("spec").child("ipFamilyPolicy"),
                    new.ip_family_policy.clone().map(Value::String).unwrap_or(Value::Null),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(FieldError::invalid(ips_path.index(0), list_value(&new_ips), "may not change once set"));
        }
    }
    if !is_headless(new) && !is_headless(old) {
        let new_f = new.ip_families.clone().unwrap_or_default();
        let old_f = old.ip_families.clone().unwrap_or_default();
        let fam_path = FieldPath::root("spec").child("ipFamilies").index(0);
        if (new_f.len() == old_f.len() && new_f != old_f)
            || (!new_f.is_empty() && !old_f.is_empty() && new_f[0] != old_f[0])
        {
            errs.push(FieldError::invalid(&fam_path, list_value(&new_f), "may not change once set"));
        }
    }
    if spec_type(new) == "LoadBalancer"
        && spec_type(old) == "LoadBalancer"
        && new.load_balancer_class != old.load_balancer_class
    {
        errs.push(FieldError::invalid(
            FieldPath::root("spec").child("loadBalancerClass"),
            new.load_balancer_class.clone().map(Value::String).unwrap_or(Value::Null),
            "may not change once set",
        ));
    }
    errs
}
