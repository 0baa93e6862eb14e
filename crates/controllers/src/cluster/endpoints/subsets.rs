//! The subsets of a Service's Endpoints, computed from its pods: each pod that
//! should be an endpoint contributes its address (ready or not ready) for every
//! Service port its containers resolve; addresses offering the same ports are
//! then packed into one subset, as upstream's `RepackSubsets` does.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service};

use crate::cluster::pods;

/// Upstream caps an Endpoints object at 1000 addresses (the rest go to EndpointSlices).
pub const MAX_ADDRESSES: usize = 1000;

/// One (address, port) pair before packing; `port` is `None` for a headless
/// Service without ports.
struct Entry {
    address: EndpointAddress,
    ready: bool,
    port: Option<EndpointPort>,
}

fn address_for(svc: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let ip = pods::ip_of_family(pod, pods::service_ip_family(svc))?;
    let spec = pod.spec.as_ref();
    Some(EndpointAddress {
        ip,
        node_name: spec.and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty()),
        hostname: pods::should_set_hostname(pod, svc).then(|| spec.and_then(|s| s.hostname.clone())).flatten(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
    })
}

/// The subsets `svc` should have, given the pods its selector selects.
pub fn desired(svc: &Service, selected: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.unwrap_or_default();
    let mut entries = Vec::new();
    for pod in selected {
        if !pods::should_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        // A pod without an address of the Service's family cannot serve it.
        let Some(address) = address_for(svc, pod) else { continue };
        let ready = publish_not_ready || pods::is_ready(pod);
        if ports.is_empty() {
            // Only a headless Service may have no ports.
            if headless {
                entries.push(Entry { address, ready, port: None });
            }
            continue;
        }
        for port in &ports {
            let Some(number) = pods::find_port(pod, port) else { continue };
            entries.push(Entry {
                address: address.clone(),
                ready,
                port: Some(EndpointPort {
                    name: port.name.clone().filter(|n| !n.is_empty()),
                    port: number,
                    protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: port.app_protocol.clone(),
                }),
            });
        }
    }
    repack(entries)
}

type AddressKey = (String, String);

fn address_key(a: &EndpointAddress) -> AddressKey {
    (a.ip.clone(), a.target_ref.as_ref().and_then(|r| r.uid.clone()).unwrap_or_default())
}

type PortKey = Option<(String, i32, String)>;

fn port_key(p: &Option<EndpointPort>) -> PortKey {
    p.as_ref().map(|p| (p.name.clone().unwrap_or_default(), p.port, p.protocol.clone().unwrap_or_default()))
}

/// The addresses offering one port; a ready entry wins over a not-ready one.
struct Offering {
    port: Option<EndpointPort>,
    addresses: BTreeMap<AddressKey, (EndpointAddress, bool)>,
}

/// Addresses (with readiness) and the ports each of them offers.
struct Packed {
    addresses: Vec<(EndpointAddress, bool)>,
    ports: Vec<EndpointPort>,
}

/// Groups addresses by the exact set of ports they offer.
fn repack(entries: Vec<Entry>) -> Vec<EndpointSubset> {
    let mut by_port: BTreeMap<PortKey, Offering> = BTreeMap::new();
    for e in entries {
        let offering = by_port
            .entry(port_key(&e.port))
            .or_insert_with(|| Offering { port: e.port.clone(), addresses: BTreeMap::new() });
        let key = address_key(&e.address);
        let ready = e.ready || offering.addresses.get(&key).is_some_and(|(_, r)| *r);
        offering.addresses.insert(key, (e.address, ready));
    }
    // Ports offered by exactly the same addresses share a subset.
    let mut by_addresses: BTreeMap<Vec<(AddressKey, bool)>, Packed> = BTreeMap::new();
    for offering in by_port.into_values() {
        let signature: Vec<(AddressKey, bool)> = offering.addresses.iter().map(|(k, (_, r))| (k.clone(), *r)).collect();
        let packed = by_addresses
            .entry(signature)
            .or_insert_with(|| Packed { addresses: offering.addresses.into_values().collect(), ports: Vec::new() });
        if let Some(p) = offering.port {
            packed.ports.push(p);
        }
    }
    by_addresses
        .into_values()
        .map(|packed| {
            let (ready, not_ready): (Vec<_>, Vec<_>) = packed.addresses.into_iter().partition(|(_, r)| *r);
            let strip = |v: Vec<(EndpointAddress, bool)>| {
                let v: Vec<EndpointAddress> = v.into_iter().map(|(a, _)| a).collect();
                (!v.is_empty()).then_some(v)
            };
            EndpointSubset {
                addresses: strip(ready),
                not_ready_addresses: strip(not_ready),
                ports: (!packed.ports.is_empty()).then_some(packed.ports),
            }
        })
        .collect()
}

