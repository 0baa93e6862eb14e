//! Services: v1 defaulting (type, session affinity, port protocol and target port,
//! traffic policies, IP family fields once a cluster IP is set), keeping allocated
//! cluster IPs and node ports across updates, dropping fields a type change makes
//! meaningless, upstream's validation, printing and field selectors.
//!
//! Allocating cluster IPs and node ports is the API server's job; this module only
//! validates what was allocated or requested.

mod validation;

use k8s_openapi::api::core::v1::{Service, ServiceSpec, ServiceStatus};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use crate::kinds::common::labels::format_labels;
use crate::kinds::common::printing::{since_time, string};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::FieldError;

pub struct ServiceStrategy;

pub(crate) fn spec_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or("")
}

/// NodePort and LoadBalancer services, and ClusterIP ones with external IPs.
pub(crate) fn externally_accessible(spec: &ServiceSpec) -> bool {
    matches!(spec_type(spec), "NodePort" | "LoadBalancer")
        || (spec_type(spec) == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|ips| !ips.is_empty()))
}

fn needs_node_ports(spec: &ServiceSpec) -> bool {
    matches!(spec_type(spec), "NodePort" | "LoadBalancer")
}

pub(crate) fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ips.as_deref() == Some(&["None".to_string()][..]) || spec.cluster_ip.as_deref() == Some("None")
}

/// `SetDefaults_Service` plus the cluster-IP bookkeeping upstream's strategy does.
pub fn default_service_spec(spec: &mut ServiceSpec) {
    let affinity = spec.session_affinity.get_or_insert_with(String::new);
    if affinity.is_empty() {
        *affinity = "None".into();
    }
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let has_timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .is_some_and(|c| c.timeout_seconds.is_some());
            if !has_timeout {
                spec.session_affinity_config =
                    serde_json::from_value(json!({"clientIP": {"timeoutSeconds": 10800}})).ok();
            }
        }
        _ => {}
    }
    if spec_type(spec).is_empty() {
        spec.type_ = Some("ClusterIP".into());
    }
    for p in spec.ports.iter_mut().flatten() {
        if p.protocol.as_deref().unwrap_or("").is_empty() {
            p.protocol = Some("TCP".into());
        }
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    if externally_accessible(spec) && spec.external_traffic_policy.as_deref().unwrap_or("").is_empty() {
        spec.external_traffic_policy = Some("Cluster".into());
    }
    if spec.internal_traffic_policy.is_none() && matches!(spec_type(spec), "ClusterIP" | "NodePort" | "LoadBalancer") {
        spec.internal_traffic_policy = Some("Cluster".into());
    }
    if spec_type(spec) == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        spec.allocate_load_balancer_node_ports = Some(true);
    }
    sync_cluster_ips(spec);
    if spec_type(spec) != "ExternalName" {
        default_ip_families(spec);
    }
}

/// `clusterIP` and `clusterIPs[0]` are the same value; whichever the client set fills the other.
fn sync_cluster_ips(spec: &mut ServiceSpec) {
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    if !ip.is_empty() && ips.is_empty() {
        spec.cluster_ips = Some(vec![ip]);
    } else if ip.is_empty() && !ips.is_empty() {
        spec.cluster_ip = ips.first().cloned();
    }
}

/// Once a cluster IP is known: single-stack (headless without selector: require
/// dual-stack, as upstream) with the families of the addresses, IPv4 for headless.
fn default_ip_families(spec: &mut ServiceSpec) {
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    if ips.is_empty() {
        return;
    }
    let headless = ips.first().map(String::as_str) == Some("None");
    if spec.ip_family_policy.is_none() {
        let no_selector = spec.selector.as_ref().is_none_or(|s| s.is_empty());
        spec.ip_family_policy =
            Some(if headless && no_selector { "RequireDualStack" } else { "SingleStack" }.to_string());
    }
    if spec.ip_families.as_ref().is_none_or(|f| f.is_empty()) {
        let families = if headless {
            vec!["IPv4".to_string()]
        } else {
            ips.iter()
                .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(|ip| if ip.is_ipv6() { "IPv6" } else { "IPv4" }.to_string())
                .collect()
        };
        if !families.is_empty() {
            spec.ip_families = Some(families);
        }
    }
}

