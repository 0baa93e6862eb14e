//! Where a pod's streaming request goes: which container (upstream's rules and messages),
//! which kubelet (the node's address and port), and the kubelet path and query.

use k3rs_api::{ApiError, Reason, meta};
use serde_json::Value;

use crate::rest::query::Query;

/// The kubelet port when a node does not announce one.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Address types tried in order (K3s' `--kubelet-preferred-address-types`).
const PREFERRED_ADDRESS_TYPES: [&str; 3] = ["InternalIP", "ExternalIP", "Hostname"];

/// The subresources served by kubelets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Log,
    Exec,
    Attach,
    PortForward,
}

impl StreamKind {
    pub fn from_subresource(sub: &str) -> Option<Self> {
        match sub {
            "log" => Some(StreamKind::Log),
            "exec" => Some(StreamKind::Exec),
            "attach" => Some(StreamKind::Attach),
            "portforward" => Some(StreamKind::PortForward),
            _ => None,
        }
    }

    pub fn as_subresource(self) -> &'static str {
        match self {
            StreamKind::Log => "log",
            StreamKind::Exec => "exec",
            StreamKind::Attach => "attach",
            StreamKind::PortForward => "portforward",
        }
    }
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The container a request is for: the one named (which must exist in the pod, as a
/// container, init container or ephemeral container), or the pod's only container.
pub fn resolve_container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let pod_name = meta::name(pod);
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(name) => {
            if containers.iter().chain(&init).chain(&ephemeral).any(|c| c == name) {
                Ok(name.to_string())
            } else {
                Err(ApiError::bad_request(format!("container {name} is not valid for pod {pod_name}")))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {pod_name}"))),
            _ => {
                // Upstream lists every container kind, init containers first, Go-slice style.
                let all: Vec<&str> = init.iter().chain(&containers).chain(&ephemeral).map(String::as_str).collect();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
        },
    }
}

/// The kubelet of a node: host (IP or name) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for KubeletAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where a node's kubelet listens: the first preferred address of `status.addresses` and
/// `status.daemonEndpoints.kubeletEndpoint.Port`.
pub fn kubelet_address(node: &Value) -> Result<KubeletAddress, ApiError> {
    let name = meta::name(node);
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array).cloned().unwrap_or_default();
    let host = PREFERRED_ADDRESS_TYPES
        .iter()
        .find_map(|ty| {
            addresses.iter().find(|a| a["type"] == *ty).and_then(|a| a["address"].as_str()).filter(|a| !a.is_empty())
        })
        .ok_or_else(|| {
            ApiError::new(
                Reason::ServiceUnavailable,
                format!(
                    "node {name:?} has no address to reach its kubelet at (no InternalIP, ExternalIP or Hostname in status.addresses)"
                ),
            )
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(KubeletAddress { host: host.to_string(), port })
}

fn encode(pairs: &[(&str, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

fn segment(s: &str) -> String {
    // Names are DNS labels/subdomains; escape anything else rather than trust it.
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The kubelet path and query of a request for `pod` (`container` is `None` only for
/// port-forward).
pub fn kubelet_path(kind: StreamKind, namespace: &str, pod: &str, container: Option<&str>, query: &Query) -> String {
    let (ns, pod) = (segment(namespace), segment(pod));
    let container = segment(container.unwrap_or(""));
    let truthy = |name: &str| matches!(query.get(name), Some("true" | "1" | "True" | "TRUE" | "t" | "T"));
    let streams = || {
        let mut pairs = Vec::new();
        for (param, kubelet_param) in [("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")] {
            if truthy(param) {
                pairs.push((kubelet_param, "1".to_string()));
            }
        }
        pairs
    };
    let (path, pairs) = match kind {
        StreamKind::Log => {
            let mut pairs = Vec::new();
            for flag in ["follow", "previous", "timestamps"] {
                if truthy(flag) {
                    pairs.push((flag, "true".to_string()));
                }
            }
            for param in ["sinceSeconds", "sinceTime", "tailLines", "limitBytes"] {
                if let Some(v) = query.get(param).filter(|v| !v.is_empty()) {
                    pairs.push((param, v.to_string()));
                }
            }
            (format!("/containerLogs/{ns}/{pod}/{container}"), pairs)
        }
        StreamKind::Exec => {
            let mut pairs = streams();
            pairs.extend(query.get_all("command").into_iter().map(|c| ("command", c.to_string())));
            (format!("/exec/{ns}/{pod}/{container}"), pairs)
        }
        StreamKind::Attach => (format!("/attach/{ns}/{pod}/{container}"), streams()),
        StreamKind::PortForward => {
            let pairs = query.get_all("ports").into_iter().map(|p| ("port", p.to_string())).collect();
            (format!("/portForward/{ns}/{pod}"), pairs)
        }
    };
    if pairs.is_empty() { path } else { format!("{path}?{}", encode(&pairs)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let list = |names: &[&str]| names.iter().map(|n| json!({"name": n, "image": "x"})).collect::<Vec<_>>();
        json!({"metadata": {"name": "web"}, "spec": {"containers": list(containers), "initContainers": list(init)}})
    }

    #[test]
    fn container_choice_follows_upstream() {
        assert_eq!(resolve_container(&pod(&["app"], &[]), None).unwrap(), "app");
        assert_eq!(resolve_container(&pod(&["a", "b"], &["setup"]), Some("setup")).unwrap(), "setup");
        let e = resolve_container(&pod(&["a", "b"], &[]), None).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod web, choose one of: [a b]");
        assert_eq!(e.code, 400);
        let e = resolve_container(&pod(&["a", "b"], &["init"]), Some("")).unwrap_err();
        assert_eq!(e.message, "a container name must be specified for pod web, choose one of: [init a b]");
        let e = resolve_container(&pod(&["a"], &[]), Some("zz")).unwrap_err();
        assert_eq!(e.message, "container zz is not valid for pod web");
    }

    #[test]
    fn kubelet_address_prefers_internal_ip_and_defaults_the_port() {
        let node = json!({"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}}}});
        assert_eq!(kubelet_address(&node).unwrap(), KubeletAddress { host: "10.0.0.5".into(), port: 12345 });
        let node =
            json!({"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(kubelet_address(&node).unwrap().to_string(), "n1:10250");
        let e = kubelet_address(&json!({"metadata": {"name": "n1"}})).unwrap_err();
        assert_eq!(e.code, 503);
        let v6 = KubeletAddress { host: "fd00::1".into(), port: 10250 };
        assert_eq!(v6.to_string(), "[fd00::1]:10250");
    }

    #[test]
    fn kubelet_paths() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo a%26b&container=c&stdout=true&stderr=true&tty=false",
        ));
        assert_eq!(
            kubelet_path(StreamKind::Exec, "default", "web", Some("c"), &q),
            "/exec/default/web/c?output=1&error=1&command=sh&command=-c&command=echo+a%26b"
        );
        let q = Query::parse(Some("container=c&follow=true&tailLines=5&timestamps=true&sinceSeconds=10"));
        assert_eq!(
            kubelet_path(StreamKind::Log, "ns", "p", Some("c"), &q),
            "/containerLogs/ns/p/c?follow=true&timestamps=true&sinceSeconds=10&tailLines=5"
        );
        assert_eq!(kubelet_path(StreamKind::PortForward, "ns", "p", None, &Query::parse(None)), "/portForward/ns/p");
        assert_eq!(
            kubelet_path(StreamKind::Attach, "ns", "p", Some("c"), &Query::parse(Some("stdin=1&stdout=1"))),
            "/attach/ns/p/c?input=1&output=1"
        );
    }
}