/// Caps the subsets at `max` addresses in total, keeping ready addresses first;
/// returns whether anything was dropped.
pub fn truncate(subsets: &mut Vec<EndpointSubset>, max: usize) -> bool {
    let total: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len) + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if total <= max {
        return false;
    }
    let mut budget = max;
    for s in subsets.iter_mut() {
        if let Some(a) = s.addresses.as_mut() {
            a.truncate(budget);
            budget -= a.len();
        }
    }
    for s in subsets.iter_mut() {
        if let Some(a) = s.not_ready_addresses.as_mut() {
            a.truncate(budget);
            budget -= a.len();
        }
    }
    for s in subsets.iter_mut() {
        if s.addresses.as_ref().is_some_and(Vec::is_empty) {
            s.addresses = None;
        }
        if s.not_ready_addresses.as_ref().is_some_and(Vec::is_empty) {
            s.not_ready_addresses = None;
        }
    }
    subsets.retain(|s| s.addresses.is_some() || s.not_ready_addresses.is_some());
    true
}

/// Subsets compared without the target references' resourceVersions, which
/// change with every pod update that does not matter here.
pub fn equal_ignoring_resource_versions(a: &[EndpointSubset], b: &[EndpointSubset]) -> bool {
    fn strip(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
        let mut out = subsets.to_vec();
        for s in &mut out {
            for a in s.addresses.iter_mut().flatten().chain(s.not_ready_addresses.iter_mut().flatten()) {
                if let Some(r) = a.target_ref.as_mut() {
                    r.resource_version = None;
                }
            }
        }
        out
    }
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::pods::tests::pod;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn service(ports: Vec<ServicePort>, publish_not_ready: bool) -> Service {
        Service {
            metadata: ObjectMeta { name: Some("web".into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_string(), "web".to_string())].into()),
                cluster_ip: Some("10.43.0.10".into()),
                ports: Some(ports),
                publish_not_ready_addresses: Some(publish_not_ready),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            port,
            target_port: Some(target),
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    fn ips(v: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        v.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn only_ready_pods_are_addresses() {
        let svc = service(vec![port("http", 80, IntOrString::Int(8080))], false);
        let pods = vec![Arc::new(pod("a", "10.42.0.2", true, &[])), Arc::new(pod("b", "10.42.0.3", false, &[]))];
        let subsets = desired(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.42.0.3"]);
        let ports = subsets[0].ports.as_ref().unwrap();
        assert_eq!((ports[0].port, ports[0].name.as_deref()), (8080, Some("http")));
        let a = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(a.node_name.as_deref(), Some("node-1"));
        assert_eq!(a.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
    }

    #[test]
    fn publish_not_ready_addresses_makes_every_pod_ready() {
        let svc = service(vec![port("http", 80, IntOrString::Int(8080))], true);
        let pods = vec![Arc::new(pod("b", "10.42.0.3", false, &[]))];
        let subsets = desired(&svc, &pods);
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.3"]);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn named_ports_split_pods_into_subsets_by_resolved_port() {
        let svc = service(vec![port("web", 80, IntOrString::String("http".into()))], false);
        let pods = vec![
            Arc::new(pod("a", "10.42.0.2", true, &[("http", 8080)])),
            Arc::new(pod("b", "10.42.0.3", true, &[("http", 9090)])),
            Arc::new(pod("c", "10.42.0.4", true, &[("other", 1)])),
            Arc::new(pod("d", "10.42.0.5", true, &[("http", 8080)])),
        ];
        let subsets = desired(&svc, &pods);
        assert_eq!(subsets.len(), 2, "{subsets:?}");
        let by_port: BTreeMap<i32, Vec<&str>> =
            subsets.iter().map(|s| (s.ports.as_ref().unwrap()[0].port, ips(&s.addresses))).collect();
        assert_eq!(by_port[&8080], ["10.42.0.2", "10.42.0.5"]);
        assert_eq!(by_port[&9090], ["10.42.0.3"]);
    }

    #[test]
    fn addresses_offering_the_same_ports_share_a_subset() {
        let svc = service(
            vec![port("http", 80, IntOrString::Int(8080)), port("metrics", 9100, IntOrString::Int(9100))],
            false,
        );
        let pods = vec![Arc::new(pod("a", "10.42.0.2", true, &[])), Arc::new(pod("b", "10.42.0.3", true, &[]))];
        let subsets = desired(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(subsets[0].ports.as_ref().unwrap().len(), 2);
        assert_eq!(ips(&subsets[0].addresses).len(), 2);
    }

    #[test]
    fn headless_without_ports_lists_addresses_only() {
        let mut svc = service(vec![], false);
        svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        let subsets = desired(&svc, &[Arc::new(pod("a", "10.42.0.2", true, &[]))]);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        assert_eq!(ips(&subsets[0].addresses), ["10.42.0.2"]);
        // A ClusterIP Service without ports has no endpoints at all.
        let svc = service(vec![], false);
        assert!(desired(&svc, &[Arc::new(pod("a", "10.42.0.2", true, &[]))]).is_empty());
    }

    #[test]
    fn pods_without_addresses_or_finished_are_left_out() {
        let svc = service(vec![port("http", 80, IntOrString::Int(80))], false);
        let mut done = pod("done", "10.42.0.9", true, &[]);
        done.status.as_mut().unwrap().phase = Some("Failed".into());
        let pods = vec![Arc::new(pod("pending", "", false, &[])), Arc::new(done)];
        assert!(desired(&svc, &pods).is_empty());
    }

    #[test]
    fn hostname_is_set_for_pods_in_the_service_subdomain() {
        let svc = service(vec![port("http", 80, IntOrString::Int(80))], false);
        let mut p = pod("a", "10.42.0.2", true, &[]);
        let spec = p.spec.as_mut().unwrap();
        spec.hostname = Some("a-host".into());
        spec.subdomain = Some("web".into());
        let subsets = desired(&svc, &[Arc::new(p)]);
        assert_eq!(subsets[0].addresses.as_ref().unwrap()[0].hostname.as_deref(), Some("a-host"));
    }

    #[test]
    fn truncation_keeps_ready_addresses_first() {
        let svc = service(vec![port("http", 80, IntOrString::Int(80))], false);
        let pods: Vec<_> =
            (0..6).map(|i| Arc::new(pod(&format!("p{i}"), &format!("10.42.0.{i}"), i < 3, &[]))).collect();
        let mut subsets = desired(&svc, &pods);
        assert!(truncate(&mut subsets, 4));
        assert_eq!(ips(&subsets[0].addresses).len(), 3);
        assert_eq!(ips(&subsets[0].not_ready_addresses).len(), 1);
        assert!(!truncate(&mut subsets, 4));
    }

    #[test]
    fn comparison_ignores_target_resource_versions() {
        let svc = service(vec![port("http", 80, IntOrString::Int(80))], false);
        let a = desired(&svc, &[Arc::new(pod("a", "10.42.0.2", true, &[]))]);
        let mut b = a.clone();
        b[0].addresses.as_mut().unwrap()[0].target_ref.as_mut().unwrap().resource_version = Some("7".into());
        assert!(equal_ignoring_resource_versions(&a, &b));
        b[0].addresses.as_mut().unwrap()[0].ip = "10.42.0.3".into();
        assert!(!equal_ignoring_resource_versions(&a, &b));
    }
}
