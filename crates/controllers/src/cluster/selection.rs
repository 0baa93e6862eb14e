//! Which pods a Service selects, and which Services select a pod.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

use crate::runtime::selector::contains_all;
use crate::runtime::{Informer, ObjectKey, WorkQueue};

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
pub fn selected_pods(svc: &Service, pods: &Informer<Pod>) -> Vec<Arc<Pod>> {
    let Some(selector) = managed_selector(svc) else { return Vec::new() };
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let mut out: Vec<Arc<Pod>> = pods
        .list_namespace(ns)
        .into_iter()
        .filter(|p| contains_all(p.metadata.labels.as_ref(), Some(selector)))
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

/// The Services of the pod's namespace that select it.
pub fn selecting_services(pod: &Pod, services: &Informer<Service>) -> Vec<ObjectKey> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    services
        .list_namespace(ns)
        .into_iter()
        .filter(|s| managed_selector(s).is_some_and(|sel| contains_all(pod.metadata.labels.as_ref(), Some(sel))))
        .map(|s| ObjectKey::of(s.as_ref()))
        .collect()
}

/// Queues a Service when it changes, and the Services that select a pod when the
/// pod changes: both its old and its new labels, as a pod leaving a Service matters too.
pub fn queue_services_on_changes(services: &Informer<Service>, pods: &Informer<Pod>, queue: &WorkQueue<ObjectKey>) {
    {
        let queue = queue.clone();
        services.add_handler(move |change| {
            for svc in change.objects() {
                queue.add(ObjectKey::of(svc.as_ref()));
            }
        });
    }
    let (queue, services) = (queue.clone(), services.clone());
    pods.add_handler(move |change| {
        for pod in change.objects() {
            for key in selecting_services(pod, &services) {
                queue.add(key);
            }
        }
    });
}
