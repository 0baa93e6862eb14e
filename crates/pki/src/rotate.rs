//! `k3rs certificate rotate`: moves the leaf certificates (and their keys) of a TLS directory
//! aside, so the next start issues new ones from the same CAs. The CAs and the
//! service-account key stay: nothing that trusts the cluster has to change. Run it while the
//! server is stopped.

use std::path::{Path, PathBuf};

use crate::bootstrap::bootstrap_file_names;
use crate::error::{PkiError, Result};

/// Moves every leaf `*.crt`/`*.key` of `dir` into `dir/rotated-<unix time>/`; returns that
/// directory and the moved file names. `only` limits the move to these stems
/// (e.g. `serving-kube-apiserver`).
pub fn rotate_leaf_certificates(dir: &Path, only: &[String], now_unix: i64) -> Result<(PathBuf, Vec<String>)> {
    let keep = bootstrap_file_names();
    let entries = std::fs::read_dir(dir).map_err(|e| PkiError::io("listing", dir, e))?;
    let mut moving = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| PkiError::io("listing", dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(String::from) else { continue };
        let Some((stem, ext)) = name.rsplit_once('.') else { continue };
        if !path.is_file() || !matches!(ext, "crt" | "key") || keep.contains(&name) {
            continue;
        }
        if !only.is_empty() && !only.iter().any(|o| o == stem) {
            continue;
        }
        moving.push(name);
    }
    moving.sort();
    let backup = dir.join(format!("rotated-{now_unix}"));
    if moving.is_empty() {
        return Ok((backup, moving));
    }
    std::fs::create_dir_all(&backup).map_err(|e| PkiError::io("creating directory", &backup, e))?;
    for name in &moving {
        let from = dir.join(name);
        std::fs::rename(&from, backup.join(name)).map_err(|e| PkiError::io("moving", from, e))?;
    }
    Ok((backup, moving))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterPki, PkiOptions};

    #[test]
    fn leaves_move_and_are_reissued_from_the_same_cas() {
        let dir = tempfile::tempdir().unwrap();
        let before = ClusterPki::load_or_create(dir.path(), &PkiOptions::default()).unwrap();
        let (backup, moved) = rotate_leaf_certificates(dir.path(), &[], 1).unwrap();
        assert_eq!(
            moved,
            vec![
                "client-admin.crt",
                "client-admin.key",
                "client-kube-apiserver.crt",
                "client-kube-apiserver.key",
                "serving-kube-apiserver.crt",
                "serving-kube-apiserver.key"
            ]
        );
        assert!(backup.join("client-admin.crt").exists());
        let after = ClusterPki::load_or_create(dir.path(), &PkiOptions::default()).unwrap();
        assert_eq!(after.server_ca_pem(), before.server_ca_pem());
        assert_ne!(after.apiserver_serving_cert().cert_pem, before.apiserver_serving_cert().cert_pem);
        let (_, moved) = rotate_leaf_certificates(dir.path(), &["client-admin".into()], 2).unwrap();
        assert_eq!(moved, vec!["client-admin.crt", "client-admin.key"]);
    }
}