/// Keeps what the server allocated when an update leaves it out (upstream's
/// `patchAllocatedValues`): cluster IPs, node ports matched by port name, and the
/// health-check node port.
fn patch_allocated_values(new: &mut ServiceSpec, old: &ServiceSpec) {
    if spec_type(new) != "ExternalName" && spec_type(old) != "ExternalName" {
        if new.cluster_ip.as_deref().unwrap_or("").is_empty() {
            new.cluster_ip = old.cluster_ip.clone();
        }
        if new.cluster_ips.as_ref().is_none_or(|ips| ips.is_empty()) && new.cluster_ip == old.cluster_ip {
            new.cluster_ips = old.cluster_ips.clone();
        }
    }
    // A changed `clusterIP` with untouched `clusterIPs` means the client edited the former.
    if new.cluster_ip != old.cluster_ip && new.cluster_ips == old.cluster_ips {
        match new.cluster_ip.clone().filter(|ip| !ip.is_empty()) {
            None => new.cluster_ips = None,
            Some(ip) => match new.cluster_ips.as_mut().filter(|ips| !ips.is_empty()) {
                Some(ips) => ips[0] = ip,
                None => new.cluster_ips = Some(vec![ip]),
            },
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let used = |s: &ServiceSpec| -> Vec<i32> {
            s.ports.iter().flatten().filter_map(|p| p.node_port).filter(|n| *n != 0).collect()
        };
        let (old_used, new_used) = (used(old), used(new));
        for p in new.ports.iter_mut().flatten() {
            if p.node_port.unwrap_or(0) != 0 {
                continue;
            }
            let old_port = old.ports.iter().flatten().find(|o| o.name == p.name).and_then(|o| o.node_port).unwrap_or(0);
            if old_port != 0 && !(old_used.contains(&old_port) && new_used.contains(&old_port)) {
                p.node_port = Some(old_port);
            }
        }
    }
    if new.health_check_node_port.unwrap_or(0) == 0 && spec_type(new) == "LoadBalancer" {
        new.health_check_node_port = old.health_check_node_port;
    }
}

/// Clears fields the new type does not use when the type changed (upstream's
/// `dropTypeDependentFields`), unless the client changed them itself.
fn drop_type_dependent_fields(new: &mut ServiceSpec, old: &ServiceSpec) {
    if needs_node_ports(old) && !needs_node_ports(new) {
        for p in new.ports.iter_mut().flatten() {
            let was = old.ports.iter().flatten().any(|o| o.port == p.port && o.node_port == p.node_port);
            if was {
                p.node_port = None;
            }
        }
    }
    let needs_hc =
        |s: &ServiceSpec| spec_type(s) == "LoadBalancer" && s.external_traffic_policy.as_deref() == Some("Local");
    if needs_hc(old) && !needs_hc(new) && new.health_check_node_port == old.health_check_node_port {
        new.health_check_node_port = None;
    }
    if spec_type(old) == "LoadBalancer" && spec_type(new) != "LoadBalancer" {
        if new.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports {
            new.allocate_load_balancer_node_ports = None;
        }
        if new.load_balancer_class == old.load_balancer_class {
            new.load_balancer_class = None;
        }
    }
    if externally_accessible(old)
        && !externally_accessible(new)
        && new.external_traffic_policy == old.external_traffic_policy
    {
        new.external_traffic_policy = None;
    }
    if spec_type(new) == "ExternalName" && spec_type(old) != "ExternalName" {
        if new.cluster_ip == old.cluster_ip {
            new.cluster_ip = None;
        }
        if new.cluster_ips == old.cluster_ips {
            new.cluster_ips = None;
        }
        if new.ip_families == old.ip_families {
            new.ip_families = None;
        }
        if new.ip_family_policy == old.ip_family_policy {
            new.ip_family_policy = None;
        }
    }
}

fn external_ip_cell(svc: &Service) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let external: Vec<String> = spec.external_ips.clone().unwrap_or_default();
    match spec_type(&spec) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip.filter(|ip| !ip.is_empty()).or(i.hostname.filter(|h| !h.is_empty())))
                .collect();
            lb.sort();
            lb.dedup();
            let mut all = lb;
            all.extend(external);
            if all.is_empty() { "<pending>".into() } else { all.join(",") }
        }
        "ExternalName" => spec.external_name.unwrap_or_default(),
        _ => "<unknown>".into(),
    }
}

fn ports_cell(spec: &ServiceSpec) -> String {
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("");
            match p.node_port.filter(|n| *n > 0) {
                Some(np) => format!("{}:{np}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    if ports.is_empty() { "<none>".into() } else { ports.join(",") }
}

impl Strategy for ServiceStrategy {
    /// Service names become DNS names and environment variables: RFC 1035 labels.
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::dns1035_label(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Service>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<Service>(obj, |svc| default_service_spec(svc.spec.get_or_insert_with(ServiceSpec::default)));
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_svc: Service = decode_or_default(old);
        let old_spec = old_svc.spec.clone().unwrap_or_default();
        typed::<Service>(new, |svc| {
            let spec = svc.spec.get_or_insert_with(ServiceSpec::default);
            patch_allocated_values(spec, &old_spec);
            drop_type_dependent_fields(spec, &old_spec);
            default_service_spec(spec);
            svc.status = old_svc.status.clone().or_else(|| Some(ServiceStatus::default()));
        });
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<Service>(obj) {
            Ok(svc) => validation::validate_service(&svc.spec.unwrap_or_default()),
            Err(e) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        match (decode::<Service>(new), decode::<Service>(old)) {
            (Ok(n), Ok(o)) => {
                let (n, o) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
                let mut errs = validation::validate_service_update(&n, &o);
                errs.extend(validation::validate_service(&n));
                errs
            }
            (Err(e), _) | (_, Err(e)) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Type", "string", "type determines how the Service is exposed."),
            Column::new("Cluster-IP", "string", "clusterIP is the IP address of the service."),
            Column::new(
                "External-IP",
                "string",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            Column::new("Port(s)", "string", "The list of ports that are exposed by this service."),
            Column::age(),
            Column::wide(
                "Selector",
                "string",
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let svc: Service = decode_or_default(obj);
        let spec = svc.spec.clone().unwrap_or_default();
        let cluster_ip =
            spec.cluster_ips.as_ref().and_then(|ips| ips.first()).cloned().unwrap_or_else(|| "<none>".into());
        vec![
            string(spec_type(&spec)),
            string(cluster_ip),
            string(external_ip_cell(&svc)),
            string(ports_cell(&spec)),
            string(since_time(svc.metadata.creation_timestamp.as_ref(), ctx)),
            string(format_labels(spec.selector.as_ref())),
        ]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        match label {
            "spec.clusterIP" => Some(s("/spec/clusterIP")),
            "spec.type" => Some(s("/spec/type")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
