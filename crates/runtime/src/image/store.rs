//! The image store: what images are present, their resolved manifest and configuration for
//! this platform, and removal. Names are the normalised references (`docker.io/library/busybox:latest`).

use containerd_client::services::v1::{DeleteImageRequest, GetImageRequest, ListImagesRequest};

use super::content;
use super::oci::{ImageConfig, Index, Manifest, Platform, chain_ids, media};
use super::reference::ImageRef;
use super::unpack::snapshot_exists;
use crate::containerd::Containerd;
use crate::error::{Result, RuntimeError, StatusExt, is_not_found};

/// An image as the kubelet reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// The image name (normalised reference).
    pub name: String,
    /// The image ID: the digest of its configuration (`sha256:…`).
    pub id: String,
    /// `registry/repository@<digest of the image's target>`.
    pub repo_digest: String,
    /// Compressed size of the layers plus the configuration, in bytes.
    pub size: u64,
    /// Whether the layers are unpacked, i.e. containers can be created from it right away.
    pub unpacked: bool,
}

/// An image resolved down to the manifest and configuration for this machine.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    pub name: String,
    /// Digest of the image record's target (an index or a manifest).
    pub target_digest: String,
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub config_digest: String,
    pub config: ImageConfig,
    /// Chain ID of the top layer: the parent of a container's root file system snapshot.
    pub chain_id: String,
}

impl ResolvedImage {
    /// The summary the kubelet reports.
    pub fn summary(&self, unpacked: bool) -> ImageSummary {
        let repo_digest = match ImageRef::parse(&self.name) {
            Ok(reference) => reference.with_digest(&self.target_digest),
            Err(_) => format!("{}@{}", self.name, self.target_digest),
        };
        let size = self.manifest.layers.iter().map(|l| l.size.max(0) as u64).sum::<u64>()
            + self.manifest.config.size.max(0) as u64;
        ImageSummary { name: self.name.clone(), id: self.config_digest.clone(), repo_digest, size, unpacked }
    }
}

/// Reads and parses a JSON document from the content store.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    containerd: &Containerd,
    image: &str,
    digest: &str,
) -> Result<T> {
    let bytes = content::read(containerd, digest).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| RuntimeError::InvalidImage { image: image.to_string(), reason: format!("document {digest}: {e}") })
}

/// Follows an image target (index or manifest) down to this platform's manifest.
pub(crate) async fn manifest_for_target(
    containerd: &Containerd,
    image: &str,
    media_type: &str,
    digest: &str,
) -> Result<(String, Manifest)> {
    let mut media_type = media_type.to_string();
    let mut digest = digest.to_string();
    // Indexes may nest; two levels are plenty in practice, four guard against loops.
    for _ in 0..4 {
        if media::is_index(&media_type) {
            let index: Index = read_json(containerd, image, &digest).await?;
            let host = Platform::host();
            let chosen = index.manifest_for(&host).ok_or_else(|| RuntimeError::InvalidImage {
                image: image.to_string(),
                reason: format!("no manifest for platform {}/{}", host.os, host.architecture),
            })?;
            media_type = chosen.media_type.clone();
            digest = chosen.digest.clone();
            continue;
        }
        if media::is_manifest(&media_type) {
            let manifest: Manifest = read_json(containerd, image, &digest).await?;
            return Ok((digest, manifest));
        }
        return Err(RuntimeError::InvalidImage {
            image: image.to_string(),
            reason: format!("unsupported media type {media_type:?}"),
        });
    }
    Err(RuntimeError::InvalidImage { image: image.to_string(), reason: "indexes nest too deeply".into() })
}

/// Resolves an image record by exact name.
pub(crate) async fn resolve(containerd: &Containerd, name: &str) -> Result<ResolvedImage> {
    let image = match containerd.images().get(containerd.request(GetImageRequest { name: name.to_string() })).await {
        Ok(response) => response.into_inner().image,
        Err(status) if is_not_found(&status) => None,
        Err(status) => return Err(RuntimeError::Containerd { op: "get image", status }),
    };
    let target = image.and_then(|i| i.target).ok_or_else(|| RuntimeError::ImageNotFound(name.to_string()))?;
    let (manifest_digest, manifest) = manifest_for_target(containerd, name, &target.media_type, &target.digest).await?;
    let config: ImageConfig = read_json(containerd, name, &manifest.config.digest).await?;
    let chain_id = chain_ids(&config.rootfs.diff_ids).pop().unwrap_or_default();
    Ok(ResolvedImage {
        name: name.to_string(),
        target_digest: target.digest,
        manifest_digest,
        config_digest: manifest.config.digest.clone(),
        manifest,
        config,
        chain_id,
    })
}

/// The summary of an image if it is present (by any spelling of its reference).
pub(crate) async fn present(
    containerd: &Containerd,
    snapshotter: &str,
    reference: &str,
) -> Result<Option<ImageSummary>> {
    let name = ImageRef::parse(reference)?.to_string();
    match resolve(containerd, &name).await {
        Ok(resolved) => {
            let unpacked =
                resolved.chain_id.is_empty() || snapshot_exists(containerd, snapshotter, &resolved.chain_id).await?;
            Ok(Some(resolved.summary(unpacked)))
        }
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Every image in the namespace. Images whose documents are unreadable are skipped with a warning.
pub(crate) async fn list(containerd: &Containerd, snapshotter: &str) -> Result<Vec<ImageSummary>> {
    let images = containerd
        .images()
        .list(containerd.request(ListImagesRequest { filters: Vec::new() }))
        .await
        .op("list images")?
        .into_inner()
        .images;
    let mut summaries = Vec::with_capacity(images.len());
    for image in images {
        match resolve(containerd, &image.name).await {
            Ok(resolved) => {
                let unpacked = resolved.chain_id.is_empty()
                    || snapshot_exists(containerd, snapshotter, &resolved.chain_id).await?;
                summaries.push(resolved.summary(unpacked));
            }
            Err(err) => tracing::warn!(image = %image.name, %err, "skipping unreadable image"),
        }
    }
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(summaries)
}

/// Removes an image name; its content and snapshots go once nothing else uses them.
pub(crate) async fn remove(containerd: &Containerd, reference: &str) -> Result<()> {
    let name = ImageRef::parse(reference)?.to_string();
    let request = DeleteImageRequest { name: name.clone(), sync: true, target: None };
    match containerd.images().delete(containerd.request(request)).await {
        Ok(_) => Ok(()),
        Err(status) if is_not_found(&status) => Err(RuntimeError::ImageNotFound(name)),
        Err(status) => Err(RuntimeError::Containerd { op: "delete image", status }),
    }
}
