//! Turning content that is in the store into a usable image: garbage-collection labels on
//! the documents, the layers unpacked for this platform, and the image records (names).
//! Shared by archive import and registry pull.

use std::collections::HashMap;

use containerd_client::services::v1::{CreateImageRequest, Image, UpdateImageRequest};

use super::content;
use super::oci::{Descriptor, ImageConfig, Index, media};
use super::store::{ImageSummary, manifest_for_target, read_json};
use super::unpack::unpack;
use crate::containerd::Containerd;
use crate::error::{Result, RuntimeError};

/// Labels, unpacks and names an image whose blobs (for this platform at least) are in the
/// content store. Must run under `lease` until the names exist.
pub(crate) async fn register(
    containerd: &Containerd,
    lease: &str,
    snapshotter: &str,
    names: &[String],
    target: &Descriptor,
) -> Result<Vec<ImageSummary>> {
    let label_name = names.first().cloned().unwrap_or_else(|| target.digest.clone());
    if media::is_index(&target.media_type) {
        let index: Index = read_json(containerd, &label_name, &target.digest).await?;
        content::set_labels(containerd, &target.digest, content::index_gc_labels(&index)).await?;
    }
    let (manifest_digest, manifest) =
        manifest_for_target(containerd, &label_name, &target.media_type, &target.digest).await?;
    content::set_labels(containerd, &manifest_digest, content::manifest_gc_labels(&manifest)).await?;
    let config: ImageConfig = read_json(containerd, &label_name, &manifest.config.digest).await?;
    let chain_id = unpack(containerd, lease, snapshotter, &label_name, &manifest, &config).await?;
    if !chain_id.is_empty() {
        let labels = HashMap::from([(format!("containerd.io/gc.ref.snapshot.{snapshotter}"), chain_id.clone())]);
        content::set_labels(containerd, &manifest.config.digest, labels).await?;
    }
    let mut summaries = Vec::with_capacity(names.len());
    for name in names {
        put_image(containerd, lease, name, target).await?;
        let resolved = super::store::ResolvedImage {
            name: name.clone(),
            target_digest: target.digest.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest: manifest.clone(),
            config_digest: manifest.config.digest.clone(),
            config: config.clone(),
            chain_id: chain_id.clone(),
        };
        summaries.push(resolved.summary(true));
    }
    Ok(summaries)
}

/// Creates the image record, or points an existing one at the new target.
async fn put_image(containerd: &Containerd, lease: &str, name: &str, target: &Descriptor) -> Result<()> {
    let image = Image {
        name: name.to_string(),
        labels: HashMap::new(),
        target: Some(containerd_client::types::Descriptor {
            media_type: target.media_type.clone(),
            digest: target.digest.clone(),
            size: target.size,
            annotations: HashMap::new(),
        }),
        created_at: None,
        updated_at: None,
    };
    let create = CreateImageRequest { image: Some(image.clone()), source_date_epoch: None };
    match containerd.images().create(containerd.leased_request(create, lease)).await {
        Ok(_) => Ok(()),
        Err(status) if crate::error::is_already_exists(&status) => {
            let update = UpdateImageRequest {
                image: Some(image),
                update_mask: Some(prost_types::FieldMask { paths: vec!["target".to_string()] }),
                source_date_epoch: None,
            };
            containerd
                .images()
                .update(containerd.leased_request(update, lease))
                .await
                .map_err(|status| RuntimeError::Containerd { op: "update image", status })?;
            Ok(())
        }
        Err(status) => Err(RuntimeError::Containerd { op: "create image", status }),
    }
}
