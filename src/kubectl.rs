//! `k3rs kubectl ...`: the system's kubectl, pointed at this cluster. The kubeconfig
//! is `$KUBECONFIG` when set, else the file the server writes (`--write-kubeconfig`,
//! from the environment or the configuration file, default /etc/rancher/k3rs/k3rs.yaml).
//! kubectl replaces this process, so its exit code and signals are the user's.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::config_file;

/// Where `k3rs server` writes the admin kubeconfig unless told otherwise.
pub const DEFAULT_KUBECONFIG: &str = "/etc/rancher/k3rs/k3rs.yaml";

/// Replaces this process with kubectl; returns only on failure.
pub fn exec(args: &[OsString]) -> anyhow::Error {
    let kubectl = match find_kubectl(std::env::var_os("PATH").as_deref(), std::env::current_exe().ok().as_deref()) {
        Some(path) => path,
        None => {
            return anyhow::anyhow!(
                "kubectl was not found on PATH; install kubectl (v1.33 matches this k3rs) from your \
                 distribution or from the Kubernetes package repositories"
            );
        }
    };
    let mut cmd = std::process::Command::new(&kubectl);
    cmd.args(args);
    if std::env::var_os("KUBECONFIG").is_none_or(|v| v.is_empty()) {
        // Without a readable kubeconfig kubectl still runs: `version --client`,
        // `completion` and `help` need no cluster; the rest fail with kubectl's error.
        match server_kubeconfig() {
            Ok(path) => {
                cmd.env("KUBECONFIG", path);
            }
            Err(e) => eprintln!("k3rs kubectl: warning: {e:#}"),
        }
    }
    let err = cmd.exec();
    anyhow::Error::new(err).context(format!("running {}", kubectl.display()))
}

/// The kubeconfig the local server writes, checked to be readable by this user.
fn server_kubeconfig() -> anyhow::Result<PathBuf> {
    let config = std::env::var_os("K3RS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(config_file::DEFAULT_CONFIG));
    let path = match std::env::var_os("K3RS_KUBECONFIG_OUTPUT").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => configured_kubeconfig(&config_file::config_files(&config))?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KUBECONFIG)),
    };
    if let Err(e) = std::fs::File::open(&path) {
        bail!(
            "cannot read the kubeconfig {}: {e}; run as root, start the server with \
             --write-kubeconfig-mode 644, or set KUBECONFIG",
            path.display()
        );
    }
    Ok(path)
}

/// The last `write-kubeconfig` setting of the configuration files, if any.
fn configured_kubeconfig(files: &[PathBuf]) -> anyhow::Result<Option<PathBuf>> {
    let mut found = None;
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let args = config_file::config_args(&text, &[]).with_context(|| format!("in {}", file.display()))?;
        for arg in args {
            if let Some(path) = arg.strip_prefix("--write-kubeconfig=") {
                found = Some(PathBuf::from(path));
            }
        }
    }
    Ok(found)
}

/// The first `kubectl` on `path` that is not this binary (a `kubectl -> k3rs`
/// symlink would otherwise run us again, forever).
fn find_kubectl(path: Option<&OsStr>, this_exe: Option<&Path>) -> Option<PathBuf> {
    let this_exe = this_exe.and_then(|p| p.canonicalize().ok());
    std::env::split_paths(path?)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| is_executable(candidate) && (this_exe.is_none() || candidate.canonicalize().ok() != this_exe))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn executable(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn finds_kubectl_but_not_ourselves() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        let theirs = dir.path().join("theirs");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        let k3rs = ours.join("k3rs");
        executable(&k3rs);
        std::os::unix::fs::symlink(&k3rs, ours.join("kubectl")).unwrap();
        executable(&theirs.join("kubectl"));
        let path = std::env::join_paths([&ours, &theirs]).unwrap();
        assert_eq!(find_kubectl(Some(&path), Some(&k3rs)), Some(theirs.join("kubectl")));
        // Not executable: not a candidate.
        std::fs::set_permissions(theirs.join("kubectl"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_kubectl(Some(&path), Some(&k3rs)), None);
        assert_eq!(find_kubectl(None, Some(&k3rs)), None);
    }

    #[test]
    fn the_last_configuration_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("config.yaml");
        let drop_in = dir.path().join("10-kube.yaml");
        std::fs::write(&main, "write-kubeconfig: /a/k3rs.yaml\ndebug: true\n").unwrap();
        std::fs::write(&drop_in, "write-kubeconfig: /b/k3rs.yaml\n").unwrap();
        assert_eq!(configured_kubeconfig(std::slice::from_ref(&main)).unwrap(), Some(PathBuf::from("/a/k3rs.yaml")));
        assert_eq!(configured_kubeconfig(&[main, drop_in]).unwrap(), Some(PathBuf::from("/b/k3rs.yaml")));
        assert_eq!(configured_kubeconfig(&[]).unwrap(), None);
    }
}
