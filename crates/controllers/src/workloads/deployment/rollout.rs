//! The two rollout strategies. RollingUpdate grows the new ReplicaSet within the surge
//! budget and shrinks old ones as far as the unavailability budget allows (unhealthy
//! old pods first); Recreate scales every old ReplicaSet to zero, waits until their pods
//! are gone, then scales the new one up.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use tracing::debug;

use super::DeploymentController;
use super::maths::{
    actual_replica_count, available_replica_count, available_replicas, max_unavailable, new_rs_new_replicas,
    replica_count, replicas, rs_replicas,
};
use super::progress::{deployment_complete, recheck_after, rollout_status};
use super::sync::{ReplicaSets, is_active};
use crate::runtime::{Error, ObjectKey};
use crate::workloads::pods::phase;

impl DeploymentController {
    pub(super) async fn rollout_rolling(&self, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<(), Error> {
        let mut sets = self.replica_sets_synced(d, rs_list, true).await?;
        if self.reconcile_new_replica_set(d, &mut sets).await? {
            return self.sync_rollout_status(d, &sets).await;
        }
        if self.reconcile_old_replica_sets(d, &mut sets).await {
            return self.sync_rollout_status(d, &sets).await;
        }
        if d.status.as_ref().is_some_and(|s| deployment_complete(d, s)) {
            self.cleanup(d, &sets.old).await;
        }
        self.sync_rollout_status(d, &sets).await
    }

    pub(super) async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rs_list: &[ReplicaSet],
        pods: &HashMap<String, Vec<Arc<Pod>>>,
    ) -> Result<(), Error> {
        let mut sets = self.replica_sets_synced(d, rs_list, false).await?;
        // Scale down every old ReplicaSet first.
        let mut scaled_down = false;
        for rs in sets.old.iter_mut().filter(|rs| is_active(rs)) {
            scaled_down |= self.scale_and_record(rs, 0, d).await?;
        }
        if scaled_down {
            return self.sync_rollout_status(d, &sets).await;
        }
        // Then wait until no old pod runs anymore.
        if old_pods_running(&sets, pods) {
            return self.sync_rollout_status(d, &sets).await;
        }
        if sets.new.is_none() {
            sets = self.replica_sets_synced(d, rs_list, true).await?;
        }
        self.reconcile_new_replica_set(d, &mut sets).await?;
        if d.status.as_ref().is_some_and(|s| deployment_complete(d, s)) {
            self.cleanup(d, &sets.old).await;
        }
        self.sync_rollout_status(d, &sets).await
    }

    /// Grows (or shrinks, if the Deployment shrank) the new ReplicaSet; true if it was scaled.
    async fn reconcile_new_replica_set(&self, d: &Deployment, sets: &mut ReplicaSets) -> Result<bool, Error> {
        let Some(new) = sets.new.clone() else { return Ok(false) };
        let want = replicas(d);
        let target = match rs_replicas(&new).cmp(&want) {
            std::cmp::Ordering::Equal => return Ok(false),
            std::cmp::Ordering::Greater => want,
            std::cmp::Ordering::Less => new_rs_new_replicas(d, &sets.all(), &new),
        };
        let Some(rs) = sets.new.as_mut() else { return Ok(false) };
        self.scale_and_record(rs, target, d).await
    }

    /// Shrinks old ReplicaSets as far as availability allows; true if any was scaled.
    /// Scaling errors end the step without failing the sync, as upstream does: the
    /// next event brings the Deployment back.
    async fn reconcile_old_replica_sets(&self, d: &Deployment, sets: &mut ReplicaSets) -> bool {
        let Some(new) = sets.new.clone() else { return false };
        let active: Vec<&ReplicaSet> = sets.old.iter().filter(|rs| is_active(rs)).collect();
        if replica_count(&active) == 0 {
            return false;
        }
        let all_pods = replica_count(&sets.all());
        let min_available = replicas(d) - max_unavailable(d);
        let new_unavailable = rs_replicas(&new) - available_replicas(&new);
        // Count the new ReplicaSet's unavailable pods against the budget, so a broken new
        // template cannot drain the old ReplicaSets.
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = match self.cleanup_unhealthy_replicas(d, sets, max_scaled_down).await {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "scaling down unhealthy old replicas failed");
                return false;
            }
        };
        let scaled = match self.scale_down_old_for_rolling_update(d, sets).await {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "scaling down old replica sets failed");
                return cleaned > 0;
            }
        };
        cleaned + scaled > 0
    }

    /// Removes old replicas that are not available anyway (oldest ReplicaSets first),
    /// since that cannot make availability worse.
    async fn cleanup_unhealthy_replicas(&self, d: &Deployment, sets: &mut ReplicaSets, max: i32) -> Result<i32, Error> {
        let mut total = 0;
        for rs in sets.old.iter_mut() {
            if total >= max {
                break;
            }
            let (size, available) = (rs_replicas(rs), available_replicas(rs));
            if size == 0 || size == available {
                continue;
            }
            let down = (max - total).min(size - available);
            self.scale_and_record(rs, size - down, d).await?;
            total += down;
        }
        Ok(total)
    }

    /// Shrinks old ReplicaSets (oldest first) by as many pods as are available beyond
    /// `replicas - maxUnavailable`.
    async fn scale_down_old_for_rolling_update(&self, d: &Deployment, sets: &mut ReplicaSets) -> Result<i32, Error> {
        let min_available = replicas(d) - max_unavailable(d);
        let available = available_replica_count(&sets.all());
        if available <= min_available {
            return Ok(0);
        }
        let budget = available - min_available;
        let mut total = 0;
        for rs in sets.old.iter_mut() {
            if total >= budget {
                break;
            }
            let size = rs_replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(budget - total);
            self.scale_and_record(rs, size - down, d).await?;
            total += down;
        }
        Ok(total)
    }

    /// `syncRolloutStatus`: writes the status if it changed; otherwise schedules the
    /// progress-deadline check.
    pub(super) async fn sync_rollout_status(&self, d: &mut Deployment, sets: &ReplicaSets) -> Result<(), Error> {
        let now = Timestamp::now();
        let status = rollout_status(d, &sets.all(), sets.new.as_ref(), now);
        if d.status.clone().unwrap_or_default() == status {
            if let Some(after) = recheck_after(d, &status, now) {
                self.queue.add_after(ObjectKey::of(d), after);
            }
            return Ok(());
        }
        d.status = Some(status);
        self.write_status(d).await
    }
}

/// Whether any pod of an old ReplicaSet may still be running (Recreate must wait).
fn old_pods_running(sets: &ReplicaSets, pods: &HashMap<String, Vec<Arc<Pod>>>) -> bool {
    let old: Vec<&ReplicaSet> = sets.old.iter().collect();
    if actual_replica_count(&old) > 0 {
        return true;
    }
    let new_uid = sets.new.as_ref().and_then(|rs| rs.metadata.uid.as_deref());
    pods.iter()
        .filter(|(uid, _)| Some(uid.as_str()) != new_uid)
        .flat_map(|(_, list)| list)
        // Terminal pods no longer run; anything else (including Unknown) might.
        .any(|p| !matches!(phase(p), "Failed" | "Succeeded"))
}
