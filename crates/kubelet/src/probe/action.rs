//! What a probe (or lifecycle hook) checks, with named ports resolved against the
//! container's ports and the host defaulting to the pod's IP, as upstream does.

use k8s_openapi::api::core::v1::{Container, ExecAction, GRPCAction, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec { command: Vec<String> },
    HttpGet { scheme: String, host: String, port: u16, path: String, headers: Vec<(String, String)> },
    TcpSocket { host: String, port: u16 },
    Grpc { host: String, port: u16, service: Option<String> },
}

/// A port by number or by the name of one of the container's ports.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => {
            u16::try_from(*n).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {n}"))
        }
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {name} in {}", container.name))
        }
    }
}

fn http_action(h: &HTTPGetAction, pod_ip: &str, container: &Container) -> Result<Action, String> {
    let port = resolve_port(&h.port, container)?;
    let mut path = h.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Ok(Action::HttpGet {
        scheme: h.scheme.clone().unwrap_or_else(|| "HTTP".into()).to_uppercase(),
        host: h.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string()),
        port,
        path,
        headers: h.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect(),
    })
}

fn tcp_action(t: &TCPSocketAction, pod_ip: &str, container: &Container) -> Result<Action, String> {
    Ok(Action::TcpSocket {
        host: t.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string()),
        port: resolve_port(&t.port, container)?,
    })
}

fn exec_action(e: &ExecAction) -> Action {
    Action::Exec { command: e.command.clone().unwrap_or_default() }
}

fn grpc_action(g: &GRPCAction, pod_ip: &str) -> Result<Action, String> {
    let port =
        u16::try_from(g.port).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {}", g.port))?;
    Ok(Action::Grpc { host: pod_ip.to_string(), port, service: g.service.clone() })
}

/// The action of a probe; `Err` describes why it cannot run (reported as a probe error).
pub fn resolve_action(probe: &Probe, pod_ip: &str, container: &Container) -> Result<Action, String> {
    if let Some(e) = &probe.exec {
        return Ok(exec_action(e));
    }
    if let Some(h) = &probe.http_get {
        return http_action(h, pod_ip, container);
    }
    if let Some(t) = &probe.tcp_socket {
        return tcp_action(t, pod_ip, container);
    }
    if let Some(g) = &probe.grpc {
        return grpc_action(g, pod_ip);
    }
    Err("missing probe handler".to_string())
}

/// The action of a lifecycle handler (postStart/preStop); `sleep` is handled by the caller.
pub fn resolve_handler(
    handler: &k8s_openapi::api::core::v1::LifecycleHandler,
    pod_ip: &str,
    container: &Container,
) -> Option<Result<Action, String>> {
    if let Some(e) = &handler.exec {
        return Some(Ok(exec_action(e)));
    }
    if let Some(h) = &handler.http_get {
        return Some(http_action(h, pod_ip, container));
    }
    if let Some(t) = &handler.tcp_socket {
        return Some(tcp_action(t, pod_ip, container));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container() -> Container {
        serde_json::from_value(json!({"name": "c", "ports": [{"name": "http", "containerPort": 8080}]})).unwrap()
    }

    #[test]
    fn named_ports_and_default_host() {
        let probe: Probe = serde_json::from_value(json!({"httpGet": {"port": "http", "path": "healthz",
            "httpHeaders": [{"name": "X", "value": "y"}]}}))
        .unwrap();
        assert_eq!(
            resolve_action(&probe, "10.42.0.5", &container()).unwrap(),
            Action::HttpGet {
                scheme: "HTTP".into(),
                host: "10.42.0.5".into(),
                port: 8080,
                path: "/healthz".into(),
                headers: vec![("X".into(), "y".into())]
            }
        );
        let probe: Probe = serde_json::from_value(json!({"tcpSocket": {"port": "nope"}})).unwrap();
        assert_eq!(resolve_action(&probe, "10.42.0.5", &container()).unwrap_err(), "couldn't find port: nope in c");
        let probe: Probe = serde_json::from_value(json!({"tcpSocket": {"port": 53, "host": "127.0.0.1"}})).unwrap();
        assert_eq!(
            resolve_action(&probe, "10.42.0.5", &container()).unwrap(),
            Action::TcpSocket { host: "127.0.0.1".into(), port: 53 }
        );
    }
}
