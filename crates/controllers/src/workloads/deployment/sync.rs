//! ReplicaSet bookkeeping shared by both strategies: finding or creating the new
//! ReplicaSet with the next revision, scaling ReplicaSets (with `ScalingReplicaSet`
//! events), proportional scaling for scaling events and paused Deployments, cleaning up
//! history beyond `revisionHistoryLimit`, and status-only syncs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use tracing::{debug, info};

use super::DeploymentController;
use super::maths::{
    DESIRED_REPLICAS_ANNOTATION, is_rolling_update, is_saturated, max_surge, new_rs_new_replicas, proportional_sizes,
    replicas, rs_replicas, status_replicas,
};
use super::progress::{
    FAILED_RS_CREATE, FOUND_NEW_REPLICA_SET, NEW_REPLICA_SET_CREATED, PAUSED, PROGRESSING, RESUMED, TIMED_OUT,
    calculate_status, get_condition, new_condition, progress_deadline, set_condition,
};
use super::revision::{
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, annotation, annotation_i32, find_new, max_revision,
    replicas_annotations_need_update, revision, set_deployment_revision, set_new_replica_set_annotations,
    set_replicas_annotations, template_hash,
};
use crate::runtime::error::{is_already_exists, is_forbidden, is_not_found, message};
use crate::runtime::owner::{controller_ref, is_controlled_by};
use crate::runtime::{Error, ObjectKey};

/// The new ReplicaSet (if any) and all the old ones, oldest first.
pub(super) struct ReplicaSets {
    pub new: Option<ReplicaSet>,
    pub old: Vec<ReplicaSet>,
}

impl ReplicaSets {
    pub fn all(&self) -> Vec<&ReplicaSet> {
        self.old.iter().chain(self.new.as_ref()).collect()
    }
}

pub(super) fn is_active(rs: &ReplicaSet) -> bool {
    rs_replicas(rs) > 0
}

fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

