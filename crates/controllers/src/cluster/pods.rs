//! What controllers ask of a pod: is it Ready, terminal, addressable; which
//! container port a Service port targets.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `podutil.IsPodReady`: the Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Succeeded or Failed: the pod's containers will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Every address of the pod, primary first.
pub fn ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else { return Vec::new() };
    let mut out: Vec<String> =
        status.pod_ips.iter().flatten().map(|p| p.ip.clone()).filter(|ip| !ip.is_empty()).collect();
    if let Some(ip) = status.pod_ip.as_ref().filter(|ip| !ip.is_empty())
        && !out.contains(ip)
    {
        out.insert(0, ip.clone());
    }
    out
}

/// `ShouldPodBeInEndpoints`: not terminal, has an address, and not terminating
/// unless terminating pods are wanted.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    !is_terminal(pod) && !ips(pod).is_empty() && (include_terminating || !is_terminating(pod))
}

/// `IPv4` or `IPv6` for an address.
pub fn ip_family(ip: &str) -> Option<&'static str> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some("IPv4"),
        IpAddr::V6(_) => Some("IPv6"),
    }
}

/// The pod's address of `family`.
pub fn ip_of_family(pod: &Pod, family: &str) -> Option<String> {
    ips(pod).into_iter().find(|ip| ip_family(ip) == Some(family))
}

/// The IP family a Service's endpoints use: its first `ipFamilies` entry, else
/// that of its cluster IP, else (headless without families) IPv4.
pub fn service_ip_family(svc: &Service) -> &str {
    let spec = svc.spec.as_ref();
    if let Some(f) = spec.and_then(|s| s.ip_families.as_ref()).and_then(|f| f.first()) {
        return f.as_str();
    }
    spec.and_then(|s| s.cluster_ip.as_deref()).and_then(ip_family).unwrap_or("IPv4")
}

/// `podutil.FindPort`: the container port a Service port targets on this pod.
/// Named target ports are looked up in the containers (and restartable init
/// containers) by name and protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(s)) => {
            // A numeric string is a number (older clients send these).
            if let Ok(n) = s.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            let sidecars =
                spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers.iter().chain(sidecars).flat_map(|c| c.ports.iter().flatten()).find_map(|p| {
                (p.name.as_deref() == Some(s.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                    .then_some(p.container_port)
            })
        }
    }
}

/// `ShouldSetHostname`: the pod asked for a hostname under this Service's subdomain.
pub fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodCondition, PodIP, PodSpec, PodStatus};

    /// A pod with `ip`, readiness and named container ports, for tests.
    pub fn pod(name: &str, ip: &str, ready: bool, ports: &[(&str, i32)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(
                        ports
                            .iter()
                            .map(|(n, p)| ContainerPort {
                                name: Some(n.to_string()),
                                container_port: *p,
                                protocol: Some("TCP".into()),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
                pod_ips: (!ip.is_empty()).then(|| vec![PodIP { ip: ip.to_string() }]),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn svc_port(target: Option<IntOrString>, protocol: &str) -> ServicePort {
        ServicePort { port: 80, target_port: target, protocol: Some(protocol.into()), ..Default::default() }
    }

    #[test]
    fn readiness_terminal_and_addresses() {
        let mut p = pod("a", "10.0.0.1", true, &[]);
        assert!(is_ready(&p) && should_be_in_endpoints(&p, false));
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!should_be_in_endpoints(&p, true));
        let no_ip = pod("b", "", true, &[]);
        assert!(!should_be_in_endpoints(&no_ip, true));
        let mut terminating = pod("c", "10.0.0.3", true, &[]);
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
        assert!(!should_be_in_endpoints(&terminating, false));
        assert!(should_be_in_endpoints(&terminating, true));
    }

    #[test]
    fn named_ports_resolve_per_pod_and_protocol() {
        let p = pod("a", "10.0.0.1", true, &[("http", 8080)]);
        assert_eq!(find_port(&p, &svc_port(Some(IntOrString::String("http".into())), "TCP")), Some(8080));
        assert_eq!(find_port(&p, &svc_port(Some(IntOrString::String("http".into())), "UDP")), None);
        assert_eq!(find_port(&p, &svc_port(Some(IntOrString::String("grpc".into())), "TCP")), None);
        assert_eq!(find_port(&p, &svc_port(Some(IntOrString::Int(9000)), "TCP")), Some(9000));
        assert_eq!(find_port(&p, &svc_port(None, "TCP")), Some(80));
    }

    #[test]
    fn families() {
        let p = pod("a", "10.0.0.1", true, &[]);
        assert_eq!(ip_of_family(&p, "IPv4").as_deref(), Some("10.0.0.1"));
        assert_eq!(ip_of_family(&p, "IPv6"), None);
        assert_eq!(ip_family("fd00::1"), Some("IPv6"));
    }
}
