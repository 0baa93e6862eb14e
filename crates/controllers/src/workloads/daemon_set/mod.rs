//! The DaemonSet controller: one pod per eligible node (node selector, required node
//! affinity, taints and tolerations), following nodes as they come and go, with
//! RollingUpdate (maxUnavailable, maxSurge) or OnDelete updates, ControllerRevisions
//! as history, and the status counts `kubectl get ds` shows.

pub mod placement;
pub mod update;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k3rs_api::kinds::apps::TEMPLATE_GENERATION_ANNOTATION;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use tracing::warn;

use self::placement::{add_daemon_tolerations, pin_to_node, should_run};
use self::update::{Budget, TEMPLATE_GENERATION_LABEL, is_updated, plan};
use crate::manager::ControllerContext;
use crate::runtime::error::{is_already_exists, is_not_found};
use crate::runtime::owner::{Claimer, controller_of, controller_ref};
use crate::runtime::selector::LabelMatcher;
use crate::runtime::status::update_status;
use crate::runtime::{Change, Error, EventRecorder, Expectations, Informer, ObjectKey, WorkQueue, run_workers};
use crate::workloads::deployment::maths::scaled_value;
use crate::workloads::deployment::revision::template_hash;
use crate::workloads::history::{self, CONTROLLER_REVISION_HASH_LABEL};
use crate::workloads::pod_control::{
    PodControl, PodName, SLOW_START_INITIAL_BATCH, pod_from_template, pods_prefix, slow_start_batch,
};
use crate::workloads::pods::{is_available, is_ready, is_terminal, phase};
use crate::workloads::replica_set::BURST_REPLICAS;

pub const COMPONENT: &str = "daemonset-controller";

pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    let recorder = ctx.recorder(COMPONENT);
    let this = Arc::new(DaemonSetController {
        client: ctx.client.clone(),
        daemon_sets: ctx.informers.get::<DaemonSet>(),
        pods: ctx.informers.get::<Pod>(),
        nodes: ctx.informers.get::<Node>(),
        revisions: ctx.informers.get::<ControllerRevision>(),
        queue: WorkQueue::default(),
        expectations: Expectations::default(),
        failed_pod_backoff: Mutex::default(),
        pod_control: PodControl::new(ctx.client.clone(), recorder.clone()),
        recorder,
    });
    let c = this.clone();
    this.daemon_sets.add_handler(move |change| match change {
        Change::Added(ds) | Change::Updated { new: ds, .. } => c.queue.add(ObjectKey::of(ds.as_ref())),
        Change::Deleted(ds) => {
            let key = ObjectKey::of(ds.as_ref());
            c.expectations.delete(&key);
            c.queue.add(key);
        }
    });
    let c = this.clone();
    this.pods.add_handler(move |change| c.on_pod_change(change));
    let c = this.clone();
    this.nodes.add_handler(move |change| {
        let relevant = match change {
            Change::Updated { old, new } => old.metadata.labels != new.metadata.labels || old.spec != new.spec,
            _ => true,
        };
        if relevant {
            c.daemon_sets.list().iter().for_each(|ds| c.queue.add(ObjectKey::of(ds.as_ref())));
        }
    });
    let c = this.clone();
    this.revisions.add_handler(move |change| {
        let rev = change.latest();
        let ns = rev.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(ds) = controller_of(&rev.metadata).and_then(|r| c.resolve(ns, r)) {
            c.queue.add(ObjectKey::of(ds.as_ref()));
        }
    });
    this.daemon_sets.wait_synced().await;
    this.pods.wait_synced().await;
    this.nodes.wait_synced().await;
    this.revisions.wait_synced().await;
    let c = this.clone();
    run_workers(COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    Ok(())
}

struct DaemonSetController {
    client: Client,
    daemon_sets: Informer<DaemonSet>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    queue: WorkQueue<ObjectKey>,
    expectations: Expectations<ObjectKey, ObjectKey>,
    /// Back-off per (DaemonSet uid, node) before deleting another failed pod there:
    /// (next delay, allowed again at).
    failed_pod_backoff: Mutex<HashMap<(String, String), (Duration, Timestamp)>>,
    pod_control: PodControl,
    recorder: EventRecorder,
}

