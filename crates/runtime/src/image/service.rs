//! [`ImageService`]: the image operations alone, on a containerd that an agent runs.
//! `k3rs images` uses it next to a running agent: unlike [`crate::Runtime::start`] it
//! does not re-adopt containers (their log pumps and exit monitors belong to the agent).

use std::path::Path;

use super::{ImageSummary, ImportProgress};
use crate::Result;
use crate::containerd::Containerd;

/// Images in one containerd namespace.
#[derive(Clone)]
pub struct ImageService {
    containerd: Containerd,
    snapshotter: String,
}

impl ImageService {
    /// Connects to the containerd at `socket`; images live in `namespace` (`k8s.io`) and are
    /// unpacked with `snapshotter` (`overlayfs`).
    pub async fn connect(socket: &Path, namespace: &str, snapshotter: &str) -> Result<ImageService> {
        let containerd = Containerd::connect(socket, namespace).await?;
        Ok(ImageService { containerd, snapshotter: snapshotter.to_string() })
    }

    /// See [`crate::Runtime::import_images`].
    pub async fn import(&self, archive: &Path, progress: ImportProgress) -> Result<Vec<ImageSummary>> {
        super::import_archive(&self.containerd, &self.snapshotter, archive, progress).await
    }

    /// Every image.
    pub async fn list(&self) -> Result<Vec<ImageSummary>> {
        super::list(&self.containerd, &self.snapshotter).await
    }

    /// The image if present, under any spelling of its reference.
    pub async fn present(&self, reference: &str) -> Result<Option<ImageSummary>> {
        super::present(&self.containerd, &self.snapshotter, reference).await
    }

    /// Removes an image name (blobs go when nothing else uses them).
    pub async fn remove(&self, reference: &str) -> Result<()> {
        super::remove(&self.containerd, reference).await
    }
}
