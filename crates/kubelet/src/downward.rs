//! The downward API: pod fields (`metadata.name`, `metadata.labels['k']`,
//! `status.podIP`, ...) and container resources (`limits.memory` with a divisor),
//! as environment variables and volume files see them.

use k3rs_api::kinds::common::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};

/// The node's allocatable resources: what an unset limit reports.
#[derive(Debug, Clone, Default)]
pub struct Allocatable {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
}

impl Allocatable {
    /// From a Node's allocatable map (e.g. [`crate::node::machine::Machine::allocatable`]).
    pub fn from_resources(resources: &std::collections::BTreeMap<String, String>) -> Allocatable {
        Allocatable {
            cpu: resources.get("cpu").cloned(),
            memory: resources.get("memory").cloned(),
            ephemeral_storage: resources.get("ephemeral-storage").cloned(),
        }
    }
}

fn map_entry(map: Option<&std::collections::BTreeMap<String, String>>, key: &str) -> String {
    map.and_then(|m| m.get(key)).cloned().unwrap_or_default()
}

/// `key=value` lines, sorted, values quoted as upstream writes label and annotation files.
pub fn format_map(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.map(|m| m.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// The value of a pod field path.
pub fn field(pod: &Pod, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(String::from)
    };
    if let Some(key) = subscript("metadata.labels") {
        return Ok(map_entry(meta.labels.as_ref(), &key));
    }
    if let Some(key) = subscript("metadata.annotations") {
        return Ok(map_entry(meta.annotations.as_ref(), &key));
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.hostIPs" => status
            .and_then(|s| s.host_ips.as_ref())
            .map(|ips| ips.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "status.podIPs" => status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|ips| ips.iter().map(|i| i.ip.clone()).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

/// The value of a container resource, divided by the divisor and rounded up.
pub fn resource(container: &Container, sel: &ResourceFieldSelector, node: &Allocatable) -> Result<String, String> {
    let (kind, name) =
        sel.resource.split_once('.').ok_or_else(|| format!("unsupported container resource: {}", sel.resource))?;
    let res = container.resources.as_ref();
    let pick = |m: Option<
        &std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { m.and_then(|m| m.get(name)).map(|q| q.0.clone()) };
    let value = match kind {
        "limits" => pick(res.and_then(|r| r.limits.as_ref())).or_else(|| match name {
            "cpu" => node.cpu.clone(),
            "memory" => node.memory.clone(),
            "ephemeral-storage" => node.ephemeral_storage.clone(),
            _ => None,
        }),
        "requests" => pick(res.and_then(|r| r.requests.as_ref())),
        _ => return Err(format!("unsupported container resource: {}", sel.resource)),
    }
    .unwrap_or_else(|| "0".to_string());
    let quantity = Quantity::parse(&value).ok_or_else(|| format!("invalid quantity {value:?}"))?;
    let divisor_text =
        sel.divisor.as_ref().map(|d| d.0.clone()).filter(|d| !d.is_empty()).unwrap_or_else(|| "1".into());
    let divisor = Quantity::parse(&divisor_text).ok_or_else(|| format!("invalid divisor {divisor_text:?}"))?;
    quantity.div_ceil(&divisor).map(|v| v.to_string()).ok_or_else(|| "the divisor must not be zero".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocatable_from_node_resources() {
        let map = std::collections::BTreeMap::from([
            ("cpu".to_string(), "4".to_string()),
            ("memory".to_string(), "8Gi".to_string()),
            ("pods".to_string(), "110".to_string()),
        ]);
        let a = Allocatable::from_resources(&map);
        assert_eq!((a.cpu.as_deref(), a.memory.as_deref(), a.ephemeral_storage), (Some("4"), Some("8Gi"), None));
    }

    #[test]
    fn fields_and_resources() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "labels": {"b": "2", "a": "1"}},
            "status": {"podIPs": [{"ip": "10.42.0.1"}, {"ip": "fd00::1"}]}}))
        .unwrap();
        assert_eq!(field(&pod, "metadata.labels").unwrap(), "a=\"1\"\nb=\"2\"");
        assert_eq!(field(&pod, "metadata.labels['b']").unwrap(), "2");
        assert_eq!(field(&pod, "status.podIPs").unwrap(), "10.42.0.1,fd00::1");
        assert!(field(&pod, "spec.bogus").is_err());
        let c: Container =
            serde_json::from_value(json!({"name": "c", "resources": {"requests": {"cpu": "250m"}}})).unwrap();
        let sel = |r: &str, d: Option<&str>| -> ResourceFieldSelector {
            serde_json::from_value(json!({"resource": r, "divisor": d})).unwrap()
        };
        assert_eq!(resource(&c, &sel("requests.cpu", None), &Allocatable::default()).unwrap(), "1");
        assert_eq!(resource(&c, &sel("requests.cpu", Some("1m")), &Allocatable::default()).unwrap(), "250");
        let node = Allocatable { cpu: Some("2".into()), memory: Some("1Gi".into()), ephemeral_storage: None };
        assert_eq!(resource(&c, &sel("limits.cpu", None), &node).unwrap(), "2");
        assert_eq!(resource(&c, &sel("limits.memory", Some("1Mi")), &node).unwrap(), "1024");
    }
}
