//! The EndpointSlice controller: keeps the EndpointSlices of every Service with
//! a selector (labelled `kubernetes.io/service-name` and managed by
//! `endpointslice-controller.k8s.io`, owned by the Service) in line with the
//! selected pods; every endpoint carries its ready/serving/terminating
//! conditions so proxies route only to ready ones.

pub mod desired;
pub mod plan;
pub mod tracker;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};

use super::{Error, is_not_found, selection};
use crate::runtime::recorder::hostname;
use crate::runtime::{EventRecorder, EventSink, Informer, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers};
use plan::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY, MAX_ENDPOINTS_PER_SLICE};
use tracker::Tracker;

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const WORKERS: usize = 2;

struct Controller {
    client: Client,
    services: Informer<Service>,
    pods: Informer<Pod>,
    slices: Informer<EndpointSlice>,
    nodes: Informer<Node>,
    tracker: Tracker,
    events: EventRecorder,
}

/// The Service a slice we manage belongs to.
fn service_of(slice: &EndpointSlice) -> Option<ObjectKey> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    Some(ObjectKey::new(slice.metadata.namespace.clone().unwrap_or_default(), labels.get(LABEL_SERVICE_NAME)?.clone()))
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watches.
    let (_stop, shutdown) = Shutdown::new();
    let all = watcher::Config::default;
    let services = Informer::watch(Api::<Service>::all(client.clone()), all(), shutdown.clone());
    let pods = Informer::watch(Api::<Pod>::all(client.clone()), all(), shutdown.clone());
    let managed = all().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    let slices = Informer::watch(Api::<EndpointSlice>::all(client.clone()), managed, shutdown.clone());
    let nodes = Informer::watch(Api::<Node>::all(client.clone()), all(), shutdown.clone());
    services.wait_synced().await;
    pods.wait_synced().await;
    slices.wait_synced().await;
    nodes.wait_synced().await;

    let queue = WorkQueue::default();
    selection::queue_services_on_changes(&services, &pods, &queue);
    {
        let queue = queue.clone();
        slices.add_handler(move |change| {
            for slice in change.objects() {
                if let Some(key) = service_of(slice) {
                    queue.add(key);
                }
            }
        });
    }
    let controller = Arc::new(Controller {
        events: EventSink::new(client.clone(), &hostname()).recorder("endpoint-slice-controller"),
        client,
        services,
        pods,
        slices,
        nodes,
        tracker: Tracker::default(),
    });
    run_workers("endpointslice", queue, WORKERS, shutdown, move |key| {
        let controller = controller.clone();
        async move { controller.sync(&key).await }
    })
    .await;
    Ok(())
}

impl Controller {
    fn slices_of(&self, key: &ObjectKey) -> Vec<Arc<EndpointSlice>> {
        self.slices.list_namespace(&key.namespace).into_iter().filter(|s| service_of(s).as_ref() == Some(key)).collect()
    }

    fn zone_of(&self, node: &str) -> Option<String> {
        self.nodes.get_named("", node)?.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned()
    }

    async fn sync(&self, key: &ObjectKey) -> Result<Requeue, Error> {
        let Some(svc) = self.services.get(key) else {
            // The garbage collector removes the slices with their owner.
            self.tracker.forget(key);
            return Ok(None);
        };
        let existing = self.slices_of(key);
        if self.tracker.stale(key, &existing) {
            return Err(Error::Retry(format!("the EndpointSlice cache of {key} is behind this controller's writes")));
        }
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &key.namespace);
        if selection::managed_selector(&svc).is_none() {
            // No selector (any more), or ExternalName: endpoints come from elsewhere.
            for slice in existing {
                self.delete(&api, key, &slice).await?;
            }
            return Ok(None);
        }
        let selected = selection::selected_pods(&svc, &self.pods);
        let desired = desired::desired(&svc, &selected, |node| self.zone_of(node));
        let plan = plan::plan(&svc, &existing, &desired, MAX_ENDPOINTS_PER_SLICE);
        if let Err(e) = self.execute(&api, key, &svc, plan).await {
            if !e.is_conflict() {
                let note = format!("Error updating Endpoint Slices for Service {key}: {e}");
                self.events.warning_ref(&svc.object_ref(&()), "FailedToUpdateEndpointSlices", note);
            }
            return Err(e);
        }
        Ok(None)
    }

    async fn execute(
        &self,
        api: &Api<EndpointSlice>,
        key: &ObjectKey,
        svc: &Service,
        plan: plan::Plan,
    ) -> Result<(), Error> {
        // A Service on its way out gets no new slices: the garbage collector is
        // deleting them, and new ones would only race it.
        if svc.metadata.deletion_timestamp.is_none() {
            for slice in plan.create {
                match api.create(&PostParams::default(), &slice).await {
                    Ok(created) => self.tracker.written(key, &created),
                    Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("being terminated") => {
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for slice in plan.update {
            let name = slice.metadata.name.clone().unwrap_or_default();
            // The cached resourceVersion makes this a compare-and-swap.
            let updated = api.replace(&name, &PostParams::default(), &slice).await?;
            self.tracker.written(key, &updated);
        }
        for slice in plan.delete {
            self.delete(api, key, &slice).await?;
        }
        Ok(())
    }

    async fn delete(&self, api: &Api<EndpointSlice>, key: &ObjectKey, slice: &EndpointSlice) -> Result<(), Error> {
        let name = slice.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.tracker.deleted(key, slice);
        Ok(())
    }
}
