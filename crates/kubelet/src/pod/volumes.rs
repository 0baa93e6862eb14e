//! A pod's volumes on the host, under `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`
//! as upstream lays them out:
//!
//! - `emptyDir`: a directory (mode 0777); with `medium: Memory` a tmpfs, sized by
//!   `sizeLimit` (else by the pod's memory limit when every container has one);
//! - `hostPath`: the host path itself, after the `type` check (`DirectoryOrCreate`,
//!   `Directory`, `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`);
//! - `configMap`, `secret`, `downwardAPI`, `projected` (ConfigMaps, Secrets, downward API
//!   items, service-account tokens): files written with the atomic writer, so a refresh
//!   swaps a complete new version in; secrets and projected volumes live on a tmpfs so
//!   their contents never reach the disk.
//!
//! With `fsGroup`, volume contents get that group (and group access), directories the
//! setgid bit, as upstream's volume ownership does. Other volume types are refused with
//! a message saying so. Errors read as upstream's `FailedMount` event messages.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k3rs_api::kinds::common::quantity::Quantity;
use k3rs_runtime::mounts;
use k8s_openapi::api::core::v1::{Pod, Volume};

use super::container_config::VolumePath;
use super::sources::Snapshot;
use crate::volumes::atomic_writer;
use crate::volumes::projection::{self, File};

/// A volume that could not be set up, with upstream's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeError {
    pub volume: String,
    pub message: String,
}

impl std::fmt::Display for VolumeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MountVolume.SetUp failed for volume {:?} : {}", self.volume, self.message)
    }
}

/// `<pod dir>/volumes`.
pub(crate) fn volumes_dir(pod_dir: &Path) -> PathBuf {
    pod_dir.join("volumes")
}

fn plugin_dir(pod_dir: &Path, plugin: &str, name: &str) -> PathBuf {
    volumes_dir(pod_dir).join(format!("kubernetes.io~{plugin}")).join(name)
}

/// What to write for one volume; computed on the async side, written on a blocking thread.
enum Prepared {
    EmptyDir { dir: PathBuf, tmpfs_size: Option<Option<u64>> },
    HostPath { path: PathBuf, kind: String },
    Files { dir: PathBuf, files: Vec<File>, tmpfs: bool },
}

fn unsupported(v: &Volume) -> String {
    let value = serde_json::to_value(v).unwrap_or_default();
    let kind = value
        .as_object()
        .and_then(|o| o.keys().find(|k| k.as_str() != "name").cloned())
        .unwrap_or_else(|| "unknown".to_string());
    format!("volume type {kind:?} is not supported by this kubelet")
}

/// The pod's memory limit when every container has one (sizes a Memory emptyDir).
fn pod_memory_limit(pod: &Pod) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let mut total: u64 = 0;
    for c in &spec.containers {
        let limit = c.resources.as_ref()?.limits.as_ref()?.get("memory")?;
        total = total.saturating_add(Quantity::parse(&limit.0)?.value().max(0) as u64);
    }
    Some(total)
}

fn prepare(pod: &Pod, pod_dir: &Path, v: &Volume, sources: &Snapshot) -> Result<Prepared, String> {
    if let Some(e) = &v.empty_dir {
        let dir = plugin_dir(pod_dir, "empty-dir", &v.name);
        let tmpfs_size = if e.medium.as_deref() == Some("Memory") {
            let limit = match &e.size_limit {
                Some(q) => {
                    Some(Quantity::parse(&q.0).ok_or_else(|| format!("invalid sizeLimit {:?}", q.0))?.value().max(0)
                        as u64)
                }
                None => pod_memory_limit(pod),
            };
            Some(limit.filter(|l| *l > 0))
        } else {
            None
        };
        return Ok(Prepared::EmptyDir { dir, tmpfs_size });
    }
    if let Some(h) = &v.host_path {
        return Ok(Prepared::HostPath { path: PathBuf::from(&h.path), kind: h.type_.clone().unwrap_or_default() });
    }
    if let Some(cm) = &v.config_map {
        let files = projection::config_map_files(
            &cm.name,
            projection::ProjectionSources::config_map(sources, &cm.name).as_ref(),
            cm.items.as_ref(),
            cm.default_mode,
            cm.optional == Some(true),
        )?;
        return Ok(Prepared::Files { dir: plugin_dir(pod_dir, "configmap", &v.name), files, tmpfs: false });
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let files = projection::secret_files(
            &name,
            projection::ProjectionSources::secret(sources, &name).as_ref(),
            s.items.as_ref(),
            s.default_mode,
            s.optional == Some(true),
        )?;
        return Ok(Prepared::Files { dir: plugin_dir(pod_dir, "secret", &v.name), files, tmpfs: true });
    }
    if let Some(d) = &v.downward_api {
        let files = projection::downward_files(
            pod,
            d.items.as_deref().unwrap_or_default(),
            d.default_mode,
            &sources.allocatable,
        )?;
        return Ok(Prepared::Files { dir: plugin_dir(pod_dir, "downward-api", &v.name), files, tmpfs: false });
    }
    if let Some(p) = &v.projected {
        let files =
            projection::projected_files(pod, p.sources.as_deref().unwrap_or_default(), p.default_mode, sources)?;
        return Ok(Prepared::Files { dir: plugin_dir(pod_dir, "projected", &v.name), files, tmpfs: true });
    }
    Err(unsupported(v))
}

