//! The Deployment controller: rolls a Deployment's pod template out through
//! ReplicaSets (one per template revision), with the RollingUpdate or Recreate
//! strategy, proportional scaling during a rollout, pause and resume, revision history,
//! and the Available and Progressing conditions `kubectl rollout status` reads.

pub mod maths;
pub mod progress;
pub mod revision;
mod rollout;
mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PostParams;
use kube::{Api, Client};
use tracing::warn;

use crate::manager::ControllerContext;
use crate::runtime::owner::{Claimer, controller_of};
use crate::runtime::selector::LabelMatcher;
use crate::runtime::{Change, Error, EventRecorder, Informer, ObjectKey, WorkQueue, run_workers};

pub const COMPONENT: &str = "deployment-controller";

pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    let this = Arc::new(DeploymentController {
        client: ctx.client.clone(),
        deployments: ctx.informers.get::<Deployment>(),
        replica_sets: ctx.informers.get::<ReplicaSet>(),
        pods: ctx.informers.get::<Pod>(),
        queue: WorkQueue::default(),
        recorder: ctx.recorder(COMPONENT),
    });
    let c = this.clone();
    this.deployments.add_handler(move |change| c.queue.add(ObjectKey::of(change.latest().as_ref())));
    let c = this.clone();
    this.replica_sets.add_handler(move |change| c.on_replica_set_change(change));
    let c = this.clone();
    this.pods.add_handler(move |change| {
        if let Change::Deleted(pod) = change {
            c.on_pod_deleted(pod)
        }
    });
    this.deployments.wait_synced().await;
    this.replica_sets.wait_synced().await;
    this.pods.wait_synced().await;
    let c = this.clone();
    run_workers(COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    Ok(())
}

pub(crate) struct DeploymentController {
    client: Client,
    deployments: Informer<Deployment>,
    replica_sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    queue: WorkQueue<ObjectKey>,
    recorder: EventRecorder,
}

fn selector_of(d: &Deployment) -> Result<LabelMatcher, Error> {
    LabelMatcher::parse(d.spec.as_ref().map(|s| &s.selector)).map_err(|e| Error::Invalid(e.to_string()))
}

impl DeploymentController {
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<Arc<Deployment>> {
        if r.kind != "Deployment" {
            return None;
        }
        self.deployments.get(&ObjectKey::new(namespace, &r.name)).filter(|d| d.metadata.uid.as_deref() == Some(&r.uid))
    }

    /// Deployments whose selector matches an orphan ReplicaSet (they may adopt it).
    fn matching_deployments(&self, rs: &ReplicaSet) -> Vec<Arc<Deployment>> {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        self.deployments
            .list_namespace(ns)
            .into_iter()
            .filter(|d| selector_of(d).is_ok_and(|s| !s.is_everything() && s.matches(rs.metadata.labels.as_ref())))
            .collect()
    }

    fn enqueue(&self, d: &Deployment) {
        self.queue.add(ObjectKey::of(d));
    }

