//! Importing image archives (airgap images): every file of the archive is streamed into the
//! content store; then the archive's index (OCI layout `index.json`) or manifest list
//! (`docker save`'s `manifest.json`) says which images it holds and under which names.
//! A docker-archive image gets an OCI manifest written for it, as containerd does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::archive::{ArchiveMessage, ImportProgress, read_archive};
use super::content::{self, Piece};
use super::oci::{self, Descriptor, Index, Manifest, media};
use super::reference::ImageRef;
use super::register::register;
use super::store::ImageSummary;
use crate::containerd::{Containerd, Lease};
use crate::error::{Result, RuntimeError};

/// Files up to this size are also kept in memory: they may be documents we must parse.
const SMALL_FILE: u64 = 1 << 20;
/// Total memory the kept files may take.
const SMALL_FILES_BUDGET: u64 = 64 << 20;

/// A file of the archive, as stored.
#[derive(Clone, Debug)]
struct StoredFile {
    digest: String,
    size: u64,
    magic: [u8; 4],
}

/// Everything the walk over the archive learned.
#[derive(Default)]
struct ArchiveFiles {
    stored: HashMap<String, StoredFile>,
    small: HashMap<String, Bytes>,
}

/// File names that describe an archive rather than hold a blob.
fn is_metadata(path: &str) -> bool {
    matches!(path, "index.json" | "oci-layout" | "manifest.json" | "repositories")
        || path.ends_with("/json")
        || path.ends_with("/VERSION")
}

/// Imports every image of an archive and returns what was imported.
pub(crate) async fn import_archive(
    containerd: &Containerd,
    snapshotter: &str,
    path: &Path,
    progress: ImportProgress,
) -> Result<Vec<ImageSummary>> {
    let archive_error = |reason: String| RuntimeError::Archive { path: path.to_path_buf(), reason };
    let lease = Lease::create(containerd, "import").await?;
    let result = async {
        let files = store_files(containerd, &lease.id, path, progress).await?;
        let images = if let Some(index) = files.small.get("index.json") {
            oci_layout_images(index).map_err(archive_error)?
        } else if let Some(manifest) = files.small.get("manifest.json") {
            docker_archive_images(containerd, &lease.id, &files, manifest).await?
        } else {
            return Err(archive_error(
                "neither an OCI layout (index.json) nor a docker archive (manifest.json)".into(),
            ));
        };
        if images.is_empty() {
            return Err(archive_error("the archive names no image".into()));
        }
        let mut imported = Vec::new();
        for (names, target) in images {
            if names.is_empty() {
                tracing::warn!(archive = %path.display(), digest = %target.digest, "skipping an image without a name");
                continue;
            }
            imported.extend(register(containerd, &lease.id, snapshotter, &names, &target).await?);
        }
        Ok(imported)
    }
    .await;
    if let Err(err) = lease.release(containerd).await {
        tracing::warn!(%err, "releasing the import lease failed; it expires by itself");
    }
    result
}

/// Streams the archive's files into the content store.
async fn store_files(
    containerd: &Containerd,
    lease: &str,
    path: &Path,
    progress: ImportProgress,
) -> Result<ArchiveFiles> {
    let archive_error = |reason: String| RuntimeError::Archive { path: path.to_path_buf(), reason };
    let mut rx = read_archive(PathBuf::from(path), progress);
    let mut files = ArchiveFiles::default();
    let mut kept = 0u64;
    while let Some(message) = rx.recv().await {
        let (name, size) = match message {
            ArchiveMessage::File { path, size } => (path, size),
            ArchiveMessage::Error(reason) => return Err(archive_error(reason)),
            other => return Err(archive_error(format!("unexpected reader message {other:?}"))),
        };
        // OCI layouts name blobs by digest: those already present need not be written.
        let known = name.strip_prefix("blobs/sha256/").map(|hex| format!("sha256:{hex}"));
        let write = !is_metadata(&name)
            && match &known {
                Some(digest) => !content::exists(containerd, digest).await?,
                None => true,
            };
        let keep = size <= SMALL_FILE && kept + size <= SMALL_FILES_BUDGET;
        let (pieces_tx, pieces_rx) = mpsc::channel(4);
        let writer = async {
            if write {
                content::write_stream(containerd, lease, known.as_deref(), size as i64, pieces_rx).await
            } else {
                drop(pieces_rx);
                Ok(())
            }
        };
        let forward = async {
            let mut data = Vec::new();
            loop {
                match rx.recv().await {
                    Some(ArchiveMessage::Data(chunk)) => {
                        if keep {
                            data.extend_from_slice(&chunk);
                        }
                        if write {
                            let _ = pieces_tx.send(Piece::Data(chunk)).await;
                        }
                    }
                    Some(ArchiveMessage::End { digest, magic }) => {
                        if write {
                            let _ = pieces_tx.send(Piece::Digest(digest.clone())).await;
                        }
                        drop(pieces_tx);
                        return Ok((digest, magic, data));
                    }
                    Some(ArchiveMessage::Error(reason)) => return Err(archive_error(reason)),
                    Some(ArchiveMessage::File { .. }) | None => {
                        return Err(archive_error(format!("{name}: truncated")));
                    }
                }
            }
        };
        let (written, forwarded) = tokio::join!(writer, forward);
        let (digest, magic, data) = forwarded?;
        written?;
        if let Some(known) = &known
            && *known != digest
        {
            return Err(archive_error(format!("{name}: content digest is {digest}")));
        }
        if keep {
            kept += size;
            files.small.insert(name.clone(), Bytes::from(data));
        }
        files.stored.insert(name, StoredFile { digest, size, magic });
    }
    Ok(files)
}

