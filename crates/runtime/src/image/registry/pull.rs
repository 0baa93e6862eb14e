//! Pulling an image: resolve the reference at each endpoint in turn (mirrors first), fetch
//! the manifest (and this platform's manifest from an index), then the configuration and
//! layers that the content store lacks, streamed in with their digests checked; finally
//! unpack and name the image.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::client::{RegistryClient, content_type, read_body};
use super::config::{Credentials, RegistriesConfig, RegistryEndpoint};
use crate::containerd::{Containerd, Lease};
use crate::error::{Result, RuntimeError};
use crate::image::content::{self, Piece};
use crate::image::oci::{self, Descriptor, Index, Manifest, Platform, media};
use crate::image::reference::ImageRef;
use crate::image::register::register;
use crate::image::store::ImageSummary;

const MANIFEST_TYPES: &[&str] =
    &[media::OCI_INDEX, media::DOCKER_MANIFEST_LIST, media::OCI_MANIFEST, media::DOCKER_MANIFEST];

/// Pulls `reference`, trying each endpoint until one serves it.
pub(crate) async fn pull(
    containerd: &Containerd,
    snapshotter: &str,
    config: &RegistriesConfig,
    reference: &str,
    credentials: &[Credentials],
) -> Result<ImageSummary> {
    let image = ImageRef::parse(reference)?;
    let mut failures = Vec::new();
    let endpoints = config.endpoints(&image.registry);
    if endpoints.is_empty() {
        return Err(RuntimeError::Registry {
            image: image.to_string(),
            endpoint: "none".into(),
            reason: "no mirror is configured and the default endpoint is disabled".into(),
        });
    }
    for endpoint in endpoints {
        match pull_from(containerd, snapshotter, config, &image, &endpoint, credentials).await {
            Ok(summary) => return Ok(summary),
            Err(reason) => {
                tracing::info!(image = %image, endpoint = %endpoint.url, %reason, "pull from endpoint failed");
                failures.push(format!("{}: {reason}", endpoint.url));
            }
        }
    }
    Err(RuntimeError::Registry {
        image: image.to_string(),
        endpoint: "every endpoint".into(),
        reason: failures.join("; "),
    })
}

fn credentials_for(
    config: &RegistriesConfig,
    image: &ImageRef,
    endpoint: &RegistryEndpoint,
    credentials: &[Credentials],
) -> Option<(String, String)> {
    let from_secret = credentials
        .iter()
        .find(|c| {
            c.registry == endpoint.host || (!endpoint.mirror && c.registry == image.registry) || c.registry.is_empty()
        })
        .map(|c| (c.username.clone(), c.password.clone()));
    from_secret
        .or_else(|| config.host(&endpoint.host).and_then(|h| h.auth.as_ref()).and_then(|a| a.username_password()))
}

async fn pull_from(
    containerd: &Containerd,
    snapshotter: &str,
    config: &RegistriesConfig,
    image: &ImageRef,
    endpoint: &RegistryEndpoint,
    credentials: &[Credentials],
) -> Result<ImageSummary, String> {
    let repository =
        if endpoint.mirror { config.rewrite(&image.registry, &image.repository) } else { image.repository.clone() };
    let auth = credentials_for(config, image, endpoint, credentials);
    let mut client = RegistryClient::new(&endpoint.url, config.host(&endpoint.host), auth)?;
    let (target_bytes, target_type) = fetch_manifest(&mut client, &repository, image.manifest_reference()).await?;
    let target_digest = oci::sha256_digest(&target_bytes);
    if let Some(digest) = &image.digest
        && *digest != target_digest
    {
        return Err(format!("manifest digest is {target_digest}, the reference asks for {digest}"));
    }
    let target = Descriptor {
        media_type: target_type.clone(),
        digest: target_digest.clone(),
        size: target_bytes.len() as i64,
        ..Default::default()
    };
    let lease = Lease::create(containerd, "pull").await.map_err(|e| e.to_string())?;
    let result = async {
        content::write_bytes(containerd, &lease.id, &target_digest, target_bytes.clone())
            .await
            .map_err(|e| e.to_string())?;
        let manifest_bytes = if media::is_index(&target_type) {
            let index: Index = serde_json::from_slice(&target_bytes).map_err(|e| format!("index: {e}"))?;
            let host = Platform::host();
            let chosen = index
                .manifest_for(&host)
                .ok_or_else(|| format!("no manifest for {}/{}", host.os, host.architecture))?;
            let (bytes, _) = fetch_manifest(&mut client, &repository, &chosen.digest).await?;
            if oci::sha256_digest(&bytes) != chosen.digest {
                return Err(format!("manifest {} does not match its digest", chosen.digest));
            }
            content::write_bytes(containerd, &lease.id, &chosen.digest, bytes.clone())
                .await
                .map_err(|e| e.to_string())?;
            bytes
        } else {
            target_bytes.clone()
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| format!("manifest: {e}"))?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !content::exists(containerd, &blob.digest).await.map_err(|e| e.to_string())? {
                fetch_blob(containerd, &lease.id, &mut client, &repository, blob).await?;
            }
        }
        register(containerd, &lease.id, snapshotter, &[image.to_string()], &target).await.map_err(|e| e.to_string())
    }
    .await;
    if let Err(err) = lease.release(containerd).await {
        tracing::warn!(%err, "releasing the pull lease failed; it expires by itself");
    }
    result?.into_iter().next().ok_or_else(|| "nothing registered".to_string())
}

async fn fetch_manifest(
    client: &mut RegistryClient,
    repository: &str,
    reference: &str,
) -> Result<(Bytes, String), String> {
    let response = client.get(&format!("{repository}/manifests/{reference}"), MANIFEST_TYPES).await?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(format!("manifest {repository}:{reference} not found"));
    }
    if !status.is_success() {
        return Err(format!("manifest {repository}:{reference}: {status}"));
    }
    let declared = content_type(response.headers());
    let bytes = read_body(response, content::MAX_DOCUMENT as usize).await?;
    // The header is authoritative; some registries send a generic type, then the document says.
    let media_type = match declared.filter(|t| media::is_index(t) || media::is_manifest(t)) {
        Some(media_type) => media_type,
        None => {
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("manifest: {e}"))?;
            match value.get("mediaType").and_then(|v| v.as_str()) {
                Some(t) => t.to_string(),
                None if value.get("manifests").is_some() => media::OCI_INDEX.to_string(),
                None => media::OCI_MANIFEST.to_string(),
            }
        }
    };
    Ok((bytes, media_type))
}

async fn fetch_blob(
    containerd: &Containerd,
    lease: &str,
    client: &mut RegistryClient,
    repository: &str,
    blob: &Descriptor,
) -> Result<(), String> {
    crate::image::reference::validate_digest(&blob.digest)?;
    let response = client.get(&format!("{repository}/blobs/{}", blob.digest), &[]).await?;
    if !response.status().is_success() {
        return Err(format!("blob {}: {}", blob.digest, response.status()));
    }
    let (tx, rx) = mpsc::channel(4);
    let writer = content::write_stream(containerd, lease, Some(&blob.digest), blob.size, rx);
    let reader = async move {
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("blob {}: {e}", blob.digest))?;
            if let Ok(data) = frame.into_data()
                && tx.send(Piece::Data(data)).await.is_err()
            {
                break;
            }
        }
        Ok::<(), String>(())
    };
    let (written, read) = tokio::join!(writer, reader);
    read?;
    written.map_err(|e| e.to_string())
}
