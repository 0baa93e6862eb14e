//! Rollout arithmetic, as upstream's deployment utilities compute it: surge and
//! unavailability budgets from numbers or percentages, the size of the new ReplicaSet
//! in a rolling update, and proportional scaling of several active ReplicaSets.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::revision::annotation_i32;

/// `deployment.kubernetes.io/desired-replicas`: the Deployment's size when the
/// ReplicaSet was last scaled (separates scaling events from rollouts).
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `deployment.kubernetes.io/max-replicas`: size plus surge at that time.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";

/// `intstr.GetScaledValueFromIntOrPercent`: a number, or a percentage of `total`
/// rounded up or down.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err(format!("invalid value for IntOrString: invalid type: string is not a percentage ({s:?})"));
            };
            let percent: i64 = number.parse().map_err(|_| format!("invalid value {s:?}: not an integer percentage"))?;
            let scaled = percent * i64::from(total);
            let v = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
            i32::try_from(v).map_err(|_| format!("invalid value {s:?}: out of range"))
        }
    }
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.as_ref();
    (
        s.map_or(0, |s| s.replicas),
        s.and_then(|s| s.ready_replicas).unwrap_or(0),
        s.and_then(|s| s.available_replicas).unwrap_or(0),
    )
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable) for `desired` replicas. Surge rounds
/// up, unavailability down; if both come out 0, one pod may be unavailable so the
/// rollout can still move.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    // Validation rejects bad values; treat anything left as zero.
    resolve_fenceposts(ru.and_then(|r| r.max_surge.as_ref()), ru.and_then(|r| r.max_unavailable.as_ref()), replicas(d))
        .unwrap_or((0, 1))
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    fenceposts(d).0
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// Sum of `spec.replicas`.
pub fn replica_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| rs_replicas(rs)).sum()
}

/// Sum of `status.replicas`.
pub fn actual_replica_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| rs_status(rs).0).sum()
}

pub fn ready_replica_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| rs_status(rs).1).sum()
}

pub fn available_replica_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| rs_status(rs).2).sum()
}

pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs_status(rs).2
}

pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs_status(rs).0
}

/// `NewRSNewReplicas`: how big the new ReplicaSet may be now. A rolling update may grow
/// it while all ReplicaSets together stay within `replicas + maxSurge`.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling_update(d) {
        return replicas(d);
    }
    let current = replica_count(all);
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let scale_up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + scale_up
}

/// `IsSaturated`: the new ReplicaSet holds all desired replicas and all are available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let Some(desired) = annotation_i32(rs, DESIRED_REPLICAS_ANNOTATION) else { return false };
    rs_replicas(rs) == replicas(d) && desired == replicas(d) && available_replicas(rs) == replicas(d)
}

/// Go's `math.Round` (half away from zero).
fn round(x: f64) -> i32 {
    x.round() as i32
}

/// `getReplicaSetFraction`: what this ReplicaSet's size would be at the new Deployment
/// size, in proportion to the size it was scaled for, minus its size now.
fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = replicas(d) + max_surge(d);
    let annotated = annotation_i32(rs, MAX_REPLICAS_ANNOTATION)
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let new_size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    round(new_size) - rs_replicas(rs)
}

/// `GetProportion`: how much of `to_add` (positive or negative) this ReplicaSet takes,
/// given `added` already handed out.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
}

/// The sizes of `active` ReplicaSets (sorted as upstream does: for scaling up, biggest
/// and newest first; for scaling down, biggest and oldest first) after a proportional
/// scaling to the Deployment's size plus surge. Leftovers go to the first.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<i32> {
    let allowed_size = if replicas(d) > 0 { replicas(d) + max_surge(d) } else { 0 };
    let to_add = allowed_size - replica_count(active);
    let mut added = 0;
    let mut sizes: Vec<i32> = active
        .iter()
        .map(|rs| {
            if to_add == 0 {
                return rs_replicas(rs);
            }
            let p = proportion(rs, d, to_add, added);
            added += p;
            rs_replicas(rs) + p
        })
        .collect();
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        *first = (*first + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    pub fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn rs(name: &str, replicas: i32, available: i32, max_replicas: Option<i32>) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: max_replicas.map(|m| [(MAX_REPLICAS_ANNOTATION.to_string(), m.to_string())].into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..Default::default() }),
            status: Some(ReplicaSetStatus { replicas, available_replicas: Some(available), ..Default::default() }),
        }
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        assert_eq!(resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10), Ok((3, 2)));
        assert_eq!(resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 1), Ok((1, 0)));
        assert_eq!(resolve_fenceposts(Some(&IntOrString::Int(3)), Some(&IntOrString::Int(2)), 10), Ok((3, 2)));
        // Both zero after rounding: one may be unavailable.
        assert_eq!(resolve_fenceposts(Some(&pct("0%")), Some(&pct("1%")), 2), Ok((0, 1)));
        assert!(resolve_fenceposts(Some(&pct("x%")), None, 2).is_err());
        assert!(scaled_value(&pct("25"), 4, true).is_err());
    }

    #[test]
    fn max_unavailable_is_capped_by_replicas() {
        let d = deployment(2, IntOrString::Int(0), IntOrString::Int(5));
        assert_eq!(max_unavailable(&d), 2);
        assert_eq!(max_surge(&d), 0);
        let zero = deployment(0, pct("25%"), pct("25%"));
        assert_eq!(max_unavailable(&zero), 0);
    }

    #[test]
    fn new_replica_set_grows_within_the_surge() {
        // 10 replicas, surge 3: old has 10, new may take 3.
        let d = deployment(10, IntOrString::Int(3), IntOrString::Int(2));
        let old = rs("old", 10, 10, None);
        let new = rs("new", 0, 0, None);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
        // Once at the limit, no growth.
        let new3 = rs("new", 3, 0, None);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new3], &new3), 3);
        // Old scaled down by 5: new may grow to 8, never beyond the desired 10.
        let old5 = rs("old", 5, 5, None);
        assert_eq!(new_rs_new_replicas(&d, &[&old5, &new3], &new3), 8);
        let old0 = rs("old", 0, 0, None);
        assert_eq!(new_rs_new_replicas(&d, &[&old0, &new3], &new3), 10);
    }

    #[test]
    fn proportional_scaling_keeps_ratios() {
        // A rollout in progress (old 8, new 5, surge 3 at 10 replicas) scaled to 20:
        // the new budget is 23 and both grow in proportion to their share of 13.
        let mut d = deployment(20, IntOrString::Int(3), IntOrString::Int(2));
        d.status = Some(Default::default());
        let new = rs("new", 5, 0, Some(13));
        let old = rs("old", 8, 8, Some(13));
        let sizes = proportional_sizes(&d, &[&old, &new]);
        assert_eq!(sizes.iter().sum::<i32>(), 23);
        assert_eq!(sizes, vec![14, 9]);
        // Scaling down to zero empties everything.
        let d0 = deployment(0, IntOrString::Int(3), IntOrString::Int(2));
        assert_eq!(proportional_sizes(&d0, &[&old, &new]), vec![0, 0]);
    }
}