fn selector_of(ds: &DaemonSet) -> Result<LabelMatcher, Error> {
    LabelMatcher::parse(ds.spec.as_ref().map(|s| &s.selector)).map_err(|e| Error::Invalid(e.to_string()))
}

fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?.parse().ok()
}

fn min_ready_seconds(ds: &DaemonSet) -> i32 {
    ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

/// The template a pod is created from: daemon tolerations, hash and generation labels.
fn pod_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    if let Some(spec) = template.spec.as_mut() {
        add_daemon_tolerations(spec);
    }
    let labels = template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new);
    if let Some(g) = template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.into());
    template
}

/// The node a daemon pod is for: its node name, or the node its affinity pins.
fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find_map(|f| {
        (f.key == "metadata.name" && f.operator == "In").then(|| f.values.as_ref()?.first().cloned()).flatten()
    })
}

impl DaemonSetController {
    fn resolve(&self, ns: &str, r: &OwnerReference) -> Option<Arc<DaemonSet>> {
        if r.kind != "DaemonSet" {
            return None;
        }
        self.daemon_sets.get(&ObjectKey::new(ns, &r.name)).filter(|d| d.metadata.uid.as_deref() == Some(&r.uid))
    }

    fn on_pod_change(&self, change: &Change<Pod>) {
        let (pod, deleted) = match change {
            Change::Added(p) => (p, p.metadata.deletion_timestamp.is_some()),
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                let ns = new.metadata.namespace.as_deref().unwrap_or_default();
                if controller_of(&old.metadata) != controller_of(&new.metadata)
                    && let Some(ds) = controller_of(&old.metadata).and_then(|r| self.resolve(ns, r))
                {
                    self.queue.add(ObjectKey::of(ds.as_ref()));
                }
                if controller_of(&new.metadata).is_none() && old.metadata.labels != new.metadata.labels {
                    self.enqueue_matching(new);
                }
                (new, new.metadata.deletion_timestamp.is_some())
            }
            Change::Deleted(p) => (p, true),
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(r) => {
                let Some(ds) = self.resolve(ns, r) else { return };
                let key = ObjectKey::of(ds.as_ref());
                match change {
                    Change::Added(_) if !deleted => self.expectations.creation_observed(&key),
                    _ if deleted => self.expectations.deletion_observed(&key, &ObjectKey::of(pod.as_ref())),
                    _ => {}
                }
                self.queue.add(key);
            }
            None if matches!(change, Change::Added(_)) => self.enqueue_matching(pod),
            None => {}
        }
    }

    fn enqueue_matching(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        for ds in self.daemon_sets.list_namespace(ns) {
            if selector_of(&ds).is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())) {
                self.queue.add(ObjectKey::of(ds.as_ref()));
            }
        }
    }

    fn nodes_sorted(&self) -> Vec<Arc<Node>> {
        let mut nodes = self.nodes.list();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        nodes
    }

    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(shared) = self.daemon_sets.get(key) else {
            self.expectations.delete(key);
            return Ok(());
        };
        let ds = (*shared).clone();
        let selector = match selector_of(&ds) {
            Ok(s) => s,
            Err(e) => {
                warn!(daemonset = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        if selector.is_everything() {
            self.recorder.warning(
                &ds,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(());
        }
        // Its history may be gone already: nothing can be done safely.
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let (current, old) = self.construct_history(&ds, &selector).await?;
        let hash = current
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
            .cloned()
            .unwrap_or_default();
        let nodes = self.nodes_sorted();
        if !self.expectations.satisfied(key) {
            // Status only; the generation is not observed until acted on.
            let node_pods = self.node_pods(&ds, &selector).await?;
            return self.update_status(&ds, &nodes, &node_pods, &hash, false).await;
        }
        let result = self.update_daemon_set(key, &ds, &selector, &nodes, &hash, &old).await;
        let node_pods = self.node_pods(&ds, &selector).await?;
        let status_result = self.update_status(&ds, &nodes, &node_pods, &hash, true).await;
        result.and(status_result)
    }

    async fn update_daemon_set(
        &self,
        key: &ObjectKey,
        ds: &DaemonSet,
        selector: &LabelMatcher,
        nodes: &[Arc<Node>],
        hash: &str,
        old: &[ControllerRevision],
    ) -> Result<(), Error> {
        let node_pods = self.node_pods(ds, selector).await?;
        self.manage(key, ds, nodes, &node_pods, hash).await?;
        if self.expectations.satisfied(key) {
            let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|s| s.type_.clone());
            if strategy.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate" {
                let node_pods = self.node_pods(ds, selector).await?;
                self.rolling_update(key, ds, nodes, &node_pods, hash).await?;
            }
        }
        self.cleanup_history(ds, selector, old).await
    }

    /// The DaemonSet's pods per target node (claimed: adopted or released as needed).
    async fn node_pods(
        &self,
        ds: &DaemonSet,
        selector: &LabelMatcher,
    ) -> Result<BTreeMap<String, Vec<Arc<Pod>>>, Error> {
        let ns = ds.metadata.namespace.as_deref().unwrap_or_default();
        let candidates = self.pods.list_namespace(ns);
        let claimed = Claimer::new(&self.client, ds, selector).claim(candidates).await?;
        let mut map: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        for pod in claimed {
            // Terminal pods being deleted are as good as gone.
            if is_terminal(&pod) && pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(node) = target_node(&pod) {
                map.entry(node).or_default().push(pod);
            }
        }
        for pods in map.values_mut() {
            pods.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0), p.metadata.name.clone()));
        }
        Ok(map)
    }

    /// `manage`: creates missing daemon pods and deletes those that should not run.
    async fn manage(
        &self,
        key: &ObjectKey,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        hash: &str,
    ) -> Result<(), Error> {
        let mut template_with_tolerations = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        add_daemon_tolerations(&mut template_with_tolerations);
        let surge = max_surge_configured(ds);
        let now = Timestamp::now();
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let mut to_create = Vec::new();
        let mut to_delete = Vec::new();
        for node in nodes {
            let node_name = node.metadata.name.clone().unwrap_or_default();
            let (run, keep) = should_run(&template_with_tolerations, node);
            let pods = node_pods.get(&node_name);
            match pods {
                None if run => to_create.push(node_name),
                Some(pods) if keep => {
                    let mut running = Vec::new();
                    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                        match phase(pod) {
                            "Failed" => {
                                // Kubelets rejecting pods can make this loop hot: back off per node.
                                if let Some(delay) =
                                    self.failed_pod_backoff_active((uid.clone(), node_name.clone()), now)
                                {
                                    self.queue.add_after(key.clone(), delay);
                                    continue;
                                }
                                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                                self.recorder.warning(
                                    ds,
                                    "FailedDaemonPod",
                                    format!("Found failed daemon pod {}/{pod_name} on node {node_name}, will try to kill it", key.namespace),
                                );
                                to_delete.push(pod_name);
                            }
                            "Succeeded" => to_delete.push(pod.metadata.name.clone().unwrap_or_default()),
                            _ => running.push(pod.clone()),
                        }
                    }
                    if running.len() > 1 {
                        if !surge {
                            // Keep the oldest (running first), delete the rest.
                            running.sort_by_key(|p| {
                                (phase(p) != "Running", p.metadata.creation_timestamp.as_ref().map(|t| t.0))
                            });
                            to_delete.extend(running.iter().skip(1).filter_map(|p| p.metadata.name.clone()));
                        } else {
                            // With surge: keep the oldest updated and the oldest old pod (the
                            // rolling update resolves that pair), delete the rest.
                            let generation = template_generation(ds);
                            let mut kept_new = false;
                            let mut kept_old = false;
                            for p in &running {
                                let slot = if is_updated(p, hash, generation) { &mut kept_new } else { &mut kept_old };
                                if *slot {
                                    to_delete.extend(p.metadata.name.clone());
                                } else {
                                    *slot = true;
                                }
                            }
                        }
                    }
                }
                Some(pods) if !keep => {
                    to_delete.extend(
                        pods.iter()
                            .filter(|p| p.metadata.deletion_timestamp.is_none())
                            .filter_map(|p| p.metadata.name.clone()),
                    );
                }
                _ => {}
            }
        }
        // Pods pinned to nodes that no longer exist and never got scheduled.
        let known: std::collections::HashSet<String> = nodes.iter().filter_map(|n| n.metadata.name.clone()).collect();
        for (node, pods) in node_pods {
            if known.contains(node) {
                continue;
            }
            for p in pods {
                let unscheduled = p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty);
                if unscheduled && p.metadata.deletion_timestamp.is_none() {
                    to_delete.extend(p.metadata.name.clone());
                }
            }
        }
        self.sync_nodes(key, ds, to_delete, to_create, hash).await
    }

    fn failed_pod_backoff_active(&self, key: (String, String), now: Timestamp) -> Option<Duration> {
        let mut map = self.failed_pod_backoff.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, until)) = map.get(&key).copied()
            && now < until
        {
            return Some(until.duration_since(now).unsigned_abs());
        }
        // Next allowed deletion: 1s, doubling up to 15 minutes.
        let next = map.get(&key).map_or(Duration::from_secs(1), |(d, _)| (*d * 2).min(Duration::from_secs(900)));
        map.insert(key, (next, now + jiff::SignedDuration::try_from(next).unwrap_or_default()));
        None
    }

    /// `syncNodes`: creates pods on `nodes` and deletes `pods`, with expectations set first.
    async fn sync_nodes(
        &self,
        key: &ObjectKey,
        ds: &DaemonSet,
        pods: Vec<String>,
        nodes: Vec<String>,
        hash: &str,
    ) -> Result<(), Error> {
        let nodes: Vec<String> = nodes.into_iter().take(BURST_REPLICAS).collect();
        let pods: Vec<String> = pods.into_iter().take(BURST_REPLICAS).collect();
        if nodes.is_empty() && pods.is_empty() {
            return Ok(());
        }
        // Set before acting: the watch may report the changes before the requests return.
        self.expectations.expect_counts(key, nodes.len(), pods.len());
        let template = pod_template(ds, hash);
        let owner = controller_ref(ds);
        let name = ds.metadata.name.clone().unwrap_or_default();
        let (created, _, create_error) = slow_start_batch(nodes.len(), SLOW_START_INITIAL_BATCH, |i| {
            let mut t = template.clone();
            if let (Some(spec), Some(node)) = (t.spec.as_mut(), nodes.get(i)) {
                pin_to_node(spec, node);
            }
            let pod = pod_from_template(&t, &key.namespace, PodName::Generate(pods_prefix(&name)), Some(owner.clone()));
            async move { self.pod_control.create(ds, &pod).await.map(|_| ()).map_err(Error::from) }
        })
        .await;
        for _ in created..nodes.len() {
            self.expectations.creation_observed(key);
        }
        let results = join_all(pods.iter().map(|p| self.pod_control.delete(ds, &key.namespace, p))).await;
        let mut delete_error = None;
        for (r, p) in results.into_iter().zip(&pods) {
            if let Err(e) = r {
                self.expectations.deletion_observed(key, &ObjectKey::new(&key.namespace, p));
                delete_error.get_or_insert(Error::from(e));
            }
        }
        match create_error.or(delete_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn rolling_update(
        &self,
        key: &ObjectKey,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        hash: &str,
    ) -> Result<(), Error> {
        let mut template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        add_daemon_tolerations(&mut template);
        let by_name: HashMap<String, &Arc<Node>> =
            nodes.iter().filter_map(|n| Some((n.metadata.name.clone()?, n))).collect();
        let should = |node: &str| by_name.get(node).is_some_and(|n| should_run(&template, n).0);
        let desired = nodes
            .iter()
            .filter(|n| {
                let (run, keep) = should_run(&template, n);
                run || (keep && node_pods.contains_key(n.metadata.name.as_deref().unwrap_or_default()))
            })
            .count() as i32;
        let (max_surge, max_unavailable) = surge_and_unavailable(ds, desired);
        let budget = Budget { max_surge, max_unavailable, desired, min_ready_seconds: min_ready_seconds(ds) };
        let step = plan(node_pods, should, hash, template_generation(ds), &budget, Timestamp::now());
        self.sync_nodes(key, ds, step.delete, step.create_on, hash).await
    }

    /// The current revision (created or renumbered as needed) and the old ones.
    async fn construct_history(
        &self,
        ds: &DaemonSet,
        selector: &LabelMatcher,
    ) -> Result<(ControllerRevision, Vec<ControllerRevision>), Error> {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &ns);
        let candidates = self.revisions.list_namespace(&ns);
        let claimed = Claimer::new(&self.client, ds, selector).claim(candidates).await?;
        let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let data = history::template_patch(&template);
        let mut current = Vec::new();
        let mut old = Vec::new();
        for rev in claimed {
            let mut rev = (*rev).clone();
            // Revisions made elsewhere may lack the hash label: their name serves as hash.
            if rev.metadata.labels.as_ref().is_none_or(|l| !l.contains_key(CONTROLLER_REVISION_HASH_LABEL)) {
                let name = rev.metadata.name.clone().unwrap_or_default();
                rev.metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(CONTROLLER_REVISION_HASH_LABEL.into(), name.clone());
                rev = api.replace(&name, &PostParams::default(), &rev).await?;
            }
            if history::matches(&rev, &data) { current.push(rev) } else { old.push(rev) }
        }
        let next_revision = history::max_revision(&old.iter().collect::<Vec<_>>()) + 1;
        let current = match current.len() {
            0 => self.snapshot(ds, &api, data, next_revision).await?,
            _ => {
                // Keep the newest duplicate; the others go.
                current.sort_by_key(|r| r.revision);
                let keep = current.pop().unwrap_or_default();
                for dup in current {
                    let name = dup.metadata.name.clone().unwrap_or_default();
                    if let Err(e) = api.delete(&name, &DeleteParams::default()).await
                        && !is_not_found(&e)
                    {
                        return Err(e.into());
                    }
                }
                if keep.revision < next_revision {
                    let mut renumbered = keep.clone();
                    renumbered.revision = next_revision;
                    let name = keep.metadata.name.clone().unwrap_or_default();
                    api.replace(&name, &PostParams::default(), &renumbered).await?
                } else {
                    keep
                }
            }
        };
        Ok((current, old))
    }

    /// Stores a new revision of the current template.
    async fn snapshot(
        &self,
        ds: &DaemonSet,
        api: &Api<ControllerRevision>,
        data: serde_json::Value,
        revision: i64,
    ) -> Result<ControllerRevision, Error> {
        let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
        let hash = template_hash(&template, collision_count);
        let name = history::revision_name(ds.metadata.name.as_deref().unwrap_or_default(), &hash);
        let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash);
        let mut rev =
            history::new_revision(name.clone(), ds.metadata.namespace.clone(), labels, data.clone(), revision);
        rev.metadata.annotations = ds.metadata.annotations.clone();
        rev.metadata.owner_references = Some(vec![controller_ref(ds)]);
        match api.create(&PostParams::default(), &rev).await {
            Ok(created) => Ok(created),
            Err(e) if is_already_exists(&e) => {
                let existing = api.get(&name).await?;
                if history::matches(&existing, &data) {
                    return Ok(existing);
                }
                // A hash collision with another template: count it and retry with a new hash.
                let ds_api: Api<DaemonSet> =
                    Api::namespaced(self.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
                let mut fresh = ds_api.get(ds.metadata.name.as_deref().unwrap_or_default()).await?;
                let stale = fresh.status.as_ref().and_then(|s| s.collision_count) != collision_count;
                if stale {
                    return Err(Error::Failed(format!(
                        "found a stale collision count of DaemonSet {:?}; will retry until it is updated",
                        ds.metadata.name.as_deref().unwrap_or_default()
                    )));
                }
                let status = fresh.status.get_or_insert_with(Default::default);
                status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                let name = fresh.metadata.name.clone().unwrap_or_default();
                let _ = ds_api.replace_status(&name, &PostParams::default(), &fresh).await;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes old revisions beyond `revisionHistoryLimit` that no live pod uses.
    async fn cleanup_history(
        &self,
        ds: &DaemonSet,
        selector: &LabelMatcher,
        old: &[ControllerRevision],
    ) -> Result<(), Error> {
        let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
        if old.len() <= limit {
            return Ok(());
        }
        let mut to_kill = old.len() - limit;
        let node_pods = self.node_pods(ds, selector).await?;
        let live: std::collections::HashSet<String> = node_pods
            .values()
            .flatten()
            .filter_map(|p| p.metadata.labels.as_ref()?.get(CONTROLLER_REVISION_HASH_LABEL).cloned())
            .collect();
        let mut sorted: Vec<&ControllerRevision> = old.iter().collect();
        sorted.sort_by_key(|r| r.revision);
        let api: Api<ControllerRevision> =
            Api::namespaced(self.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
        for rev in sorted {
            if to_kill == 0 {
                break;
            }
            let hash = rev.metadata.labels.as_ref().and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL));
            if hash.is_some_and(|h| live.contains(h)) {
                continue;
            }
            let name = rev.metadata.name.clone().unwrap_or_default();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            to_kill -= 1;
        }
        Ok(())
    }

    /// `updateDaemonSetStatus`.
    async fn update_status(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
        hash: &str,
        observe_generation: bool,
    ) -> Result<(), Error> {
        let mut template = ds.spec.as_ref().and_then(|s| s.template.spec.clone()).unwrap_or_default();
        add_daemon_tolerations(&mut template);
        let now = Timestamp::now();
        let generation = template_generation(ds);
        let min_ready = min_ready_seconds(ds);
        let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut available) = (0, 0, 0, 0, 0, 0);
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let pods = node_pods.get(&name).filter(|p| !p.is_empty());
            if should_run(&template, node).0 {
                desired += 1;
                let Some(pods) = pods else { continue };
                current += 1;
                let mut sorted = pods.clone();
                sorted.sort_by_key(|p| (phase(p) != "Running", p.metadata.creation_timestamp.as_ref().map(|t| t.0)));
                let pod = &sorted[0];
                if is_ready(pod) {
                    ready += 1;
                    if is_available(pod, min_ready, now) {
                        available += 1;
                    }
                }
                if is_updated(pod, hash, generation) {
                    updated += 1;
                }
            } else if pods.is_some() {
                misscheduled += 1;
            }
        }
        let previous = ds.status.clone().unwrap_or_default();
        let observed = if observe_generation { ds.metadata.generation } else { previous.observed_generation };
        let nonzero = |n: i32| (n != 0).then_some(n);
        let status = DaemonSetStatus {
            desired_number_scheduled: desired,
            current_number_scheduled: current,
            number_misscheduled: misscheduled,
            number_ready: ready,
            updated_number_scheduled: nonzero(updated),
            number_available: nonzero(available),
            number_unavailable: nonzero(desired - available),
            observed_generation: observed,
            ..previous.clone()
        };
        if status != previous {
            update_status(&self.client, ds, |d| d.status = Some(status.clone())).await?;
        }
        if min_ready > 0 && ready != available {
            self.queue.add_after(ObjectKey::of(ds), Duration::from_secs(min_ready as u64));
        }
        Ok(())
    }
}

fn max_surge_configured(ds: &DaemonSet) -> bool {
    let ru = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    ru.and_then(|r| r.max_surge.as_ref()).is_some_and(|s| scaled_value(s, 100, true).unwrap_or(0) > 0)
}

/// (maxSurge, maxUnavailable) for `desired` nodes; both rounded up, and one node may
/// be unavailable if both come out zero.
fn surge_and_unavailable(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let ru = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let surge = ru.and_then(|r| r.max_surge.as_ref()).map_or(0, |v| scaled_value(v, desired, true).unwrap_or(0));
    let unavailable =
        ru.and_then(|r| r.max_unavailable.as_ref()).map_or(1, |v| scaled_value(v, desired, true).unwrap_or(1));
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}
