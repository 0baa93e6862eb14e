//! What the scheduler needs to know about a pod, computed once per pod version: its
//! requests, priority, host ports, affinity terms and controller, so that filters and
//! scores over many nodes do not re-derive them.

use std::collections::{BTreeMap, BTreeSet};

use k3rs_api::scheduling::{LabelMatcher, ResourceAmounts, pod_requests, pod_requests_by, quantity_amount};
use k8s_openapi::api::core::v1::{Container, Pod, PodAffinityTerm, WeightedPodAffinityTerm};

/// Upstream's defaults for a container that requests no CPU or memory, used only for scoring
/// so that best-effort pods still spread.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A host port a pod binds on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Two bindings conflict on the same port and protocol when either listens on all
    /// addresses or both on the same one.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        let any = |ip: &str| ip.is_empty() || ip == "0.0.0.0" || ip == "::";
        self.port == other.port
            && self.protocol == other.protocol
            && (any(&self.ip) || any(&other.ip) || self.ip == other.ip)
    }
}

/// Which namespaces an affinity term looks at.
#[derive(Debug, Clone)]
pub struct NamespaceScope {
    pub names: BTreeSet<String>,
    /// `namespaceSelector`; `None` when the term has none.
    pub selector: Option<LabelMatcher>,
}

impl NamespaceScope {
    pub fn contains(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.names.contains(namespace) || self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// A pod (anti-)affinity term, compiled.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub selector: LabelMatcher,
    pub namespaces: NamespaceScope,
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(owner: &Pod, term: &PodAffinityTerm) -> AffinityTerm {
        let own_labels = owner.metadata.labels.as_ref();
        let mut selector = LabelMatcher::new(term.label_selector.as_ref());
        // matchLabelKeys/mismatchLabelKeys merge the owner's own label values in.
        for key in term.match_label_keys.iter().flatten() {
            if let Some(v) = own_labels.and_then(|l| l.get(key)) {
                selector.require_equal(key, v);
            }
        }
        for key in term.mismatch_label_keys.iter().flatten() {
            if let Some(v) = own_labels.and_then(|l| l.get(key)) {
                selector.require_not_equal(key, v);
            }
        }
        let mut names: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let ns_selector = term.namespace_selector.as_ref().map(|s| LabelMatcher::new(Some(s)));
        if names.is_empty() && ns_selector.is_none() {
            names.insert(owner.metadata.namespace.clone().unwrap_or_default());
        }
        AffinityTerm {
            selector,
            namespaces: NamespaceScope { names, selector: ns_selector },
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` (in a namespace with `ns_labels`) is one this term selects.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        self.namespaces.contains(&pod.namespace, ns_labels) && self.selector.matches(pod.labels())
    }
}

#[derive(Debug, Clone)]
pub struct WeightedTerm {
    pub weight: i64,
    pub term: AffinityTerm,
}

fn weighted(owner: &Pod, terms: Option<&Vec<WeightedPodAffinityTerm>>) -> Vec<WeightedTerm> {
    terms
        .into_iter()
        .flatten()
        .filter(|t| t.weight != 0)
        .map(|t| WeightedTerm { weight: i64::from(t.weight), term: AffinityTerm::new(owner, &t.pod_affinity_term) })
        .collect()
}

fn required(owner: &Pod, terms: Option<&Vec<PodAffinityTerm>>) -> Vec<AffinityTerm> {
    terms.into_iter().flatten().map(|t| AffinityTerm::new(owner, t)).collect()
}

fn non_zero_requests(c: &Container) -> ResourceAmounts {
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let mut out = ResourceAmounts::default();
    let get = |name: &str| requests.and_then(|r| r.get(name)).map(|q| quantity_amount(name, q));
    out.set("cpu", get("cpu").unwrap_or(DEFAULT_MILLI_CPU_REQUEST));
    out.set("memory", get("memory").unwrap_or(DEFAULT_MEMORY_REQUEST));
    out
}

/// A pod as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Pod,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.nodeName`, when bound (or assumed bound by this scheduler).
    pub node_name: Option<String>,
    pub priority: i32,
    pub requests: ResourceAmounts,
    /// CPU and memory with upstream's defaults for containers that request none (scoring).
    pub non_zero_requests: ResourceAmounts,
    pub host_ports: Vec<HostPort>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
    /// UID of the controlling owner (ReplicaSet, StatefulSet, Job...), for default spreading.
    pub controller_uid: Option<String>,
    pub terminating: bool,
    /// `preemptionPolicy: Never` (from the spec, or from the priority class when admission
    /// did not copy it).
    pub never_preempts: bool,
}

/// `namespace/name`, the key pods go by in the scheduler.
pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

impl PodInfo {
    /// `priority` is the pod's resolved priority (`spec.priority`, else from its class).
    pub fn new(pod: Pod, priority: i32) -> PodInfo {
        let spec = pod.spec.clone().unwrap_or_default();
        let host_ports = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always")))
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                let port = p.host_port.filter(|hp| *hp > 0)?;
                Some(HostPort {
                    ip: p.host_ip.clone().unwrap_or_default(),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port,
                })
            })
            .collect();
        let affinity = spec.affinity.as_ref();
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let controller_uid =
            pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true)).map(|o| o.uid.clone());
        PodInfo {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            priority,
            requests: pod_requests(&spec),
            non_zero_requests: pod_requests_by(&spec, non_zero_requests),
            host_ports,
            required_affinity: required(
                &pod,
                pa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            required_anti_affinity: required(
                &pod,
                paa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_affinity: weighted(
                &pod,
                pa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            preferred_anti_affinity: weighted(
                &pod,
                paa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref()),
            ),
            controller_uid,
            terminating: pod.metadata.deletion_timestamp.is_some(),
            never_preempts: spec.preemption_policy.as_deref() == Some("Never"),
            pod,
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.pod.metadata.labels.as_ref()
    }

    pub fn spec(&self) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
        self.pod.spec.as_ref()
    }

    pub fn has_affinity_terms(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    /// `status.startTime`, else the creation time: the older pod is the more important victim to keep.
    pub fn start_time(&self) -> Option<jiff::Timestamp> {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(self.pod.metadata.creation_timestamp.as_ref())
            .map(|t| t.0)
    }

    pub fn nominated_node(&self) -> Option<&str> {
        self.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A pod from JSON; `spec.containers` defaults to one container.
    pub fn pod(v: Value) -> PodInfo {
        let mut v = v;
        if v.pointer("/spec/containers").is_none() {
            if v.get("spec").is_none() {
                v["spec"] = json!({});
            }
            v["spec"]["containers"] = json!([{"name": "c"}]);
        }
        if v.pointer("/metadata/namespace").is_none() {
            v["metadata"]["namespace"] = json!("default");
        }
        let priority = v.pointer("/spec/priority").and_then(Value::as_i64).unwrap_or(0) as i32;
        PodInfo::new(serde_json::from_value(v).unwrap(), priority)
    }

    #[test]
    fn derived_fields() {
        let p = pod(json!({
            "metadata": {"name": "web", "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-rs", "controller": true}]},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]}],
                     "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
        }));
        assert_eq!(p.key(), "default/web");
        assert_eq!(p.controller_uid.as_deref(), Some("u-rs"));
        assert_eq!(p.host_ports, vec![HostPort { ip: String::new(), protocol: "TCP".into(), port: 8080 }]);
        assert_eq!(p.non_zero_requests.get("cpu"), DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(p.requests.get("cpu"), 0);
        assert_eq!(p.required_anti_affinity.len(), 1);
        // The term looks at the pod's own namespace by default.
        assert!(p.required_anti_affinity[0].matches(&p, None));
    }

    #[test]
    fn host_port_conflicts() {
        let hp = |ip: &str, proto: &str, port| HostPort { ip: ip.into(), protocol: proto.into(), port };
        assert!(hp("", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(hp("10.0.0.1", "TCP", 80).conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(!hp("10.0.0.1", "TCP", 80).conflicts(&hp("10.0.0.2", "TCP", 80)));
        assert!(!hp("", "TCP", 80).conflicts(&hp("", "UDP", 80)));
        assert!(!hp("", "TCP", 80).conflicts(&hp("", "TCP", 81)));
    }
}
