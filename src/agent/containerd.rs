//! Which containerd the agent uses, and how: `--container-runtime-endpoint` names an
//! existing one; otherwise the agent starts and supervises its own with a generated
//! configuration under `<data-dir>/agent/containerd/` (as K3s does).

use std::path::{Path, PathBuf};

use anyhow::Context;
use k3rs_runtime::containerd::DaemonConfig;
use k3rs_runtime::image::registry::RegistriesConfig;
use k3rs_runtime::{Endpoint, RuntimeConfig};

use crate::cli::NodeArgs;

/// A socket path from `--container-runtime-endpoint` (a path or a `unix://` URL).
pub fn socket_path(endpoint: &str) -> anyhow::Result<PathBuf> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    anyhow::ensure!(
        !path.contains("://"),
        "--container-runtime-endpoint {endpoint:?}: only unix sockets are supported (a path or unix:///path)"
    );
    let path = PathBuf::from(path);
    anyhow::ensure!(path.is_absolute(), "--container-runtime-endpoint {endpoint:?} must be an absolute path");
    Ok(path)
}

/// Where containerd is for an agent with this data directory.
pub fn endpoint(data_dir: &Path, given: Option<&str>) -> anyhow::Result<Endpoint> {
    Ok(match given {
        Some(endpoint) => Endpoint::Socket(socket_path(endpoint)?),
        None => Endpoint::Managed(DaemonConfig::under(&absolute(data_dir)?)),
    })
}

/// The containerd socket `k3rs images` talks to.
pub fn socket_for(data_dir: &Path, given: Option<&str>) -> anyhow::Result<PathBuf> {
    Ok(match endpoint(data_dir, given)? {
        Endpoint::Socket(path) => path,
        Endpoint::Managed(daemon) => daemon.socket,
    })
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir().context("reading the current directory")?.join(path))
}

/// The runtime configuration for the flags. Reads `registries.yaml` (blocking).
pub fn runtime_config(data_dir: &Path, args: &NodeArgs) -> anyhow::Result<RuntimeConfig> {
    let mut config =
        RuntimeConfig::new(endpoint(data_dir, args.container_runtime_endpoint.as_deref())?, absolute(&args.run_dir)?);
    config.cgroup_parent = args.cgroup_parent.clone();
    config.registries = RegistriesConfig::load(&args.private_registry)
        .with_context(|| format!("loading {}", args.private_registry.display()))?;
    if args.disable_default_registry_endpoint {
        config.registries.disable_default_endpoint = true;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(socket_path("unix:///run/c.sock").unwrap(), PathBuf::from("/run/c.sock"));
        assert_eq!(socket_path("/run/c.sock").unwrap(), PathBuf::from("/run/c.sock"));
        assert!(socket_path("tcp://1.2.3.4:1").unwrap_err().to_string().contains("only unix sockets"));
        assert!(socket_path("relative.sock").is_err());
        match endpoint(Path::new("/var/lib/rancher/k3rs"), None).unwrap() {
            Endpoint::Managed(d) => {
                assert_eq!(d.socket, PathBuf::from("/var/lib/rancher/k3rs/agent/containerd/state/containerd.sock"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(socket_for(Path::new("/d"), Some("unix:///x.sock")).unwrap(), PathBuf::from("/x.sock"));
    }
}