/// The images an OCI layout's `index.json` lists: each entry with the names its annotations give.
fn oci_layout_images(index: &[u8]) -> Result<Vec<(Vec<String>, Descriptor)>, String> {
    let index: Index = serde_json::from_slice(index).map_err(|e| format!("index.json: {e}"))?;
    let mut images = Vec::new();
    for entry in index.manifests {
        if !media::is_index(&entry.media_type) && !media::is_manifest(&entry.media_type) {
            return Err(format!("index.json: unsupported media type {:?}", entry.media_type));
        }
        let names = oci_entry_names(&entry.annotations);
        images.push((names, Descriptor { annotations: Default::default(), platform: None, ..entry }));
    }
    Ok(images)
}

/// Names from an index entry's annotations: containerd's full name, or the OCI ref name when
/// it is a whole reference (a bare tag names no repository and is ignored).
fn oci_entry_names(annotations: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let candidate = annotations
        .get(oci::ANNOTATION_CONTAINERD_NAME)
        .or_else(|| annotations.get(oci::ANNOTATION_REF_NAME).filter(|name| name.contains('/') || name.contains(':')));
    candidate.and_then(|name| ImageRef::parse(name).ok()).map(|r| vec![r.to_string()]).unwrap_or_default()
}

/// One entry of a docker archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The images a docker archive holds; an OCI manifest is written for each.
async fn docker_archive_images(
    containerd: &Containerd,
    lease: &str,
    files: &ArchiveFiles,
    manifest_json: &[u8],
) -> Result<Vec<(Vec<String>, Descriptor)>> {
    let invalid = |reason: String| RuntimeError::InvalidImage { image: "docker archive".into(), reason };
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(manifest_json).map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let mut images = Vec::new();
    for entry in entries {
        let file = |path: &str| {
            files.stored.get(path).ok_or_else(|| invalid(format!("manifest.json names missing file {path}")))
        };
        let config = file(&entry.config)?;
        let mut layers = Vec::with_capacity(entry.layers.len());
        for layer in &entry.layers {
            let stored = file(layer)?;
            layers.push(Descriptor {
                media_type: oci::layer_media_type(&stored.magic).to_string(),
                digest: stored.digest.clone(),
                size: stored.size as i64,
                ..Default::default()
            });
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.to_string()),
            config: Descriptor {
                media_type: media::OCI_CONFIG.to_string(),
                digest: config.digest.clone(),
                size: config.size as i64,
                ..Default::default()
            },
            layers,
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| invalid(format!("encoding manifest: {e}")))?;
        let digest = oci::sha256_digest(&bytes);
        let size = bytes.len() as i64;
        content::write_bytes(containerd, lease, &digest, Bytes::from(bytes)).await?;
        let names = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|tag| ImageRef::parse(tag).ok().map(|r| r.to_string()))
            .collect();
        images.push((
            names,
            Descriptor { media_type: media::OCI_MANIFEST.to_string(), digest, size, ..Default::default() },
        ));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn oci_names_come_from_annotations() {
        let full = BTreeMap::from([(oci::ANNOTATION_CONTAINERD_NAME.to_string(), "busybox:1".to_string())]);
        assert_eq!(oci_entry_names(&full), vec!["docker.io/library/busybox:1"]);
        let reference = BTreeMap::from([(oci::ANNOTATION_REF_NAME.to_string(), "quay.io/a/b:2".to_string())]);
        assert_eq!(oci_entry_names(&reference), vec!["quay.io/a/b:2"]);
        let bare_tag = BTreeMap::from([(oci::ANNOTATION_REF_NAME.to_string(), "latest".to_string())]);
        assert!(oci_entry_names(&bare_tag).is_empty());
    }

    #[test]
    fn oci_layout_index_lists_targets() {
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":"sha256:00","size":10,"annotations":{"io.containerd.image.name":"k3rs.local/test:1"}}]}"#;
        let images = oci_layout_images(index).unwrap();
        assert_eq!(images[0].0, vec!["k3rs.local/test:1"]);
        assert_eq!(images[0].1.digest, "sha256:00");
        let bad = br#"{"schemaVersion":2,"manifests":[{"mediaType":"text/plain","digest":"sha256:00","size":1}]}"#;
        assert!(oci_layout_images(bad).unwrap_err().contains("unsupported media type"));
    }

    #[test]
    fn metadata_files_are_not_blobs() {
        assert!(is_metadata("manifest.json"));
        assert!(is_metadata("abc/json"));
        assert!(!is_metadata("abc/layer.tar"));
        assert!(!is_metadata("blobs/sha256/00"));
    }
}