impl DeploymentController {
    fn rs_api(&self, namespace: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// `getAllReplicaSetsAndSyncRevision`: the old ReplicaSets, and the new one (created
    /// when `create` and missing), with revisions brought up to date.
    pub(super) async fn replica_sets_synced(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<ReplicaSets, Error> {
        let refs: Vec<&ReplicaSet> = rs_list.iter().collect();
        let new_uid = find_new(d, &refs).and_then(|rs| rs.metadata.uid.clone());
        let old: Vec<ReplicaSet> =
            rs_list.iter().filter(|rs| rs.metadata.uid != new_uid || new_uid.is_none()).cloned().collect();
        let new = self.new_replica_set(d, rs_list, &old, create).await?;
        Ok(ReplicaSets { new, old })
    }

    /// `getNewReplicaSet`.
    async fn new_replica_set(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let refs: Vec<&ReplicaSet> = rs_list.iter().collect();
        let existing = find_new(d, &refs).cloned();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let new_revision = max_revision(&old_refs) + 1;
        let now = Timestamp::now();

        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let annotations_updated = set_new_replica_set_annotations(d, &mut copy, new_revision, true);
            let min_ready = min_ready_seconds(d);
            let rs_min_ready = copy.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
            if annotations_updated || rs_min_ready != min_ready {
                if let Some(spec) = copy.spec.as_mut() {
                    spec.min_ready_seconds = Some(min_ready);
                }
                let name = copy.metadata.name.clone().unwrap_or_default();
                let updated = self.rs_api(&ns).replace(&name, &PostParams::default(), &copy).await?;
                return Ok(Some(updated));
            }
            let rev = annotation(&copy, REVISION_ANNOTATION).unwrap_or_default().to_string();
            let mut needs_update = set_deployment_revision(d, &rev);
            if progress_deadline(d).is_some() && get_condition(d.status.as_ref(), PROGRESSING).is_none() {
                let msg = format!("Found new replica set {:?}", copy.metadata.name.as_deref().unwrap_or_default());
                let status = d.status.get_or_insert_with(Default::default);
                set_condition(status, new_condition(PROGRESSING, "True", FOUND_NEW_REPLICA_SET, msg, now));
                needs_update = true;
            }
            if needs_update {
                self.write_status(d).await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }

        let spec = d.spec.clone().unwrap_or_default();
        let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = template_hash(&spec.template, collision_count);
        let mut template = spec.template.clone();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let mut selector = spec.selector.clone();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{hash}", d.metadata.name.as_deref().unwrap_or_default());
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                owner_references: Some(vec![controller_ref(d)]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(spec.min_ready_seconds.unwrap_or(0)),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&new_rs);
        let new_count = new_rs_new_replicas(d, &all, &new_rs);
        if let Some(s) = new_rs.spec.as_mut() {
            s.replicas = Some(new_count);
        }
        set_new_replica_set_annotations(d, &mut new_rs, new_revision, false);

        let (created, already_existed) = match self.rs_api(&ns).create(&PostParams::default(), &new_rs).await {
            Ok(created) => (created, false),
            Err(e) if is_already_exists(&e) => {
                // Either our own earlier creation the cache has not shown yet, or a
                // ReplicaSet of another template with the same hash.
                let Some(found) = self.replica_sets.get(&ObjectKey::new(&ns, &name)) else { return Err(e.into()) };
                let uid = d.metadata.uid.clone().unwrap_or_default();
                let found_template = found.spec.as_ref().and_then(|s| s.template.as_ref());
                if is_controlled_by(&found.metadata, &uid)
                    && super::revision::equal_ignore_hash(found_template, Some(&spec.template))
                {
                    ((*found).clone(), true)
                } else {
                    // A hash collision: the next attempt hashes with a higher count.
                    let status = d.status.get_or_insert_with(Default::default);
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    if self.write_status(d).await.is_ok() {
                        info!(deployment = %ObjectKey::of(d), rs = %name, "found a hash collision; retrying with a new collision count");
                    }
                    return Err(e.into());
                }
            }
            Err(e) if is_forbidden(&e) => return Err(e.into()),
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {}", message(&e));
                if progress_deadline(d).is_some() {
                    let status = d.status.get_or_insert_with(Default::default);
                    set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE, msg.clone(), now));
                    // The creation failure is the error worth reporting.
                    let _ = self.write_status(d).await;
                }
                self.recorder.warning(d, FAILED_RS_CREATE, msg);
                return Err(e.into());
            }
        };
        if !already_existed && new_count > 0 {
            self.recorder.normal(d, "ScalingReplicaSet", format!("Scaled up replica set {name} from 0 to {new_count}"));
        }
        let mut needs_update = set_deployment_revision(d, &new_revision.to_string());
        if !already_existed && progress_deadline(d).is_some() {
            let status = d.status.get_or_insert_with(Default::default);
            let msg = format!("Created new replica set {name:?}");
            set_condition(status, new_condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, msg, now));
            needs_update = true;
        }
        if needs_update {
            self.write_status(d).await?;
        }
        Ok(Some(created))
    }

    /// Scales `rs` to `new_scale` (and refreshes its replicas annotations); returns
    /// whether the size changed. `rs` becomes the stored object.
    pub(super) async fn scale_replica_set(
        &self,
        rs: &mut ReplicaSet,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<bool, Error> {
        let old_scale = rs_replicas(rs);
        let size_changes = old_scale != new_scale;
        let max = replicas(d) + max_surge(d);
        if !size_changes && !replicas_annotations_need_update(rs, replicas(d), max) {
            return Ok(false);
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(new_scale);
        set_replicas_annotations(&mut copy, replicas(d), max);
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        *rs = self.rs_api(&ns).replace(&name, &PostParams::default(), &copy).await?;
        if size_changes {
            let op = if old_scale < new_scale { "up" } else { "down" };
            self.recorder.normal(
                d,
                "ScalingReplicaSet",
                format!("Scaled {op} replica set {name} from {old_scale} to {new_scale}"),
            );
        }
        Ok(size_changes)
    }

    /// `scaleReplicaSetAndRecordEvent`: nothing to do if the size is already right.
    pub(super) async fn scale_and_record(
        &self,
        rs: &mut ReplicaSet,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<bool, Error> {
        if rs_replicas(rs) == new_scale {
            return Ok(false);
        }
        self.scale_replica_set(rs, new_scale, d).await
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another Deployment size.
    pub(super) async fn is_scaling_event(&self, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<bool, Error> {
        let sets = self.replica_sets_synced(d, rs_list, false).await?;
        Ok(sets
            .all()
            .into_iter()
            .filter(|rs| is_active(rs))
            .any(|rs| annotation_i32(rs, DESIRED_REPLICAS_ANNOTATION).is_some_and(|desired| desired != replicas(d))))
    }

    /// `sync`: scaling events and paused Deployments only resize, never roll out.
    pub(super) async fn sync_scaling(&self, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<(), Error> {
        let mut sets = self.replica_sets_synced(d, rs_list, false).await?;
        self.scale(d, &mut sets).await?;
        self.cleanup(d, &sets.old).await;
        self.sync_deployment_status(d, &sets).await
    }

    pub(super) async fn sync_status_only(&self, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<(), Error> {
        let sets = self.replica_sets_synced(d, rs_list, false).await?;
        self.sync_deployment_status(d, &sets).await
    }

    /// `scale`: the one active (or newest) ReplicaSet takes the whole size; with several
    /// active ones during a rolling update, each grows or shrinks in proportion.
    async fn scale(&self, d: &Deployment, sets: &mut ReplicaSets) -> Result<(), Error> {
        let want = replicas(d);
        // The only active ReplicaSet, or the newest if none is active.
        let active: Vec<usize> = (0..sets.old.len()).filter(|&i| is_active(&sets.old[i])).collect();
        let new_active = sets.new.as_ref().is_some_and(is_active);
        match (active.len(), new_active) {
            (0, _) | (1, false) => {
                let target = if new_active || (active.is_empty() && sets.new.is_some()) {
                    sets.new.as_mut()
                } else if let Some(&i) = active.first() {
                    Some(&mut sets.old[i])
                } else {
                    sets.old.iter_mut().max_by(|a, b| {
                        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                        ta.cmp(&tb)
                    })
                };
                if let Some(rs) = target
                    && rs_replicas(rs) != want
                {
                    self.scale_and_record(rs, want, d).await?;
                }
                return Ok(());
            }
            _ => {}
        }
        if is_saturated(d, sets.new.as_ref()) {
            for i in active {
                self.scale_and_record(&mut sets.old[i], 0, d).await?;
            }
            return Ok(());
        }
        if !is_rolling_update(d) {
            return Ok(());
        }
        // Several active ReplicaSets during a rollout: scale them in proportion.
        let mut order: Vec<(bool, usize)> = active.iter().map(|&i| (false, i)).collect();
        if new_active {
            order.push((true, 0));
        }
        let get = |sets: &ReplicaSets, (is_new, i): (bool, usize)| -> ReplicaSet {
            if is_new { sets.new.clone().unwrap_or_default() } else { sets.old[i].clone() }
        };
        let all_active: Vec<ReplicaSet> = order.iter().map(|&k| get(sets, k)).collect();
        let refs: Vec<&ReplicaSet> = all_active.iter().collect();
        let total: i32 = refs.iter().map(|rs| rs_replicas(rs)).sum();
        let allowed = if want > 0 { want + max_surge(d) } else { 0 };
        let growing = allowed - total > 0;
        // Upstream sorts by size (largest first), ties broken by age: newest first when
        // growing, oldest first when shrinking.
        let mut indexed: Vec<usize> = (0..order.len()).collect();
        indexed.sort_by(|&a, &b| {
            let (ra, rb) = (refs[a], refs[b]);
            let ta = ra.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let tb = rb.metadata.creation_timestamp.as_ref().map(|t| t.0);
            rs_replicas(rb).cmp(&rs_replicas(ra)).then_with(|| if growing { tb.cmp(&ta) } else { ta.cmp(&tb) })
        });
        let sorted: Vec<&ReplicaSet> = indexed.iter().map(|&i| refs[i]).collect();
        let sizes = proportional_sizes(d, &sorted);
        for (pos, &i) in indexed.iter().enumerate() {
            let key = order[i];
            let rs = if key.0 { sets.new.as_mut() } else { Some(&mut sets.old[key.1]) };
            if let Some(rs) = rs {
                self.scale_replica_set(rs, sizes[pos], d).await?;
            }
        }
        Ok(())
    }

    /// `cleanupDeployment`: deletes the oldest fully scaled-down ReplicaSets beyond
    /// `revisionHistoryLimit`. Failures are logged; the next sync tries again.
    pub(super) async fn cleanup(&self, d: &Deployment, old: &[ReplicaSet]) {
        let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit).filter(|l| *l != i32::MAX) else {
            return;
        };
        let mut cleanable: Vec<&ReplicaSet> =
            old.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| {
            revision(a).cmp(&revision(b)).then_with(|| {
                let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                ta.cmp(&tb)
            })
        });
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            // Never delete one that still has (or may still have) pods.
            if status_replicas(rs) != 0 || rs_replicas(rs) != 0 || rs.metadata.generation.unwrap_or(0) > observed {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            let ns = rs.metadata.namespace.clone().unwrap_or_default();
            match self.rs_api(&ns).delete(&name, &DeleteParams::default()).await {
                Ok(_) => debug!(rs = %name, "deleted old replica set beyond the revision history limit"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => debug!(rs = %name, error = %e, "deleting an old replica set failed"),
            }
        }
    }

    /// `syncDeploymentStatus`: writes the counts and Available condition if they changed.
    pub(super) async fn sync_deployment_status(&self, d: &mut Deployment, sets: &ReplicaSets) -> Result<(), Error> {
        let status = calculate_status(d, &sets.all(), sets.new.as_ref(), Timestamp::now());
        if d.status.clone().unwrap_or_default() == status {
            return Ok(());
        }
        d.status = Some(status);
        self.write_status(d).await
    }

    /// `checkPausedConditions`: Progressing is Unknown while paused, and says so when
    /// resumed (so time spent paused does not count against the deadline).
    pub(super) async fn check_paused_conditions(&self, d: &mut Deployment) -> Result<(), Error> {
        if progress_deadline(d).is_none() {
            return Ok(());
        }
        let current = get_condition(d.status.as_ref(), PROGRESSING);
        if current.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT)) {
            return Ok(());
        }
        let paused_condition = current.is_some_and(|c| c.reason.as_deref() == Some(PAUSED));
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let now = Timestamp::now();
        let condition = if paused && !paused_condition {
            new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into(), now)
        } else if !paused && paused_condition {
            new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into(), now)
        } else {
            return Ok(());
        };
        set_condition(d.status.get_or_insert_with(Default::default), condition);
        self.write_status(d).await
    }
}
