//! Airgap images: every archive in `<data-dir>/agent/images/` (`*.tar`, `*.tar.gz`,
//! `*.tar.zst`) is imported when the agent starts, before any pod runs, so that nodes
//! without registry access find their images locally (as K3s does).

use std::path::{Path, PathBuf};

use k3rs_runtime::Runtime;
use tracing::{info, warn};

/// The airgap images directory of a data directory.
pub fn images_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent").join("images")
}

/// Imports every archive of the airgap directory; a bad archive is logged and skipped.
/// Returns how many images were imported.
pub async fn import(runtime: &Runtime, data_dir: &Path) -> anyhow::Result<usize> {
    let dir = images_dir(data_dir);
    let started = std::time::Instant::now();
    let results = runtime.import_images_dir(&dir).await?;
    let mut imported = 0;
    for (archive, result) in results {
        match result {
            Ok(images) => {
                imported += images.len();
                let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
                info!(archive = %archive.display(), images = ?names, "imported airgap images");
            }
            Err(e) => {
                warn!(archive = %archive.display(), error = %e, "skipping an airgap archive that cannot be imported")
            }
        }
    }
    if imported > 0 {
        info!(dir = %dir.display(), imported, elapsed = ?started.elapsed(), "airgap images ready");
    }
    Ok(imported)
}
