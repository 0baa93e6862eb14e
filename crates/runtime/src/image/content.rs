//! The content store side of images: writing blobs (streamed, with their digest checked by
//! containerd), reading small documents back, and the garbage-collection labels that tie
//! an image's blobs and snapshots to its record.

use std::collections::HashMap;

use bytes::Bytes;
use containerd_client::services::v1::{
    Info, InfoRequest, ReadContentRequest, UpdateRequest, WriteAction, WriteContentRequest,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::containerd::Containerd;
use crate::error::{Result, RuntimeError, StatusExt, is_already_exists, is_not_found};

/// Largest document (manifest, index, config) read into memory.
pub(crate) const MAX_DOCUMENT: i64 = 16 << 20;
/// Size of each data message of a content write.
const WRITE_CHUNK: usize = 1 << 20;

/// True when the content store holds the blob.
pub(crate) async fn exists(containerd: &Containerd, digest: &str) -> Result<bool> {
    match containerd.content().info(containerd.request(InfoRequest { digest: digest.to_string() })).await {
        Ok(_) => Ok(true),
        Err(status) if is_not_found(&status) => Ok(false),
        Err(status) => Err(RuntimeError::Containerd { op: "content info", status }),
    }
}

/// Reads a whole blob (documents only: refuses blobs above [`MAX_DOCUMENT`]).
pub(crate) async fn read(containerd: &Containerd, digest: &str) -> Result<Vec<u8>> {
    let info = containerd
        .content()
        .info(containerd.request(InfoRequest { digest: digest.to_string() }))
        .await
        .op("content info")?
        .into_inner()
        .info
        .unwrap_or_default();
    if info.size > MAX_DOCUMENT {
        return Err(RuntimeError::InvalidImage {
            image: digest.to_string(),
            reason: format!("document of {} bytes is larger than the {MAX_DOCUMENT} allowed", info.size),
        });
    }
    let mut stream = containerd
        .content()
        .read(containerd.request(ReadContentRequest { digest: digest.to_string(), offset: 0, size: 0 }))
        .await
        .op("content read")?
        .into_inner();
    let mut data = Vec::with_capacity(usize::try_from(info.size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk.op("content read")?.data);
    }
    Ok(data)
}

/// A piece of a blob being written: data, or (at the end) its digest when it was not
/// known up front.
#[derive(Debug)]
pub(crate) enum Piece {
    Data(Bytes),
    Digest(String),
}

/// Writes a blob held in memory.
pub(crate) async fn write_bytes(containerd: &Containerd, lease: &str, digest: &str, data: Bytes) -> Result<()> {
    let (tx, rx) = mpsc::channel(1);
    let size = data.len() as i64;
    let writer = write_stream(containerd, lease, Some(digest), size, rx);
    let feeder = async move {
        let _ = tx.send(Piece::Data(data)).await;
    };
    let (result, ()) = tokio::join!(writer, feeder);
    result
}

/// Writes a blob whose bytes arrive on `chunks`; containerd checks size and digest on
/// commit (the digest is `expected`, or the [`Piece::Digest`] that ends the stream).
/// A blob that is already present is left as it is.
pub(crate) async fn write_stream(
    containerd: &Containerd,
    lease: &str,
    expected: Option<&str>,
    size: i64,
    mut chunks: mpsc::Receiver<Piece>,
) -> Result<()> {
    let reference = format!("k3rs-import-{}", uuid::Uuid::new_v4().simple());
    let mut digest = expected.unwrap_or_default().to_string();
    let (tx, rx) = mpsc::channel::<WriteContentRequest>(2);
    let message = |action: WriteAction, offset: i64, data: Vec<u8>, digest: &str| WriteContentRequest {
        action: action as i32,
        r#ref: reference.clone(),
        total: size,
        expected: digest.to_string(),
        offset,
        data,
        labels: HashMap::new(),
    };
    // containerd answers every message; the first answer only comes after the first message.
    tx.send(message(WriteAction::Stat, 0, Vec::new(), &digest)).await.map_err(|_| closed())?;
    let request = containerd.leased_request(tokio_stream::wrappers::ReceiverStream::new(rx), lease);
    let mut responses = match containerd.content().write(request).await {
        Ok(response) => response.into_inner(),
        Err(status) if is_already_exists(&status) => return drain(chunks).await,
        Err(status) => return Err(RuntimeError::Containerd { op: "content write", status }),
    };
    // The STAT answer says how much an earlier, interrupted write with this ref holds;
    // refs are unique here, so it is always zero.
    let Some(_) = next_response(&mut responses).await? else {
        return drain(chunks).await;
    };
    let mut offset = 0i64;
    while let Some(piece) = chunks.recv().await {
        let chunk = match piece {
            Piece::Data(chunk) => chunk,
            Piece::Digest(end) => {
                digest = end;
                continue;
            }
        };
        for part in chunk.chunks(WRITE_CHUNK) {
            tx.send(message(WriteAction::Write, offset, part.to_vec(), &digest)).await.map_err(|_| closed())?;
            offset += part.len() as i64;
            if next_response(&mut responses).await?.is_none() {
                return drain(chunks).await;
            }
        }
    }
    if offset != size {
        return Err(RuntimeError::InvalidImage {
            image: digest,
            reason: format!("blob is {offset} bytes, its descriptor says {size}"),
        });
    }
    tx.send(message(WriteAction::Commit, offset, Vec::new(), &digest)).await.map_err(|_| closed())?;
    next_response(&mut responses).await?;
    Ok(())
}

/// The next answer of a write stream; `None` when containerd says the blob exists already.
async fn next_response(
    responses: &mut tonic::codec::Streaming<containerd_client::services::v1::WriteContentResponse>,
) -> Result<Option<containerd_client::services::v1::WriteContentResponse>> {
    match responses.message().await {
        Ok(Some(response)) => Ok(Some(response)),
        Ok(None) => Err(RuntimeError::Containerd {
            op: "content write",
            status: tonic::Status::unavailable("stream closed early"),
        }),
        Err(status) if is_already_exists(&status) => Ok(None),
        Err(status) => Err(RuntimeError::Containerd { op: "content write", status }),
    }
}

async fn drain(mut chunks: mpsc::Receiver<Piece>) -> Result<()> {
    while chunks.recv().await.is_some() {}
    Ok(())
}

fn closed() -> RuntimeError {
    RuntimeError::Containerd { op: "content write", status: tonic::Status::unavailable("write stream closed") }
}

/// Sets labels on a blob (garbage-collection references, mostly), keeping its other labels.
pub(crate) async fn set_labels(containerd: &Containerd, digest: &str, labels: HashMap<String, String>) -> Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    let paths = labels.keys().map(|key| format!("labels.{key}")).collect();
    let request = UpdateRequest {
        info: Some(Info { digest: digest.to_string(), labels, ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    containerd.content().update(containerd.request(request)).await.op("content update")?;
    Ok(())
}

/// The labels that make a manifest keep its config and layers alive.
pub(crate) fn manifest_gc_labels(manifest: &super::oci::Manifest) -> HashMap<String, String> {
    let mut labels =
        HashMap::from([("containerd.io/gc.ref.content.config".to_string(), manifest.config.digest.clone())]);
    for (i, layer) in manifest.layers.iter().enumerate() {
        labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), layer.digest.clone());
    }
    labels
}

/// The labels that make an index keep its manifests alive.
pub(crate) fn index_gc_labels(index: &super::oci::Index) -> HashMap<String, String> {
    index
        .manifests
        .iter()
        .enumerate()
        .map(|(i, manifest)| (format!("containerd.io/gc.ref.content.m.{i}"), manifest.digest.clone()))
        .collect()
}