fn io_message(what: &str, path: &Path, err: std::io::Error) -> String {
    format!("{what} {}: {err}", path.display())
}

fn mount_tmpfs(dir: &Path, size: Option<u64>) -> Result<(), String> {
    if mounts::is_mount_point(dir).map_err(|e| io_message("reading mounts for", dir, e))? {
        return Ok(());
    }
    let options = match size {
        Some(size) => format!("mode=0755,size={size}"),
        None => "mode=0755".to_string(),
    };
    mounts::mount(Some(Path::new("tmpfs")), dir, Some("tmpfs"), libc::MS_NOSUID | libc::MS_NODEV, Some(&options))
        .map_err(|e| io_message("mounting tmpfs on", dir, e))
}

/// upstream's hostPath `type` check (creating what `*OrCreate` asks for).
fn check_host_path(path: &Path, kind: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let meta = std::fs::metadata(path);
    let failed = |what: &str| Err(format!("hostPath type check failed: {shown} is not {what}"));
    match kind {
        // No check; a missing path becomes a directory, as containerd creates it.
        "" => match meta {
            Err(_) => std::fs::create_dir_all(path).map_err(|e| io_message("creating", path, e)),
            Ok(_) => Ok(()),
        },
        "DirectoryOrCreate" => match meta {
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| io_message("creating", path, e))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| io_message("chmod", path, e))
            }
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => failed("a directory"),
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            _ => failed("a directory"),
        },
        "FileOrCreate" => match meta {
            Err(_) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| io_message("creating", path, e))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| io_message("chmod", path, e))
            }
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => failed("a file"),
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => failed("a file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => failed("a socket file"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => failed("a character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => failed("a block device"),
        },
        other => Err(format!("invalid hostPath type {other:?}")),
    }
}

