//! The Endpoints controller: keeps one Endpoints object per Service with a
//! selector, listing the selected pods' addresses (ready ones as `addresses`,
//! the others as `notReadyAddresses`) for each Service port they resolve.

pub mod subsets;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};

use super::{Error, is_not_found, selection};
use crate::runtime::recorder::hostname;
use crate::runtime::{
    Change, EventRecorder, EventSink, Informer, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers,
};

const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
const WORKERS: usize = 2;

struct Controller {
    client: Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
    events: EventRecorder,
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watches.
    let (_stop, shutdown) = Shutdown::new();
    let cfg = watcher::Config::default;
    let services = Informer::watch(Api::<Service>::all(client.clone()), cfg(), shutdown.clone());
    let pods = Informer::watch(Api::<Pod>::all(client.clone()), cfg(), shutdown.clone());
    let endpoints = Informer::watch(Api::<Endpoints>::all(client.clone()), cfg(), shutdown.clone());
    services.wait_synced().await;
    pods.wait_synced().await;
    endpoints.wait_synced().await;

    let queue = WorkQueue::default();
    // Endpoints left over from Services deleted while no controller ran are removed
    // (leader-election records kept in Endpoints by old components excepted).
    for ep in endpoints.list() {
        if ep.metadata.annotations.as_ref().is_none_or(|a| !a.contains_key(LEADER_ANNOTATION)) {
            queue.add(ObjectKey::of(ep.as_ref()));
        }
    }
    selection::queue_services_on_changes(&services, &pods, &queue);
    {
        let queue = queue.clone();
        endpoints.add_handler(move |change| {
            // Deleted by someone else: recreate it if its Service wants it.
            if let Change::Deleted(ep) = change {
                queue.add(ObjectKey::of(ep.as_ref()));
            }
        });
    }
    let controller = Arc::new(Controller {
        events: EventSink::new(client.clone(), &hostname()).recorder("endpoint-controller"),
        client,
        services,
        pods,
        endpoints,
    });
    run_workers("endpoint", queue, WORKERS, shutdown, move |key| {
        let controller = controller.clone();
        async move { controller.sync(&key).await }
    })
    .await;
    Ok(())
}

impl Controller {
    async fn sync(&self, key: &ObjectKey) -> Result<Requeue, Error> {
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), &key.namespace);
        let Some(svc) = self.services.get(key) else {
            // The Service is gone: so are its endpoints (unless they are someone else's
            // that happen to carry the name, which only a selector-less Service has).
            match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(None);
        };
        if selection::managed_selector(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let selected = selection::selected_pods(&svc, &self.pods);
        let mut subsets = subsets::desired(&svc, &selected);
        let truncated = subsets::truncate(&mut subsets, subsets::MAX_ADDRESSES);

        let current = self.endpoints.get(key);
        let service_labels = svc.metadata.labels.clone().unwrap_or_default();
        if let Some(current) = &current {
            let mut labels = current.metadata.labels.clone().unwrap_or_default();
            labels.remove(HEADLESS_LABEL);
            let over = current.metadata.annotations.as_ref().and_then(|a| a.get(OVER_CAPACITY)).is_some();
            if subsets::equal_ignoring_resource_versions(current.subsets.as_deref().unwrap_or_default(), &subsets)
                && labels == service_labels
                && over == truncated
            {
                return Ok(None);
            }
        }

        let mut desired = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
            metadata: ObjectMeta {
                name: Some(key.name.clone()),
                namespace: Some(key.namespace.clone()),
                ..Default::default()
            },
            subsets: None,
        });
        desired.subsets = (!subsets.is_empty()).then_some(subsets);
        let mut labels: BTreeMap<String, String> = service_labels;
        if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
            labels.insert(HEADLESS_LABEL.into(), String::new());
        }
        desired.metadata.labels = Some(labels);
        let mut annotations = desired.metadata.annotations.take().unwrap_or_default();
        if truncated {
            annotations.insert(OVER_CAPACITY.into(), "truncated".into());
        } else {
            annotations.remove(OVER_CAPACITY);
        }
        desired.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
        desired.metadata.managed_fields = None;

        let result = match &current {
            None => api.create(&PostParams::default(), &desired).await,
            // The cached resourceVersion makes this a compare-and-swap.
            Some(_) => api.replace(&key.name, &PostParams::default(), &desired).await,
        };
        match result {
            Ok(_) => Ok(None),
            // Namespace terminating: the Endpoints will never be created; nothing to retry.
            Err(kube::Error::Api(s))
                if current.is_none() && s.code == 403 && s.message.contains("being terminated") =>
            {
                Ok(None)
            }
            Err(e) => {
                let regarding = desired.object_ref(&());
                let (reason, note) = match current {
                    None => ("FailedToCreateEndpoint", format!("Failed to create endpoint for service {key}: {e}")),
                    Some(_) => ("FailedToUpdateEndpoint", format!("Failed to update endpoint {key}: {e}")),
                };
                if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                    self.events.warning_ref(&regarding, reason, note);
                }
                Err(e.into())
            }
        }
    }
}
