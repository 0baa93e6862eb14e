//! Claims a pod mounts must exist and not be going away (the part of upstream's
//! VolumeBinding plugin that does not need volume provisioning).

use crate::cache::ClusterState;
use crate::pod_info::PodInfo;

/// The message when a claim stands in the way, checked before any node (a PreFilter).
pub fn prefilter(state: &ClusterState, pod: &PodInfo) -> Result<(), String> {
    for volume in pod.spec().and_then(|s| s.volumes.as_deref()).unwrap_or_default() {
        let (claim, ephemeral) = match (&volume.persistent_volume_claim, &volume.ephemeral) {
            (Some(pvc), _) => (pvc.claim_name.clone(), false),
            (None, Some(_)) => (format!("{}-{}", pod.name, volume.name), true),
            _ => continue,
        };
        match state.claims.get(&format!("{}/{claim}", pod.namespace)) {
            None if ephemeral => {
                return Err(format!(
                    "waiting for ephemeral volume controller to create the persistentvolumeclaim {claim:?}"
                ));
            }
            None => return Err(format!("persistentvolumeclaim {claim:?} not found")),
            Some(true) => return Err(format!("persistentvolumeclaim {claim:?} is being deleted")),
            Some(false) => {}
        }
    }
    Ok(())
}