    fn on_replica_set_change(&self, change: &Change<ReplicaSet>) {
        match change {
            Change::Added(rs) => {
                let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
                match controller_of(&rs.metadata) {
                    Some(r) => {
                        if let Some(d) = self.resolve(ns, r) {
                            self.enqueue(&d);
                        }
                    }
                    None => self.matching_deployments(rs).iter().for_each(|d| self.enqueue(d)),
                }
            }
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let ns = new.metadata.namespace.as_deref().unwrap_or_default();
                let old_ref = controller_of(&old.metadata);
                let new_ref = controller_of(&new.metadata);
                if old_ref != new_ref
                    && let Some(d) = old_ref.and_then(|r| self.resolve(ns, r))
                {
                    self.enqueue(&d);
                }
                match new_ref {
                    Some(r) => {
                        if let Some(d) = self.resolve(ns, r) {
                            self.enqueue(&d);
                        }
                    }
                    None if old.metadata.labels != new.metadata.labels || old_ref != new_ref => {
                        self.matching_deployments(new).iter().for_each(|d| self.enqueue(d))
                    }
                    None => {}
                }
            }
            Change::Deleted(rs) => {
                let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
                if let Some(d) = controller_of(&rs.metadata).and_then(|r| self.resolve(ns, r)) {
                    self.enqueue(&d);
                }
            }
        }
    }

    /// A Recreate rollout waits for the old pods to be gone; their deletion is the signal.
    fn on_pod_deleted(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(rs_ref) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else { return };
        let Some(rs) = self.replica_sets.get(&ObjectKey::new(ns, &rs_ref.name)) else { return };
        let Some(d) = controller_of(&rs.metadata).and_then(|r| self.resolve(ns, r)) else { return };
        let recreate =
            d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()) == Some("Recreate");
        if recreate {
            self.enqueue(&d);
        }
    }

    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(cached) = self.deployments.get(key) else { return Ok(()) };
        let mut d = (*cached).clone();
        let selector = match selector_of(&d) {
            Ok(s) => s,
            Err(e) => {
                warn!(deployment = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        if selector.is_everything() {
            self.recorder.warning(
                &d,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            let generation = d.metadata.generation.unwrap_or(0);
            let observed = d.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if observed < generation {
                d.status.get_or_insert_with(Default::default).observed_generation = Some(generation);
                self.write_status(&mut d).await?;
            }
            return Ok(());
        }
        let rs_list = self.claim_replica_sets(&d, &selector).await?;

        if d.metadata.deletion_timestamp.is_some() {
            return self.sync_status_only(&mut d, &rs_list).await;
        }
        self.check_paused_conditions(&mut d).await?;
        if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
            return self.sync_scaling(&mut d, &rs_list).await;
        }
        if self.is_scaling_event(&mut d, &rs_list).await? {
            return self.sync_scaling(&mut d, &rs_list).await;
        }
        let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.clone());
        match strategy.as_deref().unwrap_or("RollingUpdate") {
            "Recreate" => {
                let pods = self.pods_by_replica_set(&d, &selector, &rs_list);
                self.rollout_recreate(&mut d, &rs_list, &pods).await
            }
            "RollingUpdate" => self.rollout_rolling(&mut d, &rs_list).await,
            other => Err(Error::Invalid(format!("unexpected strategy type: {other}"))),
        }
    }

    /// The ReplicaSets this Deployment controls, after adopting orphans its selector
    /// matches and releasing those it no longer matches; oldest first.
    async fn claim_replica_sets(&self, d: &Deployment, selector: &LabelMatcher) -> Result<Vec<ReplicaSet>, Error> {
        let ns = d.metadata.namespace.as_deref().unwrap_or_default();
        let candidates = self.replica_sets.list_namespace(ns);
        let claimed = Claimer::new(&self.client, d, selector).claim(candidates).await?;
        let mut list: Vec<ReplicaSet> = claimed.iter().map(|rs| (**rs).clone()).collect();
        sort_by_age(&mut list);
        Ok(list)
    }

    /// The Deployment's pods grouped by the uid of the ReplicaSet controlling them.
    fn pods_by_replica_set(
        &self,
        d: &Deployment,
        selector: &LabelMatcher,
        rs_list: &[ReplicaSet],
    ) -> HashMap<String, Vec<Arc<Pod>>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or_default();
        let mut map: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        for rs in rs_list {
            if let Some(uid) = &rs.metadata.uid {
                map.insert(uid.clone(), Vec::new());
            }
        }
        for pod in self.pods.list_namespace(ns) {
            if !selector.matches(pod.metadata.labels.as_ref()) {
                continue;
            }
            if let Some(list) = controller_of(&pod.metadata).and_then(|r| map.get_mut(&r.uid)) {
                list.push(pod);
            }
        }
        map
    }

    /// `PUT …/status` of the whole Deployment (annotations ride along, as upstream's
    /// revision annotation does); `d` becomes the stored object.
    async fn write_status(&self, d: &mut Deployment) -> Result<(), Error> {
        let api: Api<Deployment> =
            Api::namespaced(self.client.clone(), d.metadata.namespace.as_deref().unwrap_or_default());
        let name = d.metadata.name.clone().unwrap_or_default();
        *d = api.replace_status(&name, &PostParams::default(), d).await?;
        Ok(())
    }
}

/// Oldest first, then by name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn sort_by_age(list: &mut [ReplicaSet]) {
    list.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ta.cmp(&tb).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}
