//! Which pods a Service selects, and which Services select a pod.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

use super::Key;
use super::informer::Cache;
use super::labels::map_selects;

/// The selector of a Service whose endpoints a controller manages: Services
/// without a selector get their endpoints from elsewhere (the user, or the API
/// server for `default/kubernetes`), and ExternalName Services have none.
pub fn managed_selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    // An empty selector does not survive the API's encoding upstream: same as none.
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

/// The pods of the Service's namespace that its selector selects.
pub fn selected_pods(svc: &Service, pods: &Cache<Pod>) -> Vec<Arc<Pod>> {
    let Some(selector) = managed_selector(svc) else { return Vec::new() };
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let mut out: Vec<Arc<Pod>> =
        pods.list_namespace(ns).into_iter().filter(|p| map_selects(selector, p.metadata.labels.as_ref())).collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

/// The Services of the pod's namespace that select it.
pub fn selecting_services(pod: &Pod, services: &Cache<Service>) -> Vec<Key> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    services
        .list_namespace(ns)
        .into_iter()
        .filter(|s| managed_selector(s).is_some_and(|sel| map_selects(sel, pod.metadata.labels.as_ref())))
        .map(|s| Key::of(s.as_ref()))
        .collect()
}
