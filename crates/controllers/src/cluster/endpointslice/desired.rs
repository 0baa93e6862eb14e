//! The endpoints a Service should have, per address type and per set of ports:
//! pods whose named target ports resolve differently cannot share a slice, so
//! endpoints are grouped by the ports they resolved.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};

use crate::cluster::pods;

/// The ports of a group, sorted, as a map key.
pub type PortsKey = Vec<(String, i32, String)>;

pub fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: Vec<_> = ports
        .iter()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port.unwrap_or(0), p.protocol.clone().unwrap_or_default()))
        .collect();
    key.sort();
    key
}

/// The endpoints sharing one set of ports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// Address type -> ports -> endpoints.
pub type Desired = BTreeMap<String, BTreeMap<PortsKey, Group>>;

/// The address types the Service's slices carry: one per IP family.
pub fn address_types(svc: &Service) -> Vec<String> {
    let families = svc.spec.as_ref().and_then(|s| s.ip_families.clone()).unwrap_or_default();
    if families.is_empty() { vec![pods::service_ip_family(svc).to_string()] } else { families }
}

/// What identifies an endpoint across updates: the pod it stands for.
pub fn endpoint_key(ep: &Endpoint) -> String {
    match ep.target_ref.as_ref().and_then(|r| r.uid.as_deref()) {
        Some(uid) => format!("uid:{uid}"),
        None => format!("ip:{}", ep.addresses.first().map(String::as_str).unwrap_or_default()),
    }
}

fn ports_for(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let Some(spec) = svc.spec.as_ref() else { return Vec::new() };
    spec.ports
        .iter()
        .flatten()
        .filter_map(|port| {
            let number = pods::find_port(pod, port)?;
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

fn endpoint_for(svc: &Service, pod: &Pod, ip: String, zone: Option<String>) -> Endpoint {
    let publish_not_ready = svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let serving = pods::is_ready(pod);
    let terminating = pods::is_terminating(pod);
    // A terminating pod is never "ready", unless the Service publishes every address.
    let ready = publish_not_ready || (serving && !terminating);
    let spec = pod.spec.as_ref();
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: pods::should_set_hostname(pod, svc).then(|| spec.and_then(|s| s.hostname.clone())).flatten(),
        node_name: spec.and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        zone,
        ..Default::default()
    }
}

/// The desired endpoints of `svc` from the pods it selects; `zone_of` gives a
/// node's topology zone.
pub fn desired(svc: &Service, selected: &[Arc<Pod>], zone_of: impl Fn(&str) -> Option<String>) -> Desired {
    let mut out = Desired::new();
    let types = address_types(svc);
    for t in &types {
        out.entry(t.clone()).or_default();
    }
    for pod in selected {
        // Terminating pods stay, marked as such, so proxies can drain them.
        if !pods::should_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = ports_for(svc, pod);
        let key = ports_key(&ports);
        let zone = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(&zone_of);
        for t in &types {
            let Some(ip) = pods::ip_of_family(pod, t) else { continue };
            let group = out
                .entry(t.clone())
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| Group { ports: ports.clone(), endpoints: Vec::new() });
            group.endpoints.push(endpoint_for(svc, pod, ip, zone.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::pods::tests::pod;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    pub fn service(target: IntOrString, publish_not_ready: bool) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("svc-uid".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_string(), "web".to_string())].into()),
                cluster_ip: Some("10.43.0.10".into()),
                ip_families: Some(vec!["IPv4".into()]),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: Some(target),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                publish_not_ready_addresses: Some(publish_not_ready),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn conditions(ep: &Endpoint) -> (bool, bool, bool) {
        let c = ep.conditions.as_ref().unwrap();
        (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let svc = service(IntOrString::Int(8080), false);
        let mut terminating = pod("c", "10.42.0.4", true, &[]);
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        let pods = vec![
            Arc::new(pod("a", "10.42.0.2", true, &[])),
            Arc::new(pod("b", "10.42.0.3", false, &[])),
            Arc::new(terminating),
        ];
        let d = desired(&svc, &pods, |_| Some("zone-a".into()));
        let group = d["IPv4"].values().next().unwrap();
        assert_eq!(group.ports[0].port, Some(8080));
        let eps = &group.endpoints;
        assert_eq!(conditions(&eps[0]), (true, true, false));
        assert_eq!(conditions(&eps[1]), (false, false, false));
        assert_eq!(conditions(&eps[2]), (false, true, true));
        assert_eq!(eps[0].zone.as_deref(), Some("zone-a"));
        assert_eq!(eps[0].node_name.as_deref(), Some("node-1"));
        assert_eq!(eps[0].target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
    }

    #[test]
    fn publish_not_ready_marks_every_endpoint_ready() {
        let svc = service(IntOrString::Int(8080), true);
        let d = desired(&svc, &[Arc::new(pod("b", "10.42.0.3", false, &[]))], |_| None);
        let ep = &d["IPv4"].values().next().unwrap().endpoints[0];
        assert_eq!(conditions(ep), (true, false, false));
    }

    #[test]
    fn named_ports_group_endpoints_by_resolved_ports() {
        let svc = service(IntOrString::String("http".into()), false);
        let pods = vec![
            Arc::new(pod("a", "10.42.0.2", true, &[("http", 8080)])),
            Arc::new(pod("b", "10.42.0.3", true, &[("http", 9090)])),
            Arc::new(pod("c", "10.42.0.4", true, &[])),
        ];
        let d = desired(&svc, &pods, |_| None);
        let groups = &d["IPv4"];
        assert_eq!(groups.len(), 3, "8080, 9090 and no port at all");
        let no_ports = groups.get(&Vec::new()).unwrap();
        assert_eq!(no_ports.endpoints[0].addresses, ["10.42.0.4"]);
    }

    #[test]
    fn every_address_type_is_present_even_without_pods() {
        let svc = service(IntOrString::Int(80), false);
        let d = desired(&svc, &[], |_| None);
        assert!(d["IPv4"].is_empty());
        assert_eq!(d.len(), 1);
    }
}