/// Gives a volume's contents the pod's `fsGroup`: group ownership, group read (and write
/// unless read-only) access, setgid directories.
fn apply_fs_group(root: &Path, gid: u32, writable: bool) -> std::io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        std::os::unix::fs::chown(&path, None, Some(gid))?;
        let mut mode = meta.permissions().mode() & 0o7777;
        mode |= 0o040;
        if writable {
            mode |= 0o020;
        }
        if meta.is_dir() {
            mode |= 0o2000 | 0o010;
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn write(prepared: Prepared, fs_group: Option<u32>) -> Result<VolumePath, String> {
    match prepared {
        Prepared::EmptyDir { dir, tmpfs_size } => {
            let fresh = !dir.exists();
            std::fs::create_dir_all(&dir).map_err(|e| io_message("creating", &dir, e))?;
            if let Some(size) = tmpfs_size {
                mount_tmpfs(&dir, size)?;
            }
            if fresh || tmpfs_size.is_some() {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                    .map_err(|e| io_message("chmod", &dir, e))?;
                if let Some(gid) = fs_group {
                    apply_fs_group(&dir, gid, true).map_err(|e| io_message("setting fsGroup on", &dir, e))?;
                }
            }
            Ok(VolumePath { host_path: dir, read_only: false })
        }
        Prepared::HostPath { path, kind } => {
            check_host_path(&path, &kind)?;
            Ok(VolumePath { host_path: path, read_only: false })
        }
        Prepared::Files { dir, files, tmpfs } => {
            std::fs::create_dir_all(&dir).map_err(|e| io_message("creating", &dir, e))?;
            if tmpfs {
                mount_tmpfs(&dir, None)?;
            }
            let changed =
                atomic_writer::write(&dir, &files).map_err(|e| io_message("writing volume files in", &dir, e))?;
            if changed && let Some(gid) = fs_group {
                apply_fs_group(&dir, gid, false).map_err(|e| io_message("setting fsGroup on", &dir, e))?;
            }
            Ok(VolumePath { host_path: dir, read_only: true })
        }
    }
}

/// Sets up (or refreshes) every volume of the pod; returns where each one is.
pub(crate) async fn set_up(
    pod: &Pod,
    pod_dir: &Path,
    sources: &Snapshot,
) -> Result<HashMap<String, VolumePath>, VolumeError> {
    let fs_group = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.fs_group)
        .and_then(|g| u32::try_from(g).ok());
    let mut paths = HashMap::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let error = |message: String| VolumeError { volume: v.name.clone(), message };
        let prepared = prepare(pod, pod_dir, v, sources).map_err(error)?;
        let path = tokio::task::spawn_blocking(move || write(prepared, fs_group))
            .await
            .map_err(|e| error(format!("volume setup task failed: {e}")))?
            .map_err(error)?;
        paths.insert(v.name.clone(), path);
    }
    Ok(paths)
}

/// Unmounts and removes the pod's directory (volumes and all).
pub(crate) async fn tear_down(pod_dir: PathBuf) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        if !pod_dir.exists() {
            return Ok(());
        }
        mounts::unmount_all_under(&pod_dir).map_err(|e| io_message("unmounting volumes under", &pod_dir, e))?;
        std::fs::remove_dir_all(&pod_dir).map_err(|e| io_message("removing", &pod_dir, e))
    })
    .await
    .map_err(|e| format!("volume teardown task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_path_types_are_checked_and_created() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("made/here");
        check_host_path(&sub, "DirectoryOrCreate").unwrap();
        assert!(sub.is_dir());
        check_host_path(&sub, "Directory").unwrap();
        let file = dir.path().join("f");
        check_host_path(&file, "FileOrCreate").unwrap();
        assert!(file.is_file());
        assert_eq!(
            check_host_path(&file, "Directory").unwrap_err(),
            format!("hostPath type check failed: {} is not a directory", file.display())
        );
        assert!(check_host_path(&dir.path().join("missing"), "File").unwrap_err().contains("is not a file"));
        assert!(check_host_path(&sub, "Socket").is_err());
        check_host_path(&dir.path().join("anything"), "").unwrap();
    }

    #[test]
    fn files_volumes_are_written_and_refreshed() {
        let dir = tempfile::tempdir().unwrap();
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"a": "1"}},
            "spec": {"containers": [], "volumes": [
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "cfg", "configMap": {"name": "missing"}},
                {"name": "scratch", "emptyDir": {}}
            ]}}))
        .unwrap();
        let volumes = pod.spec.as_ref().unwrap().volumes.clone().unwrap();
        let snapshot = Snapshot::default();
        let written = write(prepare(&pod, dir.path(), &volumes[0], &snapshot).unwrap(), None).unwrap();
        assert!(written.read_only);
        assert_eq!(std::fs::read_to_string(written.host_path.join("labels")).unwrap(), "a=\"1\"");
        assert_eq!(prepare(&pod, dir.path(), &volumes[1], &snapshot).err().unwrap(), "configmap \"missing\" not found");
        let scratch = write(prepare(&pod, dir.path(), &volumes[2], &snapshot).unwrap(), None).unwrap();
        assert_eq!(std::fs::metadata(&scratch.host_path).unwrap().permissions().mode() & 0o777, 0o777);
        assert!(scratch.host_path.ends_with("volumes/kubernetes.io~empty-dir/scratch"));
    }

    #[test]
    fn unsupported_volume_types_are_named() {
        let v: Volume =
            serde_json::from_value(json!({"name": "data", "persistentVolumeClaim": {"claimName": "c"}})).unwrap();
        assert_eq!(unsupported(&v), "volume type \"persistentVolumeClaim\" is not supported by this kubelet");
    }
}
