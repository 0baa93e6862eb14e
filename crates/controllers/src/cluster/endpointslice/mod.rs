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
use tokio::task::JoinSet;

use super::events::EventRecorder;
use super::informer::{self, Cache};
use super::queue::WorkQueue;
use super::workers::{self, Requeue};
use super::{Error, Key, is_not_found, selection};
use plan::{LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY, MAX_ENDPOINTS_PER_SLICE};
use tracker::Tracker;

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const WORKERS: usize = 2;

struct Controller {
    client: Client,
    services: Arc<Cache<Service>>,
    pods: Arc<Cache<Pod>>,
    slices: Arc<Cache<EndpointSlice>>,
    nodes: Arc<Cache<Node>>,
    tracker: Tracker,
    events: EventRecorder,
}

/// The Service a slice we manage belongs to.
fn service_of(slice: &EndpointSlice) -> Option<Key> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    Some(Key::new(slice.metadata.namespace.clone().unwrap_or_default(), labels.get(LABEL_SERVICE_NAME)?.clone()))
}

pub async fn run(client: Client) -> Result<(), Error> {
    let mut tasks = JoinSet::new();
    let all = watcher::Config::default;
    let (services, mut service_changes) = informer::spawn(Api::<Service>::all(client.clone()), all(), &mut tasks);
    let (pods, mut pod_changes) = informer::spawn(Api::<Pod>::all(client.clone()), all(), &mut tasks);
    let managed = all().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    let (slices, mut slice_changes) = informer::spawn(Api::<EndpointSlice>::all(client.clone()), managed, &mut tasks);
    let (nodes, _) = informer::spawn(Api::<Node>::all(client.clone()), all(), &mut tasks);
    services.wait_synced().await;
    pods.wait_synced().await;
    slices.wait_synced().await;
    nodes.wait_synced().await;

    let queue = Arc::new(WorkQueue::new());
    for svc in services.list() {
        queue.add(Key::of(svc.as_ref()));
    }
    {
        let (queue, services) = (queue.clone(), services.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    Some(change) = service_changes.recv() => {
                        for svc in change.objects() {
                            queue.add(Key::of(svc.as_ref()));
                        }
                    }
                    Some(change) = pod_changes.recv() => {
                        for pod in change.objects() {
                            for key in selection::selecting_services(pod, &services) {
                                queue.add(key);
                            }
                        }
                    }
                    Some(change) = slice_changes.recv() => {
                        for slice in change.objects() {
                            if let Some(key) = service_of(slice) {
                                queue.add(key);
                            }
                        }
                    }
                    else => break,
                }
            }
        });
    }
    let controller = Arc::new(Controller {
        events: EventRecorder::new(client.clone(), "endpoint-slice-controller"),
        client,
        services,
        pods,
        slices,
        nodes,
        tracker: Tracker::default(),
    });
    workers::run("endpointslice", queue, WORKERS, move |key| {
        let controller = controller.clone();
        async move { controller.sync(&key).await }
    })
    .await;
    Ok(())
}

impl Controller {
    fn slices_of(&self, key: &Key) -> Vec<Arc<EndpointSlice>> {
        self.slices.list_namespace(&key.namespace).into_iter().filter(|s| service_of(s).as_ref() == Some(key)).collect()
    }

    fn zone_of(&self, node: &str) -> Option<String> {
        self.nodes.get("", node)?.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned()
    }

    async fn sync(&self, key: &Key) -> Result<Requeue, Error> {
        let Some(svc) = self.services.get(&key.namespace, &key.name) else {
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
                self.events.warning(&svc.object_ref(&()), "FailedToUpdateEndpointSlices", note).await;
            }
            return Err(e);
        }
        Ok(None)
    }

    async fn execute(&self, api: &Api<EndpointSlice>, key: &Key, svc: &Service, plan: plan::Plan) -> Result<(), Error> {
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

    async fn delete(&self, api: &Api<EndpointSlice>, key: &Key, slice: &EndpointSlice) -> Result<(), Error> {
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
