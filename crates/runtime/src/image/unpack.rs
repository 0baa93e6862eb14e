//! Unpacking: applying an image's layers, bottom first, into committed snapshots named by
//! their chain IDs, so that a container's root file system is one `Prepare` away. Layers
//! already unpacked (shared with another image) are skipped.

use std::collections::HashMap;

use containerd_client::services::v1::ApplyRequest;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};

use super::oci::{ImageConfig, Manifest, chain_ids};
use crate::containerd::Containerd;
use crate::error::{Result, RuntimeError, StatusExt, is_already_exists, is_not_found};

/// True when the snapshotter holds a committed snapshot with this name.
pub(crate) async fn snapshot_exists(containerd: &Containerd, snapshotter: &str, name: &str) -> Result<bool> {
    let request = StatSnapshotRequest { snapshotter: snapshotter.to_string(), key: name.to_string() };
    match containerd.snapshots().stat(containerd.request(request)).await {
        Ok(_) => Ok(true),
        Err(status) if is_not_found(&status) => Ok(false),
        Err(status) => Err(RuntimeError::Containerd { op: "stat snapshot", status }),
    }
}

/// Unpacks the layers of `manifest` and returns the chain ID of the top layer (empty for an
/// image without layers).
pub(crate) async fn unpack(
    containerd: &Containerd,
    lease: &str,
    snapshotter: &str,
    image: &str,
    manifest: &Manifest,
    config: &ImageConfig,
) -> Result<String> {
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(RuntimeError::InvalidImage {
            image: image.to_string(),
            reason: format!("{} layers but {} diff IDs in the configuration", manifest.layers.len(), diff_ids.len()),
        });
    }
    let chain = chain_ids(diff_ids);
    let mut parent = String::new();
    for ((layer, diff_id), chain_id) in manifest.layers.iter().zip(diff_ids).zip(&chain) {
        if !snapshot_exists(containerd, snapshotter, chain_id).await? {
            apply_layer(containerd, lease, snapshotter, image, layer, diff_id, chain_id, &parent).await?;
        }
        parent = chain_id.clone();
    }
    Ok(parent)
}

#[allow(clippy::too_many_arguments)]
async fn apply_layer(
    containerd: &Containerd,
    lease: &str,
    snapshotter: &str,
    image: &str,
    layer: &super::oci::Descriptor,
    diff_id: &str,
    chain_id: &str,
    parent: &str,
) -> Result<()> {
    let key = format!("k3rs-extract-{}-{chain_id}", uuid::Uuid::new_v4().simple());
    let prepare = PrepareSnapshotRequest {
        snapshotter: snapshotter.to_string(),
        key: key.clone(),
        parent: parent.to_string(),
        labels: HashMap::new(),
    };
    let mounts = containerd
        .snapshots()
        .prepare(containerd.leased_request(prepare, lease))
        .await
        .op("prepare snapshot")?
        .into_inner()
        .mounts;
    let result = async {
        let apply = ApplyRequest {
            diff: Some(containerd_client::types::Descriptor {
                media_type: layer.media_type.clone(),
                digest: layer.digest.clone(),
                size: layer.size,
                annotations: HashMap::new(),
            }),
            mounts,
            payloads: HashMap::new(),
            sync_fs: false,
        };
        let applied = containerd
            .diff()
            .apply(containerd.leased_request(apply, lease))
            .await
            .op("apply layer")?
            .into_inner()
            .applied;
        let applied_digest = applied.map(|d| d.digest).unwrap_or_default();
        if applied_digest != diff_id {
            return Err(RuntimeError::InvalidImage {
                image: image.to_string(),
                reason: format!("layer {} unpacks to {applied_digest}, the configuration says {diff_id}", layer.digest),
            });
        }
        let commit = CommitSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            name: chain_id.to_string(),
            key: key.clone(),
            labels: HashMap::new(),
        };
        match containerd.snapshots().commit(containerd.leased_request(commit, lease)).await {
            Ok(_) => Ok(true),
            // Another unpack of the same layer won the race: its snapshot is as good as ours.
            Err(status) if is_already_exists(&status) => Ok(false),
            Err(status) => Err(RuntimeError::Containerd { op: "commit snapshot", status }),
        }
    }
    .await;
    if !matches!(result, Ok(true)) {
        let remove = RemoveSnapshotRequest { snapshotter: snapshotter.to_string(), key };
        let _ = containerd.snapshots().remove(containerd.request(remove)).await;
    }
    result.map(|_| ())
}
