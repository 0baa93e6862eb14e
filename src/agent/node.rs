//! The node's identity from the flags: its name, host name, addresses, labels and taints.

use std::net::IpAddr;

use anyhow::{Context, bail};
use k3rs_kubelet::node::{NodeConfig, labels};

use crate::cli::NodeArgs;
use crate::netinfo;

/// This machine's host name (`/proc/sys/kernel/hostname`), `localhost` when unreadable.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The node name: `--node-name`, else the host name in lower case (as K3s does). It must
/// be a DNS subdomain, like every Node name.
pub fn node_name(given: Option<&str>, hostname: &str) -> anyhow::Result<String> {
    let name = given.map(str::to_string).unwrap_or_else(|| hostname.to_lowercase());
    if let Some(problem) = k3rs_api::validation::names::dns1123_subdomain(&name).into_iter().next() {
        bail!("node name {name:?} is not valid: {problem} (set one with --node-name)");
    }
    Ok(name)
}

/// The node's addresses: `--node-ip`, else the address of the default route.
pub fn node_ips(given: Option<IpAddr>) -> Vec<IpAddr> {
    vec![given.unwrap_or_else(netinfo::primary_ip)]
}

/// The [`NodeConfig`] the flags describe; `root_dir` is where pod data lives.
pub fn node_config(args: &NodeArgs) -> anyhow::Result<NodeConfig> {
    let host = hostname();
    let name = node_name(args.node_name.as_deref(), &host)?;
    let mut config = NodeConfig::new(&name, &host, node_ips(args.node_ip), args.kubelet_root_dir.clone());
    for label in &args.node_label {
        let (key, value) = labels::parse_label(label)?;
        config.labels.insert(key, value);
    }
    for taint in &args.node_taint {
        config.taints.push(labels::parse_taint(taint)?);
    }
    config.kubelet_port = args.kubelet_port;
    config.eviction_hard = k3rs_kubelet::node::conditions::Thresholds::parse(&args.eviction_hard)
        .map_err(|e| anyhow::anyhow!("--eviction-hard: {e}"))?;
    config.validate().context("--node-label")?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        assert_eq!(node_name(None, "MyHost").unwrap(), "myhost");
        assert_eq!(node_name(Some("worker-1"), "h").unwrap(), "worker-1");
        assert!(node_name(Some("Bad_Name"), "h").unwrap_err().to_string().contains("--node-name"));
    }
}
